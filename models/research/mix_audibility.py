"""Are the misses on mixes masked stems whose labels stay on, or model misses? (one-off research)

    python -m models.research.mix_audibility --data /work/data/corpus-big [--manifest M] [--examples 48]

1. The model's frame recall per stem of the held-out MuseScore_General mixes of 2 to 6 stems
   (validation shards in --data), by the stem's gain below the loudest stem of its mix (only
   stems whose family no other stem of the mix shares), and its false-positive frame rate on
   families absent from a mix.
2. For the first --examples validation examples, rendered afresh (the generator is deterministic,
   and the stems are caught as `_finish` mixes them), the share of a mixed stem's labelled frames
   where it is audible: in some of 24 log-spaced bands (50 Hz to 8 kHz, 10 ms frames) its energy
   is above its own loudest band-frame less 60 dB and within W dB of the other stems' together (W = 12, 0 and -6: -6 means it dominates that band
   by 6 dB).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

from models.data import augment, corpus
from models.evaluate_real import activations
from models.train import MODELS_DIR

GAIN_BINS = ((-3.0, 0.1), (-7.0, -3.0), (-10.0, -7.0), (-14.1, -10.0))


def _relative_gains(meta: dict) -> list[tuple[int, str, float]]:
    """(stem index, family, dB below the loudest stem) for stems alone in their family."""
    gains = [20 * np.log10(max(s["gain"], 1e-6)) for s in meta["stems"]]
    families = [s["family"] for s in meta["stems"]]
    return [(k, f, g - max(gains)) for k, (f, g) in enumerate(zip(families, gains)) if families.count(f) == 1]


def model_recall(data: Path, manifest_path: Path) -> None:
    manifest = json.loads(manifest_path.read_text())
    session = ort.InferenceSession(str(manifest_path.parent / manifest["file"]), providers=["CPUExecutionProvider"])
    families = corpus.FAMILIES
    thresholds = np.array([label["threshold"] for label in manifest["labels"][: len(families)]])
    ratio = round(manifest["hop_seconds"] / corpus.LABEL_HOP)
    recalls, false_rates = [], {f: [] for f in families}
    for shard in sorted(data.glob("validation-*.npz")):
        with np.load(shard) as d:
            metas, audio, labels = json.loads(str(d["meta"])), d["audio"], d["family"]
        for meta, clip, lab in zip(metas, audio, labels):
            if not meta["is_mix"] or not 2 <= len(meta["stems"]) <= 6:
                continue
            act = activations(session, manifest, clip.astype(np.float32) / 32768)[:, : len(families)]
            n = min(len(act), len(lab) // ratio)
            truth = lab[: n * ratio].reshape(n, ratio, -1).mean(axis=1) >= 0.5
            said = act[:n] >= thresholds
            for _, family, rel in _relative_gains(meta):
                on = truth[:, families.index(family)]
                if on.sum() >= 5:
                    recalls.append((rel, said[on, families.index(family)].mean()))
            for j, family in enumerate(families):
                if not truth[:, j].any():
                    false_rates[family].append(said[:, j].mean())
    r = np.array(recalls)
    print(f"1. {manifest_path}: frame recall of {len(r)} mixed stems by gain below the loudest stem")
    for lo, hi in GAIN_BINS:
        m = (r[:, 0] > lo) & (r[:, 0] <= hi)
        print(f"   ({lo:g}, {min(hi, 0):g}] dB: {m.sum()} stems, recall {r[m, 1].mean():.3f}")
    rates = {f: float(np.mean(v)) for f, v in false_rates.items() if v}
    print(f"   false-positive frame rate on absent families: {np.mean([x for v in false_rates.values() for x in v]):.3f}; "
          + ", ".join(f"{f} {v:.2f}" for f, v in sorted(rates.items(), key=lambda kv: -kv[1])[:5]))


def _band_energies(audio: np.ndarray, frames: int, n_fft: int = 512, bands: int = 24) -> np.ndarray:
    hop = round(corpus.LABEL_HOP * corpus.SAMPLE_RATE)
    padded = np.pad(audio, (n_fft // 2, n_fft + frames * hop))
    frames_audio = padded[(np.arange(frames) * hop)[:, None] + np.arange(n_fft)] * np.hanning(n_fft)
    power = np.abs(np.fft.rfft(frames_audio, axis=1)) ** 2
    edges = np.geomspace(50.0, corpus.SAMPLE_RATE / 2, bands + 1)
    band = np.clip(np.searchsorted(edges, np.fft.rfftfreq(n_fft, 1 / corpus.SAMPLE_RATE), side="right") - 1, 0, bands - 1)
    out = np.zeros((frames, bands))
    np.add.at(out.T, band, power.T)
    return out


def label_audibility(examples: int) -> None:
    caught: list[np.ndarray] = []  # each stem's audio as _finish has processed it, before its gain
    real_apply, real_production = augment.AugmentChain.apply, corpus.production

    def apply(chain, audio, rate):
        caught.append(real_apply(chain, audio, rate))
        return caught[-1]

    def production(audio, *args, **kwargs):
        caught[-1] = real_production(audio, *args, **kwargs)
        return caught[-1]

    augment.AugmentChain.apply, corpus.production = apply, production
    rows = {w: [] for w in (12.0, 0.0, -6.0)}
    try:
        for index in range(examples):
            caught.clear()
            example = corpus.make_example(1001, index, "validation")
            meta = example.meta
            if not meta["is_mix"]:
                continue
            stems = [a for a in caught if np.max(np.abs(a)) >= 1e-4]  # _finish drops silent stems
            assert len(stems) == len(meta["stems"])
            frames = len(example.family)
            energies = [_band_energies(s["gain"] * a / np.max(np.abs(a)), frames) for s, a in zip(meta["stems"], stems)]
            total = np.sum(energies, axis=0)
            for k, family, rel in _relative_gains(meta):
                on = example.family[:, corpus.FAMILIES.index(family)].astype(bool)
                if on.sum() < 10:
                    continue
                e = energies[k][on]
                sounding = e > energies[k].max() * 1e-6  # bands above the stem's loudest less 60 dB
                for w in rows:
                    heard = ((e >= (total[on] - e) * 10 ** (-w / 10)) & sounding).any(axis=1)
                    rows[w].append((rel, heard.mean()))
    finally:
        augment.AugmentChain.apply, corpus.production = real_apply, real_production
    print(f"2. labelled frames of mixed stems that are audible (first {examples} validation examples)")
    for w, r in rows.items():
        r = np.array(r)
        cells = [f"({lo:g}, {min(hi, 0):g}] dB {r[(r[:, 0] > lo) & (r[:, 0] <= hi), 1].mean():.2f}" for lo, hi in GAIN_BINS]
        print(f"   within {w:g} dB of the rest in some band: " + "; ".join(cells))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="a corpus folder with validation shards")
    p.add_argument("--manifest", type=Path, default=MODELS_DIR / "shipped" / "instrument.json")
    p.add_argument("--examples", type=int, default=48)
    a = p.parse_args(argv)
    model_recall(a.data, a.manifest)
    label_audibility(a.examples)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
