"""The one time <-> x mapping every lane, the ruler and the piano roll paint through (no Qt).

Like Sonic Visualiser's frame-to-x interface: a view is `seconds_per_pixel` (zoom) and
`left_time` (scroll, the time at x = 0). Ruler tick choice lives here too, so it is testable
without Qt.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

MIN_SECONDS_PER_PIXEL = 1e-4  # 0.1 ms per pixel: about 4 samples at 44.1 kHz
MAX_SECONDS_PER_PIXEL = 60.0


@dataclass
class TimeMapping:
    """x = (t - left_time) / seconds_per_pixel, in widget pixels from the lanes' left edge."""

    seconds_per_pixel: float = 0.05
    left_time: float = 0.0

    def x_of(self, t: float) -> float:
        return (t - self.left_time) / self.seconds_per_pixel

    def xs_of(self, times: np.ndarray) -> np.ndarray:
        return (np.asarray(times, dtype=np.float64) - self.left_time) / self.seconds_per_pixel

    def time_of(self, x: float) -> float:
        return self.left_time + x * self.seconds_per_pixel

    def visible_range(self, width: float) -> tuple[float, float]:
        return self.left_time, self.left_time + width * self.seconds_per_pixel

    def zoom_about(self, x: float, factor: float) -> None:
        """Zoom in by `factor` (> 1 in, < 1 out) keeping the time at pixel x where it is."""
        anchor = self.time_of(x)
        spp = min(max(self.seconds_per_pixel / factor, MIN_SECONDS_PER_PIXEL), MAX_SECONDS_PER_PIXEL)
        self.seconds_per_pixel = spp
        self.left_time = anchor - x * spp

    def fit(self, duration: float, width: float) -> None:
        """Show [0, duration] across `width` pixels."""
        width = max(float(width), 1.0)
        spp = max(duration, 1.0) / width
        self.seconds_per_pixel = min(max(spp, MIN_SECONDS_PER_PIXEL), MAX_SECONDS_PER_PIXEL)
        self.left_time = 0.0

    def max_left(self, duration: float, width: float) -> float:
        """The largest left_time that still shows the session's end at the right edge."""
        return max(0.0, duration - width * self.seconds_per_pixel)

    def clamp(self, duration: float, width: float) -> None:
        self.left_time = min(max(self.left_time, 0.0), self.max_left(duration, width))


# ---- ruler ticks ------------------------------------------------------------------------------
_TIME_STEPS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0,
               60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)


def time_step(seconds_per_pixel: float, min_pixels: float = 70.0) -> float:
    """The smallest round step (s) whose labels are at least `min_pixels` apart."""
    want = seconds_per_pixel * min_pixels
    for step in _TIME_STEPS:
        if step >= want:
            return step
    return _TIME_STEPS[-1] * math.ceil(want / _TIME_STEPS[-1])


def time_ticks(t0: float, t1: float, step: float) -> list[float]:
    first = math.ceil(max(t0, 0.0) / step - 1e-9)
    last = math.floor(t1 / step + 1e-9)
    return [k * step for k in range(first, last + 1)]


def format_time(t: float, step: float) -> str:
    """m:ss, m:ss.s, m:ss.ss or m:ss.sss depending on the step; h:mm:ss past an hour."""
    decimals = 0 if step >= 1 else min(3, max(1, math.ceil(-math.log10(step) - 1e-9)))
    sign = "-" if t < 0 else ""
    t = abs(t) + 0.5 * 10 ** -decimals
    minutes, seconds = divmod(t, 60.0)
    seconds = math.floor(seconds * 10 ** decimals) / 10 ** decimals
    text = f"{seconds:0{3 + decimals if decimals else 2}.{decimals}f}"
    if minutes >= 60:
        hours, minutes = divmod(int(minutes), 60)
        return f"{sign}{hours}:{minutes:02d}:{text}"
    return f"{sign}{int(minutes)}:{text}"


class BarGrid:
    """Every beat of a session (from its tempo map) once, then cheap look-ups per repaint."""

    MAX_BEATS = 200_000

    def __init__(self, tempo, duration: float):
        lines = tempo.bar_lines(0.0, max(duration, 1.0))[: self.MAX_BEATS]
        self.times = np.array([t for t, _, _ in lines], dtype=np.float64)
        self.bars = np.array([b for _, b, _ in lines], dtype=np.int64)
        self.beats = np.array([b for _, _, b in lines], dtype=np.int64)

    def visible(self, t0: float, t1: float, seconds_per_pixel: float,
                min_pixels: float = 60.0) -> list[tuple[float, str, bool]]:
        """(time, label, is_bar) for the lines worth labelling between t0 and t1.

        Beats are labelled "bar.beat" when they are `min_pixels` apart, else only every 1, 2, 4, ...
        bars, whichever first leaves `min_pixels` between labels.
        """
        lo = bisect.bisect_left(self.times, t0)  # type: ignore[arg-type]
        hi = bisect.bisect_right(self.times, t1)  # type: ignore[arg-type]
        if hi <= lo:
            return []
        times, bars, beats = self.times[lo:hi], self.bars[lo:hi], self.beats[lo:hi]
        if len(self.times) > 1:
            spacing = float(np.median(np.diff(self.times[max(lo - 1, 0):hi + 1]))) / seconds_per_pixel
        else:
            spacing = math.inf
        if spacing >= min_pixels:
            return [(float(t), f"{b}.{k}" if k > 1 else f"{b}", k == 1) for t, b, k in zip(times, bars, beats)]
        starts = beats == 1
        bar_times, bar_numbers = times[starts], bars[starts]
        beats_per_bar = max(1.0, float(np.max(self.beats)))
        every = 1
        while spacing * beats_per_bar * every < min_pixels and every < 1 << 20:
            every *= 2
        keep = (bar_numbers - 1) % every == 0
        return [(float(t), f"{b}", True) for t, b in zip(bar_times[keep], bar_numbers[keep])]
