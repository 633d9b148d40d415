"""The `stemscope` command line (contracts in ../shared/ARCHITECTURE.md).

Every failure on a user's file ends with exit status 1 and one line on stderr naming the file
and the reason; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__
from .demo import demo_session_path
from .inference.device import DEVICES
from .inference.errors import InferenceError
from .session import Session, SessionError, load_audio_files, load_session
from .session.media import AUDIO_EXTENSIONS


def _fmt_time(seconds: float) -> str:
    m, s = divmod(max(seconds, 0.0), 60.0)
    return f"{int(m)}:{s:06.3f}"


def describe(session: Session) -> str:
    """The readable `info` table."""
    lines = [
        f"{session.path}",
        f"  format {session.format}, duration {_fmt_time(session.duration)}, "
        f"{len(session.tracks)} tracks, tempo "
        + ", ".join(f"{c['bpm']:g} bpm at {_fmt_time(c['time'])}" for c in session.tempo.changes()[:4])
        + (" ..." if len(session.tempo.points) > 4 else ""),
        "",
    ]
    header = f"  {'#':>3}  {'track':<28} {'kind':<10} {'clips':>5} {'notes':>6}  media"
    lines += [header, "  " + "-" * (len(header) - 2)]
    for i, t in enumerate(session.tracks, 1):
        missing = sum(c.missing for c in t.clips)
        short = sum(c.short for c in t.clips)
        found = len(t.clips) - missing
        media = "-" if not t.clips else f"{found} found" + (f", {missing} missing" if missing else "")
        if short:
            media += f", {short} short"
        flags = ("M" if t.muted else " ") + ("S" if t.solo else " ")
        name = ("  " if t.parent is not None else "") + t.name
        lines.append(
            f"  {i:>3}{flags} {name[:28]:<28} {t.kind:<10} {len(t.clips) + len(t.midi_clips):>5} "
            f"{len(t.notes):>6}  {media}"
        )
    if session.missing_media:
        lines += ["", f"  missing media ({len(session.missing_media)}):"]
        lines += [f"    {m}" for m in session.missing_media]
    if session.warnings:
        lines += ["", "  warnings:"] + [f"    {w}" for w in session.warnings]
    return "\n".join(lines)


def cmd_info(args) -> int:
    path = Path(args.session) if args.session else demo_session_path()
    session = load_session(path)
    if args.json:
        json.dump(session.to_json(), sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(describe(session))
    return 0


def _analysis_input(paths: list[str]) -> Session:
    """One session (file or folder), or audio files (a track each)."""
    files = [Path(p) for p in paths]
    if len(files) == 1 and (files[0].is_dir() or files[0].suffix.lower() not in AUDIO_EXTENSIONS):
        return load_session(files[0])
    sessions = [f for f in files if f.is_dir() or f.suffix.lower() not in AUDIO_EXTENSIONS]
    if sessions:
        raise SessionError(sessions[0], "give one session, or audio files only (each one track)")
    return load_audio_files(files)


def _summary(analysis) -> str:
    lines = [f"{analysis.source}: {len(analysis.tracks)} tracks analysed on {analysis.provider}"]
    for track in analysis.tracks:
        families = [r for r in track.instruments() if r["group"] == "family"][:4]
        found = ", ".join(f"{r['label']} {r['confidence']:.2f}" for r in families) or "nothing above threshold"
        counts: dict[str, int] = {}
        for ev in track.techniques():
            counts[ev["label"]] = counts.get(ev["label"], 0) + 1
        techniques = ", ".join(f"{label} x{n}" for label, n in sorted(counts.items(), key=lambda kv: -kv[1])[:4])
        mark = " (muted)" if track.muted else ""
        lines.append(f"  {track.name[:28]:<28}{mark} {found}" + (f"; {techniques}" if techniques else ""))
    lines += [f"  warning: {w}" for w in analysis.warnings]
    return "\n".join(lines)


def cmd_analyze(args) -> int:
    from tqdm import tqdm

    from .analysis import analyze, write_analysis
    from .exports import write_all

    session = _analysis_input(args.inputs)
    for line in session.missing_media:
        print(f"stemscope: missing media: {line}", file=sys.stderr)
    analysis = None
    with tqdm(total=1000, desc="analyse", unit="‰", file=sys.stderr, disable=args.quiet or None,
              bar_format="{desc} {bar} {percentage:3.0f}% {elapsed}<{remaining} {postfix}") as bar:
        for event in analyze(session, device=args.device, use_cache=not args.no_cache,
                             include_mix=session.format != "files"):
            bar.update(round(event.overall * 1000) - bar.n)
            if event.kind == "track":
                bar.set_postfix_str(f"{event.result.name}{' (cached)' if event.result.cached else ''}")
            elif event.kind == "done":
                analysis = event.analysis
    if args.out:
        try:
            path = write_analysis(analysis, args.out)
            write_all(analysis, args.out, session.tempo)
        except OSError as exc:
            where = exc.filename or args.out
            print(f"stemscope: {where}: cannot write the results ({exc.strerror or exc})", file=sys.stderr)
            return 1
        print(f"wrote {path} (with frames/, analysis.mid, analysis.csv, labels/); provider {analysis.provider}")
    else:
        print(_summary(analysis))
    return 0


APP_ENTRY_POINTS = "stemscope.apps"  # the desktop app registers itself here (pyproject.toml)


def cmd_open(args) -> int:
    """Start the app found through its entry point: the engine never imports the UI."""
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group=APP_ENTRY_POINTS) if ep.name == "desktop"]
    if not found:
        print("stemscope: the desktop app is not installed (reinstall the stemscope package)", file=sys.stderr)
        return 1
    try:
        app_main = found[0].load()
    except ImportError as exc:  # Qt cannot load (missing system libraries)
        print(f"stemscope: the app cannot start: {exc}", file=sys.stderr)
        return 1
    return app_main(args.session, screenshot=args.screenshot, analyze=args.analyze, device=args.device)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stemscope", description="What plays in a DAW session, and how.")
    parser.add_argument("--version", action="version", version=f"stemscope {__version__}")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("info", help="what a session holds")
    p.add_argument("session", nargs="?", help="session file, folder, audio or MIDI file (default: the demo)")
    p.add_argument("--json", action="store_true", help="print the JSON contract instead of a table")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("analyze", help="instrument and technique timelines for a session or audio files")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="a session (file or folder), or audio files (each one track)")
    p.add_argument("--out", metavar="DIR", help="write analysis.json, frames/, analysis.mid, analysis.csv and labels/ here")
    p.add_argument("--device", choices=DEVICES, default="auto", help="where the models run (default: auto)")
    p.add_argument("--no-cache", action="store_true", help="recompute even what the cache holds")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("open", help="the app, on a session (default: the demo)")
    p.add_argument("session", nargs="?", help="session file, folder, audio or MIDI file (default: the demo)")
    p.add_argument("--screenshot", metavar="FILE.png", help="render the main window offscreen to FILE.png and exit")
    p.add_argument("--analyze", action="store_true", help="analyse the session once it is open")
    p.add_argument("--device", choices=DEVICES, default="auto", help="where the models run (default: auto)")
    p.set_defaults(func=cmd_open)
    return parser


def main(argv: list[str] | None = None) -> int:
    # File names that are not valid UTF-8 reach Python as lone surrogates: a strict stream
    # (any UTF-8 locale but C) would end `info` with a traceback; they are printed escaped.
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # `stemscope` alone: the app on the demo session
        args = parser.parse_args(["open"])
    try:
        return args.func(args)
    except (SessionError, InferenceError) as exc:
        print(f"stemscope: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stemscope: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
