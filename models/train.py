"""Generate data, train, calibrate, export and evaluate one model: `python -m models.train TASK`.

TASK is `instrument` or `technique`. The corpus is generated first when its folder lacks it
(models.data.corpus; FluidR3_GM and TimGM6mb for training, MuseScore_General for validation).
Validation examples with even index calibrate the per-label thresholds; odd ones are the
held-out test whose figures go into the manifest and the model card.

Uses CUDA when torch sees a GPU. `--tiny` runs the whole chain on a few examples in minutes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .data import corpus
from .data.taxonomy import FAMILIES, FINE_LABELS, TECHNIQUES
from .features import FrontEnd
from .metrics import best_thresholds, event_f1, label_report
from .nn import Model, NetConfig, export_onnx

MODELS_DIR = Path(__file__).resolve().parent
FINE = tuple(FINE_LABELS)


@dataclass(frozen=True)
class Task:
    name: str
    version: str
    front_end: FrontEnd
    net: NetConfig
    label_groups: tuple[str, ...]  # corpus label arrays, concatenated in this order
    stems_only: bool  # train and evaluate on single-stem examples only
    crop_seconds: float = 4.0
    batch_size: int = 32
    learning_rate: float = 2e-3

    @property
    def labels(self) -> list[str]:
        names = {"family": list(FAMILIES), "fine": list(FINE), "technique": list(TECHNIQUES)}
        return [n for g in self.label_groups for n in names[g]]

    @property
    def out_hop_samples(self) -> int:
        return self.front_end.hop * self.net.time_stride


TASKS = {
    "instrument": Task(
        "instrument", "0.1.0",
        FrontEnd(16000, 512, 320, 64, 30.0, 8000.0, "mel"),
        NetConfig(channels=(16, 32, 64, 96, 96), time_pools=(2, 2, 1, 1, 1), bin_pools=(2, 2, 2, 2, 1),
                  temporal_dilations=(1, 2, 4), heads={"family": len(FAMILIES), "fine": len(FINE)}),
        ("family", "fine"), stems_only=False),
    "technique": Task(
        "technique", "0.1.0",
        FrontEnd(8000, 512, 160, 96, 50.0, 4000.0, "log"),
        NetConfig(channels=(16, 32, 48, 64), time_pools=(1, 1, 1, 1), bin_pools=(2, 2, 2, 2),
                  temporal_dilations=(1, 2, 4, 8), heads={"technique": len(TECHNIQUES)}),
        ("technique",), stems_only=True, crop_seconds=3.0),
}


# ---- data ---------------------------------------------------------------------------------------
@dataclass
class Split:
    audio: np.ndarray  # (examples, samples) float32 at the task's rate
    targets: np.ndarray  # (examples, out frames, labels) float32 in [0, 1]: covered share of each frame
    meta: list[dict]


def resample_half(audio: np.ndarray) -> np.ndarray:
    """16 kHz -> 8 kHz along the last axis, band-limited (FFT truncation)."""
    n = audio.shape[-1]
    spec = np.fft.rfft(audio, axis=-1)[..., : n // 4 + 1]
    return (np.fft.irfft(spec, n=n // 2, axis=-1) * 0.5).astype(np.float32)


def load_split(data_dir: Path, split: str, task: Task) -> Split:
    audio, labels, meta = [], [], []
    for shard in sorted(data_dir.glob(f"{split}-*.npz")):
        with np.load(shard) as z:
            m = json.loads(str(z["meta"]))
            keep = [i for i, e in enumerate(m) if not (task.stems_only and e["is_mix"])]
            audio.append(z["audio"][keep].astype(np.float32) / 32767.0)
            labels.append(np.concatenate([z[g][keep] for g in task.label_groups], axis=-1))
            meta += [m[i] for i in keep]
    if not audio:
        raise SystemExit(f"no {split} examples in {data_dir}")
    x = np.concatenate(audio)
    y = np.concatenate(labels).astype(np.float32)
    if task.front_end.sample_rate != corpus.SAMPLE_RATE:
        if task.front_end.sample_rate * 2 != corpus.SAMPLE_RATE:
            raise ValueError("only the corpus rate or half of it is supported")
        x = resample_half(x)
    per_out = round(task.out_hop_samples / task.front_end.sample_rate / corpus.LABEL_HOP)
    frames = y.shape[1] // per_out
    y = y[:, : frames * per_out].reshape(len(y), frames, per_out, -1).mean(axis=2)
    return Split(x, y, meta)


def ensure_corpus(data_dir: Path, train_examples: int, val_examples: int, seed: int, workers: int,
                  extra_examples: int = 0) -> None:
    """Generate whatever split of the corpus is missing or was made with other settings.

    `extra_examples` (training soundfonts, seed + 2000) are one-shots, short phrases and produced
    drum and bass stems (models.data.corpus `_plan_extra`) that extend the songs of "train"."""
    splits = [("validation", val_examples, seed + 1000), ("train", train_examples, seed)]
    if extra_examples:
        splits.append(("extra", extra_examples, seed + 2000))
    for split, count, split_seed in splits:
        info = data_dir / f"{split}.json"
        if info.is_file():
            made = json.loads(info.read_text())
            if (made["examples"], made["seed"]) == (count, split_seed) and \
                    len(list(data_dir.glob(f"{split}-*.npz"))) == -(-count // 32):
                continue
            for stale in data_dir.glob(f"{split}-*.npz"):
                stale.unlink()
        print(f"generating {count} {split} examples into {data_dir}", flush=True)
        for done, total in corpus.generate(data_dir, split, count, split_seed, workers):
            print(f"  {split}: {done}/{total}", flush=True)


def padded_crops(audio: np.ndarray, starts: np.ndarray, length: int, pad_front: int, pad_back: int) -> np.ndarray:
    """audio[:, s - pad_front : s + length + pad_back] per row, zeros outside the example."""
    out = np.zeros((len(starts), pad_front + length + pad_back), dtype=np.float32)
    n = audio.shape[1]
    for row, (a, s) in enumerate(zip(audio, starts)):
        lo, hi = s - pad_front, s + length + pad_back
        src_lo, src_hi = max(lo, 0), min(hi, n)
        out[row, src_lo - lo: src_lo - lo + (src_hi - src_lo)] = a[src_lo:src_hi]
    return out


def pad_for_model(audio: np.ndarray, task: Task) -> np.ndarray:
    """Whole examples padded so that output frame j stands for [j, j+1) * out_hop."""
    fe = task.front_end
    back = fe.n_fft - fe.hop - fe.pad_samples
    return np.pad(audio, ((0, 0), (fe.pad_samples, back)))


# ---- training -----------------------------------------------------------------------------------
def train(task: Task, train_split: Split, seed: int, minutes: float, device: str, log=print,
          mix_weight: float = 1.0) -> Model:
    """Train for `minutes` of wall time; mixes are drawn `mix_weight` times as often as single stems."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = Model(task.front_end, task.net).to(device)
    fe = task.front_end
    hop_out = task.out_hop_samples
    crop_frames = int(task.crop_seconds * fe.sample_rate) // hop_out
    length = crop_frames * hop_out
    n_examples, n_samples = train_split.audio.shape
    max_start_frame = (n_samples - length) // hop_out
    positives = train_split.targets.reshape(-1, train_split.targets.shape[-1]).mean(axis=0)
    pos_weight = torch.tensor(np.clip((1 - positives) / np.maximum(positives, 1e-3), 1.0, 10.0) ** 0.5,
                              dtype=torch.float32, device=device)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    opt = torch.optim.AdamW(model.parameters(), lr=task.learning_rate, weight_decay=1e-4)
    draw = None
    if mix_weight != 1.0:
        weights = np.array([mix_weight if m["is_mix"] else 1.0 for m in train_split.meta])
        draw = weights / weights.sum()
    deadline = time.monotonic() + minutes * 60
    step, t0, running = 0, time.monotonic(), 0.0
    budget = minutes * 60
    while time.monotonic() < deadline:
        progress = min((time.monotonic() - t0) / budget, 1.0)
        for g in opt.param_groups:  # warm-up then cosine decay over the time budget
            g["lr"] = task.learning_rate * min(1.0, step / 100) * 0.5 * (1 + np.cos(np.pi * progress))
        rows = rng.integers(0, n_examples, task.batch_size) if draw is None else \
            rng.choice(n_examples, task.batch_size, p=draw)
        start_frames = rng.integers(0, max_start_frame + 1, task.batch_size)
        x = padded_crops(train_split.audio[rows], start_frames * hop_out, length, fe.pad_samples,
                         fe.n_fft - fe.hop - fe.pad_samples)
        x *= 10 ** (rng.uniform(-12, 6, (task.batch_size, 1)) / 20)  # level is no cue
        y = np.stack([train_split.targets[r, f:f + crop_frames] for r, f in zip(rows, start_frames)])
        xb = torch.from_numpy(np.clip(x, -1, 1)).to(device)
        yb = torch.from_numpy(y).to(device)
        model.train()
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        running = 0.98 * running + 0.02 * loss.item() if step else loss.item()
        step += 1
        if step % 100 == 0:
            log(f"step {step}, loss {running:.4f}, {time.monotonic() - t0:.0f} s")
    log(f"trained {step} steps in {time.monotonic() - t0:.0f} s")
    return model.eval().cpu()


