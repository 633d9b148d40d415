"""Writes the bundled demo session: the MIDI parts, their rendered stems and the REAPER project.

Run `python -m plugin.demo.build` after changing the music here, then commit what it writes in
plugin/demo/session/. Rendering needs the `fluidsynth` command and the FluidR3_GM sound font
(Debian: fluidsynth, fluid-soundfont-gm). The MIDI files and the project are the same bytes on
every run for a seed; the Ogg Vorbis stems may differ slightly between encoder versions.

The song: A minor, 100 bpm, 4/4, 17 bars (40.8 s) over Am7 | Fmaj7 | C | G. Bars 1-4 are the
band alone, the lead plays bars 5-17 with vibrato on its long notes and whole-tone bends up into
some of them. Tracks: Drums, Bass, Keys, Lead (rendered audio stems), Lead MIDI (the lead's
notes and pitch bends, the ground truth for its techniques) and Pad (MIDI only, no audio).
"""

from __future__ import annotations

import argparse
import io
import math
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np
from pedalboard.io import AudioFile

SEED = 7
BPM = 100.0
TICKS_PER_BEAT = 960
BEATS_PER_BAR = 4
BARS = 17
SAMPLE_RATE = 44100
SECONDS_PER_BEAT = 60.0 / BPM
SESSION_BEATS = BARS * BEATS_PER_BAR
SESSION_SECONDS = SESSION_BEATS * SECONDS_PER_BEAT
SESSION_TICKS = SESSION_BEATS * TICKS_PER_BEAT

SESSION_DIR = Path(__file__).resolve().parent / "session"
PROJECT_NAME = "demo.rpp"
SOUND_FONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")

# Lead technique parameters (pitch-wheel units with the lead's bend range of 2 semitones).
BEND_RANGE_SEMITONES = 2
WHEEL_PER_SEMITONE = 8192 // BEND_RANGE_SEMITONES
VIBRATO_HZ = 5.5
VIBRATO_CENTS = 50
VIBRATO_DELAY_S = 0.25  # a player settles on the note before the vibrato starts
VIBRATO_FADE_S = 0.3  # depth grows to full over this time
VIBRATO_MIN_BEATS = 1.5  # notes at least this long get vibrato
BEND_SEMITONES = 2
BEND_RISE_S = 0.15  # the bend reaches the written pitch after this time
WHEEL_STEP_TICKS = 24  # one pitch-wheel message every 15 ms

# (chord name, bass root, keys voicing, pad voicing); one chord a bar, the progression loops.
PROGRESSION = [
    ("Am7", 45, (57, 60, 64, 67), (64, 69, 72)),
    ("Fmaj7", 41, (57, 60, 64, 65), (65, 69, 72)),
    ("C", 48, (55, 60, 64, 67), (64, 67, 72)),
    ("G", 43, (55, 59, 62, 67), (62, 67, 71)),
]

# The lead line, bar by bar from bar 5: (beat in bar, length in beats, pitch, bend up into it).
LEAD_BARS = [
    [(0, 0.5, 69, False), (0.5, 0.5, 72, False), (1, 3, 76, True)],
    [(0, 0.5, 77, False), (0.5, 0.5, 76, False), (1, 0.5, 74, False), (1.5, 2.5, 72, False)],
    [(0, 0.5, 67, False), (0.5, 0.5, 72, False), (1, 1, 74, True), (2, 2, 76, False)],
    [(0, 1.5, 74, False), (1.5, 0.5, 71, False), (2, 2, 67, False)],
    [(0, 0.5, 69, False), (0.5, 0.5, 72, False), (1, 1, 76, False), (2, 2, 79, True)],
    [(0, 0.5, 81, False), (0.5, 0.5, 79, False), (1, 0.5, 77, False), (1.5, 2.5, 76, False)],
    [(0, 1, 72, False), (1, 1, 74, False), (2, 2, 76, True)],
    [(0, 0.5, 74, False), (0.5, 0.5, 72, False), (1, 3, 71, False)],
    [(0, 3, 81, True), (3, 0.5, 79, False), (3.5, 0.5, 76, False)],
    [(0, 1, 77, False), (1, 1, 76, False), (2, 2, 72, False)],
    [(0, 0.5, 72, False), (0.5, 0.5, 74, False), (1, 1, 76, False), (2, 2, 79, True)],
    [(0, 1, 79, False), (1, 1, 74, False), (2, 2, 71, False)],
    [(0, 2, 69, True)],
]
LEAD_FIRST_BAR = 4  # zero-based: bar 5

