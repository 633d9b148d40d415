"""The Ableton Live reader on the real sets in ../shared/sessions/ableton and on small sets built here.

Expected values were read from the decompressed XML (zcat) and converted by hand: arrangement
beats * 60 / tempo for positions, note counts from the clips' loop regions.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from plugin.session.loader import load_session
from plugin.session.model import SessionError
from plugin.session.readers.ableton import read


def _starts(clips) -> list[float]:
    return [c.start for c in clips]


def _flat(pairs) -> list[float]:
    """Pairs as one flat list, for pytest.approx."""
    return [x for pair in pairs for x in pair]


# ---- the real sets ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ableton(sessions_dir: Path) -> Path:
    return sessions_dir / "ableton"


@pytest.mark.parametrize("name, bpm", [("example-120.als", 120.0), ("example-140.als", 140.0)])
def test_tempo_examples(ableton, name, bpm):
    session = read(ableton / "tempo" / name)
    assert session.format == "ableton"
    # The tempo envelope's value wins over Manual (119.999992 in the 120 set).
    assert session.tempo.changes() == [{"time": 0.0, "bpm": bpm}]
    (track,) = session.tracks
    assert (track.name, track.kind) == ("1-divineboys-v1", "audio")
    clip_beats = [0.0, 2378.1072562853815, 4756.214512570763, 7134.3217688561435]
    assert _starts(track.clips) == pytest.approx([b * 60 / bpm for b in clip_beats])
    last_end_beats = 9512.4290251415259 if bpm == 120 else 9908.7802343489839
    assert track.clips[-1].end == pytest.approx(last_end_beats * 60 / bpm)
    for clip in track.clips:  # un-warped: source seconds from LoopStart, at the source's speed
        assert (clip.source_offset, clip.playrate, clip.loop, clip.warp) == (0.0, 1.0, None, ())
    # The path comes from the Mac alias in Data (PathHint agrees); the media is absent.
    assert session.missing_media == ["/Users/mark/Music/recording/reference/divineboys-v1.mp3"]


def test_live8_set(ableton):
    session = read(ableton / "live8" / "live8-patch-markers-noauto.als")
    # Live 8 has no Manual tempo: the initial event of the inline ArrangerAutomation holds it.
    assert session.tempo.changes() == [{"time": 0.0, "bpm": 95.3}]
    spb = 60 / 95.3
    assert len(session.tracks) == 17  # 1 group, 5 audio, 11 MIDI; the two empty returns skipped
    group = session.tracks[0]
    assert group.kind == "folder"
    assert [t.parent for t in session.tracks[1:6]] == [0, 0, 0, 0, None]
    assert [t.name for t in session.tracks if not t.name[0].isdigit()] == ["synth saw", "pad", "pad"]

    audio = session.tracks[1]
    assert audio.muted  # its Speaker's initial automation event is false
    assert len(audio.clips) == 6  # the 7 audio clips of session slots are not arrangement clips
    second = audio.clips[1]  # un-warped: LoopStart is seconds into the MP3
    assert second.start == pytest.approx(68.872599796037292 * spb)
    assert second.duration == pytest.approx((106.49636223151848 - 68.872599796037292) * spb)
    assert second.source_offset == pytest.approx(21.386138613861384)
    warped = audio.clips[4]  # warped: beat 0 of the clip is 98.6889 s into the source
    assert warped.start == pytest.approx(240 * spb)
    assert warped.source_offset == pytest.approx(98.688900469003187)
    assert warped.warp[0] == pytest.approx((0.0, 98.688900469003187))

    midi = session.tracks[6]
    assert midi.kind == "midi" and len(midi.midi_clips) == 8
    assert _starts(midi.midi_clips)[:3] == pytest.approx([16 * spb, 32 * spb, 48 * spb])
    assert session.missing_media == [
        "/Users/mark/Music/recording/samples/edsheeran-ateam.mp3",
        "/Users/mark/Music/Ableton/ateam Project/Samples/Processed/Consolidate/edsheeran-ateam-3.aif",
    ]


def test_live9_set(ableton):
    session = read(ableton / "live-versions" / "9.6.0.als")
    assert session.tempo.changes() == [{"time": 0.0, "bpm": 174.0}]
    names = [(t.name, t.kind, len(t.clips), len(t.midi_clips)) for t in session.tracks]
    assert names == [("1-Pro-53", "midi", 0, 8), ("2-Pro-53", "midi", 0, 4),
                     ("7-Audio", "audio", 26, 0), ("9-Audio", "audio", 1, 0)]
    spb = 60 / 174
    first, second = session.tracks[0], session.tracks[1]
    assert _starts(first.midi_clips) == pytest.approx([b * spb for b in range(64, 320, 32)])
    # Loop 1..33 over 32 beats plays each of the 48 notes once; clips 5 and 6 are deactivated.
    assert [len(c.notes) for c in first.midi_clips] == [48] * 8
    assert [c.muted for c in first.midi_clips] == [False] * 4 + [True] * 2 + [False] * 2
    assert len(first.notes) == 6 * 48
    assert first.midi_clips[0].notes[0].start == pytest.approx(64 * spb)  # content beat 1
    assert [len(c.notes) for c in second.midi_clips] == [96, 48, 48, 48]  # 0..64: two passes
    assert session.tracks[3].muted and not session.tracks[2].muted
    # Windows paths decoded from the UTF-16 Data blobs.
    assert session.missing_media == ["D:\\p64034\\p88677\\Samples\\Imported\\p62149.wav",
                                     "D:\\p64034\\p88677\\Samples\\Imported\\p26713.WAV"]


def test_live10_set_with_groups(ableton):
    session = read(ableton / "live-versions" / "10.1.3.als")
    assert session.tempo.changes() == [{"time": 0.0, "bpm": 174.0}]
    summary = [(t.name, t.kind, t.parent) for t in session.tracks]
    assert summary == [("chord_info", "midi", None), ("kick sparkle", "audio", None),
                       ("drums", "folder", None), ("kick", "audio", 2),
                       ("10-Shaker (9)", "midi", 2), ("18-Group", "folder", None)]
    assert session.tracks[1].muted
    kick = session.tracks[3]
    assert len(kick.clips) == 168
    assert kick.clips[0].start == pytest.approx(128 * 60 / 174)
    assert kick.clips[0].duration == pytest.approx(4 * 60 / 174)
    # LoopEnd -156 with LoopOn: the clips play unlooped, with one warning for the track.
    assert all(c.loop is None for c in kick.clips)
    assert any("kick" in w and "168 clips" in w and "invalid loop" in w for w in session.warnings)
    assert session.missing_media == [
        "C:\\Users\\someone\\Desktop\\p02130\\p71748\\p66562\\Samples\\p35208\\p05901\\p65206.wav"
    ]


def test_live11_set(ableton):
    session = read(ableton / "live-versions" / "11.0.12.als")
    assert session.tempo.changes() == [{"time": 0.0, "bpm": 172.0}]
    summary = [(t.name, t.kind, t.parent, t.solo) for t in session.tracks]
    assert summary == [("Drum bus", "audio", None, False), ("Drms", "folder", None, False),
                       ("snr2", "audio", 1, False), ("kcksnr1", "folder", 1, False),
                       ("8-Drums to MIDI", "midi", 1, True), ("9-MIDI", "midi", 1, False)]
    spb = 60 / 172
    snare = session.tracks[2]
    assert _starts(snare.clips) == pytest.approx([b * spb for b in (64, 128, 192, 256, 320, 512, 576, 640, 704)])
    assert all(c.loop is not None for c in snare.clips)  # looped 0..4 beats
    drums = session.tracks[4]
    # Looped 0..4 clips repeat their 2 notes; the unlooped 16-beat clips hold 9 notes each.
    assert [len(c.notes) for c in drums.midi_clips] == [13, 9, 4, 9, 11, 9, 23, 9, 22]
    assert len(drums.notes) == 109
    assert drums.midi_clips[0].start == pytest.approx(96 * spb)
    assert drums.midi_clips[0].duration == pytest.approx(24.5 * spb)
    assert session.missing_media == ["D:/p64034/p66562/Samples/p35208/p05901/p75576.wav"]


@pytest.mark.parametrize("name, bpm", [("11.2.10.als", 125.0), ("12.2.6.als", 120.0)])
def test_sets_with_session_clips_only(ableton, name, bpm):
    # Their clips sit in session-view slots and the groove pool: no arrangement clips.
    session = read(ableton / "live-versions" / name)
    assert session.tempo.changes() == [{"time": 0.0, "bpm": bpm}]  # Live 12: MainTrack
    assert [t.kind for t in session.tracks] == ["midi", "midi", "audio", "audio"]
    assert [t.name for t in session.tracks][0] == "1-MIDI"
    assert all(not t.clips and not t.midi_clips for t in session.tracks)
    assert session.missing_media == []


def test_recorded_audio_is_found(ableton):
    folder = ableton / "recorded-audio"
    session = read(folder / "recorded-audio.als")
    (track,) = session.tracks
    (clip,) = track.clips
    assert clip.source == str(folder / "Samples" / "Recorded" / "1-Audio 0001 [2020-06-26 114704].aif")
    assert not clip.missing and session.missing_media == [] and session.warnings == []
    assert clip.start == pytest.approx(132 * 0.5)
    assert clip.duration == pytest.approx((141.82204071969696 - 132) * 0.5)
    assert clip.source_duration == pytest.approx(216576 / 44100)
    assert not clip.short
    info = load_session(folder / "recorded-audio.als").to_json()  # the `info --json` contract
    assert (info["format"], info["missing_media"], info["tempo"]) == ("ableton", [], [{"time": 0.0, "bpm": 120.0}])
    assert info["tracks"][0]["clips"][0]["start"] == 66.0 and info["tracks"][0]["clips"][0]["missing"] is False


@pytest.mark.parametrize("name, reason", [("junk.als", "neither gzip-compressed nor XML"),
                                          ("empty.als", "empty")])
def test_broken_files(ableton, name, reason):
    path = ableton / "broken" / name
    for reader in (read, load_session):
        with pytest.raises(SessionError) as err:
            reader(path)
        assert str(path) in str(err.value) and reason in str(err.value)
        assert "\n" not in str(err.value)


# ---- sets built here -------------------------------------------------------------------------
def _set_xml(tracks: str, tempo_events: str = '<FloatEvent Id="0" Time="-63072000" Value="120" />') -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Ableton MajorVersion="5" MinorVersion="11.0_433" Creator="Ableton Live 11.0.12">
  <LiveSet>
    <Tracks>{tracks}</Tracks>
    <MasterTrack>
      <AutomationEnvelopes><Envelopes>
        <AutomationEnvelope Id="0">
          <EnvelopeTarget><PointeeId Value="8" /></EnvelopeTarget>
          <Automation><Events>{tempo_events}</Events></Automation>
        </AutomationEnvelope>
      </Envelopes></AutomationEnvelopes>
      <DeviceChain><Mixer>
        <Tempo><Manual Value="120" /><AutomationTarget Id="8" /></Tempo>
        <TimeSignature><Manual Value="201" /><AutomationTarget Id="10" /></TimeSignature>
      </Mixer></DeviceChain>
    </MasterTrack>
  </LiveSet>
</Ableton>"""


