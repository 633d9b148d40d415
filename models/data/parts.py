"""Seeded MIDI parts (drum grooves, bass lines, chords, arpeggios, melodies) with frame-exact labels.

`make_part` writes one instrument on one MIDI channel and returns it with its labels: when the
instrument sounds (`note_spans`) and when each playing technique is heard (`technique_spans`).
Everything is drawn from the `numpy.random.Generator` passed in, so a seed gives the same MIDI
bytes and labels every time. Times in the MIDI file are whole milliseconds (one tick is 1 ms), and
every label is computed from the same quantized times as the MIDI events, so labels and audio agree
to the millisecond.

Techniques are gestures placed in windows of their own (nothing else plays there):

- vibrato: a held note (or chord) with a pitch-bend LFO of 4-8 Hz and 10-100 cents, or with the
  modulation wheel (CC1, the soundfont's own vibrato); labelled while the LFO or CC1 is active.
- bend_up / bend_down: a pitch-bend ramp of 1-2 semitones (a fall, or a pre-bent note released);
  labelled while the pitch moves.
- slide: a bend joining two notes, or portamento (CC65 on, CC5/CC37 glide time) between two legato
  notes; labelled while the pitch glides.
- glissando (fast diatonic runs), tremolo (repeats at 8-20 Hz, or GM 44 tremolo strings), trill
  (two adjacent scale notes alternating), staccato (short detached notes), pizzicato (GM 45),
  palm_mute (GM 28), harmonic (GM 31): labelled from each note's onset to its note-off, merged where
  the notes touch.

Every controller a gesture touches (pitch bend, CC1, portamento, program) is restored just before
the next note that follows it, so nothing leaks into the rest of the part. The pitch-bend range is
set to `PITCH_BEND_RANGE` semitones with RPN 0 at the start of every part.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import mido
import numpy as np

from models.data.taxonomy import FINE_LABELS, TECHNIQUES, family_of

KINDS = ("drums", "bass", "chords", "arpeggio", "melody")
PITCH_BEND_RANGE = 12  # semitones, set with RPN 0 in every part
DRUM_CHANNEL = 9
MELODIC_CHANNEL = 0
DRUM_BANK = 128
MIN_DURATION = 1.0  # seconds

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MODES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}

# Programs whose sound is the technique itself.
TECHNIQUE_PROGRAMS = {"palm_mute": 28, "harmonic": 31, "tremolo": 44, "pizzicato": 45}

DRUM_KITS = {"acoustic_kit": (0, 8, 16, 32, 40), "drum_machine": (24, 25), "hand_percussion": (0, 8, 16, 32)}

_MELODIC = ("chords", "arpeggio", "melody")
KINDS_BY_LABEL: dict[str, tuple[str, ...]] = {
    "choir": ("chords", "melody"),
    "acoustic_kit": ("drums",),
    "drum_machine": ("drums",),
    "hand_percussion": ("drums", "arpeggio", "melody"),
    "mallets": _MELODIC,
    "electric_bass": ("bass",),
    "synth_bass": ("bass",),
    "double_bass": ("bass",),
    "acoustic_guitar": _MELODIC,
    "clean_electric_guitar": _MELODIC,
    "distorted_guitar": _MELODIC,
    "acoustic_piano": _MELODIC,
    "electric_piano": _MELODIC,
    "organ": _MELODIC,
    "synth_lead": ("arpeggio", "melody"),
    "synth_pad": ("chords", "arpeggio"),
    "violin": ("arpeggio", "melody"),
    "cello": ("arpeggio", "melody"),
    "string_section": _MELODIC,
    "trumpet": ("melody",),
    "trombone": ("melody",),
    "horn": ("melody",),
    "brass_section": ("chords", "melody"),
    "flute": ("arpeggio", "melody"),
    "clarinet": ("arpeggio", "melody"),
    "saxophone": ("melody",),
    "double_reed": ("melody",),
    "harp": _MELODIC,
    "banjo": _MELODIC,
    "sitar": ("melody",),
}

_GUITAR_TECHNIQUES = ("vibrato", "bend_up", "bend_down", "slide", "glissando", "tremolo", "trill",
                      "staccato", "harmonic")
_BOWED_TECHNIQUES = ("vibrato", "slide", "glissando", "tremolo", "trill", "staccato", "pizzicato")
TECHNIQUES_BY_LABEL: dict[str, tuple[str, ...]] = {
    "choir": ("vibrato",),
    "hand_percussion": ("tremolo",),
    "mallets": ("glissando", "tremolo", "trill", "staccato"),
    "electric_bass": ("bend_up", "bend_down", "slide", "staccato"),
    "synth_bass": ("bend_up", "bend_down", "slide", "staccato"),
    "double_bass": ("vibrato", "slide", "tremolo", "staccato"),
    "acoustic_guitar": _GUITAR_TECHNIQUES,
    "clean_electric_guitar": _GUITAR_TECHNIQUES + ("palm_mute",),
    "distorted_guitar": _GUITAR_TECHNIQUES,
    "acoustic_piano": ("glissando", "tremolo", "trill", "staccato"),
    "electric_piano": ("glissando", "tremolo", "trill", "staccato"),
    "organ": ("vibrato", "glissando", "trill", "staccato"),
    "synth_lead": ("vibrato", "bend_up", "bend_down", "slide", "glissando", "tremolo", "trill",
                   "staccato"),
    "synth_pad": ("vibrato",),
    "violin": _BOWED_TECHNIQUES,
    "cello": _BOWED_TECHNIQUES,
    "string_section": ("vibrato", "glissando", "tremolo", "trill", "staccato", "pizzicato"),
    "trumpet": ("vibrato", "bend_up", "bend_down", "trill", "staccato"),
    "trombone": ("vibrato", "bend_up", "bend_down", "slide", "staccato"),
    "horn": ("vibrato", "trill", "staccato"),
    "brass_section": ("vibrato", "bend_down", "staccato"),
    "flute": ("vibrato", "glissando", "trill", "staccato"),
    "clarinet": ("vibrato", "glissando", "trill", "staccato"),
    "saxophone": ("vibrato", "bend_up", "bend_down", "slide", "glissando", "trill", "staccato"),
    "double_reed": ("vibrato", "trill", "staccato"),
    "harp": ("glissando",),
    "banjo": ("slide", "tremolo"),
    "sitar": ("vibrato", "bend_up", "bend_down", "slide"),
}
# Comfortable playing ranges (MIDI pitches); some programs differ from their label's range.
REGISTERS: dict[str, tuple[int, int]] = {
    "choir": (50, 77), "hand_percussion": (50, 80), "mallets": (57, 93),
    "electric_bass": (28, 52), "synth_bass": (28, 55), "double_bass": (28, 52),
    "acoustic_guitar": (40, 79), "clean_electric_guitar": (40, 84), "distorted_guitar": (40, 79),
    "acoustic_piano": (36, 96), "electric_piano": (40, 88), "organ": (36, 91),
    "synth_lead": (55, 91), "synth_pad": (43, 79),
    "violin": (55, 93), "cello": (36, 72), "string_section": (40, 88),
    "trumpet": (55, 82), "trombone": (40, 72), "horn": (41, 77), "brass_section": (45, 82),
    "flute": (60, 96), "clarinet": (50, 86), "saxophone": (49, 80), "double_reed": (58, 89),
    "harp": (36, 91), "banjo": (48, 79), "sitar": (48, 79),
}
PROGRAM_REGISTERS: dict[int, tuple[int, int]] = {
    9: (72, 103), 11: (53, 89), 12: (45, 88), 13: (65, 100), 14: (60, 77),
    43: (28, 55), 58: (28, 58), 64: (56, 87), 66: (44, 75), 67: (36, 67), 69: (52, 81),
    70: (34, 70), 72: (74, 103), 116: (36, 60), 117: (40, 72), 118: (40, 72),
}

# How long each GM program keeps sounding after a note-off, for note_spans (seconds): the time to
# fall 40 dB below the note's peak after a 0.15 s and a 1 s note, the longer, in the training
# soundfonts (FluidR3_GM, TimGM6mb), rounded up to 50 ms.
PROGRAM_RELEASES = {
    0: 0.35, 1: 0.35, 2: 0.45, 3: 0.3, 4: 0.15, 5: 0.35, 6: 0.2, 7: 0.1, 8: 1.15, 9: 1.05, 10: 2,
    11: 0.55, 12: 0.55, 13: 0.4, 14: 2.35, 16: 0.1, 17: 0.15, 18: 0.15, 19: 1.1, 20: 0.2, 21: 0.2,
    22: 0.1, 23: 0.2, 24: 0.55, 25: 1.9, 26: 0.15, 27: 0.25, 28: 0.1, 29: 0.1, 30: 0.15, 31: 0.15,
    32: 0.1, 33: 0.1, 34: 0.1, 35: 0.15, 36: 0.1, 37: 0.1, 38: 0.25, 39: 0.1, 40: 0.3, 41: 0.25,
    42: 0.4, 43: 0.25, 44: 0.8, 45: 0.5, 46: 2.75, 48: 0.95, 49: 1.5, 50: 1.65, 51: 1.3, 52: 1.15,
    53: 0.35, 54: 1, 56: 0.25, 57: 0.15, 58: 0.2, 59: 0.15, 60: 0.55, 61: 0.25, 62: 0.25, 63: 0.25,
    64: 0.2, 65: 0.15, 66: 0.2, 67: 0.15, 68: 0.3, 69: 0.2, 70: 0.2, 71: 0.2, 72: 0.2, 73: 0.3,
    74: 0.15, 75: 0.1, 76: 0.25, 77: 0.35, 78: 0.25, 79: 0.15, 80: 0.2, 81: 0.2, 82: 0.75, 83: 0.2,
    84: 0.1, 85: 0.5, 86: 0.45, 87: 0.05, 88: 2.45, 89: 1.3, 90: 1.1, 91: 1.75, 92: 1.55, 93: 2.05,
    94: 2.4, 95: 2.15, 104: 1.65, 105: 1.1, 106: 0.4, 107: 1, 113: 0.25, 114: 0.8, 115: 0.05,
    116: 2.45, 117: 0.9, 118: 0.3,
}

# GM drum notes -> how long the hit sounds (seconds).
DRUM_DECAYS = {
    35: 0.35, 36: 0.35, 37: 0.1, 38: 0.3, 39: 0.25, 40: 0.3, 41: 0.5, 42: 0.12, 43: 0.5,
    44: 0.15, 45: 0.5, 46: 0.6, 47: 0.5, 48: 0.5, 49: 2.0, 50: 0.5, 51: 1.0, 52: 1.5, 53: 1.2,
    54: 0.3, 55: 1.0, 56: 0.3, 57: 2.0, 59: 1.0, 60: 0.25, 61: 0.25, 62: 0.15, 63: 0.35,
    64: 0.35, 65: 0.4, 66: 0.4, 67: 0.4, 68: 0.4, 69: 0.15, 70: 0.12, 73: 0.15, 74: 0.45,
    75: 0.15, 76: 0.15, 77: 0.15, 80: 0.2, 81: 1.2,
}
_DRUM_MACHINE_KICK_DECAY = 0.8
_TOMS = (50, 48, 47, 45, 43, 41)

STACCATO_MAX_LENGTH = 0.12  # seconds; every staccato note is at most this long
_GUARD = 0.12  # seconds kept free of other notes around a gesture
_CONTROL_STEP = 0.005  # seconds between pitch-bend messages of a ramp or LFO


@dataclass
class Part:
    """One instrument on one MIDI channel, with labels in seconds from the part's start."""

    midi: mido.MidiFile
    kind: str
    fine_label: str
    family: str
    program: int
    bank: int
    is_drum: bool
    channel: int
    duration: float
    note_spans: list[tuple[float, float]]  # when the instrument sounds (note-on to note-off + release)
    technique_spans: list[tuple[float, float, str]]
    tempo_bpm: float
    key: str
    beats_per_bar: int
    progression: tuple[int, ...]  # scale degree of the chord in each bar, repeated
    notes: list[tuple[float, float, int, int]] = field(default_factory=list)  # start, end, pitch, velocity
    pitch_bend_range: int = PITCH_BEND_RANGE

    def midi_bytes(self) -> bytes:
        buffer = io.BytesIO()
        self.midi.save(file=buffer)
        return buffer.getvalue()

    def labels(self) -> dict:
        """Everything but the MIDI, as plain JSON-ready values."""
        return {
            "kind": self.kind, "fine_label": self.fine_label, "family": self.family,
            "program": self.program, "bank": self.bank, "is_drum": self.is_drum,
            "channel": self.channel, "duration": self.duration,
            "note_spans": [list(s) for s in self.note_spans],
            "technique_spans": [list(s) for s in self.technique_spans],
            "tempo_bpm": self.tempo_bpm, "key": self.key, "beats_per_bar": self.beats_per_bar,
            "progression": list(self.progression), "notes": [list(n) for n in self.notes],
            "pitch_bend_range": self.pitch_bend_range,
        }


