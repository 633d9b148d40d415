"""The Ardour reader on the two real sessions of the corpus and on synthetic Ardour 3 / 7 sessions.

Expected values were read from the XML and the SMF files by hand (grep, mido), not from the reader:
TestAudio (format 3001, 44.1 kHz): Voice.1 holds Voice-2.2 (start 0, length 145920, position 0),
Voice-2.3 (start 170496, length 131584, position 202240) and Voice-3.1 (length 166912, position
335360), each on sources `X%L.wav` + `X%R.wav`; yoshimi-1.1 starts 54272 samples into
yoshimi-1%L/%R (absent); FreeSound.1 stacks region 1342 (layer 1, %L/%R absent) exactly over
region 712 (layer 0, the external file at its absolute `origin`, absent).
Dreams (format 3002, 120 BPM): e.g. Audio+MIDI-6.10 sits at sample 882000 and plays quarter
notes 43.9921875 .. +16 of Audio+MIDI-6.mid, where 48 note-ons fall.
"""

import os
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf

from plugin.session import AudioClip, SessionError, load_session
from plugin.session.readers import ardour

SR = 44100.0


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def test_audio(sessions_dir):
    return ardour.read(sessions_dir / "ardour" / "TestAudio" / "Test.ardour")


@pytest.fixture(scope="module")
def dreams(sessions_dir):
    return ardour.read(sessions_dir / "ardour" / "Dreams" / "Dreams.ardour")


def _track(session, name):
    return next(t for t in session.tracks if t.name == name)


def _midi_clip(session, name):
    return next(c for t in session.tracks for c in t.midi_clips if c.name == name)


# ---- TestAudio: Ardour 4/5, audio in samples, split mono, missing media -------------------------

def test_test_audio_tracks_in_editor_order_without_master(test_audio):
    assert test_audio.format == "ardour"
    assert test_audio.sample_rate == SR
    assert [t.name for t in test_audio.tracks] == ["Voice", "Drum", "yoshimi", "FreeSound"]
    assert all(t.kind == "audio" and not t.muted and not t.solo for t in test_audio.tracks)
    assert test_audio.tempo.changes() == [{"time": 0.0, "bpm": 120.0}]


def test_test_audio_region_positions_in_seconds(test_audio):
    voice = _track(test_audio, "Voice")
    assert [c.name for c in voice.clips] == ["Voice-2.2", "Voice-2.3", "Voice-3.1"]
    expected = [(0, 145920, 0), (202240, 131584, 170496), (335360, 166912, 0)]  # position, length, start
    for clip, (position, length, start) in zip(voice.clips, expected):
        assert clip.start == pytest.approx(position / SR)
        assert clip.duration == pytest.approx(length / SR)
        assert clip.source_offset == pytest.approx(start / SR)
    assert voice.clips[0].gain == pytest.approx(6.11464357376)
    assert voice.clips[2].gain == pytest.approx(4.95265293121)
    # every fade curve in the file ends at sample 64
    assert voice.clips[0].fade_in == pytest.approx(64 / SR) and voice.clips[0].fade_out == pytest.approx(64 / SR)
    yoshimi = _track(test_audio, "yoshimi").clips[0]
    assert yoshimi.source_offset == pytest.approx(54272 / SR) and yoshimi.duration == pytest.approx(1012736 / SR)


def test_test_audio_split_mono_is_one_clip_with_both_channel_files(test_audio):
    drum = _track(test_audio, "Drum").clips[0]
    folder = "interchange/Test/audiofiles"
    assert [Path(f).as_posix().endswith(f"{folder}/Drum-1%{side}.wav") for f, side in zip(drum.channel_files, "LR")] \
        == [True, True]
    assert drum.source == drum.channel_files[0]
    assert not drum.missing
    assert drum.source_channels == 2  # two mono files
    assert drum.source_duration == pytest.approx(361472 / SR)
    assert drum.duration == pytest.approx(361472 / SR)