def _track(kind: str, name: str, clips: str = "", track_id: int = 1, group: int = -1, extra: str = "") -> str:
    lane = "Sample" if kind == "AudioTrack" else "ClipTimeable"
    return f"""<{kind} Id="{track_id}">
  <Name><EffectiveName Value="{name}" /><UserName Value="" /></Name>
  <TrackGroupId Value="{group}" />
  <DeviceChain>
    <Mixer>
      <Speaker><Manual Value="true" /></Speaker><SoloSink Value="false" />
      <Volume><Manual Value="1" /></Volume><Pan><Manual Value="0" /></Pan>
    </Mixer>
    <MainSequencer>
      <ClipSlotList />
      <{lane}><ArrangerAutomation><Events>{clips}</Events></ArrangerAutomation></{lane}>
      {extra}
    </MainSequencer>
  </DeviceChain>
</{kind}>"""


def _loop(start: float, end: float, loop_start: float, loop_end: float, relative: float = 0.0,
          loop_on: bool = False) -> str:
    return f"""<CurrentStart Value="{start}" /><CurrentEnd Value="{end}" />
<Loop><LoopStart Value="{loop_start}" /><LoopEnd Value="{loop_end}" />
<StartRelative Value="{relative}" /><LoopOn Value="{str(loop_on).lower()}" /></Loop>"""


