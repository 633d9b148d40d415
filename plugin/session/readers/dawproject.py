"""DAWproject (.dawproject): a zip holding project.xml (and metadata.xml), with embedded media.

The format (bitwig/dawproject, Project.xsd) nests timelines: Lanes hold Lanes, Clips, Notes,
Audio, Warps and Points; a Clip holds one timeline (or `reference`s one elsewhere, an alias
clip) and shows the window [playStart, playStop) of it, looped between loopStart and loopEnd.
`timeUnit` (beats or seconds) is inherited down the tree and defaults to beats; a Clip's
`time`/`duration` are in its parent's unit while `contentTimeUnit` sets the unit inside it.

The reader walks that tree with a scope that maps the current timeline's local time to
seconds on the session timeline (and back), so every unit change, clip offset, loop pass and
warp composes. Audio is always in seconds of its file; `Warps` map the outer time to the
content time piecewise linearly. Files inside the zip are extracted, only when a clip plays
them, into a per-user cache folder: nothing is ever written beside the project.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import os
import shutil
import tempfile
import urllib.parse
import xml.etree.ElementTree as ET
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

from ...paths import user_cache_dir
from ..media import MediaResolver, attach_media
from ..model import AudioClip, MidiClip, MidiEvent, Note, Session, SessionError, Track
from ..tempo import DEFAULT_BPM, TempoMap, TimeSignature

EPS = 1e-9
MAX_DEPTH = 64  # nesting of timelines (Lanes in Clips in Lanes ...) followed at most
# Work allowed for one project, so that loops in loops or aliases of aliases cannot explode:
MAX_LOOP_PASSES = 100_000  # loop passes unrolled, all clips together
MAX_TIMELINES = 1_000_000  # timelines read, every alias and loop pass counted
RAMP_STEP_S = 0.1  # tempo ramps are followed this finely when mapping audio through beats
MIDI_RAMP_STEP_BEATS = 1.0 / 32  # linear MIDI controller ramps become events this far apart
MIDI_RAMP_STEP_S = 1.0 / 64

_ZIP_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError)

# MIDI expressions of a Points target -> (MidiEvent kind, largest raw MIDI value).
_MIDI_EXPRESSIONS = {
    "channelController": ("control_change", 127),
    "pitchBend": ("pitchwheel", 16383),
    "channelPressure": ("aftertouch", 127),
    "polyPressure": ("polytouch", 127),
    "programChange": ("program_change", 127),
}


# ---- cache folder for media inside the zip ---------------------------------------------------
def project_cache_dir(path: Path) -> Path:
    """Where the media of one .dawproject file are extracted; a new folder when the file changes."""
    st = path.stat()
    key = f"{path.resolve()}\0{st.st_mtime_ns}\0{st.st_size}".encode("utf-8", "surrogateescape")
    return user_cache_dir() / "dawproject" / hashlib.sha256(key).hexdigest()[:24]


class _Archive:
    """The .dawproject zip: project.xml, and members extracted on demand into the cache."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, NotImplementedError) as exc:
            raise SessionError(path, f"not a DAWproject file: not a readable zip archive ({exc})") from exc
        self.members: dict[str, zipfile.ZipInfo] = {}
        self.members_lower: dict[str, zipfile.ZipInfo] = {}
        for info in self.zip.infolist():
            if info.is_dir():
                continue
            names = [info.filename]
            if not info.flag_bits & 0x800:  # no UTF-8 flag: the name may still be UTF-8
                try:
                    names.append(info.filename.encode("cp437").decode("utf-8"))
                except UnicodeError:
                    pass
            for name in map(_member_name, names):
                self.members.setdefault(name, info)
                self.members_lower.setdefault(name.lower(), info)
        self.extracted: dict[str, Path] = {}
        self._cache: Path | None = None

    def close(self) -> None:
        self.zip.close()

    def project_xml(self) -> bytes:
        info = self.members.get("project.xml") or self.members_lower.get("project.xml")
        if info is None:
            raise SessionError(self.path, "not a DAWproject file: the zip archive holds no project.xml")
        try:
            return self.zip.read(info)
        except _ZIP_READ_ERRORS as exc:
            raise SessionError(self.path, f"project.xml inside the archive cannot be read ({exc})") from exc

    def member(self, raw: str) -> zipfile.ZipInfo | None:
        """The member a File path names: as written, in any case, or percent-decoded."""
        for name in (_member_name(raw), _member_name(urllib.parse.unquote(raw))):
            info = self.members.get(name) or self.members_lower.get(name.lower())
            if info is not None:
                return info
        return None

    def extract(self, info: zipfile.ZipInfo) -> Path:
        """The cached copy of a member, extracted now unless an intact copy is already there."""
        if info.filename in self.extracted:
            return self.extracted[info.filename]
        if self._cache is None:
            self._cache = project_cache_dir(self.path)
        parts = [p.replace(":", "_") for p in PurePosixPath(_member_name(info.filename)).parts
                 if p not in ("", ".", "..")]
        if not parts:
            parts = [hashlib.sha256(info.filename.encode("utf-8", "replace")).hexdigest()[:16]]
        target = self._cache.joinpath(*parts)
        if not (target.is_file() and target.stat().st_size == info.file_size):
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
            try:
                with os.fdopen(fd, "wb") as out, self.zip.open(info) as src:
                    shutil.copyfileobj(src, out, 1 << 20)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        self.extracted[info.filename] = target
        return target


