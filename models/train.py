"""Generate data, train, calibrate, export and evaluate one model: `python -m models.train TASK`.

TASK is `instrument` or `technique`. The corpus is generated first when its folder lacks it
(models.data.corpus; FluidR3_GM and TimGM6mb for training, MuseScore_General for validation), and
its front-end features are computed once and cached beside it; a folder holding only the splits'
json files and feature caches is enough to train on (that is how a GPU machine gets the data).
Training draws random crops of the cached features and levels, equalises and (for the instrument
detector) mixes them on the fly (`Augment`). Validation examples with even index calibrate the
per-label thresholds; odd ones are the held-out test whose figures go into the manifest and the
model card.

Uses CUDA when torch sees a GPU. The defaults (a fixed number of steps) finish within 90 minutes
on two CPU cores, corpus generation included. `--tiny` runs the whole chain on a few examples.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .data import SHARD_SIZE, SPLIT_VERSIONS
from .data.taxonomy import FAMILIES, FINE_LABELS, TECHNIQUES
from .features import FrontEnd
from .metrics import best_thresholds, event_f1, label_report
from .nn import BIN_READOUTS, Model, NetConfig, TorchFrontEnd, export_onnx

MODELS_DIR = Path(__file__).resolve().parent
FINE = tuple(FINE_LABELS)


@dataclass(frozen=True)
class Augment:
    """What each training crop goes through, in the power domain of the features.

    Level: a gain of `gain_db` (the level is no cue). EQ: with `eq_probability`, a tilt and one
    bell over the bands of up to `eq_db`. Mixing: with `mix_probability`, one to three other single
    stems are added with a gain of `mix_db` on top of their own stored level (the corpus stores
    stems at -18 to -0.5 dB, so a stem mixed in can lie well below or above the crop) and their
    labels joined: new mixes every step, beside the corpus's rendered ones. Separation artefacts,
    as real separated stems carry them: with `bleed_probability`, one other single stem lies
    `bleed_db` under the crop's mean power and its labels stay off (bleed is not the stem's
    instrument); with `notch_probability`, one to two runs of bands are cut by `notch_db` (the holes
    a separator leaves where other sources were). Sub-heavy bass: with `bass_lowpass_probability`,
    crops whose only family is bass lose what lies above a cutoff of `bass_lowpass_hz`, falling by
    `bass_lowpass_slope_db` per octave (to `bass_lowpass_max_db` at most), as a separated bass stem
    or a sine-like sub bass keeps little above its lowest octaves; whatever bleed lies under the
    crop is cut with it, as a separator would."""
    gain_db: tuple[float, float] = (-12.0, 6.0)
    eq_probability: float = 0.5
    eq_db: float = 6.0
    mix_probability: float = 0.25
    mix_db: tuple[float, float] = (-10.0, 0.0)
    mix_relative: bool = False  # level each mixed-in crop to the crop's mean power before `mix_db`
    bleed_probability: float = 0.0
    bleed_db: tuple[float, float] = (-30.0, -18.0)
    notch_probability: float = 0.0
    notch_db: tuple[float, float] = (-30.0, -10.0)
    notch_width: tuple[float, float] = (0.02, 0.12)  # half-width, on the bands' -1..1 axis
    bass_lowpass_probability: float = 0.0
    bass_lowpass_hz: tuple[float, float] = (80.0, 300.0)  # drawn on a log scale
    bass_lowpass_slope_db: tuple[float, float] = (12.0, 36.0)
    bass_lowpass_max_db: float = 60.0


AUGMENT_PROBABILITIES = ("mix_probability", "bleed_probability", "notch_probability",
                         "bass_lowpass_probability")  # each a --flag too


@dataclass(frozen=True)
class Task:
    name: str
    version: str
    front_end: FrontEnd
    net: NetConfig
    label_groups: tuple[str, ...]  # corpus label arrays, concatenated in this order
    stems_only: bool  # train and evaluate on single-stem examples only
    crop_seconds: float = 4.0
    steps: int = 4000
    batch_size: int = 32
    learning_rate: float = 2e-3
    augment: Augment = Augment()
    train_examples: int = 9600  # songs of the corpus's "train" split
    val_examples: int = 1920  # examples of its "validation" split: even calibrate, odd are the test
    extra_examples: int = 0  # examples of the corpus's "extra" split added to the training songs
    extra_variants: tuple[str, ...] = ("hits", "drums", "bass", "synth")  # which of its parts
    acoustic_examples: int = 0  # examples of the "acoustic" split (physical-model instruments) added too

    @property
    def labels(self) -> list[str]:
        names = {"family": list(FAMILIES), "fine": list(FINE), "technique": list(TECHNIQUES)}
        return [n for g in self.label_groups for n in names[g]]

    @property
    def out_hop_samples(self) -> int:
        return self.front_end.hop * self.net.time_stride


TASKS = {
    "instrument": Task(
        "instrument", "0.4.0",
        FrontEnd(16000, 512, 320, 64, 30.0, 8000.0, "mel"),
        NetConfig(channels=(16, 32, 64, 96, 96), time_pools=(2, 2, 1, 1, 1), bin_pools=(2, 2, 2, 2, 1),
                  temporal_dilations=(1, 2, 4, 8), dropout=0.4, heads={"family": len(FAMILIES), "fine": len(FINE)}),
        ("family", "fine"), stems_only=False, steps=12000, augment=Augment(mix_probability=0.5),
        extra_examples=1000, extra_variants=("drums", "bass", "synth"), acoustic_examples=1000),
    "technique": Task(
        "technique", "0.3.0",
        FrontEnd(8000, 512, 160, 96, 50.0, 4000.0, "log"),
        NetConfig(channels=(16, 32, 48, 64), time_pools=(1, 1, 1, 1), bin_pools=(2, 2, 2, 2),
                  temporal_dilations=(1, 2, 4, 8), heads={"technique": len(TECHNIQUES)}),
        ("technique",), stems_only=True, crop_seconds=3.0, steps=4000, augment=Augment(mix_probability=0.0)),
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


def load_split(data_dir: Path, split: str, task: Task, shards: int | None = None) -> Split:
    """A corpus split's audio and label frames (its first `shards` shards where given)."""
    # The corpus module needs the data tools (pedalboard, mido, fluidsynth); cached features do not.
    from .data import corpus

    audio, labels, meta = [], [], []
    for shard in sorted(data_dir.glob(f"{split}-*.npz"))[:shards]:
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


