"""Render parts to audio with the fluidsynth command-line synthesiser.

Training audio comes from FluidR3_GM and TimGM6mb; MuseScore_General is held out for validation.
Reverb and chorus are off (augmentation adds room and effects later) and the output is float, so
nothing clips. Channel 10 (index 9) is GM's drum channel: fluidsynth plays it from bank 128 whatever
bank select says, and melodic parts select bank 0 explicitly.

Fluidsynth never fails on a preset a soundfont lacks: it substitutes another one and only prints a
warning ("Instrument not found on channel 9 [bank=128 prog=30], substituted [bank=128 prog=0]").
A substituted preset would be a wrong label, so the presets are checked against the soundfont's
preset table before rendering, and any substitution fluidsynth still reports raises too.

`render_parts` renders several parts in one fluidsynth run (one soundfont load): the parts are
laid end to end in one MIDI file, each starting on a sample that is both a whole millisecond and a
whole 64-sample synthesis block, with all sound and controllers cut between them and every voice
slot primed the same way before each part, so each slice is bit for bit the audio that part
renders alone.
"""

from __future__ import annotations

import functools
import math
import re
import struct
import subprocess
import tempfile
from pathlib import Path

import mido
import numpy as np
import soundfile

from models.data.parts import DRUM_BANK, DRUM_CHANNEL, Part

SOUNDFONTS = {
    "fluidr3": Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    "timgm6mb": Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
    "musescore": Path("/usr/share/sounds/sf3/MuseScore_General.sf3"),
}
TRAIN_SOUNDFONTS = ("fluidr3", "timgm6mb")
VALIDATION_SOUNDFONTS = ("musescore",)

GAIN = 0.6  # fluidsynth master gain: parts peak near -15 dBFS (median), the densest near -4 dBFS
FLUIDSYNTH_BLOCK = 64  # samples fluidsynth renders between MIDI event dispatches
_PRIMER_CHANNELS = (14, 15)  # parts play on channel 0 (melodic) or 9 (drums)

_SUBSTITUTION = re.compile(r"(?:Instrument not found|No preset found) on channel (\d+) "
                           r"\[bank=(\d+) prog=(\d+)\]")


class RenderError(RuntimeError):
    """Fluidsynth failed, or produced something other than what the part asked for."""


class MissingPresetError(RenderError):
    """The soundfont has no preset for a (bank, program) the part uses."""


def soundfont_path(soundfont: str) -> Path:
    if soundfont not in SOUNDFONTS:
        raise ValueError(f"unknown soundfont {soundfont!r}; expected one of {sorted(SOUNDFONTS)}")
    path = SOUNDFONTS[soundfont]
    if not path.is_file():
        raise RenderError(f"soundfont {soundfont} is not installed at {path}")
    return path


@functools.cache
def soundfont_presets(soundfont: str) -> frozenset[tuple[int, int]]:
    """The (bank, program) pairs the soundfont defines, read from its preset headers (phdr)."""
    path = soundfont_path(soundfont)
    with open(path, "rb") as f:
        riff, size, form = struct.unpack("<4sI4s", f.read(12))
        if riff != b"RIFF" or form != b"sfbk":
            raise RenderError(f"{path} is not a SoundFont file")
        end = 8 + size
        while f.tell() < end:
            chunk, chunk_size = struct.unpack("<4sI", f.read(8))
            if chunk == b"LIST" and f.read(4) == b"pdta":
                list_end = f.tell() + chunk_size - 4
                while f.tell() < list_end:
                    sub, sub_size = struct.unpack("<4sI", f.read(8))
                    if sub == b"phdr":
                        data = f.read(sub_size)
                        headers = [struct.unpack_from("<20sHH", data, offset)
                                   for offset in range(0, sub_size - 38, 38)]  # the last is EOP
                        return frozenset((bank, program) for _, program, bank in headers)
                    f.seek(sub_size + (sub_size & 1), 1)
            else:
                f.seek(chunk_size - (4 if chunk == b"LIST" else 0) + (chunk_size & 1), 1)
    raise RenderError(f"{path} has no preset headers")


def presets_used(midi: mido.MidiFile) -> set[tuple[int, int]]:
    """(bank, program) for every program that plays notes, as fluidsynth selects them (GS banks)."""
    banks = [DRUM_BANK if channel == DRUM_CHANNEL else 0 for channel in range(16)]
    programs = [0] * 16
    used = set()
    for message in mido.merge_tracks(midi.tracks):
        if message.type == "control_change" and message.control == 0 and message.channel != DRUM_CHANNEL:
            banks[message.channel] = message.value
        elif message.type == "program_change":
            programs[message.channel] = message.program
        elif message.type == "note_on" and message.velocity > 0:
            used.add((banks[message.channel], programs[message.channel]))
    return used


def render_part(part: Part, soundfont: str, sample_rate: int = 22050) -> np.ndarray:
    """Mono float32 audio of the part, exactly round(duration * sample_rate) samples."""
    return render_parts([part], soundfont, sample_rate)[0]


