"""Tempo map: the one conversion between musical time (quarter-note beats) and seconds.

A map is a list of tempo points. Between two points the tempo is either held (a step) or
ramps linearly to the next point's tempo. DAWs disagree on which axis a ramp is linear on:
REAPER draws its tempo envelope over time (linear in seconds), Ableton and DAWproject
automate tempo over the arrangement's beats (linear in beats). Each point says which.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

DEFAULT_BPM = 120.0


@dataclass(frozen=True)
class TempoPoint:
    """A tempo that starts at `beat` (quarter notes from the session start) and `time` (s)."""

    beat: float
    time: float
    bpm: float
    ramp: str = "step"  # "step", "linear_time" or "linear_beats": how it goes to the next point


@dataclass(frozen=True)
class TimeSignature:
    beat: float
    numerator: int = 4
    denominator: int = 4


def _check_bpm(bpm: float) -> float:
    bpm = float(bpm)
    if not math.isfinite(bpm) or bpm <= 0:
        raise ValueError(f"tempo must be a positive number of beats per minute, not {bpm!r}")
    return bpm


class TempoMap:
    """Monotonic mapping between beats and seconds, built from points in either unit."""

    def __init__(self, points: list[TempoPoint], time_signatures: list[TimeSignature] | None = None):
        if not points:
            points = [TempoPoint(0.0, 0.0, DEFAULT_BPM)]
        self.points: list[TempoPoint] = points
        self._beats = [p.beat for p in points]
        self._times = [p.time for p in points]
        # A signature of no beats or of zero-length beats (a corrupt session) cannot lay out bars.
        usable = [ts for ts in time_signatures or () if ts.numerator >= 1 and ts.denominator >= 1
                  and math.isfinite(ts.beat)]
        self.time_signatures: list[TimeSignature] = sorted(usable or [TimeSignature(0.0)], key=lambda ts: ts.beat)

    def __repr__(self) -> str:
        pts = ", ".join(f"({p.beat:g} b, {p.time:g} s, {p.bpm:g} bpm, {p.ramp})" for p in self.points)
        return f"TempoMap([{pts}])"

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def constant(cls, bpm: float = DEFAULT_BPM, numerator: int = 4, denominator: int = 4) -> "TempoMap":
        return cls([TempoPoint(0.0, 0.0, _check_bpm(bpm))], [TimeSignature(0.0, numerator, denominator)])

    @classmethod
    def from_beats(
        cls,
        changes: list[tuple[float, float, str]],
        time_signatures: list[TimeSignature] | None = None,
    ) -> "TempoMap":
        """Points given as (beat, bpm, ramp); ramps of "linear" are linear in beats."""
        return cls._build(changes, "beats", time_signatures)

    @classmethod
    def from_seconds(
        cls,
        changes: list[tuple[float, float, str]],
        time_signatures: list[TimeSignature] | None = None,
    ) -> "TempoMap":
        """Points given as (time_s, bpm, ramp); ramps of "linear" are linear in time."""
        return cls._build(changes, "seconds", time_signatures)

    @classmethod
    def _build(cls, changes, unit, time_signatures):
        cleaned = sorted(((float(pos), _check_bpm(bpm), ramp) for pos, bpm, ramp in changes), key=lambda c: c[0])
        if not cleaned or cleaned[0][0] > 0:
            first_bpm = cleaned[0][1] if cleaned else DEFAULT_BPM
            cleaned.insert(0, (0.0, first_bpm, "step"))
        # Several points at one position: an instant tempo jump, the last one holding from there.
        # The first is the tempo a ramp into that position reaches: it stays, as a point of no
        # length (queries use the last of equal positions), when a ramp arrives and the tempo jumps.
        groups: list[list[tuple[float, float, str]]] = []
        for pos, bpm, ramp in cleaned:
            pos = max(pos, 0.0)
            if groups and abs(groups[-1][0][0] - pos) < 1e-12:
                groups[-1].append((groups[-1][0][0], bpm, ramp))
            else:
                groups.append([(pos, bpm, ramp)])
        dedup: list[tuple[float, float, str]] = []
        for group in groups:
            (pos, arrive, _), leave = group[0], group[-1]
            if dedup and dedup[-1][2] == "linear" and arrive != leave[1]:
                dedup.append((pos, arrive, "step"))
            dedup.append(leave)
        points: list[TempoPoint] = []
        beat = time = 0.0
        for i, (pos, bpm, ramp) in enumerate(dedup):
            kind = "step" if ramp != "linear" else ("linear_beats" if unit == "beats" else "linear_time")
            if i > 0:
                prev = points[-1]
                if unit == "beats":
                    beat = pos
                    time = prev.time + _seconds_across(prev, bpm, pos - prev.beat)
                else:
                    time = pos
                    beat = prev.beat + _beats_across(prev, bpm, pos - prev.time)
            points.append(TempoPoint(beat, time, bpm, kind))
        # A ramp on the last point has nowhere to go: it holds.
        last = points[-1]
        if last.ramp != "step":
            points[-1] = TempoPoint(last.beat, last.time, last.bpm, "step")
        return cls(points, time_signatures)

    # ---- queries ------------------------------------------------------------------------
    def _next_bpm(self, i: int) -> float:
        p = self.points[i]
        if p.ramp == "step" or i + 1 >= len(self.points):
            return p.bpm
        return self.points[i + 1].bpm

    def beats_to_seconds(self, beat: float) -> float:
        beat = float(beat)
        if beat <= 0:
            return beat * 60.0 / self.points[0].bpm
        i = max(bisect.bisect_right(self._beats, beat) - 1, 0)
        p = self.points[i]
        if i + 1 >= len(self.points):
            return p.time + (beat - p.beat) * 60.0 / p.bpm
        return p.time + _seconds_across(p, self._next_bpm(i), beat - p.beat, self.points[i + 1])

    def seconds_to_beats(self, seconds: float) -> float:
        seconds = float(seconds)
        if seconds <= 0:
            return seconds * self.points[0].bpm / 60.0
        i = max(bisect.bisect_right(self._times, seconds) - 1, 0)
        p = self.points[i]
        if i + 1 >= len(self.points):
            return p.beat + (seconds - p.time) * p.bpm / 60.0
        return p.beat + _beats_across(p, self._next_bpm(i), seconds - p.time, self.points[i + 1])

    def bpm_at(self, seconds: float) -> float:
        i = max(bisect.bisect_right(self._times, float(seconds)) - 1, 0)
        p = self.points[i]
        end = self._next_bpm(i)
        if end == p.bpm:
            return p.bpm
        nxt = self.points[i + 1]
        if p.ramp == "linear_time":
            return p.bpm + (end - p.bpm) * (seconds - p.time) / (nxt.time - p.time)
        beat = self.seconds_to_beats(seconds)
        return p.bpm + (end - p.bpm) * (beat - p.beat) / (nxt.beat - p.beat)

    def time_signature_at(self, beat: float) -> TimeSignature:
        current = self.time_signatures[0]
        for ts in self.time_signatures:
            if ts.beat <= beat + 1e-9:
                current = ts
        return current

    def changes(self) -> list[dict]:
        """The JSON form: [{time, bpm}] at each point (ramps are sampled at their ends)."""
        return [{"time": round(p.time, 6), "bpm": round(p.bpm, 6)} for p in self.points]

    def bar_lines(self, start: float, end: float) -> list[tuple[float, int, int]]:
        """(time_s, bar number from 1, beat in bar from 1) for every beat between two times."""
        out: list[tuple[float, int, int]] = []
        sigs = self.time_signatures
        first_beat = max(self.seconds_to_beats(start), 0.0)
        last_beat = self.seconds_to_beats(end)
        bar = 1
        for k, ts in enumerate(sigs):
            beat_len = 4.0 / ts.denominator
            seg_end = sigs[k + 1].beat if k + 1 < len(sigs) else math.inf
            b = ts.beat
            beat_in_bar = 0
            while b < seg_end - 1e-9 and b <= last_beat + 1e-9:
                if b >= first_beat - 1e-9:
                    out.append((self.beats_to_seconds(b), bar, beat_in_bar + 1))
                beat_in_bar += 1
                if beat_in_bar == ts.numerator:
                    beat_in_bar = 0
                    bar += 1
                b += beat_len
            if b > last_beat:
                break
            if beat_in_bar:
                bar += 1
        return out


def _seconds_across(p: TempoPoint, end_bpm: float, beats: float, nxt: TempoPoint | None = None) -> float:
    """Seconds spent over `beats` beats after point p, whose tempo heads towards end_bpm."""
    b0 = p.bpm
    if p.ramp == "step" or end_bpm == b0:
        return beats * 60.0 / b0
    if p.ramp == "linear_beats":
        span = nxt.beat - p.beat if nxt else beats
        k = (end_bpm - b0) / span  # bpm per beat
        return 60.0 / k * math.log1p(k * beats / b0)
    # linear in time: bpm(t) = b0 + k t, beats(t) = (b0 t + k t^2 / 2) / 60; solve for t.
    k = (end_bpm - b0) / (nxt.time - p.time)
    disc = b0 * b0 + 120.0 * k * beats
    # (sqrt(disc) - b0) / k, rationalised: no cancellation when the ramp is nearly flat (k -> 0).
    return 120.0 * beats / (math.sqrt(max(disc, 0.0)) + b0)


def _beats_across(p: TempoPoint, end_bpm: float, seconds: float, nxt: TempoPoint | None = None) -> float:
    """Beats passed over `seconds` after point p, whose tempo heads towards end_bpm."""
    b0 = p.bpm
    if p.ramp == "step" or end_bpm == b0:
        return seconds * b0 / 60.0
    if p.ramp == "linear_time":
        span = nxt.time - p.time if nxt else seconds
        k = (end_bpm - b0) / span
        return (b0 * seconds + 0.5 * k * seconds * seconds) / 60.0
    # linear in beats: t(b) = 60/k ln((b0 + k b)/b0)  =>  b = b0 (exp(k t / 60) - 1) / k
    k = (end_bpm - b0) / (nxt.beat - p.beat)
    return b0 * math.expm1(k * seconds / 60.0) / k


__all__ = ["TempoMap", "TempoPoint", "TimeSignature", "DEFAULT_BPM"]
