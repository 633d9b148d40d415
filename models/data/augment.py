"""Production-like augmentation of rendered stems: what a DAW user, a codec or a separator does.

- ``choose_chain`` draws a random chain as a mix engineer would set one up: trim gain, EQ, drive
  (amp-like for guitars and bass), compression, chorus/phaser, delay, reverb, then delivery damage
  (lossy codecs, other source sample rates) and noise. Which effects appear and how hard they hit
  depends on the instrument family. ``AugmentChain.apply`` runs it, ``describe`` makes a small
  JSON-ready dict of it for the labels, and ``augment`` is choose-then-apply in one call.
- ``production`` is bus processing as on finished records (drums and bass above all).
- ``bleed`` mixes a little of other stems into a stem (as separated or close-miked stems have).
- ``separation_artifacts`` imitates a source-separation model's residue: time-frequency masking
  and spectral gating that leave musical noise, and band limiting.

All outputs have the input's length, are finite, and have peak <= 1; every function is
deterministic for the numpy Generator it is given. Mono only (stereo width does not apply).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pedalboard

# in processing order
EFFECT_KINDS = ("gain", "eq", "drive", "compressor", "modulation", "delay", "reverb", "codec",
                "noise")

_DEFAULT_PROBABILITY = {"gain": 1.0, "eq": 0.6, "drive": 0.05, "compressor": 0.4,
                        "modulation": 0.1, "delay": 0.1, "reverb": 0.45, "codec": 0.2,
                        "noise": 0.25}
# per instrument family, how likely each kind of effect is (the rest as _DEFAULT_PROBABILITY)
FAMILY_PROBABILITY: dict[str, dict[str, float]] = {
    "guitar": {"drive": 0.6, "modulation": 0.3, "delay": 0.3},
    "bass": {"drive": 0.3, "compressor": 0.7, "reverb": 0.1},
    "vocals": {"compressor": 0.8, "reverb": 0.6, "delay": 0.35},
    "drums": {"drive": 0.15, "compressor": 0.7, "reverb": 0.4},
    "percussion": {"compressor": 0.4},
    "piano": {"reverb": 0.5},
    "organ": {"drive": 0.25, "modulation": 0.45},
    "synth": {"drive": 0.2, "modulation": 0.35, "delay": 0.35},
    "strings": {"reverb": 0.6},
    "brass": {"reverb": 0.55},
    "woodwinds": {"reverb": 0.55},
    "plucked": {"delay": 0.2},
}
# how hard the drive hits (dB) and which styles, per family
_DRIVE = {
    "guitar": ((10.0, 40.0), ("amp", "amp", "distortion", "clipping")),
    "bass": ((4.0, 24.0), ("amp", "distortion")),
    "drums": ((3.0, 12.0), ("clipping", "distortion")),
}
_DRIVE_DEFAULT = ((3.0, 15.0), ("distortion", "clipping"))


@dataclass(frozen=True)
class Effect:
    """One step: ``name`` is a pedalboard plugin class built with ``params``, or a noise kind."""

    kind: str  # one of EFFECT_KINDS
    name: str
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AugmentChain:
    effects: tuple[Effect, ...]
    family: str | None = None
    strength: float = 1.0

    def apply(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """Run the chain on mono ``audio``: same length, finite, peak <= 1, float32."""
        x = np.asarray(audio, dtype=np.float32)
        n = len(x)
        if n == 0:
            return x.copy()
        plugins: list = []
        for effect in self.effects:
            if effect.kind == "noise":
                x = _run(plugins, x, sample_rate)
                plugins = []
                x = x + _noise(x, sample_rate, effect.name, **effect.params)
            else:
                plugins.append(getattr(pedalboard, effect.name)(**effect.params))
        x = _run(plugins, x, sample_rate)
        return _safe(x, n)


def describe(chain: AugmentChain) -> dict:
    """A small JSON-ready record of the chain, for the labels."""
    return {"family": chain.family, "strength": chain.strength,
            "effects": [{"kind": e.kind, "name": e.name,
                         **{k: round(v, 4) if isinstance(v, float) else v
                            for k, v in e.params.items()}} for e in chain.effects]}


def augment(audio: np.ndarray, sample_rate: int, rng: np.random.Generator,
            family: str | None = None, strength: float = 1.0) -> np.ndarray:
    """``choose_chain(rng, sample_rate, family, strength).apply(audio, sample_rate)``."""
    return choose_chain(rng, sample_rate, family, strength).apply(audio, sample_rate)


def choose_chain(rng: np.random.Generator, sample_rate: int, family: str | None = None,
                 strength: float = 1.0, kinds: tuple[str, ...] = EFFECT_KINDS) -> AugmentChain:
    """A random chain for a stem of ``family`` (None: any). ``strength`` in [0, 1] scales how
    likely each effect is and how hard it hits (0: no effect at all); ``kinds`` limits which
    kinds may appear."""
    strength = float(np.clip(strength, 0.0, 1.0))
    probability = {**_DEFAULT_PROBABILITY, **FAMILY_PROBABILITY.get(family or "", {})}
    effects: list[Effect] = []
    for kind in EFFECT_KINDS:
        if kind in kinds and rng.random() < probability[kind] * strength:
            effects.extend(_CHOOSERS[kind](rng, sample_rate, family, strength))
    return AugmentChain(tuple(effects), family, strength)


def _gain(rng, sr, family, s):
    return [Effect("gain", "Gain", {"gain_db": float(rng.uniform(-12.0, 6.0) * s)})]


def _eq(rng, sr, family, s):
    """One to four filters, as a mix engineer would cut rumble, air, boxiness or boost presence."""
    nyquist = sr / 2
    top = min(8000.0, 0.4 * sr)

    def highpass():
        return Effect("eq", "HighpassFilter",
                      {"cutoff_frequency_hz": float(rng.uniform(20, 60 + 240 * s))})

    def lowpass():
        cutoff = rng.uniform(nyquist - (nyquist - 3000) * s, nyquist)
        return Effect("eq", "LowpassFilter", {"cutoff_frequency_hz": float(min(0.45 * sr, cutoff))})

    def peak():
        return Effect("eq", "PeakFilter",
                      {"cutoff_frequency_hz": float(np.exp(rng.uniform(np.log(100), np.log(top)))),
                       "gain_db": float(rng.uniform(-9, 9) * s), "q": float(rng.uniform(0.5, 3))})

    def low_shelf():
        return Effect("eq", "LowShelfFilter", {"cutoff_frequency_hz": float(rng.uniform(80, 400)),
                                               "gain_db": float(rng.uniform(-6, 6) * s)})

    def high_shelf():
        return Effect("eq", "HighShelfFilter",
                      {"cutoff_frequency_hz": float(rng.uniform(3000, min(10000, 0.4 * sr))),
                       "gain_db": float(rng.uniform(-6, 6) * s)})

    options = (highpass, lowpass, peak, low_shelf, high_shelf)
    picks = rng.choice(len(options), size=int(rng.integers(1, 5)), replace=False)
    return [options[i]() for i in sorted(picks)]


def _drive(rng, sr, family, s):
    """Clipping, a distortion pedal, or an amp: pre-EQ into drive, then a cabinet's band limit."""
    (low, high), styles = _DRIVE.get(family or "", _DRIVE_DEFAULT)
    style = styles[rng.integers(len(styles))]
    drive_db = float(low + (high - low) * rng.random() * s)
    if style == "clipping":
        return [Effect("drive", "Clipping", {"threshold_db": -drive_db / 2})]
    if style == "distortion":
        return [Effect("drive", "Distortion", {"drive_db": drive_db})]
    bass = family == "bass"
    highpass = rng.uniform(30, 60) if bass else rng.uniform(70, 150)
    cabinet = rng.uniform(1800, 4000) if bass else rng.uniform(3500, 6500)
    return [
        Effect("drive", "HighpassFilter", {"cutoff_frequency_hz": float(highpass)}),
        Effect("drive", "PeakFilter", {"cutoff_frequency_hz": float(rng.uniform(400, 1500)),
                                       "gain_db": float(rng.uniform(2, 9)), "q": 0.7}),
        Effect("drive", "Distortion", {"drive_db": drive_db}),
        Effect("drive", "LowpassFilter", {"cutoff_frequency_hz": float(min(0.45 * sr, cabinet))}),
        Effect("drive", "PeakFilter",
               {"cutoff_frequency_hz": float(min(0.4 * sr, rng.uniform(2000, 4000))),
                "gain_db": float(-rng.uniform(2, 6)), "q": 1.0}),
    ]


