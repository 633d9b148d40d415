"""Waveform overviews and per-pixel decimation (no Qt).

A track's overview is min/max per 10 ms bucket of a low-rate mono render, with coarser levels
(each 4x) so a repaint reduces at most a few buckets per pixel whatever the zoom. The same
per-pixel reduction serves activations (one value per analysis frame).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

PEAK_SAMPLE_RATE = 4000.0
BUCKET_SAMPLES = 40  # 10 ms at 4 kHz
LEVEL_FACTOR = 4


@functools.lru_cache(maxsize=64)
def _pixel_plan(count: int, step_seconds: float, t0: float, seconds_per_pixel: float, width: int):
    """Where each pixel's values are: (first, end, starts, last_inside, valid) with `starts` and
    `last_inside` relative to `first`, or None when no pixel shows data. Rows sharing a hop and
    a length (every label of one timeline) share one plan per repaint."""
    edges = t0 + np.arange(width + 1, dtype=np.float64) * seconds_per_pixel
    index = np.floor(edges / step_seconds).astype(np.int64)
    valid = (edges[1:] > 0.0) & (index[:-1] < count)
    if not valid.any():
        return None
    starts = np.clip(index[:-1], 0, count - 1)
    first, last = int(starts[valid][0]), int(starts[valid][-1])
    end = max(min(count, int(index[-1]) + 1), last + 1)
    local = np.clip(starts - first, 0, end - first - 1)
    # The value holding each pixel's right edge (reduceat stops just before it).
    last_inside = np.clip(np.ceil(edges[1:] / step_seconds).astype(np.int64) - 1 - first, 0, end - first - 1)
    for array in (local, last_inside, valid):
        array.setflags(write=False)
    return first, end, local, last_inside, valid


def reduce_per_pixel(values: np.ndarray, step_seconds: float, t0: float, seconds_per_pixel: float,
                     width: int, op=np.maximum) -> tuple[np.ndarray, np.ndarray]:
    """`op` (np.maximum / np.minimum) over the values overlapping each pixel, and the valid mask
    (pixel i covers [t0 + i*spp, t0 + (i+1)*spp)).

    A pixel narrower than one value shows the value it falls in. Cost: the values in view. The
    result has the values' dtype (0 where no data).
    """
    width = int(width)
    n = len(values)
    if n == 0 or width <= 0:
        return np.zeros(max(width, 0), dtype=values.dtype), np.zeros(max(width, 0), dtype=bool)
    plan = _pixel_plan(n, float(step_seconds), float(t0), float(seconds_per_pixel), width)
    if plan is None:
        return np.zeros(width, dtype=values.dtype), np.zeros(width, dtype=bool)
    first, end, local, last_inside, valid = plan
    window = values[first:end]
    out = op(op.reduceat(window, local), window[last_inside])
    out[~valid] = 0
    return out, valid


@dataclass
class Peaks:
    """min/max per bucket at several resolutions; level 0 is `bucket_seconds` wide."""

    mins: list[np.ndarray] = field(default_factory=list)
    maxs: list[np.ndarray] = field(default_factory=list)
    bucket_seconds: float = BUCKET_SAMPLES / PEAK_SAMPLE_RATE

    @property
    def duration(self) -> float:
        return len(self.mins[0]) * self.bucket_seconds if self.mins else 0.0

    @property
    def peak(self) -> float:
        if not self.mins or len(self.mins[0]) == 0:
            return 0.0
        return float(max(-self.mins[-1].min(), self.maxs[-1].max()))

    @classmethod
    def from_buckets(cls, mins: np.ndarray, maxs: np.ndarray, bucket_seconds: float) -> Peaks:
        levels_min, levels_max = [np.asarray(mins, np.float32)], [np.asarray(maxs, np.float32)]
        while len(levels_min[-1]) > LEVEL_FACTOR:
            lo, hi = levels_min[-1], levels_max[-1]
            cut = len(lo) - len(lo) % LEVEL_FACTOR
            coarse_lo = lo[:cut].reshape(-1, LEVEL_FACTOR).min(axis=1)
            coarse_hi = hi[:cut].reshape(-1, LEVEL_FACTOR).max(axis=1)
            if cut < len(lo):
                coarse_lo = np.append(coarse_lo, lo[cut:].min())
                coarse_hi = np.append(coarse_hi, hi[cut:].max())
            levels_min.append(coarse_lo)
            levels_max.append(coarse_hi)
        return cls(levels_min, levels_max, bucket_seconds)

    def per_pixel(self, t0: float, seconds_per_pixel: float, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mins, maxs, valid) per pixel for pixels from time t0, each `seconds_per_pixel` wide."""
        level = 0
        while (level + 1 < len(self.mins)
               and self.bucket_seconds * LEVEL_FACTOR ** (level + 1) <= seconds_per_pixel):
            level += 1
        step = self.bucket_seconds * LEVEL_FACTOR ** level
        if not self.mins:
            empty = np.zeros(width, np.float32)
            return empty, empty, np.zeros(width, bool)
        lo, valid = reduce_per_pixel(self.mins[level], step, t0, seconds_per_pixel, width, np.minimum)
        hi, _ = reduce_per_pixel(self.maxs[level], step, t0, seconds_per_pixel, width, np.maximum)
        return lo, hi, valid


