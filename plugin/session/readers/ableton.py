"""Ableton Live sets (.als): Live 8 to Live 12, gzip-compressed XML or plain XML.

Only the arrangement is read: clips under each track's
`DeviceChain/MainSequencer/<Sample|ClipTimeable>/ArrangerAutomation/Events`. Session-view clip
slots, groove-pool clips, frozen renders and device data are skipped (and pruned while parsing).

Units, as Live writes them:
- clip placement (`CurrentStart`/`CurrentEnd`), tempo and time-signature automation: arrangement
  beats (quarter notes); tempo ramps are linear in beats;
- clip content (`LoopStart`/`LoopEnd`/`StartRelative`, notes, clip envelopes): clip beats for
  warped audio and MIDI, source seconds for un-warped audio;
- warped audio maps clip beats to source seconds through its `WarpMarker`s (BeatTime, SecTime).

A clip plays from its start marker (`LoopStart + StartRelative`); a looping clip then wraps from
`LoopEnd` back to `LoopStart` until the clip ends. MIDI clips are unrolled into notes on the
timeline; audio clips keep their loop as `AudioClip.loop` (source seconds) and warped ones carry
the (seconds into clip, source seconds) map of their first pass in `AudioClip.warp`.
Clip fades and MIDI clip envelopes other than pitch bend, channel pressure and CC 0-119 are not
read.
"""

from __future__ import annotations

import bisect
import gzip
import math
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

from ..media import MediaResolver, attach_media, is_absolute, is_dir, is_file
from ..model import AudioClip, MidiClip, Session, SessionError, Track
from ..smf import BeatEvent, BeatNote, beats_to_clip
from ..tempo import DEFAULT_BPM, TempoMap, TimeSignature

# Subtrees never read: dropped as soon as they are parsed to keep big sets light.
_PRUNED = frozenset({"Devices", "ClipSlotList", "FreezeSequencer", "GroovePool", "PreHearTrack"})
_TRACK_KINDS = {"AudioTrack": "audio", "MidiTrack": "midi", "GroupTrack": "folder", "ReturnTrack": "audio"}
_DEFAULT_NAMES = {"AudioTrack": "Audio", "MidiTrack": "MIDI", "GroupTrack": "Group", "ReturnTrack": "Return"}
_PROJECT_INFO = "Ableton Project Info"
_MIN_LOOP_BEATS = 1.0 / 64  # shorter loops are corrupt data, not music
_MAX_LOOP_PASSES = 100_000
_RAMP_STEP_BEATS = 0.25  # warp-map sampling inside tempo ramps
_ENVELOPE_STEP_BEATS = 1.0 / 32  # MIDI controller ramps become events this far apart
_JUMP_NUDGE_BEATS = 1e-9  # a tempo jump right after a ramp: the map holds one tempo per beat


def read(path: Path) -> Session:
    """The set's arrangement as a Session; SessionError (one line) for a file that is not a set."""
    path = Path(path)
    root = _parse(path)
    live_set = root.find("LiveSet")
    if live_set is None:
        held = f"<{root[0].tag}> (a preset or clip file?)" if len(root) else "nothing"
        raise SessionError(path, f"not an Ableton Live set: <Ableton> holds {held}, no <LiveSet>")
    session = Session(path=str(path), format="ableton")
    session.tempo = _tempo_map(live_set, session.warnings)
    set_dir = path.parent
    project_dir = _project_folder(set_dir)
    resolver = MediaResolver(set_dir, [project_dir] if project_dir != set_dir else [])
    locator = _SampleLocator(set_dir, project_dir, resolver)

    tracks_elem = live_set.find("Tracks")
    elements = [e for e in (tracks_elem if tracks_elem is not None else []) if e.tag in _TRACK_KINDS]
    index_by_id: dict[str, int] = {}
    group_ids: list[str | None] = []
    number = 0
    returns = 0
    for elem in elements:
        if elem.tag == "ReturnTrack":
            returns += 1
            default_name = f"{chr(ord('A') + (returns - 1) % 26)}-{_DEFAULT_NAMES[elem.tag]}"
        else:
            number += 1
            default_name = f"{number}-{_DEFAULT_NAMES[elem.tag]}"
        track = _read_track(elem, default_name, session, locator)
        if elem.tag == "ReturnTrack" and not track.clips and not track.midi_clips:
            continue
        if elem.get("Id") is not None:
            index_by_id[elem.get("Id")] = len(session.tracks)
        group_ids.append(_value(elem, "TrackGroupId"))
        session.tracks.append(track)
    for track, group_id in zip(session.tracks, group_ids):
        parent = index_by_id.get(group_id) if group_id not in (None, "-1") else None
        if parent is not None and session.tracks[parent].kind == "folder":
            track.parent = parent

    attach_media(session, resolver)
    return session