@torch.no_grad()
def predict(model: Model, split: Split, task: Task, batch: int = 16) -> np.ndarray:
    """Activations (examples, out frames, labels), whole examples at once."""
    outs = []
    for i in range(0, len(split.audio), batch):
        x = torch.from_numpy(pad_for_model(split.audio[i:i + batch], task))
        outs.append(torch.sigmoid(model(x)).numpy())
    y = np.concatenate(outs)
    return y[:, : split.targets.shape[1]]


# ---- evaluation ---------------------------------------------------------------------------------
def evaluate(task: Task, scores: np.ndarray, split: Split, thresholds: np.ndarray) -> dict:
    truth = split.targets >= 0.5
    labels = task.labels
    report: dict = {}
    if task.name == "instrument":
        fam = slice(0, len(FAMILIES))
        fine = slice(len(FAMILIES), len(labels))
        stems = np.array([not m["is_mix"] for m in split.meta])
        mixes = np.array([m["is_mix"] and 2 <= len(m["stems"]) <= 6 for m in split.meta])
        for name, rows in (("stems", stems), ("mixes_2_to_6", mixes)):
            s, t = scores[rows].reshape(-1, len(labels)), truth[rows].reshape(-1, len(labels))
            report[name] = {
                "examples": int(rows.sum()),
                "family": label_report(s[:, fam], t[:, fam], thresholds[fam], labels[fam]),
                "fine": label_report(s[:, fine], t[:, fine], thresholds[fine], labels[fine]),
            }
    else:
        s, t = scores.reshape(-1, len(labels)), truth.reshape(-1, len(labels))
        rep = label_report(s, t, thresholds, labels)
        hop_s = task.out_hop_samples / task.front_end.sample_rate
        tol = max(1, round(0.05 / hop_s))
        for k, name in enumerate(labels):
            if name in rep["labels"]:
                rep["labels"][name]["event_f1"] = float(np.nanmean([
                    event_f1(scores[i, :, k] >= thresholds[k], truth[i, :, k], tol) for i in range(len(scores))
                    if truth[i, :, k].any() or (scores[i, :, k] >= thresholds[k]).any()]))
        report["stems"] = {"examples": len(scores), "technique": rep}
    return report