def kinds_for(fine_label: str) -> tuple[str, ...]:
    """The part kinds that fine label can play (none for labels that are not GM presets)."""
    return KINDS_BY_LABEL.get(fine_label, ())


def techniques_for(fine_label: str, kind: str) -> tuple[str, ...]:
    """The techniques `make_part` can play for that instrument and kind."""
    if kind == "drums" or kind not in kinds_for(fine_label):
        return ()
    return TECHNIQUES_BY_LABEL.get(fine_label, ())


def random_key(rng: np.random.Generator) -> str:
    return f"{NOTE_NAMES[int(rng.integers(12))]} {('major', 'minor')[int(rng.integers(2))]}"


_PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 3, 4, 0), (5, 3, 0, 4), (0, 5, 3, 4), (1, 4, 0, 0), (0, 3, 0, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 5, 3, 4), (0, 3, 6, 2)),
}


def random_progression(rng: np.random.Generator, key: str) -> tuple[int, ...]:
    """A common progression in the key's mode: one scale degree per bar, some chords held 2 bars."""
    _, mode = _parse_key(key)
    options = _PROGRESSIONS[mode]
    chords = options[int(rng.integers(len(options)))]
    bars_per_chord = int(rng.choice([1, 1, 2]))
    return tuple(degree for degree in chords for _ in range(bars_per_chord))