# ---- parsing ---------------------------------------------------------------------------------
def _parse(path: Path) -> ET.Element:
    """The <Ableton> root of a gzip-compressed or plain XML set, with unused subtrees pruned."""
    try:
        with path.open("rb") as f:
            head = f.read(2)
    except OSError as exc:
        raise SessionError(path, f"cannot read the file ({exc.strerror or exc})") from exc
    if not head:
        raise SessionError(path, "the file is empty: not an Ableton Live set")
    compressed = head == b"\x1f\x8b"

    def open_stream():
        return gzip.open(path, "rb") if compressed else path.open("rb")

    root_tag = None
    try:
        with open_stream() as stream:
            root_tag = _root_tag(stream)
        if root_tag != "Ableton":
            raise SessionError(path, f"not an Ableton Live set: the XML root is <{root_tag}>, not <Ableton>")
        with open_stream() as stream:
            parsing = ET.iterparse(stream)  # "end" events only: the fastest way through
            for _, elem in parsing:
                if elem.tag in _PRUNED:
                    elem.clear()
            return parsing.root
    except EOFError as exc:
        raise SessionError(path, "the compressed set is truncated (the gzip data ends early)") from exc
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise SessionError(path, f"the compressed set is corrupt ({exc})") from exc
    except ET.ParseError as exc:
        if root_tag is None:
            what = "the decompressed data is not XML" if compressed else "neither gzip-compressed nor XML"
            raise SessionError(path, f"not an Ableton Live set: {what}") from exc
        raise SessionError(path, f"the set's XML is malformed or incomplete ({exc})") from exc
    except OSError as exc:
        raise SessionError(path, f"cannot read the file ({exc.strerror or exc})") from exc


def _root_tag(stream) -> str:
    """The tag of the document's first element, read from the start of the stream only."""
    parser = ET.XMLPullParser(events=("start",))
    while chunk := stream.read(1 << 16):
        parser.feed(chunk)
        for _, elem in parser.read_events():
            return elem.tag
    parser.close()  # raises ParseError: the stream holds no element
    raise ET.ParseError("no element found")


def _value(elem: ET.Element, path: str) -> str | None:
    found = elem.find(path)
    return found.get("Value") if found is not None else None


def _float(text: str | None, default: float | None = None) -> float | None:
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return value if math.isfinite(value) else default


def _is_true(text: str | None, default: bool = False) -> bool:
    return default if text is None else text.strip().lower() == "true"


def _param_value(param: ET.Element | None) -> str | None:
    """A mixer parameter's static value: `Manual` (Live 9+) or the initial automation event (Live 8)."""
    if param is None:
        return None
    manual = param.find("Manual")
    if manual is not None:
        return manual.get("Value")
    events = param.find("ArrangerAutomation/Events")
    if events is not None and len(events):
        return events[0].get("Value")
    return param.get("Value")


def _mixer(track_elem: ET.Element) -> ET.Element | None:
    mixer = track_elem.find("DeviceChain/Mixer")
    return mixer if mixer is not None else track_elem.find("MasterChain/Mixer")  # Live 8 master


