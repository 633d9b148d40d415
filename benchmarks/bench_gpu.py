"""The CUDA path, checked and timed: run this on a machine with an NVIDIA GPU and onnxruntime-gpu.

    python benchmarks/bench_gpu.py [--seconds 600]

Prints the card (nvidia-smi), then per shipped model: the provider that ran with
`--device cuda` (an error, not a fallback, when CUDA cannot run), the model's speed in real-time
factors at batch 1 and 8 (30 s chunks, as the engine feeds it), the largest difference from the
CPU's output on the same input and from the stored golden activations (the golden test's clip and
tolerance, 1e-4; this needs the training extras), and finally `analyze --device cuda` on the demo
session (wall time and provider).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from plugin.analysis import analyze  # noqa: E402
from plugin.demo import demo_session_path  # noqa: E402
from plugin.inference import InferenceError, get_session, infer_whole, shipped_models  # noqa: E402
from plugin.session import load_session  # noqa: E402


def card_name() -> str:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
        return out.stdout.strip() or out.stderr.strip() or "nvidia-smi printed nothing"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"nvidia-smi unavailable ({exc})"


def speed(session, spec, batch: int, seconds: float) -> float:
    chunk = 30.0
    context = 2 * spec.receptive_field_frames * spec.hop_samples + spec.pad_samples + spec.pad_back_samples
    x = (np.random.default_rng(0).standard_normal((batch, int(chunk * spec.sample_rate) + context)) * 0.1).astype(np.float32)
    session.run(x)  # warm-up (kernel selection, memory pools)
    calls = max(1, int(seconds / (chunk * batch)))
    t0 = time.perf_counter()
    for _ in range(calls):
        session.run(x)
    return calls * batch * chunk / (time.perf_counter() - t0)


def golden_difference(name: str, session) -> str:
    """Largest |activation - stored golden| on the golden clip, run on `session` (an onnxruntime one)."""
    try:
        from models.evaluate_real import activations
        from models.golden import GOLDEN_DIR, clip_at
    except ImportError as exc:  # the golden clip's 8 kHz version needs torch (training extras)
        return f"golden check skipped ({exc})"
    manifest_path = Path(__file__).resolve().parents[1] / "models" / "shipped" / f"{name}.json"
    manifest = json.loads(manifest_path.read_text())
    got = activations(session, manifest, clip_at(manifest["sample_rate"]))
    return f"max |GPU - golden| {float(np.abs(got - np.load(GOLDEN_DIR / f'{name}.npy')).max()):.2e}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="audio per speed measurement")
    args = parser.parse_args()
    print(f"card: {card_name()}")
    try:
        for name, spec in shipped_models().items():
            gpu = get_session(spec, "cuda")
            cpu = get_session(spec, "cpu")
            audio = (np.random.default_rng(1).standard_normal(spec.sample_rate * 20) * 0.1).astype(np.float32)
            diff = float(np.abs(infer_whole(spec, audio, session=gpu) - infer_whole(spec, audio, session=cpu)).max())
            rates = {batch: speed(gpu, spec, batch, args.seconds) for batch in (1, 8)}
            print(f"{name}: provider {gpu.provider}; {rates[1]:,.0f}x real time at batch 1, {rates[8]:,.0f}x at "
                  f"batch 8; max |GPU - CPU| {diff:.2e}; {golden_difference(name, gpu.session)}")
        session = load_session(demo_session_path())
        t0 = time.perf_counter()
        done = [e.analysis for e in analyze(session, device="cuda", use_cache=False) if e.kind == "done"][0]
        print(f"analyze --device cuda on the demo ({len(done.tracks)} results): {time.perf_counter() - t0:.2f} s, "
              f"provider {done.provider}")
    except InferenceError as exc:
        print(f"CUDA cannot run here: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