def split_made(data_dir: Path, split: str, count: int, seed: int) -> bool:
    """Whether the folder's json says this split was made with this count and seed by the
    generator's current version of it."""
    info = data_dir / f"{split}.json"
    if not info.is_file():
        return False
    made = json.loads(info.read_text())
    return (made["examples"], made["seed"], made.get("version", 1)) == (count, seed, SPLIT_VERSIONS[split])


def ensure_split(data_dir: Path, split: str, count: int, seed: int, workers: int) -> None:
    """Generate one corpus split unless all its shards are there, made with the same count and seed
    by the generator's current version of the split."""
    if split_made(data_dir, split, count, seed) and len(list(data_dir.glob(f"{split}-*.npz"))) == -(-count // SHARD_SIZE):
        return
    for stale in [*data_dir.glob(f"{split}-*.npz"), *data_dir.glob(f"features-*-{split}.npz")]:
        stale.unlink()
    from .data import corpus

    print(f"generating {count} {split} examples into {data_dir}", flush=True)
    for done, total in corpus.generate(data_dir, split, count, seed, workers):
        print(f"  {split}: {done}/{total}", flush=True)


# The parts of the corpus's extra split, as its examples' meta name them (models.data.corpus).
EXTRA_VARIANTS = ("hits", "drums", "bass", "synth")


def corpus_splits(train_examples: int, val_examples: int, extra_examples: int, data_seed: int,
                  acoustic_examples: int = 0):
    """(split, examples, seed) of each split a run uses. `extra` (training soundfonts and
    procedural synthesisers) holds one-shots, short phrases, produced drum and bass stems and
    synths that extend the songs of `train`; `acoustic`, physical-model guitars, basses, harps,
    banjos, pianos and mallets."""
    splits = [("train", train_examples, data_seed), ("validation", val_examples, data_seed + 1000)]
    splits += [("extra", extra_examples, data_seed + 2000)] if extra_examples else []
    return splits + ([("acoustic", acoustic_examples, data_seed + 3000)] if acoustic_examples else [])


# ---- features -----------------------------------------------------------------------------------
# Training runs on the front-end's log energies, computed once per corpus split and cached beside
# it (`features-TASK-SPLIT.npz`): the network sees exactly what the shipped graph computes, the
# STFT is not redone every step, and crops are cheap to mix, re-level and re-equalise. Training
# features are stored as 8-bit codes of FEATURE_STEP nats above the log floor (rounding of at most
# 0.2 dB); validation features as float16.
FEATURE_STEP = 0.1
FEATURE_FORMAT = 1


@dataclass
class FeatureSplit:
    feats: np.ndarray  # (examples, feature frames, bins): uint8 codes or float16 log energies
    targets: np.ndarray  # (examples, out frames, labels) float16 in [0, 1]: covered share of each frame
    meta: list[dict]
    log_floor: float

    def log_energies(self, rows) -> np.ndarray:
        """float32 log energies of the given examples, whichever way they are stored."""
        x = self.feats[rows]
        return decode_features(x, self.log_floor) if x.dtype == np.uint8 else x.astype(np.float32)


def encode_features(logs: np.ndarray, log_floor: float) -> np.ndarray:
    return np.clip(np.rint((logs - np.log(log_floor)) / FEATURE_STEP), 0, 255).astype(np.uint8)


def decode_features(codes, log_floor: float):
    """8-bit codes back to log energies (numpy array or torch tensor)."""
    return codes * np.float32(FEATURE_STEP) + np.float32(np.log(log_floor))


def pad_for_model(audio: np.ndarray, task: Task) -> np.ndarray:
    """Whole examples padded so that output frame j stands for [j, j+1) * out_hop."""
    fe = task.front_end
    back = fe.n_fft - fe.hop - fe.pad_samples
    return np.pad(audio, ((0, 0), (fe.pad_samples, back)))


@torch.no_grad()
def compute_features(audio: np.ndarray, task: Task, batch: int = 32) -> np.ndarray:
    """(examples, frames, bins) float32 log energies of whole examples, as the shipped graph makes them."""
    front = TorchFrontEnd(task.front_end)
    return np.concatenate([front(torch.from_numpy(pad_for_model(audio[i:i + batch], task)))[:, 0].numpy()
                           for i in range(0, len(audio), batch)])


def _feature_key(data_dir: Path, split: str, task: Task, quantise: bool) -> str | None:
    info = data_dir / f"{split}.json"
    if not info.is_file():
        return None
    return json.dumps({"corpus": json.loads(info.read_text()), "front_end": task.front_end.to_json(),
                       "groups": task.label_groups, "stems_only": task.stems_only, "quantised": quantise,
                       "out_hop": task.out_hop_samples, "format": FEATURE_FORMAT}, sort_keys=True)


def _cache_stem(task: Task) -> str:
    """The task's name, and a digest of its front-end where a run changes it, so that runs with
    different front-ends on one corpus keep their own caches side by side."""
    if task.name not in TASKS or task.front_end == TASKS[task.name].front_end:
        return task.name
    digest = hashlib.sha256(json.dumps(task.front_end.to_json(), sort_keys=True).encode()).hexdigest()[:8]
    return f"{task.name}-{digest}"


def load_features(data_dir: Path, split: str, task: Task, quantise: bool, ensure=lambda: None) -> FeatureSplit:
    """One corpus split's cached features; computed, after `ensure()` has made the split, when the
    cache is missing or was made from another corpus, front-end or storage format. A folder holding
    only the split's json and its caches is enough to train on."""
    stem = f"features-{_cache_stem(task)}-{split}"
    cache = data_dir / f"{stem}.npz"
    key = _feature_key(data_dir, split, task, quantise)
    if key and cache.is_file():
        with np.load(cache) as z:
            if str(z["key"]) == key:
                return FeatureSplit(z["feats"], z["targets"], json.loads(str(z["meta"])), task.front_end.log_floor)
    ensure()
    audio = load_split(data_dir, split, task)
    logs = compute_features(audio.audio, task)
    feats = encode_features(logs, task.front_end.log_floor) if quantise else logs.astype(np.float16)
    targets = audio.targets.astype(np.float16)
    tmp = data_dir / f"{stem}.{os.getpid()}.tmp.npz"
    np.savez_compressed(tmp, feats=feats, targets=targets, meta=json.dumps(audio.meta),
                        key=_feature_key(data_dir, split, task, quantise))
    tmp.replace(cache)
    return FeatureSplit(feats, targets, audio.meta, task.front_end.log_floor)


def concat_splits(a: FeatureSplit, b: FeatureSplit) -> FeatureSplit:
    return FeatureSplit(np.concatenate([a.feats, b.feats]), np.concatenate([a.targets, b.targets]),
                        a.meta + b.meta, a.log_floor)


def load_task_data(task: Task, data_dir: Path, data_seed: int, workers: int) -> tuple[FeatureSplit, FeatureSplit]:
    """(training features, validation features) of a task, generating and caching what is missing.
    The training features are the songs plus the task's chosen parts of the extra split and the
    acoustic split, if the task asks for them."""
    data_dir.mkdir(parents=True, exist_ok=True)
    splits = {}
    for split, count, split_seed in corpus_splits(task.train_examples, task.val_examples, task.extra_examples, data_seed,
                                                  task.acoustic_examples):
        def ensure(split=split, count=count, split_seed=split_seed):
            ensure_split(data_dir, split, count, split_seed, workers)
        if not split_made(data_dir, split, count, split_seed):
            ensure()
        splits[split] = load_features(data_dir, split, task, quantise=split != "validation", ensure=ensure)
    train_split = splits["train"]
    if "extra" in splits:
        extra = splits["extra"]
        keep = np.array([m["variant"] in task.extra_variants for m in extra.meta], dtype=bool)
        train_split = concat_splits(train_split, FeatureSplit(extra.feats[keep], extra.targets[keep],
                                                              [m for m, k in zip(extra.meta, keep) if k], extra.log_floor))
    if "acoustic" in splits:
        train_split = concat_splits(train_split, splits["acoustic"])
    return train_split, splits["validation"]


# ---- training -----------------------------------------------------------------------------------
class CropSampler:
    """Random training crops of a FeatureSplit held on `device`, augmented as Augment says."""

    def __init__(self, split: FeatureSplit, task: Task, device: str, seed: int, augment: Augment,
                 mix_weight: float = 1.0):
        self.task, self.device, self.augment = task, device, augment
        self.codes = torch.from_numpy(split.feats).to(device)
        self.targets = torch.from_numpy(split.targets).to(device)
        self.log_floor = split.log_floor
        self.stride = task.net.time_stride
        self.crop_out = int(task.crop_seconds * task.front_end.sample_rate) // task.out_hop_samples
        self.max_start = split.targets.shape[1] - self.crop_out
        is_mix = np.array([m["is_mix"] for m in split.meta])
        weights = np.where(is_mix, mix_weight, 1.0)
        self.draw = torch.tensor(weights / weights.sum(), dtype=torch.float32, device=device)
        self.singles = torch.from_numpy(np.flatnonzero(~is_mix)).to(device)
        self.gen = torch.Generator(device=device).manual_seed(seed)
        self.frame_offsets = torch.arange(self.crop_out * self.stride, device=device)
        self.out_offsets = torch.arange(self.crop_out, device=device)
        self.band_hz = torch.tensor(task.front_end.centres()[1:-1], dtype=torch.float32, device=device)
        groups = _label_groups(task)
        columns = [i for i, (_, g) in enumerate(groups) if g == "family"]
        families = [groups[i][0] for i in columns]
        if augment.bass_lowpass_probability > 0 and "bass" not in families:
            raise ValueError(f"the bass low-pass needs a bass family label, which {task.name} has not")
        self.family_columns = torch.tensor(columns, dtype=torch.long, device=device)
        self.bass_family = families.index("bass") if "bass" in families else None

    def _uniform(self, shape, lo: float, hi: float) -> torch.Tensor:
        return torch.rand(shape, generator=self.gen, device=self.device) * (hi - lo) + lo

    def _crops(self, rows: torch.Tensor):
        """(power (n, frames, bins), targets (n, out frames, labels)) of random crops of `rows`."""
        starts = torch.randint(0, self.max_start + 1, (len(rows),), generator=self.gen, device=self.device)
        frames = starts[:, None] * self.stride + self.frame_offsets[None, :]
        logs = decode_features(self.codes[rows[:, None], frames].float(), self.log_floor)
        out = starts[:, None] + self.out_offsets[None, :]
        power = torch.clamp(torch.exp(logs) - self.log_floor, min=0.0)
        return power, self.targets[rows[:, None], out].float()

    @staticmethod
    def _levelled(p: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """Crops `p` scaled so that each one's mean power is `level` (n, 1, 1)."""
        return p * (level / p.mean(dim=(1, 2), keepdim=True).clamp_min(1e-10))

    def _bleed(self, power: torch.Tensor) -> None:
        """Adds, in place, a faint other single stem under some crops; their labels stay as they are."""
        a = self.augment
        keep = torch.nonzero(torch.rand(len(power), generator=self.gen, device=self.device) < a.bleed_probability)[:, 0]
        if not len(keep):
            return
        others = self.singles[torch.randint(0, len(self.singles), (len(keep),), generator=self.gen, device=self.device)]
        p, _ = self._crops(others)
        gain = 10 ** (self._uniform((len(keep), 1, 1), *a.bleed_db) / 10)
        power[keep] += gain * self._levelled(p, power[keep].mean(dim=(1, 2), keepdim=True))

    def _notches(self, size: int, position: torch.Tensor) -> torch.Tensor:
        """(size, 1, bins) dB: one or two runs of bands cut in some crops, 0 elsewhere."""
        a = self.augment
        cut = torch.zeros((size, 1, position.shape[-1]), device=self.device)
        for notch in range(2):
            use = torch.rand((size, 1, 1), generator=self.gen, device=self.device) < a.notch_probability * (0.5 if notch else 1.0)
            centre = self._uniform((size, 1, 1), -1, 1)
            width = self._uniform((size, 1, 1), *a.notch_width)
            depth = self._uniform((size, 1, 1), *a.notch_db)
            cut = torch.minimum(cut, torch.where(use & ((position - centre).abs() <= width), depth, 0.0))
        return cut

    def _bass_lowpass(self, targets: torch.Tensor) -> torch.Tensor:
        """(size, 1, bins) dB: a low-pass on some crops whose only family is bass, 0 elsewhere."""
        a = self.augment
        size = len(targets)
        present = targets[:, :, self.family_columns].amax(dim=1) > 0
        use = present[:, self.bass_family] & (present.sum(dim=1) == 1)
        use &= torch.rand(size, generator=self.gen, device=self.device) < a.bass_lowpass_probability
        lo, hi = np.log(a.bass_lowpass_hz)
        cutoff = torch.exp(self._uniform((size, 1, 1), lo, hi))
        slope = self._uniform((size, 1, 1), *a.bass_lowpass_slope_db)
        octaves = torch.log2(self.band_hz / cutoff).clamp_min(0)
        return torch.where(use[:, None, None], -(slope * octaves).clamp_max(a.bass_lowpass_max_db), 0.0)

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(features (size, 1, frames, bins), targets (size, out frames, labels))."""
        a = self.augment
        rows = torch.multinomial(self.draw, size, replacement=True, generator=self.gen)
        power, targets = self._crops(rows)
        mixed = torch.nonzero(torch.rand(size, generator=self.gen, device=self.device) < a.mix_probability)[:, 0]
        if len(mixed) and len(self.singles):
            own_level = power[mixed].mean(dim=(1, 2), keepdim=True)
            for extra in range(3):
                keep = mixed if extra == 0 else mixed[torch.rand(len(mixed), generator=self.gen,
                                                                 device=self.device) < 0.4]
                if not len(keep):
                    break
                others = self.singles[torch.randint(0, len(self.singles), (len(keep),), generator=self.gen,
                                                    device=self.device)]
                p, t = self._crops(others)
                gain = 10 ** (self._uniform((len(keep), 1, 1), *a.mix_db) / 10)
                if a.mix_relative:
                    p = self._levelled(p, own_level if extra == 0 else own_level[torch.isin(mixed, keep)])
                power[keep] += gain * p
                targets[keep] = torch.maximum(targets[keep], t)
        if a.bleed_probability > 0 and len(self.singles):
            self._bleed(power)
        bins = power.shape[-1]
        db = self._uniform((size, 1, 1), *a.gain_db)
        position = torch.linspace(-1, 1, bins, device=self.device)[None, None, :]
        if a.notch_probability > 0:
            db = db + self._notches(size, position)
        if a.bass_lowpass_probability > 0:
            db = db + self._bass_lowpass(targets)
        tilt = self._uniform((size, 1, 1), -a.eq_db, a.eq_db) * position
        centre = self._uniform((size, 1, 1), -1, 1)
        width = self._uniform((size, 1, 1), 0.05, 0.3)
        bell = self._uniform((size, 1, 1), -a.eq_db, a.eq_db) * torch.exp(-0.5 * ((position - centre) / width) ** 2)
        use_eq = (torch.rand((size, 1, 1), generator=self.gen, device=self.device) < a.eq_probability).float()
        power = power * 10 ** ((db + use_eq * (tilt + bell)) / 10)
        return torch.log(power + self.log_floor)[:, None], targets


def train(task: Task, train_split: FeatureSplit, seed: int, device: str, log=None,
          mix_weight: float = 1.0, minutes: float | None = None) -> tuple[Model, int]:
    """(model, steps taken): `task.steps` AdamW steps with warm-up and a cosine decay, crops augmented
    as `task.augment` says; mixes are drawn `mix_weight` times as often as single stems. With `minutes`, the decay follows whichever of steps and wall time runs
    out first, so a slow machine ends a shorter but complete schedule (the log and manifest say so)."""
    log = log or (lambda line: print(line, flush=True))
    torch.manual_seed(seed)
    if device == "cuda":
        torch.backends.cudnn.benchmark = True
    model = Model(task.front_end, task.net).to(device)
    positives = train_split.targets.reshape(-1, train_split.targets.shape[-1]).astype(np.float32).mean(axis=0)
    pos_weight = torch.tensor(np.clip((1 - positives) / np.maximum(positives, 1e-3), 1.0, 10.0) ** 0.5,
                              dtype=torch.float32, device=device)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    opt = torch.optim.AdamW(model.parameters(), lr=task.learning_rate, weight_decay=1e-4)
    steps = task.steps
    sampler = CropSampler(train_split, task, device, seed, task.augment, mix_weight)
    warmup = max(1, min(100, steps // 20))
    t0, running, step = time.monotonic(), 0.0, 0
    model.train()
    while step < steps:
        progress = step / steps
        if minutes is not None:
            progress = max(progress, (time.monotonic() - t0) / (minutes * 60))
            if progress >= 1.0:
                log(f"stopped at step {step} of {steps}: the {minutes:g}-minute limit")
                break
        for g in opt.param_groups:
            g["lr"] = task.learning_rate * min(1.0, (step + 1) / warmup) * 0.5 * (1 + np.cos(np.pi * progress))
        x, y = sampler.batch(task.batch_size)
        loss = loss_fn(model.net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        running = 0.98 * running + 0.02 * loss.detach() if step else loss.detach()
        step += 1
        if step % 500 == 0:
            log(f"step {step}, loss {float(running):.4f}, {time.monotonic() - t0:.0f} s")
    log(f"trained {step} steps in {time.monotonic() - t0:.0f} s")
    return model.eval().cpu(), step


@torch.no_grad()
def predict(model: Model, split: FeatureSplit, batch: int = 16) -> np.ndarray:
    """Activations (examples, out frames, labels), whole examples at once."""
    outs = [torch.sigmoid(model.net(torch.from_numpy(split.log_energies(slice(i, i + batch)))[:, None])).numpy()
            for i in range(0, len(split.feats), batch)]
    return np.concatenate(outs)[:, : split.targets.shape[1]]


# ---- evaluation ---------------------------------------------------------------------------------
def evaluate(task: Task, scores: np.ndarray, split: FeatureSplit, thresholds: np.ndarray) -> dict:
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
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the task's)")
    p.add_argument("--batch-size", type=int, default=None, help="crops per step (default: the task's)")
    p.add_argument("--learning-rate", type=float, default=None, help="peak AdamW rate (default: the task's)")
    p.add_argument("--channels", default=None,
                   help="channels of each 2-D conv layer, comma-separated (default: the task's)")
    p.add_argument("--temporal-dilations", default=None,
                   help="dilations of the 1-D convs over time, comma-separated: the context each frame sees (default: the task's)")
    p.add_argument("--band-position", action="store_true",
                   help="give the convs a second input plane holding each band's position in the spectrum")
    p.add_argument("--bin-readout", choices=BIN_READOUTS, default=None,
                   help="after the 2-D convs, pool the remaining bins away or keep them as channels (default: the task's)")
    p.add_argument("--window", type=int, default=None, help="front-end STFT window in samples (default: the task's)")
    p.add_argument("--bands", type=int, default=None, help="front-end filterbank bands (default: the task's)")
    p.add_argument("--dropout", type=float, default=None, help="dropout before the output layer (default: the task's)")
    p.add_argument("--mix-probability", type=float, default=None,
                   help="share of crops that get one to three other single stems mixed in")
    p.add_argument("--mix-relative", action="store_true",
                   help="level each mixed-in stem to the crop it joins before the mixing gain")
    p.add_argument("--bleed-probability", type=float, default=None,
                   help="share of crops with a faint other stem under them, labels unchanged (default: the task's)")
    p.add_argument("--notch-probability", type=float, default=None,
                   help="share of crops with runs of bands cut, as separation leaves them (default: the task's)")
    p.add_argument("--bass-lowpass-probability", type=float, default=None,
                   help="share of crops whose only family is bass low-passed to their lowest octaves, as separated "
                        "or sub-heavy bass sounds (default: the task's)")
    p.add_argument("--minutes", type=float, default=None, help="stop early after this many minutes of training")
    p.add_argument("--train-examples", type=int, default=None, help="songs to train on (default: the task's)")
    p.add_argument("--val-examples", type=int, default=None,
                   help="validation examples, half to calibrate and half to test (default: the task's)")
    p.add_argument("--extra-examples", type=int, default=None,
                   help="examples of the extra split (one-shots, produced drums and bass, synths) added to the training songs "
                        "(default: the task's)")
    p.add_argument("--acoustic-examples", type=int, default=None,
                   help="examples of the acoustic split (physical-model instruments) added to the training songs "
                        "(default: the task's)")
    p.add_argument("--extra-variants", default=None,
                   help=f"which parts of the extra split to train on, of {','.join(EXTRA_VARIANTS)} (default: the task's)")
    p.add_argument("--mix-weight", type=float, default=1.0, help="draw mixes this many times as often as single stems")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--tiny", action="store_true", help="a few examples and seconds: the CI smoke run")
    a = p.parse_args(argv)
    command = "python -m models.train " + " ".join(shlex.quote(x) for x in (argv if argv is not None else sys.argv[1:]))
    task = TASKS[a.task]
    channels = tuple(map(int, a.channels.split(","))) if a.channels else task.net.channels
    dilations = tuple(map(int, a.temporal_dilations.split(","))) if a.temporal_dilations else task.net.temporal_dilations
    variants = tuple(a.extra_variants.split(",")) if a.extra_variants else task.extra_variants
    if not dilations or min(dilations) < 1:
        p.error("--temporal-dilations takes positive integers")
    if len(channels) != len(task.net.time_pools):
        p.error(f"--channels needs {len(task.net.time_pools)} numbers for {task.name}")
    if not set(variants) <= set(EXTRA_VARIANTS):
        p.error(f"--extra-variants takes {', '.join(EXTRA_VARIANTS)}, not {a.extra_variants!r}")
    for name in ("steps", "batch_size", "learning_rate", "minutes", "train_examples", "val_examples"):
        if getattr(a, name) is not None and getattr(a, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    for name in AUGMENT_PROBABILITIES:
        if getattr(a, name) is not None and not 0 <= getattr(a, name) <= 1:
            p.error(f"--{name.replace('_', '-')} must lie between 0 and 1")
    if a.bass_lowpass_probability and "family" not in task.label_groups:
        p.error(f"--bass-lowpass-probability needs family labels, which {task.name} has not")
    if a.window is not None and a.window < task.front_end.hop:
        p.error(f"--window must be at least the front-end hop ({task.front_end.hop} samples)")
    if a.bands is not None and a.bands < np.prod(task.net.bin_pools):
        p.error(f"--bands must be at least {np.prod(task.net.bin_pools)} for {task.name}'s band pooling")
    front_end = replace(task.front_end, n_fft=a.window or task.front_end.n_fft, n_bins=a.bands or task.front_end.n_bins)
    task = replace(task, front_end=front_end, steps=task.steps if a.steps is None else a.steps,
                   batch_size=task.batch_size if a.batch_size is None else a.batch_size,
                   learning_rate=task.learning_rate if a.learning_rate is None else a.learning_rate,
                   net=replace(task.net, dropout=task.net.dropout if a.dropout is None else a.dropout,
                               channels=channels, temporal_dilations=dilations,
                               band_position=a.band_position or task.net.band_position,
                               bin_readout=a.bin_readout or task.net.bin_readout),
                   augment=replace(task.augment, mix_relative=a.mix_relative or task.augment.mix_relative,
                                   **{k: getattr(a, k) for k in AUGMENT_PROBABILITIES if getattr(a, k) is not None}),
                   train_examples=task.train_examples if a.train_examples is None else a.train_examples,
                   val_examples=task.val_examples if a.val_examples is None else a.val_examples,
                   extra_examples=task.extra_examples if a.extra_examples is None else a.extra_examples,
                   extra_variants=variants,
                   acoustic_examples=task.acoustic_examples if a.acoustic_examples is None else a.acoustic_examples)
    if a.tiny:
        task = replace(task, batch_size=4, steps=20, train_examples=8, val_examples=8,
                       extra_examples=min(task.extra_examples, 4), acoustic_examples=min(task.acoustic_examples, 4))
    if a.data is None:
        from plugin.paths import user_cache_dir

        a.data = user_cache_dir() / "corpus" / f"seed{a.data_seed}-{task.train_examples}-{task.val_examples}"
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if a.threads:
        torch.set_num_threads(a.threads)
    print(f"{task.name}: data {a.data} (seed {a.data_seed}), device {device}, seed {a.seed}", flush=True)
    train_split, val = load_task_data(task, a.data, a.data_seed, a.workers)
    print(f"train {train_split.feats.shape}, validation {val.feats.shape}", flush=True)
    t0 = time.monotonic()
    model, steps_taken = train(task, train_split, a.seed, device, mix_weight=a.mix_weight, minutes=a.minutes)
    train_seconds = time.monotonic() - t0
    scores = predict(model, val)
    even = np.arange(len(scores)) % 2 == 0
    calib_truth = (val.targets[even] >= 0.5).reshape(-1, len(task.labels))
    thresholds = best_thresholds(scores[even].reshape(-1, len(task.labels)), calib_truth)
    test = FeatureSplit(val.feats[~even], val.targets[~even], [m for m, e in zip(val.meta, even) if not e],
                        val.log_floor)
    report = evaluate(task, scores[~even], test, thresholds)
    for line in summary_lines(task, report):
        print(line)
    info = {"device": device, "seconds": round(train_seconds), "steps": steps_taken, "batch_size": task.batch_size,
            "learning_rate": task.learning_rate, "channels": list(task.net.channels),
            "temporal_dilations": list(task.net.temporal_dilations), "band_position": task.net.band_position,
            "bin_readout": task.net.bin_readout,
            "dropout": task.net.dropout,
            "augment": asdict(task.augment),
            "train_examples": len(train_split.feats), "validation_examples": len(val.feats), "parameters": sum(p.numel() for p in model.parameters()),
            "corpus": {"train_examples": task.train_examples, "val_examples": task.val_examples,
                       "extra_examples": task.extra_examples, "extra_variants": list(task.extra_variants),
                       "acoustic_examples": task.acoustic_examples,
                       "seconds_per_example": json.loads((a.data / "train.json").read_text())["config"]["seconds"]}}
    info["data_seed"] = a.data_seed
    manifest = write_model(task, model, thresholds, report, a.out, command, a.seed, info)
    print(f"wrote {manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
