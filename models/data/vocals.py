"""Singing-voice sources for the `vocals` family: sung melodies made from installable tools only.

Two methods, both deterministic for a seed:

- ``"espeak"``: each note's syllable is spoken by espeak-ng on a monotone (SSML ``range="0"``), and
  its voiced part is re-pitched and stretched along the note with TD-PSOLA (pitch-synchronous
  overlap-add), which keeps the voice's formants. Consonants before the vowel are placed ahead of
  the note onset, as singers do.
- ``"formant"``: a procedural source-filter singer: a harmonic glottal source (spectral tilt,
  jitter, shimmer) through vowel formant resonances with consonant transitions, and shaped noise
  for fricatives, plosive bursts, aspiration and breath.

Both draw a human pitch contour per note (scoops, portamento, delayed vibrato, drift), breath noise
and phrase dynamics. With ``production=True`` a vocal is also produced as in a session: doubled
take, harmony line, vocal chain (filtering, compression, presence, delay, reverb).
"""

from __future__ import annotations

import functools
import subprocess
from dataclasses import asdict, dataclass, replace
from xml.sax.saxutils import escape

import numpy as np
import pedalboard

ESPEAK_RATE = 22050
TAIL_S = 0.3  # sound after the last note's end (release, reverb) included in the output

# Registers as MIDI ranges; the three low ones are sung by male voices, the others by female ones.
REGISTERS: dict[str, tuple[int, int]] = {
    "bass": (40, 64), "baritone": (45, 69), "tenor": (48, 72),
    "alto": (53, 77), "mezzo": (57, 81), "soprano": (60, 84),
}
MALE_REGISTERS = ("bass", "baritone", "tenor")

# espeak-ng languages (``espeak-ng --voices``) with lyric-like words, syllables split by '-'.
LYRICS: dict[str, tuple[str, ...]] = {
    "en-us": ("love", "heart", "night", "light", "fire", "dream", "soul", "home", "rain", "sun",
              "time", "oh", "yeah", "la", "na", "hey", "ba-by", "for-ev-er", "to-night", "stay",
              "fly", "high", "sky", "you", "me", "all", "gone", "song", "blue", "true", "mine",
              "shine", "star", "hold", "on", "run", "a-way", "mo-ney", "feel-ing", "wo-man"),
    "en": ("love", "heart", "night", "home", "rain", "time", "oh", "la", "dar-ling", "sor-ry",
              "go", "know", "sea", "stone", "down", "town", "light", "old", "road", "rose"),
    "es": ("a-mor", "co-ra-zón", "no-che", "cie-lo", "vi-da", "luz", "sol", "mar", "tú", "yo",
           "can-ta", "bai-la", "llo-rar", "que-ri-da", "ma-ña-na", "la", "ay", "sue-ño", "fue-go",
           "lu-na", "mi", "al-ma", "sin", "ti", "be-so"),
    "it": ("a-mo-re", "cuo-re", "not-te", "bel-la", "vi-ta", "so-le", "ma-re", "stel-la", "mi-o",
           "can-to", "lu-na", "don-na", "ciao", "an-co-ra", "sem-pre", "la", "tu", "ti", "a-mo"),
    "pt-br": ("a-mor", "sau-da-de", "co-ra-ção", "noi-te", "lu-a", "mar", "sol", "vi-da", "meu",
              "bem", "can-tar", "sam-ba", "fe-liz", "la", "ai", "ca-ri-nho", "so-nho", "céu"),
    "fr": ("a-mour", "cœur", "nuit", "jour", "toi", "moi", "ciel", "la", "vie", "bel-le",
              "en-core", "tou-jours", "mer", "soleil", "cher-cher", "dan-ser", "rê-ve", "doux"),
    "de": ("lie-be", "herz", "nacht", "tag", "dich", "mich", "licht", "traum", "see-le", "im-mer",
           "nie", "la", "oh", "so", "stern", "him-mel", "frei", "wind", "sin-gen", "zeit"),
    "nl": ("lief-de", "hart", "nacht", "dag", "jij", "mij", "licht", "droom", "al-tijd", "la",
           "zee", "zon", "ster", "vrij", "wind", "zin-gen"),
    "sv": ("kär-lek", "hjär-ta", "natt", "dag", "dig", "mig", "ljus", "dröm", "all-tid", "la",
           "hav", "sol", "stjär-na", "fri", "vind", "sjun-ga"),
    "pl": ("mi-łość", "ser-ce", "noc", "dzień", "cie-bie", "mnie", "świa-tło", "sen", "za-wsze",
           "la", "mo-rze", "słoń-ce", "gwiaz-da", "wol-ny", "wiatr"),
    "id": ("cin-ta", "ha-ti", "ma-lam", "ha-ri", "ka-mu", "a-ku", "ca-ha-ya", "mim-pi", "se-la-lu",
           "la", "la-ut", "bu-lan", "bin-tang", "ang-in", "sa-yang"),
    "sw": ("pen-zi", "mo-yo", "u-si-ku", "si-ku", "we-we", "mi-mi", "nu-ru", "n-do-to", "da-i-ma",
           "la", "ba-ha-ri", "ju-a", "nyo-ta", "u-pe-po", "ma-la-i-ka"),
    "tr": ("aşk", "kalp", "ge-ce", "gün", "sen", "ben", "ı-şık", "rü-ya", "her", "za-man", "la",
           "de-niz", "gü-neş", "yıl-dız", "rüz-gar"),
    "fi": ("rak-kaus", "sy-dän", "yö", "päi-vä", "si-nä", "mi-nä", "va-lo", "u-ni", "ai-na", "la",
           "me-ri", "au-rin-ko", "täh-ti", "tuu-li", "lau-lu"),
}
VOCABLES = ("la", "na", "oh", "ah", "ooh", "da", "yeah", "hey")