def _compressor(rng, sr, family, s):
    threshold = float(-rng.uniform(6, 30) * s)
    ratio = float(1 + rng.uniform(1, 9) * s)
    return [Effect("compressor", "Compressor", {"threshold_db": threshold, "ratio": ratio,
                                                "attack_ms": float(rng.uniform(1, 30)),
                                                "release_ms": float(rng.uniform(50, 300))}),
            Effect("compressor", "Gain", {"gain_db": float(-threshold * (1 - 1 / ratio) * 0.5)})]


def _modulation(rng, sr, family, s):
    if rng.random() < 0.6:
        return [Effect("modulation", "Chorus", {"rate_hz": float(rng.uniform(0.3, 3.0)),
                                                "depth": float(rng.uniform(0.1, 0.5) * s),
                                                "centre_delay_ms": float(rng.uniform(5, 15)),
                                                "feedback": float(rng.uniform(0.0, 0.3)),
                                                "mix": float(rng.uniform(0.2, 0.6) * s)})]
    return [Effect("modulation", "Phaser", {"rate_hz": float(rng.uniform(0.2, 2.0)),
                                            "depth": float(rng.uniform(0.3, 0.9)),
                                            "centre_frequency_hz": float(rng.uniform(400, 2000)),
                                            "feedback": float(rng.uniform(0.0, 0.6)),
                                            "mix": float(rng.uniform(0.3, 0.7) * s)})]