def _audio_clip(loop: str, warped: bool = True, markers: str = "", file_ref: str = "",
                disabled: bool = False) -> str:
    file_ref = file_ref or ('<RelativePathType Value="1" /><RelativePath Value="Samples/a.wav" />'
                            '<Path Value="/nowhere/Samples/a.wav" />')
    return f"""<AudioClip Id="0" Time="0">{loop}<Name Value="clip" />
<Disabled Value="{str(disabled).lower()}" /><IsWarped Value="{str(warped).lower()}" />
<SampleRef><FileRef>{file_ref}</FileRef></SampleRef>
<SampleVolume Value="1" /><WarpMarkers>{markers}</WarpMarkers></AudioClip>"""


def _midi_clip(loop: str, key_tracks: str, disabled: bool = False, envelopes: str = "") -> str:
    return f"""<MidiClip Id="0" Time="0">{loop}<Name Value="riff" />
<Disabled Value="{str(disabled).lower()}" />
<Envelopes><Envelopes>{envelopes}</Envelopes></Envelopes>
<Notes><KeyTracks>{key_tracks}</KeyTracks></Notes></MidiClip>"""


def _write(path: Path, xml: str, compress: bool = True) -> Path:
    data = xml.encode("utf-8")
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def test_tempo_jump_places_a_clip_at_the_computed_second(tmp_path):
    clip = _audio_clip(_loop(8, 12, 0, 4))
    events = ('<FloatEvent Id="0" Time="-63072000" Value="120" />'
              '<FloatEvent Id="1" Time="4" Value="120" /><FloatEvent Id="2" Time="4" Value="60" />')
    session = read(_write(tmp_path / "jump.als", _set_xml(_track("AudioTrack", "a", clip), events)))
    # 4 beats at 120 (2 s) then 4 beats at 60 (4 s): beat 8 is 6 s; the clip lasts 4 beats at 60.
    assert session.tempo.changes() == [{"time": 0.0, "bpm": 120.0}, {"time": 2.0, "bpm": 60.0}]
    (clip,) = session.tracks[0].clips
    assert (clip.start, clip.duration) == pytest.approx((6.0, 4.0))