def test_test_audio_lists_the_external_source_and_two_more_missing_sources(test_audio):
    external = ("/home/yurikoster1/Documents/Git/TestAudio/Test/externals/"
                "348069__dobroide__20160616-dusk-into-night-14.wav")
    missing = test_audio.missing_media
    assert external in missing
    names = sorted(Path(m).name for m in missing if m != external)
    assert names == sorted([
        "yoshimi-1%L.wav", "yoshimi-1%R.wav",
        "348069__dobroide__20160616-dusk-into-night-14%L.wav",
        "348069__dobroide__20160616-dusk-into-night-14%R.wav",
    ])
    assert len(missing) == 5
    present = [c for t in test_audio.tracks for c in t.clips if not c.missing]
    assert {c.name for c in present} == {"Voice-2.2", "Voice-2.3", "Voice-3.1", "Drum-1.1"}


def test_test_audio_layers_bottom_first_and_covered_region_is_silent(test_audio):
    below, above = _track(test_audio, "FreeSound").clips
    # region 712 (layer 0): both sources are channels 0 and 1 of one external stereo file
    assert below.name.endswith(".1") and below.channel_files == () and below.source.endswith("night-14.wav")
    assert above.name.endswith(".4") and len(above.channel_files) == 2
    assert (below.start, below.duration) == (above.start, above.duration) == (0.0, pytest.approx(10019663 / SR))
    assert below.muted and not above.muted


# ---- Dreams: Ardour 5.12 MIDI regions ----------------------------------------------------------

def test_dreams_midi_tracks_and_regions(dreams):
    assert [t.name for t in dreams.tracks] == ["Audio+MIDI", "Audio+MIDI 1", "Audio+MIDI 2", "Audio+MIDI 3",
                                              "Audio+MIDI 4"]
    assert all(t.kind == "midi" for t in dreams.tracks)
    assert [len(t.midi_clips) for t in dreams.tracks] == [9, 18, 9, 0, 0]
    assert _track(dreams, "Audio+MIDI 1").gain == pytest.approx(0.77507734298706055)
    assert dreams.missing_media == [] and dreams.warnings == []


def test_dreams_region_window_into_its_source(dreams):
    clip = _midi_clip(dreams, "Audio+MIDI-6.10")
    assert clip.start == pytest.approx(882000 / SR) and clip.duration == pytest.approx(8.0)
    assert Path(clip.source).name == "Audio+MIDI-6.mid" and not clip.missing
    assert len(clip.notes) == 48
    first = [n for n in clip.notes if n.start == pytest.approx(20.00388, abs=1e-5)]
    assert sorted(n.pitch for n in first) == [48, 53, 57]
    last = max(clip.notes, key=lambda n: n.start)  # quarter 59.00010416666667, 0.3528125 long
    assert last.start == pytest.approx(20.0 + (59.00010416666667 - 43.9921875) * 0.5)
    assert (last.pitch, last.velocity, last.duration) == (48, 80, pytest.approx(0.3528125 * 0.5))


def test_dreams_whole_source_region_and_cut_last_note(dreams):
    clip = _midi_clip(dreams, "Audio+MIDI 2-3.1")
    assert clip.start == 0.0 and clip.duration == pytest.approx(40.820680272108845 * 0.5)
    assert len(clip.notes) == 13
    n = clip.notes[0]
    assert (n.pitch, n.velocity) == (65, 84)
    assert n.start == pytest.approx(3.113932, abs=1e-6) and n.duration == pytest.approx(0.312839, abs=1e-6)

    clip = _midi_clip(dreams, "Audio+MIDI 1-9.1")  # start-beats 2.5468813775510171, 16.0078125 long
    assert clip.start == pytest.approx(3175028 / SR)
    assert len(clip.notes) == 4
    assert clip.notes[0].pitch == 45 and clip.notes[0].start == pytest.approx(72.015628, abs=1e-6)
    window_end = 2.5468813775510171 + 16.0078125
    last = clip.notes[-1]  # quarter 14.5546875 for 4.01 quarters: cut at the region's end
    assert last.duration == pytest.approx((window_end - 14.5546875) * 0.5)


def test_reading_never_writes_into_the_session_folders(sessions_dir):
    for folder in ("TestAudio", "Dreams"):
        root = sessions_dir / "ardour" / folder
        before = _snapshot(root)
        session = load_session(next(root.glob("*.ardour")))
        session.to_json()
        assert _snapshot(root) == before


