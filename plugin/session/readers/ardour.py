"""Ardour sessions (.ardour), Ardour 2 to 8.

A session is one XML file beside its media: recorded and imported audio lives in
interchange/<name>/audiofiles/, MIDI in interchange/<name>/midifiles/; files used in place are
named by an absolute path in the Source's name or origin (and may be missing).

Times in the file:
- session formats below 7000 (Ardour 2-6): positions, lengths and source offsets are samples at
  the session's sample rate; MIDI regions add `start-beats`/`length-beats` (quarter notes).
- formats 7000 and later: timepos strings, `a<superclock>` (audio time; the superclock rate is
  read from the file) or `b<ticks>` (music time, 1920 ticks per quarter note); a length is
  `<distance>@<position>`. Plain numbers still mean samples.

Tracks are the Routes that own a playlist (busses, master and monitor are skipped). Every region
of a track's playlist becomes one clip. Audio clips are listed from the bottom layer to the top,
as Ardour plays them: an opaque region silences what lies under it, so a region wholly covered is
reported muted and one partly covered is cut into the pieces that still sound. MIDI regions all sound
whatever their layer, so MIDI clips are listed in time order. A stereo region recorded as split
mono files (`X%L.wav`, `X%R.wav`) is one AudioClip whose channel_files are those files in order.
"""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from pathlib import Path

from ..media import MediaResolver, attach_media, is_absolute, is_file
from ..model import AudioClip, MidiClip, Session, SessionError, Track
from ..smf import BeatEvent, BeatNote, beats_to_clip, read_smf
from ..tempo import TempoMap, TimeSignature

# Ardour 7.x/8.x default; earlier development builds used other rates, so the file's value wins.
DEFAULT_SUPERCLOCK_RATE = 282_240_000
TICKS_PER_BEAT = 1920  # music-time ticks per quarter note (Ardour 7+), and BBT ticks per beat
DEFAULT_FADE_SAMPLES = 64  # Ardour's default region fade
FALLBACK_SAMPLE_RATE = 48000.0
MAX_COMPOUND_DEPTH = 8  # compound regions inside compound regions
_EPS = 1e-6


def read(path: Path) -> Session:
    root = _parse(path)
    return _SessionReader(path, root).read()


def _parse(path: Path) -> ET.Element:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise SessionError(path, f"not a readable Ardour session: malformed XML ({exc})") from exc
    except OSError as exc:
        raise SessionError(path, f"cannot read the file ({exc.strerror or exc})") from exc
    if root.tag != "Session":
        raise SessionError(path, f"not an Ardour session: the root element is <{root.tag}>, not <Session>")
    return root


# ---- small value parsers ----------------------------------------------------------------------

def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    return value


def _number(text: str | None, default: float | None = None) -> float:
    """A finite float from an attribute; `default` when absent (ValueError when absent and no default)."""
    if text is None or not text.strip():
        if default is None:
            raise ValueError("missing value")
        return default
    return _finite(float(text))


def _lenient(text: str | None, default: float) -> float:
    """A number from a setting that only colours the result: `default` when absent or unreadable."""
    try:
        return _number(text, default)
    except ValueError:
        return default


def _flag(text: str | None, default: bool = False) -> bool:
    if text is None or not text.strip():
        return default
    return text.strip().lower() in ("1", "yes", "true", "y")


def _quarters(text: str) -> float:
    """Ardour's Beats text: `beats:ticks` (Ardour 7+) or a plain number of quarter notes."""
    beats, sep, ticks = text.strip().partition(":")
    if sep:
        return int(beats) + int(ticks) / TICKS_PER_BEAT
    return _finite(float(beats))


def _bbt(text: str) -> tuple[int, int, float]:
    """`bars|beats|ticks`."""
    parts = text.strip().split("|")
    if len(parts) != 3:
        raise ValueError(f"not a bar|beat|tick position: {text!r}")
    return int(parts[0]), int(parts[1]), float(parts[2])