# General MIDI drum keys.
KICK, SNARE, CLOSED_HAT, OPEN_HAT, CRASH, HIGH_TOM, MID_TOM, LOW_TOM = 36, 38, 42, 46, 49, 50, 47, 45


@dataclass(frozen=True)
class Stem:
    """How a part's rendered audio is kept: channel count, peak level and Vorbis quality."""

    channels: int
    peak_dbfs: float
    quality: str = "96 kbps"


@dataclass(frozen=True)
class Part:
    """One instrument's MIDI: (absolute tick, message) pairs in play order."""

    name: str  # file stem: midi/<name>.mid, stems/<name>.ogg
    track: str  # the track's name in the project
    stem: Stem | None  # None: a MIDI-only part, never rendered
    midi_track: str | None  # the track that holds the part's MIDI inline in the project, if any
    messages: tuple[tuple[int, mido.Message], ...]

    def notes(self) -> list[tuple[float, float, int, int]]:
        """(start s, duration s, pitch, velocity) of every note, in time order."""
        open_notes: dict[int, tuple[int, int]] = {}
        out = []
        for tick, msg in self.messages:
            if msg.type == "note_on" and msg.velocity > 0:
                open_notes[msg.note] = (tick, msg.velocity)
            elif msg.type in ("note_on", "note_off") and msg.note in open_notes:
                start, velocity = open_notes.pop(msg.note)
                out.append((ticks_to_seconds(start), ticks_to_seconds(tick - start), msg.note, velocity))
        return sorted(out)


def ticks_to_seconds(ticks: int) -> float:
    return ticks / TICKS_PER_BEAT * SECONDS_PER_BEAT


def bar_tick(bar: int, beat: float) -> int:
    return round((bar * BEATS_PER_BAR + beat) * TICKS_PER_BEAT)


# Messages at one tick play in this order: notes end, settings change, the wheel moves (so a note
# starts already bent), then notes start.
_ORDER = {"note_off": 0, "program_change": 1, "control_change": 1, "pitchwheel": 2, "note_on": 3}


class _Score:
    """Collects one part's messages and returns them in play order."""

    def __init__(self, channel: int):
        self.channel = channel
        self.items: list[tuple[int, int, int, mido.Message]] = []

    def add(self, tick: int, msg: mido.Message) -> None:
        msg = msg.copy(channel=self.channel)
        self.items.append((max(tick, 0), _ORDER[msg.type], len(self.items), msg))

    def note(self, tick: int, length: int, pitch: int, velocity: int) -> None:
        velocity = min(max(int(velocity), 1), 127)
        self.add(tick, mido.Message("note_on", note=pitch, velocity=velocity))
        self.add(tick + max(length, 1), mido.Message("note_off", note=pitch, velocity=0))

    def messages(self) -> tuple[tuple[int, mido.Message], ...]:
        return tuple((tick, msg) for tick, _, _, msg in sorted(self.items, key=lambda it: it[:3]))