def make_part(kind: str, fine_label: str, rng: np.random.Generator, duration: float,
              tempo_bpm: float, key: str, techniques: tuple[str, ...] | list[str] = (), *,
              program: int | None = None, beats_per_bar: int = 4,
              progression: tuple[int, ...] | None = None) -> Part:
    """A part of `kind` played by `fine_label`, `duration` seconds long, with these technique gestures.

    `key` is "<tonic> major|minor" (tonic one of NOTE_NAMES). `program` defaults to one of the fine
    label's GM programs (a drum kit for drum parts). Parts that share tempo, key, beats_per_bar and
    progression fit together in a mix. Raises ValueError for a kind, technique or program the
    instrument cannot play, or a duration too short for the gestures asked for.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown part kind {kind!r}; expected one of {KINDS}")
    if fine_label not in FINE_LABELS:
        raise ValueError(f"unknown fine label {fine_label!r}")
    if not kinds_for(fine_label):
        raise ValueError(f"{fine_label} is not a GM preset (it is synthesised from speech)")
    if kind not in kinds_for(fine_label):
        raise ValueError(f"{fine_label} does not play {kind} parts (it plays {kinds_for(fine_label)})")
    techniques = tuple(techniques)
    allowed = techniques_for(fine_label, kind)
    for technique in techniques:
        if technique not in TECHNIQUES:
            raise ValueError(f"unknown technique {technique!r}")
        if technique not in allowed:
            raise ValueError(f"{fine_label} {kind} parts cannot play {technique} (allowed: {allowed})")
    if duration < MIN_DURATION:
        raise ValueError(f"a part lasts at least {MIN_DURATION} s, not {duration}")
    if not 30 <= tempo_bpm <= 300:
        raise ValueError(f"tempo {tempo_bpm} bpm is outside 30-300")
    if beats_per_bar not in (2, 3, 4, 5, 6, 7):
        raise ValueError(f"beats_per_bar must be 2 to 7, not {beats_per_bar}")

    is_drum = kind == "drums"
    program = _choose_program(fine_label, kind, techniques, program, rng)
    whole_part_technique = None if is_drum else _technique_of_program(program)
    if whole_part_technique is not None and set(techniques) - {whole_part_technique}:
        raise ValueError(f"program {program} plays {whole_part_technique} throughout; "
                         f"it cannot also play {techniques}")
    if whole_part_technique is not None:
        techniques = ()

    if progression is None:
        progression = random_progression(rng, key)
    ctx = _Context(rng, kind, fine_label, program, duration, tempo_bpm, key, beats_per_bar,
                   tuple(int(d) for d in progression))
    score = _Score(duration, release=ctx.release)
    if is_drum:
        (_hand_percussion if fine_label == "hand_percussion" else _drum_groove)(ctx, score)
    else:
        _GENERATORS[kind](ctx, score)
    order = rng.permutation(len(techniques))
    for index in order:
        _place_gesture(ctx, score, techniques[int(index)])
    return score.to_part(ctx, whole_part_technique)


# One-shots as sample packs hold them: kit pieces (never cowbell or other hand percussion), hand
# percussion, every GM drum kit (standard, room, power, electronic, TR-808, jazz, brush).
HIT_KITS = {"acoustic_kit": (0, 8, 16, 32, 40), "drum_machine": (24, 25), "hand_percussion": (0, 8, 16, 24, 25, 32)}
_KIT_HIT_NOTES = (35, 36, 36, 37, 38, 38, 39, 40, 41, 42, 42, 43, 44, 45, 46, 46, 47, 48, 49, 50,
                  51, 52, 53, 55, 57, 59)
_HAND_HIT_NOTES = (54, 56, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 73, 74, 75, 76, 77, 80, 81)


def make_hits(fine_label: str, rng: np.random.Generator, duration: float, tempo_bpm: float,
              key: str, *, program: int | None = None) -> Part:
    """Isolated one-shots and short phrases with silence around them, as in a sample library.

    Drum kits play single kit pieces, layered hits (kick and crash) and short rolls or flams;
    hand percussion plays single hits and short figures on the drum channel (not GM programs
    113-118, whose low synth drums and toms sound like bass notes); pitched instruments play
    single notes, chord stabs and short phrases of 2 to 6 notes. Between events the part is silent for 0.2 to 1.5 s after the last release.
    Labels (`note_spans`) cover each note plus its release, as for `make_part`.
    """
    if fine_label not in FINE_LABELS:
        raise ValueError(f"unknown fine label {fine_label!r}")
    if not kinds_for(fine_label):
        raise ValueError(f"{fine_label} is not a GM preset (it is synthesised from speech)")
    if duration < MIN_DURATION:
        raise ValueError(f"a part lasts at least {MIN_DURATION} s, not {duration}")
    drum_channel = fine_label in ("acoustic_kit", "drum_machine", "hand_percussion")
    if drum_channel:
        kind = "drums"
        kits = HIT_KITS[fine_label]
        program = int(kits[int(rng.integers(len(kits)))]) if program is None else program
    else:
        kinds = tuple(k for k in kinds_for(fine_label) if k != "drums")
        kind = kinds[int(rng.integers(len(kinds)))]
        program = _choose_program(fine_label, kind, (), program, rng)
    ctx = _Context(rng, kind, fine_label, program, duration, tempo_bpm, key, 4,
                   random_progression(rng, key))
    score = _Score(duration, release=ctx.release)
    t = float(rng.uniform(0.0, 0.6))
    while t < duration - 0.15:
        if drum_channel:
            end = _hit_event(ctx, score, t)
        else:
            end = _pitched_event(ctx, score, t)
        t = end + float(rng.uniform(0.2, 1.5))
    return score.to_part(ctx, None)


def _hit_event(ctx: _Context, score: _Score, t: float) -> float:
    """One drum or hand-percussion event at t; returns when it has died away."""
    rng = ctx.rng
    pool = _HAND_HIT_NOTES if ctx.fine_label == "hand_percussion" else _KIT_HIT_NOTES
    r = rng.random()
    if r < 0.6:  # a single hit
        hits = [(t, int(ctx.choose(pool)), float(rng.uniform(0.0, 1.0)))]
    elif r < 0.75 and ctx.fine_label != "hand_percussion":  # kick (or snare) with a cymbal
        hits = [(t, int(ctx.choose([35, 36, 38])), 0.8), (t, int(ctx.choose([49, 57, 51, 55, 42, 46])), 0.8)]
    else:  # a flam, roll or short figure
        step = float(rng.uniform(0.04, 0.18))
        notes = [int(ctx.choose(pool)) for _ in range(int(rng.integers(1, 3)))]
        hits = [(t + i * step, notes[int(rng.integers(len(notes)))], float(rng.uniform(0.2, 1.0)))
                for i in range(int(rng.integers(2, 7)))]
    hits = [h for h in hits if h[0] < score.duration - 0.05]
    _add_drum_hits(ctx, score, hits)
    decays = [(_DRUM_MACHINE_KICK_DECAY if n in (35, 36) and ctx.fine_label == "drum_machine"
               else DRUM_DECAYS.get(n, 0.3)) for _, n, _ in hits]
    return max([h[0] + d for h, d in zip(hits, decays)], default=t)


def _pitched_event(ctx: _Context, score: _Score, t: float) -> float:
    """One isolated note, chord stab or short phrase at t; returns when its release has ended."""
    rng = ctx.rng
    r = rng.random()
    velocity = ctx.velocity(spread=10.0)
    if r < 0.45:  # a single note, short or held
        length = float(np.exp(rng.uniform(np.log(0.08), np.log(1.6))))
        score.add(t, t + length, ctx.gesture_pitch(t), velocity)
        end = t + length
    elif r < 0.7 and ctx.kind != "bass":  # a chord stab
        length = float(rng.uniform(0.08, 0.6))
        for p in ctx.voicing(t, center=(ctx.low + ctx.high) / 2):
            score.add(t, t + length, p, velocity)
        end = t + length
    else:  # a short phrase on a scale walk
        step = float(rng.uniform(0.08, 0.35))
        pitches = ctx.scale_pitches()
        i = int(rng.integers(len(pitches)))
        end = t
        for k in range(int(rng.integers(2, 7))):
            start = t + k * step
            end = start + step * float(rng.uniform(0.5, 1.0))
            score.add(start, end, pitches[i], ctx.velocity(spread=8.0))
            i = int(np.clip(i + rng.choice([-2, -1, 1, 2, 0]), 0, len(pitches) - 1))
    return min(end, score.duration) + ctx.release


def _choose_program(fine_label: str, kind: str, techniques: tuple[str, ...], program: int | None,
                    rng: np.random.Generator) -> int:
    if kind == "drums":
        kits = DRUM_KITS[fine_label]
        if program is None:
            return int(kits[int(rng.integers(len(kits)))])
        if program not in kits:
            raise ValueError(f"{fine_label} uses drum kits {kits}, not {program}")
        return program
    programs = FINE_LABELS[fine_label][1] or ()
    if program is not None:
        if program not in programs:
            raise ValueError(f"{fine_label} uses GM programs {programs}, not {program}")
        return program
    if len(techniques) == 1 and TECHNIQUE_PROGRAMS.get(techniques[0]) in programs and rng.random() < 0.3:
        return TECHNIQUE_PROGRAMS[techniques[0]]  # the whole part in the technique's own preset
    plain = [p for p in programs if _technique_of_program(p) is None]
    return int(plain[int(rng.integers(len(plain)))])


def _technique_of_program(program: int) -> str | None:
    for technique, technique_program in TECHNIQUE_PROGRAMS.items():
        if technique_program == program:
            return technique
    return None


def _parse_key(key: str) -> tuple[int, str]:
    words = key.split()
    if len(words) != 2 or words[0] not in NOTE_NAMES or words[1] not in MODES:
        raise ValueError(f"key must look like 'Eb major' or 'F# minor' (tonics {NOTE_NAMES}), not {key!r}")
    return NOTE_NAMES.index(words[0]), words[1]


def _pitch_bend(semitones: float) -> int:
    return int(min(8191, max(-8192, round(semitones / PITCH_BEND_RANGE * 8192))))


# --------------------------------------------------------------------------------------------
# Musical context: grid, key, chords, register, dynamics


class _Context:
    def __init__(self, rng, kind, fine_label, program, duration, tempo_bpm, key, beats_per_bar,
                 progression):
        self.rng = rng
        self.kind = kind
        self.fine_label = fine_label
        self.family = family_of(fine_label)
        self.program = program
        self.duration = duration
        beat_ms = int(round(60000 / tempo_bpm))
        self.beat_ms = beat_ms
        self.beat = beat_ms / 1000
        self.tempo_bpm = 60000 / beat_ms
        self.beats_per_bar = beats_per_bar
        self.bar = self.beat * beats_per_bar
        self.key = key
        self.tonic, self.mode = _parse_key(key)
        self.scale = tuple((self.tonic + step) % 12 for step in MODES[self.mode])
        self.progression = progression
        if kind == "drums":
            self.low, self.high = 0, 127
        else:
            self.low, self.high = PROGRAM_REGISTERS.get(program, REGISTERS[fine_label])
        self.release = 0.0 if kind == "drums" else PROGRAM_RELEASES[program]
        self.dynamic = float(rng.uniform(50, 112))
        self.density = float(rng.uniform(0.3, 1.0))
        self.humanize = 0.0 if fine_label == "drum_machine" else float(rng.uniform(0.0, 0.012))

    # time --------------------------------------------------------------------------------
    def jitter(self, t: float) -> float:
        if self.humanize == 0.0:
            return t
        return max(0.0, t + float(self.rng.normal(0.0, self.humanize)))

    def velocity(self, accent: float = 0.0, spread: float = 6.0) -> int:
        value = self.dynamic + 14.0 * accent + float(self.rng.normal(0.0, spread))
        return int(min(127, max(1, round(value))))

    def regions(self) -> list[tuple[float, float]]:
        """Stretches where the part plays, on beat boundaries; the gaps are rests (silence)."""
        rng, beat = self.rng, self.beat
        rest_chance = 0.35 + 0.4 * (1.0 - self.density)
        t = beat * int(rng.integers(1, 2 * self.beats_per_bar + 1)) if rng.random() < 0.35 else 0.0
        if t > self.duration - 2 * beat:
            t = 0.0
        regions = []
        while t < self.duration - 0.25:
            end = min(self.duration, t + self.bar * int(rng.integers(1, 5)))
            if regions and abs(regions[-1][1] - t) < 1e-9:
                regions[-1] = (regions[-1][0], end)
            else:
                regions.append((t, end))
            t = end
            if rng.random() < rest_chance:
                t += beat * int(rng.choice([1, 2, 3, 4, 6, 8]))
        return regions

    # harmony -----------------------------------------------------------------------------
    def degree_at(self, t: float) -> int:
        bar = int(t / self.bar + 1e-9)
        return self.progression[bar % len(self.progression)]

    def chord_at(self, t: float, seventh: bool = False) -> list[int]:
        """Pitch classes of the diatonic chord at time t, root first."""
        degree = self.degree_at(t)
        steps = (0, 2, 4, 6) if seventh else (0, 2, 4)
        return [self.scale[(degree + s) % 7] for s in steps]

    def scale_pitches(self, low: int | None = None, high: int | None = None) -> list[int]:
        low = self.low if low is None else low
        high = self.high if high is None else high
        return [p for p in range(low, high + 1) if p % 12 in self.scale]

    def pitches_of(self, pitch_classes, low: int, high: int) -> list[int]:
        return [p for p in range(low, high + 1) if p % 12 in pitch_classes]

    def melody_range(self) -> tuple[int, int]:
        return max(self.low, self.high - 28), self.high

    def voicing(self, t: float, center: float, notes: int | None = None,
                previous: list[int] | None = None) -> list[int]:
        """A close chord voicing near `center` (nearest to the previous voicing), within the register."""
        seventh = self.rng.random() < 0.3
        pcs = self.chord_at(t, seventh)
        notes = notes or len(pcs)
        target = float(np.mean(previous)) if previous else center
        best = None
        for inversion in range(len(pcs)):
            order = pcs[inversion:] + pcs[:inversion]
            base = int(center) - 6
            chord = []
            for pc in (order * 2)[:notes]:
                p = base + ((pc - base) % 12)
                while chord and p <= chord[-1]:
                    p += 12
                chord.append(p)
                base = p
            while chord[-1] > self.high and chord[0] - 12 >= self.low:
                chord = [p - 12 for p in chord]
            while chord[0] < self.low:
                chord = [p + 12 for p in chord]
            cost = abs(float(np.mean(chord)) - target)
            if best is None or cost < best[0]:
                best = (cost, chord)
        return [p for p in best[1] if p <= self.high] or [best[1][0]]

    def voice_for(self, t: float, pitch: int) -> list[int]:
        """The notes a gesture plays at t: a chord in chord parts, the pitch alone otherwise."""
        if self.kind != "chords":
            return [pitch]
        return self.voicing(t, center=pitch + 4)

    def gesture_pitch(self, t: float, low: int | None = None, high: int | None = None) -> int:
        """A chord tone (or, failing that, a scale note) from the middle of the register."""
        low = self.low if low is None else low
        high = self.high if high is None else high
        span = high - low
        lo, hi = low + span // 5, high - span // 5
        candidates = self.pitches_of(self.chord_at(t), lo, hi) or self.scale_pitches(low, high)
        return int(candidates[int(self.rng.integers(len(candidates)))])

    def choose(self, options):
        return options[int(self.rng.integers(len(options)))]


# --------------------------------------------------------------------------------------------
# The score: notes and controller events in seconds, turned into MIDI and labels


@dataclass
class _Note:
    start: float
    end: float
    pitch: int
    velocity: int
    tail: float  # how long it keeps sounding after the note-off (labels only)
    technique: str | None = None
    in_gesture: bool = False


@dataclass
class _Gesture:
    technique: str
    notes: list[_Note]
    controls: list[tuple[float, mido.Message]] = field(default_factory=list)
    spans: list[tuple[float, float]] = field(default_factory=list)  # when the pitch moves, if it does
    restores: tuple[str, ...] = ()  # what to restore before the next note: "pitch", "portamento", "program"

    @property
    def start(self) -> float:
        return min([n.start for n in self.notes] + [t for t, _ in self.controls])

    @property
    def end(self) -> float:
        return max(n.end for n in self.notes)


_ORDER_NOTE_OFF, _ORDER_RESET, _ORDER_CONTROL, _ORDER_NOTE_ON = 0, 1, 2, 3


def _ms(t: float) -> int:
    return int(round(t * 1000))


class _Score:
    def __init__(self, duration: float, release: float):
        self.duration = duration
        self.release = release
        self.notes: list[_Note] = []
        self.gestures: list[_Gesture] = []

    def add(self, start: float, end: float, pitch: int, velocity: int, tail: float | None = None):
        start = max(0.0, start)
        end = min(end, self.duration)
        if end - start >= 0.02 and 0 <= pitch <= 127:
            self.notes.append(_Note(start, end, int(pitch), int(min(127, max(1, velocity))),
                                    self.release if tail is None else tail))

    def fits(self, gesture: _Gesture) -> bool:
        if gesture.start < 0.0 or gesture.end > self.duration - 0.02:
            return False
        return all(gesture.end + _GUARD <= other.start - _GUARD or
                   gesture.start - _GUARD >= other.end + _GUARD for other in self.gestures)

    def place(self, gesture: _Gesture) -> None:
        """Clear the gesture's window (and a guard around it) of the part's own notes, then add it."""
        lo, hi = gesture.start - _GUARD, gesture.end + _GUARD
        kept = []
        for note in self.notes:
            if note.in_gesture or note.end <= lo or note.start >= hi:
                kept.append(note)
            elif note.start < lo and lo - note.start >= 0.05:
                note.end = lo
                kept.append(note)
        for note in gesture.notes:
            note.in_gesture = True
        self.notes = kept + gesture.notes
        self.gestures.append(gesture)

    def to_part(self, ctx: _Context, whole_part_technique: str | None) -> Part:
        duration_ms = _ms(self.duration)
        notes = self._quantized_notes(duration_ms)
        if whole_part_technique:
            for note in notes:
                note[5] = whole_part_technique
        channel = DRUM_CHANNEL if ctx.kind == "drums" else MELODIC_CHANNEL
        events: list[tuple[int, int, int, mido.Message]] = []

        def emit(ms: int, order: int, message: mido.Message):
            events.append((ms, order, len(events), message.copy(channel=channel)))

        for start, end, pitch, velocity, _, _ in notes:
            emit(start, _ORDER_NOTE_ON, mido.Message("note_on", note=pitch, velocity=velocity))
            emit(end, _ORDER_NOTE_OFF, mido.Message("note_off", note=pitch, velocity=0))
        onsets = sorted(n[0] for n in notes)
        technique_spans: list[tuple[int, int, str]] = []
        for gesture in self.gestures:
            for t, message in gesture.controls:
                emit(_ms(t), _ORDER_CONTROL, message)
            technique_spans += [(_ms(a), _ms(b), gesture.technique) for a, b in gesture.spans]
            after = [o for o in onsets if o >= _ms(gesture.end)]
            reset_at = after[0] if after else duration_ms
            for message in _restore_messages(gesture.restores, ctx.program):
                emit(reset_at, _ORDER_RESET, message)
        technique_spans += _note_technique_spans(notes)
        technique_spans.sort()

        track = mido.MidiTrack()
        track.append(mido.MetaMessage("track_name", name=f"{ctx.fine_label} {ctx.kind}", time=0))
        track.append(mido.MetaMessage("set_tempo", tempo=ctx.beat_ms * 1000, time=0))
        track.append(mido.MetaMessage("time_signature", numerator=ctx.beats_per_bar, denominator=4,
                                      time=0))
        tonic_name = NOTE_NAMES[ctx.tonic]
        track.append(mido.MetaMessage("key_signature",
                                      key=tonic_name + ("m" if ctx.mode == "minor" else ""), time=0))
        for message in _setup_messages(ctx.kind == "drums", ctx.program):
            track.append(message.copy(channel=channel, time=0))
        now = 0
        for ms, _, _, message in sorted(events, key=lambda e: e[:3]):
            track.append(message.copy(time=ms - now))
            now = ms
        track.append(mido.MetaMessage("end_of_track", time=duration_ms - now))
        midi = mido.MidiFile(type=0, ticks_per_beat=ctx.beat_ms)
        midi.tracks.append(track)

        sounding = _merge([(s, min(e + _ms(tail), duration_ms)) for s, e, _, _, tail, _ in notes])
        return Part(
            midi=midi, kind=ctx.kind, fine_label=ctx.fine_label, family=ctx.family,
            program=ctx.program, bank=DRUM_BANK if ctx.kind == "drums" else 0,
            is_drum=ctx.kind == "drums", channel=channel, duration=duration_ms / 1000,
            note_spans=[(a / 1000, b / 1000) for a, b in sounding],
            technique_spans=[(a / 1000, b / 1000, label) for a, b, label in technique_spans],
            tempo_bpm=ctx.tempo_bpm, key=ctx.key, beats_per_bar=ctx.beats_per_bar,
            progression=ctx.progression,
            notes=[(s / 1000, e / 1000, p, v) for s, e, p, v, _, _ in notes],
        )

    def _quantized_notes(self, duration_ms: int) -> list[list]:
        """[start_ms, end_ms, pitch, velocity, tail_s, technique], same-pitch overlaps cut."""
        notes = sorted(([_ms(n.start), min(_ms(n.end), duration_ms), n.pitch, n.velocity, n.tail,
                         n.technique] for n in self.notes), key=lambda n: (n[0], n[2]))
        last_by_pitch: dict[int, list] = {}
        kept = []
        for note in notes:
            previous = last_by_pitch.get(note[2])
            if previous is not None and previous[1] > note[0]:
                previous[1] = note[0]
            if note[1] > note[0] and note[0] < duration_ms:
                kept.append(note)
                last_by_pitch[note[2]] = note
        return [n for n in kept if n[1] > n[0]]


def _note_technique_spans(notes: list[list]) -> list[tuple[int, int, str]]:
    spans = []
    labels = [t for t in TECHNIQUES if any(n[5] == t for n in notes)]
    for label in labels:
        spans += [(a, b, label) for a, b in _merge([(n[0], n[1]) for n in notes if n[5] == label],
                                                   touching=label != "staccato")]
    return spans


def _merge(intervals, touching: bool = True):
    """Union of intervals; touching ones (end == next start) join unless `touching` is False."""
    merged: list[list[int]] = []
    for a, b in sorted(intervals):
        if merged and (a < merged[-1][1] or (touching and a == merged[-1][1])):
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def _setup_messages(is_drum: bool, program: int) -> list[mido.Message]:
    """Bank, program, pitch-bend range (RPN 0) and neutral controllers at tick 0."""
    cc = lambda control, value: mido.Message("control_change", control=control, value=value)  # noqa: E731
    messages = [] if is_drum else [cc(0, 0), cc(32, 0)]  # channel 10 is bank 128 in GM mode
    messages.append(mido.Message("program_change", program=program))
    messages += [cc(101, 0), cc(100, 0), cc(6, PITCH_BEND_RANGE), cc(38, 0), cc(101, 127), cc(100, 127)]
    messages += [cc(7, 100), cc(10, 64), cc(11, 127), cc(1, 0), cc(65, 0), cc(5, 0), cc(37, 0),
                 mido.Message("pitchwheel", pitch=0)]
    return messages


def _restore_messages(restores: tuple[str, ...], program: int) -> list[mido.Message]:
    messages = []
    if "pitch" in restores:
        messages.append(mido.Message("pitchwheel", pitch=0))
    if "portamento" in restores:
        messages += [mido.Message("control_change", control=65, value=0),
                     mido.Message("control_change", control=5, value=0),
                     mido.Message("control_change", control=37, value=0)]
    if "program" in restores:
        messages.append(mido.Message("program_change", program=program))
    return messages


# --------------------------------------------------------------------------------------------
# Drums: grooves on a step grid, with fills and crashes; hand percussion layers


def _pattern(text: str) -> np.ndarray:
    """'9..5' -> hit probabilities per step (digit / 9)."""
    return np.array([0.0 if c == "." else int(c) / 9 for c in text])


# style -> (steps per beat, swing, {voice: pattern over one 4-beat bar})
_KIT_STYLES = {
    "rock": (4, 0.0, {36: "9...3.5.9..3.2..", 38: "....9.......9...", 42: "9.7.9.7.9.7.9.7.",
                      "ghost": ".1.....1..1....1"}),
    "pop": (4, 0.0, {36: "9..5..7.9.4..5..", 38: "....9.......9...", 42: "9575957595759575"}),
    "four_floor": (4, 0.0, {36: "9...9...9...9...", 39: "....9.......9...", 46: "..9...9...9...9.",
                            42: "9...9...9...9..."}),
    "funk": (4, 0.0, {36: "9..5..6..4.7..3.", 38: "....9..2.3..9..4", 42: "9797979797979797"}),
    "halftime": (4, 0.0, {36: "9.....5...4.....", 38: "........9.......", 42: "9.7.9.7.9.7.9.7."}),
    "hiphop": (4, 0.15, {36: "9.....7..7.....3", 38: "....9.......9...", 42: "9.8.9.8.9.8.9.8."}),
    "shuffle": (3, 0.0, {36: "9..5..9..5..", 38: "...9.....9..", 42: "9.79.79.79.7"}),
    "jazz": (3, 0.0, {51: "9..9.69..9.6", 44: "...9.....9..", 36: "3..3..3..3..", "ghost": ".2..2.2..2.2"}),
}
_MACHINE_STYLES = {
    "808": (4, 0.0, {36: "9..6..9...5..7..", 39: "....9.......9...", 42: "9797979797979797",
                     56: "..........3....."}),
    "techno": (4, 0.0, {36: "9...9...9...9...", 46: "..9...9...9...9.", 39: "....9.......9...",
                        42: "5.5.5.5.5.5.5.5."}),
    "electro": (4, 0.0, {36: "9..9..9...9..9..", 38: "....9.......9...", 42: "9.9.9.9.9.9.9.9."}),
}
_HAND_LAYERS = (
    {62: "7...7...7...7...", 63: "......9.......9.", 64: "...........9...9"},  # congas
    {60: "9.5.9.5.9.5.9.5.", 61: "..7...7...7...7."},  # bongos
    {70: "9575957595759575"},  # maracas
    {69: "9.5.9.5.9.5.9.5."},  # cabasa
    {54: "....9.......9..."},  # tambourine backbeat
    {54: "9.7.9.7.9.7.9.7."},  # tambourine eighths
    {75: "9..9..9...9.9..."},  # claves
    {56: "9...9...9...9..."},  # cowbell
    {76: "9..7..9.....7...", 77: "....7.......7..."},  # wood blocks
    {67: "9...9.....9.9...", 68: "..9...9.9.....9."},  # agogo
    {74: "9.......9.......", 73: "....9.9.....9.9."},  # guiro
    {81: "9.......9.......", 80: "..7.7.7...7.7.7."},  # triangle
)


def _bar_steps(pattern: np.ndarray, steps_per_beat: int, beats_per_bar: int) -> np.ndarray:
    steps = steps_per_beat * beats_per_bar
    return np.resize(pattern, steps)


def _play_grid(ctx: _Context, score: _Score, voices: dict, steps_per_beat: int, swing: float,
               regions, fills: bool, crash: bool) -> None:
    """Realise step patterns bar by bar: a fixed groove with small per-bar variations."""
    rng = ctx.rng
    steps = steps_per_beat * ctx.beats_per_bar
    step = ctx.beat / steps_per_beat
    grooves = {}
    for voice, text in voices.items():
        probabilities = _bar_steps(_pattern(text), steps_per_beat, ctx.beats_per_bar)
        grooves[voice] = (probabilities, rng.random(steps) < probabilities)
    mutation = 0.04 + 0.1 * ctx.density
    hits: list[tuple[float, int, float]] = []  # time, note, accent 0..1
    for start, end in regions:
        bar_start = math.floor(start / ctx.bar + 1e-9) * ctx.bar
        n_bars = math.ceil((end - bar_start) / ctx.bar - 1e-9)
        for b in range(n_bars):
            t_bar = bar_start + b * ctx.bar
            fill_from = steps
            if fills and b == n_bars - 1 and n_bars >= 2 and rng.random() < 0.6:
                fill_from = steps - steps_per_beat * int(rng.integers(1, 3))
            for voice, (probabilities, core) in grooves.items():
                flips = (rng.random(steps) < mutation) & (probabilities > 0)
                for s in np.flatnonzero(core ^ flips):
                    if s >= fill_from:
                        continue
                    note = 38 if voice == "ghost" else voice
                    accent = 0.1 if voice == "ghost" else probabilities[s]
                    t = t_bar + s * step + (swing * step if s % 2 == 1 else 0.0)
                    hits.append((t, note, accent))
            if fill_from < steps:
                toms = [n for n in _TOMS if rng.random() < 0.8] or [38]
                fill_steps = steps - fill_from
                for i in range(fill_steps):  # snare and toms, high to low, getting louder
                    note = 38 if rng.random() < 0.3 else toms[i * len(toms) // fill_steps]
                    hits.append((t_bar + (fill_from + i) * step, note, 0.5 + 0.5 * i / fill_steps))
            if crash and b == 0 and rng.random() < 0.7:
                hits.append((t_bar, int(ctx.choose([49, 57])), 1.0))
    _add_drum_hits(ctx, score, [h for h in hits if any(a - 1e-9 <= h[0] < b for a, b in regions)])


def _add_drum_hits(ctx: _Context, score: _Score, hits) -> None:
    hits = sorted((ctx.jitter(t), note, accent) for t, note, accent in hits)
    next_same: dict[int, float] = {}
    timed = []
    for t, note, accent in reversed(hits):
        decay = DRUM_DECAYS.get(note, 0.3)
        if note in (35, 36) and ctx.fine_label == "drum_machine":
            decay = _DRUM_MACHINE_KICK_DECAY
        off = min(t + decay, next_same.get(note, math.inf))
        next_same[note] = t
        timed.append((t, off, note, accent, decay))
    for t, off, note, accent, decay in reversed(timed):
        velocity = ctx.velocity(accent=2.0 * accent - 1.0, spread=2.0 if ctx.humanize == 0 else 6.0)
        score.add(t, off, note, velocity, tail=max(0.0, t + decay - off))


def _drum_groove(ctx: _Context, score: _Score) -> None:
    styles = _MACHINE_STYLES if ctx.fine_label == "drum_machine" else _KIT_STYLES
    if ctx.program == 40:  # brushes
        styles = {k: styles[k] for k in ("jazz", "shuffle", "halftime")}
    name = ctx.choose(sorted(styles))
    steps_per_beat, swing, voices = styles[name]
    voices = dict(voices)
    if ctx.rng.random() < 0.3 and 42 in voices:  # ride instead of hi-hat
        voices[51] = voices.pop(42)
    if steps_per_beat == 4 and not swing and ctx.rng.random() < 0.15:
        swing = float(ctx.rng.uniform(0.1, 0.3))
    _play_grid(ctx, score, voices, steps_per_beat, swing, ctx.regions(), fills=True, crash=True)


def _hand_percussion(ctx: _Context, score: _Score) -> None:
    count = int(ctx.rng.integers(1, 4))
    layers = ctx.rng.choice(len(_HAND_LAYERS), size=count, replace=False)
    voices = {}
    for index in sorted(int(i) for i in layers):
        voices.update(_HAND_LAYERS[index])
    _play_grid(ctx, score, voices, 4, 0.0, ctx.regions(), fills=False, crash=False)


# --------------------------------------------------------------------------------------------
# Pitched parts


def _articulation(ctx: _Context, onset_gap: float) -> float:
    """A legato-to-detached note length for an onset gap, never as short as a staccato note."""
    length = onset_gap * float(ctx.rng.uniform(0.75, 1.0))
    return max(length, min(onset_gap, 0.15))


def _bass(ctx: _Context, score: _Score) -> None:
    rng = ctx.rng
    style = ctx.choose(("whole", "halves", "root_fifth", "eighths", "walking", "funk", "syncopated"))
    art = float(rng.uniform(0.6, 0.95))
    for start, end in ctx.regions():
        t_bar = math.floor(start / ctx.bar + 1e-9) * ctx.bar
        while t_bar < end - 1e-9:
            root_pc = ctx.chord_at(t_bar + 1e-6)[0]
            roots = ctx.pitches_of([root_pc], ctx.low, ctx.low + 14)
            root = roots[0] if len(roots) == 1 or rng.random() < 0.7 else roots[1]
            fifth = root + 7 if root + 7 <= ctx.high else root - 5
            next_root_pc = ctx.chord_at(t_bar + ctx.bar + 1e-6)[0]
            for offset, length, pitch in _bass_bar(ctx, style, root, fifth, next_root_pc):
                t = t_bar + offset * ctx.beat
                if start - 1e-9 <= t < end:
                    onset_gap = length * ctx.beat
                    note_length = max(onset_gap * art, min(onset_gap, 0.15))
                    score.add(ctx.jitter(t), min(t + note_length, end), pitch,
                              ctx.velocity(accent=1.0 if offset == 0 else 0.0))
            t_bar += ctx.bar


def _bass_bar(ctx: _Context, style: str, root: int, fifth: int, next_root_pc: int):
    """(beat offset, length in beats, pitch) for one bar of a bass style."""
    rng, beats = ctx.rng, ctx.beats_per_bar
    if style == "whole":
        return [(0, beats, root)]
    if style == "halves":
        half = beats / 2
        return [(0, half, root), (half, half, root if rng.random() < 0.5 else fifth)]
    if style == "root_fifth":
        return [(b, 1, root if b % 2 == 0 else fifth) for b in range(beats)]
    if style == "eighths":
        return [(b / 2, 0.5, root + 12 if rng.random() < 0.15 and root + 12 <= ctx.high else root)
                for b in range(2 * beats)]
    if style == "walking":
        line = [root]
        scale = ctx.scale_pitches()
        for _ in range(beats - 2):
            near = [p for p in scale if 0 < abs(p - line[-1]) <= 4]
            line.append(ctx.choose(near) if near else root)
        target = ctx.pitches_of([next_root_pc], line[-1] - 6, line[-1] + 6)
        approach = (target[0] + ctx.choose((-1, 1))) if target else fifth
        line.append(min(ctx.high, max(ctx.low, approach)))
        return [(b, 1, p) for b, p in enumerate(line[:beats])]
    choices = (root, root, root + 12, fifth, root + 10)
    hits = []
    steps = 4 * beats
    cells = ("9..5..7.9.4..5..", "9..9..9...9.9...") if style == "syncopated" else ("9.35.27.5.36.28.",)
    probabilities = _bar_steps(_pattern(ctx.choose(cells)), 4, beats) * (0.5 + 0.5 * ctx.density)
    on = [s for s in range(steps) if s == 0 or rng.random() < probabilities[s]]
    for i, s in enumerate(on):
        gap = ((on[i + 1] if i + 1 < len(on) else steps) - s) / 4
        pitch = root if s == 0 else int(choices[int(rng.integers(len(choices)))])
        hits.append((s / 4, gap, pitch if pitch <= ctx.high else root))
    return hits


_STRUM_PATTERNS = ("D.......", "D...D...", "D.D.D.D.", "D.DU.UDU", "D..D..D.", "D.DUD.DU", "D..UD.DU")
_COMP_PATTERNS = (".x.x.x.x", "x..x....", "...x..x.", "x.x..x..", ".x...x..")


def _chords(ctx: _Context, score: _Score) -> None:
    rng = ctx.rng
    guitar = ctx.family == "guitar" or ctx.fine_label == "banjo"
    if ctx.fine_label == "distorted_guitar":
        styles = ("power", "power", "strum")
    elif ctx.fine_label == "synth_pad":
        styles = ("block",)
    elif ctx.fine_label in ("choir", "string_section", "organ", "brass_section"):
        styles = ("block", "block", "comp")
    else:
        styles = ("block", "comp") + (("strum", "strum") if guitar else ())
    style = ctx.choose(styles)
    center = ctx.low + 0.45 * (ctx.high - ctx.low)
    cells = ctx.choose(_STRUM_PATTERNS if style == "strum" else _COMP_PATTERNS)
    chords_per_bar = 2 if style == "block" and rng.random() < 0.3 else 1
    chug = style == "power" and rng.random() < 0.6
    previous = None
    for start, end in ctx.regions():
        for t, gap, direction in _chord_hits(ctx, style, cells, chords_per_bar, chug, start, end):
            if style == "power":
                root = ctx.pitches_of([ctx.chord_at(t + 1e-6)[0]], ctx.low, ctx.low + 11)[0]
                voicing = [root, root + 7] + ([root + 12] if rng.random() < 0.5 else [])
            else:
                size = int(ctx.choose((3, 4, 4, 5))) if guitar else None
                voicing = previous = ctx.voicing(t + 1e-6, center, notes=size, previous=previous)
            if style == "comp":
                length = max(0.15, gap * float(rng.uniform(0.6, 0.85)))
            else:
                length = gap * float(rng.uniform(0.85, 1.0))
            spread = float(rng.uniform(0.008, 0.03)) if style == "strum" else 0.0
            on_downbeat = abs(t / ctx.bar - round(t / ctx.bar)) < 1e-6
            velocity = ctx.velocity(accent=1.0 if on_downbeat else 0.0)
            onset = ctx.jitter(t)
            for i, pitch in enumerate(voicing if direction != "U" else voicing[::-1]):
                drop = 6 * i if direction == "U" else 0
                score.add(onset + i * spread, min(t + length, end), pitch,
                          velocity - drop + int(rng.integers(-4, 5)))


def _chord_hits(ctx: _Context, style: str, cells: str, chords_per_bar: int, chug: bool,
                start: float, end: float) -> list[tuple[float, float, str]]:
    """(time, time to the next hit, strum direction D/U) for the chords of one region."""
    if style in ("block", "power"):
        count = 2 * ctx.beats_per_bar if chug else chords_per_bar
        bar_cells = [(i * ctx.bar / count, "D") for i in range(count)]
    else:
        letters = _bar_steps(np.array(list(cells)), 2, ctx.beats_per_bar)
        bar_cells = [(i * ctx.beat / 2, str(c)) for i, c in enumerate(letters) if c != "."]
    first_bar = math.floor(start / ctx.bar + 1e-9)
    times = []
    for bar in range(first_bar, math.ceil(end / ctx.bar - 1e-9) + 1):
        times += [(bar * ctx.bar + offset, direction) for offset, direction in bar_cells]
    times = [(t, d) for t, d in times if start - 1e-9 <= t < end]
    if not times or times[0][0] > start + 1e-9:  # the region starts between hits: play on its start
        times.insert(0, (start, "D"))
    nexts = [t for t, _ in times[1:]] + [end]
    return [(t, nxt - t, d) for (t, d), nxt in zip(times, nexts)]


_ARPEGGIO_SHAPES = ("up", "down", "updown", "alberti", "random")


def _arpeggio(ctx: _Context, score: _Score) -> None:
    rng = ctx.rng
    shape = ctx.choose(_ARPEGGIO_SHAPES)
    per_beat = int(ctx.choose((2, 3, 4)))
    while per_beat > 1 and ctx.beat / per_beat < 0.08:
        per_beat -= 1
    step = ctx.beat / per_beat
    let_ring = ctx.family in ("guitar", "piano", "plucked") or ctx.fine_label == "mallets"
    ring_steps = int(rng.integers(2, 5)) if let_ring and rng.random() < 0.6 else 1
    span_notes = int(ctx.choose((3, 4, 5, 6, 8)))
    low = int(ctx.low + 0.2 * (ctx.high - ctx.low))
    for start, end in ctx.regions():
        t = math.ceil(start / step - 1e-9) * step
        i = 0
        while t < end - 1e-9:
            pcs = ctx.chord_at(t + 1e-6, seventh=span_notes > 4 and rng.random() < 0.5)
            tones = ctx.pitches_of(pcs, low, ctx.high)[:span_notes] or ctx.scale_pitches()[:3]
            if shape == "up":
                pitch = tones[i % len(tones)]
            elif shape == "down":
                pitch = tones[::-1][i % len(tones)]
            elif shape == "updown":
                cycle = tones + tones[-2:0:-1]
                pitch = cycle[i % len(cycle)]
            elif shape == "alberti":
                pitch = tones[(0, 2, 1, 2)[i % 4] % len(tones)]
            else:
                pitch = ctx.choose(tones)
            gap = step * ring_steps
            score.add(ctx.jitter(t), min(t + _articulation(ctx, step) + gap - step, end), pitch,
                      ctx.velocity(accent=1.0 if i % per_beat == 0 else 0.0))
            i += 1
            t += step


_MELODY_MOVES = (-1, 1, -2, 2, 0, -3, 3, -4, 4, -5, 5)
_MELODY_MOVE_WEIGHTS = np.array([28, 28, 12, 12, 8, 3, 3, 2, 2, 1, 1]) / 100


def _melody(ctx: _Context, score: _Score) -> None:
    rng = ctx.rng
    low, high = ctx.melody_range()
    scale = ctx.scale_pitches(low, high)
    fast = 0.2 + 0.5 * ctx.density
    lengths = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
    weights = np.array([fast * 0.5, fast, 0.3, 1.0, 0.4, 0.5 * (1 - fast) + 0.1, 0.2 * (1 - fast) + 0.05])
    if ctx.beat * 0.25 < 0.09:
        weights[0] = 0.0
    if ctx.fine_label in ("choir", "string_section", "brass_section", "horn"):
        weights[:2] *= 0.3
    weights /= weights.sum()
    index = len(scale) // 2
    for start, end in ctx.regions():
        t = start
        while t < end - 1e-9:
            beats = float(rng.choice(lengths, p=weights))
            gap = beats * ctx.beat
            if rng.random() < 0.08:  # a breath inside the phrase
                t += gap
                continue
            move = int(rng.choice(_MELODY_MOVES, p=_MELODY_MOVE_WEIGHTS))
            index = min(len(scale) - 1, max(0, index + move))
            pitch = scale[index]
            on_downbeat = abs(t / ctx.bar - round(t / ctx.bar)) < 1e-6
            if on_downbeat and rng.random() < 0.6:
                tones = ctx.pitches_of(ctx.chord_at(t + 1e-6), low, high)
                if tones:
                    pitch = min(tones, key=lambda p: abs(p - pitch))
                    index = scale.index(pitch)
            score.add(ctx.jitter(t), min(t + _articulation(ctx, gap), end), pitch,
                      ctx.velocity(accent=0.5 if on_downbeat else 0.0))
            t += gap


_GENERATORS = {"bass": _bass, "chords": _chords, "arpeggio": _arpeggio, "melody": _melody}


# --------------------------------------------------------------------------------------------
# Technique gestures


def _place_gesture(ctx: _Context, score: _Score, technique: str) -> None:
    """Build the gesture at random half-beat positions until one fits beside the others."""
    half_beat = ctx.beat / 2
    positions = max(1, int((ctx.duration - 0.3) / half_beat))
    for _ in range(60):
        t0 = _GUARD + half_beat * int(ctx.rng.integers(positions))
        gesture = _GESTURES[technique](ctx, t0)
        if score.fits(gesture):
            score.place(gesture)
            return
    raise ValueError(f"no room for a {technique} gesture in a {ctx.duration} s part "
                     "with its other gestures; ask for a longer part or fewer techniques")


def _gesture_note(ctx: _Context, start: float, end: float, pitch: int, velocity: int | None = None,
                  technique: str | None = None) -> _Note:
    return _Note(start, end, int(pitch), velocity or ctx.velocity(), ctx.release, technique)


def _held(ctx: _Context, t0: float, length: float, pitch: int) -> list[_Note]:
    velocity = ctx.velocity(accent=0.5)
    return [_gesture_note(ctx, t0, t0 + length, p, velocity) for p in ctx.voice_for(t0, pitch)]


def _ramp(start: float, length: float, from_semitones: float, to_semitones: float, ease: bool):
    """Pitch-bend messages from one bend to another, every _CONTROL_STEP, ending exactly on target."""
    steps = max(1, int(round(length / _CONTROL_STEP)))
    controls = []
    for i in range(1, steps + 1):
        x = i / steps
        shape = 1 - (1 - x) ** 2 if ease else x
        value = from_semitones + (to_semitones - from_semitones) * shape
        controls.append((start + length * x, mido.Message("pitchwheel", pitch=_pitch_bend(value))))
    return controls


def _vibrato(ctx: _Context, t0: float) -> _Gesture:
    rng = ctx.rng
    length = float(rng.uniform(0.8, 2.5))
    notes = _held(ctx, t0, length, ctx.gesture_pitch(t0))
    lfo_start = t0 + float(rng.uniform(0.05, 0.2))
    if rng.random() < 0.3:  # modulation wheel: the soundfont's own vibrato LFO
        value = int(rng.integers(50, 128))
        lfo_end = t0 + length
        controls = [(lfo_start + 0.02 * i, mido.Message("control_change", control=1, value=value * (i + 1) // 5))
                    for i in range(5)]
        controls.append((lfo_end, mido.Message("control_change", control=1, value=0)))  # its own reset
        return _Gesture("vibrato", notes, controls, [(lfo_start, lfo_end)])
    rate = float(rng.uniform(4.0, 8.0))
    depth_cents = float(np.exp(rng.uniform(np.log(10.0), np.log(100.0))))
    cycles = int((t0 + length - 0.03 - lfo_start) * rate)
    lfo_end = lfo_start + cycles / rate
    controls = []
    steps = int(round((lfo_end - lfo_start) / _CONTROL_STEP))
    for i in range(steps + 1):
        t = lfo_start + i * (lfo_end - lfo_start) / steps
        fade = min(1.0, (t - lfo_start) * rate)  # reaches full depth after one cycle
        cents = depth_cents * max(fade, 0.35) * math.sin(2 * math.pi * rate * (t - lfo_start))
        controls.append((t, mido.Message("pitchwheel", pitch=_pitch_bend(cents / 100))))
    controls[-1] = (lfo_end, mido.Message("pitchwheel", pitch=0))
    return _Gesture("vibrato", notes, controls, [(lfo_start, lfo_end)], ("pitch",))


def _bend_amount(ctx: _Context) -> float:
    return float(ctx.rng.choice([1.0, 1.5, 2.0], p=[0.4, 0.1, 0.5]))


def _bend_up(ctx: _Context, t0: float) -> _Gesture:
    rng = ctx.rng
    ramp_start = t0 + float(rng.uniform(0.03, 0.25))
    ramp = float(rng.uniform(0.08, 0.35))
    length = ramp_start + ramp - t0 + float(rng.uniform(0.1, 1.0))
    notes = _held(ctx, t0, length, ctx.gesture_pitch(t0, high=ctx.high - 2))
    amount = _bend_amount(ctx)
    controls = _ramp(ramp_start, ramp, 0.0, amount, ease=True)
    return _Gesture("bend_up", notes, controls, [(ramp_start, ramp_start + ramp)], ("pitch",))


def _bend_down(ctx: _Context, t0: float) -> _Gesture:
    """A pre-bent note released, or a fall below the note."""
    rng = ctx.rng
    ramp_start = t0 + float(rng.uniform(0.05, 0.3))
    ramp = float(rng.uniform(0.08, 0.35))
    length = ramp_start + ramp - t0 + float(rng.uniform(0.1, 1.0))
    notes = _held(ctx, t0, length, ctx.gesture_pitch(t0, low=ctx.low + 2))
    amount = _bend_amount(ctx)
    controls = []
    if rng.random() < 0.5:
        controls.append((t0, mido.Message("pitchwheel", pitch=_pitch_bend(amount))))
        controls += _ramp(ramp_start, ramp, amount, 0.0, ease=True)
    else:
        controls += _ramp(ramp_start, ramp, 0.0, -amount, ease=False)
    return _Gesture("bend_down", notes, controls, [(ramp_start, ramp_start + ramp)], ("pitch",))


def _slide(ctx: _Context, t0: float) -> _Gesture:
    """A bend joining two notes (one MIDI note), or portamento between two legato notes."""
    rng = ctx.rng
    first = float(rng.uniform(0.2, 0.8))
    glide = float(rng.uniform(0.06, 0.3))
    second = float(rng.uniform(0.2, 0.8))
    scale = ctx.scale_pitches()
    pitch = ctx.gesture_pitch(t0)
    index = scale.index(pitch) if pitch in scale else len(scale) // 2
    target_index = index + int(ctx.choose((-4, -3, -2, -1, 1, 2, 3, 4)))
    if not 0 <= target_index < len(scale):
        target_index = index - (target_index - index)
    target = scale[max(0, min(len(scale) - 1, target_index))]
    if target == pitch:
        target = pitch + 2
    glide = round(glide, 3)  # whole milliseconds, as the portamento time is
    glide_start = round(t0 + first, 3)
    span = [(glide_start, glide_start + glide)]
    end = glide_start + glide + second
    if ctx.kind == "chords" or rng.random() < 0.5:
        notes = _held(ctx, t0, end - t0, pitch)
        controls = _ramp(glide_start, glide, 0.0, target - pitch, ease=False)
        return _Gesture("slide", notes, controls, span, ("pitch",))
    velocity = ctx.velocity()
    glide_ms = _ms(glide)
    notes = [_gesture_note(ctx, t0, glide_start + 0.005, pitch, velocity),
             _gesture_note(ctx, glide_start, end, target, velocity)]
    controls = [(glide_start, mido.Message("control_change", control=5, value=glide_ms // 128)),
                (glide_start, mido.Message("control_change", control=37, value=glide_ms % 128)),
                (glide_start, mido.Message("control_change", control=65, value=127))]
    return _Gesture("slide", notes, controls, span, ("portamento",))


def _repeated(ctx: _Context, t0: float, pitches_at, rate: float, count: int, technique: str) -> _Gesture:
    """`count` notes at `rate` per second, each lasting until the next (legato repeats)."""
    period = 1.0 / rate
    notes = []
    base = ctx.velocity()
    for i in range(count):
        start = t0 + i * period
        velocity = max(1, min(127, base + int(ctx.rng.integers(-8, 9)) + (6 if i % 2 == 0 else 0)))
        notes += [_gesture_note(ctx, start, start + period, p, velocity, technique) for p in pitches_at(i)]
    return _Gesture(technique, notes)


def _glissando(ctx: _Context, t0: float) -> _Gesture:
    rng = ctx.rng
    scale = ctx.scale_pitches()
    count = min(len(scale), int(rng.integers(8, 25)))
    rate = 1.0 / float(rng.uniform(0.025, 0.06))
    first = int(rng.integers(0, len(scale) - count + 1))
    run = scale[first:first + count]
    if rng.random() < 0.5:
        run = run[::-1]
    return _repeated(ctx, t0, lambda i: [run[i]], rate, count, "glissando")


def _tremolo(ctx: _Context, t0: float) -> _Gesture:
    rng = ctx.rng
    pitch = ctx.gesture_pitch(t0)
    voice = ctx.voice_for(t0, pitch)
    if ctx.fine_label == "string_section" and rng.random() < 0.5:  # GM 44 tremolo strings
        notes = [_gesture_note(ctx, t0, t0 + float(rng.uniform(0.6, 2.0)), p, technique="tremolo")
                 for p in voice]
        return _program_gesture(ctx, t0, "tremolo", notes)
    rate = float(rng.uniform(8.0, 20.0))
    count = max(4, int(float(rng.uniform(0.4, 2.0)) * rate))
    return _repeated(ctx, t0, lambda i: voice, rate, count, "tremolo")


def _trill(ctx: _Context, t0: float) -> _Gesture:
    rng = ctx.rng
    scale = ctx.scale_pitches()
    pitch = ctx.gesture_pitch(t0, high=ctx.high - 2)
    index = scale.index(pitch) if pitch in scale else len(scale) // 2
    upper = scale[index + 1] if index + 1 < len(scale) else pitch
    lower = scale[index] if upper != pitch else scale[index - 1]
    rate = float(rng.uniform(8.0, 16.0))
    count = max(4, int(float(rng.uniform(0.4, 1.5)) * rate))
    return _repeated(ctx, t0, lambda i: [lower if i % 2 == 0 else upper], rate, count, "trill")


def _detached(ctx: _Context, t0: float, count: int, step: float, length_of, technique: str,
              pitches_of_note) -> list[_Note]:
    notes = []
    for i in range(count):
        start = t0 + i * step
        velocity = ctx.velocity(accent=0.5 if i == 0 else 0.0)
        length = length_of(step)
        notes += [_gesture_note(ctx, start, start + length, p, velocity, technique)
                  for p in pitches_of_note(start)]
    return notes


def _walk(ctx: _Context, t0: float):
    """Pitches for successive notes of a gesture: a stepwise walk (a chord per note in chord parts)."""
    scale = ctx.scale_pitches()
    state = {"index": scale.index(ctx.gesture_pitch(t0)) if scale else 0}

    def next_pitches(start: float) -> list[int]:
        state["index"] = min(len(scale) - 1, max(0, state["index"] + int(ctx.choose((-2, -1, 0, 1, 2)))))
        return ctx.voice_for(start, scale[state["index"]])

    return next_pitches


def _grid_step(ctx: _Context, shortest: float) -> float:
    options = [ctx.beat * f for f in (0.25, 0.5, 1.0) if ctx.beat * f >= shortest]
    return ctx.choose(options or [ctx.beat])


def _figure_count(ctx: _Context, fewest: int, most: int, step: float) -> int:
    """How many notes a gesture plays: at least `fewest`, and no more than fit in 2.5 s."""
    return max(fewest, min(int(ctx.rng.integers(fewest, most + 1)), int(2.5 / step)))


def _staccato(ctx: _Context, t0: float) -> _Gesture:
    step = _grid_step(ctx, 0.16)
    count = _figure_count(ctx, 3, 8, step)

    def length_of(s: float) -> float:
        return min(STACCATO_MAX_LENGTH, 0.45 * s) * float(ctx.rng.uniform(0.5, 1.0))

    return _Gesture("staccato", _detached(ctx, t0, count, step, length_of, "staccato", _walk(ctx, t0)))


def _program_gesture(ctx: _Context, t0: float, technique: str, notes: list[_Note]) -> _Gesture:
    """Notes played with the technique's own GM program, switched to at t0."""
    program = TECHNIQUE_PROGRAMS[technique]
    for note in notes:
        note.tail = PROGRAM_RELEASES[program]
    controls = [(t0, mido.Message("program_change", program=program))]
    return _Gesture(technique, notes, controls, restores=("program",))


