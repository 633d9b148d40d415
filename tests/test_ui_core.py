"""The app's Qt-free parts: time mapping, ruler ticks, peaks, lane rows and layout, transport."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from plugin.analysis import Timeline
from plugin.session import SessionError, TempoMap
from ui.lanes import (
    MIX_KEY,
    LaneFilter,
    TrackAnalysisView,
    group_at,
    group_rows,
    stack_groups,
    visible_groups,
)
from ui.opening import open_paths, openable
from ui.peaks import (
    BUCKET_SAMPLES,
    PEAK_SAMPLE_RATE,
    BucketAccumulator,
    PeakCache,
    Peaks,
    compute_overviews,
    reduce_per_pixel,
)
from ui.timemap import BarGrid, TimeMapping, format_time, time_step, time_ticks
from ui.transport import PLAYING, STOPPED, Transport


# ---- mapping ----------------------------------------------------------------------------------
@pytest.mark.parametrize("x,factor", [(0, 2.0), (123.5, 1.25), (800, 0.5), (400, 10.0)])
def test_zoom_keeps_the_time_under_the_pointer(x, factor):
    m = TimeMapping(seconds_per_pixel=0.05, left_time=12.0)
    before = m.time_of(x)
    m.zoom_about(x, factor)
    assert m.time_of(x) == pytest.approx(before, abs=1e-9)
    assert m.seconds_per_pixel == pytest.approx(0.05 / factor)


def test_mapping_round_trips_and_clamps():
    m = TimeMapping()
    m.fit(600.0, 1200)
    assert m.x_of(600.0) == pytest.approx(1200)
    assert m.time_of(m.x_of(123.456)) == pytest.approx(123.456)
    assert np.allclose(m.xs_of(np.array([0.0, 300.0])), [0, 600])
    m.zoom_about(600, 4.0)
    m.left_time = 10_000
    m.clamp(600.0, 1200)
    assert m.left_time == pytest.approx(600.0 - 1200 * m.seconds_per_pixel)
    m.left_time = -5
    m.clamp(600.0, 1200)
    assert m.left_time == 0


def test_time_ticks_and_labels():
    assert time_step(0.05, 70) == 5.0
    assert time_step(0.0001, 70) == 0.01
    assert time_ticks(0.5, 10.2, 2.0) == [2.0, 4.0, 6.0, 8.0, 10.0]
    assert format_time(65.0, 5.0) == "1:05"
    assert format_time(65.25, 0.05) == "1:05.25"
    assert format_time(3725.0, 60.0) == "1:02:05"
    assert format_time(0.999, 0.001) == "0:00.999"


def test_bar_grid_labels_beats_then_fewer_bars_when_zoomed_out():
    grid = BarGrid(TempoMap.constant(120.0), 60.0)  # a beat every 0.5 s, 30 bars
    close = grid.visible(0.0, 4.0, 0.005)  # 100 px per beat: every beat labelled
    assert [label for _, label, _ in close[:5]] == ["1", "1.2", "1.3", "1.4", "2"]
    far = grid.visible(0.0, 60.0, 0.1)  # 5 px per beat, 20 px per bar: every 4th bar
    assert [label for _, label, _ in far[:3]] == ["1", "5", "9"]
    assert all(is_bar for _, _, is_bar in far)


# ---- peaks ------------------------------------------------------------------------------------
def test_per_pixel_reduction_matches_brute_force():
    rng = np.random.default_rng(1)
    values = rng.random(1000).astype(np.float32)
    step, t0, spp, width = 0.01, 1.234, 0.037, 300
    got, valid = reduce_per_pixel(values, step, t0, spp, width)
    for i in range(width):
        a, b = t0 + i * spp, t0 + (i + 1) * spp
        lo, hi = int(np.floor(a / step)), int(np.ceil(b / step))  # every value overlapping the pixel
        if lo >= len(values):
            assert not valid[i]
            continue
        assert valid[i]
        assert got[i] == pytest.approx(values[lo:hi].max()), i
    assert valid[200] and not valid[-1]  # the data ends at 10 s: pixel 237 on shows none


def test_peaks_levels_agree_with_the_finest_level():
    rng = np.random.default_rng(2)
    signal = rng.standard_normal(4000 * 30).astype(np.float32)
    acc = BucketAccumulator()
    for i in range(0, len(signal), 777):
        acc.push(signal[i:i + 777])
    peaks = Peaks.from_buckets(*acc.finish(), BUCKET_SAMPLES / PEAK_SAMPLE_RATE)
    assert peaks.duration == pytest.approx(30.0)
    assert len(peaks.mins) > 3
    lo, hi, valid = peaks.per_pixel(0.0, 30.0 / 100, 100)  # 0.3 s per pixel: a coarse level
    assert valid.all()
    for i in (0, 37, 99):
        chunk = signal[int(i * 0.3 * 4000):int((i + 1) * 0.3 * 4000)]
        assert lo[i] <= chunk.min() + 1e-6 and hi[i] >= chunk.max() - 1e-6
    assert lo.min() == pytest.approx(signal.min()) and hi.max() == pytest.approx(signal.max())


def test_bucket_accumulator_is_independent_of_block_sizes():
    signal = np.sin(np.arange(10_001) * 0.01).astype(np.float32)
    results = []
    for size in (1, 39, 40, 4096):
        acc = BucketAccumulator(40)
        for i in range(0, len(signal), size):
            acc.push(signal[i:i + size])
        results.append(acc.finish())
    for mins, maxs in results[1:]:
        assert np.array_equal(mins, results[0][0]) and np.array_equal(maxs, results[0][1])
    assert len(results[0][0]) == 251


def test_overviews_of_a_session_and_its_mix(tmp_path):
    """Each track's overview and the mix of the audible ones; cached overviews come back as is;
    a cancelled run stops without the mix."""
    import soundfile as sf

    from plugin.session import load_session

    rate = 8000
    for name, level in (("a", 0.2), ("b", 0.3), ("c", 0.4)):
        sf.write(tmp_path / f"{name}.wav", np.full(rate * 2, level, np.float32), rate)
    session = load_session(tmp_path)
    session.tracks[2].muted = True
    cache = PeakCache()
    items = list(compute_overviews(threading.Event(), session, cache, MIX_KEY))
    peaks = {key: p for kind, key, p in items if kind == "peaks"}
    assert list(peaks) == [0, 1, 2, MIX_KEY]
    level = {k: float(np.median(p.maxs[0])) for k, p in peaks.items()}  # the edges ring when resampled
    assert [level[k] for k in (0, 1, 2)] == pytest.approx([0.2, 0.3, 0.4], abs=0.005)
    assert level[MIX_KEY] == pytest.approx(0.5, abs=0.005)  # a + b; c is muted
    assert peaks[MIX_KEY].duration == pytest.approx(2.0)
    again = {key: p for kind, key, p in compute_overviews(threading.Event(), session, cache, MIX_KEY)}
    assert all(again[k] is peaks[k] for k in peaks)
    cancel = threading.Event()
    cancel.set()
    session.tracks[2].muted = False  # a new mix: it must be rendered, and the run is cancelled
    assert MIX_KEY not in {key for _, key, _ in compute_overviews(cancel, session, cache, MIX_KEY)}


def test_peak_cache_evicts_the_oldest():
    cache = PeakCache(max_entries=2)
    p = Peaks.from_buckets(np.zeros(4), np.ones(4), 0.01)
    for key in ("a", "b", "c"):
        cache.put((key,), p)
    assert cache.get(("a",)) is None and cache.get(("c",)) is p


# ---- lanes ------------------------------------------------------------------------------------
def synthetic_instrument_timeline(frames: int = 500, hop: float = 0.08) -> Timeline:
    """guitar (distorted) on in the first half, vocals throughout; nothing else."""
    labels = [("guitar", "family", "guitar"), ("vocals", "family", "vocals"), ("bass", "family", "bass"),
              ("distorted_guitar", "fine", "guitar"), ("acoustic_guitar", "fine", "guitar"),
              ("singing_voice", "fine", "vocals")]
    acts = np.zeros((frames, len(labels)), np.float32)
    acts[: frames // 2, 0] = 0.9
    acts[: frames // 2, 3] = 0.8
    acts[:, 1] = 0.6
    acts[:, 5] = 0.7
    return Timeline(acts, [n for n, _, _ in labels], [g for _, g, _ in labels], [f for _, _, f in labels],
                    np.full(len(labels), 0.5, np.float32), hop)


def synthetic_technique_timeline(frames: int = 2000, hop: float = 0.02) -> Timeline:
    names = ["vibrato", "slide", "palm_mute"]
    acts = np.zeros((frames, 3), np.float32)
    acts[100:200, 0] = 0.95
    acts[1000:1100, 0] = 0.85
    acts[500:520, 1] = 0.7
    return Timeline(acts, names, ["technique"] * 3, [None] * 3, np.full(3, 0.5, np.float32), hop)


def test_track_analysis_view_rows_and_captions():
    view = TrackAnalysisView(synthetic_instrument_timeline(), synthetic_technique_timeline())
    assert [r.name for r in view.family_rows] == ["guitar", "vocals"]  # by confidence; bass never on
    guitar = view.family_rows[0]
    assert guitar.segments[0].start == 0 and guitar.segments[0].end == pytest.approx(20.0)
    assert guitar.segments[0].caption == "distorted guitar 90%"
    assert set(view.fine_rows) == {"distorted_guitar", "singing_voice"}
    assert [r.name for r in view.technique_rows] == ["vibrato", "slide"]
    vibrato = view.technique_rows[0]
    assert [(round(s.start, 6), round(s.end, 6)) for s in vibrato.segments] == [(2.0, 4.0), (20.0, 22.0)]
    assert vibrato.segment_at(3.0).caption == "vibrato 95%"
    assert vibrato.activation_at(3.0) == pytest.approx(0.95, abs=1e-3)
    assert vibrato.segment_at(10.0) is None


def test_filters_choose_rows_and_tracks():
    view = TrackAnalysisView(synthetic_instrument_timeline(), synthetic_technique_timeline())
    only_guitar = LaneFilter(instrument="guitar")
    assert [r.name for r in view.instrument_rows(only_guitar)] == ["guitar"]
    fine = LaneFilter(instrument="singing_voice")
    assert [r.name for r in view.instrument_rows(fine)] == ["singing_voice"]
    assert [r.name for r in view.technique_rows_for(LaneFilter(technique="vibrato"))] == ["vibrato"]
    assert view.matches(LaneFilter(instrument="guitar", technique="slide"))
    assert not view.matches(LaneFilter(technique="palm_mute"))
    assert not view.matches(LaneFilter(instrument="brass"))


def test_group_rows_and_stacking():
    view = TrackAnalysisView(synthetic_instrument_timeline(), synthetic_technique_timeline())
    audio = group_rows(True, False, view, None)
    assert [k for k, _, _ in audio] == ["waveform", "instrument", "instrument", "technique", "technique"]
    unanalysed = group_rows(True, False, None, None)
    assert [(k, lab) for k, _, lab in unanalysed] == [("waveform", None), ("instrument", None), ("technique", None)]
    assert [k for k, _, _ in group_rows(False, True, None, None)] == ["pianoroll"]
    filtered = group_rows(True, False, view, LaneFilter(technique="palm_mute"))
    assert filtered[-1] == ("technique", filtered[-1][1], None)  # the placeholder: none found
    groups = stack_groups([(MIX_KEY, audio), (0, unanalysed), (1, group_rows(False, True, None, None))], gap=8)
    assert [g.y for g in groups] == [0, groups[0].height + 8, groups[0].height + groups[1].height + 16]
    assert all(r.y >= g.y and r.y + r.height <= g.y + g.height for g in groups for r in g.rows)
    assert group_at(groups, groups[1].y + 3) is groups[1]
    assert group_at(groups, groups[0].height + 4) is None  # in the gap
    assert visible_groups(groups, groups[1].y + 1, groups[2].y + 1) == groups[1:]


# ---- transport --------------------------------------------------------------------------------
def test_transport_plays_stops_seeks_and_ends():
    t = Transport(duration=10.0)
    t.play(now=100.0)
    assert t.state == PLAYING and t.position_at(102.5) == pytest.approx(2.5)
    t.seek(7.0, now=103.0)
    assert t.tick(104.0) == pytest.approx(8.0)
    assert t.tick(110.0) == 10.0 and t.state == STOPPED
    t.play(now=200.0)  # from the end: starts over
    assert t.position_at(201.0) == pytest.approx(1.0)
    t.toggle(now=202.0)
    assert t.state == STOPPED and t.position == pytest.approx(2.0)


def test_transport_loops_a_selection():
    t = Transport(duration=10.0)
    t.set_loop((4.0, 2.0), now=0.0)
    assert t.loop == (2.0, 4.0) and t.active_loop is None
    t.set_looping(True, now=0.0)
    t.play(now=0.0)  # outside the loop: jumps to its start
    assert t.position_at(0.0) == 2.0
    assert t.position_at(2.5) == pytest.approx(2.5)  # 2 + 2.5 = 4.5 -> wraps to 2.5
    assert t.tick(100.0) < 4.0 and t.state == PLAYING
    t.set_looping(False, now=100.0)
    assert t.tick(200.0) == 10.0 and t.state == STOPPED


# ---- opening ----------------------------------------------------------------------------------
def test_open_paths_builds_a_track_per_audio_file(tmp_path):
    sf = pytest.importorskip("soundfile")
    files = []
    for name, seconds in (("kick", 1.0), ("snare", 2.0)):
        path = tmp_path / f"{name}.wav"
        sf.write(path, np.zeros(int(8000 * seconds), np.float32), 8000)
        files.append(path)
    session = open_paths(files)
    assert [t.name for t in session.tracks] == ["kick", "snare"]
    assert session.duration == pytest.approx(2.0)
    assert openable(files[0]) and openable(tmp_path) and not openable(tmp_path / "x.txt")
    with pytest.raises(SessionError):
        open_paths([tmp_path / "x.txt", tmp_path / "y.doc"])


def test_segment_coverage_and_captioned_segments():
    row = TrackAnalysisView(None, synthetic_technique_timeline()).technique_rows[0]  # vibrato: 2-4 s, 20-22 s
    covered = row.coverage(0.0, 0.5, 50)  # pixel i: [0.5 i, 0.5 i + 0.5)
    assert np.flatnonzero(covered).tolist() == [4, 5, 6, 7, 40, 41, 42, 43]
    assert row.coverage(3.99, 100.0, 1).tolist() == [True]  # a segment narrower than a pixel marks it
    assert row.coverage(4.0, 0.01, 3).tolist() == [False] * 3
    assert [s.start for s in row.wide_segments(0.0, 30.0, 0.05, 40)] == [2.0, 20.0]  # 40 px each
    assert row.wide_segments(0.0, 30.0, 0.06, 40) == []
    assert [s.start for s in row.wide_segments(21.0, 30.0, 0.01, 40)] == [20.0]


# ---- contracts --------------------------------------------------------------------------------
QT_FREE = ("timemap", "peaks", "lanes", "transport", "opening", "shortcuts")


@pytest.mark.parametrize("module", QT_FREE)
def test_the_algorithm_modules_import_no_qt(module):
    import ast
    from pathlib import Path

    import ui

    path = Path(ui.__file__).parent / f"{module}.py"
    names = [alias.name for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.Import) for alias in node.names]
    names += [node.module for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
              if isinstance(node, ast.ImportFrom) and node.module]
    assert not [n for n in names if n.split(".")[0] in ("PyQt6", "PyQt5", "PySide6")], names


def test_importing_the_app_is_cheap_and_loads_no_qt():
    import subprocess
    import sys

    code = ("import sys, ui.app, ui.timemap, ui.peaks, ui.lanes, ui.transport; "
            "assert not [m for m in sys.modules if m.startswith('PyQt6')], 'Qt imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
