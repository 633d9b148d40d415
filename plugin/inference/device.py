"""Which onnxruntime execution provider runs a model, and the sessions, created lazily and reused.

Devices a user can ask for:
- `auto`: CUDA, then CoreML, then DirectML, each only where the installed onnxruntime offers it
  and a session can actually be created on it; then the CPU. Why each accelerator was passed
  over is kept in `ModelSession.notes`.
- `cpu`: the CPU provider.
- `cuda`: the CUDA provider or an InferenceError saying why not. onnxruntime quietly runs on the
  CPU when the CUDA provider is missing or fails to load (no device, CUDA or cuDNN libraries
  missing); that is detected from `session.get_providers()` and reported, never hidden.

Before the first CUDA session, `onnxruntime.preload_dlls()` loads the CUDA and cuDNN libraries
that pip's `nvidia-*` wheels put beside onnxruntime-gpu (its `cuda` and `cudnn` extras); without
that the provider finds them only on the system's library path. What it prints is kept for the
error, not written to stdout.

`ModelSession.provider` is the provider that actually runs the model; results record it.
Sessions are cached by model file, content hash, device and thread count.
"""

from __future__ import annotations

import contextlib
import io
import threading
import warnings
from dataclasses import dataclass, field

import numpy as np

from .errors import InferenceError
from .models import ModelSpec

DEVICES = ("auto", "cpu", "cuda")
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
# TF32 off: with it, CUDA's activations differed from the CPU's by 8e-4 (H200, instrument model),
# enough to move float16-stored results and thresholds; without it by 2e-6. These models are too
# small for TF32's speed to matter (their STFT runs on the CPU: onnxruntime has no CUDA kernel for it).
PROVIDER_OPTIONS = {CUDA: {"use_tf32": "0"}}
# Accelerators `auto` tries, in order, when onnxruntime offers them.
AUTO_ACCELERATORS = (CUDA, "CoreMLExecutionProvider", "DmlExecutionProvider")
GPU_HELP = ("install onnxruntime-gpu in place of onnxruntime (pip uninstall onnxruntime; pip install "
            "'onnxruntime-gpu[cuda,cudnn]'), with an NVIDIA driver recent enough for its CUDA version")


@dataclass(eq=False)
class ModelSession:
    """An onnxruntime session for one model on one provider."""

    spec: ModelSpec
    device: str  # what was asked for
    provider: str  # what runs
    session: object = field(repr=False)
    notes: tuple[str, ...] = ()  # why accelerators were passed over (auto)

    @property
    def description(self) -> str:
        """One line for the user: the provider that runs, and why (for `auto`)."""
        text = f"{self.spec.name}: {self.provider} (device {self.device})"
        return text + ("; " + "; ".join(self.notes) if self.notes else "")

    def run(self, audio: np.ndarray) -> np.ndarray:
        """Activations [batch, frames, labels] for padded mono audio [batch, samples] (float32)."""
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        if audio.ndim == 1:
            audio = audio[None]
        try:
            return self.session.run([self.spec.output_name], {self.spec.input_name: audio})[0]
        except Exception as exc:  # onnxruntime raises its own exception types
            raise InferenceError(f"{self.spec.name} failed on {self.provider} for input {audio.shape}: {exc}") from exc


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


_sessions: dict[tuple, ModelSession] = {}
_lock = threading.Lock()
_preload_said: str | None = None  # what preload_dlls printed, once per process


def _preload_cuda_libraries(ort) -> str:
    """Load pip-installed CUDA and cuDNN libraries once (onnxruntime-gpu 1.21 and newer); returns
    what onnxruntime said while doing so, in one line ('' when it said nothing)."""
    global _preload_said
    if _preload_said is None:
        said = io.StringIO()
        try:
            with contextlib.redirect_stdout(said):
                getattr(ort, "preload_dlls", lambda: None)()
        except Exception as exc:  # a missing or broken library folder
            said.write(f"preload_dlls failed: {exc}")
        _preload_said = _one_line(said.getvalue())
    return _preload_said


def get_session(spec: ModelSpec, device: str = "auto", threads: int = 0) -> ModelSession:
    """The session for `spec` on `device`, created on first use and reused afterwards.

    The first creation checks the model file against the manifest's sha256. `threads` sets
    onnxruntime's intra-op threads (0: its default, every core).
    """
    if device not in DEVICES:
        raise InferenceError(f"unknown device {device!r}: choose one of {', '.join(DEVICES)}")
    key = (spec.key, device, int(threads))
    with _lock:  # one creation at a time: concurrent callers get the same session
        cached = _sessions.get(key)
        if cached is None:
            cached = _sessions[key] = _create(spec, device, int(threads))
        return cached


def clear_sessions() -> None:
    """Forget every cached session (they are released once no caller holds them)."""
    with _lock:
        _sessions.clear()


def _create(spec: ModelSpec, device: str, threads: int) -> ModelSession:
    import onnxruntime as ort

    model_bytes = spec.verified_bytes()
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    offered = available_providers()
    preload_said = _preload_cuda_libraries(ort) if device != "cpu" and CUDA in offered else ""
    if device == "cpu":
        session, _ = _try(ort, model_bytes, options, CPU)
        return ModelSession(spec, device, CPU, session)
    if device == "cuda":
        if CUDA not in offered:
            raise InferenceError(
                f"--device cuda: onnxruntime {ort.__version__} has no CUDA provider (this build offers "
                f"{', '.join(offered)}); {GPU_HELP}")
        session, reason = _try(ort, model_bytes, options, CUDA)
        if session is None:
            raise InferenceError(f"--device cuda: the CUDA provider cannot run {spec.name}: {reason}"
                                 + (f" (loading the CUDA libraries said: {preload_said})" if preload_said else ""))
        return ModelSession(spec, device, CUDA, session)
    notes = []
    for provider in AUTO_ACCELERATORS:
        if provider not in offered:
            if provider == CUDA:
                notes.append(f"CUDA not offered by onnxruntime {ort.__version__} ({GPU_HELP})")
            continue
        session, reason = _try(ort, model_bytes, options, provider)
        if session is not None:
            return ModelSession(spec, device, provider, session, tuple(notes))
        if provider == CUDA and preload_said:
            reason += f" (loading the CUDA libraries said: {preload_said})"
        notes.append(f"{provider} passed over: {reason}")
    session, _ = _try(ort, model_bytes, options, CPU)
    return ModelSession(spec, device, CPU, session, tuple(notes))


def _try(ort, model_bytes: bytes, options, provider: str):
    """(session, None) when `provider` really runs the model, else (None, reason); CPU must work."""
    providers = [provider] if provider == CPU else [(provider, PROVIDER_OPTIONS.get(provider, {})), CPU]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            session = ort.InferenceSession(model_bytes, sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises several types
        if provider == CPU:
            raise InferenceError(f"onnxruntime cannot load the model on the CPU: {exc}") from exc
        return None, f"session creation failed: {_one_line(exc)}"
    running = session.get_providers()
    if running and running[0] == provider:
        return session, None
    if provider == CPU:
        raise InferenceError(f"onnxruntime did not run the model on the CPU (providers: {running})")
    said = "; ".join(_one_line(w.message) for w in caught)
    reason = ("onnxruntime fell back to " + ", ".join(running) + " because the provider failed to load "
              "(no usable device, or the CUDA / cuDNN libraries it needs are missing; onnxruntime's log above "
              "has the details)")
    return None, reason + (f" [{said}]" if said else "")


def _one_line(message) -> str:
    text = " ".join(str(message).split())
    return text if len(text) <= 300 else text[:297] + "..."