# espeak-ng variants (``espeak-ng --voices=variant``) that speak with a voiced, human-like source,
# with their monotone pitch (Hz) at ``-p 50``; -p spans about 1.6 octaves, 62 steps an octave.
FEMALE_VARIANTS: dict[str, float] = {
    "f1": 161, "f2": 170, "f3": 179, "f4": 160, "f5": 183, "Alicia": 216, "Andrea": 222,
    "Annie": 187, "anika": 239, "aunty": 183, "belinda": 214, "linda": 213, "shelby": 143,
    "steph": 173, "steph2": 173, "steph3": 173, "grandma": 167,
}
MALE_VARIANTS: dict[str, float] = {
    "m1": 83, "m2": 92, "m3": 91, "m4": 80, "m5": 89, "m6": 90, "m7": 90, "m8": 74, "Andy": 88,
    "Denis": 88, "Diogo": 92, "Henrique": 89, "Hugo": 89, "Lee": 88, "Marco": 116, "Mario": 90,
    "Michael": 90, "Mike": 77, "antonio": 95, "gustave": 92, "john": 90, "michel": 92,
    "miguel": 95, "norbert": 90, "pablo": 96, "paul": 76, "pedro": 90, "quincy": 74,
    "robert": 80, "travis": 87, "victor": 85, "klatt": 89, "klatt2": 89, "klatt3": 89,
    "klatt4": 89, "adam": 89, "david": 66, "edward": 89,
}
P_STEPS_PER_OCTAVE = 62


@dataclass(frozen=True)
class Voice:
    """One singer: who sings (synthesiser, sex, register, timbre) and how (vibrato, scoops...)."""

    method: str  # "espeak" | "formant"
    sex: str  # "female" | "male"
    register: str  # a key of REGISTERS
    language: str  # espeak-ng language of the lyrics ("" for the formant singer)
    variant: str  # espeak-ng variant ("" for the formant singer)
    formant_scale: float  # vocal-tract length factor: >1 shorter tract, brighter
    speed: int  # espeak-ng words per minute (slower speech gives longer vowels)
    vibrato_rate_hz: float
    vibrato_depth_cents: float  # amplitude of the sinusoid
    vibrato_prob: float  # chance a long note gets vibrato
    scoop_prob: float  # chance a note starts below its pitch and slides up
    glide_prob: float  # chance a legato note slides from the previous pitch
    drift_cents: float  # slow random pitch drift
    jitter: float  # period-to-period period deviation (fraction)
    shimmer: float  # period-to-period amplitude deviation (fraction)
    breathiness: float  # breath-noise level relative to the voice
    tilt: float  # formant singer: source spectral slope (amplitude ~ harmonic**-tilt)
    singer_formant_db: float  # formant singer: boost of the 3 kHz singer's formant

    @property
    def name(self) -> str:
        if self.method == "espeak":
            return f"espeak:{self.language}+{self.variant}"
        return f"formant:{self.sex}:{self.formant_scale:.2f}"


@dataclass(frozen=True)
class NoteSpan:
    """Where one sung note sounds (consonants included), its syllable and expressive gestures."""

    start: float
    end: float
    pitch: int
    syllable: str
    vibrato: tuple[float, float] | None  # (start, end) in seconds where vibrato sounds
    glide_from: int | None  # the pitch a portamento into this note starts from

    def as_dict(self) -> dict:
        return asdict(self)


def midi_to_hz(midi: float | np.ndarray) -> float | np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def espeak_voices(kind: str = "") -> set[str]:
    """Names espeak-ng reports as installed: languages with their aliases (``kind=""``, e.g.
    "en-gb" and "en") or variants (``kind="variant"``, e.g. "f3")."""
    args = ["espeak-ng", f"--voices={kind}" if kind else "--voices"]
    lines = subprocess.run(args, capture_output=True, text=True, check=True).stdout.splitlines()[1:]
    if kind == "variant":
        return {line.split()[4].removeprefix("!v/") for line in lines if len(line.split()) > 4}
    names = set()
    for line in lines:
        words = line.split()
        names.add(words[1])
        names.update(w.lstrip("(") for w in words if w.startswith("("))  # "(en 2)": alias "en"
    return names


def choose_voice(rng: np.random.Generator, method: str = "espeak", register: str | None = None,
                 melody: list[tuple[float, float, int]] | None = None) -> Voice:
    """A random singer; its register fits ``melody`` when given (the corpus may instead write the
    melody inside ``REGISTERS[voice.register]``)."""
    if register is None:
        names = list(REGISTERS)
        if melody:
            median = float(np.median([pitch for _, _, pitch in melody]))
            fitting = [r for r in names if REGISTERS[r][0] + 3 <= median <= REGISTERS[r][1] - 5]
            names = fitting or [min(names, key=lambda r: abs(sum(REGISTERS[r]) / 2 - median))]
        register = names[rng.integers(len(names))]
    sex = "male" if register in MALE_REGISTERS else "female"
    if method == "espeak":
        language = list(LYRICS)[rng.integers(len(LYRICS))]
        variants = list(MALE_VARIANTS if sex == "male" else FEMALE_VARIANTS)
        variant = variants[rng.integers(len(variants))]
        formant_scale = float(rng.uniform(0.92, 1.08))
    elif method == "formant":
        language, variant = "", ""
        formant_scale = float(rng.uniform(0.94, 1.06) * (1.17 if sex == "female" else 1.0))
    else:
        raise ValueError(f"unknown singing method {method!r}")
    return Voice(
        method=method, sex=sex, register=register, language=language, variant=variant,
        formant_scale=formant_scale, speed=int(rng.integers(80, 140)),
        vibrato_rate_hz=float(rng.uniform(4.5, 7.0)),
        vibrato_depth_cents=float(rng.uniform(15.0, 70.0)),
        vibrato_prob=float(rng.uniform(0.3, 0.95)), scoop_prob=float(rng.uniform(0.1, 0.6)),
        glide_prob=float(rng.uniform(0.1, 0.6)), drift_cents=float(rng.uniform(3.0, 12.0)),
        jitter=float(rng.uniform(0.001, 0.005)), shimmer=float(rng.uniform(0.02, 0.08)),
        breathiness=float(rng.uniform(0.01, 0.12)), tilt=float(rng.uniform(0.9, 1.5)),
        singer_formant_db=float(rng.choice([0.0, rng.uniform(3.0, 9.0)])),
    )