def test_tempo_ramp_then_jump(tmp_path):
    clips = _audio_clip(_loop(8, 12, 0, 4)) + _audio_clip(_loop(12, 16, 0, 4))
    events = ('<FloatEvent Id="0" Time="-63072000" Value="120" /><FloatEvent Id="1" Time="0" Value="120" />'
              '<FloatEvent Id="2" Time="8" Value="180" /><FloatEvent Id="3" Time="8" Value="90" />')
    session = read(_write(tmp_path / "ramp.als", _set_xml(_track("AudioTrack", "a", clips), events)))
    # A ramp linear in beats from 120 to 180 over 8 beats takes 60 / k * ln(180 / 120) s, k = 7.5.
    ramp = 60 / 7.5 * math.log(1.5)
    first, second = session.tracks[0].clips
    assert first.start == pytest.approx(ramp)
    assert first.duration == pytest.approx(4 * 60 / 90)  # the jump to 90 happens at beat 8
    assert second.start == pytest.approx(ramp + 4 * 60 / 90)


def test_warped_clip_maps_beats_to_source_seconds(tmp_path):
    # Markers: clip beat 0 -> 1 s, 4 -> 3 s, 8 -> 4 s of the source. The clip plays clip beats
    # 2..10 from arrangement beat 8 (4 s at 120 BPM) for 8 beats (4 s).
    markers = ('<WarpMarker Id="0" SecTime="1" BeatTime="0" /><WarpMarker Id="1" SecTime="3" BeatTime="4" />'
               '<WarpMarker Id="2" SecTime="4" BeatTime="8" />')
    clip_xml = _audio_clip(_loop(8, 16, 2, 10), markers=markers)
    session = read(_write(tmp_path / "warp.als", _set_xml(_track("AudioTrack", "a", clip_xml))))
    (clip,) = session.tracks[0].clips
    assert (clip.start, clip.duration) == pytest.approx((4.0, 4.0))
    assert clip.source_offset == pytest.approx(2.0)
    # Past the last marker the last segment's rate (0.25 s a beat) goes on: beat 10 -> 4.5 s.
    assert _flat(clip.warp) == pytest.approx([0.0, 2.0, 1.0, 3.0, 3.0, 4.0, 4.0, 4.5])
    assert clip.playrate == pytest.approx(2.5 / 4.0)
    assert clip.source_time(0.5) == pytest.approx(2.5)
    assert clip.loop is None