# ---- synthetic sessions -------------------------------------------------------------------------

def _write_wav(path: Path, seconds: float, rate: int = 48000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.zeros(int(seconds * rate), dtype=np.float32), rate)


def _write_midi(path: Path, notes: list[tuple[float, float, int]], tpb: int = 1920) -> None:
    """(beat, length, pitch) notes in an SMF, as Ardour writes its sources (no tempo events)."""
    events = []
    for beat, length, pitch in notes:
        events.append((round(beat * tpb), 1, mido.Message("note_on", note=pitch, velocity=90)))
        events.append((round((beat + length) * tpb), 0, mido.Message("note_off", note=pitch, velocity=0)))
    track = mido.MidiTrack()
    now = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(msg.copy(time=tick - now))
        now = tick
    mid = mido.MidiFile(ticks_per_beat=tpb)
    mid.tracks.append(track)
    path.parent.mkdir(parents=True, exist_ok=True)
    mid.save(str(path))


SC = 56_448_000  # superclocks per second: not Ardour's default, so the reader must read it
TICKS = 1920


def _seven_session(tmp_path: Path, rate_on_session: bool) -> Path:
    """An Ardour 7 style session: 90 BPM for 8 quarters, then 120 BPM; a/b timepos strings."""
    def a(seconds: float) -> str:
        return f"a{round(seconds * SC)}"

    def b(quarters: float) -> str:
        return f"b{round(quarters * TICKS)}"

    session_rate = f' superclock-ticks-per-second="{SC}"' if rate_on_session else ""
    map_rate = "" if rate_on_session else f' superclocks-per-second="{SC}"'
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<Session version="7003" name="seven" sample-rate="48000"{session_rate}>
  <Sources>
    <Source name="Gtr-1%L.wav" type="audio" flags="" id="101" captured-for="Gtr" channel="0" origin=""/>
    <Source name="Gtr-1%R.wav" type="audio" flags="" id="102" captured-for="Gtr" channel="0" origin=""/>
    <Source name="Keys-1.wav" type="audio" flags="" id="103" captured-for="Keys" channel="0" origin=""/>
    <Source name="Synth-1.mid" type="midi" flags="Writable,CanRename" id="104" origin=""/>
  </Sources>
  <Routes>
    <Route version="7003" id="10" name="Master" default-type="audio">
      <PresentationInfo order="0" flags="MasterOut,OrderSet"/>
    </Route>
    <Route version="7003" id="30" name="Synth" default-type="midi" midi-playlist="300">
      <PresentationInfo order="2" flags="MidiTrack,OrderSet"/>
      <Controllable name="solo" id="31" flags="Toggle,RealTime" value="1" self-solo="1"/>
      <Controllable name="mute" id="32" flags="Toggle,RealTime" value="0"/>
    </Route>
    <Route version="7003" id="20" name="Gtr" default-type="audio" audio-playlist="200">
      <PresentationInfo order="1" flags="AudioTrack,OrderSet"/>
      <Controllable name="mute" id="22" flags="Toggle,RealTime" value="1"/>
      <Pannable><Controllable name="pan-azimuth" id="23" value="0.25"/></Pannable>
      <Processor id="24" name="Amp" active="1" type="amp">
        <Controllable name="gaincontrol" id="25" flags="GainLike" value="0.5"/>
      </Processor>
    </Route>
  </Routes>
  <Playlists>
    <Playlist id="200" name="Gtr.1" type="audio" orig-track-id="20">
      <Region name="Gtr-1.1" muted="0" opaque="1" start="{a(0.5)}" length="{a(2.0)}@{a(1.0)}"
              layering-index="0" scale-amplitude="0.5" fade-in-active="1" fade-out-active="0"
              id="210" type="audio" source-0="101" source-1="102" master-source-0="101" master-source-1="102"
              channels="2">
        <FadeIn><AutomationList automation-id="fadein" id="211"><events>a0 0
{a(0.25)} 1
</events></AutomationList></FadeIn>
      </Region>
      <Region name="Keys-1.1" muted="1" opaque="1" start="a0" length="{a(1.5)}@{b(4)}" layering-index="1"
              id="220" type="audio" source-0="103" master-source-0="103" channels="1"/>
    </Playlist>
    <Playlist id="300" name="Synth.1" type="midi" orig-track-id="30">
      <Region name="Synth-1.1" muted="0" opaque="1" start="{b(1)}" length="{b(4)}@{b(8)}" layering-index="0"
              id="310" type="midi" source-0="104" master-source-0="104"/>
    </Playlist>
  </Playlists>
  <UnusedPlaylists/>
  <TempoMap{map_rate}>
    <Tempos>
      <Tempo npm="90" enpm="90" note-type="4" type="Constant" locked-to-meter="0" continuing="0" active="1"
             sclock="0" quarters="0:0" bbt="1|1|0" omega="0"/>
      <Tempo npm="120" enpm="120" note-type="4" type="Constant" locked-to-meter="0" continuing="0" active="1"
             sclock="{round(8 * 60 / 90 * SC)}" quarters="8:0" bbt="3|3|0" omega="0"/>
    </Tempos>
    <Meters>
      <Meter note-value="4" divisions-per-bar="3" sclock="0" quarters="0:0" bbt="1|1|0"/>
    </Meters>
    <MusicTimes/>
  </TempoMap>