def _drums(rng: random.Random) -> tuple[tuple[int, mido.Message], ...]:
    score = _Score(channel=9)
    sixteenth = TICKS_PER_BEAT // 4
    for bar in range(BARS):
        start = bar_tick(bar, 0)
        if bar % 4 == 0:
            score.note(start, sixteenth * 8, CRASH, 110 + rng.randint(-6, 6))
        if bar == BARS - 1:  # the final hit
            score.note(start, sixteenth * 4, KICK, 118)
            continue
        fill = bar % 4 == 3  # a tom fill into the next four bars
        kicks = {0, 6, 8, 11} if bar % 2 == 0 else {0, 6, 8, 14}
        for step in range(16):
            tick = start + step * sixteenth
            if fill and step >= 12:
                tom = (SNARE, HIGH_TOM, MID_TOM, LOW_TOM)[step - 12]
                score.note(tick, sixteenth, tom, 96 + 6 * (step - 12) + rng.randint(-5, 5))
                continue
            if step in kicks:
                score.note(tick, sixteenth, KICK, (112 if step % 4 == 0 else 96) + rng.randint(-6, 6))
            if step in (4, 12):
                score.note(tick, sixteenth, SNARE, 108 + rng.randint(-6, 6))
            elif step in (7, 15) and rng.random() < 0.35:
                score.note(tick, sixteenth, SNARE, 34 + rng.randint(-6, 6))  # ghost note
            if step % 2 == 0 and not (bar % 4 == 0 and step == 0):
                open_hat = step == 14 and bar % 2 == 1
                accent = 92 if step % 4 == 0 else 66
                jitter = rng.randint(-6, 6)
                score.note(tick + jitter, sixteenth * (2 if open_hat else 1),
                           OPEN_HAT if open_hat else CLOSED_HAT, accent + rng.randint(-8, 8))
    return score.messages()


def _bass(rng: random.Random) -> tuple[tuple[int, mido.Message], ...]:
    score = _Score(channel=1)
    score.add(0, mido.Message("program_change", program=33))
    eighth = TICKS_PER_BEAT // 2
    for bar in range(BARS):
        _, root, _, _ = PROGRESSION[bar % 4]
        start = bar_tick(bar, 0)
        if bar == BARS - 1:
            score.note(start, TICKS_PER_BEAT * 2, root, 110)
            continue
        approach = PROGRESSION[(bar + 1) % 4][1] + rng.choice((-1, 1, -2, 2))
        # (eighth, length in eighths, pitch): root, push, octave, fifth, approach to the next chord
        pattern = [(0, 1.5, root), (3, 0.8, root), (4, 0.8, root + 12), (5, 0.8, root + 7),
                   (6, 0.8, root), (7, 0.8, approach)]
        for step, length, pitch in pattern:
            velocity = (108 if step in (0, 4) else 90) + rng.randint(-8, 8)
            score.note(start + step * eighth, round(length * eighth), pitch, velocity)
    return score.messages()


def _keys(rng: random.Random) -> tuple[tuple[int, mido.Message], ...]:
    score = _Score(channel=2)
    score.add(0, mido.Message("program_change", program=4))
    for bar in range(BARS):
        _, _, voicing, _ = PROGRESSION[bar % 4]
        hits = [(0, 2.0)] if bar == BARS - 1 else [(0, 1.4), (1.5, 0.45), (2.5, 1.4)]
        for beat, length in hits:
            base = 84 if beat == 0 else 70
            for k, pitch in enumerate(voicing):
                strum = k * 8 + rng.randint(0, 6)  # the fingers land a few ms apart
                score.note(bar_tick(bar, beat) + strum, round(length * TICKS_PER_BEAT) - strum,
                           pitch, base + rng.randint(-7, 7))
    return score.messages()


def _pad(rng: random.Random) -> tuple[tuple[int, mido.Message], ...]:
    score = _Score(channel=4)
    score.add(0, mido.Message("program_change", program=89))
    for bar in range(BARS):
        _, _, _, voicing = PROGRESSION[bar % 4]
        length = BEATS_PER_BAR if bar < BARS - 1 else 2
        for pitch in voicing:
            score.note(bar_tick(bar, 0), length * TICKS_PER_BEAT - 30, pitch, 64 + rng.randint(-5, 5))
    return score.messages()


def _wheel_value(semitones: float) -> int:
    return min(max(round(semitones * WHEEL_PER_SEMITONE), -8192), 8191)


