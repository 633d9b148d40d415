"""Would thresholds calibrated per context (single stems apart from mixes) help?
`python -m models.research.context_thresholds --data DIR [--manifest M]`

The engine knows whether it analyses one track or the session's mix, so each label could carry a
threshold calibrated on single stems and one calibrated on mixes instead of one for both. This
scores the corpus's validation split through the ONNX graph (as models.evaluate_renders does),
calibrates the three threshold sets on the even examples, reports the odd ones with each, and
then the frame recall of the labelled family and the other families heard per frame on the real
single-instrument recordings (realdev and the solo piano) with the pooled and the stem thresholds.
One-off research: nothing here is used by training or the runtime.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..evaluate_real import (
    REALDEV,
    SESSION_RECORDINGS,
    SESSIONS_DIR,
    activations,
    load_mono,
)
from ..evaluate_renders import onnx_scores
from ..metrics import best_thresholds
from ..train import MODELS_DIR, TASKS, FeatureSplit, evaluate, load_split


def calibrated(scores: np.ndarray, truth: np.ndarray, rows: np.ndarray) -> np.ndarray:
    n = scores.shape[-1]
    return best_thresholds(scores[rows].reshape(-1, n), truth[rows].reshape(-1, n))


def real_frames(manifest_path: Path, thresholds: dict[str, np.ndarray]) -> dict:
    """Per real family: frame recall of the labelled family and other families on per frame, for
    each threshold set."""
    manifest = json.loads(manifest_path.read_text())
    names = [lab["name"] for lab in manifest["labels"] if lab["group"] == "family"]
    session = ort.InferenceSession(str(manifest_path.with_name(manifest["file"])), providers=["CPUExecutionProvider"])
    sets = [(REALDEV, json.loads((REALDEV / "labels.json").read_text())), (SESSIONS_DIR, SESSION_RECORDINGS)]
    out: dict = {}
    for folder, truth in sets:
        for name, family in sorted(truth.items()):
            act = activations(session, manifest, load_mono(folder / name, manifest["sample_rate"]))[:, : len(names)]
            k = names.index(family)
            for which, th in thresholds.items():
                on = act >= th[: len(names)]
                row = out.setdefault(family, {}).setdefault(which, {"recall": [], "others": []})
                row["recall"].append(float(on[:, k].mean()))
                row["others"].append(float((on.sum(axis=1) - on[:, k]).mean()))
    return {fam: {which: {key: float(np.mean(v)) for key, v in r.items()} for which, r in sets_.items()}
            for fam, sets_ in out.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", type=Path, default=MODELS_DIR / "shipped" / "instrument.json")
    p.add_argument("--data", type=Path, required=True, help="corpus folder holding the validation split")
    a = p.parse_args(argv)
    task = TASKS["instrument"]
    val = load_split(a.data, "validation", task)
    scores = onnx_scores(a.manifest, val.audio, val.targets.shape[1])
    truth = val.targets >= 0.5
    even = np.arange(len(scores)) % 2 == 0
    is_mix = np.array([m["is_mix"] for m in val.meta])
    sets = {"pooled": calibrated(scores, truth, even), "stem": calibrated(scores, truth, even & ~is_mix),
            "mix": calibrated(scores, truth, even & is_mix)}
    test = FeatureSplit(np.empty((int((~even).sum()), 0, 0)), val.targets[~even],
                        [m for m, e in zip(val.meta, even) if not e], task.front_end.log_floor)
    print(f"{a.manifest}: held-out renders (odd validation examples), family macro-F1 / fine macro-F1")
    for which, th in sets.items():
        report = evaluate(task, scores[~even], test, th)
        print(f"  thresholds {which:<6}: " + ", ".join(
            f"{part} {r['family']['macro_f1']:.3f} / {r['fine']['macro_f1']:.3f}" for part, r in report.items()))
    print("real single-instrument recordings: frame recall of the labelled family, other families on per frame")
    for family, r in real_frames(a.manifest, {k: sets[k] for k in ("pooled", "stem")}).items():
        print(f"  {family:<7} " + "; ".join(f"{which} thresholds: recall {v['recall']:.2f}, others {v['others']:.2f}"
                                            for which, v in r.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