class BucketAccumulator:
    """Turns a stream of mono blocks into min/max buckets of a fixed number of samples."""

    def __init__(self, bucket_samples: int = BUCKET_SAMPLES):
        self.bucket = int(bucket_samples)
        self._rest = np.zeros(0, np.float32)
        self._mins: list[np.ndarray] = []
        self._maxs: list[np.ndarray] = []

    def push(self, mono: np.ndarray) -> None:
        data = np.concatenate([self._rest, np.asarray(mono, np.float32)]) if self._rest.size else np.asarray(mono, np.float32)
        full = len(data) - len(data) % self.bucket
        if full:
            shaped = data[:full].reshape(-1, self.bucket)
            self._mins.append(shaped.min(axis=1))
            self._maxs.append(shaped.max(axis=1))
        self._rest = data[full:].copy()

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        if self._rest.size:
            self._mins.append(np.array([self._rest.min()], np.float32))
            self._maxs.append(np.array([self._rest.max()], np.float32))
            self._rest = np.zeros(0, np.float32)
        if not self._mins:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        return np.concatenate(self._mins), np.concatenate(self._maxs)


def _file_state(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_size, st.st_mtime_ns


def track_fingerprint(track) -> tuple:
    """What a track's overview depends on: its clips (placement, source and its size and
    modification time, gain, fades) and fader gain. Two tracks with equal fingerprints share one
    overview in the memory cache."""
    clips = tuple(
        (c.source, _file_state(c.source), c.channel_files, round(c.start, 6), round(c.duration, 6),
         round(c.source_offset, 6),
         round(c.playrate, 6), round(c.gain, 6), round(c.fade_in, 6), round(c.fade_out, 6), c.muted,
         c.missing, c.loop, c.warp)
        for c in track.clips
    )
    return clips, round(track.gain, 6)


class PeakCache:
    """Overviews kept in memory for the app's lifetime, keyed by `track_fingerprint`."""

    def __init__(self, max_entries: int = 512):
        self._entries: dict[tuple, Peaks] = {}
        self._max = max_entries
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Peaks | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, key: tuple, peaks: Peaks) -> None:
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = peaks


def compute_overviews(cancel: threading.Event, session, cache: PeakCache, mix_key: int = -1) -> Iterator[tuple]:
    """Yield ("peaks", track index, Peaks) per track with audio, then ("peaks", mix_key, Peaks)
    for the audible mix, and ("warning", text) for media problems. Cached overviews come back at
    once; each track is rendered once (4 kHz mono), its audible renders summed into the mix."""
    from plugin.audio import render_blocks

    duration = session.duration
    audible = {id(t) for t in session.audible_tracks()}
    mix_cache_key = ("mix", tuple(track_fingerprint(t) for t in session.tracks if id(t) in audible))
    mix_peaks = cache.get(mix_cache_key)
    mix = np.zeros(round(duration * PEAK_SAMPLE_RATE), np.float32) if mix_peaks is None else None
    warnings: list[str] = []
    for index, track in enumerate(session.tracks):
        if not track.clips:
            continue
        key = track_fingerprint(track)
        peaks = cache.get(key)
        to_mix = mix is not None and id(track) in audible
        if peaks is None or to_mix:
            acc = BucketAccumulator()
            pos = 0
            for block in render_blocks([track], sample_rate=PEAK_SAMPLE_RATE, channels=1, end=duration,
                                       block_size=1 << 15, workers=1, warnings=warnings):
                if cancel.is_set():
                    return
                mono = block[0]
                acc.push(mono)
                if to_mix:
                    n = min(len(mono), len(mix) - pos)
                    mix[pos:pos + n] += mono[:n]
                pos += len(mono)
            if peaks is None:
                peaks = Peaks.from_buckets(*acc.finish(), BUCKET_SAMPLES / PEAK_SAMPLE_RATE)
                cache.put(key, peaks)
        while warnings:
            yield ("warning", warnings.pop(0))
        yield ("peaks", index, peaks)
    if mix_peaks is None:
        acc = BucketAccumulator()
        acc.push(mix)
        mix_peaks = Peaks.from_buckets(*acc.finish(), BUCKET_SAMPLES / PEAK_SAMPLE_RATE)
        cache.put(mix_cache_key, mix_peaks)
    yield ("peaks", mix_key, mix_peaks)
