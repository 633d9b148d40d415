"""Analysis: per-track timelines built from model frame activations (pure numpy, no I/O).

- `timeline`: `segments` (hysteresis, gap merging, minimum durations), `Timeline` (dense float16
  activations for one track and one model, `instrument_summary`, `technique_events`).
"""

from __future__ import annotations

from .timeline import DEFAULT_MIN_DURATIONS, MinDurations, Segment, Timeline, segments

__all__ = ["DEFAULT_MIN_DURATIONS", "MinDurations", "Segment", "Timeline", "segments"]