def _config_option(root: ET.Element, name: str) -> str | None:
    for option in root.iterfind("Config/Option"):
        if option.get("name") == name:
            return option.get("value")
    return None


# ---- time --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Time:
    """A time as Ardour wrote it: seconds (audio time) or quarter notes (music time)."""

    seconds: float | None = None
    beats: float | None = None


class _Clock:
    """Turns Ardour's time strings into seconds and beats on the session timeline."""

    def __init__(self, sample_rate: float, superclock_rate: float | None, tempo: TempoMap, warnings: list[str]):
        self.sample_rate = sample_rate
        self.superclock_rate = superclock_rate or DEFAULT_SUPERCLOCK_RATE
        self._must_report_assumed_rate = superclock_rate is None
        self.tempo = tempo
        self._warnings = warnings

    def parse(self, text: str | None) -> _Time:
        text = (text or "").strip()
        if not text:
            raise ValueError("missing time")
        kind, body = text[0], text[1:]
        if kind == "a":
            if self._must_report_assumed_rate:
                self._must_report_assumed_rate = False
                self._warnings.append(
                    f"the session does not state its superclock rate; assuming {DEFAULT_SUPERCLOCK_RATE} per second"
                )
            return _Time(seconds=_finite(float(body)) / self.superclock_rate)
        if kind == "b":
            return _Time(beats=_quarters(body) if ":" in body else _finite(float(body)) / TICKS_PER_BEAT)
        return _Time(seconds=_finite(float(text)) / self.sample_rate)

    def seconds(self, t: _Time) -> float:
        return t.seconds if t.seconds is not None else self.tempo.beats_to_seconds(t.beats)

    def beats(self, t: _Time) -> float:
        return t.beats if t.beats is not None else self.tempo.seconds_to_beats(t.seconds)

    def span(self, text: str | None, at_seconds: float) -> tuple[float, float]:
        """(seconds, beats) of a length that starts at `at_seconds`."""
        d = self.parse(text)
        at_beats = self.tempo.seconds_to_beats(at_seconds)
        if d.seconds is not None:
            return d.seconds, self.tempo.seconds_to_beats(at_seconds + d.seconds) - at_beats
        return self.tempo.beats_to_seconds(at_beats + d.beats) - at_seconds, d.beats


# ---- tempo map ----------------------------------------------------------------------------------

class _BarRuler:
    """Bar|beat|tick to quarter notes through the meters, for maps that place points by BBT (Ardour 2-4)."""

    def __init__(self, meters: list[tuple[int, float, float]]):
        # (first bar, quarters at that bar, divisions per bar, note type)
        self.sections: list[tuple[int, float, float, float]] = []
        quarters = 0.0
        for bar, divisions, note_type in sorted(meters) or [(1, 4.0, 4.0)]:
            if self.sections:
                prev_bar, prev_q, prev_div, prev_nt = self.sections[-1]
                quarters = prev_q + (bar - prev_bar) * prev_div * 4.0 / prev_nt
            self.sections.append((bar, quarters, divisions, note_type))

    def quarters(self, bars: int, beats: int, ticks: float) -> float:
        section = self.sections[0]
        for s in self.sections:
            if s[0] <= bars:
                section = s
        bar0, q0, divisions, note_type = section
        beat_len = 4.0 / note_type
        return q0 + (bars - bar0) * divisions * beat_len + ((beats - 1) + ticks / TICKS_PER_BEAT) * beat_len


def _positive(value: float, what: str) -> float:
    if value <= 0:
        raise ValueError(f"{what} must be positive, not {value}")
    return value


def _qpm(npm: float, note_type: float) -> float:
    """Ardour tempos count note types per minute; Stemscope counts quarter notes."""
    return _positive(npm, "tempo") * 4.0 / _positive(note_type, "note type")