def _lead(rng: random.Random) -> tuple[tuple[int, mido.Message], ...]:
    score = _Score(channel=3)
    score.add(0, mido.Message("program_change", program=81))
    # Pitch-bend range (RPN 0) stated explicitly, then no chorus (it would wobble the pitch).
    for control, value in ((101, 0), (100, 0), (6, BEND_RANGE_SEMITONES), (38, 0), (101, 127),
                           (100, 127), (93, 0), (91, 30)):
        score.add(0, mido.Message("control_change", control=control, value=value))
    wheel: list[tuple[int, int]] = []  # (tick, value), merged below
    for k, notes in enumerate(LEAD_BARS):
        bar = LEAD_FIRST_BAR + k
        for beat, beats, pitch, bend in notes:
            start = bar_tick(bar, beat)
            articulation = 0.88 if beats <= 0.5 else 0.96  # short notes detached, long ones legato
            length = round(beats * articulation * TICKS_PER_BEAT)
            score.note(start, length, pitch, 96 + rng.randint(-10, 10) + (10 if beat == 0 else 0))
            wheel += _note_wheel(start, length, bend, beats >= VIBRATO_MIN_BEATS, rng)
    last = 0  # the wheel starts centred
    for tick, value in _merge_wheel(wheel):
        if value != last:
            score.add(tick, mido.Message("pitchwheel", pitch=value))
            last = value
    return score.messages()


def _note_wheel(start: int, length: int, bend: bool, vibrato: bool,
                rng: random.Random) -> list[tuple[int, int]]:
    """Pitch-wheel points of one note: a rise from a whole tone below, then a delayed vibrato."""
    duration = ticks_to_seconds(length)
    rate = VIBRATO_HZ + rng.uniform(-0.3, 0.3)
    points = []
    for offset in range(0, length, WHEEL_STEP_TICKS):
        t = ticks_to_seconds(offset)
        semitones = 0.0
        if bend and t < BEND_RISE_S:
            rise = t / BEND_RISE_S
            semitones -= BEND_SEMITONES * (1.0 - rise * rise * (3 - 2 * rise))  # smooth S-curve
        if vibrato and VIBRATO_DELAY_S <= t < duration:
            depth = min((t - VIBRATO_DELAY_S) / VIBRATO_FADE_S, 1.0) * VIBRATO_CENTS / 100
            semitones += depth * math.sin(2 * math.pi * rate * (t - VIBRATO_DELAY_S))
        points.append((start + offset, _wheel_value(semitones)))
    points.append((start + length, 0))  # back to centre as the note ends
    return points


def _merge_wheel(points: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """One value per tick, the later note's winning (a note's bend starts where the last ended)."""
    by_tick: dict[int, int] = {}
    for tick, value in points:
        by_tick[tick] = value
    return sorted(by_tick.items())


def compose(seed: int = SEED) -> list[Part]:
    """The demo's parts, in project order; the seed varies velocities, ghost notes and timing."""

    def rng(name: str) -> random.Random:
        return random.Random(f"stemscope-demo:{seed}:{name}")

    return [
        Part("drums", "Drums", Stem(channels=2, peak_dbfs=-3.0), None, _drums(rng("drums"))),
        Part("bass", "Bass", Stem(channels=1, peak_dbfs=-4.0), None, _bass(rng("bass"))),
        Part("keys", "Keys", Stem(channels=2, peak_dbfs=-6.0), None, _keys(rng("keys"))),
        Part("lead", "Lead", Stem(channels=1, peak_dbfs=-5.0), "Lead MIDI", _lead(rng("lead"))),
        Part("pad", "Pad", None, "Pad", _pad(rng("pad"))),
    ]


def midi_file_bytes(part: Part) -> bytes:
    """A type 1 standard MIDI file: a tempo track, then the part's track."""
    conductor = mido.MidiTrack([
        mido.MetaMessage("track_name", name="demo", time=0),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(BPM), time=0),
        mido.MetaMessage("time_signature", numerator=BEATS_PER_BAR, denominator=4, time=0),
        mido.MetaMessage("end_of_track", time=SESSION_TICKS),
    ])
    track = mido.MidiTrack([mido.MetaMessage("track_name", name=part.track, time=0)])
    now = 0
    for tick, msg in part.messages:
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(SESSION_TICKS - now, 0)))
    mid = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    mid.tracks += [conductor, track]
    buffer = io.BytesIO()
    mid.save(file=buffer)
    return buffer.getvalue()


