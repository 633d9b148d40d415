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
from .session import Session, SessionError, load_session


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stemscope", description="What plays in a DAW session, and how.")
    parser.add_argument("--version", action="version", version=f"stemscope {__version__}")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("info", help="what a session holds")
    p.add_argument("session", nargs="?", help="session file, folder, audio or MIDI file (default: the demo)")
    p.add_argument("--json", action="store_true", help="print the JSON contract instead of a table")
    p.set_defaults(func=cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    # File names that are not valid UTF-8 reach Python as lone surrogates: a strict stream
    # (any UTF-8 locale but C) would end `info` with a traceback; they are printed escaped.
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # the app's place until it exists: the demo session described
        args = parser.parse_args(["info"])
    try:
        return args.func(args)
    except SessionError as exc:
        print(f"stemscope: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
