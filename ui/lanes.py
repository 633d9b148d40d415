"""What each lane shows and how lanes stack (no Qt).

A track's lane group: a waveform overview (audio tracks), a piano roll (MIDI tracks), an
instrument lane (one row per active family, or per label the filter asks for) and a technique
lane (one row per active technique). `TrackAnalysisView` turns a track's Timelines into those
rows; `stack_groups` gives every row its y.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FAMILIES = ("vocals", "drums", "percussion", "bass", "guitar", "piano", "organ", "synth", "strings",
            "brass", "woodwinds", "plucked")
TECHNIQUES = ("vibrato", "bend_up", "bend_down", "slide", "glissando", "tremolo", "trill", "staccato",
              "pizzicato", "palm_mute", "harmonic")

WAVEFORM_HEIGHT = 44
PIANO_ROLL_HEIGHT = 96
LABEL_ROW_HEIGHT = 16
GROUP_GAP = 8
MIN_GROUP_HEIGHT = 56  # room for the track header's name, buttons and progress bar


def pretty(label: str) -> str:
    return label.replace("_", " ")


@dataclass
class Segment:
    start: float
    end: float
    confidence: float
    caption: str  # what the segment says when there is room: its label (or best fine label) and confidence


@dataclass
class LabelRow:
    """One label's row: its activation (a timeline column) and its segments."""

    group: str  # "family", "fine" or "technique"
    name: str
    family: str | None
    activation: np.ndarray  # uint8 (frames,): the activation in 0..1 as 0..255, cheap to decimate
    hop_seconds: float
    segments: list[Segment]
    confidence: float  # duration-weighted mean over the segments
    starts: np.ndarray = field(init=False, repr=False)
    ends: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.starts = np.array([s.start for s in self.segments], dtype=np.float64)
        self.ends = np.array([s.end for s in self.segments], dtype=np.float64)

    @property
    def title(self) -> str:
        return pretty(self.name)

    def segment_at(self, t: float) -> Segment | None:
        k = int(np.searchsorted(self.starts, t, side="right")) - 1
        if 0 <= k < len(self.segments) and t < self.ends[k]:
            return self.segments[k]
        return None

    def coverage(self, t0: float, seconds_per_pixel: float, width: int) -> np.ndarray:
        """Per pixel from t0: True where a segment overlaps the pixel (segments are sorted and
        do not overlap, so a pixel is covered when more segments start before its end than end
        at or before its start)."""
        edges = t0 + np.arange(width + 1, dtype=np.float64) * seconds_per_pixel
        started = np.searchsorted(self.starts, edges[1:], side="left")
        ended = np.searchsorted(self.ends, edges[:-1], side="right")
        return started > ended

    def wide_segments(self, t0: float, t1: float, seconds_per_pixel: float, min_pixels: float) -> list[Segment]:
        """The segments overlapping [t0, t1] at least `min_pixels` wide: the ones worth a caption."""
        lo = int(np.searchsorted(self.ends, t0, side="left"))
        hi = int(np.searchsorted(self.starts, t1, side="right"))
        if hi <= lo:
            return []
        wide = (self.ends[lo:hi] - self.starts[lo:hi]) >= min_pixels * seconds_per_pixel
        return [self.segments[lo + k] for k in np.flatnonzero(wide)]

    def activation_at(self, t: float) -> float:
        frame = int(t / self.hop_seconds)
        if 0 <= frame < len(self.activation):
            return float(self.activation[frame]) / 255.0
        return 0.0


@dataclass
class LaneFilter:
    """Which labels the lanes show: a family or fine instrument label, a technique, or all."""

    instrument: str | None = None
    technique: str | None = None
    hide_unmatched: bool = False

    @property
    def active(self) -> bool:
        return self.instrument is not None or self.technique is not None


def _weighted_confidence(segs: list[tuple[float, float, float]]) -> float:
    total = sum(e - s for s, e, _ in segs)
    return sum((e - s) * c for s, e, c in segs) / total if total > 0 else 0.0


