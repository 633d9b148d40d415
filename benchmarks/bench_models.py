"""Speed of the shipped ONNX models (or of the manifests named) through onnxruntime on this CPU.

Prints, per model, real-time factors for one stream (whole 60 s track, and 10 s chunks) and for
as many parallel streams as there are cores (one onnxruntime thread each), plus file size.

    python benchmarks/bench_models.py [MANIFEST ...]
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "shipped"


def session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def realtime_factor(sess, manifest: dict, seconds: float, chunk_seconds: float, repeats: int = 3) -> float:
    sr = manifest["sample_rate"]
    rng = np.random.default_rng(0)
    chunk = int(chunk_seconds * sr)
    x = (rng.standard_normal((1, chunk + manifest["pad_samples"] + manifest["pad_back_samples"])) * 0.1).astype(np.float32)
    name = manifest["input"]["name"]
    sess.run(None, {name: x})
    chunks = int(seconds / chunk_seconds)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(chunks):
            sess.run(None, {name: x})
        best = min(best, time.perf_counter() - t0)
    return chunks * chunk_seconds / best


def measure(manifest_path: Path) -> dict:
    manifest = json.loads(manifest_path.read_text())
    model = manifest_path.parent / manifest["file"]
    cores = os.cpu_count() or 1
    one = session(model, cores)
    result = {
        "model": manifest["name"],
        "size_mb": round(model.stat().st_size / 1e6, 2),
        "one_stream_60s": round(realtime_factor(one, manifest, 60, 60)),
        "one_stream_10s_chunks": round(realtime_factor(one, manifest, 60, 10)),
    }
    singles = [session(model, 1) for _ in range(cores)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(cores) as pool:
        list(pool.map(lambda s: realtime_factor(s, manifest, 60, 10, repeats=1), singles))
    result[f"{cores}_streams_10s_chunks"] = round(cores * 60 / (time.perf_counter() - t0))
    return result


def main(argv: list[str] | None = None) -> int:
    manifests = [Path(a) for a in (sys.argv[1:] if argv is None else argv)] or sorted(SHIPPED.glob("*.json"))
    if not manifests:
        print(f"no shipped models in {SHIPPED}", file=sys.stderr)
        return 1
    for path in manifests:
        if not path.is_file():
            print(f"{path}: no such manifest", file=sys.stderr)
            return 1
    print(f"{os.cpu_count()} cores, onnxruntime {ort.__version__}, CPUExecutionProvider")
    for path in manifests:
        r = measure(path)
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
