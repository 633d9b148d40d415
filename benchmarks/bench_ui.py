"""Benchmark of the desktop app (offscreen): opening, GUI stalls during analysis, repaint cost.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_ui.py [--tracks 16] [--seconds 60]
        [--paint-tracks 100] [--paint-minutes 10] [--skip-analysis]

Prints:
  * open: the time from opening a `--tracks`-track folder session (WAVs generated in a temporary
    folder, 44.1 kHz stereo) until its lanes are painted (before analysis; target <= 1 s), and
    until every waveform overview is in;
  * stall: the longest lateness of a 10 ms QTimer probe on the GUI thread while the app analyses
    that session from an empty cache (target <= 50 ms);
  * paint: repaint time of the lane canvas showing a `--paint-tracks`-track, `--paint-minutes`
    view in a 1920 x 1080 window (synthetic overviews; analyses like a busy real track: three
    families, three fine labels and two techniques switching every 2 s; every tenth track a
    2,000-note piano roll), median and worst over zoom and scroll steps (target <= 16 ms).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PyQt6.QtCore import QElapsedTimer, QTimer
from PyQt6.QtWidgets import QApplication

RATE = 44100


def write_stems(folder: Path, tracks: int, seconds: float) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * RATE)) / RATE
    for k in range(tracks):
        envelope = (np.sin(2 * np.pi * (0.2 + 0.05 * k) * t) > -0.3).astype(np.float32)
        tone = 0.3 * np.sin(2 * np.pi * (80 + 37 * k) * t) * envelope
        noise = rng.standard_normal(len(t)).astype(np.float32) * 0.02
        sf.write(folder / f"{k + 1:02d}-stem.wav", np.stack([tone + noise, tone - noise], axis=1), RATE,
                 subtype="PCM_16")


def wait_until(app, predicate, timeout_s: float) -> bool:
    end = time.perf_counter() + timeout_s
    while time.perf_counter() < end:
        app.processEvents()
        if predicate():
            return True
        time.sleep(0.001)
    return False


def bench_open(app, folder: Path, tracks: int) -> tuple[float, float, object]:
    from ui.mainwindow import MainWindow

    window = MainWindow(use_settings=False, auto_cached_analysis=False, use_audio=False)
    window.resize(1600, 1000)
    window.show()
    app.processEvents()
    loaded: list = []
    window.session_loaded.connect(loaded.append)
    started = time.perf_counter()
    window.open_paths([str(folder)])
    if not wait_until(app, lambda: bool(loaded), 60):
        raise SystemExit("the session did not open")
    window.timeline.canvas.repaint()  # the lanes, painted
    lanes = time.perf_counter() - started
    assert len(window.timeline.canvas.groups) == tracks + 1
    wait_until(app, lambda: not window.overviews_running, 300)
    overviews = time.perf_counter() - started
    return lanes, overviews, window


def bench_stall(app, window) -> tuple[float, float, float, int]:
    """(longest and 99th percentile lateness of the 10 ms probe in ms, analysis seconds, probe ticks)."""
    lateness: list[float] = []
    clock = QElapsedTimer()
    probe = QTimer()
    probe.setInterval(10)
    last = [0.0]

    def tick() -> None:
        now = clock.nsecsElapsed() / 1e6
        lateness.append(now - last[0] - 10.0)
        last[0] = now

    probe.timeout.connect(tick)
    finished: list = []
    window.analysis_finished.connect(finished.append)
    clock.start()
    probe.start()
    started = time.perf_counter()
    window.start_analysis()
    if not wait_until(app, lambda: bool(finished), 1800):
        raise SystemExit("the analysis did not finish")
    seconds = time.perf_counter() - started
    probe.stop()
    if finished[0] != "done":
        raise SystemExit(f"the analysis ended: {finished[0]}: {window.problems.lines()[-1:]}")
    return max(lateness[1:]), float(np.percentile(lateness[1:], 99)), seconds, len(lateness)


def synthetic_session(tracks: int, minutes: float):
    """A Session whose tracks are only placed (no media read): overviews and analyses are synthetic."""
    from plugin.session import AudioClip, MidiClip, Note, Session, Track

    duration = minutes * 60.0
    rng = np.random.default_rng(1)
    session = Session(path="synthetic.rpp", format="reaper")
    for k in range(tracks):
        if k % 10 == 9:
            notes = [Note(float(s), float(rng.uniform(0.1, 1.0)), int(rng.integers(40, 80)), int(rng.integers(20, 127)))
                     for s in np.sort(rng.uniform(0, duration - 1, 2000))]
            session.tracks.append(Track(f"MIDI {k}", "midi", midi_clips=[MidiClip(0.0, duration, notes)]))
        else:
            session.tracks.append(Track(f"Track {k}", "audio", clips=[AudioClip(0.0, duration, f"t{k}.wav")]))
    return session


def synthetic_views(duration: float, count: int = 8):
    """`count` different analyses, each like a busy real track: three families (with one fine
    label each) and two techniques switching on and off every few seconds."""
    from plugin.analysis import Timeline
    from plugin.inference import shipped_models
    from ui.lanes import TrackAnalysisView

    specs = shipped_models()
    rng = np.random.default_rng(2)
    views = []
    for _ in range(count):
        timelines = {}
        for name, spec in specs.items():
            frames = int(duration / spec.hop_seconds)
            groups = [label.group for label in spec.labels]
            families = [i for i, g in enumerate(groups) if g == "family"]
            active = list(rng.choice(families, 3, replace=False)) if families else []
            if families:  # one fine label of each active family
                for i in list(active):
                    fine = [j for j, lab in enumerate(spec.labels) if lab.group == "fine"
                            and lab.family == spec.labels[i].name]
                    active += list(rng.choice(fine, 1)) if fine else []
            else:
                active = list(rng.choice(len(spec.labels), 2, replace=False))
            block = max(1, int(2.0 / spec.hop_seconds))  # on/off decisions every 2 s
            acts = np.zeros((frames, len(spec.labels)), np.float32)
            for i in active:
                on = np.repeat(rng.random(frames // block + 1) < 0.5, block)[:frames]
                acts[:, i] = on * rng.uniform(0.6, 1.0, frames)
            timelines[name] = Timeline.from_spec(spec, acts)
        views.append(TrackAnalysisView(timelines["instrument"], timelines["technique"]))
    return views


def bench_paint(app, tracks: int, minutes: float) -> tuple[float, float, float, int]:
    """(median ms, 90th percentile ms, worst ms, full-canvas ms, groups painted in view)."""
    from ui.lanes import MIX_KEY
    from ui.peaks import BUCKET_SAMPLES, PEAK_SAMPLE_RATE, Peaks
    from ui.timeline import TimelineView
    from ui.viewmanager import ViewManager

    session = synthetic_session(tracks, minutes)
    view = ViewManager()
    timeline = TimelineView(view)
    timeline.resize(1920, 1080)
    timeline.show()
    timeline.set_session(session)
    view.set_duration(session.duration)
    buckets = int(session.duration * PEAK_SAMPLE_RATE / BUCKET_SAMPLES)
    rng = np.random.default_rng(3)
    analyses = synthetic_views(session.duration)
    for key, state in timeline.states.items():
        if state.has_audio:
            amp = np.abs(np.repeat(rng.standard_normal(buckets // 100 + 1), 100)[:buckets]).astype(np.float32)
            state.peaks = Peaks.from_buckets(-amp, amp, BUCKET_SAMPLES / PEAK_SAMPLE_RATE)
            state.analysis = analyses[key % len(analyses)]
    timeline.relayout()
    app.processEvents()
    canvas = timeline.canvas
    top = timeline.scroll.verticalScrollBar().value()
    visible = [g for g in canvas.groups if g.y < top + timeline.scroll.viewport().height()]
    times = []
    steps = [("fit", None)] + [("zoom", 1.1)] * 5 + [("zoom", 1 / 1.1)] * 5 + [("scroll", 40)] * 5 + \
        [("vscroll", 300)] * 5 + [("fit", None)] * 5
    for kind, amount in steps * 2:
        if kind == "fit":
            view.fit()
        elif kind == "zoom":
            view.zoom_at(canvas.width() / 2, amount)
        elif kind == "scroll":
            view.scroll_by_pixels(amount)
        else:
            bar = timeline.scroll.verticalScrollBar()
            bar.setValue((bar.value() + amount) % max(bar.maximum(), 1))
        app.processEvents()
        started = time.perf_counter()
        canvas.repaint()  # synchronous: the visible part of the canvas, painted now
        times.append((time.perf_counter() - started) * 1000)
    view.fit()
    started = time.perf_counter()
    canvas.grab()  # every group, the whole canvas height
    full = (time.perf_counter() - started) * 1000
    del timeline.states[MIX_KEY]
    timeline.close()
    timeline.deleteLater()
    return statistics.median(times), float(np.percentile(times, 90)), max(times), full, len(visible)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--paint-tracks", type=int, default=100)
    parser.add_argument("--paint-minutes", type=float, default=10.0)
    parser.add_argument("--skip-analysis", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stemscope-bench-ui-") as tmp:
        os.environ["STEMSCOPE_CACHE_DIR"] = str(Path(tmp) / "cache")  # an empty analysis cache
        from PyQt6.QtCore import QSettings

        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(Path(tmp) / "settings"))
        app = QApplication.instance() or QApplication(sys.argv[:1])
        folder = Path(tmp) / "session"
        folder.mkdir()
        write_stems(folder, args.tracks, args.seconds)
        lanes, overviews, window = bench_open(app, folder, args.tracks)
        print(f"open: lanes visible {lanes * 1000:.0f} ms after opening a {args.tracks}-track, "
              f"{args.seconds:g} s session (target <= 1000 ms); all waveforms in {overviews * 1000:.0f} ms")
        if not args.skip_analysis:
            stall, p99, seconds, ticks = bench_stall(app, window)
            print(f"stall: longest GUI-thread stall {stall:.1f} ms (99th percentile {p99:.1f} ms) during a "
                  f"{seconds:.1f} s analysis ({ticks} probe ticks at 10 ms; target <= 50 ms); "
                  f"provider {window.analysis.provider}; load average {os.getloadavg()[0]:.1f}")
        window.shutdown()
        window.close()
        median, p90, worst, full, shown = bench_paint(app, args.paint_tracks, args.paint_minutes)
        print(f"paint: {args.paint_tracks} tracks x {args.paint_minutes:g} min, 1920x1080, {shown} groups in view: "
              f"repaint median {median:.1f} ms, 90th percentile {p90:.1f} ms, worst {worst:.1f} ms "
              f"(target <= 16 ms); load average {os.getloadavg()[0]:.1f}; "
              f"whole canvas ({args.paint_tracks} groups) {full:.0f} ms")


if __name__ == "__main__":
    main()