def _member_name(raw: str) -> str:
    name = raw.strip().replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


# ---- small XML and number helpers ------------------------------------------------------------
def _tag(el: ET.Element) -> str:
    return el.tag.rsplit("}", 1)[-1] if isinstance(el.tag, str) else ""


def _child(el: ET.Element | None, name: str) -> ET.Element | None:
    if el is None:
        return None
    return next((c for c in el if _tag(c) == name), None)


def _children(el: ET.Element, name: str) -> Iterator[ET.Element]:
    return (c for c in el if _tag(c) == name)


def _float(el: ET.Element | None, name: str, default: float | None = None) -> float | None:
    """A finite number attribute, or `default` when it is absent or unreadable."""
    if el is None:
        return default
    raw = el.get(name)
    if raw is None:
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        return default
    return value if math.isfinite(value) else default


def _bool(el: ET.Element | None, name: str) -> bool | None:
    raw = el.get(name) if el is not None else None
    if raw is None:
        return None
    return raw.strip().lower() in ("true", "1")


def _unit(raw: str | None) -> str | None:
    raw = (raw or "").strip().lower()
    return raw if raw in ("beats", "seconds") else None


def _interp(xs: list[float], ys: list[float], x: float) -> float:
    """Piecewise-linear y(x) through two or more sorted xs, extended by the end segments."""
    k = min(max(bisect.bisect_right(xs, x) - 1, 0), len(xs) - 2)
    x0, x1, y0, y1 = xs[k], xs[k + 1], ys[k], ys[k + 1]
    return y0 + (x - x0) * (y1 - y0) / (x1 - x0) if x1 != x0 else y0


