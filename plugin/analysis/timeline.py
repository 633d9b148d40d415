"""Timelines: from dense frame activations to labelled segments, a summary and technique events.

Pure numpy, no I/O. Output frame j of a model covers [j*hop, (j+1)*hop) seconds, so a segment of
frames [s, e) covers [s*hop, e*hop).

A segment switches on at a frame whose activation is >= the label's threshold and stays on while
the activation is >= threshold * low_ratio (hysteresis). Gaps between segments shorter than the
minimum off time are merged, then segments shorter than the minimum on time are dropped. A
segment's confidence is the mean activation over its frames (merged gaps included), times the
timeline's confidence_scale.

Labels are keyed by (group, name): "organ" is both a family and a fine label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from plugin.inference.models import ModelSpec

Segment = tuple[float, float, float]  # (start_s, end_s, confidence)

_EPS = 1e-9  # float slack when comparing frame counts * hop against durations in seconds


class MinDurations(NamedTuple):
    on_seconds: float  # segments shorter than this are dropped
    off_seconds: float  # gaps shorter than this are merged


DEFAULT_MIN_DURATIONS: dict[str, MinDurations] = {
    "family": MinDurations(0.25, 0.3),
    "fine": MinDurations(0.25, 0.3),
    "technique": MinDurations(0.06, 0.05),
}
DEFAULT_LOW_RATIO = 0.6
INSTRUMENT_GROUPS = ("family", "fine")


def _frame_segments(act: np.ndarray, threshold: float, hop_seconds: float, low_ratio: float,
                    min_on_seconds: float, min_off_seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Segment frame bounds [starts, ends) after hysteresis, gap merging and short-segment dropping."""
    empty = np.zeros(0, dtype=np.int64)
    if act.size == 0:
        return empty, empty
    high = act >= threshold
    low = act >= threshold * low_ratio
    edges = np.diff(np.concatenate(([0], low.view(np.int8), [0])).astype(np.int8))
    run_starts = np.flatnonzero(edges == 1)
    run_ends = np.flatnonzero(edges == -1)
    highs = np.flatnonzero(high)
    if highs.size == 0 or run_starts.size == 0:
        return empty, empty
    # Within each run of "still on" frames, the segment starts at the run's first "on" frame.
    pos = np.searchsorted(highs, run_starts)
    valid = pos < highs.size
    first_high = np.full(run_starts.shape, -1, dtype=np.int64)
    first_high[valid] = highs[pos[valid]]
    keep = valid & (first_high < run_ends)
    starts, ends = first_high[keep], run_ends[keep]
    if starts.size == 0:
        return empty, empty
    if min_off_seconds > 0 and starts.size > 1:
        gaps = (starts[1:] - ends[:-1]) * hop_seconds
        merge = gaps < min_off_seconds - _EPS
        new_seg = np.concatenate(([True], ~merge))
        starts = starts[new_seg]
        ends = ends[np.concatenate((~merge, [True]))]
    if min_on_seconds > 0:
        long_enough = (ends - starts) * hop_seconds >= min_on_seconds - _EPS
        starts, ends = starts[long_enough], ends[long_enough]
    return starts.astype(np.int64), ends.astype(np.int64)


def segments(activation: np.ndarray, threshold: float, hop_seconds: float, *,
             low_ratio: float = DEFAULT_LOW_RATIO, min_on_seconds: float = DEFAULT_MIN_DURATIONS["fine"].on_seconds,
             min_off_seconds: float = DEFAULT_MIN_DURATIONS["fine"].off_seconds) -> list[Segment]:
    """Segments (start_s, end_s, confidence) of one label's activation, shape (frames,)."""
    act = np.asarray(activation, dtype=np.float32)
    if act.ndim != 1:
        raise ValueError(f"activation must be 1-D (frames,), not shape {act.shape}")
    if not hop_seconds > 0:
        raise ValueError(f"hop_seconds must be > 0, not {hop_seconds!r}")
    if not 0 < low_ratio <= 1:
        raise ValueError(f"low_ratio must be in (0, 1], not {low_ratio!r}")
    if min_on_seconds < 0 or min_off_seconds < 0:
        raise ValueError("minimum durations must be >= 0")
    act = np.nan_to_num(act, nan=0.0, posinf=1.0, neginf=0.0)
    starts, ends = _frame_segments(act, float(threshold), float(hop_seconds), float(low_ratio),
                                   float(min_on_seconds), float(min_off_seconds))
    if starts.size == 0:
        return []
    cumulative = np.concatenate(([0.0], np.cumsum(act, dtype=np.float64)))
    means = (cumulative[ends] - cumulative[starts]) / (ends - starts)
    return [(float(s * hop_seconds), float(e * hop_seconds), float(m)) for s, e, m in zip(starts, ends, means)]


def _min_durations(overrides: Mapping[str, Any] | None) -> dict[str, MinDurations]:
    merged = dict(DEFAULT_MIN_DURATIONS)
    for group, value in (overrides or {}).items():
        if group not in merged:
            raise ValueError(f"unknown label group {group!r} in min_durations")
        merged[group] = MinDurations(*value)
    return merged


