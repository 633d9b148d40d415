"""plugin.analysis.timeline: hysteresis segments, minimum durations, Timeline summaries (pure numpy)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from plugin.analysis import DEFAULT_MIN_DURATIONS, MinDurations, Timeline, segments
from plugin.inference.models import Label

HOP = 0.1


def seg(activation, threshold=0.5, **kw):
    kw.setdefault("min_on_seconds", 0.0)
    kw.setdefault("min_off_seconds", 0.0)
    return segments(np.array(activation, dtype=np.float32), threshold, HOP, **kw)


def times(result):
    return [(pytest.approx(s), pytest.approx(e)) for s, e, _ in result]


def bounds(result):
    return [(s, e) for s, e, _ in result]


# ---- segments ------------------------------------------------------------------------------------
def test_hysteresis_on_at_threshold_off_below_low():
    # threshold 0.5, low_ratio 0.6 -> stays on while >= 0.3
    act = [0.0, 0.4, 0.6, 0.4, 0.35, 0.2, 0.4, 0.0]
    result = seg(act)
    assert bounds(result) == times([(0.2, 0.5, 0)])
    assert result[0][2] == pytest.approx((0.6 + 0.4 + 0.35) / 3, abs=1e-6)


def test_hysteresis_exact_threshold_switches_on_and_low_bound_keeps_on():
    act = [0.5, 0.3, 0.29, 0.5, 0.49]
    assert bounds(seg(act)) == times([(0.0, 0.2, 0), (0.3, 0.5, 0)])
    # below-threshold run with no "on" frame never switches on
    assert seg([0.49, 0.45, 0.4, 0.49]) == []


def test_low_ratio_one_is_plain_thresholding():
    act = [0.6, 0.45, 0.6, 0.6]
    assert bounds(seg(act, low_ratio=1.0)) == times([(0.0, 0.1, 0), (0.2, 0.4, 0)])
    assert bounds(seg(act, low_ratio=0.6)) == times([(0.0, 0.4, 0)])


def test_segment_reaching_the_end_and_starting_at_zero():
    assert bounds(seg([0.9, 0.9, 0.9])) == times([(0.0, 0.3, 0)])
    assert bounds(seg([0.0, 0.0, 0.8])) == times([(0.2, 0.3, 0)])


def test_short_gaps_are_merged():
    act = [0, 0.9, 0.9, 0, 0, 0.9, 0.9, 0]  # gap of 2 frames = 0.2 s
    merged = seg(act, min_off_seconds=0.3)
    assert bounds(merged) == times([(0.1, 0.7, 0)])
    assert merged[0][2] == pytest.approx(0.9 * 4 / 6, abs=1e-6)  # the gap counts in the mean
    assert bounds(seg(act, min_off_seconds=0.2)) == times([(0.1, 0.3, 0), (0.5, 0.7, 0)])  # not < 0.2
    assert bounds(seg(act, min_off_seconds=0.21)) == times([(0.1, 0.7, 0)])


def test_chained_gap_merging():
    act = [0.9, 0, 0.9, 0, 0.9, 0, 0, 0, 0, 0.9]
    assert bounds(seg(act, min_off_seconds=0.15)) == times([(0.0, 0.5, 0), (0.9, 1.0, 0)])


def test_short_segments_are_dropped():
    act = [0, 0.9, 0.9, 0, 0, 0, 0.9, 0.9, 0.9, 0]
    assert bounds(seg(act, min_on_seconds=0.25)) == times([(0.6, 0.9, 0)])
    assert bounds(seg(act, min_on_seconds=0.2)) == times([(0.1, 0.3, 0), (0.6, 0.9, 0)])  # 0.2 s kept
    assert bounds(seg(act, min_on_seconds=0.3)) == times([(0.6, 0.9, 0)])  # 3 frames * 0.1 = 0.3 s kept
    assert seg(act, min_on_seconds=0.31) == []


def test_merge_happens_before_dropping():
    act = [0.9, 0, 0.9, 0, 0]
    assert bounds(seg(act, min_on_seconds=0.25, min_off_seconds=0.15)) == times([(0.0, 0.3, 0)])
    assert seg(act, min_on_seconds=0.25, min_off_seconds=0.05) == []


def test_default_minimum_durations():
    assert DEFAULT_MIN_DURATIONS["family"] == DEFAULT_MIN_DURATIONS["fine"] == MinDurations(0.25, 0.3)
    assert DEFAULT_MIN_DURATIONS["technique"] == MinDurations(0.06, 0.05)
    hop = 0.01
    act = np.zeros(200, dtype=np.float32)
    act[10:30] = 0.9  # 0.2 s: dropped by the instrument default
    act[100:130] = 0.9  # 0.3 s: kept
    assert [(round(s, 6), round(e, 6)) for s, e, _ in segments(act, 0.5, hop)] == [(1.0, 1.3)]


def test_empty_silent_and_bad_input():
    assert seg([]) == []
    assert seg([0.0] * 50) == []
    assert segments(np.full(10, np.nan, dtype=np.float32), 0.5, HOP) == []
    with pytest.raises(ValueError):
        segments(np.zeros((3, 2)), 0.5, HOP)
    with pytest.raises(ValueError):
        segments(np.zeros(3), 0.5, 0.0)
    with pytest.raises(ValueError):
        segments(np.zeros(3), 0.5, HOP, low_ratio=1.5)


# ---- Timeline ------------------------------------------------------------------------------------
LABELS = (
    Label("organ", "family", "organ", 0.5),
    Label("organ", "fine", "organ", 0.4),
    Label("strings", "family", "strings", 0.5),
    Label("violin", "fine", "strings", 0.5),
    Label("piano", "fine", "keys", 0.5),
    Label("vibrato", "technique", None, 0.5),
    Label("pizzicato", "technique", None, 0.5),
)
COL = {(lab.group, lab.name): i for i, lab in enumerate(LABELS)}


def spec(hop=HOP):
    return SimpleNamespace(name="toy", labels=LABELS, hop_seconds=hop)


def timeline(acts, **kw):
    return Timeline.from_spec(spec(), acts, **kw)


def test_float16_storage_round_trip():
    rng = np.random.default_rng(0)
    acts = rng.random((500, len(LABELS)), dtype=np.float32)
    tl = timeline(acts)
    assert tl.activations.dtype == np.float16 and tl.activations.shape == (500, len(LABELS))
    assert tl.model == "toy" and tl.frames == 500 and tl.duration_seconds == pytest.approx(50.0)
    back = tl.activation("fine", "violin")
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, acts[:, COL[("fine", "violin")]], atol=5e-4, rtol=0)
    assert tl.thresholds.dtype == np.float32
    assert tl.label_names == tuple(lab.name for lab in LABELS)


def test_summary_sorted_and_keyed_by_group_and_name():
    acts = np.zeros((40, len(LABELS)), dtype=np.float32)
    acts[0:10, COL[("family", "organ")]] = 0.6  # 1.0 s at 0.6
    acts[20:25, COL[("fine", "organ")]] = 0.9  # 0.5 s at 0.9 (fine "organ" is a different label)
    acts[0:10, COL[("fine", "violin")]] = 0.7
    acts[20:30, COL[("fine", "violin")]] = 1.0  # weighted: (0.7*1 + 1*1) / 2 = 0.85
    acts[5, COL[("fine", "piano")]] = 1.0  # 0.1 s: dropped by the default minimum
    acts[0:40, COL[("technique", "vibrato")]] = 1.0  # techniques are not instruments
    summary = timeline(acts).instrument_summary()
    keys = [(row["group"], row["label"]) for row in summary]
    assert keys == [("fine", "organ"), ("fine", "violin"), ("family", "organ")]
    by_key = {(row["group"], row["label"]): row for row in summary}
    assert by_key[("fine", "organ")]["confidence"] == pytest.approx(0.9, abs=1e-3)
    assert by_key[("fine", "organ")]["active_seconds"] == pytest.approx(0.5)
    assert by_key[("family", "organ")]["confidence"] == pytest.approx(0.6, abs=1e-3)
    assert by_key[("family", "organ")]["active_seconds"] == pytest.approx(1.0)
    assert by_key[("family", "organ")]["segments"][0][:2] == (pytest.approx(0.0), pytest.approx(1.0))
    violin = by_key[("fine", "violin")]
    assert violin["family"] == "strings" and len(violin["segments"]) == 2
    assert violin["confidence"] == pytest.approx(0.85, abs=1e-3)
    assert violin["active_seconds"] == pytest.approx(2.0)
    assert set(summary[0]) == {"label", "group", "family", "confidence", "active_seconds", "segments"}


def test_per_label_threshold_from_spec():
    acts = np.zeros((10, len(LABELS)), dtype=np.float32)
    acts[:, COL[("family", "organ")]] = 0.45  # below family threshold 0.5
    acts[:, COL[("fine", "organ")]] = 0.45  # above fine threshold 0.4
    summary = timeline(acts).instrument_summary()
    assert [(row["group"], row["label"]) for row in summary] == [("fine", "organ")]


def test_technique_events_in_time_order():
    acts = np.zeros((30, len(LABELS)), dtype=np.float32)
    acts[2:4, COL[("technique", "pizzicato")]] = 0.8
    acts[20:22, COL[("technique", "pizzicato")]] = 0.8
    acts[10:13, COL[("technique", "vibrato")]] = 0.9
    acts[0:1, COL[("technique", "vibrato")]] = 0.9  # 0.1 s >= 0.06 s default: kept
    acts[:, COL[("fine", "violin")]] = 0.9
    events = timeline(acts).technique_events()
    assert [(ev["label"], round(ev["start"], 6), round(ev["end"], 6)) for ev in events] == [
        ("vibrato", 0.0, 0.1), ("pizzicato", 0.2, 0.4), ("vibrato", 1.0, 1.3), ("pizzicato", 2.0, 2.2)]
    assert events[1]["confidence"] == pytest.approx(0.8, abs=1e-3)
    assert set(events[0]) == {"label", "start", "end", "confidence"}


def test_min_durations_are_overridable_per_group():
    acts = np.zeros((30, len(LABELS)), dtype=np.float32)
    acts[0:2, COL[("fine", "piano")]] = 0.9  # 0.2 s
    acts[0:1, COL[("technique", "vibrato")]] = 0.9
    acts[2:3, COL[("technique", "vibrato")]] = 0.9  # gap 0.1 s
    default = timeline(acts)
    assert default.instrument_summary() == []
    assert len(default.technique_events()) == 2
    custom = timeline(acts, min_durations={"fine": (0.1, 0.3), "technique": MinDurations(0.0, 0.15)})
    assert [row["label"] for row in custom.instrument_summary()] == ["piano"]
    events = custom.technique_events()
    assert [(round(ev["start"], 6), round(ev["end"], 6)) for ev in events] == [(0.0, 0.3)]
    with pytest.raises(ValueError):
        timeline(acts, min_durations={"bogus": (0.1, 0.1)})


def test_empty_and_silent_timelines():
    for acts in (np.zeros((0, len(LABELS)), dtype=np.float32), np.zeros((100, len(LABELS)), dtype=np.float32)):
        tl = timeline(acts)
        assert tl.instrument_summary() == []
        assert tl.technique_events() == []


def test_timeline_checks_its_shape():
    with pytest.raises(ValueError):
        timeline(np.zeros((10, 3)))
    with pytest.raises(ValueError):
        timeline(np.zeros(10))
    with pytest.raises(KeyError):
        timeline(np.zeros((10, len(LABELS)))).activation("family", "violin")
