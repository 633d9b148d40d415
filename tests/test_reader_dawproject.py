"""The DAWproject reader, on the real example projects and on small projects built here.

Expected values come from reading the files: `unzip -p FILE project.xml` for positions (beats at
the Transport tempo), and the WAV inside bitwig-readme-example read with soundfile.
"""

from __future__ import annotations

import itertools
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from plugin.session import SessionError, load_session
from plugin.session.readers import dawproject

EXAMPLES = "dawproject/examples"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test extracts into its own cache folder, never into the user's."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("STEMSCOPE_CACHE_DIR", str(cache))
    return cache


def clip_starts(track):
    return [round(c.start, 6) for c in track.midi_clips]


# ---- the real example projects ---------------------------------------------------------------
def test_bitwig_readme_example(sessions_dir, private_cache):
    session = load_session(sessions_dir / EXAMPLES / "bitwig-readme-example.dawproject")
    assert session.format == "dawproject"
    assert session.tempo.changes() == [{"time": 0.0, "bpm": 149.0}]
    # Bass, Drumloop and Master; the master has no clips and is the mix, not a track.
    assert [t.name for t in session.tracks] == ["Bass", "Drumloop"]
    bass, drums = session.tracks
    assert bass.kind == "midi" and drums.kind == "audio"
    assert bass.gain == pytest.approx(0.659140) and drums.gain == pytest.approx(0.177125)
    assert bass.pan == 0.0

    beat = 60 / 149
    (notes_clip,) = bass.midi_clips
    assert notes_clip.start == 0.0 and notes_clip.duration == pytest.approx(8 * beat)
    assert len(bass.notes) == 9
    long_note = next(n for n in bass.notes if n.start == pytest.approx(1.5 * beat))
    assert (long_note.pitch, long_note.velocity) == (53, 100)  # vel 0.787402 * 127
    assert long_note.duration == pytest.approx(2.5 * beat)

    (loop,) = drums.clips
    assert not loop.missing
    assert loop.start == 0.0 and loop.duration == pytest.approx(8.00003433227539 * beat)
    # The embedded WAV is extracted into the cache; the file (44.1 kHz, 136568 frames) wins
    # over the 48 kHz / 2.82 s the XML states.
    assert Path(loop.source).is_relative_to(private_cache)
    assert Path(loop.source).name == "Drumfunk3 170bpm.wav"
    assert loop.source_sample_rate == 44100
    assert loop.source_duration == pytest.approx(136568 / 44100)
    assert any("the file is used" in w for w in session.warnings)
    # Warps: 8.00003 beats of the timeline play 2.8235 s of the file.
    assert [pytest.approx(pair) for pair in loop.warp] == [(0.0, 0.0), (8.00003433227539 * beat, 2.823541666666667)]
    assert loop.source_time(loop.duration / 2) == pytest.approx(2.823541666666667 / 2)
    assert not loop.short
    assert session.missing_media == []


def test_alias_clips_repeat_the_referenced_notes(sessions_dir):
    session = load_session(sessions_dir / EXAMPLES / "test-complex.dawproject")
    assert session.tempo.changes() == [{"time": 0.0, "bpm": 120.0}]
    assert [t.name for t in session.tracks] == ["Track 1", "Track 2", "Track 3"]
    # Clip i at beat 8i, its alias (reference="id..") at beat 32 + 8i; 4 beats long at 120 bpm.
    assert [clip_starts(t) for t in session.tracks] == [[0.0, 16.0], [4.0, 20.0], [8.0, 24.0]]
    for track in session.tracks:
        original, alias = track.midi_clips
        assert alias.name.startswith("Alias Clip") and alias.duration == pytest.approx(2.0)
        assert len(original.notes) == len(alias.notes) == 8
        assert [(n.start + 16.0, n.pitch) for n in original.notes] == \
               [(pytest.approx(n.start), n.pitch) for n in alias.notes]
    assert sorted({n.pitch for n in session.tracks[2].notes}) == [36, 48, 60]
    assert all(n.velocity == 102 for t in session.tracks for n in t.notes)  # vel 0.8 * 127


