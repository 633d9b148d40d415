"""The one Session model every reader fills: tracks, clips and notes in seconds on one timeline.

All times are seconds from the session start. Readers convert their DAW's units (beats, ticks,
samples, superclock) through the session's TempoMap or sample rate before filling the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .tempo import TempoMap


class SessionError(Exception):
    """A session file that cannot be read. str() is one line naming the file and the reason."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass
class AudioClip:
    """A stretch of an audio source placed on the timeline.

    Source time for a timeline time t inside the clip is
    `source_offset + (t - start) * playrate`, wrapped into `loop` when the clip loops, unless
    `warp` is given: then it is the piecewise-linear map of (seconds into the clip, source seconds)
    pairs, extended at the ends with the nearest segment's rate.
    """

    start: float
    duration: float
    source: str  # the path as resolved (absolute) or, when missing, as the session wrote it
    source_offset: float = 0.0
    playrate: float = 1.0
    gain: float = 1.0  # linear
    fade_in: float = 0.0
    fade_out: float = 0.0
    name: str = ""
    muted: bool = False
    missing: bool = False
    # Files that make the source's channels together (Ardour's split mono %L/%R), in order.
    channel_files: tuple[str, ...] = ()
    # (start, end) of the looped region in source seconds; end None means the source's length.
    loop: tuple[float, float | None] | None = None
    warp: tuple[tuple[float, float], ...] = ()
    source_duration: float | None = None  # seconds, once the media is found
    source_channels: int | None = None
    source_sample_rate: float | None = None

    @property
    def end(self) -> float:
        return self.start + self.duration

    @property
    def short(self) -> bool:
        """True when the source ends before the clip asks for it (and the clip does not loop)."""
        if self.source_duration is None or self.loop is not None:
            return False
        needed = self.source_time(self.duration)
        return needed > self.source_duration + 1e-3

    def source_time(self, clip_seconds: float) -> float:
        """Source seconds played `clip_seconds` after the clip's start (before loop wrapping)."""
        if self.warp:
            pts = self.warp
            if len(pts) == 1:
                return pts[0][1] + (clip_seconds - pts[0][0]) * self.playrate
            for k in range(len(pts) - 1):
                (c0, s0), (c1, s1) = pts[k], pts[k + 1]
                if clip_seconds <= c1 or k == len(pts) - 2:
                    rate = (s1 - s0) / (c1 - c0) if c1 != c0 else self.playrate
                    return s0 + (clip_seconds - c0) * rate
        return self.source_offset + clip_seconds * self.playrate


@dataclass
class Note:
    start: float
    duration: float
    pitch: int
    velocity: int = 100
    channel: int = 0

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass
class MidiEvent:
    """A pitch bend (value -8192..8191), control change (controller, value) or other channel event."""

    time: float
    kind: str  # "pitchwheel", "control_change", "aftertouch", "program_change", ...
    value: int
    channel: int = 0
    controller: int | None = None


@dataclass
class MidiClip:
    start: float
    duration: float
    notes: list[Note] = field(default_factory=list)  # times on the session timeline
    events: list[MidiEvent] = field(default_factory=list)  # times on the session timeline
    name: str = ""
    muted: bool = False
    source: str | None = None  # the SMF file it came from, when there is one
    missing: bool = False


@dataclass
class Track:
    name: str
    kind: str = "audio"  # "audio", "midi", "folder", "audio+midi"
    muted: bool = False
    solo: bool = False
    gain: float = 1.0  # linear
    pan: float = 0.0  # -1 (left) .. 1 (right)
    parent: int | None = None  # index of the folder/group track holding this one
    clips: list[AudioClip] = field(default_factory=list)
    midi_clips: list[MidiClip] = field(default_factory=list)

    @property
    def notes(self) -> list[Note]:
        """Every note of the unmuted MIDI clips, in time order."""
        out = [n for c in self.midi_clips if not c.muted for n in c.notes]
        out.sort(key=lambda n: (n.start, n.pitch))
        return out

    @property
    def end(self) -> float:
        ends = [c.end for c in self.clips] + [c.start + c.duration for c in self.midi_clips]
        ends += [n.end for c in self.midi_clips for n in c.notes]
        return max(ends, default=0.0)

    def settle_kind(self) -> None:
        """Derive kind from the clips a track holds; folders and empty tracks keep theirs."""
        if self.kind == "folder" or not (self.clips or self.midi_clips):
            return  # an empty track keeps the kind its DAW gave it
        if self.clips and self.midi_clips:
            self.kind = "audio+midi"
        elif self.midi_clips:
            self.kind = "midi"
        else:
            self.kind = "audio"


