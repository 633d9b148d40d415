"""A shipped model on a corpus's held-out MuseScore_General renders, through onnxruntime:
`python -m models.evaluate_renders --manifest models/shipped/instrument.json --data DIR`.

It scores every example of the folder's validation split with the ONNX graph exactly as shipped,
calibrates per-label thresholds on the even examples as training does, and prints the same report
for the odd ones, so that a model trained with one validation split can be measured on another.
Training scores validation features stored as float16 and this scores float32 audio, so the same
model on the same split can differ from its manifest in the third decimal. The folder is only read.

`--split train` scores a split rendered with the training soundfonts instead: a corpus made with
another seed (`python -m models.data.corpus DIR --split train --seed S`) asks how well the model
hears unseen songs in the sounds it trained on, and the training corpus itself (`--examples N`,
its first N) how well it fits what it trained on.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort

from .data import SHARD_SIZE
from .features import FrontEnd
from .metrics import best_thresholds
from .train import (
    TASKS,
    FeatureSplit,
    evaluate,
    load_split,
    pad_for_model,
    summary_lines,
)


def manifest_task(manifest: dict):
    """models.train's task for this manifest, with the front-end the model was trained with."""
    return replace(TASKS[manifest["name"]], front_end=FrontEnd(**manifest["front_end"]))


def onnx_scores(manifest_path: Path, audio: np.ndarray, frames: int, batch: int = 16) -> np.ndarray:
    """(examples, frames, labels) activations of whole examples, padded as training pads them."""
    manifest = json.loads(manifest_path.read_text())
    session = ort.InferenceSession(str(manifest_path.with_name(manifest["file"])), providers=["CPUExecutionProvider"])
    task = manifest_task(manifest)
    outs = [session.run([manifest["output"]["name"]],
                        {manifest["input"]["name"]: pad_for_model(audio[i:i + batch], task).astype(np.float32)})[0]
            for i in range(0, len(audio), batch)]
    return np.concatenate(outs)[:, :frames]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True, help="corpus folder holding the split")
    p.add_argument("--split", choices=("validation", "train"), default="validation",
                   help="validation: held-out MuseScore_General renders; train: renders with the training soundfonts")
    p.add_argument("--examples", type=int, default=None, help="score only the split's first N examples (whole shards)")
    p.add_argument("--per-label", action="store_true", help="print each label's F1, AP and support too")
    a = p.parse_args(argv)
    manifest = json.loads(a.manifest.read_text())
    task = manifest_task(manifest)
    labels = [label["name"] for label in manifest["labels"]]
    if labels != task.labels or manifest["hop_samples"] != task.out_hop_samples:
        raise SystemExit(f"{a.manifest}: its labels or hop are not those of models.train's "
                         f"{task.name} task, whose label frames this evaluation uses")
    info = a.data / f"{a.split}.json"
    if not info.is_file():
        raise SystemExit(f"{a.data} holds no {a.split} split ({info.name}): models.data.corpus makes one")
    made = json.loads(info.read_text())
    shards = len(list(a.data.glob(f"{a.split}-*.npz")))
    if shards != -(-made["examples"] // SHARD_SIZE):
        raise SystemExit(f"{a.data}: {info.name} lists {made['examples']} examples, but {shards} shards are there")
    if a.examples is not None and a.examples <= 0:
        raise SystemExit("--examples must be positive")
    val = load_split(a.data, a.split, task, shards=None if a.examples is None else -(-a.examples // SHARD_SIZE))
    scores = onnx_scores(a.manifest, val.audio, val.targets.shape[1])
    even = np.arange(len(scores)) % 2 == 0
    truth = val.targets >= 0.5
    thresholds = best_thresholds(scores[even].reshape(-1, len(labels)), truth[even].reshape(-1, len(labels)))
    test = FeatureSplit(np.empty((int((~even).sum()), 0, 0)), val.targets[~even],
                        [m for m, e in zip(val.meta, even) if not e], task.front_end.log_floor)
    print(f"{manifest['name']} {manifest['version']} on {len(scores)} {a.split} examples of {a.data} "
          f"(seed {made['seed']}), "
          "thresholds calibrated on the even ones, odd ones reported:")
    report = evaluate(task, scores[~even], test, thresholds)
    for line in summary_lines(task, report):
        print(line)
    if a.per_label:
        for part, r in report.items():
            for group in ("family", "fine", "technique"):
                for name, v in r.get(group, {}).get("labels", {}).items():
                    print(f"  {part} {name}: F1 {v['f1']:.3f}, AP {v['ap']:.3f}, {v['support_frames']} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