def test_testfile_five_tracks_one_clip_each(sessions_dir):
    session = load_session(sessions_dir / EXAMPLES / "testfile.dawproject")
    assert [t.name for t in session.tracks] == [f"Track {i}" for i in range(1, 6)]
    assert [clip_starts(t) for t in session.tracks] == [[0.0], [4.0], [8.0], [12.0], [16.0]]
    assert [len(t.notes) for t in session.tracks] == [8] * 5
    assert [n.pitch for n in session.tracks[4].notes] == [36, 48, 60, 72, 84, 36, 48, 60]
    assert session.duration == pytest.approx(18.0)


def test_testfile2_aliases_on_five_tracks(sessions_dir):
    session = load_session(sessions_dir / EXAMPLES / "testfile2.dawproject")
    assert [clip_starts(t) for t in session.tracks] == [[4.0 * i, 16.0 + 4.0 * i] for i in range(5)]
    assert [len(t.notes) for t in session.tracks] == [16] * 5
    assert session.duration == pytest.approx(34.0)


# ---- small projects built here -----------------------------------------------------------------
def write_project(folder: Path, arrangement: str, *, tracks: str = "", transport: str = "",
                  files: dict[str, bytes] | None = None, name: str = "song.dawproject") -> Path:
    """A .dawproject zip with project.xml built from the given fragments."""
    xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Project version="1.0">'
           f'<Application name="test" version="1"/><Transport>{transport}</Transport>'
           f'<Structure>{tracks}</Structure><Arrangement id="arr">{arrangement}</Arrangement></Project>')
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("project.xml", xml)
        z.writestr("metadata.xml", "<MetaData/>")
        for member, data in (files or {}).items():
            z.writestr(member, data)
    return path


def track(ident: str, name: str, content: str = "notes", channel: str = "") -> str:
    return (f'<Track id="{ident}" name="{name}" contentType="{content}" loaded="true">'
            f'<Channel id="{ident}-ch" role="regular">{channel}</Channel></Track>')


def tempo(bpm: float) -> str:
    return f'<Tempo id="tempo" unit="bpm" value="{bpm}"/>'


def notes(*times: float, length: float = 0.5, key: int = 60) -> str:
    body = "".join(f'<Note time="{t}" duration="{length}" key="{key}" channel="0" vel="0.5"/>' for t in times)
    return f"<Notes>{body}</Notes>"


def wav_bytes(tmp_path: Path, seconds: float, rate: int = 22050) -> bytes:
    path = tmp_path / "tone-src.wav"
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, 0.1 * np.sin(2 * np.pi * 220 * t), rate)
    return path.read_bytes()


@pytest.mark.parametrize("bpm", [90.0, 150.0])
def test_seconds_and_beats_time_units(tmp_path, bpm):
    beat = 60 / bpm
    arrangement = f"""
      <Lanes timeUnit="beats">
        <Lanes track="b"><Clips><Clip time="4" duration="2">{notes(1)}</Clip></Clips></Lanes>
        <Lanes track="s" timeUnit="seconds"><Clips>
          <Clip time="3" duration="1.5">{notes(0.5, length=0.25)}</Clip></Clips></Lanes>
        <Lanes track="m"><Clips>
          <Clip time="2" duration="4" contentTimeUnit="seconds" playStart="1">{notes(1.5, length=0.25)}</Clip>
        </Clips></Lanes>
      </Lanes>"""
    path = write_project(tmp_path / "p", arrangement, transport=tempo(bpm),
                         tracks=track("b", "Beats") + track("s", "Seconds") + track("m", "Mixed"))
    in_beats, in_seconds, mixed = load_session(path).tracks

    (clip,) = in_beats.midi_clips
    assert (clip.start, clip.duration) == (pytest.approx(4 * beat), pytest.approx(2 * beat))
    assert in_beats.notes[0].start == pytest.approx(5 * beat)
    assert in_beats.notes[0].duration == pytest.approx(0.5 * beat)

    (clip,) = in_seconds.midi_clips  # seconds do not move with the tempo
    assert (clip.start, clip.duration) == (pytest.approx(3.0), pytest.approx(1.5))
    assert (in_seconds.notes[0].start, in_seconds.notes[0].duration) == (pytest.approx(3.5), pytest.approx(0.25))

    # Beats outside, seconds inside: content second 1 (playStart) plays at beat 2.
    assert mixed.notes[0].start == pytest.approx(2 * beat + 0.5)
    assert mixed.notes[0].duration == pytest.approx(0.25)