def _pizzicato(ctx: _Context, t0: float) -> _Gesture:
    step = _grid_step(ctx, 0.15)
    count = _figure_count(ctx, 3, 8, step)
    notes = _detached(ctx, t0, count, step, lambda s: s, "pizzicato", _walk(ctx, t0))
    return _program_gesture(ctx, t0, "pizzicato", notes)


def _palm_mute(ctx: _Context, t0: float) -> _Gesture:
    step = _grid_step(ctx, 0.1)
    count = _figure_count(ctx, 4, 16, step)
    root = ctx.pitches_of([ctx.chord_at(t0 + 1e-6)[0]], ctx.low, ctx.low + 11)[0]
    chord = [root, root + 7] if ctx.kind == "chords" or ctx.rng.random() < 0.3 else [root]
    notes = _detached(ctx, t0, count, step, lambda s: s, "palm_mute", lambda start: chord)
    return _program_gesture(ctx, t0, "palm_mute", notes)


def _harmonic(ctx: _Context, t0: float) -> _Gesture:
    step = _grid_step(ctx, 0.3)
    count = _figure_count(ctx, 2, 6, step)
    high = ctx.scale_pitches(max(ctx.low, 64), max(ctx.high, 76))

    def pitches(start: float) -> list[int]:
        return [ctx.choose(high)]

    notes = _detached(ctx, t0, count, step, lambda s: s, "harmonic", pitches)
    return _program_gesture(ctx, t0, "harmonic", notes)


_GESTURES = {
    "vibrato": _vibrato, "bend_up": _bend_up, "bend_down": _bend_down, "slide": _slide,
    "glissando": _glissando, "tremolo": _tremolo, "trill": _trill, "staccato": _staccato,
    "pizzicato": _pizzicato, "palm_mute": _palm_mute, "harmonic": _harmonic,
}