def part_midi(name: str, seed: int = SEED) -> bytes:
    """The standard MIDI file of one part (drums, bass, keys, lead, pad) for a seed."""
    for part in compose(seed):
        if part.name == name:
            return midi_file_bytes(part)
    raise KeyError(f"no demo part named {name!r}")


# ---- rendering ----------------------------------------------------------------------------


def render_part(midi_path: Path, wav_path: Path, sound_font: Path = SOUND_FONT, gain: float = 0.4) -> None:
    """Render a MIDI file to a 44.1 kHz WAV with the fluidsynth command line."""
    fluidsynth = shutil.which("fluidsynth")
    if fluidsynth is None:
        raise RuntimeError("the `fluidsynth` command is not installed (Debian: apt-get install fluidsynth)")
    if not sound_font.is_file():
        raise RuntimeError(f"the sound font {sound_font} is missing (Debian: fluid-soundfont-gm)")
    subprocess.run(
        [fluidsynth, "-ni", "-q", "-F", str(wav_path), "-r", str(SAMPLE_RATE), "-g", str(gain),
         str(sound_font), str(midi_path)],
        check=True, capture_output=True,
    )


def fit_stem(audio: np.ndarray, stem: Stem) -> np.ndarray:
    """(channels, frames) float audio at the stem's channel count, session length and peak."""
    frames = round(SESSION_SECONDS * SAMPLE_RATE)
    if stem.channels == 1 and audio.shape[0] > 1:
        audio = audio.mean(axis=0, keepdims=True)
    audio = audio[:, :frames]
    audio = np.pad(audio, ((0, 0), (0, frames - audio.shape[1])))
    fade = round(0.05 * SAMPLE_RATE)  # no click where a tail is cut
    audio[:, -fade:] *= np.linspace(1.0, 0.0, fade)
    peak = float(np.abs(audio).max())
    if peak > 0:
        audio = audio * (10 ** (stem.peak_dbfs / 20) / peak)
    return audio.astype(np.float32)


def encode_stem(audio: np.ndarray, path: Path, stem: Stem) -> None:
    """Ogg Vorbis; the stream's serial number is fixed so that a rebuild gives the same bytes."""
    with AudioFile(str(path), "w", SAMPLE_RATE, audio.shape[0], quality=stem.quality) as out:
        out.write(audio)
    path.write_bytes(with_ogg_serial(path.read_bytes(), zlib.crc32(path.name.encode())))


def _ogg_crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7 if crc & 0x80000000 else crc << 1) & 0xFFFFFFFF
        table.append(crc)
    return table


def with_ogg_serial(data: bytes, serial: int) -> bytes:
    """The Ogg stream with every page's serial number set to `serial` (the encoder draws one at
    random) and the page checksums recomputed."""
    table = _ogg_crc_table()
    out = bytearray(data)
    pos = 0
    while pos + 27 <= len(out) and out[pos:pos + 4] == b"OggS":
        segments = out[pos + 26]
        size = 27 + segments + sum(out[pos + 27:pos + 27 + segments])
        out[pos + 14:pos + 18] = struct.pack("<I", serial)
        out[pos + 22:pos + 26] = bytes(4)
        crc = 0
        for byte in out[pos:pos + size]:
            crc = ((crc << 8) & 0xFFFFFFFF) ^ table[(crc >> 24) ^ byte]
        out[pos + 22:pos + 26] = struct.pack("<I", crc)
        pos += size
    if pos != len(out):
        raise RuntimeError("the encoder wrote something that is not a plain Ogg stream")
    return bytes(out)


