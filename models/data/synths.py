"""Procedural synthesisers for the synth, organ and synth-bass labels.

Two GM soundfonts hold only a few dozen synth and organ presets between them, and a detector
trained on those alone hears other synths (MuseScore_General's, and real records') as strings or
organs. These voices draw a new patch for every part, so the model meets synths as a family of
sounds rather than a handful of recordings:

- subtractive leads, pads and basses: band-limited saw, square, pulse, triangle and sine
  oscillators (summed harmonics, so nothing aliases), unison voices with detune, a resonant
  low-pass filter with key tracking, its own envelope and an LFO, an amplitude envelope, drive;
- two-operator FM leads;
- organs: tonewheel drawbars with key click, percussion, rotary speaker and drive; pipe-organ
  stops (principal, flute, reed, mixtures) with chiff; combo organs (square and pulse stops with
  vibrato).

Labels are exact: a note sounds from its note-on to its note-off plus the time its release takes
to fall 40 dB (the rule the GM renders follow). Everything is decided by the rng passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LABELS = ("synth_lead", "synth_pad", "synth_bass", "organ")
_RELEASE_DB = 40.0  # a note's label ends when its release has fallen this far
_TAIL_DB = 70.0  # and its audio when it has fallen this far
_MAX_HARMONICS = 96


def midi_hz(pitch: float) -> float:
    return 440.0 * 2 ** ((pitch - 69) / 12)


@dataclass(frozen=True)
class Envelope:
    """Attack (linear), decay to the sustain level and release (exponential, `release` seconds
    to fall 40 dB), all in seconds."""
    attack: float
    decay: float
    sustain: float
    release: float

    def render(self, held: int, total: int, sample_rate: int) -> np.ndarray:
        t = np.arange(total) / sample_rate
        attack = max(self.attack, 1e-3)
        rate = np.log(10 ** (_RELEASE_DB / 20)) / max(self.decay, 1e-3)
        on = np.where(t < attack, t / attack,
                      self.sustain + (1 - self.sustain) * np.exp(-rate * np.maximum(t - attack, 0)))
        level_at_off = on[min(held, total) - 1]
        fall = np.log(10 ** (_RELEASE_DB / 20)) / max(self.release, 1e-3)
        off = level_at_off * np.exp(-fall * (t - held / sample_rate))
        return np.where(np.arange(total) < held, on, off)

    def tail(self) -> float:
        """Seconds of audio after the note-off."""
        return self.release * _TAIL_DB / _RELEASE_DB


# Harmonic amplitudes (k = 1..K) of the oscillator shapes.
def _shape_harmonics(shape: str, k: np.ndarray, pulse_width: float = 0.5) -> np.ndarray:
    if shape == "saw":
        return 1.0 / k
    if shape == "square":
        return np.where(k % 2 == 1, 1.0 / k, 0.0)
    if shape == "pulse":
        return np.sin(np.pi * k * pulse_width) / k
    if shape == "triangle":
        return np.where(k % 2 == 1, (-1.0) ** ((k - 1) // 2) / k ** 2, 0.0)
    if shape == "sine":
        return (k == 1).astype(float)
    raise ValueError(f"unknown oscillator shape {shape!r}")


@dataclass(frozen=True)
class Oscillator:
    shape: str
    level: float
    ratio: float = 1.0  # frequency multiple of the note (0.5: an octave down)
    pulse_width: float = 0.5


@dataclass(frozen=True)
class Patch:
    """One subtractive or FM voice, as a synth preset would hold it."""
    name: str
    oscillators: tuple[Oscillator, ...]
    amp: Envelope
    unison: int = 1
    spread_cents: float = 0.0
    cutoff_hz: float = 4000.0  # at the note's pitch 60 before key tracking and envelope
    key_tracking: float = 0.5  # 1: the cutoff follows the pitch
    resonance: float = 0.7  # filter Q
    poles: int = 2  # 2 or 4 (12 or 24 dB per octave)
    filter_env: Envelope = Envelope(0.001, 0.3, 0.0, 0.2)
    filter_octaves: float = 0.0  # envelope depth
    lfo_hz: float = 0.0
    lfo_cents: float = 0.0  # pitch vibrato
    lfo_delay: float = 0.0
    lfo_filter_octaves: float = 0.0
    fm_ratio: float = 0.0  # > 0: a two-operator FM voice (oscillators ignored)
    fm_index: float = 0.0
    fm_index_decay: float = 0.5  # time constant (s) of the index's fall to 40% of its peak
    drive: float = 0.0


@dataclass(frozen=True)
class Organ:
    name: str
    kind: str  # "tonewheel", "pipe" or "combo"
    partials: tuple[tuple[float, float], ...]  # (frequency ratio, level)
    amp: Envelope
    click: float = 0.0
    percussion: tuple[float, float, float] = (0.0, 0.0, 0.0)  # (ratio, level, decay seconds)
    chiff: float = 0.0
    rotary_hz: float = 0.0
    rotary_depth: float = 0.0
    vibrato_hz: float = 0.0
    vibrato_cents: float = 0.0
    drive: float = 0.0
    detune_cents: float = 0.0  # per-note random detune (pipes)


@dataclass
class Rendered:
    audio: np.ndarray  # float32 mono
    note_spans: list[tuple[float, float]]
    technique_spans: list[tuple[float, float, str]] = field(default_factory=list)
    patch: str = ""


# ---- patches ------------------------------------------------------------------------------------
def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _oscillators(rng: np.random.Generator, shapes: tuple[str, ...], ratios: tuple[float, ...]) -> tuple[Oscillator, ...]:
    count = int(rng.integers(1, 3))
    oscs = [Oscillator(str(rng.choice(shapes)), 1.0, 1.0, float(rng.uniform(0.1, 0.5)))]
    if count == 2:
        oscs.append(Oscillator(str(rng.choice(shapes)), float(rng.uniform(0.3, 1.0)),
                               float(rng.choice(ratios)) * 2 ** (rng.uniform(-12, 12) / 1200),
                               float(rng.uniform(0.1, 0.5))))
    return tuple(oscs)


def random_patch(label: str, rng: np.random.Generator) -> Patch | Organ:
    """A new preset for one of LABELS."""
    if label == "organ":
        return _random_organ(rng)
    if label == "synth_lead":
        if rng.random() < 0.25:
            return Patch("fm lead", (), Envelope(_log_uniform(rng, 0.002, 0.04), _log_uniform(rng, 0.1, 1.0),
                                                 float(rng.uniform(0.4, 1.0)), _log_uniform(rng, 0.05, 0.5)),
                         fm_ratio=float(rng.choice([1.0, 2.0, 3.0, 0.5])), fm_index=float(rng.uniform(0.5, 3.0)),
                         fm_index_decay=_log_uniform(rng, 0.1, 2.0),
                         lfo_hz=float(rng.uniform(4, 7)) if rng.random() < 0.5 else 0.0,
                         lfo_cents=float(rng.uniform(10, 40)), lfo_delay=float(rng.uniform(0.1, 0.4)))
        unison = int(rng.choice([1, 1, 2, 3]))
        return Patch("subtractive lead", _oscillators(rng, ("saw", "square", "pulse", "triangle", "saw"), (1.0, 2.0, 0.5, 1.5)),
                     Envelope(_log_uniform(rng, 0.002, 0.05), _log_uniform(rng, 0.1, 1.0), float(rng.uniform(0.5, 1.0)),
                              _log_uniform(rng, 0.05, 0.5)),
                     unison=unison, spread_cents=float(rng.uniform(4, 20)) if unison > 1 else 0.0,
                     cutoff_hz=_log_uniform(rng, 800, 8000), key_tracking=float(rng.uniform(0.3, 1.0)),
                     resonance=_log_uniform(rng, 0.6, 5.0), poles=int(rng.choice([2, 4])),
                     filter_env=Envelope(0.001, _log_uniform(rng, 0.05, 0.8), 0.0, 0.2),
                     filter_octaves=float(rng.uniform(0, 2.5)),
                     lfo_hz=float(rng.uniform(4, 7)) if rng.random() < 0.5 else 0.0,
                     lfo_cents=float(rng.uniform(10, 40)), lfo_delay=float(rng.uniform(0.1, 0.4)),
                     drive=float(rng.uniform(1, 4)) if rng.random() < 0.3 else 0.0)
    if label == "synth_pad":
        unison = int(rng.integers(2, 7))
        return Patch("pad", _oscillators(rng, ("saw", "pulse", "square", "triangle", "saw"), (1.0, 2.0, 0.5)),
                     Envelope(_log_uniform(rng, 0.08, 1.2), _log_uniform(rng, 0.3, 2.0), float(rng.uniform(0.6, 1.0)),
                              _log_uniform(rng, 0.4, 2.5)),
                     unison=unison, spread_cents=float(rng.uniform(6, 30)),
                     cutoff_hz=_log_uniform(rng, 500, 5000), key_tracking=float(rng.uniform(0.0, 0.7)),
                     resonance=_log_uniform(rng, 0.6, 3.0), poles=int(rng.choice([2, 4])),
                     filter_env=Envelope(_log_uniform(rng, 0.1, 1.5), _log_uniform(rng, 0.5, 3.0), 0.3, 1.0),
                     filter_octaves=float(rng.uniform(0, 1.5)),
                     lfo_hz=_log_uniform(rng, 0.08, 0.6), lfo_filter_octaves=float(rng.uniform(0, 0.8)),
                     drive=0.0)
    if label == "synth_bass":
        shapes = ("saw", "square", "pulse", "saw", "sine", "triangle")
        oscs = [Oscillator(str(rng.choice(shapes)), 1.0, 1.0, float(rng.uniform(0.1, 0.5)))]
        if rng.random() < 0.6:
            oscs.append(Oscillator("sine" if rng.random() < 0.7 else "square", float(rng.uniform(0.3, 1.0)), 0.5))
        unison = int(rng.choice([1, 1, 1, 2]))
        return Patch("bass", tuple(oscs),
                     Envelope(_log_uniform(rng, 0.001, 0.01), _log_uniform(rng, 0.1, 1.0), float(rng.uniform(0.4, 1.0)),
                              _log_uniform(rng, 0.03, 0.2)),
                     unison=unison, spread_cents=float(rng.uniform(5, 15)) if unison > 1 else 0.0,
                     cutoff_hz=_log_uniform(rng, 150, 2000), key_tracking=float(rng.uniform(0.0, 0.8)),
                     resonance=_log_uniform(rng, 0.6, 8.0), poles=int(rng.choice([2, 4, 4])),
                     filter_env=Envelope(0.001, _log_uniform(rng, 0.04, 0.5), float(rng.uniform(0, 0.3)), 0.1),
                     filter_octaves=float(rng.uniform(0.5, 4.0)),
                     drive=float(rng.uniform(1, 6)) if rng.random() < 0.4 else 0.0)
    raise ValueError(f"no procedural synthesiser for {label!r}; expected one of {LABELS}")


# Hammond drawbar footages as frequency ratios of the 8' fundamental.
_DRAWBARS = (0.5, 1.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)
_REGISTRATIONS = ("888000000", "888800000", "808000004", "688600000", "868000000", "800000888",
                  "888888888", "008080800", "876543211", "838000000", "888400080", "006876540")


def _random_organ(rng: np.random.Generator) -> Organ:
    r = rng.random()
    if r < 0.5:
        bars = _REGISTRATIONS[int(rng.integers(len(_REGISTRATIONS)))] if rng.random() < 0.6 \
            else "".join(str(int(x)) for x in rng.integers(0, 9, 9))
        if bars.strip("0") == "":
            bars = "888000000"
        partials = tuple((ratio, 10 ** ((int(level) - 8) * 3 / 20)) for ratio, level in zip(_DRAWBARS, bars) if int(level))
        percussion = (float(rng.choice([2.0, 3.0])), float(rng.uniform(0.3, 1.0)), _log_uniform(rng, 0.15, 0.6)) \
            if rng.random() < 0.4 else (0.0, 0.0, 0.0)
        fast = rng.random() < 0.4
        return Organ("tonewheel organ", "tonewheel", partials,
                     Envelope(float(rng.uniform(0.002, 0.01)), 1.0, 1.0, float(rng.uniform(0.01, 0.06))),
                     click=float(rng.uniform(0.0, 0.3)), percussion=percussion,
                     rotary_hz=float(rng.uniform(5.5, 7.0) if fast else rng.uniform(0.6, 1.0)) if rng.random() < 0.7 else 0.0,
                     rotary_depth=float(rng.uniform(0.1, 0.4)),
                     drive=float(rng.uniform(1, 4)) if rng.random() < 0.35 else 0.0)
    if r < 0.8:
        stops = []
        if rng.random() < 0.8:  # principal
            stops += [(float(k), float(k ** -rng.uniform(1.0, 1.8) * (0.6 if k % 2 == 0 else 1.0))) for k in range(1, 13)]
        if rng.random() < 0.5:  # flute
            stops += [(1.0, 0.8), (2.0, 0.15), (3.0, 0.1)]
        if rng.random() < 0.3:  # reed
            stops += [(float(k), 0.5 / k) for k in range(1, 25)]
        if rng.random() < 0.5:  # octave and mixture ranks
            stops += [(2.0, 0.4), (3.0, 0.25), (4.0, 0.2), (6.0, 0.1), (8.0, 0.08)]
        if rng.random() < 0.3:  # 16' sub-octave
            stops += [(0.5, 0.5), (1.0, 0.2)]
        if not stops:
            stops = [(1.0, 1.0), (2.0, 0.3)]
        return Organ("pipe organ", "pipe", tuple(stops),
                     Envelope(_log_uniform(rng, 0.03, 0.15), 1.0, 1.0, _log_uniform(rng, 0.08, 0.3)),
                     chiff=float(rng.uniform(0.0, 0.3)), vibrato_hz=float(rng.uniform(5, 7)) if rng.random() < 0.2 else 0.0,
                     vibrato_cents=float(rng.uniform(3, 10)), detune_cents=float(rng.uniform(0, 4)))
    shape = str(rng.choice(["square", "pulse", "saw"]))
    width = float(rng.uniform(0.15, 0.5))
    ks = np.arange(1, 41)
    amps = _shape_harmonics(shape, ks.astype(float), width)
    partials = [(float(k), float(a)) for k, a in zip(ks, amps) if abs(a) > 1e-4]
    if rng.random() < 0.5:
        partials += [(2.0 * k, 0.5 * a) for k, a in partials[:20]]
    return Organ("combo organ", "combo", tuple(partials),
                 Envelope(float(rng.uniform(0.002, 0.01)), 1.0, 1.0, float(rng.uniform(0.01, 0.05))),
                 vibrato_hz=float(rng.uniform(5.5, 7.5)) if rng.random() < 0.6 else 0.0,
                 vibrato_cents=float(rng.uniform(10, 30)), drive=float(rng.uniform(1, 3)) if rng.random() < 0.3 else 0.0)


# ---- rendering ----------------------------------------------------------------------------------
def _lowpass_gain(x: np.ndarray, q: float, poles: int) -> np.ndarray:
    """|H| of a resonant low-pass at frequency ratio x = f / cutoff (poles 2 or 4)."""
    two_pole = 1.0 / np.sqrt((1 - x ** 2) ** 2 + (x / q) ** 2)
    return two_pole if poles == 2 else two_pole * (1.0 / np.sqrt((1 - x ** 2) ** 2 + (x / 0.707) ** 2))


_CONTROL_STEP = 16  # samples between filter-gain updates (1 ms at 16 kHz)


def _harmonic_sum(phase: np.ndarray, f0: np.ndarray, amps: np.ndarray, sample_rate: int,
                  rng: np.random.Generator, cutoff: np.ndarray, q: float, poles: int) -> np.ndarray:
    """sum_k amps[k-1] * |H(k * f0 / cutoff)| * sin(k * phase + a random phase) over the harmonics
    below Nyquist, H a resonant low-pass whose gain is updated every _CONTROL_STEP samples."""
    out = np.zeros(len(phase))
    top = float(np.max(f0))
    index = np.arange(len(phase))
    control = index[::_CONTROL_STEP]
    f0_c, cutoff_c = f0[control], cutoff[control]
    rotor = np.exp(1j * phase)
    harmonic = rotor.copy()  # exp(1j * k * phase), one complex product per harmonic instead of a sine
    for k in range(1, len(amps) + 1):
        a = amps[k - 1]
        if k * top >= 0.48 * sample_rate:
            break
        if a != 0.0:
            gain = np.interp(index, control, _lowpass_gain(k * f0_c / cutoff_c, q, poles))
            offset = float(rng.uniform(0, 2 * np.pi))
            out += a * gain * (harmonic.imag * np.cos(offset) + harmonic.real * np.sin(offset))
        harmonic *= rotor
    return out


def _vibrato(patch: Patch | Organ) -> tuple[float, float, float]:
    """(rate Hz, depth cents, onset delay s) of the patch's pitch vibrato."""
    if isinstance(patch, Patch):
        return (patch.lfo_hz, patch.lfo_cents, patch.lfo_delay) if patch.lfo_cents else (0.0, 0.0, 0.0)
    return patch.vibrato_hz, patch.vibrato_cents, 0.0