# ---- tempo -----------------------------------------------------------------------------------
def _tempo_map(live_set: ET.Element, warnings: list[str]) -> TempoMap:
    master = live_set.find("MasterTrack")
    if master is None:
        master = live_set.find("MainTrack")  # Live 12
    mixer = _mixer(master) if master is not None else None
    if mixer is None:
        warnings.append("the set has no master track tempo: assuming 120 BPM")
        return TempoMap.constant()
    envelopes = {}
    for env in master.iterfind("AutomationEnvelopes/Envelopes/AutomationEnvelope"):
        target = _value(env, "EnvelopeTarget/PointeeId")
        events = env.find("Automation/Events")
        if target is not None and events is not None:
            envelopes[target] = events

    def automation(param: ET.Element | None) -> list[ET.Element]:
        """The breakpoints automating a master parameter, inline (Live 8) or in an envelope."""
        if param is None:
            return []
        events = param.find("ArrangerAutomation/Events")
        if events is None or not len(events):
            target = param.find("AutomationTarget")
            events = envelopes.get(target.get("Id")) if target is not None else None
        return list(events) if events is not None else []

    tempo_param = mixer.find("Tempo")
    tempo_events = automation(tempo_param)
    if any(ev.get("CurveControl1X") is not None for ev in tempo_events):
        warnings.append("the tempo automation has curved segments: read as straight lines")
    points = [(t, v) for t, v in _breakpoints(tempo_events) if 0 < v < 10_000]
    changes = _tempo_changes(points) if points else []
    if not changes:
        bpm = _float(_param_value(tempo_param))
        if bpm is None or not 0 < bpm < 10_000:
            warnings.append("the set's tempo is missing or invalid: assuming 120 BPM")
            bpm = DEFAULT_BPM
        changes = [(0.0, bpm, "step")]

    sig_param = mixer.find("TimeSignature")
    signatures = []
    sig_events = _breakpoints(automation(sig_param))
    if not sig_events:
        manual = _float(_param_value(sig_param))
        sig_events = [(0.0, manual)] if manual is not None else []
    for t, v in sorted(sig_events, key=lambda e: e[0]):
        sig = _time_signature(max(t, 0.0), int(v))
        if sig is None:
            continue
        if signatures and abs(signatures[-1].beat - sig.beat) < 1e-9:
            signatures[-1] = sig
        else:
            signatures.append(sig)
    return TempoMap.from_beats(changes, signatures or None)


def _breakpoints(events: list[ET.Element]) -> list[tuple[float, float]]:
    """(time, value) of automation events that hold both as numbers."""
    out = []
    for ev in events:
        t, v = _float(ev.get("Time")), _float(ev.get("Value"))
        if t is not None and v is not None:
            out.append((t, v))
    return out


def _time_signature(beat: float, code: int) -> TimeSignature | None:
    """Live stores a signature as numerator - 1 + 99 * log2(denominator)."""
    if code < 0:
        return None
    numerator, exponent = code % 99 + 1, code // 99
    if exponent > 5:
        return None
    return TimeSignature(beat, numerator, 2**exponent)


def _tempo_changes(events: list[tuple[float, float]]) -> list[tuple[float, float, str]]:
    """(beat, bpm, ramp) for TempoMap.from_beats from Live's automation breakpoints.

    Breakpoints are joined by straight lines in beats; two at one time make a jump. The first
    breakpoint sits at a huge negative time (-63072000) and holds the initial tempo.
    """
    # Group breakpoints at one time: (time, tempo arriving, tempo leaving).
    groups: list[tuple[float, float, float]] = []
    for t, v in sorted(events, key=lambda e: e[0]):
        if groups and abs(groups[-1][0] - t) < 1e-9:
            groups[-1] = (groups[-1][0], groups[-1][1], v)
        else:
            groups.append((t, v, v))
    # Cut everything before beat 0 into one starting value.
    before = [g for g in groups if g[0] <= 1e-9]
    after = [g for g in groups if g[0] > 1e-9]
    if not before:
        start = after[0][1]
    elif before[-1][0] < -1e-9 and after:
        t0, _, v0 = before[-1]
        t1, v1, _ = after[0]
        start = v0 + (v1 - v0) * (0.0 - t0) / (t1 - t0)
    else:
        start = before[-1][2]
    groups = [(0.0, start, start)] + after

    changes: list[tuple[float, float, str]] = []
    for k, (t, arrive, leave) in enumerate(groups):
        ramps_out = k + 1 < len(groups) and groups[k + 1][1] != leave
        ramped_in = k > 0 and changes[-1][2] == "linear"
        if ramped_in and arrive != leave:
            changes.append((t, arrive, "step"))
            t += _JUMP_NUDGE_BEATS
        changes.append((t, leave, "linear" if ramps_out else "step"))
    return changes


