"""Analysis: a session's tracks and mix through the models, as timelines.

- `timeline`: `segments` (hysteresis, gap merging, minimum durations), `Timeline` (dense float16
  activations for one track and one model, `instrument_summary`, `technique_events`).
- `engine`: `analyze(session)`, a generator of `AnalysisEvent`s ending with an `Analysis` of
  `TrackResult`s; results cached on disk by audio content and model.
- `output`: `write_analysis` / `read_analysis` (analysis.json and the frame files).
"""

from __future__ import annotations

from .engine import MIX_NAME, Analysis, AnalysisEvent, TrackResult, analyze
from .output import AnalysisFileError, analysis_json, read_analysis, write_analysis
from .timeline import DEFAULT_MIN_DURATIONS, MinDurations, Segment, Timeline, segments

__all__ = [
    "DEFAULT_MIN_DURATIONS", "MIX_NAME", "Analysis", "AnalysisEvent", "AnalysisFileError", "MinDurations",
    "Segment", "Timeline", "TrackResult", "analysis_json", "analyze", "read_analysis", "segments",
    "write_analysis",
]
