"""REAPER projects (.rpp): tracks, folders, items, takes, inline MIDI and the tempo envelope.

An .rpp file is text: nested chunks `<NAME params ...` closed by a line holding only `>`, and
inside them lines of space-separated tokens. A token holding spaces is quoted with `"`, `'` or
a back-tick, whichever it does not contain (there is no escaping). Lines of base64 (plug-in
state) and `|`-prefixed text (notes) live inside chunks of their own.

The parser keeps only the chunks Stemscope reads (project, tracks, items, sources, the tempo
envelope, multi-line names) and skips every other chunk by counting its depth, so a project
full of plug-in state costs little more than a split into lines.

REAPER semantics followed here:
- every time (POSITION, LENGTH, SOFFS, fades, tempo points) is in seconds;
- `FADEIN`/`FADEOUT` are (shape, length, auto-crossfade length, ...): a crossfade with an
  overlapping item (third field > 0) replaces the manual fade;
- an item's lines before its first `TAKE` line belong to its first take; `TAKE SEL` marks the
  active take, `TAKE NULL` an empty one; the active take (else the first) is the one played;
- `VOLPAN` on an item is (item trim, first take's pan, first take's volume, pan law);
  `TAKEVOLPAN` is (pan, volume, pan law); a negative volume means phase-inverted;
- `<SOURCE SECTION` plays STARTPOS..STARTPOS+LENGTH of the source it wraps; its MODE is 0 (section),
  2 (section, reversed) or 3 (whole source reversed: STARTPOS/LENGTH unused);
- inline MIDI: `HASDATA 1 <ticks per quarter note> QN`, then events `E|e <delta ticks> <status>
  <data1> <data2>` (hex), `m` in the flag meaning muted; sysex/text events are `<X delta ...>`
  chunks whose delta still counts; the last event `E <delta> b0 7b 00` marks the source's end;
  a MIDI item's SOFFS second field is its offset in quarter notes; pooled items without events
  (`<SOURCE MIDIPOOL`) play the events of the item that shares their POOLEDEVTS id;
  `IGNTEMPO 1 <bpm> ...` makes a MIDI source run at its own tempo; a MIDI source with a FILE
  line and no events plays that .mid file;
- LOOP 1 repeats the source (or its section) for the item's length;
- `<TEMPOENVEX` with `ACT 1` overrides `TEMPO`: points `PT time bpm shape [timesig]`, shape 1
  holds, shape 0 ramps linearly in time to the next point, timesig = 65536 * denom + num;
- REAPER 7 fixed item lanes (`FREEMODE 2`): items on lanes that `LANESOLO` does not play are
  muted; a video take plays its sound track when it can be decoded.

Not modelled (a warning says so when a project uses them): stretch markers, reversed sections.

A file that does not start with `<REAPER_PROJECT`, holds binary data, or ends before its
chunks close (a truncated save) raises SessionError: half a project would silently mislead
the analysis.
"""

from __future__ import annotations

import gc
import math
import re
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..media import MediaResolver, attach_media, is_absolute, probe_audio
from ..model import AudioClip, MidiClip, Session, SessionError, Track
from ..smf import BeatEvent, BeatNote, NotePairer, beats_to_clip, read_smf
from ..tempo import DEFAULT_BPM, TempoMap, TimeSignature

# Chunks whose content the reader uses; every other chunk is skipped unread.
_KEPT_CHUNKS = frozenset({"REAPER_PROJECT", "TRACK", "ITEM", "SOURCE", "TEMPOENVEX", "NAME"})
_MIDI_EVENT_FLAGS = frozenset({"E", "e", "Em", "em"})
_MIDI_SYSEX_FLAGS = frozenset({"X", "x", "Xm", "xm"})
# Source types that hold no audio Stemscope could read (generators, placeholders).
_SILENT_SOURCES = frozenset({"CLICK", "EMPTY", "LTC", "VIDEOEFFECT"})
_MIDI_SOURCES = frozenset({"MIDI", "MIDIPOOL"})
_MAX_LOOP_REPEATS = 10_000
_HEX_BYTES = {f"{v:02{case}}": v for v in range(256) for case in "xX"}  # faster than int(s, 16)
_TOKEN = re.compile(r'"([^"]*)"?|\'([^\']*)\'?|`([^`]*)`?|(\S+)')