</Session>
"""
    audio = tmp_path / "interchange" / "seven" / "audiofiles"
    _write_wav(audio / "Gtr-1%L.wav", 3.0)
    _write_wav(audio / "Gtr-1%R.wav", 3.0)
    # quarters 0 and 5.5 fall outside the region's window [1, 5); the note at 4.5 is cut at 5
    _write_midi(tmp_path / "interchange" / "seven" / "midifiles" / "Synth-1.mid",
                [(0.0, 0.5, 48), (1.0, 1.0, 60), (2.5, 0.5, 62), (4.5, 1.0, 64), (5.5, 0.5, 65)])
    path = tmp_path / "seven.ardour"
    path.write_text(xml, encoding="utf-8")
    return path


@pytest.mark.parametrize("rate_on_session", [True, False], ids=["session-attribute", "tempo-map-attribute"])
def test_ardour7_timepos_strings_with_a_non_default_superclock(tmp_path, rate_on_session):
    path = _seven_session(tmp_path, rate_on_session)
    before = _snapshot(tmp_path)
    session = load_session(path)
    assert _snapshot(tmp_path) == before
    assert session.warnings == []
    assert session.tempo.changes() == [{"time": 0.0, "bpm": 90.0}, {"time": pytest.approx(16 / 3), "bpm": 120.0}]
    ts = session.tempo.time_signatures[0]
    assert (ts.numerator, ts.denominator) == (3, 4)
    assert [t.name for t in session.tracks] == ["Gtr", "Synth"]

    gtr, synth = session.tracks
    assert gtr.muted and not gtr.solo and gtr.gain == 0.5 and gtr.pan == pytest.approx(-0.5)
    assert synth.solo and not synth.muted and synth.kind == "midi"
    split, keys = gtr.clips
    assert (split.start, split.duration, split.source_offset) == (pytest.approx(1.0), pytest.approx(2.0),
                                                                   pytest.approx(0.5))
    assert [Path(f).name for f in split.channel_files] == ["Gtr-1%L.wav", "Gtr-1%R.wav"]
    assert not split.missing and split.source_channels == 2 and split.gain == 0.5
    assert split.fade_in == pytest.approx(0.25) and split.fade_out == 0.0
    # positioned in music time: quarter 4 at 90 BPM
    assert keys.start == pytest.approx(4 * 60 / 90) and keys.duration == pytest.approx(1.5) and keys.muted
    assert session.missing_media == [str(tmp_path / "interchange" / "seven" / "audiofiles" / "Keys-1.wav")]

    (clip,) = synth.midi_clips
    bar = 8 * 60 / 90  # the region starts at quarter 8, where 120 BPM begins
    assert clip.start == pytest.approx(bar) and clip.duration == pytest.approx(2.0)
    assert [(n.pitch, n.start, n.duration) for n in clip.notes] == [
        (60, pytest.approx(bar), pytest.approx(0.5)),
        (62, pytest.approx(bar + 0.75), pytest.approx(0.25)),
        (64, pytest.approx(bar + 1.75), pytest.approx(0.25)),
    ]


def test_ardour7_without_a_superclock_rate_says_it_assumes_the_default(tmp_path):
    path = _seven_session(tmp_path, rate_on_session=True)
    text = path.read_text(encoding="utf-8").replace(f' superclock-ticks-per-second="{SC}"', "")
    text = text.replace(f"a{round(1.0 * SC)}", f"a{ardour.DEFAULT_SUPERCLOCK_RATE}")
    path.write_text(text, encoding="utf-8")
    session = ardour.read(path)
    assert any("superclock" in w for w in session.warnings)
    assert session.tracks[0].clips[0].start == pytest.approx(1.0)


def test_ardour3_tempo_map_placed_by_bars_and_beats(tmp_path):
    path = tmp_path / "old.ardour"
    path.write_text("""<?xml version="1.0" encoding="UTF-8"?>