# ---- the REAPER project -------------------------------------------------------------------


def _guid(*names: str) -> str:
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, "stemscope-demo/" + "/".join(names))).upper() + "}"


def _quote(text: str) -> str:
    """REAPER's quoting: bare when it can be, else the first quote character the text lacks."""
    if text and not any(c in text for c in " \t\"'`"):
        return text
    for q in "\"'`":
        if q not in text:
            return f"{q}{text}{q}"
    return '"' + text.replace('"', "'") + '"'


def _seconds(x: float) -> str:
    return repr(round(x, 10)).removesuffix(".0")


def _midi_source_lines(part: Part) -> list[str]:
    """An inline <SOURCE MIDI> chunk: `E delta status data1 data2` in hex, deltas in ticks."""
    lines = ["<SOURCE MIDI", "  HASDATA 1 %d QN" % TICKS_PER_BEAT, "  CCINTERP 32",
             "  POOLEDEVTS " + _guid(part.name, "pool")]
    now = 0
    for tick, msg in part.messages:
        data = msg.bytes() + [0] * (3 - len(msg.bytes()))
        lines.append("  E %d %02x %02x %02x" % (tick - now, *data))
        now = tick
    lines.append("  E %d b0 7b 00" % (SESSION_TICKS - now))  # REAPER's end of the source
    lines += ["  CCINTERP 32", "  GUID " + _guid(part.name, "source"),
              "  IGNTEMPO 0 %g %d 4" % (BPM, BEATS_PER_BAR), "  SRCCOLOR 0", "  VELLANE -1 100 0", ">"]
    return lines


def _item_lines(track: str, name: str, source: list[str], midi: bool) -> list[str]:
    lines = [
        "<ITEM",
        "  POSITION 0",
        "  SNAPOFFS 0",
        "  LENGTH " + _seconds(SESSION_SECONDS),
        "  LOOP 0",
        "  ALLTAKES 0",
        "  FADEIN 1 0 0 1 0 0 0",
        "  FADEOUT 1 0 0 1 0 0 0",
        "  MUTE 0 0",
        "  SEL 0",
        "  IGUID " + _guid(track, "item"),
        "  IID 1",
        "  NAME " + _quote(name),
        "  VOLPAN 1 0 1 -1",
        "  SOFFS 0 0" if midi else "  SOFFS 0",
        "  PLAYRATE 1 1 0 -1 0 0.0025",
        "  CHANMODE 0",
        "  GUID " + _guid(track, "take"),
    ]
    return lines + ["  " + line for line in source] + [">"]


def _track_lines(name: str, item: list[str]) -> list[str]:
    guid = _guid(name)
    lines = [
        "<TRACK " + guid,
        "  NAME " + _quote(name),
        "  PEAKCOL 16576",
        "  BEAT -1",
        "  AUTOMODE 0",
        "  VOLPAN 1 0 -1 -1 1",
        "  MUTESOLO 0 0 0",
        "  IPHASE 0",
        "  PLAYOFFS 0 1",
        "  ISBUS 0 0",
        "  BUSCOMP 0 0 0 0 0",
        "  SHOWINMIX 1 0.6667 0.5 1 0.5 0 0 0",
        "  FREEMODE 0",
        "  SEL 0",
        "  REC 0 0 1 0 0 0 0",
        "  VU 2",
        "  TRACKHEIGHT 0 0 0 0 0 0",
        "  INQ 0 0 0 0.5 100 0 0 100",
        "  NCHAN 2",
        "  FX 1",
        "  TRACKID " + guid,
        "  PERF 0",
        "  MIDIOUT -1",
        "  MAINSEND 1 0",
    ]
    return lines + ["  " + line for line in item] + [">"]


def stem_path(part: Part) -> str:
    """The stem's path as the project writes it, relative to the project's folder."""
    return f"stems/{part.name}.ogg"


