"""The tempo map: exact values for known maps, and properties for arbitrary ones."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugin.session.tempo import TempoMap, TimeSignature

bpms = st.floats(min_value=20.0, max_value=400.0, allow_nan=False)
ramps = st.sampled_from(["step", "linear"])


@st.composite
def tempo_maps(draw):
    unit = draw(st.sampled_from(["beats", "seconds"]))
    n = draw(st.integers(min_value=1, max_value=8))
    positions = sorted(draw(st.lists(st.floats(0.0, 500.0), min_size=n, max_size=n, unique=True)))
    changes = [(pos, draw(bpms), draw(ramps)) for pos in positions]
    return TempoMap.from_beats(changes) if unit == "beats" else TempoMap.from_seconds(changes)


@settings(max_examples=300, deadline=None)
@given(tempo_maps(), st.floats(0.0, 2000.0))
def test_beats_seconds_beats_is_identity(tmap, beat):
    assert tmap.seconds_to_beats(tmap.beats_to_seconds(beat)) == pytest.approx(beat, rel=1e-9, abs=1e-7)


@settings(max_examples=300, deadline=None)
@given(tempo_maps(), st.floats(0.0, 1000.0))
def test_seconds_beats_seconds_is_identity(tmap, t):
    assert tmap.beats_to_seconds(tmap.seconds_to_beats(t)) == pytest.approx(t, rel=1e-9, abs=1e-7)


@settings(max_examples=200, deadline=None)
@given(tempo_maps(), st.lists(st.floats(0.0, 2000.0), min_size=2, max_size=20))
def test_time_is_strictly_monotonic_in_beats(tmap, beats):
    beats = sorted(set(round(b, 6) for b in beats))
    times = [tmap.beats_to_seconds(b) for b in beats]
    assert all(t1 > t0 for t0, t1 in zip(times, times[1:]))


@settings(max_examples=200, deadline=None)
@given(tempo_maps())
def test_points_are_continuous(tmap):
    # Just before and just after each point, the conversion agrees: no jumps in time.
    for p in tmap.points[1:]:
        eps = 1e-6
        assert tmap.beats_to_seconds(p.beat - eps) == pytest.approx(p.time, abs=1e-4)
        assert tmap.beats_to_seconds(p.beat + eps) == pytest.approx(p.time, abs=1e-4)


def test_constant_tempo():
    tmap = TempoMap.constant(120)
    assert tmap.beats_to_seconds(8) == 4.0
    assert tmap.seconds_to_beats(1.5) == 3.0
    assert tmap.changes() == [{"time": 0.0, "bpm": 120.0}]


def test_step_change_in_beats():
    tmap = TempoMap.from_beats([(0, 120, "step"), (8, 60, "step")])
    assert tmap.beats_to_seconds(8) == 4.0
    assert tmap.beats_to_seconds(10) == 6.0  # two beats at 60 bpm
    assert tmap.changes() == [{"time": 0.0, "bpm": 120.0}, {"time": 4.0, "bpm": 60.0}]


def test_step_change_in_seconds():
    tmap = TempoMap.from_seconds([(0, 100, "step"), (3, 200, "step")])
    assert tmap.seconds_to_beats(3) == pytest.approx(5.0)
    assert tmap.seconds_to_beats(4) == pytest.approx(5.0 + 200 / 60)


def test_linear_ramp_in_time_matches_the_integral():
    # 60 -> 120 bpm over 10 s, linear in time: beats = integral of bpm/60 dt = (60*10 + 60*10/2)/60 = 15.
    tmap = TempoMap.from_seconds([(0, 60, "linear"), (10, 120, "step")])
    assert tmap.seconds_to_beats(10) == pytest.approx(15.0)
    assert tmap.seconds_to_beats(5) == pytest.approx((60 * 5 + 0.5 * 6 * 25) / 60)
    assert tmap.bpm_at(5) == pytest.approx(90.0)
    assert tmap.beats_to_seconds(15 + 2) == pytest.approx(11.0)  # then 120 bpm


def test_linear_ramp_in_beats_matches_the_integral():
    # 60 -> 120 bpm over 16 beats, linear in beats: t = 60/k ln(bpm(b)/bpm0), k = 60/16 bpm per beat.
    tmap = TempoMap.from_beats([(0, 60, "linear"), (16, 120, "step")])
    k = 60 / 16
    assert tmap.beats_to_seconds(16) == pytest.approx(60 / k * math.log(2))
    assert tmap.beats_to_seconds(8) == pytest.approx(60 / k * math.log(1.5))
    assert tmap.bpm_at(tmap.beats_to_seconds(8)) == pytest.approx(90.0)


def test_a_ramp_into_a_jump_reaches_the_first_tempo_at_that_position():
    # Two points at one position after a ramp (REAPER, DAWproject): the ramp reaches 140, then
    # the tempo jumps to 100. The last point alone would bend the ramp towards 100.
    for build, at in ((TempoMap.from_beats, 16), (TempoMap.from_seconds, 8)):
        tmap = build([(0, 60, "linear"), (at, 140, "step"), (at, 100, "step")])
        ramp = TempoMap.from_beats([(0, 60, "linear"), (16, 140, "step")]) if at == 16 else \
            TempoMap.from_seconds([(0, 60, "linear"), (8, 140, "step")])
        jump = ramp.points[-1]
        assert tmap.beats_to_seconds(jump.beat) == pytest.approx(jump.time)
        assert tmap.bpm_at(jump.time - 1e-6) == pytest.approx(140, abs=1e-3)
        assert tmap.bpm_at(jump.time) == 100.0
        assert tmap.beats_to_seconds(jump.beat + 5) == pytest.approx(jump.time + 3.0)  # 5 beats at 100
        assert tmap.seconds_to_beats(jump.time + 3.0) == pytest.approx(jump.beat + 5)
    # After a step, the points before the last at one position change nothing.
    assert TempoMap.from_beats([(0, 120, "step"), (4, 140, "step"), (4, 100, "step")]).changes() == [
        {"time": 0.0, "bpm": 120.0}, {"time": 2.0, "bpm": 100.0}]


def test_a_map_starts_at_zero_even_when_its_first_point_is_later():
    tmap = TempoMap.from_beats([(4, 90, "step")])
    assert tmap.points[0].beat == 0 and tmap.points[0].bpm == 90
    assert tmap.beats_to_seconds(4) == pytest.approx(4 * 60 / 90)


def test_bad_tempo_is_refused():
    with pytest.raises(ValueError):
        TempoMap.from_beats([(0, 0, "step")])
    with pytest.raises(ValueError):
        TempoMap.from_seconds([(0, float("nan"), "step")])


def test_bar_lines_follow_time_signatures():
    tmap = TempoMap.from_beats([(0, 120, "step")], [TimeSignature(0, 4, 4), TimeSignature(8, 3, 4)])
    lines = tmap.bar_lines(0, 7.0)  # 14 beats at 120 bpm
    downbeats = [(round(t, 6), bar) for t, bar, beat in lines if beat == 1]
    # bars 1-2 in 4/4 (beats 0 and 4), then 3/4 bars at beats 8, 11, 14
    assert downbeats == [(0.0, 1), (2.0, 2), (4.0, 3), (5.5, 4), (7.0, 5)]
    assert tmap.time_signature_at(9).numerator == 3


def test_time_signatures_without_beats_are_dropped():
    """A corrupt session's 4/0 or 0/4 (an Ardour meter of note-type 0) cannot lay out bars; it is
    dropped rather than dividing by zero when the ruler asks for bar lines."""
    tmap = TempoMap.from_beats([(0, 120, "step")], [TimeSignature(0, 4, 0), TimeSignature(4, 0, 4)])
    assert tmap.time_signatures == [TimeSignature(0.0, 4, 4)]
    assert [bar for _, bar, beat in tmap.bar_lines(0, 4.0) if beat == 1] == [1, 2, 3]
    kept = TempoMap.from_beats([(0, 120, "step")], [TimeSignature(0, 3, 4), TimeSignature(6, 4, 0)])
    assert kept.time_signatures == [TimeSignature(0, 3, 4)]


@pytest.mark.parametrize("unit", ["beats", "seconds"])
def test_nearly_flat_ramps_convert_without_cancellation(unit):
    """A ramp between tempos that differ by rounding only (found by hypothesis on CI)."""
    changes = [(0.0, 400.0, "linear"), (1.0, 400.0 * (1 + 1e-13), "step"), (2.0, 20.0, "step")]
    tmap = TempoMap.from_beats(changes) if unit == "beats" else TempoMap.from_seconds(changes)
    for beat in (0.25, 1.0, 3.0):
        assert tmap.seconds_to_beats(tmap.beats_to_seconds(beat)) == pytest.approx(beat, rel=1e-9)
    assert tmap.beats_to_seconds(0.5) == pytest.approx(0.5 * 60 / 400, rel=1e-9)