<Session version="3001" name="old" sample-rate="44100">
  <Routes/><Playlists/>
  <TempoMap>
    <Tempo start="1|1|0" beats-per-minute="120.000000" note-type="4.000000" movable="no"/>
    <Tempo start="3|1|0" beats-per-minute="60.000000" note-type="8.000000" movable="yes"/>
    <Meter start="1|1|0" note-type="4.000000" divisions-per-bar="3.000000" movable="no"/>
  </TempoMap>
</Session>
""", encoding="utf-8")
    session = ardour.read(path)
    # bar 3 starts after 2 bars of 3/4 = 6 quarters = 3 s; 60 eighths per minute = 30 quarters per minute
    assert session.tempo.changes() == [{"time": 0.0, "bpm": 120.0}, {"time": 3.0, "bpm": 30.0}]
    assert session.tracks == []


@pytest.mark.parametrize("content, reason", [
    (b"\x00\x01binary junk", "malformed XML"),
    (b'<?xml version="1.0"?>\n<Session version="3001" name="x" sample-rate="48000">\n  <Routes>\n    <Rou',
     "malformed XML"),
    (b'<?xml version="1.0"?><Project name="x"/>', "root element is <Project>"),
])
def test_bad_files_give_one_line_naming_the_file(tmp_path, content, reason):
    path = tmp_path / "broken.ardour"
    path.write_bytes(content)
    with pytest.raises(SessionError) as err:
        load_session(path)
    message = str(err.value)
    assert message.startswith(str(path)) and reason in message and "\n" not in message


def test_unknown_source_and_garbage_times_skip_the_region_with_a_warning(tmp_path):
    path = tmp_path / "odd.ardour"
    path.write_text("""<?xml version="1.0" encoding="UTF-8"?>
<Session version="3001" name="odd" sample-rate="48000">
  <Sources><Source name="A.wav" type="audio" id="1" origin=""/></Sources>
  <Routes>
    <Route id="5" name="A" default-type="audio"><Diskstream playlist="A.1" name="A" id="6"/></Route>
  </Routes>
  <Playlists>
    <Playlist id="7" name="A.1" type="audio" orig-track-id="5">
      <Region name="ghost" start="0" length="48000" position="0" source-0="99"/>
      <Region name="garbled" start="0" length="lots" position="0" source-0="1"/>
      <Region name="fine" start="0" length="48000" position="96000" source-0="1"/>
    </Playlist>
  </Playlists>
  <TempoMap/>
</Session>
""", encoding="utf-8")
    session = ardour.read(path)
    (track,) = session.tracks
    assert [c.name for c in track.clips] == ["fine"]
    assert track.clips[0].start == 2.0 and track.clips[0].missing
    assert len(session.warnings) == 2
    assert "'ghost'" in session.warnings[0] and "99" in session.warnings[0]
    assert "'garbled'" in session.warnings[1]
    assert session.missing_media == [os.path.join(str(tmp_path), "interchange", "odd", "audiofiles", "A.wav")]


def test_compound_region_plays_the_part_of_its_nested_playlist_it_shows(tmp_path):
    _write_wav(tmp_path / "interchange" / "comp" / "audiofiles" / "A.wav", 4.0)
    path = tmp_path / "comp.ardour"
    path.write_text("""<?xml version="1.0" encoding="UTF-8"?>