class TrackAnalysisView:
    """The rows an analysed track can show, built once when its result arrives."""

    def __init__(self, instrument=None, technique=None):
        self.family_rows: list[LabelRow] = []
        self.fine_rows: dict[str, LabelRow] = {}
        self.technique_rows: list[LabelRow] = []
        if instrument is not None:
            self._read_instruments(instrument)
        if technique is not None:
            self._read_techniques(technique)

    def _row(self, timeline, group: str, name: str, family: str | None, captions) -> LabelRow | None:
        segs = timeline.label_segments(group, name)
        if not segs:
            return None
        column = timeline.column(group, name)
        segments = [Segment(s, e, c, captions(s, e, c)) for s, e, c in segs]
        activation = np.nan_to_num(timeline.activations[:, column].astype(np.float32))
        as_bytes = np.round(np.clip(activation, 0.0, 1.0) * 255.0).astype(np.uint8)
        return LabelRow(group, name, family, as_bytes, timeline.hop_seconds, segments, _weighted_confidence(segs))

    def _read_instruments(self, timeline) -> None:
        fine_by_family: dict[str, list[tuple[str, list]]] = {}
        for (group, name), family in zip(timeline.keys, timeline.families):
            if group == "fine":
                segs = timeline.label_segments(group, name)
                row = self._row(timeline, "fine", name, family,
                                lambda s, e, c, n=name: f"{pretty(n)} {c:.0%}")
                if row is not None:
                    self.fine_rows[name] = row
                    fine_by_family.setdefault(family, []).append((name, segs))

        def best_fine(family: str, start: float, end: float, conf: float) -> str:
            """The family segment's caption: the fine label sounding most during it."""
            best, best_score = None, 0.0
            for name, segs in fine_by_family.get(family, []):
                score = sum(max(0.0, min(e, end) - max(s, start)) * c for s, e, c in segs)
                if score > best_score:
                    best, best_score = name, score
            label = pretty(best) if best and best != family else pretty(family)
            return f"{label} {conf:.0%}"

        for (group, name), family in zip(timeline.keys, timeline.families):
            if group == "family":
                row = self._row(timeline, "family", name, family,
                                lambda s, e, c, f=family: best_fine(f, s, e, c))
                if row is not None:
                    self.family_rows.append(row)
        self.family_rows.sort(key=lambda r: -r.confidence)

    def _read_techniques(self, timeline) -> None:
        for group, name in timeline.keys:
            if group == "technique":
                row = self._row(timeline, "technique", name, None, lambda s, e, c, n=name: f"{pretty(n)} {c:.0%}")
                if row is not None:
                    self.technique_rows.append(row)
        self.technique_rows.sort(key=lambda r: r.segments[0].start)

    def instrument_rows(self, flt: LaneFilter | None = None) -> list[LabelRow]:
        if flt is None or flt.instrument is None:
            return list(self.family_rows)
        return [r for r in self.family_rows if r.name == flt.instrument] + (
            [self.fine_rows[flt.instrument]] if flt.instrument in self.fine_rows
            and flt.instrument not in {r.name for r in self.family_rows} else [])

    def technique_rows_for(self, flt: LaneFilter | None = None) -> list[LabelRow]:
        if flt is None or flt.technique is None:
            return list(self.technique_rows)
        return [r for r in self.technique_rows if r.name == flt.technique]

    def matches(self, flt: LaneFilter) -> bool:
        """True when the track has every label the filter asks for."""
        if flt.instrument is not None and not self.instrument_rows(flt):
            return False
        return not (flt.technique is not None and not self.technique_rows_for(flt))


# ---- layout -----------------------------------------------------------------------------------
@dataclass
class Row:
    kind: str  # "waveform", "pianoroll", "instrument", "technique"
    y: int
    height: int
    label: LabelRow | None = None  # None: the lane's placeholder row ("not analysed", "none found")


@dataclass
class Group:
    key: int  # the session track index, or MIX_KEY
    y: int
    height: int
    rows: list[Row] = field(default_factory=list)


MIX_KEY = -1


def group_rows(has_audio: bool, has_midi: bool, view: TrackAnalysisView | None, flt: LaneFilter | None,
               scale: float = 1.0) -> list[tuple[str, int, LabelRow | None]]:
    """(kind, height, label) of a group's rows, top to bottom."""
    label_h = max(10, round(LABEL_ROW_HEIGHT * min(scale, 1.5)))
    rows: list[tuple[str, int, LabelRow | None]] = []
    if has_audio or not has_midi:  # an empty track keeps a (flat) waveform row
        rows.append(("waveform", max(16, round(WAVEFORM_HEIGHT * scale)), None))
    if has_midi:
        rows.append(("pianoroll", max(24, round(PIANO_ROLL_HEIGHT * scale)), None))
    if not has_audio and view is None:
        return rows  # MIDI or folder tracks: the engine analyses audio only
    instruments = view.instrument_rows(flt) if view else []
    techniques = view.technique_rows_for(flt) if view else []
    rows += [("instrument", label_h, r) for r in instruments] or [("instrument", label_h, None)]
    rows += [("technique", label_h, r) for r in techniques] or [("technique", label_h, None)]
    return rows


def stack_groups(specs: list[tuple[int, list[tuple[str, int, LabelRow | None]]]],
                 min_height: int = MIN_GROUP_HEIGHT, gap: int = GROUP_GAP) -> list[Group]:
    """Place groups top to bottom; each at least `min_height` tall, `gap` pixels apart."""
    groups, y = [], 0
    for key, rows in specs:
        group = Group(key, y, 0)
        ry = y
        for kind, height, label in rows:
            group.rows.append(Row(kind, ry, height, label))
            ry += height
        group.height = max(ry - y, min_height)
        groups.append(group)
        y += group.height + gap
    return groups


def group_at(groups: list[Group], y: float) -> Group | None:
    lo, hi = 0, len(groups)
    while lo < hi:
        mid = (lo + hi) // 2
        if groups[mid].y + groups[mid].height <= y:
            lo = mid + 1
        else:
            hi = mid
    if lo < len(groups) and groups[lo].y <= y:
        return groups[lo]
    return None


def visible_groups(groups: list[Group], top: float, bottom: float) -> list[Group]:
    """The groups overlapping [top, bottom) (groups are in y order)."""
    out = []
    for g in groups:
        if g.y >= bottom:
            break
        if g.y + g.height > top:
            out.append(g)
    return out