def render_parts(parts: list[Part], soundfont: str, sample_rate: int = 22050) -> list[np.ndarray]:
    """`render_part` for each part, all in one fluidsynth run."""
    if not parts:
        return []
    path = soundfont_path(soundfont)
    available = soundfont_presets(soundfont)
    for part in parts:
        missing = sorted(presets_used(part.midi) - available)
        if missing:
            raise MissingPresetError(f"{soundfont} has no preset for (bank, program) {missing} "
                                     f"used by the {part.fine_label} part")
    midi, offsets = _lay_end_to_end(parts, sample_rate)
    with tempfile.TemporaryDirectory(prefix="stemscope-render-") as tmp:
        midi_path, wav_path = Path(tmp) / "parts.mid", Path(tmp) / "parts.wav"
        midi.save(midi_path)
        seconds = offsets[-1] + parts[-1].duration
        stderr = _run_fluidsynth(path, midi_path, wav_path, sample_rate, timeout=60 + 2 * seconds)
        substituted = _substitutions(stderr)
        if substituted:
            raise MissingPresetError(f"fluidsynth substituted presets missing from {soundfont}: "
                                     f"{substituted}")
        audio, rate = soundfile.read(wav_path, dtype="float32", always_2d=True)
    if rate != sample_rate:
        raise RenderError(f"fluidsynth wrote {rate} Hz, not {sample_rate} Hz")
    mono = audio.mean(axis=1)
    out = []
    for part, offset in zip(parts, offsets):
        start, length = round(offset * sample_rate), round(part.duration * sample_rate)
        piece = mono[start:start + length]
        out.append(np.pad(piece, (0, length - len(piece))).astype(np.float32))
    return out


def _run_fluidsynth(soundfont: Path, midi_path: Path, wav_path: Path, sample_rate: int,
                    timeout: float) -> str:
    command = [
        "fluidsynth", "-ni", "-q", "-F", str(wav_path), "-T", "wav", "-O", "float",
        "-r", str(sample_rate), "-g", str(GAIN),
        "-o", "synth.reverb.active=0", "-o", "synth.chorus.active=0",
        "-o", "synth.dynamic-sample-loading=1",  # load only the samples the MIDI plays
        str(soundfont), str(midi_path),
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise RenderError("the fluidsynth command is not installed") from None
    except subprocess.TimeoutExpired:
        raise RenderError(f"fluidsynth took longer than {timeout:.0f} s") from None
    if result.returncode != 0 or not wav_path.is_file():
        raise RenderError(f"fluidsynth failed ({result.returncode}): {result.stderr.strip()[-500:]}")
    return result.stderr


def _substitutions(stderr: str) -> list[tuple[int, int, int]]:
    """(channel, bank, program) of every preset fluidsynth reported missing."""
    return sorted({tuple(int(g) for g in m.groups()) for m in _SUBSTITUTION.finditer(stderr)})


def _start_quantum_ms(sample_rate: int) -> int:
    """The smallest whole-millisecond step that is also a whole number of synthesis blocks."""
    return FLUIDSYNTH_BLOCK * 1000 // math.gcd(sample_rate, FLUIDSYNTH_BLOCK * 1000)


def _primer(at_ms: int) -> list[tuple[int, mido.Message]]:
    """Notes that take every voice slot, cut 10 ms later.

    A fluidsynth voice slot keeps a little state from its last note: the first block of a reused
    slot differs slightly from a fresh one. Priming all slots the same way before every part makes
    a part's audio the same whichever parts were rendered before it, bit for bit.
    """
    events = []
    for channel in _PRIMER_CHANNELS:
        events.append((at_ms, mido.Message("program_change", channel=channel, program=0)))
        events += [(at_ms, mido.Message("note_on", channel=channel, note=note, velocity=100))
                   for note in range(128)]  # 256 notes or more voices: all of the default polyphony
        events.append((at_ms + 10, mido.Message("control_change", channel=channel, control=120)))
    return events


def _lay_end_to_end(parts: list[Part], sample_rate: int) -> tuple[mido.MidiFile, list[float]]:
    """One MIDI file (1 tick = 1 ms) playing the parts one after another; their start times (s)."""
    quantum = _start_quantum_ms(sample_rate)
    primer_lead = math.ceil(50 / quantum) * quantum
    events: list[tuple[int, int, mido.Message]] = []  # (ms, 0 = a part's own | 1 = silence, message)
    offsets = []
    slot_ms = 0
    for part in parts:
        events += [(ms, 0, message) for ms, message in _primer(slot_ms)]
        start_ms = slot_ms + primer_lead
        offsets.append(start_ms / 1000)
        elapsed = 0.0
        channels = set()
        for message in part.midi:  # message.time: seconds since the previous message
            elapsed += message.time
            if not message.is_meta:
                if message.channel in _PRIMER_CHANNELS:
                    raise ValueError(f"parts may not use MIDI channels {_PRIMER_CHANNELS}")
                channels.add(message.channel)
                events.append((start_ms + round(elapsed * 1000), 0, message.copy(time=0)))
        end_ms = start_ms + round(part.duration * 1000)
        for channel in sorted(channels):
            # After the part's last note-offs: a note-off after "all sound off" revives the voice.
            for control in (120, 121):  # all sound off, reset all controllers
                events.append((end_ms, 1, mido.Message("control_change", channel=channel, control=control)))
            events.append((end_ms, 1, mido.Message("pitchwheel", channel=channel, pitch=0)))
        slot_ms = math.ceil((end_ms + 20) / quantum) * quantum  # the cut voices are free by then
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=1_000_000, time=0)])
    now = 0
    for ms, _, message in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(message.copy(time=ms - now))
        now = ms
    midi = mido.MidiFile(type=0, ticks_per_beat=1000)
    midi.tracks.append(track)
    return midi, offsets