def test_nested_clips_are_offset_by_play_start_and_cut_by_the_outer_clip(tmp_path):
    # 120 bpm: a beat is 0.5 s. The outer clip shows content beats 2..6 at beats 8..12.
    arrangement = f"""
      <Lanes timeUnit="beats"><Lanes track="t"><Clips>
        <Clip time="8" duration="4" playStart="2" name="outer"><Clips>
          <Clip time="0" duration="1">{notes(0, key=40)}</Clip>
          <Clip time="3" duration="2">{notes(0, 1.5, length=1, key=50)}</Clip>
          <Clip time="5.5" duration="2">{notes(0, 1, key=70)}</Clip>
        </Clips></Clip>
      </Clips></Lanes></Lanes>"""
    path = write_project(tmp_path / "p", arrangement, transport=tempo(120), tracks=track("t", "Keys"))
    (keys,) = load_session(path).tracks
    (clip,) = keys.midi_clips  # nested clips fold into their arrangement clip
    assert (clip.name, clip.start, clip.duration) == ("outer", 4.0, 2.0)
    got = [(n.start, n.duration, n.pitch) for n in keys.notes]
    # Inner clip at content beat 0 plays at beat 6, before the outer clip starts: silent.
    # Inner clip at content beat 3 plays at beat 9; its second note is cut at its end (beat 11).
    # Inner clip at content beat 5.5 plays at beat 11.5; its note at beat 12.5 is past the end.
    assert got == [(4.5, 0.5, 50), (5.25, 0.25, 50), (5.75, 0.25, 70)]


def test_looped_clip_repeats_its_content(tmp_path):
    arrangement = f"""<Lanes><Lanes track="t"><Clips>
        <Clip time="0" duration="5" loopStart="0" loopEnd="2" playStart="1">{notes(0, 1.5, length=0.25)}</Clip>
      </Clips></Lanes></Lanes>"""
    path = write_project(tmp_path / "p", arrangement, transport=tempo(60), tracks=track("t", "Loop"))
    (loop,) = load_session(path).tracks
    # Content 1..2, then 0..2 twice, cut at 5 s: notes at content 1.5 | 0, 1.5 | 0, 1.5 | 0.
    assert [n.start for n in loop.notes] == pytest.approx([0.5, 1.0, 2.5, 3.0, 4.5])


def test_embedded_audio_in_nested_clips_and_warps(tmp_path, private_cache):
    audio = wav_bytes(tmp_path, 3.0)
    arrangement = """<Lanes timeUnit="beats"><Lanes track="a"><Clips>
        <Clip time="4" duration="4" contentTimeUnit="seconds" name="take"><Clips>
          <Clip time="0" duration="2" playStart="0.5" fadeTimeUnit="seconds" fadeInTime="0.1">
            <Audio duration="3.0" sampleRate="22050" channels="1"><File path="audio/tone.wav"/></Audio>
          </Clip>
        </Clips></Clip>
        <Clip time="10" duration="4" contentTimeUnit="beats" playStart="1" enable="false">
          <Warps contentTimeUnit="seconds">
            <Audio duration="3.0" sampleRate="22050" channels="1"><File path="audio/tone.wav"/></Audio>
            <Warp time="0" contentTime="0"/><Warp time="8" contentTime="3.0"/>
          </Warps>
        </Clip>
      </Clips></Lanes></Lanes>"""
    path = write_project(tmp_path / "p", arrangement, transport=tempo(120), tracks=track("a", "Audio", "audio"),
                         files={"audio/tone.wav": audio, "audio/unused.wav": audio})
    session = load_session(path)
    (plain, warped) = session.tracks[0].clips
    assert (plain.start, plain.duration, plain.source_offset, plain.playrate) == (2.0, 2.0, 0.5, 1.0)
    assert plain.fade_in == pytest.approx(0.1) and plain.name == "take"
    assert not plain.missing and plain.source_duration == pytest.approx(3.0)
    # Beats 10..14 (5..7 s) show content beats 1..5 of 8 beats stretched over 3 s of audio.
    assert (warped.start, warped.duration, warped.muted) == (5.0, 2.0, True)
    assert warped.source_offset == pytest.approx(3.0 / 8)
    assert warped.source_time(2.0) == pytest.approx(5 * 3.0 / 8)
    assert warped.warp
    # Only the member the clips play is extracted, once.
    extracted = sorted(p.relative_to(private_cache) for p in private_cache.rglob("*") if p.is_file())
    assert [p.name for p in extracted] == ["tone.wav"]
    assert plain.source == warped.source