def summary_lines(task: Task, report: dict) -> list[str]:
    lines = []
    for part, r in report.items():
        if not isinstance(r, dict) or "examples" not in r:
            continue
        for group in ("family", "fine", "technique"):
            if group in r:
                g = r[group]
                lines.append(f"{part} {group}: macro-F1 {g['macro_f1']:.3f}, mAP {g['map']:.3f}, "
                             f"micro-F1 {g['micro_f1']:.3f} ({r['examples']} examples)")
    return lines


# ---- export -------------------------------------------------------------------------------------
def write_model(task: Task, model: Model, thresholds: np.ndarray, report: dict, out_dir: Path,
                command: str, seed: int, train_info: dict) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / f"{task.name}.onnx"
    export_onnx(model, onnx_path)
    sha = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    fe = task.front_end
    hop = task.out_hop_samples
    families = {lab: FINE_LABELS[lab][0] for lab in FINE}
    manifest = {
        "name": task.name,
        "version": task.version,
        "file": onnx_path.name,
        "sha256": sha,
        "sample_rate": fe.sample_rate,
        "channels": 1,
        "hop_samples": hop,
        "hop_seconds": hop / fe.sample_rate,
        "window_samples": fe.n_fft,
        "pad_samples": fe.pad_samples,
        "pad_back_samples": fe.n_fft - fe.hop - fe.pad_samples,
        "receptive_field_frames": int(np.ceil(model.net.receptive_field() / task.net.time_stride)) + 1,
        "front_end": fe.to_json(),
        "input": {"name": "audio", "shape": ["batch", "samples"], "dtype": "float32"},
        "output": {"name": "activations", "shape": ["batch", "frames", len(task.labels)], "dtype": "float32",
                   "activation": "sigmoid"},
        "labels": [
            {"name": lab, "group": grp, "family": (lab if grp == "family" else families.get(lab)),
             "threshold": round(float(th), 3)}
            for (lab, grp), th in zip(_label_groups(task), thresholds)
        ],
        # A stems-only model heard on a whole mix is less sure than its activations say: the
        # runtime scales its confidences on mixes by this factor.
        "mix_confidence": 0.5 if task.stems_only else 1.0,
        "training": {"command": command, "seed": seed, **train_info},
        "metrics": report,
    }
    path = out_dir / f"{task.name}.json"
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    return path