def _tempo_map(node: ET.Element | None, sample_rate: float, superclock_rate: float | None) -> TempoMap:
    """The session's TempoMap element as a TempoMap (ValueError when it cannot be understood)."""
    if node is None:
        return TempoMap.constant()
    if node.find("Tempos") is not None or node.find("Meters") is not None:
        changes, unit, sigs = _tempo_points_nutempo(node, superclock_rate or DEFAULT_SUPERCLOCK_RATE)
    else:
        changes, unit, sigs = _tempo_points_legacy(node, sample_rate)
    if not changes:
        return TempoMap.constant()
    build = TempoMap.from_beats if unit == "beats" else TempoMap.from_seconds
    return build(changes, sigs or None)


def _tempo_points_nutempo(node: ET.Element, superclock_rate: float):
    """Ardour 7+: <Tempos><Tempo npm enpm note-type type sclock quarters/>, <Meters>, <MusicTimes>."""
    tempos: list[tuple[ET.Element, ET.Element]] = [(t, t) for t in node.iterfind("Tempos/Tempo")]
    meters: list[tuple[ET.Element, ET.Element]] = [(m, m) for m in node.iterfind("Meters/Meter")]
    for point in node.iterfind("MusicTimes/*"):  # BBT markers carry their own tempo and meter
        tempos += [(t, point) for t in point.iterfind("Tempo")]
        meters += [(m, point) for m in point.iterfind("Meter")]
    by_beats = all(where.get("quarters") for _, where in tempos)
    changes = []
    for tempo, where in tempos:
        npm = _number(tempo.get("npm"))
        qpm = _qpm(npm, _number(tempo.get("note-type"), 4.0))
        end_npm = _number(tempo.get("enpm"), npm)
        ramped = tempo.get("type") == "Ramped" or abs(end_npm - npm) > 1e-9
        pos = _quarters(where.get("quarters")) if by_beats else _number(where.get("sclock")) / superclock_rate
        changes.append((pos, qpm, "linear" if ramped else "step"))
    sigs = [
        TimeSignature(
            _quarters(where.get("quarters") or "0"),
            int(round(_number(meter.get("divisions-per-bar"), 4.0))),
            int(round(_number(meter.get("note-value"), 4.0))),
        )
        for meter, where in meters
    ]
    return changes, "beats" if by_beats else "seconds", sigs


def _tempo_points_legacy(node: ET.Element, sample_rate: float):
    """Ardour 2-6: <Tempo beats-per-minute note-type (pulse | start=BBT | frame)/> and <Meter/>."""
    meters = node.findall("Meter")
    def divisions(meter: ET.Element) -> float:  # Ardour 2 called them beats per bar
        return _number(meter.get("divisions-per-bar") or meter.get("beats-per-bar"), 4.0)

    ruler = _BarRuler([
        (_bbt(m.get("start"))[0], divisions(m), _number(m.get("note-type"), 4.0)) for m in meters if m.get("start")
    ])

    def quarters(el: ET.Element) -> float | None:
        if el.get("pulse") is not None:  # Ardour 5-6: whole notes
            return _number(el.get("pulse")) * 4.0
        if el.get("start") is not None:  # Ardour 2-4: bar|beat|tick
            return ruler.quarters(*_bbt(el.get("start")))
        return None

    tempos = [t for t in node.findall("Tempo") if _flag(t.get("active"), True)]
    by_beats = all(quarters(t) is not None for t in tempos)
    changes = []
    for tempo in tempos:
        bpm = _number(tempo.get("beats-per-minute"))
        qpm = _qpm(bpm, _number(tempo.get("note-type"), 4.0))
        end_bpm = _number(tempo.get("end-beats-per-minute"), bpm)
        ramped = tempo.get("tempo-type") == "Ramp" or abs(end_bpm - bpm) > 1e-9
        pos = quarters(tempo) if by_beats else _number(tempo.get("frame")) / sample_rate
        changes.append((pos, qpm, "linear" if ramped else "step"))
    sigs = []
    for meter in meters:
        at = quarters(meter)
        if at is not None:
            sigs.append(TimeSignature(
                at,
                int(round(divisions(meter))),
                int(round(_number(meter.get("note-type"), 4.0))),
            ))
    return changes, "beats" if by_beats else "seconds", sigs


