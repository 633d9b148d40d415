"""Golden outputs of the shipped models: `python -m models.golden` rewrites them after a retrain.

The clip is 6 s of the bundled demo session's mix (bars 5-7: drums, bass, keys and the lead
with vibrato and bends), rendered by the engine at 16 kHz mono and committed as FLAC. Each
shipped model's activations on it are stored beside it; tests/test_models_golden.py checks that
the shipped .onnx still produces them (atol 1e-4).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import soundfile as sf

from .train import MODELS_DIR

GOLDEN_DIR = MODELS_DIR / "shipped" / "golden"
CLIP = GOLDEN_DIR / "demo_mix_16k.flac"
CLIP_START, CLIP_SECONDS, CLIP_RATE = 9.6, 6.0, 16000


def render_clip() -> np.ndarray:
    from plugin.audio import render_array
    from plugin.demo import demo_session_path
    from plugin.session import load_session

    session = load_session(demo_session_path())
    return render_array(session, sample_rate=CLIP_RATE, channels=1, start=CLIP_START,
                        end=CLIP_START + CLIP_SECONDS)[0]


def clip_at(sample_rate: int) -> np.ndarray:
    """The committed clip at a model's rate (16 kHz as stored; 8 kHz by band-limited halving)."""
    audio, rate = sf.read(CLIP, dtype="float32")
    if sample_rate == rate:
        return audio
    if sample_rate * 2 == rate:
        from .train import resample_half

        return resample_half(audio[None])[0]
    raise ValueError(f"no golden clip at {sample_rate} Hz")


def activations(manifest_path: Path) -> np.ndarray:
    """The shipped model's activations on the golden clip, run as models.evaluate_real runs it."""
    from .evaluate_real import activations as run_clip

    manifest = json.loads(manifest_path.read_text())
    session = ort.InferenceSession(str(manifest_path.parent / manifest["file"]), providers=["CPUExecutionProvider"])
    return run_clip(session, manifest, clip_at(manifest["sample_rate"]))


def main() -> None:
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    sf.write(CLIP, render_clip(), CLIP_RATE, subtype="PCM_16")
    for manifest_path in sorted((MODELS_DIR / "shipped").glob("*.json")):
        out = GOLDEN_DIR / f"{manifest_path.stem}.npy"
        np.save(out, activations(manifest_path))
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