def test_warps_follow_a_tempo_ramp(tmp_path):
    arrangement = """<Lanes timeUnit="beats"><Lanes track="a"><Clips>
        <Clip time="0" duration="8"><Warps contentTimeUnit="seconds">
          <Audio duration="4" sampleRate="22050" channels="1"><File path="audio/tone.wav"/></Audio>
          <Warp time="0" contentTime="0"/><Warp time="8" contentTime="4"/>
        </Warps></Clip>
      </Clips></Lanes></Lanes>
      <TempoAutomation unit="bpm"><Target parameter="tempo"/>
        <RealPoint time="0" value="120" interpolation="linear"/><RealPoint time="8" value="60"/>
      </TempoAutomation>"""
    path = write_project(tmp_path / "p", arrangement, transport=tempo(120), tracks=track("a", "Audio", "audio"),
                         files={"audio/tone.wav": wav_bytes(tmp_path, 4.0)})
    session = load_session(path)
    tempo_map = session.tempo
    assert [c["bpm"] for c in tempo_map.changes()] == [120.0, 60.0]
    (clip,) = session.tracks[0].clips
    assert clip.duration == pytest.approx(tempo_map.beats_to_seconds(8))
    assert len(clip.warp) > 2  # the ramp bends the seconds-to-source mapping
    for t in (0.5, 1.7, 3.9, clip.duration - 0.01):
        assert clip.source_time(t) == pytest.approx(tempo_map.seconds_to_beats(t) / 2, abs=1e-3)


def test_tempo_automation_in_seconds_ramps_over_time(tmp_path):
    arrangement = f"""<Lanes timeUnit="beats"><Lanes track="t"><Clips>
        <Clip time="0" duration="16">{notes(8)}</Clip></Clips></Lanes></Lanes>
      <TempoAutomation timeUnit="seconds"><Target parameter="tempo"/>
        <RealPoint time="0" value="120" interpolation="linear"/><RealPoint time="4" value="60"/>
      </TempoAutomation>
      <TimeSignatureAutomation timeUnit="seconds"><Target parameter="sig"/>
        <TimeSignaturePoint time="4" numerator="6" denominator="8"/></TimeSignatureAutomation>"""
    signature = '<TimeSignature id="sig" numerator="3" denominator="4"/>'
    path = write_project(tmp_path / "p", arrangement, transport=tempo(100) + signature, tracks=track("t", "Keys"))
    session = load_session(path)
    # Linear in time from 120 to 60 bpm over 4 s: (120 + 60) / 2 * 4 / 60 = 6 beats, then 60 bpm.
    assert session.tempo.seconds_to_beats(4.0) == pytest.approx(6.0)
    assert session.tracks[0].notes[0].start == pytest.approx(4.0 + 2 * 1.0)
    assert [(ts.beat, ts.numerator, ts.denominator) for ts in session.tempo.time_signatures] == \
           [(0.0, 3, 4), (pytest.approx(6.0), 6, 8)]