# ---- the session --------------------------------------------------------------------------------

class _SkipRegion(Exception):
    """A region that cannot become a clip; the message says why."""


@dataclass
class _MidiContent:
    notes: list[BeatNote]
    events: list[BeatEvent]


@dataclass
class _Layered:
    layer: float
    opaque: bool
    muted_by_user: bool
    clip: AudioClip


class _SessionReader:
    def __init__(self, path: Path, root: ET.Element):
        self.path = path
        self.root = root
        self.session_dir = path.parent
        self.warnings: list[str] = []
        self.sample_rate = self._sample_rate()
        tempo_node = root.find("TempoMap")
        superclock_rate = self._superclock_rate(tempo_node)
        try:
            tempo = _tempo_map(tempo_node, self.sample_rate, superclock_rate)
        except (ValueError, TypeError) as exc:
            self.warnings.append(f"the tempo map cannot be read ({exc}); assuming 120 BPM")
            tempo = TempoMap.constant()
        self.clock = _Clock(self.sample_rate, superclock_rate, tempo, self.warnings)
        self.sources = {s.get("id"): s for s in root.iter("Source") if s.get("id")}
        self.playlists_by_id: dict[str, ET.Element] = {}
        self.playlists_by_name: dict[str, ET.Element] = {}
        for section in ("Playlists", "UnusedPlaylists"):
            for playlist in root.iterfind(f"{section}/Playlist"):
                self.playlists_by_id.setdefault(playlist.get("id", ""), playlist)
                self.playlists_by_name.setdefault(playlist.get("name", ""), playlist)
        self.interchange_dirs = self._interchange_dirs()
        self.resolver = MediaResolver(self.session_dir, self._media_dirs())
        self._midi_cache: dict[str, _MidiContent | str] = {}

    # -- session-wide settings --
    def _sample_rate(self) -> float:
        for text in (self.root.get("sample-rate"), _config_option(self.root, "sample-rate")):
            try:
                return _positive(_number(text), "sample rate")
            except (ValueError, TypeError):
                continue
        self.warnings.append(f"the session does not state its sample rate; assuming {FALLBACK_SAMPLE_RATE:g} Hz")
        return FALLBACK_SAMPLE_RATE

    def _superclock_rate(self, tempo_node: ET.Element | None) -> float | None:
        candidates = [self.root.get("superclock-ticks-per-second")]
        if tempo_node is not None:
            candidates.append(tempo_node.get("superclocks-per-second"))
        for text in candidates:
            try:
                return _positive(_number(text), "superclock rate")
            except (ValueError, TypeError):
                continue
        return None

    def _interchange_dirs(self) -> list[Path]:
        """interchange/<session name> first, then any other interchange folder (renamed sessions)."""
        interchange = self.session_dir / "interchange"
        own = interchange / (self.root.get("name") or self.path.stem)
        dirs = [own]
        if interchange.is_dir():
            dirs += sorted(d for d in interchange.iterdir() if d.is_dir() and d != own)
        return dirs

    def _media_dirs(self) -> list[Path]:
        dirs = [d / sub for d in self.interchange_dirs for sub in ("audiofiles", "midifiles")]
        for option in ("audio-search-path", "midi-search-path"):
            value = _config_option(self.root, option) or ""
            separator = ";" if ";" in value or re.match(r"[A-Za-z]:[\\/]", value) else ":"  # Windows uses ';'
            dirs += [Path(p) for p in value.split(separator) if p.strip()]
        return dirs

    # -- reading --
    def read(self) -> Session:
        session = Session(path=str(self.path), format="ardour", tempo=self.clock.tempo,
                          sample_rate=self.sample_rate, warnings=self.warnings)
        routes = [r for r in self.root.iterfind("Routes/Route") if self._is_track(r)]
        order = {id(r): k for k, r in enumerate(routes)}
        routes.sort(key=lambda r: (_route_order(r), order[id(r)]))
        for route in routes:
            session.tracks.append(self._track(route))
        attach_media(session, self.resolver)
        return session

    def _is_track(self, route: ET.Element) -> bool:
        flags = (route.get("flags") or "") + "," + " ".join(
            p.get("flags") or "" for p in route.iterfind("PresentationInfo"))
        if "MasterOut" in flags or "MonitorOut" in flags:
            return False
        return bool(self._playlist_refs(route)) or route.find("Diskstream") is not None

    def _playlist_refs(self, route: ET.Element) -> list[str]:
        refs = [route.get(a) for a in ("audio-playlist", "midi-playlist", "playlist")]
        refs += [d.get("playlist") for d in route.iterfind("Diskstream")]
        ds_id = route.get("diskstream-id") or route.get("diskstream")
        if ds_id:  # Ardour 2: <DiskStreams><AudioDiskstream id playlist/>
            refs += [d.get("playlist") for d in self.root.iterfind("DiskStreams/*") if d.get("id") == ds_id]
        return [r for r in dict.fromkeys(refs) if r]

    def _playlists(self, route: ET.Element, track_name: str) -> list[ET.Element]:
        found, unknown = [], []
        for ref in self._playlist_refs(route):  # an id (Ardour 6+) or a name (Ardour 2-5)
            playlist = self.playlists_by_id.get(ref)
            if playlist is None:
                playlist = self.playlists_by_name.get(ref)
            if playlist is None:
                unknown.append(ref)
            else:
                found.append(playlist)
        if not found:  # fall back on the one playlist made for this track
            own = [p for p in self.playlists_by_id.values() if p.get("orig-track-id") == route.get("id")]
            if len(own) == 1:
                found = own
            else:
                named = f" '{unknown[0]}'" if unknown else ""
                self.warnings.append(f"track '{track_name}': its playlist{named} is not in the session")
        return list({id(p): p for p in found}.values())

    def _track(self, route: ET.Element) -> Track:
        io = route.find("IO")  # Ardour 2 named the route through its IO
        name = route.get("name") or (io.get("name") if io is not None else None) or "Track"
        playlists = self._playlists(route, name)
        kind = route.get("default-type") or next((p.get("type") for p in playlists if p.get("type")), "audio")
        track = Track(
            name=name,
            kind="midi" if kind == "midi" else "audio",
            muted=_route_muted(route),
            solo=_route_soloed(route),
            gain=_route_gain(route),
            pan=_route_pan(route),
        )
        for playlist in playlists:
            self._fill(track, playlist)
        return track

    def _fill(self, track: Track, playlist: ET.Element) -> None:
        for region in _by_layer(playlist):
            if _is_midi(region, playlist):
                try:
                    track.midi_clips.append(self._midi_clip(region))
                except (_SkipRegion, ValueError, TypeError) as exc:
                    self._skipped(playlist, region, exc)
        track.midi_clips.sort(key=lambda c: c.start)  # MIDI regions all sound: layers do not matter
        track.clips += self._audio_clips_of(playlist, depth=0)

    def _skipped(self, playlist: ET.Element, region: ET.Element, why: Exception) -> None:
        where = f"playlist '{playlist.get('name', '')}': region '{region.get('name', '')}'"
        self.warnings.append(f"{where} skipped ({why})")

    def _audio_clips_of(self, playlist: ET.Element, depth: int) -> list[AudioClip]:
        """The audio regions of a playlist as clips, bottom layer first, covered parts silent."""
        layered: list[_Layered] = []
        for region in _by_layer(playlist):
            if _is_midi(region, playlist):
                continue
            try:
                clips = self._audio_clips(region, depth)
            except (_SkipRegion, ValueError, TypeError) as exc:
                self._skipped(playlist, region, exc)
                continue
            flags = region.get("flags")
            opaque = _flag(region.get("opaque"), True) if region.get("opaque") is not None \
                else (flags is None or "Opaque" in flags)
            layered += [_Layered(_layer(region), opaque, clip.muted, clip) for clip in clips]
        return _mute_covered(layered)

    # -- regions --
    def _times(self, region: ET.Element) -> tuple[float, float, float, _Time]:
        """(position s, length s, length in beats, offset into the source) of a region."""
        length_text, _, length_at = (region.get("length") or "").partition("@")
        position = self.clock.parse(region.get("position") or length_at or "0")
        start_s = self.clock.seconds(position)
        length_s, length_b = self.clock.span(length_text, start_s)
        if length_s < 0:
            raise ValueError("negative length")
        offset = self.clock.parse(region.get("start") or "0")
        return start_s, length_s, length_b, offset

    def _sources(self, region: ET.Element) -> list[ET.Element]:
        out = []
        for k in itertools.count():
            sid = region.get(f"source-{k}")
            if sid is None:
                break
            source = self.sources.get(sid)
            if source is None:
                raise _SkipRegion(f"its source {sid} is not among the session's sources")
            out.append(source)
        if not out:
            raise _SkipRegion("it names no source")
        return out

    def _source_path(self, source: ET.Element) -> str:
        """The file a Source names: the session's copy if present, else where it was written."""
        name = (source.get("name") or "").strip()
        origin = (source.get("origin") or "").strip()
        if name and is_absolute(name):
            return name
        folder = "midifiles" if source.get("type") == "midi" else "audiofiles"
        for d in self.interchange_dirs:
            if name and is_file(d / folder / name):
                return str(d / folder / name)
        if origin and is_absolute(origin):
            return origin  # a file used in place, outside the session
        return str(self.interchange_dirs[0] / folder / name)

    def _audio_clips(self, region: ET.Element, depth: int) -> list[AudioClip]:
        sources = self._sources(region)
        if sources[0].get("playlist") is None:
            return [self._audio_clip(region, sources)]
        nested = sources[0].find("Playlist")
        if nested is None:
            raise _SkipRegion("its compound source holds no playlist")
        if depth >= MAX_COMPOUND_DEPTH:
            raise _SkipRegion("compound regions nested too deep")
        return self._compound(region, sources[0], nested, depth)

    def _compound(self, region: ET.Element, source: ET.Element, nested: ET.Element, depth: int) -> list[AudioClip]:
        """A compound region: the part of its nested playlist it shows, moved to where it sits."""
        start_s, length_s, _, offset = self._times(region)
        window_start = self.clock.seconds(self.clock.parse(source.get("offset") or "0")) + self.clock.seconds(offset)
        window_end = window_start + length_s
        gain = _number(region.get("scale-amplitude") or region.get("scale-gain"), 1.0)
        muted = _flag(region.get("muted")) or "Muted" in (region.get("flags") or "")
        out = []
        for clip in self._audio_clips_of(nested, depth + 1):
            begin, end = max(clip.start, window_start), min(clip.end, window_end)
            if end <= begin:
                continue
            if begin > clip.start:
                clip.fade_in = 0.0
            if end < clip.end:
                clip.fade_out = 0.0
            clip.source_offset += (begin - clip.start) * clip.playrate
            clip.start, clip.duration = start_s + (begin - window_start), end - begin
            clip.gain *= gain
            clip.muted = clip.muted or muted
            out.append(clip)
        return out

    def _audio_clip(self, region: ET.Element, sources: list[ET.Element]) -> AudioClip:
        start_s, length_s, _, offset = self._times(region)
        files = list(dict.fromkeys(self._source_path(s) for s in sources))
        flags = region.get("flags") or ""
        fade_in = self._fade(region, "In", start_s)
        fade_out = self._fade(region, "Out", start_s)
        return AudioClip(
            start=start_s,
            duration=length_s,
            source=files[0],
            source_offset=self.clock.seconds(offset),
            gain=_number(region.get("scale-amplitude") or region.get("scale-gain"), 1.0),
            fade_in=min(fade_in, length_s),
            fade_out=min(fade_out, length_s),
            name=region.get("name") or "",
            muted=_flag(region.get("muted")) or "Muted" in flags,
            channel_files=tuple(files) if len(files) > 1 else (),
        )

    def _fade(self, region: ET.Element, which: str, start_s: float) -> float:
        """Length of the region's active fade (its curve's last point), in seconds."""
        if not _flag(region.get(f"fade-{which.lower()}-active"), True):
            return 0.0
        node = region.find(f"Fade{which}")
        events = node.find(".//events") if node is not None else None
        if events is None or not (events.text or "").strip():
            return DEFAULT_FADE_SAMPLES / self.sample_rate
        times = [line.split()[0] for line in events.text.splitlines() if line.strip()]
        try:
            return max(self.clock.span(times[-1], start_s)[0], 0.0)
        except ValueError:  # an unreadable curve: Ardour's default fade
            return DEFAULT_FADE_SAMPLES / self.sample_rate

    def _midi_clip(self, region: ET.Element) -> MidiClip:
        start_s, length_s, length_b, offset = self._times(region)
        tempo = self.clock.tempo
        start_b = tempo.seconds_to_beats(start_s)
        if region.get("start-beats") is not None:  # Ardour 3-6
            offset_b = _number(region.get("start-beats"))
        elif offset.beats is not None:
            offset_b = offset.beats
        else:
            offset_b = start_b - tempo.seconds_to_beats(start_s - offset.seconds)
        if region.get("length-beats") is not None:
            length_b = _number(region.get("length-beats"))
        name = region.get("name") or ""
        muted = _flag(region.get("muted")) or "Muted" in (region.get("flags") or "")
        raw = self._source_path(self._sources(region)[0])
        found = self.resolver.resolve(raw)
        content = self._midi(found) if found else None
        if not isinstance(content, _MidiContent):
            if found and f"{found}: {content}" not in self.warnings:
                self.warnings.append(f"{found}: {content}")
            return MidiClip(start_s, length_s, name=name, muted=muted, source=str(found or raw), missing=True)
        clip = beats_to_clip(content.notes, content.events, tempo, start_b - offset_b, name=name,
                             window=(offset_b, offset_b + length_b))
        clip.muted = muted
        clip.source = str(found)
        return clip

    def _midi(self, path: Path) -> _MidiContent | str:
        """The notes and events of an SMF source in beats from its start, or why it cannot be read."""
        key = str(path)
        if key not in self._midi_cache:
            try:
                smf = read_smf(path)
            except SessionError as exc:
                self._midi_cache[key] = exc.reason
            else:
                self._midi_cache[key] = _MidiContent(*smf.merged())
        return self._midi_cache[key]


