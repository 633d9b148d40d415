"""Benchmark of plugin.audio's streaming render: speed of a mix and peak memory of a long track.

    python benchmarks/bench_render.py [--tracks 10] [--seconds 180] [--long-seconds 3600]

Generates its material in a temporary folder (44.1 kHz stereo WAV, MP3 and FLAC) and prints:
  * the time to render a `--tracks` x `--seconds` session to a 22,050 Hz mono mix, in track
    seconds per second (target: at least 100x real time on 2 cores);
  * the peak resident memory (getrusage maxrss) of a fresh process rendering one
    `--long-seconds` track to the same format (target: under 300 MB), beside that of a process
    that only imports the same modules.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from pedalboard.io import AudioFile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from plugin.audio import render_blocks
from plugin.session import AudioClip, Session, Track

SOURCE_RATE = 44100
MIX_RATE = 22050
WRITE_FRAMES = SOURCE_RATE * 10


def signal(seconds: float, seed: int, start_frame: int = 0) -> np.ndarray:
    """(2, frames) of a tone with noise, different per seed."""
    frames = int(seconds * SOURCE_RATE)
    t = (start_frame + np.arange(frames)) / SOURCE_RATE
    tone = 0.3 * np.sin(2 * np.pi * (110 + 40 * seed) * t)
    noise = np.random.default_rng(seed * 7919 + start_frame).standard_normal((2, frames)) * 0.05
    return (tone + noise).astype(np.float32)


def write_source(path: Path, seconds: float, seed: int) -> Path:
    """Write in 10-second pieces so that generating an hour never holds the hour in memory."""
    total = int(seconds * SOURCE_RATE)
    if path.suffix == ".wav":
        with sf.SoundFile(str(path), "w", SOURCE_RATE, 2, subtype="PCM_16") as f:
            for at in range(0, total, WRITE_FRAMES):
                f.write(signal(min(WRITE_FRAMES, total - at) / SOURCE_RATE, seed, at).T)
    else:
        with AudioFile(str(path), "w", SOURCE_RATE, 2) as f:
            for at in range(0, total, WRITE_FRAMES):
                f.write(signal(min(WRITE_FRAMES, total - at) / SOURCE_RATE, seed, at))
    return path


def build_session(folder: Path, tracks: int, seconds: float) -> Session:
    """`tracks` tracks of `seconds` each: mostly WAV, two MP3 and one FLAC, in three clips apiece."""
    kinds = ["mp3" if k in (3, 7) else "flac" if k == 5 else "wav" for k in range(tracks)]
    session = Session(path=str(folder), format="folder")
    third = seconds / 3
    for k, ext in enumerate(kinds):
        source = write_source(folder / f"track{k}.{ext}", seconds, k)
        clips = [AudioClip(start=i * third, duration=third, source=str(source), source_offset=i * third,
                           fade_in=0.01, fade_out=0.01, gain=0.8) for i in range(3)]
        session.tracks.append(Track(name=f"track{k}", clips=clips, gain=0.7, pan=(k - tracks / 2) / tracks))
    return session


def bench_mix(folder: Path, tracks: int, seconds: float) -> None:
    t0 = time.perf_counter()
    session = build_session(folder, tracks, seconds)
    print(f"generated {tracks} tracks x {seconds:.0f} s in {time.perf_counter() - t0:.1f} s")
    track_seconds = tracks * seconds
    for workers in (1, None):
        warnings: list[str] = []
        t0 = time.perf_counter()
        frames = sum(b.shape[1] for b in render_blocks(session, sample_rate=MIX_RATE, channels=1,
                                                       workers=workers, warnings=warnings))
        wall = time.perf_counter() - t0
        label = "1 thread" if workers == 1 else f"{len(os.sched_getaffinity(0))} threads"
        speed = track_seconds / wall
        print(f"mix to {MIX_RATE} Hz mono, {label}: {track_seconds:.0f} track-seconds in {wall:.2f} s = "
              f"{speed:.0f}x real time ({frames} frames{', warnings: ' + str(warnings) if warnings else ''})")
    print(f"  target >= 100x on 2 cores: {'met' if speed >= 100 else 'NOT met'}")


def child_peak_rss(code: str) -> float:
    """Peak resident memory (MB) of a fresh Python process running `code`."""
    script = f"import resource, sys; sys.path.insert(0, {str(ROOT)!r})\n{code}\n" \
             "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"the measured process failed:\n{out.stderr}")
    return int(out.stdout.split()[-1]) / 1024  # Linux reports kilobytes


def bench_long_track(folder: Path, seconds: float) -> None:
    t0 = time.perf_counter()
    source = write_source(folder / "long.wav", seconds, 99)
    print(f"generated a {seconds:.0f} s stereo WAV ({source.stat().st_size / 2**20:.0f} MB) "
          f"in {time.perf_counter() - t0:.1f} s")
    imports = "import numpy, pedalboard, soundfile; import plugin.audio, plugin.session"
    render = (
        f"{imports}\n"
        "from plugin.audio import render_track\n"
        "from plugin.session import AudioClip, Track\n"
        f"track = Track(name='long', clips=[AudioClip(start=0.0, duration={seconds}, source={str(source)!r})])\n"
        f"n = sum(b.shape[1] for b in render_track(track, sample_rate={MIX_RATE}, channels=1))\n"
        f"assert n == {round(seconds * MIX_RATE)}, n"
    )
    baseline = child_peak_rss(imports)
    t0 = time.perf_counter()
    peak = child_peak_rss(render)
    wall = time.perf_counter() - t0
    print(f"{seconds:.0f} s track to {MIX_RATE} Hz mono: peak RSS {peak:.1f} MB "
          f"(imports alone {baseline:.1f} MB), {wall:.1f} s = {seconds / wall:.0f}x real time")
    print(f"  target < 300 MB: {'met' if peak < 300 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--long-seconds", type=float, default=3600.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stemscope-bench-") as tmp:
        bench_mix(Path(tmp), args.tracks, args.seconds)
        bench_long_track(Path(tmp), args.long_seconds)
    print(f"this process: peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