def lyrics(n: int, language: str, rng: np.random.Generator) -> list[str]:
    """``n`` syllables of lyric-like text, one per note: words of the espeak-ng ``language`` and
    vocables, or for ``language=""`` (the formant singer) syllables of its consonants and vowels."""
    if not language:
        onsets, vowels = list(_CONSONANTS), list(_VOWELS)
        return [onsets[rng.integers(len(onsets))] + vowels[rng.integers(len(vowels))]
                + (_CODAS[rng.integers(len(_CODAS))] if rng.random() < 0.4 else "")
                for _ in range(n)]
    words = LYRICS[language]
    syllables: list[str] = []
    while len(syllables) < n:
        pool = VOCABLES if rng.random() < 0.15 else words
        syllables.extend(pool[rng.integers(len(pool))].split("-"))
    return syllables[:n]


def sing(melody: list[tuple[float, float, int]], rng: np.random.Generator,
         sample_rate: int = 22050, voice: Voice | None = None, method: str = "espeak",
         production: bool = False) -> tuple[np.ndarray, list[NoteSpan]]:
    """Sing a monophonic ``melody`` of (start_s, duration_s, midi_pitch) notes, one syllable each.

    Returns mono float32 audio that starts at time 0 and lasts until the last note's end plus
    ``TAIL_S``, with peak 0.9, and one NoteSpan per note (sorted by start). Overlapping notes are
    cut at the next note's start. ``voice`` defaults to ``choose_voice(rng, method, melody=...)``.
    """
    notes = _monophonic(melody)
    if not notes:
        raise ValueError("a melody needs at least one note")
    voice = voice or choose_voice(rng, method, melody=notes)
    syllables = lyrics(len(notes), voice.language, rng)
    audio, spans = _sing_dry(notes, syllables, rng, voice)
    if production:
        audio = _produce(audio, notes, syllables, rng, voice)
    if sample_rate != ESPEAK_RATE:
        audio = _resample(audio, ESPEAK_RATE, sample_rate)
    n_out = int(np.ceil((max(start + dur for start, dur, _ in notes) + TAIL_S) * sample_rate))
    audio = _fit_length(audio, n_out)
    peak = float(np.max(np.abs(audio)))
    audio = audio * (0.9 / peak) if peak > 0 else audio
    return audio.astype(np.float32), spans


# ---------------------------------------------------------------------------------------------
# shared: melody handling, pitch contours, breath, production


def _monophonic(melody) -> list[tuple[float, float, int]]:
    notes = sorted((float(s), float(d), int(p)) for s, d, p in melody if d > 0)
    cut = []
    for i, (start, dur, pitch) in enumerate(notes):
        if i + 1 < len(notes):
            dur = min(dur, notes[i + 1][0] - start)
        if dur > 0.02:
            cut.append((start, dur, pitch))
    return cut


def _sing_dry(notes, syllables, rng, voice) -> tuple[np.ndarray, list[NoteSpan]]:
    sr = ESPEAK_RATE
    end = max(start + dur for start, dur, _ in notes)
    out = np.zeros(int((end + TAIL_S + 0.5) * sr))
    voiced_env = np.zeros_like(out)
    render = _EspeakNote if voice.method == "espeak" else _FormantNote
    parts = [render(text, pitch, voice, rng) for text, (_, _, pitch) in zip(syllables, notes)]
    spans = []
    for i, (start, dur, pitch) in enumerate(notes):
        nxt = parts[i + 1] if i + 1 < len(notes) else None
        legato = i > 0 and start - (notes[i - 1][0] + notes[i - 1][1]) < 0.05
        glide_from = notes[i - 1][2] if legato and rng.random() < voice.glide_prob else None
        # the note's sound ends before the next note's onset consonant
        stop = start + dur if nxt is None else min(start + dur, notes[i + 1][0] - nxt.onset_s)
        n_voiced = max(int((stop - start - parts[i].coda_s) * sr), int(0.6 * (stop - start) * sr),
                       int(0.03 * sr))
        cents, vibrato = _pitch_contour(pitch, n_voiced, rng, voice, glide_from)
        gain = 10 ** (rng.normal(0.0, 1.5) / 20)
        sound, voiced, offset = parts[i].render(n_voiced, midi_to_hz(pitch + cents / 100), rng)
        first = int(round(start * sr)) - offset
        if first < 0:
            sound, voiced, offset, first = sound[-first:], voiced[-first:], offset + first, 0
        out[first:first + len(sound)] += gain * sound
        voiced_env[first:first + len(voiced)] += gain * voiced
        spans.append(NoteSpan(
            start=round(first / sr, 4), end=round((first + len(sound)) / sr, 4), pitch=pitch,
            syllable=parts[i].text, glide_from=glide_from,
            vibrato=None if vibrato is None else (round(start + vibrato, 4),
                                                  round(start + n_voiced / sr, 4))))
    out += _breath(voiced_env, notes, rng, voice, sr)
    return out, spans