# ---- tracks ----------------------------------------------------------------------------------
def _read_track(elem: ET.Element, default_name: str, session: Session, locator: "_SampleLocator") -> Track:
    name = (_value(elem, "Name/EffectiveName") or "").strip() or (_value(elem, "Name/UserName") or "").strip()
    track = Track(name=name or default_name, kind=_TRACK_KINDS[elem.tag])
    mixer = _mixer(elem)
    if mixer is not None:
        track.muted = not _is_true(_param_value(mixer.find("Speaker")), default=True)
        track.solo = _is_true(_param_value(mixer.find("SoloSink")))
        gain = _float(_param_value(mixer.find("Volume")))
        if gain is not None and gain >= 0:
            track.gain = gain
        pan = _float(_param_value(mixer.find("Pan")))
        if pan is not None:
            track.pan = max(-1.0, min(1.0, pan))
    controllers = _controller_targets(elem)
    problems: dict[str, int] = {}  # one warning per track and kind of problem, with a count
    for events in elem.iterfind("DeviceChain/MainSequencer/*/ArrangerAutomation/Events"):
        for clip_elem in events:
            if clip_elem.tag not in ("AudioClip", "MidiClip"):
                continue
            clip, problem = _ClipFrame.read(clip_elem)
            no_file = clip_elem.tag == "AudioClip" and clip_elem.find("SampleRef/FileRef") is None
            if clip is not None and no_file:
                clip, problem = None, "without a sample file reference: skipped"
            if problem:
                problems[problem] = problems.get(problem, 0) + 1
            if clip is None:
                continue
            if clip_elem.tag == "AudioClip":
                track.clips.append(_audio_clip(clip_elem, clip, session.tempo, locator))
            else:
                track.midi_clips.append(_midi_clip(clip_elem, clip, session.tempo, controllers))
    for problem, count in problems.items():
        session.warnings.append(f"track '{track.name}': {count} clip{'s' if count > 1 else ''} {problem}")
    track.clips.sort(key=lambda c: c.start)
    track.midi_clips.sort(key=lambda c: c.start)
    return track


@dataclass
class _ClipFrame:
    """Where a clip sits (arrangement beats) and which part of its content plays (content units)."""

    name: str
    start_beat: float
    end_beat: float
    start_marker: float
    loop: tuple[float, float] | None
    muted: bool

    @property
    def length(self) -> float:
        return self.end_beat - self.start_beat

    @classmethod
    def read(cls, elem: ET.Element) -> "tuple[_ClipFrame | None, str | None]":
        """The clip's frame (None when it cannot be placed) and what was wrong with it, if anything."""
        name = _value(elem, "Name") or ""
        start = _float(_value(elem, "CurrentStart"), _float(elem.get("Time")))
        end = _float(_value(elem, "CurrentEnd"))
        if start is None or end is None or end <= start:
            return None, "without a valid position or length: skipped"
        loop_start = _float(_value(elem, "Loop/LoopStart"), 0.0)
        loop_end = _float(_value(elem, "Loop/LoopEnd"), loop_start)
        start_marker = loop_start + _float(_value(elem, "Loop/StartRelative"), 0.0)
        loop = None
        problem = None
        if _is_true(_value(elem, "Loop/LoopOn")):
            span = loop_end - loop_start
            if span < _MIN_LOOP_BEATS or (end - start) / span > _MAX_LOOP_PASSES:
                problem = "with an invalid loop (too short, or ending before it starts): played unlooped"
            else:
                loop = (loop_start, loop_end)
        return cls(name, start, end, start_marker, loop, _is_true(_value(elem, "Disabled"))), problem

    def passes(self) -> list[tuple[float, float, float]]:
        """(content start, content end, beats into the clip) of each pass through the content."""
        if self.loop is None:
            return [(self.start_marker, self.start_marker + self.length, 0.0)]
        loop_start, loop_end = self.loop
        content = self.start_marker if self.start_marker < loop_end else loop_start
        out = []
        done = 0.0
        while done < self.length - 1e-9:
            span = min(loop_end - content, self.length - done)
            out.append((content, content + span, done))
            done += span
            content = loop_start
        return out