def _label_groups(task: Task) -> list[tuple[str, str]]:
    names = {"family": FAMILIES, "fine": FINE, "technique": TECHNIQUES}
    return [(n, g) for g in task.label_groups for n in names[g]]


# ---- command line -------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("task", choices=list(TASKS))
    p.add_argument("--data", type=Path, default=None, help="corpus folder (default: user cache)")
    p.add_argument("--out", type=Path, default=MODELS_DIR / "shipped", help="where the .onnx and manifest go")
    p.add_argument("--seed", type=int, default=1, help="training seed (initialisation, batches)")
    p.add_argument("--data-seed", type=int, default=1, help="corpus seed (validation uses it + 1000)")
    p.add_argument("--minutes", type=float, default=45.0, help="training time budget")
    p.add_argument("--train-examples", type=int, default=3200)
    p.add_argument("--val-examples", type=int, default=480)
    p.add_argument("--extra-examples", type=int, default=0,
                   help="one-shot, short-phrase and produced drum/bass examples added to the training songs")
    p.add_argument("--mix-weight", type=float, default=1.0, help="draw mixes this many times as often as single stems")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--tiny", action="store_true", help="a few examples and seconds: the CI smoke run")
    a = p.parse_args(argv)
    command = "python -m models.train " + " ".join(shlex.quote(x) for x in (argv if argv is not None else sys.argv[1:]))
    task = TASKS[a.task]
    if a.tiny:
        a.train_examples, a.val_examples, a.minutes = 8, 8, 0.15
        a.extra_examples = min(a.extra_examples, 4)
        task = replace(task, batch_size=4)
    if a.data is None:
        from plugin.paths import user_cache_dir

        a.data = user_cache_dir() / "corpus" / f"seed{a.data_seed}-{a.train_examples}-{a.val_examples}" \
            + (f"-{a.extra_examples}" if a.extra_examples else "")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if a.threads:
        torch.set_num_threads(a.threads)
    print(f"{task.name}: data {a.data} (seed {a.data_seed}), device {device}, seed {a.seed}", flush=True)
    ensure_corpus(a.data, a.train_examples, a.val_examples, a.data_seed, a.workers, a.extra_examples)
    train_split = load_split(a.data, "train", task)
    if a.extra_examples:
        extra = load_split(a.data, "extra", task)
        train_split = Split(np.concatenate([train_split.audio, extra.audio]),
                            np.concatenate([train_split.targets, extra.targets]), train_split.meta + extra.meta)
    val = load_split(a.data, "validation", task)
    print(f"train {train_split.audio.shape}, validation {val.audio.shape}", flush=True)
    t0 = time.monotonic()
    model = train(task, train_split, a.seed, a.minutes, device, mix_weight=a.mix_weight)
    train_seconds = time.monotonic() - t0
    scores = predict(model, val, task)
    even = np.arange(len(scores)) % 2 == 0
    calib_truth = (val.targets[even] >= 0.5).reshape(-1, len(task.labels))
    thresholds = best_thresholds(scores[even].reshape(-1, len(task.labels)), calib_truth)
    test = Split(val.audio[~even], val.targets[~even], [m for m, e in zip(val.meta, even) if not e])
    report = evaluate(task, scores[~even], test, thresholds)
    for line in summary_lines(task, report):
        print(line)
    info = {"device": device, "seconds": round(train_seconds), "train_examples": len(train_split.audio),
            "validation_examples": len(val.audio), "parameters": sum(p.numel() for p in model.parameters()),
            "corpus": {"train_examples": a.train_examples, "val_examples": a.val_examples,
                       "extra_examples": a.extra_examples,
                       "seconds_per_example": corpus.CorpusConfig.seconds}}
    info["data_seed"] = a.data_seed
    manifest = write_model(task, model, thresholds, report, a.out, command, a.seed, info)
    print(f"wrote {manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