# ---- routes -------------------------------------------------------------------------------------

def _controllable(route: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in route.iterfind("Controllable") if c.get("name") == name), None)


def _route_muted(route: ET.Element) -> bool:
    mute = _controllable(route, "mute")
    if mute is not None and _lenient(mute.get("value"), 0.0) >= 0.5:
        return True
    if any(_flag(m.get("muted")) for m in route.iterfind("MuteMaster")):
        return True
    return _flag(route.get("muted"))  # Ardour 2


def _route_soloed(route: ET.Element) -> bool:
    solo = _controllable(route, "solo")
    if solo is not None and (_lenient(solo.get("value"), 0.0) >= 0.5 or _flag(solo.get("self-solo"))):
        return True
    return _flag(route.get("self-solo")) or _flag(route.get("soloed"))


def _route_gain(route: ET.Element) -> float:
    """Fader times trim (linear); Ardour 2 kept the fader on the route's IO."""
    gain = 1.0
    found = False
    for processor in route.iterfind("Processor"):
        kind = processor.get("type")
        if kind in ("amp", "trim") and _flag(processor.get("active"), True):
            for c in processor.iterfind("Controllable"):
                if c.get("name") in ("gaincontrol", "trimcontrol"):
                    gain *= _lenient(c.get("value"), 1.0)
                    found = True
    if not found:
        io = route.find("IO")
        if io is not None and io.get("gain") is not None:
            gain = _lenient(io.get("gain"), 1.0)
    return max(gain, 0.0)