# ---- audio clips -----------------------------------------------------------------------------
def _audio_clip(elem: ET.Element, frame: _ClipFrame, tempo: TempoMap, locator: "_SampleLocator") -> AudioClip:
    start = tempo.beats_to_seconds(frame.start_beat)
    end = tempo.beats_to_seconds(frame.end_beat)
    clip = AudioClip(
        start=start,
        duration=end - start,
        source=locator.locate(elem.find("SampleRef/FileRef")),
        name=frame.name,
        muted=frame.muted,
    )
    volume = _float(_value(elem, "SampleVolume"))
    if volume is not None and volume >= 0:
        clip.gain = volume
    if not _is_true(_value(elem, "IsWarped"), default=True):
        # Un-warped: content positions are source seconds, played at the source's own speed.
        clip.source_offset = frame.start_marker
        clip.loop = frame.loop
        return clip

    warp = _WarpMap.read(elem, 60.0 / tempo.bpm_at(start))
    clip.source_offset = warp(frame.start_marker)
    if frame.loop is not None:
        clip.loop = (warp(frame.loop[0]), warp(frame.loop[1]))
    first_from, first_to, _ = frame.passes()[0]
    last_beat = frame.start_beat + (first_to - first_from)
    knots = {frame.start_beat, last_beat}
    knots.update(frame.start_beat + b - first_from for b in warp.beats if first_from < b < first_to)
    for i, point in enumerate(tempo.points):
        if frame.start_beat < point.beat < last_beat:
            knots.add(point.beat)
        if point.ramp != "step":
            ramp_end = tempo.points[i + 1].beat if i + 1 < len(tempo.points) else last_beat
            lo, hi = max(point.beat, frame.start_beat), min(ramp_end, last_beat)
            if lo < hi:
                step = max(_RAMP_STEP_BEATS, (hi - lo) / 4096)
                knots.update(lo + k * step for k in range(int((hi - lo) / step) + 1))
    pairs: list[tuple[float, float]] = []
    for beat in sorted(knots):
        seconds = tempo.beats_to_seconds(beat) - start
        source = warp(first_from + beat - frame.start_beat)
        if pairs and seconds - pairs[-1][0] < 1e-9:
            continue
        pairs.append((seconds, source))
    clip.warp = tuple(pairs)
    if len(pairs) >= 2 and pairs[-1][0] > pairs[0][0]:
        clip.playrate = (pairs[-1][1] - pairs[0][1]) / (pairs[-1][0] - pairs[0][0])
    return clip


class _WarpMap:
    """Clip beats to source seconds through warp markers, extended with the nearest segment's rate."""

    def __init__(self, markers: list[tuple[float, float]], seconds_per_beat: float):
        self.markers = markers or [(0.0, 0.0)]
        self.seconds_per_beat = seconds_per_beat

    @classmethod
    def read(cls, elem: ET.Element, seconds_per_beat: float) -> "_WarpMap":
        raw = []
        for m in elem.iterfind("WarpMarkers/WarpMarker"):
            beat, sec = _float(m.get("BeatTime")), _float(m.get("SecTime"))
            if beat is not None and sec is not None:
                raw.append((beat, sec))
        markers: list[tuple[float, float]] = []
        for beat, sec in sorted(raw):
            if not markers or (beat > markers[-1][0] + 1e-12 and sec > markers[-1][1]):
                markers.append((beat, sec))
        return cls(markers, seconds_per_beat)

    @property
    def beats(self) -> list[float]:
        return [b for b, _ in self.markers]

    def __call__(self, beat: float) -> float:
        pts = self.markers
        if len(pts) == 1:
            return pts[0][1] + (beat - pts[0][0]) * self.seconds_per_beat
        k = 0
        while k < len(pts) - 2 and beat > pts[k + 1][0]:
            k += 1
        (b0, s0), (b1, s1) = pts[k], pts[k + 1]
        return s0 + (beat - b0) * (s1 - s0) / (b1 - b0)


# ---- MIDI clips ------------------------------------------------------------------------------
def _controller_targets(track_elem: ET.Element) -> dict[str, tuple[str, int | None]]:
    """Automation target id -> (event kind, controller) for a MIDI track's clip envelopes.

    Live lists them as ControllerTargets.N: 0 is pitch bend, 1 channel pressure, N >= 2 is CC N - 2.
    """
    out: dict[str, tuple[str, int | None]] = {}
    controllers = track_elem.find("DeviceChain/MainSequencer/MidiControllers")
    for target in controllers if controllers is not None else []:
        match = re.fullmatch(r"ControllerTargets\.(\d+)", target.tag)
        if not match or target.get("Id") is None:
            continue
        n = int(match.group(1))
        if n == 0:
            out[target.get("Id")] = ("pitchwheel", None)
        elif n == 1:
            out[target.get("Id")] = ("aftertouch", None)
        elif n - 2 < 120:  # 120-127 are channel-mode messages, not controllers
            out[target.get("Id")] = ("control_change", n - 2)
    return out


