"""Procedural acoustic instruments: plucked strings (Karplus-Strong), struck strings (a piano of
inharmonic partials), tines and struck bars (modal synthesis). Each stem draws its own instrument
(string damping, brightness, pluck and pickup position, body, inharmonicity, bar tuning, mallet
hardness), so the detector hears guitars, basses, harps, banjos, pianos and mallets that no
soundfont made. The corpus's `acoustic` split plays them (`corpus._plan_acoustic`).

A note's label lasts from its onset until its sound has fallen RELEASE_DB below its start: a
plucked or struck note that dies away while its key is still held is no longer labelled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pedalboard

from .synths import Rendered, midi_hz

RELEASE_DB = 40.0
PLUCKED = ("acoustic_guitar", "clean_electric_guitar", "distorted_guitar", "electric_bass", "double_bass",
           "harp", "banjo")
STRUCK = ("acoustic_piano", "electric_piano", "mallets")
LABELS = PLUCKED + STRUCK
# Bar modes (frequency ratios to the fundamental) of the mallet instruments and their decay (T60, s).
_BARS = {"marimba": ((1.0, 3.93, 9.54), (0.5, 1.5)), "vibraphone": ((1.0, 4.0, 10.0), (2.0, 5.0)),
         "xylophone": ((1.0, 3.0, 6.1), (0.3, 0.8)), "glockenspiel": ((1.0, 2.76, 5.40, 8.93), (1.5, 4.0))}


@dataclass(frozen=True)
class Instrument:
    """One stem's instrument: what it is and the physical parameters all its notes share."""

    label: str
    name: str
    t60: float  # seconds for a note at 110 Hz to fall 60 dB (higher notes die sooner)
    brightness: float  # 0 dark .. 1 bright
    position: float  # pluck, hammer or pickup position along the string (fraction)
    damp: float  # seconds a released note takes to fall 60 dB
    inharmonicity: float = 0.0  # piano strings' B
    ratios: tuple[float, ...] = ()  # modal instruments' partial ratios
    drive_db: float = 0.0
    body: tuple[tuple[float, float, float], ...] = ()  # (Hz, dB, Q) resonances


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def random_instrument(label: str, rng: np.random.Generator) -> Instrument:
    """A new instrument for `label` (one of LABELS)."""
    if label not in LABELS:
        raise ValueError(f"no procedural instrument for {label!r}; expected one of {LABELS}")
    if label == "acoustic_guitar":
        body = ((_u(rng, 90, 115), _u(rng, 4, 9), 2.0), (_u(rng, 180, 230), _u(rng, 3, 7), 2.5),
                (_u(rng, 380, 520), _u(rng, 2, 5), 3.0))
        return Instrument(label, "ks-acoustic-guitar", _u(rng, 2.0, 5.0), _u(rng, 0.5, 0.9), _u(rng, 0.08, 0.25),
                          _u(rng, 0.08, 0.3), body=body)
    if label in ("clean_electric_guitar", "distorted_guitar"):
        drive = _u(rng, 18, 36) if label == "distorted_guitar" else 0.0
        return Instrument(label, "ks-" + label.replace("_", "-"), _u(rng, 2.0, 6.0), _u(rng, 0.4, 0.85),
                          _u(rng, 0.06, 0.25), _u(rng, 0.05, 0.2), drive_db=drive,
                          body=((_u(rng, 1500, 3000), _u(rng, 2, 6), 1.0),))
    if label == "electric_bass":
        return Instrument(label, "ks-electric-bass", _u(rng, 2.0, 5.0), _u(rng, 0.2, 0.7), _u(rng, 0.08, 0.3),
                          _u(rng, 0.05, 0.15), body=((_u(rng, 600, 1200), _u(rng, -4, 4), 1.0),))
    if label == "double_bass":
        return Instrument(label, "ks-double-bass", _u(rng, 0.8, 2.0), _u(rng, 0.1, 0.4), _u(rng, 0.15, 0.35),
                          _u(rng, 0.1, 0.3), body=((_u(rng, 70, 110), _u(rng, 4, 9), 1.5),
                                                   (_u(rng, 180, 300), _u(rng, 2, 6), 2.0)))
    if label == "harp":
        return Instrument(label, "ks-harp", _u(rng, 3.0, 7.0), _u(rng, 0.3, 0.7), _u(rng, 0.3, 0.5),
                          _u(rng, 0.5, 2.0), body=((_u(rng, 150, 300), _u(rng, 2, 5), 1.0),))
    if label == "banjo":
        return Instrument(label, "ks-banjo", _u(rng, 0.6, 1.4), _u(rng, 0.8, 1.0), _u(rng, 0.05, 0.15),
                          _u(rng, 0.05, 0.15), body=((_u(rng, 500, 1100), _u(rng, 6, 12), 1.5),))
    if label == "acoustic_piano":
        return Instrument(label, "additive-piano", _u(rng, 10.0, 25.0), _u(rng, 0.3, 0.9), _u(rng, 1 / 9, 1 / 7),
                          _u(rng, 0.1, 0.35), inharmonicity=float(10 ** rng.uniform(-4.3, -3.3)))
    if label == "electric_piano":
        return Instrument(label, "modal-tine-piano", _u(rng, 4.0, 9.0), _u(rng, 0.2, 0.8), _u(rng, 0.0, 0.4),
                          _u(rng, 0.1, 0.3), ratios=(1.0, _u(rng, 5.5, 7.5)))
    bar = list(_BARS)[int(rng.integers(len(_BARS)))]
    ratios, (lo, hi) = _BARS[bar]
    return Instrument(label, f"modal-{bar}", _u(rng, lo, hi), _u(rng, 0.2, 1.0), 0.0, _u(rng, 0.05, 0.2),
                      ratios=ratios)