@dataclass(eq=False)
class Timeline:
    """One track analysed by one model: dense activations (frames, labels) kept as float16."""

    activations: np.ndarray
    label_names: tuple[str, ...]
    groups: tuple[str, ...]  # "family", "fine" or "technique" per column
    families: tuple[str | None, ...]  # the family per column (None for techniques)
    thresholds: np.ndarray  # float32, one per column
    hop_seconds: float
    min_durations: Mapping[str, MinDurations] | None = None
    low_ratio: float = DEFAULT_LOW_RATIO
    model: str = ""
    confidence_scale: float = 1.0  # applied to segment confidences (a stems-only model on a mix: < 1)
    _cache: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        acts = np.asarray(self.activations)
        if acts.ndim == 2 and acts.shape[1] == 0:
            acts = acts.reshape(acts.shape[0], 0)
        if acts.ndim != 2:
            raise ValueError(f"activations must be (frames, labels), not shape {acts.shape}")
        self.activations = np.ascontiguousarray(acts, dtype=np.float16)
        self.label_names = tuple(self.label_names)
        self.groups = tuple(self.groups)
        self.families = tuple(self.families)
        self.thresholds = np.asarray(self.thresholds, dtype=np.float32).reshape(-1)
        n = self.activations.shape[1]
        for name, value in (("label_names", self.label_names), ("groups", self.groups),
                            ("families", self.families), ("thresholds", self.thresholds)):
            if len(value) != n:
                raise ValueError(f"{name} has {len(value)} entries for {n} activation columns")
        keys = list(zip(self.groups, self.label_names))
        if len(set(keys)) != len(keys):
            raise ValueError("a label name repeats within its group")
        if not self.hop_seconds > 0:
            raise ValueError(f"hop_seconds must be > 0, not {self.hop_seconds!r}")
        self.hop_seconds = float(self.hop_seconds)
        self.min_durations = _min_durations(self.min_durations)
        self._index = {key: i for i, key in enumerate(keys)}

    @classmethod
    def from_spec(cls, spec: ModelSpec, activations: np.ndarray, **kwargs) -> Timeline:
        """A timeline for `activations` (frames, labels) produced by the model `spec` describes."""
        return cls(
            activations=activations,
            label_names=tuple(lab.name for lab in spec.labels),
            groups=tuple(lab.group for lab in spec.labels),
            families=tuple(lab.family for lab in spec.labels),
            thresholds=np.array([lab.threshold for lab in spec.labels], dtype=np.float32),
            hop_seconds=spec.hop_seconds,
            model=kwargs.pop("model", spec.name),
            **kwargs,
        )

    # ---- shape ----------------------------------------------------------------------------------
    @property
    def frames(self) -> int:
        return int(self.activations.shape[0])

    @property
    def duration_seconds(self) -> float:
        return self.frames * self.hop_seconds

    @property
    def keys(self) -> list[tuple[str, str]]:
        return list(zip(self.groups, self.label_names))

    def column(self, group: str, name: str) -> int:
        try:
            return self._index[(group, name)]
        except KeyError:
            raise KeyError(f"no label {name!r} in group {group!r}") from None

    def activation(self, group: str, name: str) -> np.ndarray:
        """One label's activation over time, as float32."""
        return self.activations[:, self.column(group, name)].astype(np.float32)

    # ---- segments -------------------------------------------------------------------------------
    def label_segments(self, group: str, name: str) -> list[Segment]:
        key = (group, name)
        if key not in self._cache:
            col = self.column(group, name)
            mins = self.min_durations[group]
            found = segments(
                self.activations[:, col], float(self.thresholds[col]), self.hop_seconds,
                low_ratio=self.low_ratio, min_on_seconds=mins.on_seconds, min_off_seconds=mins.off_seconds)
            self._cache[key] = [(start, end, conf * self.confidence_scale) for start, end, conf in found]
        return list(self._cache[key])

    def instrument_summary(self, groups: Sequence[str] = INSTRUMENT_GROUPS) -> list[dict]:
        """Family and fine labels with at least one segment, highest confidence first.

        confidence: the mean of the label's segment confidences weighted by their durations.
        """
        rows = []
        for col, (group, name) in enumerate(self.keys):
            if group not in groups:
                continue
            segs = self.label_segments(group, name)
            if not segs:
                continue
            durations = np.array([end - start for start, end, _ in segs])
            confs = np.array([conf for _, _, conf in segs])
            active = float(durations.sum())
            confidence = float((durations * confs).sum() / active) if active > 0 else 0.0
            rows.append((col, {"label": name, "group": group, "family": self.families[col],
                               "confidence": confidence, "active_seconds": active, "segments": segs}))
        rows.sort(key=lambda row: (-row[1]["confidence"], row[0]))
        return [row for _, row in rows]

    def technique_events(self) -> list[dict]:
        """Every technique segment as {label, start, end, confidence}, in time order."""
        events = []
        for col, (group, name) in enumerate(self.keys):
            if group != "technique":
                continue
            for start, end, conf in self.label_segments(group, name):
                events.append((start, end, col, {"label": name, "start": start, "end": end, "confidence": conf}))
        events.sort(key=lambda ev: ev[:3])
        return [ev[3] for ev in events]
