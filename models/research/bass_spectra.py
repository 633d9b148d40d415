"""Where realdev's bass stems keep their power, beside whether a model names them (one-off research)

    python -m models.research.bass_spectra [--manifest M ...]

For each bass excerpt of ../shared/realdev (16 kHz, 2048-point frames, those within 30 dB of the
loudest): the share of its power under the front-end's lowest frequency (30 Hz: drift and rumble
the detector does not hear), and of the rest, the shares at 30-60 Hz, 60-250 Hz and above 250 Hz,
pooled over frames, with the spectral centroid of the rest; then for each manifest (default: the
shipped instrument detector) the family it hears. Ends with the mean 30-60 Hz share of the clips
each model names and of those it misses.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..evaluate_real import REALDEV, evaluate, load_mono
from ..train import MODELS_DIR, TASKS

SAMPLE_RATE, N_FFT, HOP = 16000, 2048, 1024
LOWEST_HEARD = TASKS["instrument"].front_end.fmin
BANDS = ((LOWEST_HEARD, 60.0), (60.0, 250.0), (250.0, np.inf))


def band_shares(audio: np.ndarray) -> tuple[float, list[float], float]:
    """(share of power under LOWEST_HEARD, shares of the rest in each of BANDS, centroid of the rest in Hz)."""
    frames = np.lib.stride_tricks.sliding_window_view(audio, N_FFT)[::HOP] * np.hanning(N_FFT)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    hz = np.fft.rfftfreq(N_FFT, 1 / SAMPLE_RATE)
    heard = hz >= LOWEST_HEARD
    loudness = power[:, heard].sum(axis=1)
    power = power[loudness > loudness.max() * 1e-3].sum(axis=0)
    rest = power[heard].sum()
    shares = [float(power[(hz >= lo) & (hz < hi)].sum() / rest) for lo, hi in BANDS]
    return float(power[~heard].sum() / power.sum()), shares, float((power * hz)[heard].sum() / rest)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", type=Path, action="append", default=[])
    p.add_argument("--folder", type=Path, default=REALDEV)
    a = p.parse_args(argv)
    manifests = a.manifest or [MODELS_DIR / "shipped" / "instrument.json"]
    truth = {k: v for k, v in json.loads((a.folder / "labels.json").read_text()).items() if v == "bass"}
    heard = [{r["file"]: r["predicted"] for r in evaluate(m, a.folder, truth)["rows"]} for m in manifests]
    print(f"{'clip':40s} {'<30 Hz':>7s} {'30-60':>6s} {'60-250':>7s} {'>250':>6s} {'centroid':>9s}  heard as (per manifest)")
    sub = {}
    for name in sorted(truth):
        unheard, shares, centroid = band_shares(load_mono(a.folder / name, SAMPLE_RATE))
        sub[name] = shares[0]
        print(f"{name:40s} {unheard:7.2f} {shares[0]:6.2f} {shares[1]:7.2f} {shares[2]:6.3f} {centroid:9.0f}  "
              + " ".join(h[name] for h in heard))
    for path, h in zip(manifests, heard):
        named = [sub[n] for n in truth if h[n] == "bass"]
        missed = [sub[n] for n in truth if h[n] != "bass"]
        print(f"{path}: named {len(named)}, mean 30-60 Hz share {np.mean(named) if named else float('nan'):.2f}; "
              f"missed {len(missed)}, {np.mean(missed) if missed else float('nan'):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