def _pitch_track(pitch: float, n: int, sample_rate: int, patch: Patch | Organ, start: float) -> np.ndarray:
    f0 = np.full(n, midi_hz(pitch))
    hz, cents, delay = _vibrato(patch)
    if hz > 0 and cents > 0:
        t = np.arange(n) / sample_rate
        depth = cents * np.clip((t - delay) / 0.2, 0, 1)
        f0 *= 2 ** (depth * np.sin(2 * np.pi * hz * (t + start)) / 1200)
    return f0


def _subtractive_note(patch: Patch, pitch: float, velocity: float, held: int, total: int,
                      sample_rate: int, start: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(total) / sample_rate
    base = _pitch_track(pitch, total, sample_rate, patch, start)
    amp = patch.amp.render(held, total, sample_rate) * (velocity / 127) ** 1.5
    if patch.fm_ratio > 0:
        phase = 2 * np.pi * np.cumsum(base) / sample_rate
        index = patch.fm_index * (0.4 + 0.6 * np.exp(-t / patch.fm_index_decay)) * (0.5 + velocity / 254)
        # keep the sidebands below Nyquist: about (index + 2) * ratio * f0
        index = np.minimum(index, max(0.0, 0.45 * sample_rate / (patch.fm_ratio * float(base.max())) - 2))
        return amp * np.sin(phase + index * np.sin(patch.fm_ratio * phase))
    env = patch.filter_env.render(held, total, sample_rate)
    octaves = patch.filter_octaves * env * (0.5 + velocity / 254)
    if patch.lfo_filter_octaves:
        octaves = octaves + patch.lfo_filter_octaves * np.sin(2 * np.pi * patch.lfo_hz * (t + start))
    cutoff = patch.cutoff_hz * 2 ** (patch.key_tracking * (pitch - 60) / 12 + octaves)
    cutoff = np.clip(cutoff, 40.0, 0.45 * sample_rate)
    out = np.zeros(total)
    for v in range(patch.unison):
        detune = 0.0 if patch.unison == 1 else patch.spread_cents * (2 * v / (patch.unison - 1) - 1)
        f0 = base * 2 ** (detune / 1200)
        for osc in patch.oscillators:
            f = f0 * osc.ratio
            k = np.arange(1, min(_MAX_HARMONICS, int(0.48 * sample_rate / float(f.max()))) + 1, dtype=float)
            if not len(k):
                continue
            phase = 2 * np.pi * np.cumsum(f) / sample_rate
            out += osc.level * _harmonic_sum(phase, f, _shape_harmonics(osc.shape, k, osc.pulse_width), sample_rate,
                                             rng, cutoff, patch.resonance, patch.poles)
    out /= np.sqrt(patch.unison * len(patch.oscillators))
    return amp * out


def _organ_note(organ: Organ, pitch: float, velocity: float, held: int, total: int, sample_rate: int,
                start: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(total) / sample_rate
    f0 = _pitch_track(pitch, total, sample_rate, organ, start) * 2 ** (rng.uniform(-1, 1) * organ.detune_cents / 1200)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    out = np.zeros(total)
    top = float(f0.max())
    for ratio, level in organ.partials:
        if ratio * top < 0.48 * sample_rate:
            out += level * np.sin(ratio * phase + rng.uniform(0, 2 * np.pi))
    amp = organ.amp.render(held, total, sample_rate)
    out *= amp
    ratio, level, decay = organ.percussion
    if level and ratio * top < 0.48 * sample_rate:
        out += level * amp * np.exp(-t / decay) * np.sin(ratio * phase)  # keyed like the drawbars
    if organ.click or organ.chiff:
        burst = rng.standard_normal(total) * np.exp(-t / (0.004 if organ.click else 0.03))
        if organ.chiff:  # breathy onset of a pipe: softened noise
            burst = np.convolve(burst, np.ones(3) / 3, mode="same")
        out += (organ.click + organ.chiff) * burst
    return out * (0.6 + 0.4 * velocity / 127 if organ.kind != "tonewheel" else 1.0)


def _drive(audio: np.ndarray, amount: float) -> np.ndarray:
    """tanh saturation of the peak-normalised signal, run at twice the sample rate (FFT resampling
    both ways) so that the harmonics it adds above Nyquist are filtered out, not folded back."""
    if amount <= 0:
        return audio
    peak = max(float(np.max(np.abs(audio))), 1e-9)
    n = len(audio)
    spectrum = np.fft.rfft(audio / peak)
    up = np.fft.irfft(spectrum, 2 * n) * 2
    shaped = np.fft.rfft(np.tanh(amount * up) / np.tanh(amount))
    return np.fft.irfft(shaped[: n // 2 + 1], n) / 2


def _drive_lift_db(amount: float) -> float:
    """How much louder `_drive` makes the quietest sounds than the peak (its small-signal gain)."""
    return 20 * np.log10(amount / np.tanh(amount)) if amount > 0 else 0.0


def _rotary(audio: np.ndarray, sample_rate: int, hz: float, depth: float) -> np.ndarray:
    """A rotating speaker, roughly: amplitude and Doppler modulation at `hz`."""
    t = np.arange(len(audio)) / sample_rate
    delay = 0.0004 * sample_rate * (1 + np.sin(2 * np.pi * hz * t))  # up to 0.8 ms of travel
    index = np.clip(np.arange(len(audio)) - delay, 0, len(audio) - 1)
    moved = np.interp(index, np.arange(len(audio)), audio)
    return moved * (1 - depth * 0.5 * (1 + np.sin(2 * np.pi * hz * t + 0.5)))


def play(label: str, notes, duration: float, sample_rate: int, rng: np.random.Generator,
         patch: Patch | Organ | None = None) -> Rendered:
    """Render notes [(start, end, pitch, velocity)], `duration` seconds, with `patch` or else a
    new patch for `label`."""
    patch = patch or random_patch(label, rng)
    n = round(duration * sample_rate)
    out = np.zeros(n)
    spans = []
    # Drive lifts a release's quiet end: the label lasts until the driven release is 40 dB down.
    release = patch.amp.release * (1 + _drive_lift_db(patch.drive) / _RELEASE_DB)
    for start, end, pitch, velocity in notes:
        start = max(0.0, float(start))
        if end <= start or start >= duration:
            continue
        a = round(start * sample_rate)
        held = max(1, round((min(end, duration) - start) * sample_rate))
        total = min(held + int(np.ceil(patch.amp.tail() * sample_rate)), n - a)
        if total <= 0:
            continue
        render = _organ_note if isinstance(patch, Organ) else _subtractive_note
        out[a:a + total] += render(patch, float(pitch), float(velocity), held, total, sample_rate, start, rng)
        spans.append((start, float(min(end + release, duration))))
    out = _drive(out, patch.drive)
    if isinstance(patch, Organ) and patch.rotary_hz:  # the preamp drives the rotary speaker
        out = _rotary(out, sample_rate, patch.rotary_hz, patch.rotary_depth)
    hz, cents, delay = _vibrato(patch)
    vibrato = [(s + delay + 0.2, e, "vibrato") for s, e in spans if e - s > delay + 0.4] \
        if hz >= 4 and cents >= 10 else []
    peak = float(np.max(np.abs(out)))
    audio = (out * (0.5 / peak) if peak > 0 else out).astype(np.float32)
    return Rendered(audio, spans, vibrato, patch.name)