def _t60(instrument: Instrument, f0: float) -> float:
    return instrument.t60 * (110.0 / f0) ** 0.5


def _pluck(instrument: Instrument, f0: float, velocity: float, samples: int, sample_rate: int,
           rng: np.random.Generator) -> np.ndarray:
    """Karplus-Strong: a noise burst circulating in a delay line of one period, averaged (damped)
    each pass. Rendered at the rate where the loop (delay line and averaging filter) is one period
    long, then resampled."""
    mix = 0.5 - 0.45 * instrument.brightness  # weight of the older sample in the averaging filter
    period = max(2, int(round(sample_rate / f0 - mix)))
    rate = (period + mix) * f0  # the averaging filter delays by `mix` samples too
    length = int(np.ceil(samples * rate / sample_rate)) + 1
    loud = velocity / 127
    burst = rng.uniform(-1, 1, period)
    smooth = 1.0 - 0.85 * (instrument.brightness * (0.5 + 0.5 * loud))  # duller excitation when soft
    for k in range(1, period):
        burst[k] = (1 - smooth) * burst[k] + smooth * burst[k - 1]
    pluck_at = max(1, int(round(instrument.position * period)))
    burst = burst - np.roll(burst, pluck_at)  # the comb of the plucking point
    loss = 10 ** (-3 / (_t60(instrument, f0) * f0))  # per period
    y = np.zeros(length + period + 1)
    y[1:period + 1] = burst
    for start in range(period + 1, length + 1, period):
        end = min(start + period, length + 1)
        y[start:end] = loss * ((1 - mix) * y[start - period:end - period] + mix * y[start - period - 1:end - period - 1])
    y = y[1:length + 1]
    if instrument.label in ("clean_electric_guitar", "distorted_guitar", "electric_bass"):
        y = y - np.roll(y, max(1, int(round(instrument.position * period))))  # the pickup's comb
    out = np.interp(np.arange(samples) * (rate / sample_rate), np.arange(length), y)
    return out * loud


