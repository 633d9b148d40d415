"""Standard MIDI files: notes and channel events in beats, and the file's own tempo map."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import mido

from .model import MidiClip, MidiEvent, Note, SessionError
from .tempo import DEFAULT_BPM, TempoMap, TimeSignature


@dataclass
class BeatNote:
    beat: float
    length: float
    pitch: int
    velocity: int
    channel: int


@dataclass
class BeatEvent:
    beat: float
    kind: str
    value: int
    channel: int
    controller: int | None = None


@dataclass
class SmfTrack:
    name: str
    notes: list[BeatNote] = field(default_factory=list)
    events: list[BeatEvent] = field(default_factory=list)


@dataclass
class SmfContent:
    tracks: list[SmfTrack]
    tempo_changes: list[tuple[float, float, str]]  # (beat, bpm, "step")
    time_signatures: list[TimeSignature]
    length_beats: float

    def merged(self) -> tuple[list[BeatNote], list[BeatEvent]]:
        """Every track's notes and channel events together, in time order (as a DAW plays a file)."""
        notes = sorted((n for t in self.tracks for n in t.notes), key=lambda n: (n.beat, n.pitch))
        events = sorted((e for t in self.tracks for e in t.events), key=lambda e: e.beat)
        return notes, events

    def tempo_map(self) -> TempoMap:
        return TempoMap.from_beats(self.tempo_changes or [(0.0, DEFAULT_BPM, "step")], self.time_signatures)


class NotePairer:
    """Pairs note-ons with note-offs (first in, first out per channel and pitch)."""

    def __init__(self):
        self.open: dict[tuple[int, int], list[tuple[float, int]]] = {}
        self.notes: list[BeatNote] = []

    def on(self, beat: float, channel: int, pitch: int, velocity: int) -> None:
        if velocity == 0:
            self.off(beat, channel, pitch)
            return
        self.open.setdefault((channel, pitch), []).append((beat, velocity))

    def off(self, beat: float, channel: int, pitch: int) -> None:
        stack = self.open.get((channel, pitch))
        if stack:
            start, vel = stack.pop(0)
            self.notes.append(BeatNote(start, max(beat - start, 0.0), pitch, vel, channel))

    def close(self, end_beat: float) -> list[BeatNote]:
        """Notes still sounding at the end are cut there."""
        for (channel, pitch), stack in self.open.items():
            for start, vel in stack:
                self.notes.append(BeatNote(start, max(end_beat - start, 0.0), pitch, vel, channel))
        self.open.clear()
        self.notes.sort(key=lambda n: (n.beat, n.pitch))
        return self.notes


def channel_event(beat: float, msg) -> BeatEvent | None:
    """The kept non-note channel messages: pitch bends, CCs, aftertouch, program changes."""
    if msg.type == "pitchwheel":
        return BeatEvent(beat, "pitchwheel", msg.pitch, msg.channel)
    if msg.type == "control_change":
        return BeatEvent(beat, "control_change", msg.value, msg.channel, msg.control)
    if msg.type == "aftertouch":
        return BeatEvent(beat, "aftertouch", msg.value, msg.channel)
    if msg.type == "polytouch":
        return BeatEvent(beat, "polytouch", msg.value, msg.channel, msg.note)
    if msg.type == "program_change":
        return BeatEvent(beat, "program_change", msg.program, msg.channel)
    return None


def read_smf(path: Path) -> SmfContent:
    """Everything Stemscope keeps from a standard MIDI file, in beats."""
    try:
        mid = mido.MidiFile(str(path), clip=True)
    except (OSError, EOFError, ValueError, KeyError, IndexError) as exc:
        raise SessionError(path, f"not a readable standard MIDI file ({exc})") from exc
    if mid.type == 2:
        raise SessionError(path, "type 2 MIDI files (independent sequences) are not supported")
    tpb: float = mid.ticks_per_beat or 480
    smpte = tpb < 0  # SMPTE time: -frames per second in the high byte, ticks per frame in the low
    if smpte:
        fps, ticks_per_frame = -(mid.ticks_per_beat >> 8), mid.ticks_per_beat & 0xFF
        if fps not in (24, 25, 29, 30) or not ticks_per_frame:
            raise SessionError(path, f"not a readable standard MIDI file (SMPTE time division {fps} fps, "
                                     f"{ticks_per_frame} ticks per frame)")
        # Ticks are absolute time, whatever the tempo events say: beats at the default tempo.
        tpb = (29.97 if fps == 29 else fps) * ticks_per_frame * 60.0 / DEFAULT_BPM
    tempo_changes: list[tuple[float, float, str]] = []
    sigs: list[TimeSignature] = []
    tracks: list[SmfTrack] = []
    length = 0.0
    for k, mtrack in enumerate(mid.tracks):
        tick = 0
        pairer = NotePairer()
        st = SmfTrack(name=mtrack.name or f"Track {k + 1}")
        for msg in mtrack:
            tick += msg.time
            beat = tick / tpb
            if msg.type == "set_tempo":
                if not smpte:
                    tempo_changes.append((beat, mido.tempo2bpm(msg.tempo), "step"))
            elif msg.type == "time_signature":
                sigs.append(TimeSignature(beat, msg.numerator, msg.denominator))
            elif msg.type == "note_on":
                pairer.on(beat, msg.channel, msg.note, msg.velocity)
            elif msg.type == "note_off":
                pairer.off(beat, msg.channel, msg.note)
            else:
                ev = channel_event(beat, msg) if not msg.is_meta else None
                if ev:
                    st.events.append(ev)
        length = max(length, tick / tpb)
        st.notes = pairer.close(tick / tpb)
        tracks.append(st)
    return SmfContent(tracks, tempo_changes, sigs or [TimeSignature(0.0)], length)


def beats_to_clip(
    notes: list[BeatNote],
    events: list[BeatEvent],
    tempo: TempoMap,
    origin_beat: float,
    name: str = "",
    window: tuple[float, float] | None = None,
) -> MidiClip:
    """A MidiClip on the session timeline from content in beats placed at origin_beat.

    `window` (start, end) in content beats keeps only what sounds inside it, as a clip that
    trims its source does; notes crossing its end are shortened.
    """
    lo, hi = window if window else (float("-inf"), float("inf"))
    out_notes = []
    for n in notes:
        if n.beat < lo - 1e-9 or n.beat >= hi - 1e-9:
            continue
        end = min(n.beat + n.length, hi)
        s = tempo.beats_to_seconds(origin_beat + n.beat)
        e = tempo.beats_to_seconds(origin_beat + end)
        out_notes.append(Note(s, max(e - s, 0.0), n.pitch, n.velocity, n.channel))
    out_events = [
        MidiEvent(tempo.beats_to_seconds(origin_beat + e.beat), e.kind, e.value, e.channel, e.controller)
        for e in events
        if lo - 1e-9 <= e.beat < hi
    ]
    if window:
        start = tempo.beats_to_seconds(origin_beat + lo)
        end = tempo.beats_to_seconds(origin_beat + hi)
    else:
        last = max((n.beat + n.length for n in notes), default=0.0)
        start = tempo.beats_to_seconds(origin_beat)
        end = tempo.beats_to_seconds(origin_beat + last)
    return MidiClip(start, max(end - start, 0.0), out_notes, out_events, name=name)