def project_text(parts: list[Part]) -> str:
    """The REAPER project: one audio item per stem, inline MIDI items for the MIDI-only tracks."""
    tracks: list[list[str]] = []
    for part in parts:
        if part.stem is not None:
            source = ["<SOURCE VORBIS", f'  FILE "{stem_path(part)}"', ">"]
            tracks.append(_track_lines(part.track, _item_lines(part.track, f"{part.name}.ogg", source, False)))
        if part.midi_track is not None:
            item = _item_lines(part.midi_track, f"{part.track} MIDI", _midi_source_lines(part), True)
            tracks.append(_track_lines(part.midi_track, item))
    header = [
        '<REAPER_PROJECT 0.1 "6.80/linux-x86_64" 1700000000',
        "  RIPPLE 0",
        "  GROUPOVERRIDE 0 0 0",
        "  AUTOXFADE 1",
        "  PANLAW 1",
        "  PROJOFFS 0 0 0",
        "  MAXPROJLEN 0 600",
        "  GRID 3199 8 1 8 1 0 0 0",
        "  TIMEMODE 1 5 -1 30 0 0 -1",
        "  PANMODE 3",
        "  CURSOR 0",
        "  ZOOM 30 0 0",
        "  LOOP 0",
        '  RECORD_PATH "" ""',
        "  SAMPLERATE %d 0 0" % SAMPLE_RATE,
        "  LOCK 1",
        "  GLOBAL_AUTO -1",
        "  TEMPO %g %d 4" % (BPM, BEATS_PER_BAR),
        "  PLAYRATE 1 0 0.25 4",
        "  SELECTION 0 0",
        "  SELECTION2 0 0",
        "  MASTER_NCH 2 2",
        "  MASTER_VOLUME 1 0 -1 -1 1",
        "  MASTER_SEL 0",
        "  <TEMPOENVEX",
        "    EGUID " + _guid("tempo"),
        "    ACT 0 -1",
        "    VIS 1 0 1",
        "    LANEHEIGHT 0 0",
        "    ARM 0",
        "    DEFSHAPE 1 -1 -1",
        "  >",
        "  <PROJBAY",
        "  >",
    ]
    body = ["  " + line for lines in tracks for line in lines]
    return "\n".join(header + body + [">"]) + "\n"


# ---- the whole build ----------------------------------------------------------------------


def build(out_dir: Path = SESSION_DIR, seed: int = SEED, sound_font: Path = SOUND_FONT) -> list[Path]:
    """Write midi/*.mid, stems/*.ogg and demo.rpp under out_dir; returns the files written."""
    parts = compose(seed)
    (out_dir / "midi").mkdir(parents=True, exist_ok=True)
    (out_dir / "stems").mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="stemscope-demo-") as tmp:
        for part in parts:
            midi_path = out_dir / "midi" / f"{part.name}.mid"
            midi_path.write_bytes(midi_file_bytes(part))
            written.append(midi_path)
            if part.stem is None:
                continue
            wav_path = Path(tmp) / f"{part.name}.wav"
            render_part(midi_path, wav_path, sound_font)
            with AudioFile(str(wav_path)) as rendered:
                audio = rendered.read(rendered.frames)
            ogg_path = out_dir / stem_path(part)
            encode_stem(fit_stem(audio, part.stem), ogg_path, part.stem)
            written.append(ogg_path)
    project = out_dir / PROJECT_NAME
    project.write_bytes(project_text(parts).encode("utf-8"))
    written.append(project)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m plugin.demo.build", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SESSION_DIR, help="folder to write (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=SEED, help="seed of the humanisation (default: %(default)s)")
    parser.add_argument("--sound-font", type=Path, default=SOUND_FONT, help="(default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        written = build(args.out, args.seed, args.sound_font)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"build: {exc}", file=sys.stderr)
        return 1
    total = sum(p.stat().st_size for p in written)
    for path in written:
        print(f"{path.stat().st_size:>9}  {path}")
    print(f"{total:>9}  in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