def test_external_audio_present_and_missing(tmp_path):
    folder = tmp_path / "p"
    (folder / "media").mkdir(parents=True)
    (folder / "media" / "here.wav").write_bytes(wav_bytes(tmp_path, 1.5))
    (tmp_path / "library").mkdir()
    (tmp_path / "library" / "up.wav").write_bytes(wav_bytes(tmp_path, 0.5))
    absolute = tmp_path / "library" / "abs.wav"
    absolute.write_bytes(wav_bytes(tmp_path, 0.75))
    arrangement = f"""<Lanes timeUnit="seconds"><Lanes track="a"><Clips>
        <Clip time="6" duration="0.5"><Audio duration="0.5" sampleRate="22050" channels="1">
          <File path="../library/up.wav" external="true"/></Audio></Clip>
        <Clip time="7" duration="0.5"><Audio duration="0.75" sampleRate="22050" channels="1">
          <File path="{absolute}" external="true"/></Audio></Clip>
        <Clip time="1" duration="1" contentTimeUnit="seconds" playStart="0.25">
          <Audio duration="1.5" sampleRate="22050" channels="1">
            <File path="media/here.wav" external="true"/></Audio></Clip>
        <Clip time="3" duration="2"><Audio duration="2" sampleRate="22050" channels="1">
          <File path="media/gone.wav" external="true"/></Audio></Clip>
      </Clips></Lanes></Lanes>"""
    path = write_project(folder, arrangement, tracks=track("a", "Audio", "audio"))
    session = load_session(path)
    up, absolute_clip, here, gone = session.tracks[0].clips
    assert Path(up.source).resolve() == tmp_path / "library" / "up.wav" and not up.missing
    assert Path(absolute_clip.source) == absolute and absolute_clip.source_duration == pytest.approx(0.75, abs=1e-3)
    assert Path(here.source) == folder / "media" / "here.wav"
    assert (here.start, here.duration, here.source_offset, here.missing) == (1.0, 1.0, 0.25, False)
    assert here.source_duration == pytest.approx(1.5)
    assert gone.missing and (gone.start, gone.duration) == (3.0, 2.0)
    assert session.missing_media == ["media/gone.wav"]


def test_nothing_is_written_beside_the_project(tmp_path, private_cache):
    folder = tmp_path / "p"
    arrangement = """<Lanes><Lanes track="a"><Clips><Clip time="0" duration="2">
        <Audio duration="2" sampleRate="22050" channels="1"><File path="samples/a.wav"/></Audio>
      </Clip></Clips></Lanes></Lanes>"""
    path = write_project(folder, arrangement, tracks=track("a", "Audio", "audio"),
                         files={"samples/a.wav": wav_bytes(tmp_path, 2.0)})
    before = {(p.name, p.stat().st_mtime_ns) for p in folder.rglob("*")}
    first = load_session(path).tracks[0].clips[0]
    again = load_session(path).tracks[0].clips[0]
    assert {(p.name, p.stat().st_mtime_ns) for p in folder.rglob("*")} == before
    assert first.source == again.source and Path(first.source).is_relative_to(private_cache)
    assert not first.missing