def _midi_clip(elem: ET.Element, frame: _ClipFrame, tempo: TempoMap,
               controllers: dict[str, tuple[str, int | None]]) -> MidiClip:
    content = []
    for key_track in elem.iterfind("Notes/KeyTracks/KeyTrack"):
        pitch = _float(_value(key_track, "MidiKey"))
        if pitch is None or not 0 <= pitch <= 127:
            continue
        for note in key_track.iterfind("Notes/MidiNoteEvent"):
            t, length = _float(note.get("Time")), _float(note.get("Duration"))
            enabled = _is_true(note.get("IsEnabled"), default=True)  # false: deactivated in Live
            if t is None or length is None or length <= 0 or not enabled:
                continue
            velocity = int(round(_float(note.get("Velocity"), 100.0)))
            content.append((t, length, int(pitch), max(1, min(127, velocity))))
    notes: list[BeatNote] = []
    events: list[BeatEvent] = []
    envelopes = _clip_envelopes(elem, controllers)
    for c0, c1, offset in frame.passes():
        for t, length, pitch, velocity in content:
            if c0 - 1e-9 <= t < c1 - 1e-9:
                notes.append(BeatNote(offset + t - c0, min(t + length, c1) - t, pitch, velocity, 0))
        for kind, controller, points in envelopes:
            events.extend(
                BeatEvent(offset + t - c0, kind, value, 0, controller)
                for t, value in _sample_envelope(points, c0, c1, kind)
            )
    notes.sort(key=lambda n: (n.beat, n.pitch))
    events.sort(key=lambda e: e.beat)
    clip = beats_to_clip(notes, events, tempo, frame.start_beat, name=frame.name, window=(0.0, frame.length))
    clip.muted = frame.muted
    return clip


def _clip_envelopes(elem: ET.Element, controllers: dict[str, tuple[str, int | None]]):
    """(kind, controller, [(clip beat, value)]) for each clip envelope on a MIDI controller."""
    out = []
    for env in elem.iterfind("Envelopes/Envelopes/ClipEnvelope"):
        target = controllers.get(_value(env, "EnvelopeTarget/PointeeId") or "")
        events = env.find("Automation/Events")
        if target is None or events is None:
            continue
        points = sorted(_breakpoints(list(events)), key=lambda p: p[0])
        if points:
            out.append((target[0], target[1], points))
    return out


def _sample_envelope(points: list[tuple[float, float]], c0: float, c1: float, kind: str):
    """(beat, integer value) where a clip envelope's value changes within content [c0, c1)."""
    low, high = (-8192, 8191) if kind == "pitchwheel" else (0, 127)

    times = [t for t, _ in points]

    def value_at(beat: float) -> float:
        i = bisect.bisect_right(times, beat)  # points[:i] are at or before the beat
        if i == 0 or i == len(points):
            return points[min(i, len(points) - 1)][1]
        (t0, v0), (t1, v1) = points[i - 1], points[i]
        return v0 + (v1 - v0) * (beat - t0) / (t1 - t0)

    beats = {c0}
    for k, (t, v) in enumerate(points):
        if c0 < t < c1:
            beats.add(t)
        if k + 1 < len(points) and points[k + 1][1] != v and points[k + 1][0] > t:
            lo, hi = max(t, c0), min(points[k + 1][0], c1)
            n = int((hi - lo) / _ENVELOPE_STEP_BEATS) if hi > lo else 0
            beats.update(lo + i * _ENVELOPE_STEP_BEATS for i in range(1, n + 1))
    out = []
    last = None
    for beat in sorted(b for b in beats if c0 <= b < c1):
        value = max(low, min(high, int(round(value_at(beat)))))
        if value != last:
            out.append((beat, value))
            last = value
    return out


# ---- media references ------------------------------------------------------------------------
def _project_folder(set_dir: Path) -> Path:
    """The Live Project holding the set: the nearest folder with an 'Ableton Project Info'."""
    for folder in [set_dir, *list(set_dir.parents)[:3]]:
        if is_dir(folder / _PROJECT_INFO):
            return folder
    return set_dir


