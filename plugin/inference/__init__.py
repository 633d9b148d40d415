"""Inference: shipped ONNX models, the device they run on, streaming frame-by-frame inference.

Nothing happens at import time: models are found when asked for, onnxruntime is imported and
sessions are created on first use (`get_session`), then reused.

- `models`: `ModelSpec` (everything a model's manifest says), `shipped_models`, `load_model`.
- `device`: `get_session(spec, device)` -> `ModelSession` recording the provider that runs.
- `stream`: `infer_tracks` / `infer_stream` (generators of `ChunkResult` progress events),
  `collect`, `infer_whole`.
"""

from __future__ import annotations

from .device import DEVICES, ModelSession, available_providers, clear_sessions, get_session
from .errors import InferenceError
from .models import Label, ModelSpec, load_model, shipped_models, shipped_models_dir
from .stream import (
    ChunkResult,
    FrameStream,
    InferenceCancelled,
    blocks_of,
    collect,
    default_chunk_frames,
    infer_stream,
    infer_tracks,
    infer_whole,
)

__all__ = [
    "DEVICES",
    "ChunkResult",
    "FrameStream",
    "InferenceCancelled",
    "InferenceError",
    "Label",
    "ModelSession",
    "ModelSpec",
    "available_providers",
    "blocks_of",
    "clear_sessions",
    "collect",
    "default_chunk_frames",
    "get_session",
    "infer_stream",
    "infer_tracks",
    "infer_whole",
    "load_model",
    "shipped_models",
    "shipped_models_dir",
]
