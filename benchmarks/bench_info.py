"""How long `stemscope info` takes on a large REAPER project (target: under 0.5 s in total).

Generates a ~2.4 MB project into a temporary folder: folders of tracks with plug-in chains
(base64 state, as real projects carry), audio items on a few short WAVs that exist and many
that do not, and MIDI items with inline notes, controllers and pitch bends. Then times the
in-process load + describe, and the whole command line in a fresh interpreter.

    python benchmarks/bench_info.py [--size-mb 2.4] [--runs 5]
"""

from __future__ import annotations

import argparse
import base64
import random
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _fx_chain(rng: random.Random, indent: str) -> list[str]:
    blob = base64.b64encode(rng.randbytes(96 * 30)).decode()
    lines = [f"{indent}<FXCHAIN", f"{indent}  SHOW 0", f"{indent}  LASTSEL 0", f"{indent}  DOCKED 0",
             f'{indent}  <VST "VST: ReaEQ (Cockos)" reaeq.dll 0 "" 1919247729']
    lines += [f"{indent}    {blob[i:i + 128]}" for i in range(0, len(blob), 128)]
    lines += [f"{indent}  >", f"{indent}  FXID {{00000000-0000-0000-0000-000000000000}}", f"{indent}>"]
    return lines


def _audio_item(rng: random.Random, position: float, media: str) -> list[str]:
    length = rng.uniform(0.5, 8.0)
    return [
        "    <ITEM", f"      POSITION {position:.14f}", "      SNAPOFFS 0", f"      LENGTH {length:.14f}",
        "      LOOP 1", "      ALLTAKES 0", "      FADEIN 1 0.01 0 1 0 0 0", "      FADEOUT 1 0.01 0 1 0 0 0",
        "      MUTE 0 0", "      SEL 0", "      IGUID {7CDD2499-7B2B-447E-A0FE-98F91F864533}", "      IID 1",
        f'      NAME "{Path(media).name}"', "      VOLPAN 1 0 1 -1", f"      SOFFS {rng.uniform(0, 0.2):.14f}",
        "      PLAYRATE 1 1 0 -1 0 0.0025", "      CHANMODE 0", "      GUID {761B5259-CBEE-4995-B855-7BFA89549283}",
        "      <SOURCE WAVE", f'        FILE "{media}"', "      >", "    >",
    ]


def _midi_item(rng: random.Random, position: float, notes: int) -> list[str]:
    lines = [
        "    <ITEM", f"      POSITION {position:.14f}", "      SNAPOFFS 0", f"      LENGTH {notes * 0.25:.14f}",
        "      LOOP 1", "      ALLTAKES 0", "      FADEIN 1 0 0 1 0 0", "      FADEOUT 1 0 0 1 0 0", "      MUTE 0",
        '      NAME "generated MIDI"', "      VOLPAN 1 0 1 -1", "      SOFFS 0 0", "      PLAYRATE 1 1 0 -1 0 0.0025",
        "      <SOURCE MIDI", "        HASDATA 1 960 QN", "        CCINTERP 32",
        f"        POOLEDEVTS {{{rng.getrandbits(128):032X}}}",
    ]
    for k in range(notes):
        pitch = rng.randint(36, 96)
        flag = "e" if k % 7 == 0 else "E"
        lines.append(f"        {flag} {0 if k == 0 else 240} 90 {pitch:02x} {rng.randint(30, 127):02x}")
        if k % 4 == 0:
            lines.append(f"        E 0 b0 01 {rng.randint(0, 127):02x}")
        if k % 8 == 0:
            lines.append(f"        E 0 e0 00 {rng.randint(0, 127):02x}")
        lines.append(f"        {flag} 240 80 {pitch:02x} 00")
    lines += ["        E 0 b0 7b 00", "        IGNTEMPO 0 120 4 4", "      >", "    >"]
    return lines