<Session version="3002" name="comp" sample-rate="48000">
  <Sources>
    <Source name="A.wav" type="audio" id="1" channel="0" origin=""/>
    <Source name="Combined" type="audio" id="50" playlist="60" offset="0" length="144000" original="50" channel="0">
      <Playlist id="60" name="Combine 1" type="audio" orig-track-id="5">
        <Region name="A.1" start="0" length="48000" position="0" layering-index="0" scale-amplitude="0.5"
                source-0="1"/>
        <Region name="A.2" start="48000" length="48000" position="96000" layering-index="1" source-0="1"/>
      </Playlist>
    </Source>
  </Sources>
  <Routes>
    <Route id="5" name="A" default-type="audio"><Diskstream playlist="A.1" name="A" id="6"/></Route>
  </Routes>
  <Playlists>
    <Playlist id="7" name="A.1" type="audio" orig-track-id="5">
      <Region name="compound" start="24000" length="96000" position="480000" scale-amplitude="2" source-0="50"/>
    </Playlist>
  </Playlists>
  <TempoMap/>
</Session>
""", encoding="utf-8")
    session = ardour.read(path)
    assert session.warnings == []
    # the compound shows nested seconds 0.5 .. 2.5 at 10 s: A.1 (0..1 s) and A.2 (2..3 s) are cut to it
    first, second = session.tracks[0].clips
    assert (first.start, first.duration, first.source_offset, first.gain) == (10.0, 0.5, 0.5, 1.0)
    assert (second.start, second.duration, second.source_offset, second.gain) == (11.5, 0.5, 1.0, 2.0)
    assert not first.missing and Path(first.source).name == "A.wav"


# ---- layering: what opaque regions above leave audible ------------------------------------------

def _layered(layer, start, end, opaque=True, muted=False, **fields):
    from plugin.session.readers.ardour import _Layered
    return _Layered(layer, opaque, muted, AudioClip(start=start, duration=end - start, source="x.wav",
                                                    muted=muted, **fields))


def test_a_region_partly_covered_keeps_only_what_still_sounds():
    from plugin.session.readers.ardour import _mute_covered
    below = _layered(0, 0.0, 10.0, source_offset=2.0, fade_in=0.5, fade_out=1.0, gain=0.7)
    clips = _mute_covered([below, _layered(1, 4.0, 6.0), _layered(2, 8.5, 12.0)])
    pieces = [(c.start, c.end, c.source_offset, c.fade_in, c.fade_out, c.gain) for c in clips[:-2]]
    assert pieces == [(0.0, 4.0, 2.0, 0.5, 0.0, 0.7), (6.0, 8.5, 8.0, 0.0, 0.0, 0.7)]
    assert [(c.start, c.end, c.muted) for c in clips[-2:]] == [(4.0, 6.0, False), (8.5, 12.0, False)]


@pytest.mark.parametrize("above, expected", [
    (dict(layer=1, start=0.0, end=10.0), "muted"),  # wholly covered
    (dict(layer=1, start=2.0, end=5.0, opaque=False), "whole"),  # transparent
    (dict(layer=1, start=2.0, end=5.0, muted=True), "whole"),  # muted by the user
    (dict(layer=0, start=2.0, end=5.0), "whole"),  # same layer: both sound
    (dict(layer=1, start=10.0, end=12.0), "whole"),  # touches, does not overlap
])
def test_what_covers_a_region(above, expected):
    from plugin.session.readers.ardour import _mute_covered
    clips = _mute_covered([_layered(0, 0.0, 10.0), _layered(**above)])
    below = clips[0]
    assert len(clips) == 2
    assert (below.muted, below.start, below.end) == ((True, 0.0, 10.0) if expected == "muted" else (False, 0.0, 10.0))