@dataclass
class _FileRef:
    """What a FileRef says about its file, in any Live version's layout."""

    name: str
    absolute: str | None
    relative: str | None
    relative_to_project: bool | None

    @classmethod
    def read(cls, elem: ET.Element) -> "_FileRef":
        path_value = (_value(elem, "Path") or "").strip()
        relative_elem = elem.find("RelativePath")
        relative = (relative_elem.get("Value") or "").strip() if relative_elem is not None else ""
        name = (_value(elem, "Name") or "").strip()
        if not name:
            name = _basename(path_value or relative)
        if relative_elem is not None and not relative and name:
            # Live 8-10: one element per folder, an empty Dir meaning the parent folder.
            dirs = [e.get("Dir", "") for e in relative_elem.iterfind("RelativePathElement")]
            relative = "/".join([d or ".." for d in dirs] + [name])
        absolute = path_value or _path_from_data(elem.findtext("Data") or "") or _path_from_hint(elem, name)
        kind = _value(elem, "RelativePathType")
        return cls(name, absolute or None, relative or None,
                   True if kind == "3" else False if kind == "1" else None)


def _basename(raw: str) -> str:
    return re.split(r"[\\/]", raw.rstrip("\\/"))[-1] if raw else ""


def _path_from_data(hex_text: str) -> str | None:
    """The absolute path in a Live 8-10 FileRef's Data: UTF-16 text (Windows) or a Mac alias record."""
    try:
        raw = bytes.fromhex("".join(hex_text.split()))
    except ValueError:
        return None
    if len(raw) >= 8 and len(raw) % 2 == 0 and raw[1] == 0 and raw[3] == 0:
        text = raw.decode("utf-16-le", errors="replace").rstrip("\x00")
        if re.match(r"^([A-Za-z]:[\\/]|\\\\)", text) and "\x00" not in text and "\ufffd" not in text:
            return text
    # Mac alias record, version 2: tagged items after a 150-byte header; tag 18 is the POSIX path
    # from the volume's root and tag 19 the volume's mount point.
    if len(raw) < 154 or int.from_bytes(raw[6:8], "big") != 2:
        return None
    items: dict[int, bytes] = {}
    i = 150
    while i + 4 <= len(raw):
        tag, size = int.from_bytes(raw[i:i + 2], "big"), int.from_bytes(raw[i + 2:i + 4], "big")
        if tag == 0xFFFF:
            break
        items[tag] = raw[i + 4:i + 4 + size]
        i += 4 + size + (size & 1)
    try:
        posix = items[18].decode("utf-8")
        mount = items.get(19, b"/").decode("utf-8") or "/"
    except (KeyError, UnicodeDecodeError):
        return None
    return mount.rstrip("/") + "/" + posix.lstrip("/")


def _path_from_hint(elem: ET.Element, name: str) -> str | None:
    """The absolute path Live 8-10 kept in SearchHint/PathHint (folders only) plus the file name."""
    dirs = [e.get("Dir", "") for e in elem.iterfind("SearchHint/PathHint/RelativePathElement")]
    if not dirs or not name or not all(dirs):
        return None
    if re.fullmatch(r"[A-Za-z]:", dirs[0]):
        return "\\".join(dirs + [name])
    return "/" + "/".join(dirs + [name])


class _SampleLocator:
    """Finds a FileRef's file: absolute path, relative to the set or project, then as the resolver does."""

    def __init__(self, set_dir: Path, project_dir: Path, resolver: MediaResolver):
        self.set_dir = set_dir
        self.project_dir = project_dir
        self.resolver = resolver
        self._cache: dict[tuple, str] = {}

    def locate(self, elem: ET.Element) -> str:
        ref = _FileRef.read(elem)
        key = (ref.name, ref.absolute, ref.relative, ref.relative_to_project)
        if key not in self._cache:
            self._cache[key] = self._locate(ref)
        return self._cache[key]

    def _locate(self, ref: _FileRef) -> str:
        candidates: list[Path] = []
        if ref.absolute and Path(ref.absolute).is_absolute():  # a path of this OS
            candidates.append(Path(ref.absolute))
        if ref.relative and not is_absolute(ref.relative):
            bases = [self.set_dir, self.project_dir]
            if ref.relative_to_project:
                bases.reverse()
            candidates += [base / Path(*re.split(r"[\\/]", ref.relative)) for base in bases]
        for candidate in candidates:
            if is_file(candidate):
                return str(candidate)
        written = ref.absolute or ref.relative or ref.name
        found = self.resolver.resolve(written) if written else None
        if found is None and ref.name and ref.name != written:
            found = self.resolver.resolve(ref.name)
        return str(found) if found is not None else written