def _route_pan(route: ET.Element) -> float:
    """Ardour's azimuth runs 0 (left) .. 1 (right)."""
    for c in route.iterfind("Pannable/Controllable"):
        if c.get("name") == "pan-azimuth":
            return min(max(2.0 * _lenient(c.get("value"), 0.5) - 1.0, -1.0), 1.0)
    return 0.0


def _route_order(route: ET.Element) -> float:
    """The editor order: PresentationInfo order (5+), order-key (4) or order-keys (2-3)."""
    info = route.find("PresentationInfo")
    for text in (info.get("order") if info is not None else None, route.get("order-key")):
        if text and text.strip().lstrip("-").isdigit():
            return float(text)
    keys = route.get("order-keys") or ""
    match = re.search(r"(?:editor|EditorSort)=(-?\d+)", keys) or re.search(r"=(-?\d+)", keys)
    return float(match.group(1)) if match else math.inf


def _layer(region: ET.Element) -> float:
    return _lenient(region.get("layering-index") or region.get("layer"), 0.0)


def _by_layer(playlist: ET.Element) -> list[ET.Element]:
    """The playlist's regions from the bottom layer up (file order among equals)."""
    regions = list(playlist.iterfind("Region"))
    return [r for _, _, r in sorted((_layer(r), k, r) for k, r in enumerate(regions))]