def _pitch_contour(pitch, n, rng, voice, glide_from) -> tuple[np.ndarray, float | None]:
    """Deviation from ``pitch`` in cents per sample, and when vibrato starts (s after onset)."""
    sr = ESPEAK_RATE
    t = np.arange(n) / sr
    cents = voice.drift_cents * _smooth_noise(n, sr, 3.0, rng)
    if glide_from is not None:
        cents += (glide_from - pitch) * 100.0 * np.exp(-t / rng.uniform(0.03, 0.08))
    elif rng.random() < voice.scoop_prob:
        cents -= rng.uniform(30.0, 130.0) * np.exp(-t / rng.uniform(0.02, 0.07))
    vibrato_start = None
    if n / sr > 0.4 and rng.random() < voice.vibrato_prob:
        vibrato_start = float(rng.uniform(0.1, min(0.4, n / sr - 0.25)))
        ramp = np.clip((t - vibrato_start) / rng.uniform(0.1, 0.3), 0.0, 1.0)
        rate = voice.vibrato_rate_hz * (1 + 0.05 * _smooth_noise(n, sr, 1.0, rng))
        phase = 2 * np.pi * np.cumsum(rate) / sr
        cents += voice.vibrato_depth_cents * rng.uniform(0.7, 1.3) * ramp * np.sin(phase)
    return cents, vibrato_start


def _smooth_noise(n: int, sr: int, rate_hz: float, rng) -> np.ndarray:
    """Band-limited noise in [-1, 1]-ish: random points ``rate_hz`` apart, cosine-interpolated."""
    points = rng.uniform(-1.0, 1.0, int(n / sr * rate_hz) + 2)
    pos = np.arange(n) / sr * rate_hz
    i = pos.astype(int)
    frac = (1 - np.cos(np.pi * (pos - i))) / 2
    return points[i] * (1 - frac) + points[i + 1] * frac


def _band_noise(n: int, lo: float, hi: float, sr: int, rng) -> np.ndarray:
    """White noise band-limited to [lo, hi] Hz with soft edges, unit RMS."""
    if n <= 0:
        return np.zeros(0)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    shape = 1 / (1 + (lo / np.maximum(f, 1.0)) ** 4) / (1 + (f / hi) ** 4)
    noise = np.fft.irfft(spectrum * shape, n)
    return noise / (np.sqrt(np.mean(noise ** 2)) + 1e-12)