def _delay(rng, sr, family, s):
    return [Effect("delay", "Delay", {"delay_seconds": float(rng.uniform(0.06, 0.6)),
                                      "feedback": float(rng.uniform(0.05, 0.5) * s),
                                      "mix": float(rng.uniform(0.08, 0.35) * s)})]


def _reverb(rng, sr, family, s):
    return [Effect("reverb", "Reverb", {"room_size": float(rng.uniform(0.1, 0.95)),
                                        "damping": float(rng.uniform(0.2, 0.8)),
                                        "wet_level": float(rng.uniform(0.05, 0.4) * s),
                                        "dry_level": float(rng.uniform(0.6, 1.0)),
                                        "width": 1.0})]


def _codec(rng, sr, family, s):
    """An MP3 (VBR quality 0 best, 10 worst), a GSM phone line, or a lower source sample rate."""
    choice = rng.random()
    if choice < 0.45 and sr in _MP3_RATES:
        quality = min(9.5, rng.uniform(1, 4 + 5 * s))
        return [Effect("codec", "MP3Compressor", {"vbr_quality": float(quality)})]
    if choice < 0.6:
        return [Effect("codec", "GSMFullRateCompressor")]
    rates = [r for r in (8000, 11025, 16000, 22050, 32000) if r < sr] or [sr // 2]
    rate = rates[rng.integers(len(rates))]
    return [Effect("codec", "Resample", {"target_sample_rate": float(rate)})]


def _noise_effect(rng, sr, family, s):
    color = ("white", "pink", "hum")[rng.integers(3)]
    return [Effect("noise", color, {"snr_db": float(60 - rng.uniform(0, 40) * s),
                                    "seed": int(rng.integers(2 ** 31))})]


_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
_CHOOSERS = {"gain": _gain, "eq": _eq, "drive": _drive, "compressor": _compressor,
             "modulation": _modulation, "delay": _delay, "reverb": _reverb, "codec": _codec,
             "noise": _noise_effect}


def _run(plugins, x: np.ndarray, sr: int) -> np.ndarray:
    if not plugins:
        return x
    return pedalboard.Pedalboard(plugins)(x[None, :], sr)[0]


def _noise(x: np.ndarray, sr: int, color: str, snr_db: float, seed: int) -> np.ndarray:
    """``color`` noise ``snr_db`` below the signal's RMS (below -60 dBFS for silence)."""
    rng = np.random.default_rng(seed)
    n = len(x)
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if n else 0.0
    level = max(rms, 1e-3) * 10 ** (-snr_db / 20)
    shape = {"white": _white, "pink": _pink, "hum": _hum}[color]
    return (level * shape(n, sr, rng)).astype(np.float32)


def _white(n, sr, rng):
    return rng.standard_normal(n)


def _pink(n, sr, rng):
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    pink = np.fft.irfft(spectrum / np.sqrt(np.maximum(f, 20.0)), n)
    return pink / (np.sqrt(np.mean(pink ** 2)) + 1e-12)


def _hum(n, sr, rng):
    base = (50.0, 60.0)[rng.integers(2)]
    t = np.arange(n) / sr
    hum = sum(rng.uniform(0.2, 1.0) / k * np.sin(2 * np.pi * base * k * t + rng.uniform(0, 6.3))
              for k in range(1, 6) if base * k < sr / 2)
    return hum / (np.sqrt(np.mean(hum ** 2)) + 1e-12)


def _safe(x: np.ndarray, n: int) -> np.ndarray:
    """``x`` at length ``n`` (cut or zero-padded), finite, scaled down if its peak exceeds 1."""
    x = np.nan_to_num(np.asarray(x, dtype=np.float32)[:n], nan=0.0, posinf=0.0, neginf=0.0)
    if len(x) < n:
        x = np.concatenate([x, np.zeros(n - len(x), np.float32)])
    peak = float(np.max(np.abs(x))) if n else 0.0
    return x / peak if peak > 1.0 else x


def production(audio: np.ndarray, sample_rate: int, rng: np.random.Generator,
               family: str | None = None, strength: float = 1.0) -> np.ndarray:
    """Bus processing as on finished records, above all on drums and bass: for drums parallel
    ("New York") compression, tone-shaping EQ (kick weight, box cut, air), saturation, a short
    room and a limiter; for bass a compressor, saturation, a low-pass and a limiter; for other
    families a compressor and a limiter. Same length, finite, peak <= 1."""
    x = np.asarray(audio, dtype=np.float32)
    n = len(x)
    if n == 0:
        return x.copy()
    s = float(np.clip(strength, 0.0, 1.0))
    P = pedalboard
    if family == "drums":
        squash = _run([P.Compressor(threshold_db=float(-rng.uniform(20, 40) * s), ratio=float(rng.uniform(4, 20)),
                                    attack_ms=float(rng.uniform(0.5, 10)), release_ms=float(rng.uniform(40, 200)))],
                      x, sample_rate)
        peak_x, peak_s = float(np.max(np.abs(x))), float(np.max(np.abs(squash)))
        if peak_s > 1e-6:
            x = x + float(rng.uniform(0.3, 1.0) * s) * squash * (peak_x / peak_s)
        chain = [P.LowShelfFilter(cutoff_frequency_hz=float(rng.uniform(60, 120)), gain_db=float(rng.uniform(0, 9) * s)),
                 P.PeakFilter(cutoff_frequency_hz=float(rng.uniform(300, 700)), gain_db=float(-rng.uniform(0, 8) * s),
                              q=float(rng.uniform(0.7, 2.0))),
                 P.HighShelfFilter(cutoff_frequency_hz=float(rng.uniform(3500, min(7000, 0.42 * sample_rate))),
                                   gain_db=float(rng.uniform(-2, 8) * s))]
        if rng.random() < 0.5:
            chain.append(P.Distortion(drive_db=float(rng.uniform(2, 12) * s)) if rng.random() < 0.5
                         else P.Clipping(threshold_db=float(-rng.uniform(1, 10) * s)))
        if rng.random() < 0.4:
            chain.append(P.Reverb(room_size=float(rng.uniform(0.05, 0.4)), damping=float(rng.uniform(0.3, 0.8)),
                                  wet_level=float(rng.uniform(0.05, 0.3) * s), dry_level=1.0, width=1.0))
    elif family == "bass":
        chain = [P.HighpassFilter(cutoff_frequency_hz=float(rng.uniform(25, 50))),
                 P.Compressor(threshold_db=float(-rng.uniform(10, 30) * s), ratio=float(rng.uniform(3, 10)),
                              attack_ms=float(rng.uniform(2, 30)), release_ms=float(rng.uniform(50, 250)))]
        if rng.random() < 0.5:
            chain.append(P.Distortion(drive_db=float(rng.uniform(3, 18) * s)))
        if rng.random() < 0.4:
            chain.append(P.LowpassFilter(cutoff_frequency_hz=float(min(0.45 * sample_rate, rng.uniform(1200, 5000)))))
    else:
        chain = [P.Compressor(threshold_db=float(-rng.uniform(6, 24) * s), ratio=float(rng.uniform(2, 6)),
                              attack_ms=float(rng.uniform(1, 30)), release_ms=float(rng.uniform(50, 300)))]
    x = _run(chain, x, sample_rate)
    peak = float(np.max(np.abs(x)))
    if peak > 1e-6:
        x = x / peak
        x = _run([P.Gain(gain_db=float(rng.uniform(0, 8) * s)), P.Limiter(threshold_db=-1.0)], x, sample_rate)
    return _safe(x, n)


def bleed(target: np.ndarray, others: list[np.ndarray], rng: np.random.Generator,
          level_db: float | None = None) -> np.ndarray:
    """``target`` plus each of ``others`` scaled by ``level_db`` (drawn per stem from -40 to
    -18 dB when None), cut or zero-padded to the target's length; scaled down if peak > 1."""
    out = np.asarray(target, dtype=np.float64).copy()
    n = len(out)
    for other in others:
        gain = 10 ** ((rng.uniform(-40.0, -18.0) if level_db is None else level_db) / 20)
        other = np.asarray(other, dtype=np.float64)[:n]
        out[:len(other)] += gain * other
    return _safe(out, n)


def separation_artifacts(audio: np.ndarray, sample_rate: int, rng: np.random.Generator,
                         strength: float = 1.0) -> np.ndarray:
    """``audio`` as a source-separation model might return it: a smooth random time-frequency
    mask (leakage suppression), spectral gating of weak bins with random survivors (musical
    noise), and sometimes a band limit. ``strength`` 0 leaves it unchanged."""
    x = np.asarray(audio, dtype=np.float64)
    n = len(x)
    if n == 0:
        return x.astype(np.float32)
    n_fft = int(2 ** np.round(np.log2(0.046 * sample_rate)))
    hop = n_fft // 4
    spec = _stft(x, n_fft, hop)
    frames, bins = spec.shape
    magnitude = np.abs(spec)
    # smooth mask: random gains on a coarse grid (about 90 ms x 10 log-spaced bands), interpolated
    coarse = rng.uniform(1 - 0.6 * strength, 1.0, (frames // 8 + 2, 10))
    rows = np.linspace(0, coarse.shape[0] - 1, frames)
    cols = (coarse.shape[1] - 1) * np.log1p(np.arange(bins)) / np.log(bins)
    grid_rows = np.array([np.interp(rows, np.arange(coarse.shape[0]), coarse[:, c])
                          for c in range(coarse.shape[1])]).T
    mask = np.array([np.interp(cols, np.arange(coarse.shape[1]), row) for row in grid_rows])
    # spectral gating: bins well below their frame's level are cut, a random few survive
    level = np.median(magnitude, axis=1, keepdims=True) + 1e-9
    threshold = level * 10 ** (rng.uniform(0, 12) * strength / 20)
    weak = magnitude < threshold * strength
    survivors = rng.random(magnitude.shape) < 0.15
    mask = np.where(weak & ~survivors, mask * (1 - 0.9 * strength), mask)
    if rng.random() < 0.4 * strength:  # band limit, as models trained on band-limited data do
        cutoff = rng.uniform(0.35, 0.48) * sample_rate
        f = np.fft.rfftfreq(n_fft, 1 / sample_rate)
        mask *= 1 / (1 + (f / cutoff) ** 16)
    return _safe(_istft(spec * mask, n_fft, hop, n), n)


def _stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    padded = np.concatenate([np.zeros(n_fft), x, np.zeros(n_fft + hop)])
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    return np.fft.rfft(frames * np.hanning(n_fft + 1)[:-1], axis=1)


def _istft(spec: np.ndarray, n_fft: int, hop: int, n: int) -> np.ndarray:
    window = np.hanning(n_fft + 1)[:-1]
    frames = np.fft.irfft(spec, n_fft, axis=1) * window
    length = (len(frames) - 1) * hop + n_fft
    out, norm = np.zeros(length), np.zeros(length)
    for i, frame in enumerate(frames):
        out[i * hop:i * hop + n_fft] += frame
        norm[i * hop:i * hop + n_fft] += window ** 2
    out /= np.maximum(norm, 1e-8)
    return out[n_fft:n_fft + n]