def _partials(instrument: Instrument, f0: float, velocity: float, samples: int, sample_rate: int,
              rng: np.random.Generator) -> np.ndarray:
    """Struck strings (piano: inharmonic partials, two or three detuned strings, two-stage decay,
    hammer noise) and struck tines and bars (a few modes, the upper ones dying sooner)."""
    t = np.arange(samples) / sample_rate
    loud = velocity / 127
    t60 = _t60(instrument, f0)
    out = np.zeros(samples)
    if instrument.label == "acoustic_piano":
        count = int(min(24, (0.45 * sample_rate) // f0))
        k = np.arange(1, count + 1)
        freqs = k * f0 * np.sqrt(1 + instrument.inharmonicity * k ** 2)
        tilt = 2.4 - 1.4 * loud * instrument.brightness
        amps = np.abs(np.sin(np.pi * k * instrument.position)) / k ** tilt
        decays = t60 / (1 + 0.15 * (k - 1))
        strings = 1 if f0 < 60 else 2 if f0 < 200 else 3
        envelopes = [a * (0.75 * np.exp(-6.9 * t / (0.25 * d)) + 0.25 * np.exp(-6.9 * t / d))
                     for a, d in zip(amps, decays)]  # the same for every string of the note
        for _ in range(strings):
            detune = 2 ** (rng.uniform(-1.5, 1.5) / 1200) if strings > 1 else 1.0
            phases = rng.uniform(0, 2 * np.pi, count)
            for f, envelope, p in zip(freqs * detune, envelopes, phases):
                if f >= 0.48 * sample_rate:
                    break
                out += envelope * np.sin(2 * np.pi * f * t + p)
        out /= strings
        hammer = rng.standard_normal(min(samples, int(0.02 * sample_rate))) * 0.05 * loud
        out[:len(hammer)] += hammer * np.exp(-np.arange(len(hammer)) / (0.004 * sample_rate))
    else:
        for m, ratio in enumerate(instrument.ratios):
            f = ratio * f0
            if f >= 0.48 * sample_rate:
                break
            a = 1.0 if m == 0 else (0.6 * instrument.brightness * loud) / m
            out += a * np.exp(-6.9 * t / (t60 / (1 + 2.5 * m))) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
        if instrument.label == "electric_piano":  # the pickup's asymmetry: even harmonics with level
            out = out + instrument.position * loud * out ** 2
    return out * loud


def _sounding_seconds(note: np.ndarray, sample_rate: int) -> float:
    """How long a note stays within RELEASE_DB of its loudest 10 ms."""
    block = max(1, sample_rate // 100)
    blocks = len(note) // block
    if blocks == 0:
        return len(note) / sample_rate
    envelope = np.abs(note[:blocks * block]).reshape(blocks, block).max(axis=1)
    loud = np.flatnonzero(envelope >= envelope.max() * 10 ** (-RELEASE_DB / 20))
    return float((loud[-1] + 1) * block / sample_rate)


def play(label: str, notes, duration: float, sample_rate: int, rng: np.random.Generator,
         instrument: Instrument | None = None) -> Rendered:
    """Render notes [(start, end, pitch, velocity)] for `duration` seconds on `instrument`, or on a
    new one for `label`."""
    instrument = instrument or random_instrument(label, rng)
    n = round(duration * sample_rate)
    render = _pluck if label in PLUCKED else _partials
    placed = []  # (onset sample, the note's samples)
    for start, end, pitch, velocity in notes:
        start = max(0.0, float(start))
        if end <= start or start >= duration:
            continue
        f0 = midi_hz(float(pitch))
        a = round(start * sample_rate)
        held = min(float(end), duration) - start
        total = min(n - a, int(np.ceil(min(held + instrument.damp, _t60(instrument, f0)) * sample_rate)) + 1)
        note = render(instrument, f0, float(velocity), total, sample_rate, rng)
        t = np.arange(total) / sample_rate
        released = t > held
        note[released] *= 10 ** (-3 * (t[released] - held) / instrument.damp)  # the damper or the hand
        placed.append((a, note))
    out = np.zeros(n)
    for a, note in placed:
        out[a:a + len(note)] += note
    board = pedalboard.Pedalboard([pedalboard.PeakFilter(cutoff_frequency_hz=hz, gain_db=db, q=q)
                                   for hz, db, q in instrument.body])
    if instrument.drive_db:
        board.append(pedalboard.Distortion(drive_db=instrument.drive_db))
        board.append(pedalboard.LowpassFilter(cutoff_frequency_hz=float(rng.uniform(3000, 5500))))
    level = 1 / max(float(np.max(np.abs(out))), 1e-9)  # drive acts on the part at full scale

    def processed(x: np.ndarray) -> np.ndarray:
        return board((x * level).astype(np.float32), sample_rate).astype(np.float64)

    out = processed(out)
    # Each label ends when its note, through the same body and drive, has fallen RELEASE_DB.
    spans = [(a / sample_rate, float(min(a / sample_rate + _sounding_seconds(processed(note), sample_rate), duration)))
             for a, note in placed]
    peak = float(np.max(np.abs(out)))
    audio = (out * (0.5 / peak) if peak > 0 else out).astype(np.float32)
    return Rendered(audio, spans, [], instrument.name)