def _simplify(pairs: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Drop the points of a polyline that lie on the line through their neighbours (1 us)."""
    out = [pairs[0]]
    for k in range(1, len(pairs) - 1):
        (x0, y0), (x1, y1), (x2, y2) = out[-1], pairs[k], pairs[k + 1]
        if x2 == x0 or abs(y0 + (y2 - y0) * (x1 - x0) / (x2 - x0) - y1) > 1e-6:
            out.append(pairs[k])
    if len(pairs) > 1:
        out.append(pairs[-1])
    return out


# ---- the scope of a timeline -----------------------------------------------------------------
Mapping = Callable[[float], float]


@dataclass
class _MidiTarget:
    """The MidiClip that one arrangement clip fills, created when it first gets notes or events."""

    track: int
    name: str
    muted: bool
    start: float
    end: float
    clip: MidiClip | None = None


@dataclass(frozen=True)
class _Scope:
    unit: str  # "beats" or "seconds": the unit of local times here
    place: Mapping  # local time -> session seconds
    local: Mapping  # session seconds -> local time
    lo: float = -math.inf  # audible window, session seconds
    hi: float = math.inf
    track: int | None = None
    muted: bool = False
    name: str = ""
    warped: bool = False
    bends: tuple[float, ...] = ()  # session seconds where warps bend the time mapping
    edges: tuple[tuple[float, float, float, float], ...] = ()  # (start, end, fade in, fade out)
    midi: _MidiTarget | None = None
    chain: frozenset[int] = frozenset()  # ids of the elements being read: alias cycles stop here
    depth: int = 0


@dataclass
class _AudioUse:
    clip: AudioClip
    file: str
    declared_duration: float | None
    declared_rate: float | None
    open_end: Mapping | None  # source seconds -> session seconds, when the file's end ends the clip


@dataclass
class _Reader:
    path: Path
    archive: _Archive
    session: Session = field(init=False)
    ids: dict[str, ET.Element] = field(default_factory=dict)
    track_by_id: dict[str, int] = field(default_factory=dict)
    master_tracks: set[int] = field(default_factory=set)
    mixed_tracks: set[int] = field(default_factory=set)  # tracks with a Channel of their own
    loose_midi: dict[int, MidiClip] = field(default_factory=dict)  # per track: MIDI outside clips
    sized_by_notes: list[tuple[MidiClip, int, bool]] = field(default_factory=list)  # (clip, track, start too)
    audio: list[_AudioUse] = field(default_factory=list)
    problems: dict[str, int] = field(default_factory=dict)
    unassigned: int | None = None
    tempo_bends: list[float] = field(default_factory=list)
    loop_passes_left: int = MAX_LOOP_PASSES
    timelines_left: int = MAX_TIMELINES

    def __post_init__(self):
        self.session = Session(path=str(self.path), format="dawproject")

    # ---- top level ------------------------------------------------------------------------
    def read(self, project: ET.Element) -> Session:
        for el in project.iter():
            ident = el.get("id")
            if ident is not None:
                self.ids.setdefault(ident, el)
        arrangement = _child(project, "Arrangement")
        root_lanes = _child(arrangement, "Lanes")
        arrangement_unit = _unit(root_lanes.get("timeUnit") if root_lanes is not None else None) or "beats"
        self.session.tempo = self._tempo(project, arrangement, arrangement_unit)
        self._follow_tempo()
        self._structure(_child(project, "Structure"))
        if arrangement is not None:
            tempo = self.session.tempo
            root = _Scope("beats", tempo.beats_to_seconds, tempo.seconds_to_beats)
            for el in arrangement:
                self._timeline(el, root)
        self._finish_midi()
        attach_media(self.session, MediaResolver(self.path.parent))
        self._check_media()
        self._drop_empty_masters()
        for what, count in self.problems.items():
            self.session.warnings.append(f"{self.path}: {count} {what}")
        return self.session

    def _problem(self, what: str) -> None:
        self.problems[what] = self.problems.get(what, 0) + 1

    # ---- tempo ------------------------------------------------------------------------------
    def _tempo(self, project: ET.Element, arrangement: ET.Element | None, arrangement_unit: str) -> TempoMap:
        transport = _child(project, "Transport")
        tempo_param = _child(transport, "Tempo")
        bpm = _float(tempo_param, "value", DEFAULT_BPM)
        if bpm <= 0:
            self._problem("unusable tempo values ignored")
            bpm = DEFAULT_BPM
        signature = _child(transport, "TimeSignature")
        numerator = int(_float(signature, "numerator", 4))
        denominator = int(_float(signature, "denominator", 4))
        if numerator <= 0 or denominator <= 0:
            numerator, denominator = 4, 4
        first_sig = TimeSignature(0.0, numerator, denominator)

        automation, unit = _transport_automation(arrangement, "TempoAutomation", tempo_param, arrangement_unit)
        points: list[tuple[float, float, str]] = []
        if automation is not None:
            lo, hi = _float(tempo_param, "min"), _float(tempo_param, "max")
            normalized = (automation.get("unit") or "").strip() == "normalized" and lo is not None and hi is not None
            for point in _children(automation, "RealPoint"):
                time, value = _float(point, "time"), _float(point, "value")
                if normalized and value is not None:
                    value = lo + value * (hi - lo)
                if time is None or value is None or value <= 0:
                    self._problem("unusable tempo automation points ignored")
                    continue
                ramp = "linear" if (point.get("interpolation") or "").strip() == "linear" else "step"
                points.append((time, value, ramp))
        if not points:
            points = [(0.0, bpm, "step")]
        build = TempoMap.from_seconds if unit == "seconds" else TempoMap.from_beats
        tempo = build(points, [first_sig])

        sig_automation, sig_unit = _transport_automation(arrangement, "TimeSignatureAutomation", signature,
                                                         arrangement_unit)
        if sig_automation is not None:
            sigs = [first_sig]
            for point in _children(sig_automation, "TimeSignaturePoint"):
                time = _float(point, "time")
                num, den = _float(point, "numerator"), _float(point, "denominator")
                if time is None or not num or not den or num <= 0 or den <= 0:
                    self._problem("unusable time signature points ignored")
                    continue
                beat = tempo.seconds_to_beats(time) if sig_unit == "seconds" else time
                sigs = [s for s in sigs if abs(s.beat - beat) > EPS] + [TimeSignature(beat, int(num), int(den))]
            tempo = TempoMap(tempo.points, sigs)
        return tempo

    def _follow_tempo(self) -> None:
        """Session times where the beats-to-seconds mapping bends (ramps followed in steps)."""
        pts = self.session.tempo.points
        bends = [p.time for p in pts[1:]]
        for p, nxt in zip(pts, pts[1:]):
            if p.ramp != "step":
                steps = min(max(int(math.ceil((nxt.time - p.time) / RAMP_STEP_S)), 8), 4096)
                bends += [p.time + (nxt.time - p.time) * k / steps for k in range(1, steps)]
        self.tempo_bends = sorted(bends)

    # ---- tracks -------------------------------------------------------------------------------
    def _structure(self, structure: ET.Element | None) -> None:
        if structure is None:
            return
        for el in _children(structure, "Track"):
            self._track(el, None)

    def _track(self, el: ET.Element, parent: int | None) -> None:
        content = set((el.get("contentType") or "").split())
        if "tracks" in content:
            kind = "folder"
        elif {"audio", "notes"} <= content:
            kind = "audio+midi"
        elif "notes" in content:
            kind = "midi"
        else:
            kind = "audio"
        index = len(self.session.tracks)
        track = Track(name=el.get("name") or f"Track {index + 1}", kind=kind, parent=parent)
        channel = _child(el, "Channel")
        if channel is not None:
            self.mixed_tracks.add(index)
            track.muted = bool(_bool(_child(channel, "Mute"), "value"))
            track.solo = bool(_bool(channel, "solo"))
            track.gain = _gain(_child(channel, "Volume"))
            track.pan = _pan(_child(channel, "Pan"))
            if (channel.get("role") or "").strip() == "master":
                self.master_tracks.add(index)
            if channel.get("id"):
                self.track_by_id.setdefault(channel.get("id"), index)
        # A track that is not loaded (deactivated) plays nothing.
        if _bool(el, "loaded") is False:
            track.muted = True
        if el.get("id"):
            self.track_by_id[el.get("id")] = index
        self.session.tracks.append(track)
        for sub in _children(el, "Track"):
            self._track(sub, index)

    def _track_index(self, scope: _Scope) -> int:
        """The track a timeline belongs to; content placed on no known track gets its own."""
        if scope.track is not None:
            return scope.track
        if self.unassigned is None:
            self.unassigned = len(self.session.tracks)
            self.session.tracks.append(Track(name="Unassigned clips"))
        return self.unassigned

    def _drop_empty_masters(self) -> None:
        """The master track is the mix, not a track: leave it out unless clips sit on it.

        A folder without a Channel of its own is mixed by the master track inside it (how
        ProjectConverter writes REAPER folders): that track's mute, solo and gain become the folder's.
        """
        tracks = self.session.tracks
        parents = {t.parent for t in tracks}
        drop = {i for i in self.master_tracks
                if not tracks[i].clips and not tracks[i].midi_clips and i not in parents}
        if not drop:
            return
        for i in drop:
            bus, folder = tracks[i], tracks[i].parent
            if folder is not None and folder not in self.mixed_tracks:
                tracks[folder].muted = tracks[folder].muted or bus.muted
                tracks[folder].solo = tracks[folder].solo or bus.solo
                tracks[folder].gain *= bus.gain
        new_index: dict[int, int] = {}
        kept: list[Track] = []
        for i, t in enumerate(tracks):
            if i not in drop:
                new_index[i] = len(kept)
                kept.append(t)
        for t in kept:
            t.parent = new_index.get(t.parent) if t.parent is not None else None
        self.session.tracks = kept

    # ---- timelines ----------------------------------------------------------------------------
    def _timeline(self, el: ET.Element, scope: _Scope, referenced: bool = False) -> None:
        handler = {
            "Lanes": self._lanes,
            "Clips": self._clips,
            "Notes": self._notes,
            "Audio": self._audio,
            "Warps": self._warps,
            "Points": self._points,
            "Video": self._video,
        }.get(_tag(el))
        if handler is None:  # markers, clip slots (launcher), automation lanes of other kinds
            return
        if scope.depth >= MAX_DEPTH or id(el) in scope.chain:
            self._problem("timelines nested too deeply or referring to themselves ignored")
            return
        if self.timelines_left <= 0:
            self._problem("timelines left unread: the project repeats its content too many times")
            return
        self.timelines_left -= 1
        scope = replace(scope, depth=scope.depth + 1, chain=scope.chain | {id(el)})
        track_ref = el.get("track")
        if track_ref is not None and not referenced:
            index = self.track_by_id.get(track_ref)
            if index is None:
                self._problem("timelines on unknown tracks placed on 'Unassigned clips'")
            if index != scope.track:
                scope = replace(scope, track=index, midi=None)
        unit = _unit(el.get("timeUnit"))
        if unit and unit != scope.unit:
            scope = self._rebase(scope, unit)
        handler(el, scope)

    def _rebase(self, scope: _Scope, unit: str) -> _Scope:
        """The scope of a timeline in `unit` whose time 0 is the parent's local time 0."""
        place, local = self._unit_mapping(scope.place(0.0), unit)
        return replace(scope, unit=unit, place=place, local=local)

    def _unit_mapping(self, anchor: float, unit: str, at: float = 0.0) -> tuple[Mapping, Mapping]:
        """Mappings of a timeline in `unit` whose time `at` plays at session second `anchor`."""
        if unit == "seconds":
            return (lambda t: anchor + (t - at)), (lambda g: at + (g - anchor))
        tempo = self.session.tempo
        anchor_beat = tempo.seconds_to_beats(anchor)
        return (lambda t: tempo.beats_to_seconds(anchor_beat + (t - at))), \
               (lambda g: at + tempo.seconds_to_beats(g) - anchor_beat)

    def _lanes(self, el: ET.Element, scope: _Scope) -> None:
        for child in el:
            self._timeline(child, scope)

    def _clips(self, el: ET.Element, scope: _Scope) -> None:
        for clip in _children(el, "Clip"):
            self._clip(clip, scope)

    def _clip(self, el: ET.Element, scope: _Scope) -> None:
        time = _float(el, "time")
        if time is None:
            self._problem("clips without a readable time skipped")
            return
        content = [c for c in el if _tag(c) in ("Lanes", "Clips", "Notes", "Audio", "Warps", "Points", "Video")]
        referenced = False
        if not content and el.get("reference") is not None:
            target = self.ids.get(el.get("reference"))
            if target is None:
                self._problem("alias clips whose reference is missing skipped")
                return
            content, referenced = [target], True
        duration = _float(el, "duration")
        content_unit = _unit(el.get("contentTimeUnit")) or scope.unit
        play_start = _float(el, "playStart", 0.0)
        play_stop = _float(el, "playStop")
        loop_start, loop_end = _float(el, "loopStart"), _float(el, "loopEnd")
        fade_unit = _unit(el.get("fadeTimeUnit")) or scope.unit
        fade_in = _float(el, "fadeInTime", 0.0)
        fade_out = max(_float(el, "fadeOutTime", 0.0), 0.0)

        # A negative fade-in is a crossfade: the clip starts that much earlier.
        begin = scope.place(time - abs(fade_in) if fade_in < 0 else time)
        start = scope.place(time)
        end = scope.place(time + duration) if duration is not None else math.inf
        lo, hi = max(scope.lo, begin), min(scope.hi, end)

        # Content time play_start + e plays at session second base(e).
        if content_unit == scope.unit:
            def base(e: float) -> float:
                return scope.place(time + e)

            def base_local(g: float) -> float:
                return scope.local(g) - time
        else:
            base, base_local = self._unit_mapping(start, content_unit)

        passes = list(self._passes(base, lo, hi, play_start, play_stop, loop_start, loop_end))
        # Fades shape the clip's sound: in at its start, out where its content stops playing.
        sound_end = passes[-1][3] if passes else hi
        edges = scope.edges
        if abs(fade_in) > 0 or fade_out > 0:
            edges += ((begin, sound_end,
                       self._span(begin, fade_unit, abs(fade_in)),
                       self._span(sound_end, fade_unit, -fade_out) if math.isfinite(sound_end) else 0.0),)
        muted = scope.muted or _bool(el, "enable") is False
        name = el.get("name") or scope.name
        midi = scope.midi
        if midi is None and scope.track is not None:
            midi = _MidiTarget(scope.track, name, muted, lo, hi)
        inner = replace(scope, unit=content_unit, muted=muted, name=name, edges=edges, midi=midi)

        for elapsed, content_start, seg_lo, seg_hi in passes:
            def place(t: float, e=elapsed, c0=content_start) -> float:
                return base(e + t - c0)

            def local(g: float, e=elapsed, c0=content_start) -> float:
                return base_local(g) - e + c0

            seg = replace(inner, place=place, local=local, lo=seg_lo, hi=seg_hi)
            for child in content:
                self._timeline(child, seg, referenced=referenced)

    def _passes(self, base: Mapping, lo: float, hi: float, play_start: float, play_stop: float | None,
                loop_start: float | None, loop_end: float | None) -> Iterator[tuple[float, float, float, float]]:
        """(elapsed content time, content time, session start, session end) of each pass."""
        looping = (loop_start is not None and loop_end is not None and loop_end - loop_start > EPS
                   and math.isfinite(hi))
        if not looping:
            seg_hi = hi if play_stop is None else min(hi, base(play_stop - play_start))
            if seg_hi > lo + EPS:
                yield 0.0, play_start, lo, seg_hi
            return
        length = loop_end - loop_start
        content = play_start
        if content >= loop_end - EPS:
            content = loop_start + (content - loop_start) % length
        elapsed, first = 0.0, True
        while (seg_lo := lo if first else base(elapsed)) < hi - EPS:
            if not first:
                if self.loop_passes_left <= 0:
                    self._problem("looped clips cut short: the project loops too many times")
                    return
                self.loop_passes_left -= 1
            run = loop_end - content
            yield elapsed, content, seg_lo, min(hi, base(elapsed + run))
            elapsed, content, first = elapsed + run, loop_start, False

    def _span(self, at: float, unit: str, amount: float) -> float:
        """Seconds covered by `amount` of `unit` from session second `at` (backwards if < 0)."""
        if unit == "seconds":
            return abs(amount)
        tempo = self.session.tempo
        return abs(tempo.beats_to_seconds(tempo.seconds_to_beats(at) + amount) - at)

    def _warps(self, el: ET.Element, scope: _Scope) -> None:
        warps = sorted(((t, c) for t, c in ((_float(w, "time"), _float(w, "contentTime"))
                                            for w in _children(el, "Warp"))
                        if t is not None and c is not None))
        content_unit = _unit(el.get("contentTimeUnit")) or scope.unit
        if len(warps) < 2:
            # One warp point (or none) only fixes an offset between the two units.
            t0, c0 = warps[0] if warps else (0.0, 0.0)
            place, local = self._unit_mapping(scope.place(t0), content_unit, c0)
            inner = replace(scope, unit=content_unit, place=place, local=local)
        else:
            times = [t for t, _ in warps]
            contents = [c for _, c in warps]
            if any(b <= a for a, b in zip(contents, contents[1:])):
                self._problem("warps that do not move forward read as straight lines")
                times, contents = [times[0], times[-1]], [contents[0], contents[-1]]
                if contents[1] <= contents[0]:
                    return
            outer_place, outer_local = scope.place, scope.local

            def place(c: float) -> float:
                return outer_place(_interp(contents, times, c))

            def local(g: float) -> float:
                return _interp(times, contents, outer_local(g))

            bends = scope.bends + tuple(outer_place(t) for t in times)
            inner = replace(scope, unit=content_unit, place=place, local=local, warped=True, bends=bends)
        for child in el:
            if _tag(child) != "Warp":
                self._timeline(child, inner)

    # ---- audio ---------------------------------------------------------------------------------
    def _audio(self, el: ET.Element, scope: _Scope) -> None:
        file_el = _child(el, "File")
        raw = (file_el.get("path") or "").strip() if file_el is not None else ""
        if not raw:
            self._problem("audio timelines without a file skipped")
            return
        if scope.unit != "seconds":
            scope = self._rebase(scope, "seconds")
        declared = _float(el, "duration")
        file_start = scope.place(0.0)
        start = max(scope.lo, file_start)
        open_end = not math.isfinite(scope.hi)
        if open_end:
            end = max(scope.place(declared), start) if declared is not None else start
        else:
            end = scope.hi
            if end - start <= EPS:
                return
        source = self._media_source(raw, bool(_bool(file_el, "external")))
        clip = AudioClip(start=start, duration=end - start, source=source,
                         name=scope.name or PurePosixPath(raw.replace("\\", "/")).stem, muted=scope.muted)
        self._map_source(clip, scope)
        for edge_start, edge_end, fade_in, fade_out in scope.edges:
            if fade_in > 0 and abs(clip.start - edge_start) < 1e-6:
                clip.fade_in = max(clip.fade_in, fade_in)
            if fade_out > 0 and abs(clip.end - edge_end) < 1e-6:
                clip.fade_out = max(clip.fade_out, fade_out)
        self.session.tracks[self._track_index(scope)].clips.append(clip)
        self.audio.append(_AudioUse(clip, raw, declared, _float(el, "sampleRate"),
                                    scope.place if open_end else None))

    def _map_source(self, clip: AudioClip, scope: _Scope) -> None:
        """Source offset and rate, and warp pairs where the mapping is not one straight line."""
        lo, hi = clip.start, clip.end
        inside = [b for b in scope.bends if lo < b < hi]
        k0, k1 = bisect.bisect_right(self.tempo_bends, lo), bisect.bisect_left(self.tempo_bends, hi)
        inside += self.tempo_bends[k0:k1]
        times = sorted({lo, hi, *inside})
        pairs = _simplify([(g - lo, scope.local(g)) for g in times])
        clip.source_offset = pairs[0][1]
        if len(pairs) > 1 and pairs[-1][0] > 0:
            rate = (pairs[-1][1] - pairs[0][1]) / pairs[-1][0]
            clip.playrate = 1.0 if abs(rate - 1.0) < 1e-9 else rate
        if scope.warped or len(pairs) > 2:
            clip.warp = tuple(pairs)

    def _media_source(self, raw: str, external: bool) -> str:
        """The path attach_media should resolve: an extracted copy for files inside the zip."""
        if external:
            return raw
        info = self.archive.member(raw)
        if info is None:
            self._problem("audio files missing from inside the project looked for beside it")
            return raw
        try:
            return str(self.archive.extract(info))
        except _ZIP_READ_ERRORS as exc:
            note = f"{self.path}: {raw} inside the project cannot be extracted ({exc})"
            if note not in self.session.warnings:
                self.session.warnings.append(note)
            return raw

    def _check_media(self) -> None:
        """Clips whose length is the file's take the probed length; say where the XML is wrong."""
        noted: set[str] = set()
        copies = {str(path) for path in self.archive.extracted.values()}
        for use in self.audio:
            clip = use.clip
            if clip.missing and clip.source in copies:
                # An embedded file that cannot be decoded: name it as the project does, not by
                # its copy in the cache.
                copy, clip.source = clip.source, use.file
                self.session.warnings = [
                    w.replace(f"{copy}: ", f"{use.file} inside the project: ", 1).replace(copy, use.file)
                    for w in self.session.warnings]
            if clip.source_duration is None:
                continue
            if use.open_end is not None:
                clip.duration = max(use.open_end(clip.source_duration) - clip.start, 0.0)
            rate_differs = bool(use.declared_rate and clip.source_sample_rate
                                and abs(use.declared_rate - clip.source_sample_rate) > 0.5)
            length_differs = use.declared_duration is not None \
                and abs(use.declared_duration - clip.source_duration) > 0.01
            if (rate_differs or length_differs) and use.file not in noted:
                noted.add(use.file)
                said = f"{use.declared_duration:.3f} s" if use.declared_duration is not None else "no length"
                if use.declared_rate:
                    said += f" at {use.declared_rate:g} Hz"
                self.session.warnings.append(
                    f"{self.path}: {use.file}: the project says {said}, the file is "
                    f"{clip.source_duration:.3f} s at {clip.source_sample_rate:g} Hz; the file is used")

    # ---- notes and MIDI expressions ------------------------------------------------------------
    def _midi_clip(self, scope: _Scope) -> MidiClip | None:
        """The MidiClip that notes and events here go to; None when a nested clip mutes them."""
        track = self._track_index(scope)
        target = scope.midi if scope.midi is not None and scope.midi.track == track else None
        if scope.muted and not (target and target.muted):
            return None
        if target is None:
            clip = self.loose_midi.get(track)
            if clip is None:
                clip = MidiClip(start=0.0, duration=0.0, name=self.session.tracks[track].name)
                self.loose_midi[track] = clip
                self.sized_by_notes.append((clip, track, True))
                self.session.tracks[track].midi_clips.append(clip)
            return clip
        if target.clip is None:
            open_end = not math.isfinite(target.end)
            target.clip = MidiClip(start=target.start, duration=0.0 if open_end else target.end - target.start,
                                   name=target.name, muted=target.muted)
            if open_end:
                self.sized_by_notes.append((target.clip, track, False))
            self.session.tracks[track].midi_clips.append(target.clip)
        return target.clip

    def _notes(self, el: ET.Element, scope: _Scope) -> None:
        clip = self._midi_clip(scope)
        if clip is None:
            return
        for note in _children(el, "Note"):
            time, length = _float(note, "time"), _float(note, "duration", 0.0)
            key = _float(note, "key")
            if time is None or key is None or not 0 <= key <= 127:
                self._problem("notes without a readable time or key skipped")
                continue
            start = scope.place(time)
            if start < scope.lo - EPS or start >= scope.hi - EPS:
                continue
            end = min(scope.place(time + max(length, 0.0)), scope.hi)
            vel = _float(note, "vel")
            velocity = 100 if vel is None else max(1, min(127, round(vel * 127)))
            channel = int(_float(note, "channel", 0.0))
            clip.notes.append(Note(start, max(end - start, 0.0), int(key), velocity,
                                   channel if 0 <= channel <= 15 else 0))

    def _points(self, el: ET.Element, scope: _Scope) -> None:
        target = _child(el, "Target")
        expression = _MIDI_EXPRESSIONS.get((target.get("expression") or "").strip()) if target is not None else None
        if expression is None:  # parameter automation: not part of the timeline of notes
            return
        clip = self._midi_clip(scope)
        if clip is None:
            return
        kind, top = expression
        channel = int(_float(target, "channel", 0.0))
        controller = {"control_change": _float(target, "controller"),
                      "polytouch": _float(target, "key")}.get(kind)
        unit = (el.get("unit") or "").strip()
        read: list[tuple[float, float, bool, bool]] = []  # (local time, value, real, ramps to the next)
        for point in el:
            time, value = _float(point, "time"), _float(point, "value")
            if time is not None and value is not None:
                real = _tag(point) == "RealPoint"
                read.append((time, value, real, real and (point.get("interpolation") or "").strip() == "linear"))
        # Real values are normalized, percent, or (no unit) normalized when the whole lane is
        # within [-1, 1]: decided per lane, so that a raw value of 1 stays 1 among raw values.
        if unit == "percent":
            scale = top / 100
        elif unit == "normalized" or all(abs(v) <= 1 for _, v, real, _ in read if real):
            scale = float(top)
        else:
            scale = 1.0
        points = [(time, value * scale if real else value, linear) for time, value, real, linear in read]
        points.sort(key=lambda p: p[0])
        # Linear segments become steps this far apart, as a MIDI controller plays them.
        step = MIDI_RAMP_STEP_BEATS if scope.unit == "beats" else MIDI_RAMP_STEP_S
        samples: list[tuple[float, float]] = []
        for k, (time, value, linear) in enumerate(points):
            samples.append((time, value))
            if linear and k + 1 < len(points) and points[k + 1][1] != value and points[k + 1][0] > time:
                t1, v1, _ = points[k + 1]
                n = math.ceil((t1 - time) / step)
                samples += [(time + (t1 - time) * i / n, value + (v1 - value) * i / n) for i in range(1, n)]
        events: list[tuple[float, int]] = []
        held = None  # the value reached before the audible window opens: it holds at the opening
        for time, value in samples:
            at = scope.place(time)
            raw = max(0, min(top, round(value)))
            if at < scope.lo - EPS:
                held = raw
                continue
            if at >= scope.hi - EPS:
                break
            if held is not None and not events and at > scope.lo + EPS:
                events.append((scope.lo, held))
            if not events or events[-1][1] != raw:
                events.append((at, raw))
        if held is not None and not events and scope.lo < scope.hi - EPS:
            events.append((scope.lo, held))
        for at, raw in events:
            clip.events.append(MidiEvent(at, kind, raw - 8192 if kind == "pitchwheel" else raw,
                                         channel if 0 <= channel <= 15 else 0,
                                         int(controller) if controller is not None else None))

    def _video(self, el: ET.Element, scope: _Scope) -> None:
        self._problem("video timelines not loaded")

    def _finish_midi(self) -> None:
        """MIDI outside any clip spans its notes, as does a clip with no length; events in order."""
        for clip, track, start_too in self.sized_by_notes:
            spans = [(n.start, n.end) for n in clip.notes] + [(e.time, e.time) for e in clip.events]
            if start_too:
                if not spans:
                    self.session.tracks[track].midi_clips.remove(clip)
                    continue
                clip.start = min(s for s, _ in spans)
            clip.duration = max(max((e for _, e in spans), default=clip.start) - clip.start, 0.0)
        for track in self.session.tracks:
            for clip in track.midi_clips:
                clip.notes.sort(key=lambda n: (n.start, n.pitch))
                clip.events.sort(key=lambda e: e.time)


def _transport_automation(arrangement: ET.Element | None, tag: str, parameter: ET.Element | None,
                          arrangement_unit: str) -> tuple[ET.Element | None, str]:
    """The points automating a transport parameter (tempo, time signature) and their time unit.

    The format puts them in the Arrangement's TempoAutomation / TimeSignatureAutomation; some
    writers (ProjectConverter, from REAPER) put them in a Points lane of the arrangement, on the
    master track, whose Target names the transport parameter's id instead.
    """
    automation = _child(arrangement, tag)
    if automation is not None and any(_tag(c).endswith("Point") for c in automation):
        return automation, _unit(automation.get("timeUnit")) or arrangement_unit
    ident = parameter.get("id") if parameter is not None else None
    if ident and arrangement is not None:
        for points, unit in _arrangement_points(arrangement, arrangement_unit):
            target = _child(points, "Target")
            if target is not None and target.get("parameter") == ident:
                return points, unit
    return automation, (_unit(automation.get("timeUnit")) if automation is not None else None) or arrangement_unit


def _arrangement_points(el: ET.Element, unit: str) -> Iterator[tuple[ET.Element, str]]:
    """Points lanes of the arrangement outside any clip, with the time unit each inherits."""
    for child in el:
        tag = _tag(child)
        if tag in ("Lanes", "Points"):
            child_unit = _unit(child.get("timeUnit")) or unit
            if tag == "Points":
                yield child, child_unit
            else:
                yield from _arrangement_points(child, child_unit)


def _gain(volume: ET.Element | None) -> float:
    value = _float(volume, "value")
    if value is None:
        return 1.0
    unit = (volume.get("unit") or "").strip()
    if unit == "decibel":
        return 10.0 ** (value / 20.0)
    return max(value / 100.0 if unit == "percent" else value, 0.0)


def _pan(pan: ET.Element | None) -> float:
    """Pan as -1 (left) .. 1 (right): by the parameter's range, else by its unit."""
    value = _float(pan, "value")
    if value is None:
        return 0.0
    lo, hi = _float(pan, "min"), _float(pan, "max")
    unit = (pan.get("unit") or "").strip()
    if lo is not None and hi is not None and hi > lo:
        centred = -1.0 + 2.0 * (value - lo) / (hi - lo)
    elif unit == "normalized":
        centred = 2.0 * value - 1.0
    elif unit == "percent":
        centred = value / 100.0
    else:
        centred = value
    return max(-1.0, min(1.0, centred))


def read(path: Path) -> Session:
    """Read a .dawproject file; SessionError for a file that is not a readable DAWproject."""
    path = Path(path)
    archive = _Archive(path)
    try:
        data = archive.project_xml()
        try:
            project = ET.fromstring(data)
        except ET.ParseError as exc:
            raise SessionError(path, f"project.xml inside the archive is not well-formed XML ({exc})") from exc
        if _tag(project) != "Project":
            raise SessionError(path, f"project.xml holds <{_tag(project)}>, not a DAWproject <Project>")
        return _Reader(path, archive).read(project)
    finally:
        archive.close()