def test_looped_warped_clip(tmp_path):
    markers = '<WarpMarker Id="0" SecTime="1" BeatTime="0" /><WarpMarker Id="1" SecTime="3" BeatTime="4" />'
    clip_xml = _audio_clip(_loop(0, 16, 0, 4, relative=2, loop_on=True), markers=markers)
    session = read(_write(tmp_path / "loop.als", _set_xml(_track("AudioTrack", "a", clip_xml))))
    (clip,) = session.tracks[0].clips
    # Starts at clip beat 2 (2 s of source), plays to the loop end (3 s), then wraps to 1 s.
    assert clip.source_offset == pytest.approx(2.0)
    assert clip.loop == pytest.approx((1.0, 3.0))
    assert _flat(clip.warp) == pytest.approx([0.0, 2.0, 1.0, 3.0])
    assert clip.duration == pytest.approx(8.0)


def test_unwarped_clip_with_start_offset(tmp_path):
    # Un-warped: loop markers are seconds of the source. Placed at beat 4 (2 s) for 8 beats (4 s).
    plain = _audio_clip(_loop(4, 12, 1.5, 5.5), warped=False)
    looped = _audio_clip(_loop(12, 20, 1.5, 5.5, relative=1.0, loop_on=True), warped=False, disabled=True)
    session = read(_write(tmp_path / "plain.als", _set_xml(_track("AudioTrack", "a", plain + looped))))
    first, second = session.tracks[0].clips
    assert (first.start, first.duration, first.source_offset, first.playrate) == pytest.approx((2.0, 4.0, 1.5, 1.0))
    assert first.warp == () and first.loop is None and not first.muted
    assert (second.start, second.source_offset) == pytest.approx((6.0, 2.5))
    assert second.loop == pytest.approx((1.5, 5.5))
    assert second.muted


def test_looped_midi_clip_unrolls_from_its_start_marker(tmp_path):
    notes = ('<KeyTrack Id="0"><Notes>'
             '<MidiNoteEvent Time="0" Duration="1" Velocity="100" IsEnabled="true" />'
             '<MidiNoteEvent Time="3" Duration="2" Velocity="80.6" IsEnabled="true" />'
             '<MidiNoteEvent Time="2" Duration="1" Velocity="100" IsEnabled="false" />'
             '</Notes><MidiKey Value="60" /></KeyTrack>')
    # Loop 0..4, start marker at 1, 10 beats long: passes 1..4, 0..4, 0..3.
    looped = _midi_clip(_loop(0, 10, 0, 4, relative=1, loop_on=True), notes)
    muted = _midi_clip(_loop(16, 20, 0, 4), notes, disabled=True)
    session = read(_write(tmp_path / "midi.als", _set_xml(_track("MidiTrack", "keys", looped + muted))))
    track = session.tracks[0]
    first, second = track.midi_clips
    # Notes at clip beats 2, 3, 6, 7; the one at content beat 3 is cut at the loop end.
    assert _flat((n.start, n.duration) for n in first.notes) == pytest.approx(
        [1.0, 0.5, 1.5, 0.5, 3.0, 0.5, 3.5, 0.5])
    assert [n.velocity for n in first.notes] == [81, 100, 81, 100]
    assert {n.pitch for n in first.notes} == {60}
    assert (first.start, first.duration) == pytest.approx((0.0, 5.0))
    assert second.muted and len(second.notes) == 2
    assert len(track.notes) == 4  # the deactivated clip does not sound


def test_pitch_bend_clip_envelope(tmp_path):
    controllers = ('<MidiControllers><ControllerTargets.0 Id="500" /><ControllerTargets.1 Id="501" />'
                   '<ControllerTargets.9 Id="509" /></MidiControllers>')
    envelopes = ('<ClipEnvelope Id="0"><EnvelopeTarget><PointeeId Value="509" /></EnvelopeTarget>'
                 '<Automation><Events><FloatEvent Time="-63072000" Value="100" /><FloatEvent Time="1" Value="100" />'
                 '<FloatEvent Time="1" Value="64" /></Events></Automation></ClipEnvelope>'
                 '<ClipEnvelope Id="1"><EnvelopeTarget><PointeeId Value="500" /></EnvelopeTarget>'
                 '<Automation><Events><FloatEvent Time="-63072000" Value="0" /><FloatEvent Time="2" Value="0" />'
                 '<FloatEvent Time="3" Value="8191" /></Events></Automation></ClipEnvelope>')
    notes = '<KeyTrack Id="0"><Notes><MidiNoteEvent Time="0" Duration="4" Velocity="100" /></Notes><MidiKey Value="48" /></KeyTrack>'
    clip_xml = _midi_clip(_loop(0, 4, 0, 4), notes, envelopes=envelopes)
    session = read(_write(tmp_path / "bend.als", _set_xml(_track("MidiTrack", "m", clip_xml, extra=controllers))))
    events = session.tracks[0].midi_clips[0].events
    volume = [(e.time, e.value) for e in events if e.kind == "control_change"]
    assert all(e.controller == 7 for e in events if e.kind == "control_change")  # target 9 is CC 7
    assert volume == [(0.0, 100), (0.5, 64)]
    bend = [(e.time, e.value) for e in events if e.kind == "pitchwheel"]
    assert bend[0] == (0.0, 0) and bend[-1] == (1.5, 8191)  # ramp from beat 2 to 3, sampled
    assert all(a[1] < b[1] for a, b in zip(bend[1:], bend[2:]))