@dataclass
class Session:
    path: str
    format: str  # reaper | ableton | dawproject | ardour | folder (also one audio file) | midi | files
    tracks: list[Track] = field(default_factory=list)
    tempo: TempoMap = field(default_factory=TempoMap.constant)
    sample_rate: float | None = None  # the project's rate, when it states one
    warnings: list[str] = field(default_factory=list)  # things loaded with a problem, one line each

    @property
    def duration(self) -> float:
        return max((t.end for t in self.tracks), default=0.0)

    @property
    def missing_media(self) -> list[str]:
        seen: dict[str, None] = {}
        for t in self.tracks:
            for c in t.clips:
                if c.missing:
                    for f in c.channel_files or (c.source,):
                        seen.setdefault(f)
            for m in t.midi_clips:
                if m.missing and m.source:
                    seen.setdefault(m.source)
        return list(seen)

    @property
    def short_media(self) -> list[str]:
        seen: dict[str, None] = {}
        for t in self.tracks:
            for c in t.clips:
                if not c.missing and c.short:
                    seen.setdefault(c.source)
        return list(seen)

    def audible_tracks(self) -> list[Track]:
        """Tracks the mix plays. Mute silences a track even when it is soloed, and a muted folder
        silences its children (REAPER, Live, and Ardour unless "solo overrides mute" is set);
        once any track is soloed, only soloed tracks and the children of soloed folders play."""
        soloed = any(t.solo for t in self.tracks)

        def line(t: Track) -> list[Track]:
            """The track and the folders holding it, innermost first (cycles cut)."""
            out, seen = [t], set()
            while t.parent is not None and t.parent not in seen and 0 <= t.parent < len(self.tracks):
                seen.add(t.parent)
                t = self.tracks[t.parent]
                out.append(t)
            return out

        out = []
        for t in self.tracks:
            held = line(t)
            if any(x.muted for x in held):
                continue
            if soloed and not any(x.solo for x in held):
                continue
            out.append(t)
        return out

    def to_json(self) -> dict:
        """The `stemscope info --json` contract (../shared/ARCHITECTURE.md)."""
        r = _round
        return {
            "format": self.format,
            "path": self.path,
            "duration": r(self.duration),
            "sample_rate": self.sample_rate,
            "tempo": self.tempo.changes(),
            "time_signatures": [
                {"time": r(self.tempo.beats_to_seconds(ts.beat)), "numerator": ts.numerator,
                 "denominator": ts.denominator}
                for ts in self.tempo.time_signatures
            ],
            "missing_media": self.missing_media,
            "short_media": self.short_media,
            "warnings": list(self.warnings),
            "tracks": [
                {
                    "name": t.name,
                    "kind": t.kind,
                    "muted": t.muted,
                    "solo": t.solo,
                    "gain": r(t.gain),
                    "parent": t.parent,
                    "clips": [
                        {
                            "start": r(c.start),
                            "duration": r(c.duration),
                            "source": c.source,
                            "source_offset": r(c.source_offset),
                            "playrate": r(c.playrate),
                            "gain": r(c.gain),
                            "muted": c.muted,
                            "missing": c.missing,
                            "short": c.short,
                            **({"channel_files": list(c.channel_files)} if c.channel_files else {}),
                        }
                        for c in t.clips
                    ],
                    "notes": [
                        {"start": r(n.start), "duration": r(n.duration), "pitch": n.pitch,
                         "velocity": n.velocity, "channel": n.channel}
                        for n in t.notes
                    ],
                    "midi_clips": [
                        {"start": r(m.start), "duration": r(m.duration), "name": m.name,
                         "muted": m.muted, "notes": len(m.notes), "events": len(m.events)}
                        for m in t.midi_clips
                    ],
                }
                for t in self.tracks
            ],
        }


def _round(x: float) -> float:
    return round(float(x), 6)