def _envelope(x: np.ndarray, sr: int, seconds: float = 0.02) -> np.ndarray:
    """Moving average of |x| over ``seconds``, centred."""
    k = max(1, int(seconds * sr))
    total = np.concatenate([[0.0], np.cumsum(np.abs(x))])
    padded = np.concatenate([np.full(k // 2, total[0]), total, np.full(k - k // 2, total[-1])])
    return (padded[k:k + len(x)] - padded[:len(x)]) / k


def _breath(voiced, notes, rng, voice, sr) -> np.ndarray:
    """Aspiration noise that follows the voice, and audible inhales before phrases."""
    aspiration = _band_noise(len(voiced), 1200, 7000, sr, rng)
    breath = voice.breathiness * 1.5 * _envelope(voiced, sr) * aspiration
    level = float(np.max(_envelope(voiced, sr))) if len(voiced) else 0.0
    for i, (start, _, _) in enumerate(notes):
        rest = start - (notes[i - 1][0] + notes[i - 1][1]) if i else start
        if rest > 0.45 and rng.random() < 0.6:
            length = int(rng.uniform(0.2, min(0.45, rest - 0.15)) * sr)
            first = int((start - 0.12) * sr) - length
            if first >= 0:
                shape = np.sin(np.linspace(0, np.pi, length)) ** 2
                gain = level * 10 ** (rng.uniform(-34, -22) / 20)
                inhale = shape * _band_noise(length, 500, 5000, sr, rng)
                breath[first:first + length] += gain * inhale
    return breath


def _produce(audio, notes, syllables, rng, voice) -> np.ndarray:
    """A vocal as mixed in a session: maybe a doubled take and a harmony, then a vocal chain."""
    sr = ESPEAK_RATE
    layers = audio
    if rng.random() < 0.35:  # a second take of the same part, loosely in time and tune
        double_notes = [(max(0.0, s + rng.normal(0, 0.012)), d, p) for s, d, p in notes]
        double_voice = replace(voice, drift_cents=voice.drift_cents + 4.0)
        take, _ = _sing_dry(_monophonic(double_notes), syllables, rng, double_voice)
        layers = _add(layers, take * 10 ** (rng.uniform(-8, -2) / 20))
    if rng.random() < 0.25:  # parallel harmony a third or a fifth away
        interval = int(rng.choice([3, 4, 7, -5, -8, -9]))
        harmony, _ = _sing_dry([(s, d, p + interval) for s, d, p in notes], syllables, rng, voice)
        layers = _add(layers, harmony * 10 ** (rng.uniform(-14, -8) / 20))
    chain = [
        pedalboard.HighpassFilter(float(rng.uniform(70, 140))),
        pedalboard.Compressor(threshold_db=float(rng.uniform(-24, -10)),
                              ratio=float(rng.uniform(2, 6)), attack_ms=float(rng.uniform(2, 15)),
                              release_ms=float(rng.uniform(60, 200))),
        pedalboard.PeakFilter(float(rng.uniform(2500, 5000)), float(rng.uniform(0, 5)), 0.8),
    ]
    if rng.random() < 0.4:
        chain.append(pedalboard.Delay(delay_seconds=float(rng.choice([rng.uniform(0.08, 0.14),
                                                                     rng.uniform(0.25, 0.45)])),
                                      feedback=float(rng.uniform(0.1, 0.35)),
                                      mix=float(rng.uniform(0.08, 0.22))))
    if rng.random() < 0.6:
        chain.append(pedalboard.Reverb(room_size=float(rng.uniform(0.3, 0.85)),
                                       damping=float(rng.uniform(0.3, 0.7)),
                                       wet_level=float(rng.uniform(0.08, 0.3)),
                                       dry_level=float(rng.uniform(0.7, 0.9))))
    peak = float(np.max(np.abs(layers))) or 1.0
    produced = pedalboard.Pedalboard(chain)(
        (layers / peak * 0.5).astype(np.float32)[None, :], sr)[0]
    return produced.astype(np.float64)


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros(max(len(a), len(b)))
    out[:len(a)] += a
    out[:len(b)] += b
    return out


def _fit_length(x: np.ndarray, n: int) -> np.ndarray:
    if len(x) >= n:
        out = x[:n].copy()
        fade = min(n, 256)
        out[n - fade:] *= np.linspace(1.0, 0.0, fade)
        return out
    return np.concatenate([x, np.zeros(n - len(x))])


def _resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited resampling through the FFT (the signals here begin and end in silence)."""
    n_out = int(round(len(x) * sr_out / sr_in))
    spectrum = np.fft.rfft(x)
    keep = min(len(spectrum), n_out // 2 + 1)
    return np.fft.irfft(spectrum[:keep], n_out) * (n_out / len(x))


# ---------------------------------------------------------------------------------------------
# espeak-ng + TD-PSOLA


def _espeak(text: str, language: str, variant: str, speed: int, pitch: int) -> np.ndarray:
    """``text`` spoken by espeak-ng on a monotone at its 22050 Hz, float64 in [-1, 1], trimmed."""
    ssml = f'<speak><prosody range="0">{escape(text)}</prosody></speak>'
    wav = subprocess.run(
        ["espeak-ng", "-v", f"{language}+{variant}", "-s", str(speed), "-p", str(pitch), "-m",
         "--stdout", ssml], capture_output=True, check=True, timeout=60).stdout
    data = wav.find(b"data") + 8
    pcm = wav[data:data + (len(wav) - data) // 2 * 2]
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768.0
    loud = np.flatnonzero(np.abs(x) > 2e-3)
    return x[max(0, loud[0] - 32):loud[-1] + 32] if len(loud) else x


@dataclass(frozen=True)
class _Syllable:
    """A spoken syllable cut into unvoiced onset x[:v0], voiced part x[v0:v1] and coda x[v1:]."""

    x: np.ndarray
    v0: int
    v1: int
    marks: np.ndarray  # pitch marks (samples) in the voiced part
    periods: np.ndarray  # local period (samples) at each mark
    f0: float  # median source pitch (Hz)
    rms: float  # loudness of the voiced part


@functools.lru_cache(maxsize=512)  # a sung phrase repeats syllables; a few tens of MB at most
def _analysed(text, language, variant, speed, pitch, formant_scale, f0_hint) -> _Syllable | None:
    """The syllable spoken, its vocal tract scaled by ``formant_scale``, analysed (None if it has
    no voiced part)."""
    x = _espeak(text, language, variant, speed, pitch)
    if formant_scale != 1.0:
        x = _resample(x, int(round(ESPEAK_RATE * formant_scale)), ESPEAK_RATE)
    syllable = _analyse(x.astype(np.float32), ESPEAK_RATE, f0_hint * formant_scale)
    if syllable is not None:
        syllable.x.setflags(write=False)  # shared through the cache
    return syllable


def _analyse(x: np.ndarray, sr: int, f0_hint: float) -> _Syllable | None:
    """Voicing and pitch per 5 ms frame by normalised autocorrelation (pitch within a factor 1.5
    of ``f0_hint``), then one pitch mark per period of the main voiced run."""
    hop, win = sr // 200, int(0.045 * sr)
    if len(x) < win + hop:
        return None
    window = np.hanning(win)
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop] * window
    power = np.abs(np.fft.rfft(frames, 2 * win, axis=1)) ** 2
    ac = np.fft.irfft(power, axis=1)[:, :win]
    window_ac = np.fft.irfft(np.abs(np.fft.rfft(window, 2 * win)) ** 2)[:win]
    ac /= (ac[:, :1] + 1e-12) * np.maximum(window_ac / window_ac[0], 1e-3)  # unbiased by lag
    lo, hi = int(sr / f0_hint / 1.5), min(win - 1, int(sr / f0_hint * 1.5))
    rms = np.sqrt(np.mean(frames ** 2, axis=1))
    loud = rms > 0.03 * rms.max()
    # espeak-ng speaks on a monotone: one period for the syllable, refined per frame within 15 %
    search = ac[:, lo:hi]
    best = search.max(axis=1)
    shortest = lo + np.argmax(search >= 0.9 * best[:, None], axis=1)  # avoids octave errors
    steady = loud & (best > 0.8)
    if steady.sum() < 3:
        return None
    period = float(np.median(shortest[steady]))
    a, b = max(lo, int(0.85 * period)), min(win - 1, int(1.15 * period) + 1)
    lags = a + np.argmax(ac[:, a:b], axis=1)
    strength = ac[np.arange(len(ac)), lags]
    voiced = loud & (strength > 0.5)
    if voiced.sum() < 4:
        return None
    # the main voiced run, bridging gaps under 60 ms
    idx = np.flatnonzero(voiced)
    runs = np.split(idx, np.flatnonzero(np.diff(idx) > 12) + 1)
    run = max(runs, key=lambda r: rms[r].sum())
    periods = lags.astype(np.float64)
    v0, v1 = int(run[0] * hop + win // 2), int(run[-1] * hop + win // 2)

    def period_at(sample: int) -> int:
        return int(periods[min(run[-1], max(run[0], (sample - win // 2) // hop))])

    # first mark on the main peak of the first period; each next one where the waveform best
    # matches the period before it, so all marks sit at the same phase of the glottal cycle
    sign = 1.0 if x[v0:v1].max() >= -x[v0:v1].min() else -1.0
    p = period_at(v0)
    marks = [v0 + p // 2 + int(np.argmax(sign * x[v0 + p // 2:v0 + p + p // 2]))]
    while True:
        m, p = marks[-1], period_at(marks[-1])
        reach = max(1, p // 8)
        if m + p + reach + p // 2 >= v1:
            break
        before = x[m - p // 2:m + p // 2]
        after = np.lib.stride_tricks.sliding_window_view(
            x[m + p - reach - p // 2:m + p + reach + p // 2 + 1], len(before))
        marks.append(m + p - reach + int(np.argmax(after @ before)))
    marks = np.asarray(marks)
    if len(marks) < 3:
        return None
    mark_periods = np.asarray([period_at(m) for m in marks])
    return _Syllable(x=x, v0=int(marks[0]), v1=int(marks[-1]), marks=marks,
                     periods=mark_periods, f0=float(sr / np.median(mark_periods)),
                     rms=float(np.sqrt(np.mean(x[marks[0]:marks[-1]] ** 2))))


class _EspeakNote:
    """One note's syllable from espeak-ng, aimed near the note's pitch so PSOLA shifts little."""

    def __init__(self, text, pitch, voice: Voice, rng):
        at_50 = {**FEMALE_VARIANTS, **MALE_VARIANTS}[voice.variant]
        p = int(np.clip(50 + P_STEPS_PER_OCTAVE * np.log2(midi_to_hz(pitch) / at_50), 0, 99))
        p -= p % 3  # fewer distinct renders to cache
        hint = at_50 * 2 ** ((p - 50) / P_STEPS_PER_OCTAVE)
        syl = None
        for candidate in (text, *VOCABLES):  # a word espeak-ng cannot voice is replaced
            syl = _analysed(candidate, voice.language, voice.variant, voice.speed, p,
                            round(voice.formant_scale, 2), hint)
            if syl is not None:
                break
        if syl is None:
            raise RuntimeError(f"espeak-ng gave no voiced sound for {voice.name}")
        self.text = candidate
        self.syl = syl
        self.onset = syl.x[max(0, syl.v0 - int(0.15 * ESPEAK_RATE)):syl.v0]
        self.coda = syl.x[syl.v1:syl.v1 + int(0.2 * ESPEAK_RATE)]
        self.onset_s = len(self.onset) / ESPEAK_RATE
        self.coda_s = len(self.coda) / ESPEAK_RATE
        self.voice = voice

    def render(self, n_voiced, f0, rng) -> tuple[np.ndarray, np.ndarray, int]:
        """(sound, its voiced part, samples of sound before the note onset)."""
        syl, sr = self.syl, ESPEAK_RATE
        voiced = _psola(syl, n_voiced, f0, rng, self.voice.jitter, self.voice.shimmer)
        # keep the syllable's loudness: a vowel whose formants fall below a high note's pitch
        # loses most of its energy to the shift (singers open such vowels instead)
        voiced *= np.clip(syl.rms / (np.sqrt(np.mean(voiced ** 2)) + 1e-9), 0.5, 10.0)
        voiced *= _note_envelope(n_voiced, sr, f0, rng)
        onset = self.onset * _fades(len(self.onset), fade_in=64, fade_out=int(0.01 * sr))
        coda = self.coda * _fades(len(self.coda), fade_in=int(0.01 * sr), fade_out=64)
        sound = np.concatenate([onset, voiced, coda])
        voiced_only = np.concatenate([np.zeros(len(onset)), voiced, np.zeros(len(coda))])
        return sound, voiced_only, len(onset)


def _fades(n: int, fade_in: int, fade_out: int) -> np.ndarray:
    """A gain of 1 with linear fades at both ends, so cut edges do not click."""
    gain = np.ones(n)
    a, b = min(n, fade_in), min(n, fade_out)
    gain[:a] *= np.linspace(0.0, 1.0, a)
    gain[n - b:] *= np.linspace(1.0, 0.0, b)
    return gain


def _psola(syl: _Syllable, n_out: int, f0_out: np.ndarray, rng, jitter, shimmer) -> np.ndarray:
    """The voiced part of ``syl`` re-timed to ``n_out`` samples along the ``f0_out`` contour.

    The first 60 ms (consonant-vowel transition) and last 40 ms keep their speed; the middle of
    the vowel stretches. Each output period gets a zero-mean, Hann-windowed grain two source
    periods long (shorter for large upward shifts), interpolated between the two source periods
    around its position and placed at a fractional sample position."""
    sr = ESPEAK_RATE
    n_in = syl.v1 - syl.v0
    head, tail = min(int(0.06 * sr), n_in // 3), min(int(0.04 * sr), n_in // 4)
    if n_out > head + tail + 1:
        knots_out, knots_in = [0, head, n_out - tail, n_out], [0, head, n_in - tail, n_in]
    else:
        knots_out, knots_in = [0, n_out], [0, n_in]
    # output pitch marks at fractional sample positions: one per cycle of the f0 contour
    phase = np.cumsum(f0_out) / sr
    cycles = np.arange(1.0, phase[-1])
    after = np.clip(np.searchsorted(phase, cycles), 1, n_out - 1)
    out_marks = after - (phase[after] - cycles) / (phase[after] - phase[after - 1])
    out_marks += rng.normal(0.0, jitter, len(out_marks)) * sr / f0_out[after]
    in_pos = syl.v0 + np.interp(out_marks, knots_out, knots_in)
    # each output grain interpolates the two source periods around its source position, so the
    # output changes smoothly from period to period (no subharmonic from repeated grains)
    left = np.clip(np.searchsorted(syl.marks, in_pos) - 1, 0, len(syl.marks) - 2)
    weight = np.clip((in_pos - syl.marks[left]) / np.diff(syl.marks)[left], 0.0, 1.0)
    max_p = int(syl.periods.max())
    y = np.zeros(n_out + 2 * max_p + 2)
    for t, j, w in zip(out_marks, left, weight):
        p_out = sr / f0_out[min(int(t), n_out - 1)]
        half = min(int(syl.periods[j]), int(1.5 * p_out) + 1)  # large upward shifts: shorter grains
        grain = ((1 - w) * _grain(syl.x, int(syl.marks[j]), half)
                 + w * _grain(syl.x, int(syl.marks[j + 1]), half))
        grain *= np.sqrt(min(p_out / half, 4.0))
        start = int(np.floor(t)) - half + max_p
        delay = t - np.floor(t)  # the fractional part, by linear interpolation
        y[start:start + len(grain)] += (1 - delay) * grain
        y[start + 1:start + 1 + len(grain)] += delay * grain
    # shimmer: the loudness of each output period varies, applied after overlap-add so that
    # overlapping grains still cancel between harmonics
    cycle_gain = 1.0 + shimmer * rng.standard_normal(len(out_marks) + 2)
    shimmer_env = np.interp(np.arange(n_out), np.concatenate([[0], out_marks, [n_out]]), cycle_gain)
    return y[max_p:max_p + n_out] * shimmer_env


def _grain(x: np.ndarray, mark: int, half: int) -> np.ndarray:
    """``2 * half + 1`` samples of ``x`` around ``mark``, zero-mean, Hann-windowed."""
    window = _hann(half)
    a, b = mark - half, mark + half + 1
    segment = np.zeros(2 * half + 1)
    segment[max(0, -a):len(segment) - max(0, b - len(x))] = x[max(0, a):min(len(x), b)]
    return (segment - np.dot(segment, window) / window.sum()) * window


@functools.lru_cache(maxsize=1024)
def _hann(p: int) -> np.ndarray:
    return np.hanning(2 * p + 3)[1:-1]


def _note_envelope(n: int, sr: int, f0: np.ndarray, rng) -> np.ndarray:
    """Soft attack and release, a swell or decay, and loudness moving with the pitch (vibrato)."""
    t = np.arange(n) / sr
    attack = np.clip(t / rng.uniform(0.01, 0.04), 0, 1)
    release = np.clip((n / sr - t) / rng.uniform(0.02, 0.06), 0, 1)
    swell = 1 + rng.uniform(-0.3, 0.2) * t / max(t[-1], 1e-3) if n else t
    wobble = np.log2(f0 / np.median(f0)) * 12 * rng.uniform(0.0, 0.3)  # ~1 dB per semitone
    return attack * release * swell * 10 ** (wobble / 20)


# ---------------------------------------------------------------------------------------------
# procedural formant singer

# vowel: formant frequencies (Hz) of an adult male tract; bandwidths are shared
_VOWELS = {
    "a": (730, 1090, 2440, 3400), "e": (440, 1950, 2550, 3500), "i": (290, 2250, 3000, 3700),
    "o": (480, 820, 2550, 3350), "u": (320, 800, 2240, 3300), "ɛ": (550, 1770, 2490, 3500),
    "ɔ": (600, 920, 2550, 3400), "ə": (500, 1450, 2500, 3450),
}
_BANDWIDTHS = (70.0, 100.0, 150.0, 220.0)
# consonant: (kind, noise band Hz or nasal/liquid formants, voiced, formant locus of F2)
_CONSONANTS = {
    "": ("none", None, True, None),
    "p": ("plosive", (400, 2500), False, 900), "t": ("plosive", (3000, 7000), False, 1800),
    "k": ("plosive", (1500, 3500), False, 2300), "b": ("plosive", (300, 2000), True, 900),
    "d": ("plosive", (2500, 6000), True, 1800), "g": ("plosive", (1200, 3000), True, 2300),
    "s": ("fricative", (4000, 9500), False, 1700), "sh": ("fricative", (2000, 6000), False, 2000),
    "f": ("fricative", (1200, 9000), False, 1000), "h": ("fricative", (500, 6000), False, None),
    "v": ("fricative", (1200, 8000), True, 1000), "z": ("fricative", (4000, 9500), True, 1700),
    "m": ("nasal", (250, 1100, 2200, 3300), True, 1000),
    "n": ("nasal", (250, 1500, 2500, 3400), True, 1700),
    "l": ("liquid", (360, 1100, 2700, 3500), True, 1100),
    "r": ("liquid", (420, 1250, 1700, 3300), True, 1250),
    "w": ("liquid", (300, 650, 2200, 3300), True, 650),
    "y": ("liquid", (280, 2200, 3000, 3600), True, 2200),
}
_CODAS = ("", "", "", "n", "m", "s", "t", "l", "r")


class _FormantNote:
    """One note's syllable from the procedural singer: onset consonant, vowel, optional coda."""

    def __init__(self, text, pitch, voice: Voice, rng):
        self.text = text
        self.onset_c = "sh" if text.startswith("sh") else ("" if text[0] in _VOWELS else text[0])
        self.vowel = text[len(self.onset_c)]
        self.coda_c = text[len(self.onset_c) + 1:]
        kind = _CONSONANTS[self.onset_c][0]
        self.onset_s = {"none": 0.0, "plosive": rng.uniform(0.03, 0.07),
                        "fricative": rng.uniform(0.06, 0.12), "nasal": rng.uniform(0.05, 0.09),
                        "liquid": rng.uniform(0.04, 0.07)}[kind]
        coda_kind = _CONSONANTS[self.coda_c][0]
        self.coda_s = {"none": 0.0, "plosive": 0.05, "fricative": rng.uniform(0.08, 0.14),
                       "nasal": 0.0, "liquid": 0.0}[coda_kind]
        self.voice = voice

    def render(self, n_voiced, f0, rng) -> tuple[np.ndarray, np.ndarray, int]:
        sr, v = ESPEAK_RATE, self.voice
        n_on, n_coda = int(self.onset_s * sr), int(self.coda_s * sr)
        kind, band, voiced_onset, locus = _CONSONANTS[self.onset_c]
        vowel = np.asarray(_VOWELS[self.vowel], dtype=np.float64) * v.formant_scale
        # voiced stretch: nasal/liquid onsets are voiced before the note; the vowel from onset on
        pre = n_on if kind in ("nasal", "liquid") else 0
        n = pre + n_voiced
        f0_all = np.concatenate([np.full(pre, f0[0]), f0])
        t_keys = [0, pre, pre + int(0.06 * sr), n - int(0.05 * sr), n]
        start_formants = vowel.copy()
        if kind in ("nasal", "liquid"):
            start_formants = np.asarray(band, dtype=np.float64) * v.formant_scale
        elif locus is not None:
            start_formants[1] = 0.5 * (locus * v.formant_scale + vowel[1])
        end_formants = vowel.copy()
        coda_kind, coda_band, _, coda_locus = _CONSONANTS[self.coda_c]
        if coda_kind in ("nasal", "liquid"):
            end_formants = np.asarray(coda_band, dtype=np.float64) * v.formant_scale
        elif coda_locus is not None:
            end_formants[1] = 0.5 * (coda_locus * v.formant_scale + vowel[1])
        amp_keys = [0.35 if pre else 0.0, 0.5 if pre else 1.0, 1.0, 1.0,
                    0.4 if coda_kind in ("nasal", "liquid") else 1.0]
        formant_keys = [start_formants, start_formants, vowel, vowel, end_formants]
        t_keys = np.maximum.accumulate(np.clip(t_keys, 0, n))
        voiced = _harmonic_voice(f0_all, t_keys, formant_keys, amp_keys, v, rng)
        voiced[pre:] *= _note_envelope(n_voiced, sr, f0, rng)
        sound = np.zeros(n_on - pre + n + n_coda)
        sound[n_on - pre:n_on - pre + n] = voiced
        level = float(np.sqrt(np.mean(voiced ** 2))) if n else 0.0
        if kind in ("plosive", "fricative"):
            sound[:n_on] += level * _consonant_noise(kind, band, voiced_onset, n_on, sr, rng)
        if coda_kind in ("plosive", "fricative"):
            closure = int(0.6 * n_coda) if coda_kind == "plosive" else 0
            sound[len(sound) - n_coda + closure:] += level * _consonant_noise(
                coda_kind, coda_band, False, n_coda - closure, sr, rng)
        voiced_only = np.zeros_like(sound)
        voiced_only[n_on - pre:n_on - pre + n] = voiced
        return sound, voiced_only, n_on


def _consonant_noise(kind, band, voiced, n, sr, rng) -> np.ndarray:
    """Noise of a fricative (sustained, rising) or a plosive (burst then aspiration)."""
    if n <= 0:
        return np.zeros(0)
    noise = _band_noise(n, band[0], band[1], sr, rng)
    t = np.arange(n) / sr
    if kind == "fricative":
        shape = np.sin(np.linspace(0, np.pi, n)) ** 0.5 * (0.25 if voiced else 0.5)
    else:
        burst = np.exp(-t / 0.006) * np.clip(t / 0.001, 0, 1)
        aspiration = 0.0 if voiced else 0.25 * np.exp(-t / 0.03)
        shape = 0.8 * burst + aspiration
    return noise * shape


def _harmonic_voice(f0, t_keys, formant_keys, amp_keys, voice: Voice, rng) -> np.ndarray:
    """Additive glottal source through a cascade of formant resonances interpolated between keys."""
    sr = ESPEAK_RATE
    n = len(f0)
    if n == 0:
        return np.zeros(0)
    f0 = f0 * (1 + voice.jitter * _smooth_noise(n, sr, 120.0, rng))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    hop = 64
    ctrl = np.arange(0, n + hop, hop)
    ctrl_f0 = np.interp(ctrl, np.arange(n), f0)
    formants = np.stack([np.interp(ctrl, t_keys, [keys[i] for keys in formant_keys])
                         for i in range(4)], axis=1)
    amp = np.interp(ctrl, t_keys, amp_keys)
    amp *= 1 + voice.shimmer * _smooth_noise(len(ctrl), sr / hop, 40.0, rng)
    n_harm = int(min(80, 0.45 * sr / ctrl_f0.min()))
    k = np.arange(1, n_harm + 1)
    freqs = ctrl_f0[:, None] * k[None, :]  # (ctrl, harmonic)
    gain = (freqs / 100.0) ** -voice.tilt
    for i, bw in enumerate(_BANDWIDTHS):
        fc = formants[:, i:i + 1]
        gain *= fc ** 2 / np.sqrt((fc ** 2 - freqs ** 2) ** 2 + (bw * freqs) ** 2)
    if voice.singer_formant_db:
        boost = 10 ** (voice.singer_formant_db / 20) - 1
        gain *= 1 + boost * np.exp(-0.5 * ((freqs - 3000 * voice.formant_scale) / 350) ** 2)
    gain *= (freqs < 0.45 * sr) * amp[:, None]
    out = np.empty(n)
    for a in range(0, n, 8192):
        b = min(n, a + 8192)
        pos = np.arange(a, b) / hop
        i0 = pos.astype(int)
        frac = (pos - i0)[:, None]
        g = gain[i0] * (1 - frac) + gain[i0 + 1] * frac
        out[a:b] = np.sum(g * np.sin(phase[a:b, None] * k[None, :]), axis=1)
    return out / (np.max(np.abs(out)) + 1e-9)