def test_groups_returns_and_uncompressed_xml(tmp_path):
    tracks = (_track("GroupTrack", "Bus", track_id=7) + _track("AudioTrack", "", track_id=8, group=7)
              + _track("ReturnTrack", "A-Reverb", track_id=9))
    session = read(_write(tmp_path / "plain.als", _set_xml(tracks), compress=False))
    assert [(t.name, t.kind, t.parent) for t in session.tracks] == [("Bus", "folder", None),
                                                                    ("2-Audio", "audio", 0)]


def test_media_relative_to_the_project_and_an_empty_take(tmp_path):
    project = tmp_path / "Song Project"
    (project / "Ableton Project Info").mkdir(parents=True)
    (project / "Samples" / "Recorded").mkdir(parents=True)
    (project / "Backup").mkdir()
    sf.write(project / "Samples" / "Recorded" / "take 1.wav", np.zeros(4410, dtype="float32"), 44100)
    (project / "Samples" / "Recorded" / "take 2.wav").write_bytes(b"")
    old_style = ('<HasRelativePath Value="true" /><RelativePathType Value="3" /><RelativePath>'
                 '<RelativePathElement Dir="Samples" /><RelativePathElement Dir="Recorded" /></RelativePath>'
                 '<Name Value="take 1.wav" />')
    new_style = ('<RelativePathType Value="3" /><RelativePath Value="Samples/Recorded/take 2.wav" />'
                 '<Path Value="C:/Users/x/Song Project/Samples/Recorded/take 2.wav" />')
    windows_data = "C:\\Music\\gone.wav".encode("utf-16-le").hex().upper() + "0000"
    legacy_windows = f'<RelativePathType Value="0" /><Name Value="gone.wav" /><Data>{windows_data}</Data>'
    clips = "".join(_audio_clip(_loop(4 * k, 4 * k + 1, 0, 1), file_ref=ref)
                    for k, ref in enumerate([old_style, new_style, legacy_windows]))
    # The set sits in the project's Backup folder: type-3 paths are relative to the project.
    session = read(_write(project / "Backup" / "song.als", _set_xml(_track("AudioTrack", "rec", clips))))
    take1, take2, gone = session.tracks[0].clips
    assert take1.source == str(project / "Samples" / "Recorded" / "take 1.wav") and not take1.missing
    assert take1.source_duration == pytest.approx(0.1)
    assert take2.missing and take2.source == str(project / "Samples" / "Recorded" / "take 2.wav")
    assert any("take 2.wav" in w and "empty" in w for w in session.warnings)
    assert gone.missing
    assert session.missing_media == [str(take2.source), "C:\\Music\\gone.wav"]


def test_bad_files_give_one_clear_line(tmp_path):
    good = _set_xml(_track("AudioTrack", "a"))
    truncated = tmp_path / "truncated.als"
    truncated.write_bytes(gzip.compress(good.encode())[:-40])
    cases = {
        truncated: "truncated",
        _write(tmp_path / "other.als", "<?xml version='1.0'?><Project><Tracks /></Project>"): "root is <Project>",
        _write(tmp_path / "text.als", "hello, not xml"): "not XML",
        _write(tmp_path / "cut.als", good[: len(good) // 2]): "malformed or incomplete",
        _write(tmp_path / "preset.als", "<Ableton><GroupDevicePreset /></Ableton>"): "holds <GroupDevicePreset>",
    }
    for path, reason in cases.items():
        with pytest.raises(SessionError) as err:
            load_session(path)
        message = str(err.value)
        assert message.startswith(str(path)) and reason in message and "\n" not in message