def _track(rng: random.Random, index: int, folder: int, body: list[str]) -> list[str]:
    return [
        f"  <TRACK {{{rng.getrandbits(128):032X}}}", f'    NAME "Track {index} with a name"', "    PEAKCOL 16576",
        "    VOLPAN 1 0 -1 -1 1", "    MUTESOLO 0 0 0", f"    ISBUS {folder} {({1: 1, 2: -1}).get(folder, 0)}",
        *_fx_chain(rng, "    "), *body, "  >",
    ]


def generate_project(folder: Path, size_bytes: int, seed: int = 7) -> Path:
    """A REAPER project of about `size_bytes`, with four short WAVs present beside it."""
    rng = random.Random(seed)
    present = []
    for k in range(4):
        wav = folder / f"present-{k}.wav"
        with wave.open(str(wav), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(22050)
            w.writeframes(bytes(22050 * 2))
        present.append(wav.name)
    lines = ['<REAPER_PROJECT 0.1 "7.0/linux-x86_64" 1700000000', "  SAMPLERATE 48000 0 0",
             '  RECORD_PATH "Audio" ""', "  TEMPO 128 4 4",
             "  <TEMPOENVEX", "    ACT 1 -1", "    PT 0 128 1 262148", "    PT 60 140 0", "    PT 90 100 1", "  >"]
    size = sum(len(s) + 1 for s in lines)
    index = 0
    while size < size_bytes:
        group: list[list[str]] = []
        for role in range(6):  # a folder of five: three audio tracks, two MIDI tracks
            body: list[str] = []
            position = 0.0
            if role in (1, 2, 3):
                for _ in range(40):
                    media = rng.choice(present) if rng.random() < 0.3 else f"Audio/take-{rng.randint(0, 400)}.wav"
                    body += _audio_item(rng, position, media)
                    position += rng.uniform(2, 10)
            elif role in (4, 5):
                for _ in range(12):
                    body += _midi_item(rng, position, rng.randint(40, 120))
                    position += rng.uniform(10, 40)
            group.append(_track(rng, index + 1, {0: 1, 5: 2}.get(role, 0), body))
            index += 1
        for t in group:
            lines += t
            size += sum(len(s) + 1 for s in t)
    lines.append(">")
    path = folder / "large project.rpp"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _time_in_process(path: Path, runs: int) -> tuple[list[float], str]:
    from plugin.cli import describe
    from plugin.session import load_session

    times = []
    summary = ""
    for _ in range(runs):
        t0 = time.perf_counter()
        session = load_session(path)
        text = describe(session)
        times.append(time.perf_counter() - t0)
        summary = (f"{len(session.tracks)} tracks, {sum(len(t.clips) for t in session.tracks)} audio clips, "
                   f"{sum(len(t.midi_clips) for t in session.tracks)} MIDI clips, "
                   f"{sum(len(t.notes) for t in session.tracks)} notes, {len(session.missing_media)} missing files, "
                   f"{len(text.splitlines())} lines of output")
    return times, summary


def _time_cli(path: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "plugin.cli", "info", str(path)], cwd=REPO, check=True,
                       stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=2.4)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    with tempfile.TemporaryDirectory(prefix="stemscope-bench-") as tmp:
        path = generate_project(Path(tmp), int(args.size_mb * 1_000_000))
        line_count = path.read_text(encoding="utf-8").count("\n")
        print(f"project: {path.stat().st_size / 1e6:.2f} MB, {line_count} lines")
        in_process, summary = _time_in_process(path, args.runs)
        print(f"loaded: {summary}")
        cli = _time_cli(path, args.runs)
    for label, times in (("in-process load + describe", in_process), ("`stemscope info` subprocess", cli)):
        print(f"{label:<30} median {statistics.median(times) * 1000:7.1f} ms   "
              f"min {min(times) * 1000:7.1f} ms   max {max(times) * 1000:7.1f} ms   ({len(times)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