def test_damaged_embedded_audio_is_reported_not_fatal(tmp_path, private_cache):
    audio = wav_bytes(tmp_path, 1.0)
    arrangement = """<Lanes><Lanes track="a"><Clips><Clip time="0" duration="1">
        <Audio duration="1" sampleRate="22050" channels="1"><File path="audio/hit.wav"/></Audio>
      </Clip></Clips></Lanes></Lanes>"""
    path = write_project(tmp_path / "p", arrangement, tracks=track("a", "Audio", "audio"),
                         files={"audio/hit.wav": audio})
    data = bytearray(path.read_bytes())
    data[data.index(audio) + len(audio) // 2] ^= 0xFF  # stored uncompressed: the CRC no longer matches
    path.write_bytes(bytes(data))
    session = load_session(path)
    (clip,) = session.tracks[0].clips
    assert clip.missing and session.missing_media == ["audio/hit.wav"]
    assert any("audio/hit.wav inside the project cannot be extracted" in w for w in session.warnings)
    assert not [p for p in private_cache.rglob("*") if p.is_file()]  # no half-written copy is left


def test_undecodable_embedded_audio_is_named_as_the_project_writes_it(tmp_path, private_cache):
    arrangement = """<Lanes><Lanes track="a"><Clips><Clip time="0" duration="1">
        <Audio duration="1" sampleRate="22050" channels="1"><File path="audio/loop.wav"/></Audio>
      </Clip></Clips></Lanes></Lanes>"""
    path = write_project(tmp_path / "p", arrangement, tracks=track("a", "Audio", "audio"),
                         files={"audio/loop.wav": b"RIFF0000 not audio"})
    session = load_session(path)
    (clip,) = session.tracks[0].clips
    assert clip.missing and session.missing_media == ["audio/loop.wav"]  # not its copy in the cache
    assert any(w.startswith("audio/loop.wav inside the project: cannot decode") for w in session.warnings)
    assert not any(str(private_cache) in w for w in session.warnings)


def test_track_structure_and_mixer(tmp_path):
    tracks = (
        '<Track id="f" name="Band" contentType="tracks"><Channel id="f-ch" role="submix">'
        '<Mute value="true"/></Channel>'
        + track("g", "Guitar", "audio", '<Pan unit="linear" min="-1" max="1" value="-0.5"/>'
                                        '<Volume unit="decibel" value="-6"/>')
        + '</Track>'
        + track("k", "Keys", channel='<Pan unit="normalized" value="1"/>').replace(
            'role="regular"', 'role="regular" solo="true"')
        + '<Track id="m" name="Master" contentType="audio notes"><Channel id="m-ch" role="master"/></Track>'
    )
    arrangement = f"""<Lanes><Lanes track="k"><Clips>
        <Clip time="0" duration="2" enable="false">{notes(0)}</Clip>
        <Clip time="2" duration="2">{notes(0)}</Clip></Clips></Lanes>
        <Lanes track="nowhere"><Notes><Note time="1" duration="1" key="30" channel="0"/></Notes></Lanes>
        <Lanes track="k"><Clips><Clip time="6" duration="1" reference="no-such-id"/></Clips></Lanes>
      </Lanes>"""
    session = load_session(write_project(tmp_path / "p", arrangement, tracks=tracks))
    names = [t.name for t in session.tracks]
    assert names == ["Band", "Guitar", "Keys", "Unassigned clips"]
    band, guitar, keys, unassigned = session.tracks
    assert (band.kind, band.muted, guitar.parent, keys.parent) == ("folder", True, 0, None)
    assert guitar.gain == pytest.approx(10 ** (-6 / 20)) and guitar.pan == -0.5
    assert keys.solo and keys.pan == 1.0
    assert [c.muted for c in keys.midi_clips] == [True, False]
    assert [n.start for n in keys.notes] == [1.0]  # the muted clip's note does not sound
    assert [(n.start, n.pitch, n.velocity) for n in unassigned.notes] == [(0.5, 30, 100)]
    assert any("reference is missing" in w for w in session.warnings)
    assert any("unknown tracks" in w for w in session.warnings)


def test_midi_expressions_become_events(tmp_path):
    arrangement = """<Lanes><Lanes track="t"><Clips><Clip time="0" duration="4"><Lanes>
        <Notes><Note time="0" duration="1" key="60" channel="0" vel="1"/></Notes>
        <Points unit="normalized"><Target expression="pitchBend" channel="0"/>
          <RealPoint time="0" value="0.5"/><RealPoint time="1" value="1"/></Points>
        <Points><Target expression="channelController" channel="1" controller="1"/>
          <IntegerPoint time="2" value="64"/></Points>
        <Points><Target parameter="tempo"/><RealPoint time="0" value="1"/></Points>
      </Lanes></Clip></Clips></Lanes></Lanes>"""
    path = write_project(tmp_path / "p", arrangement, transport=tempo(120), tracks=track("t", "Synth"))
    (clip,) = load_session(path).tracks[0].midi_clips
    assert [(e.time, e.kind, e.value, e.channel, e.controller) for e in clip.events] == [
        (0.0, "pitchwheel", 0, 0, None), (0.5, "pitchwheel", 8191, 0, None),
        (1.0, "control_change", 64, 1, 1)]
    assert clip.notes[0].velocity == 127


def test_raw_controller_values_without_a_unit_stay_raw(tmp_path):
    # No unit: the lane is normalized only when all its values are within [-1, 1]; a raw 1
    # among raw values is 1, not 127.
    arrangement = """<Lanes><Lanes track="t"><Clips><Clip time="0" duration="4"><Lanes>
        <Points><Target expression="channelController" channel="0" controller="64"/>
          <RealPoint time="0" value="127"/><RealPoint time="1" value="1"/><RealPoint time="2" value="0"/></Points>
        <Points><Target expression="channelController" channel="0" controller="1"/>
          <RealPoint time="0" value="0.5"/><RealPoint time="1" value="1"/></Points>
      </Lanes></Clip></Clips></Lanes></Lanes>"""
    path = write_project(tmp_path / "p", arrangement, transport=tempo(120), tracks=track("t", "Synth"))
    (clip,) = load_session(path).tracks[0].midi_clips
    assert [(e.time, e.controller, e.value) for e in clip.events] == [
        (0.0, 64, 127), (0.0, 1, 64), (0.5, 64, 1), (0.5, 1, 127), (1.0, 64, 0)]


def test_a_folder_is_mixed_by_the_master_track_inside_it(tmp_path):
    # ProjectConverter writes a REAPER folder as a channel-less folder track holding a
    # "<name> Master" track with role="master" that carries the folder's mute and fader.
    tracks = """<Track contentType="tracks" id="f" name="Drums">
        <Track contentType="notes audio" id="fm" name="Drums Master">
          <Channel role="master" id="fm-ch"><Mute value="true"/><Volume unit="linear" value="0.5"/></Channel>
        </Track>""" + track("k", "Kick") + "</Track>"
    arrangement = f'<Lanes><Lanes track="k"><Clips><Clip time="0" duration="1">{notes(0)}</Clip></Clips></Lanes></Lanes>'
    session = load_session(write_project(tmp_path / "p", arrangement, tracks=tracks))
    folder, kick = session.tracks  # the empty folder master is not a track of its own
    assert (folder.name, folder.kind, folder.muted, folder.gain) == ("Drums", "folder", True, 0.5)
    assert kick.parent == 0 and not kick.muted
    assert session.audible_tracks() == []  # the muted folder silences the kick


def test_linear_controller_ramps_are_followed_and_a_clip_starts_from_the_held_value(tmp_path):
    # 120 bpm. CC1 ramps 0 -> 1 over beats 0..2, then holds; the clip shows beats 1..3 at beat 4.
    points = ('<Points unit="normalized"><Target expression="channelController" channel="0" controller="1"/>'
              '<RealPoint time="0" value="0" interpolation="linear"/>'
              '<RealPoint time="2" value="1" interpolation="hold"/></Points>')
    arrangement = f"""<Lanes timeUnit="beats"><Lanes track="t"><Clips>
        <Clip time="4" duration="2" playStart="1">{points}</Clip></Clips></Lanes></Lanes>"""
    path = write_project(tmp_path / "p", arrangement, transport=tempo(120), tracks=track("t", "Synth"))
    (clip,) = load_session(path).tracks[0].midi_clips
    events = [(e.time, e.value) for e in clip.events]
    # The window opens mid-ramp: the value reached there (half way, 63.5 -> 64) comes first, at 2 s.
    assert events[0] == (pytest.approx(2.0), 64)
    assert events[-1] == (pytest.approx(2.5), 127)  # the ramp ends at content beat 2 = beat 5
    values = [v for _, v in events]
    assert values == sorted(values) and len(values) > 10  # steps up, in 1/32-beat steps
    assert all(b - a < 0.5 / 32 + 1e-9 for (a, _), (b, _) in itertools.pairwise(events))


def test_tempo_automation_in_a_points_lane_of_the_master_track(tmp_path):
    # ProjectConverter (REAPER -> DAWproject) puts the tempo envelope in the master track's lanes,
    # targeting the transport's Tempo parameter, in the arrangement's unit (seconds here).
    tracks = (track("master", "Master", content="audio").replace('role="regular"', 'role="master"')
              + track("t", "Synth"))
    transport = tempo(180) + '<TimeSignature id="sig" numerator="4" denominator="4"/>'
    arrangement = f"""<Lanes timeUnit="seconds">
        <Lanes track="master">
          <Points unit="bpm"><Target parameter="tempo"/>
            <RealPoint time="0" value="180"/><RealPoint time="2" value="90"/></Points>
          <Points><Target parameter="sig"/><TimeSignaturePoint time="2" numerator="7" denominator="8"/></Points>
        </Lanes>
        <Lanes track="t"><Clips timeUnit="beats"><Clip time="8" duration="2">{notes(0)}</Clip></Clips></Lanes>
      </Lanes>"""
    session = load_session(write_project(tmp_path / "p", arrangement, transport=transport, tracks=tracks))
    assert session.tempo.changes() == [{"time": 0.0, "bpm": 180.0}, {"time": 2.0, "bpm": 90.0}]
    assert [(ts.beat, ts.numerator, ts.denominator) for ts in session.tempo.time_signatures] == [
        (0.0, 4, 4), (6.0, 7, 8)]  # 2 s at 180 bpm is beat 6
    (synth,) = session.tracks  # the empty master track is the mix, not a track
    (clip,) = synth.midi_clips  # beat 8: 2 s, then 2 beats at 90 bpm
    assert (clip.start, clip.duration) == (pytest.approx(2 + 2 * 60 / 90), pytest.approx(2 * 60 / 90))


def test_alias_cycle_stops(tmp_path):
    arrangement = """<Lanes><Lanes track="t"><Clips id="loop">
        <Clip time="0" duration="1" reference="loop"/></Clips></Lanes></Lanes>"""
    session = load_session(write_project(tmp_path / "p", arrangement, tracks=track("t", "T")))
    assert session.tracks[0].midi_clips == [] and session.warnings


# ---- files that are not DAWprojects --------------------------------------------------------------
def test_truncated_zip(tmp_path):
    good = write_project(tmp_path / "src", f'<Lanes><Lanes track="t">{notes(0)}</Lanes></Lanes>',
                         tracks=track("t", "T"))
    bad = tmp_path / "cut.dawproject"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(SessionError, match=r"cut\.dawproject: not a DAWproject file: not a readable zip"):
        load_session(bad)


def test_not_a_zip(tmp_path):
    bad = tmp_path / "text.dawproject"
    bad.write_text("<Project/>")
    with pytest.raises(SessionError, match="not a readable zip archive") as err:
        load_session(bad)
    assert "\n" not in str(err.value) and str(bad) in str(err.value)


def test_zip_without_project_xml(tmp_path):
    path = tmp_path / "empty.dawproject"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.xml", "<MetaData/>")
    with pytest.raises(SessionError, match="holds no project.xml"):
        load_session(path)


def test_malformed_xml_and_wrong_root(tmp_path):
    path = tmp_path / "broken.dawproject"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("project.xml", "<Project><Structure></Project>")
    with pytest.raises(SessionError, match=r"broken\.dawproject: project.xml .* not well-formed XML"):
        load_session(path)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("project.xml", "<MetaData/>")
    with pytest.raises(SessionError, match="not a DAWproject <Project>"):
        load_session(path)


def test_cache_folder_is_the_user_cache_and_follows_the_file(tmp_path, private_cache):
    path = write_project(tmp_path / "p", "<Lanes/>")
    first = dawproject.project_cache_dir(path)
    assert first.is_relative_to(private_cache / "dawproject")
    path.write_bytes(path.read_bytes() + b"\0")
    assert dawproject.project_cache_dir(path) != first