def _is_midi(region: ET.Element, playlist: ET.Element) -> bool:
    return (region.get("type") or playlist.get("type")) == "midi"


def _mute_covered(layered: list[_Layered]) -> list[AudioClip]:
    """The clips as Ardour plays them: an unmuted opaque clip on a higher layer silences what
    lies under it. A clip wholly covered is muted; one partly covered is cut into the pieces that
    still sound (the source offset follows; the fade-in stays on the first piece and the fade-out
    on the last, where the clip had them)."""
    out: list[AudioClip] = []
    for k, below in enumerate(layered):
        covers = sorted((above.clip.start, above.clip.end) for above in layered[k + 1:]
                        if above.layer > below.layer and above.opaque and not above.muted_by_user
                        and above.clip.start < below.clip.end - _EPS and above.clip.end > below.clip.start + _EPS)
        pieces = _uncovered(below.clip.start, below.clip.end, covers)
        clip = below.clip
        if not pieces:
            clip.muted = True
            out.append(clip)
        elif len(pieces) == 1 and abs(pieces[0][0] - clip.start) <= _EPS and abs(pieces[0][1] - clip.end) <= _EPS:
            out.append(clip)
        else:
            for start, end in pieces:
                out.append(replace(
                    clip, start=start, duration=end - start,
                    source_offset=clip.source_offset + (start - clip.start) * clip.playrate,
                    fade_in=clip.fade_in if abs(start - clip.start) <= _EPS else 0.0,
                    fade_out=clip.fade_out if abs(end - clip.end) <= _EPS else 0.0))
    return out


def _uncovered(start: float, end: float, covers: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The parts of [start, end) outside the (sorted) covering intervals, each longer than _EPS."""
    pieces, at = [], start
    for lo, hi in covers:
        if lo > at + _EPS:
            pieces.append((at, min(lo, end)))
        at = max(at, hi)
        if at >= end - _EPS:
            break
    if at < end - _EPS:
        pieces.append((at, end))
    return [(a, b) for a, b in pieces if b - a > _EPS]