# ---- the chunk parser --------------------------------------------------------------------

class Chunk:
    """One `<NAME params` ... `>` block: its entries in file order, lines (str) and chunks."""

    __slots__ = ("entries", "line", "name", "params")

    def __init__(self, name: str, params: list[str], line: int):
        self.name = name
        self.params = params
        self.entries: list[str | Chunk] = []
        self.line = line

    def chunks(self, name: str) -> list[Chunk]:
        return [e for e in self.entries if isinstance(e, Chunk) and e.name == name]

    def values(self, key: str) -> list[str] | None:
        """The tokens after `key` on this chunk's first line starting with it, or None."""
        for e in self.entries:
            if isinstance(e, str) and (e == key or e.startswith((key + " ", key + "\t"))):
                return tokenize(e)[1:]
        return None


def tokenize(line: str) -> list[str]:
    """Split one line into tokens, unquoting "double", 'single' and `back-tick` quoted ones."""
    if '"' not in line and "'" not in line and "`" not in line:
        return line.split()
    return [a or b or c or d for a, b, c, d in _TOKEN.findall(line)]


def parse_project(text: str, path: Path) -> tuple[Chunk, int | None]:
    """(the project's root chunk, the first line with content after it closes, or None).

    SessionError if the text is not a whole REAPER project."""
    lines = text.splitlines()
    first = next((s.strip() for s in lines if s.strip()), "")
    if not first.startswith("<REAPER_PROJECT"):
        shown = first[:40] + ("..." if len(first) > 40 else "")
        raise SessionError(path, f"not a REAPER project: it should start with <REAPER_PROJECT, not {shown!r}")
    stack: list[Chunk] = []
    root: Chunk | None = None
    skipped: Chunk | None = None  # the outermost chunk being skipped
    skip_depth = 0
    for number, raw in enumerate(lines, 1):
        s = raw.strip()
        if not s:
            continue
        head = s[0]
        if skip_depth:
            if head == "<":
                skip_depth += 1
            elif s == ">":
                skip_depth -= 1
            continue
        if head == "<":
            tokens = tokenize(s[1:])
            chunk = Chunk(tokens[0] if tokens else "", tokens[1:], number)
            if root is None:
                root = chunk
            else:
                stack[-1].entries.append(chunk)
            if chunk.name in _KEPT_CHUNKS or not stack:
                stack.append(chunk)
            else:
                skipped, skip_depth = chunk, 1
        elif s == ">":
            stack.pop()
            if not stack:
                trailing = next((number + k + 1 for k, rest in enumerate(lines[number:]) if rest.strip()), None)
                return root, trailing
        else:
            stack[-1].entries.append(s)
    open_chunk = skipped if skip_depth else stack[-1]
    left_open = len(stack) + (1 if skip_depth else 0)
    raise SessionError(
        path, f"the file is truncated: it ends inside <{open_chunk.name}> opened at line {open_chunk.line} "
              f"({left_open} chunk{'s' if left_open > 1 else ''} not closed)"
    )


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SessionError(path, f"cannot read the file ({exc.strerror or exc})") from exc
    if b"\x00" in data[:65536]:
        raise SessionError(path, "binary data, not a REAPER project (.rpp files are text)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # projects saved by old REAPER versions in the system code page
    return text.lstrip("\ufeff")


# ---- small value helpers -----------------------------------------------------------------

def _num(tokens: list[str] | None, index: int, default: float) -> float:
    if not tokens or len(tokens) <= index:
        return default
    try:
        value = float(tokens[index])
    except ValueError:
        return default
    return value if math.isfinite(value) else default


def _key_rest(line: str) -> tuple[str, str]:
    parts = line.split(None, 1)
    return parts[0], (parts[1] if len(parts) > 1 else "")


def _chunk_text(chunk: Chunk) -> str:
    """The text of a `|`-prefixed multi-line chunk such as <NAME>."""
    return "\n".join(e.removeprefix("|") for e in chunk.entries if isinstance(e, str))


# ---- what an item holds, before tempo and media are known --------------------------------

@dataclass
class _Source:
    kind: str  # upper case REAPER source type, "_OFFLINE_" prefix removed
    file: str = ""
    section_start: float = 0.0
    section_length: float | None = None  # None: to the end of the source
    midi: Chunk | None = None
    has_section: bool = False
    audio_off: bool = False  # a video source whose sound is switched off
    reversed: bool = False  # a section played backwards (read as forwards)


@dataclass
class _Take:
    name: str = ""
    soffs: float = 0.0
    soffs_qn: float | None = None
    playrate: float = 1.0
    volume: float = 1.0
    source: Chunk | None = None
    null: bool = False


@dataclass
class _Item:
    position: float = 0.0
    length: float = 0.0
    loop: bool = False
    muted: bool = False
    trim: float = 1.0
    fade_in: float = 0.0
    fade_out: float = 0.0
    takes: list[_Take] = field(default_factory=lambda: [_Take()])
    active: int = 0
    stretch_markers: bool = False
    lane: int | None = None  # REAPER 7 fixed item lane, from YPOS
    all_takes: bool = False  # ALLTAKES 1: every take plays at once

    def playing_takes(self) -> list[_Take]:
        """The active take (else the first), or every take when the item plays them all."""
        if self.all_takes:
            return self.takes
        return [self.takes[self.active if self.active < len(self.takes) else 0]]


@dataclass
class _MidiContent:
    notes: list[BeatNote]
    events: list[BeatEvent]
    length: float  # quarter notes, up to the end-of-source event


def _read_item(chunk: Chunk) -> _Item:
    item = _Item()
    selected: int | None = None
    for entry in chunk.entries:
        take = item.takes[-1]
        if isinstance(entry, Chunk):
            if entry.name == "SOURCE" and take.source is None:
                take.source = entry
            elif entry.name == "NAME":
                take.name = _chunk_text(entry)
            continue
        key, rest = _key_rest(entry)
        if key == "TAKE":
            flags = rest.split()
            item.takes.append(_Take(null="NULL" in flags))
            if "SEL" in flags:
                selected = len(item.takes) - 1
        elif key == "POSITION":
            item.position = _num(rest.split(), 0, 0.0)
        elif key == "LENGTH":
            item.length = _num(rest.split(), 0, 0.0)
        elif key == "LOOP":
            item.loop = _num(rest.split(), 0, 0.0) != 0
        elif key == "ALLTAKES":
            item.all_takes = _num(rest.split(), 0, 0.0) != 0
        elif key == "MUTE":
            item.muted = _num(rest.split(), 0, 0.0) != 0
        elif key == "FADEIN":
            item.fade_in = _fade_length(rest)
        elif key == "FADEOUT":
            item.fade_out = _fade_length(rest)
        elif key == "VOLPAN" and len(item.takes) == 1:
            values = rest.split()
            item.trim = abs(_num(values, 0, 1.0))
            take.volume = abs(_num(values, 2, 1.0))
        elif key == "TAKEVOLPAN":
            take.volume = abs(_num(rest.split(), 1, 1.0))
        elif key == "NAME":
            tokens = tokenize(rest)
            take.name = tokens[0] if tokens else ""
        elif key == "SOFFS":
            values = rest.split()
            take.soffs = _num(values, 0, 0.0)
            take.soffs_qn = _num(values, 1, math.nan) if len(values) > 1 else None
            if take.soffs_qn is not None and math.isnan(take.soffs_qn):
                take.soffs_qn = None
        elif key == "PLAYRATE":
            take.playrate = _num(rest.split(), 0, 1.0)
        elif key == "SM":
            item.stretch_markers = True
        elif key == "YPOS":
            values = rest.split()
            top, height = _num(values, 0, 0.0), _num(values, 1, 0.0)
            item.lane = round(top / height) if height > 0 else None
    if selected is not None:
        item.active = selected
    return item


def _fade_length(rest: str) -> float:
    """A FADEIN/FADEOUT line: (shape, manual length, auto-crossfade length, ...); an automatic
    crossfade with an overlapping item (length > 0) replaces the manual fade."""
    values = rest.split()
    auto = _num(values, 2, 0.0)
    return auto if auto > 0 else max(_num(values, 1, 0.0), 0.0)


def _read_source(chunk: Chunk) -> _Source:
    """The playable source behind a <SOURCE> chunk, sections unwrapped."""
    kind = chunk.params[0].upper() if chunk.params else ""
    kind = kind.removeprefix("_OFFLINE_")
    if kind == "SECTION":
        inner_chunks = chunk.chunks("SOURCE")
        if not inner_chunks:
            return _Source("EMPTY")
        inner = _read_source(inner_chunks[0])
        mode = int(_num(chunk.values("MODE"), 0, 0.0))
        inner.reversed = inner.reversed or bool(mode & 2)
        if mode & 1:  # "reverse" without "section": the whole source, whatever STARTPOS/LENGTH say
            return inner
        start = max(_num(chunk.values("STARTPOS"), 0, 0.0), 0.0)
        length = _num(chunk.values("LENGTH"), 0, 0.0)
        inner_end = None if inner.section_length is None else inner.section_start + inner.section_length
        inner.section_start += start
        if length > 0:
            inner.section_length = length
        elif inner_end is not None:
            inner.section_length = max(inner_end - inner.section_start, 0.0)
        inner.has_section = True
        return inner
    source = _Source(kind)
    if kind in _MIDI_SOURCES:
        source.midi = chunk  # its FILE, if any, is read with its events
        return source
    file_values = chunk.values("FILE")
    if file_values:
        source.file = file_values[0]
    if kind == "VIDEO":
        source.audio_off = _num(chunk.values("AUDIO"), 0, 1.0) == 0
    return source


@dataclass
class _MidiSource:
    content: _MidiContent | None  # None when the source holds no events of its own
    pool: str | None = None  # POOLEDEVTS id shared by pooled items
    fixed_bpm: float | None = None  # IGNTEMPO: the source ignores the project tempo
    file: str = ""  # a .mid file the take plays instead of inline events


def _parse_midi(chunk: Chunk) -> _MidiSource:
    """The events of a <SOURCE MIDI> chunk, in quarter notes from the source's start."""
    ppq = 960
    tick = 0
    has_data = False
    source = _MidiSource(None)
    pairer = NotePairer()
    events: list[BeatEvent] = []
    end_marker: BeatEvent | None = None
    for entry in chunk.entries:
        if entry.__class__ is not str:
            if entry.name in _MIDI_SYSEX_FLAGS and entry.params:
                tick += _int(entry.params[0])
            continue
        parts = entry.split()
        flag = parts[0]
        if flag in _MIDI_EVENT_FLAGS:
            has_data = True
            try:
                tick += int(parts[1])
                if "m" in flag:
                    continue  # a muted event does not play
                status = _HEX_BYTES.get(parts[2]) or int(parts[2], 16)
                data1 = (_HEX_BYTES.get(parts[3]) or int(parts[3], 16)) & 0x7F
                data2 = (_HEX_BYTES.get(parts[4]) or int(parts[4], 16)) & 0x7F if len(parts) > 4 else 0
            except (ValueError, IndexError):
                continue
            kind = status & 0xF0
            if kind == 0x90:
                pairer.on(tick / ppq, status & 0x0F, data1, data2)
            elif kind == 0x80:
                pairer.off(tick / ppq, status & 0x0F, data1)
            else:
                event = _channel_event(tick / ppq, kind, status & 0x0F, data1, data2)
                end_marker = event if (kind == 0xB0 and data1 == 123 and data2 == 0) else None
                if event is not None:
                    events.append(event)
        elif flag in _MIDI_SYSEX_FLAGS:
            has_data = True
            if len(parts) > 1:
                tick += _int(parts[1])
        elif flag == "HASDATA":
            has_data = has_data or (len(parts) > 1 and parts[1] == "1")
            if len(parts) > 2 and _int(parts[2]) > 0:
                ppq = _int(parts[2])
        elif flag == "POOLEDEVTS" and len(parts) > 1:
            source.pool = parts[1]
        elif flag == "IGNTEMPO" and len(parts) > 2 and parts[1] == "1":
            bpm = _num(parts, 2, 0.0)
            source.fixed_bpm = bpm if bpm > 0 else None
        elif flag == "FILE":
            tokens = tokenize(entry)
            source.file = tokens[1] if len(tokens) > 1 else ""
    if has_data:
        if end_marker is not None and events and events[-1] is end_marker:
            events.pop()  # REAPER's end-of-source all-notes-off, not a played controller
        length = tick / ppq
        source.content = _MidiContent(pairer.close(length), events, length)
    return source


def _int(token: str) -> int:
    try:
        return int(token)
    except ValueError:
        try:
            return int(float(token))
        except (ValueError, OverflowError):
            return 0


def _channel_event(beat: float, kind: int, channel: int, data1: int, data2: int) -> BeatEvent | None:
    """What smf.channel_event makes of a message, built from its bytes without a mido message
    (inline MIDI can hold tens of thousands of controller points)."""
    if kind == 0xE0:
        return BeatEvent(beat, "pitchwheel", ((data2 << 7) | data1) - 8192, channel)
    if kind == 0xB0:
        return BeatEvent(beat, "control_change", data2, channel, data1)
    if kind == 0xD0:
        return BeatEvent(beat, "aftertouch", data1, channel)
    if kind == 0xA0:
        return BeatEvent(beat, "polytouch", data2, channel, data1)
    if kind == 0xC0:
        return BeatEvent(beat, "program_change", data1, channel)
    return None


# ---- the project -------------------------------------------------------------------------

@dataclass
class _TrackDraft:
    track: Track
    items: list[_Item]
    opens_folder: bool


class _ProjectReader:
    """The parsed chunk tree made a Session: project settings and the tempo map first, then the
    tracks, then every item placed on the timeline, then the media resolved and probed."""

    def __init__(self, path: Path, root: Chunk):
        self.path = path
        self.root = root
        self.warnings: list[str] = []
        self.midi_pools: dict[str, _MidiContent] = {}
        self.parsed_midi: dict[int, _MidiSource] = {}
        self.media_dirs: list[Path] = []
        self.sample_rate: float | None = None
        self.tempo = TempoMap.constant()
        self.video_clips: list[AudioClip] = []
        self.ignored: Counter[str] = Counter()  # what the model cannot hold -> how many items had it

    def read(self) -> Session:
        self._read_project_settings()
        drafts = self._read_tracks()
        resolver = MediaResolver(self.path.parent, self.media_dirs)
        session = Session(path=str(self.path), format="reaper", tempo=self.tempo,
                          sample_rate=self.sample_rate, warnings=self.warnings)
        for draft in drafts:
            for item in draft.items:
                self._place_item(item, draft.track, resolver)
            track = draft.track
            if draft.opens_folder and not track.clips and not track.midi_clips:
                track.kind = "folder"
            else:
                track.settle_kind()
            session.tracks.append(track)
        for what, count in self.ignored.items():
            if count:
                self.warnings.append(f"{self.path}: {count} item(s) with {what}")
        self._drop_silent_videos(session, resolver)
        attach_media(session, resolver)
        _drop_unneeded_loops(session)
        return session

    # -- project settings
    def _read_project_settings(self) -> None:
        base_bpm, numerator, denominator = DEFAULT_BPM, 4, 4
        envelope: Chunk | None = None
        for entry in self.root.entries:
            if isinstance(entry, Chunk):
                if entry.name == "TEMPOENVEX":
                    envelope = entry
                continue
            key, rest = _key_rest(entry)
            if key == "TEMPO":
                values = rest.split()
                bpm = _num(values, 0, DEFAULT_BPM)
                if bpm > 0:
                    base_bpm = bpm
                else:
                    self.warnings.append(f"{self.path}: TEMPO {values[0] if values else ''} is not a tempo; "
                                         f"{DEFAULT_BPM:g} bpm used")
                numerator = max(int(_num(values, 1, 4)), 1)
                denominator = max(int(_num(values, 2, 4)), 1)
            elif key == "SAMPLERATE":
                rate = _num(rest.split(), 0, 0.0)
                self.sample_rate = rate if rate > 0 else None
            elif key == "RECORD_PATH":
                for folder in tokenize(rest):
                    # A drive-letter path from Windows means nothing on another system.
                    if folder and not (is_absolute(folder) and not Path(folder).is_absolute()):
                        self.media_dirs.append(Path(folder))
        self.tempo = self._tempo_map(base_bpm, numerator, denominator, envelope)

    def _tempo_map(self, base_bpm: float, numerator: int, denominator: int, envelope: Chunk | None) -> TempoMap:
        points = []
        default_shape = 0
        if envelope is not None and _num(envelope.values("ACT"), 0, 1.0) != 0:
            default_shape = int(_num(envelope.values("DEFSHAPE"), 0, 0.0))
            for entry in envelope.entries:
                if isinstance(entry, str) and entry.startswith("PT "):
                    points.append(entry.split()[1:])
        if not points:
            return TempoMap.constant(base_bpm, numerator, denominator)
        changes: list[tuple[float, float, str]] = []
        signatures: list[tuple[float, int, int]] = []  # (time, numerator, denominator)
        for values in points:
            time, bpm = _num(values, 0, math.nan), _num(values, 1, math.nan)
            if math.isnan(time) or not bpm > 0:
                self.warnings.append(f"{self.path}: tempo point {' '.join(values)!r} ignored")
                continue
            shape = int(_num(values, 2, default_shape))
            if shape < 0:
                shape = default_shape
            changes.append((max(time, 0.0), bpm, "step" if shape == 1 else "linear"))
            packed = int(_num(values, 3, 0.0))
            if packed > 0 and packed & 0xFFFF and packed >> 16:
                signatures.append((max(time, 0.0), packed & 0xFFFF, packed >> 16))
        if not changes:
            return TempoMap.constant(base_bpm, numerator, denominator)
        if min(c[0] for c in changes) > 0:
            changes.insert(0, (0.0, base_bpm, "step"))
        timeline = TempoMap.from_seconds(changes)
        sigs = [TimeSignature(0.0, numerator, denominator)]
        sigs += [TimeSignature(timeline.seconds_to_beats(t), num, den) for t, num, den in signatures]
        return TempoMap(timeline.points, sigs)

    # -- tracks
    def _read_tracks(self) -> list[_TrackDraft]:
        drafts: list[_TrackDraft] = []
        open_folders: list[int] = []
        for chunk in self.root.chunks("TRACK"):
            index = len(drafts)
            track = Track(name="", parent=open_folders[-1] if open_folders else None)
            items: list[_Item] = []
            folder_state, depth_change = 0, 0
            fixed_lanes, playing_lanes = False, None
            for entry in chunk.entries:
                if isinstance(entry, Chunk):
                    if entry.name == "ITEM":
                        items.append(_read_item(entry))
                    elif entry.name == "NAME":
                        track.name = _chunk_text(entry)
                    continue
                key, rest = _key_rest(entry)
                if key == "NAME":
                    tokens = tokenize(rest)
                    track.name = tokens[0] if tokens else ""
                elif key == "MUTESOLO":
                    values = rest.split()
                    track.muted = _num(values, 0, 0.0) != 0
                    track.solo = _num(values, 1, 0.0) != 0
                elif key == "VOLPAN":
                    values = rest.split()
                    track.gain = abs(_num(values, 0, 1.0))
                    track.pan = min(max(_num(values, 1, 0.0), -1.0), 1.0)
                elif key == "ISBUS":
                    values = rest.split()
                    folder_state = int(_num(values, 0, 0.0))
                    implied = {1: 1, 2: -1}.get(folder_state, 0)
                    depth_change = int(_num(values, 1, implied))
                elif key == "FREEMODE":
                    fixed_lanes = _num(rest.split(), 0, 0.0) == 2
                elif key == "LANESOLO":
                    playing_lanes = int(_num(rest.split(), 0, 0.0))
            if fixed_lanes and playing_lanes:  # REAPER 7 lanes: only the playing lanes sound
                for item in items:
                    if item.lane is not None and not (playing_lanes >> item.lane) & 1:
                        item.muted = True
            if not track.name:
                track.name = f"Track {index + 1}"  # what REAPER shows for an unnamed track
            if depth_change > 0:
                open_folders.append(index)
            elif depth_change < 0:
                del open_folders[max(len(open_folders) + depth_change, 0):]
            drafts.append(_TrackDraft(track, items, depth_change > 0 or folder_state == 1))
            for item in items:
                self._collect_midi_pool(item)
        return drafts

    def _midi(self, chunk: Chunk) -> _MidiSource:
        """_parse_midi, once per source chunk."""
        key = id(chunk)
        if key not in self.parsed_midi:
            self.parsed_midi[key] = _parse_midi(chunk)
        return self.parsed_midi[key]

    def _collect_midi_pool(self, item: _Item) -> None:
        """Remember each take's inline MIDI by pool id, for pooled items that hold no events."""
        for take in item.takes:
            if take.source is None:
                continue
            source = _read_source(take.source)
            if source.midi is None:
                continue
            midi = self._midi(source.midi)
            if midi.content is not None and midi.pool and midi.pool not in self.midi_pools:
                self.midi_pools[midi.pool] = midi.content

    # -- items
    def _place_item(self, item: _Item, track: Track, resolver: MediaResolver) -> None:
        for take in item.playing_takes():
            if not take.null and take.source is not None and item.length > 0:
                self._place_take(item, take, track, resolver)

    def _place_take(self, item: _Item, take: _Take, track: Track, resolver: MediaResolver) -> None:
        where = f"{self.path}: item at {item.position:.3f} s on track '{track.name}'"
        source = _read_source(take.source)
        rate = take.playrate
        if not rate > 0:
            self.warnings.append(f"{where}: play rate {rate:g} is not playable; 1 used")
            rate = 1.0
        self.ignored["stretch markers (each take plays at its constant rate)"] += item.stretch_markers
        self.ignored["a reversed source section (read as playing forwards)"] += source.reversed
        if source.midi is not None:
            clip = self._midi_clip(item, take, source, rate, where, resolver)
            if clip is not None:
                track.midi_clips.append(clip)
            return
        if source.kind in _SILENT_SOURCES or source.audio_off:
            return
        if source.kind == "RPP_PROJECT":
            self.warnings.append(f"{where}: subproject {source.file!r} is not opened; skipped")
            return
        if not source.file:
            self.warnings.append(f"{where}: source type {source.kind or '(none)'} is not supported; skipped")
            return
        clip = _audio_clip(item, take, source, rate)
        if clip is None:
            return
        if source.kind == "VIDEO":
            self.video_clips.append(clip)
        track.clips.append(clip)

    def _midi_clip(self, item: _Item, take: _Take, source: _Source, rate: float, where: str,
                   resolver: MediaResolver) -> MidiClip | None:
        midi = self._midi(source.midi)
        content, fixed_bpm = midi.content, midi.fixed_bpm
        smf_path = None
        if content is None and midi.pool in self.midi_pools:
            content = self.midi_pools[midi.pool]
        if content is None and midi.file:
            found = resolver.resolve(midi.file)
            if found is None:
                return MidiClip(item.position, item.length, name=take.name, muted=item.muted,
                                source=midi.file, missing=True)
            smf_path = str(found)
            content = self._midi_file(found)
        if content is None:
            return None  # an empty MIDI take
        soffs = take.soffs + source.section_start
        if fixed_bpm:  # "ignore project tempo": the source runs at its own constant tempo
            tempo = TempoMap.constant(fixed_bpm)
            origin = item.position * fixed_bpm / 60.0
            span = item.length * fixed_bpm / 60.0
            offset = soffs * fixed_bpm / 60.0
        else:
            tempo = self.tempo
            origin = tempo.seconds_to_beats(item.position)
            span = tempo.seconds_to_beats(item.position + item.length) - origin
            if take.soffs_qn is not None and not source.has_section:
                offset = take.soffs_qn
            else:
                offset = origin - tempo.seconds_to_beats(item.position - soffs)
        notes, events = _midi_window(content, offset, span * rate, item.loop, where, self.warnings)
        if offset or rate != 1:  # source quarter notes -> quarter notes from the item's start
            notes = [BeatNote((n.beat - offset) / rate, n.length / rate, n.pitch, n.velocity, n.channel)
                     for n in notes]
            events = [BeatEvent((e.beat - offset) / rate, e.kind, e.value, e.channel, e.controller)
                      for e in events]
        clip = beats_to_clip(notes, events, tempo, origin, name=take.name, window=(0.0, span))
        clip.start, clip.duration, clip.muted, clip.source = item.position, item.length, item.muted, smf_path
        return clip

    def _midi_file(self, path: Path) -> _MidiContent | None:
        """A MIDI take that plays a .mid file: all its tracks' notes, in its quarter notes."""
        try:
            smf = read_smf(path)
        except SessionError as exc:
            self.warnings.append(str(exc))
            return None
        return _MidiContent(*smf.merged(), smf.length_beats)

    def _drop_silent_videos(self, session: Session, resolver: MediaResolver) -> None:
        """Video takes play their sound track; one that cannot be decoded as audio is left out."""
        silent: set[int] = set()
        verdicts: dict[Path, bool] = {}
        for clip in self.video_clips:
            found = resolver.resolve(clip.source)
            if found is None:
                continue  # listed as missing media by attach_media
            if found not in verdicts:
                try:
                    probe_audio(found)
                    verdicts[found] = True
                except ValueError as exc:
                    self.warnings.append(f"{found}: video whose sound cannot be decoded ({exc}); skipped")
                    verdicts[found] = False
            if not verdicts[found]:
                silent.add(id(clip))
        if silent:
            for track in session.tracks:
                track.clips = [c for c in track.clips if id(c) not in silent]


def _audio_clip(item: _Item, take: _Take, source: _Source, rate: float) -> AudioClip | None:
    start, duration = item.position, item.length
    offset = take.soffs
    loop = None
    if item.loop:
        end = None if source.section_length is None else source.section_start + source.section_length
        loop = (source.section_start, end)
    else:
        if offset < 0:  # the source starts later than the item: silence first
            start += -offset / rate
            duration -= -offset / rate
            offset = 0.0
        if source.section_length is not None:  # nothing plays after the section's end
            duration = min(duration, (source.section_length - offset) / rate)
    if duration <= 1e-9:
        return None
    return AudioClip(
        start=start, duration=duration, source=source.file, source_offset=source.section_start + offset,
        playrate=rate, gain=item.trim * take.volume, fade_in=item.fade_in, fade_out=item.fade_out,
        name=take.name, muted=item.muted, loop=loop,
    )


def _midi_window(content: _MidiContent, start: float, span: float, loop: bool, where: str,
                 warnings: list[str]) -> tuple[list[BeatNote], list[BeatEvent]]:
    """Notes and events of the source from `start` for `span` quarter notes, the source
    repeated when the item loops it (notes cut at each repeat's end)."""
    length = content.length
    if not loop or length <= 0 or (start >= 0 and start + span <= length + 1e-9):
        return content.notes, content.events
    first, last = math.floor(start / length), math.ceil((start + span) / length)
    if last - first > _MAX_LOOP_REPEATS:
        warnings.append(f"{where}: the MIDI source is too short to loop {last - first} times; played once")
        return content.notes, content.events
    notes: list[BeatNote] = []
    events: list[BeatEvent] = []
    for k in range(first, last):
        shift = k * length
        lo, hi = start - shift - 1e-9, start + span - shift  # the item's window in this repeat
        notes.extend(BeatNote(n.beat + shift, min(n.length, length - n.beat), n.pitch, n.velocity, n.channel)
                     for n in content.notes if lo <= n.beat < min(hi, length))
        events.extend(BeatEvent(e.beat + shift, e.kind, e.value, e.channel, e.controller)
                      for e in content.events if lo <= e.beat < min(hi, length))
    return notes, events


def _drop_unneeded_loops(session: Session) -> None:
    """A looping item that ends before its source does plays like one that does not loop."""
    for track in session.tracks:
        for clip in track.clips:
            if clip.loop is None:
                continue
            loop_start, loop_end = clip.loop
            end = loop_end if loop_end is not None else clip.source_duration
            if end is None:
                continue
            if loop_start - 1e-9 <= clip.source_offset and clip.source_time(clip.duration) <= end + 1e-6:
                clip.loop = None


@contextmanager
def _collector_paused():
    """Reading creates ~10^5 small objects and no reference cycles: the cyclic garbage collector
    would only rescan them over and over (a fifth of the load time of a large project)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read(path: Path) -> Session:
    """The REAPER project at `path`, its media resolved against the project and record folders."""
    with _collector_paused():
        root, trailing = parse_project(_decode(path), path)
        reader = _ProjectReader(path, root)
        if trailing is not None:
            reader.warnings.append(
                f"{path}: the text after the project's closing '>' (from line {trailing}) is ignored")
        return reader.read()
