"""Where realdev's bass stems keep their energy, beside whether a model names them (one-off research)

    python -m models.research.bass_spectra [--manifest M ...]

For each bass excerpt of ../shared/realdev: the share of its power (16 kHz, 2048-point frames, the
frames within 30 dB of its loudest) under 60 Hz, at 60-250 Hz and above 250 Hz, its spectral
centroid, and for each manifest (default: the shipped instrument detector) the family it is heard as.
Ends with the mean share under 60 Hz of the clips each model names and of those it misses.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from models.evaluate_real import REALDEV, evaluate, load_mono
from models.train import MODELS_DIR

SAMPLE_RATE, N_FFT, HOP = 16000, 2048, 1024
BANDS = ((0.0, 60.0), (60.0, 250.0), (250.0, SAMPLE_RATE / 2))


def band_shares(audio: np.ndarray) -> tuple[list[float], float]:
    """(power share of each of BANDS, spectral centroid in Hz), over frames within 30 dB of the loudest."""
    frames = np.lib.stride_tricks.sliding_window_view(audio, N_FFT)[::HOP] * np.hanning(N_FFT)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    hz = np.fft.rfftfreq(N_FFT, 1 / SAMPLE_RATE)
    total = power.sum(axis=1)
    loud = total > total.max() * 1e-3
    power, total = power[loud], total[loud]
    shares = [float((power[:, (hz >= lo) & (hz < hi)].sum(axis=1) / total).mean()) for lo, hi in BANDS]
    return shares, float(((power * hz).sum(axis=1) / total).mean())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", type=Path, action="append", default=[])
    p.add_argument("--folder", type=Path, default=REALDEV)
    a = p.parse_args(argv)
    manifests = a.manifest or [MODELS_DIR / "shipped" / "instrument.json"]
    truth = {k: v for k, v in json.loads((a.folder / "labels.json").read_text()).items() if v == "bass"}
    heard = [{r["file"]: r["predicted"] for r in evaluate(m, a.folder, truth)["rows"]} for m in manifests]
    print(f"{'clip':40s} {'<60 Hz':>7s} {'60-250':>7s} {'>250':>6s} {'centroid':>9s}  heard as (per manifest)")
    low = {}
    for name in sorted(truth):
        shares, centroid = band_shares(load_mono(a.folder / name, SAMPLE_RATE))
        low[name] = shares[0]
        print(f"{name:40s} {shares[0]:7.2f} {shares[1]:7.2f} {shares[2]:6.3f} {centroid:8.0f}   "
              + " ".join(h[name] for h in heard))
    for path, h in zip(manifests, heard):
        named = [low[n] for n in truth if h[n] == "bass"]
        missed = [low[n] for n in truth if h[n] != "bass"]
        print(f"{path}: named {len(named)}, mean share under 60 Hz {np.mean(named) if named else float('nan'):.2f}; "
              f"missed {len(missed)}, {np.mean(missed) if missed else float('nan'):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
