"""The REAPER reader on the real projects in ../shared/sessions/reaper and on small synthetic ones.

Expected values were read from the .rpp files themselves (grep / sed), not from the reader.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from plugin.session import SessionError, load_session
from plugin.session.readers.reaper import parse_project, tokenize

REPO = Path(__file__).resolve().parents[1]
BEAT_205 = 60.0 / 205.0  # seconds per quarter note in external-media (TEMPO 205 4 4)


def _real_projects(sessions_dir: Path) -> list[Path]:
    return sorted(p for p in (sessions_dir / "reaper").rglob("*") if p.suffix.lower() == ".rpp")


def _write_project(folder: Path, body: str, header: str = "TEMPO 120 4 4", name: str = "song.rpp") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f'<REAPER_PROJECT 0.1 "7.0/linux-x86_64" 1700000000\n{header}\n{body}\n>\n', encoding="utf-8")
    return path


def _midi_item(position: float, length: float, events: str, extra: str = "", source: str = "MIDI") -> str:
    return f"""<ITEM
  POSITION {position}
  LENGTH {length}
  LOOP 0
  {extra}
  <SOURCE {source}
    HASDATA 1 960 QN
{events}
  >
>"""


# ---- the real corpus -----------------------------------------------------------------------

def test_every_real_project_loads(sessions_dir):
    projects = _real_projects(sessions_dir)
    assert len(projects) == 12
    for path in projects:
        session = load_session(path)
        assert session.format == "reaper"
        json.dumps(session.to_json())


def test_empty_projects_have_no_tracks_and_the_tempo_line(sessions_dir):
    for name in ("empty/empty.rpp", "external-media/multiple-media-paths.rpp"):
        session = load_session(sessions_dir / "reaper" / name)
        assert session.tracks == []
        assert session.tempo.changes() == [{"time": 0.0, "bpm": 120.0}]
        assert session.sample_rate == 44100.0


def test_external_media_tracks_folders_and_mixer(sessions_dir):
    session = load_session(sessions_dir / "reaper" / "external-media" / "with-external-files.rpp")
    assert session.sample_rate == 48000.0
    assert session.tempo.changes() == [{"time": 0.0, "bpm": 205.0}]
    assert [t.name for t in session.tracks] == [
        "Drums", "MT-PowerDrumKit", "Kick+Snare+Toms", "Cymbals", "Track 5", "Left", "Left", "Left", "Right",
        "Left", "Right", "Bass", "Vocals map", "Lead", "Lead", "Lead", "Backing", "Backing", "Backing",
    ]
    # ISBUS 1 1 opens a folder, ISBUS 2 -1 is its last track.
    assert [t.parent for t in session.tracks] == [
        None, 0, 0, 0, None, 4, 4, 4, 4, 4, 4, None, None, 12, 12, 12, 12, 12, 12,
    ]
    kinds = [t.kind for t in session.tracks]
    assert kinds[0] == "midi"  # a folder with MIDI items of its own keeps them
    assert kinds[4] == kinds[12] == "folder"
    assert [i for i, t in enumerate(session.tracks) if t.muted] == [5, 15, 16, 17]  # MUTESOLO 1 0 0
    assert [len(t.clips) for t in session.tracks] == [0, 0, 0, 0, 0, 3, 6, 3, 4, 9, 8, 0, 0, 3, 5, 2, 3, 2, 0]
    assert [len(t.midi_clips) for t in session.tracks][:3] == [2, 38, 0]
    assert session.tracks[3].gain == pytest.approx(0.84084642809367)
    assert session.tracks[5].pan == pytest.approx(-0.504)


def test_external_media_audio_clips_and_missing_media(sessions_dir):
    session = load_session(sessions_dir / "reaper" / "external-media" / "with-external-files.rpp")
    assert len(session.missing_media) == 27  # distinct FILE lines; none of the media is in the corpus
    assert "media\\06-Left-201115_1121.wv" in session.missing_media
    assert (r"D:\OneDrive\Coral Springs\Muziek\0. Nu projecten\Like Noordzee\Versie 2\media\06-Links-191102_1335.wav"
            in session.missing_media)
    left = session.tracks[5].clips
    assert [c.start for c in left] == pytest.approx([28.0975625, 423.8048790650401, 435.51219512195121])
    assert left[1].gain == 0.0  # VOLPAN 0 0 1 -1: item trim at -inf dB
    stretched = left[2]
    assert stretched.duration == pytest.approx(19.31707317067224)
    assert stretched.source_offset == pytest.approx(1.42855571711104)
    assert stretched.playrate == pytest.approx(0.95348837209301)
    assert stretched.fade_in == pytest.approx(0.010488)
    assert stretched.missing


def test_external_media_midi_items_loop_their_source(sessions_dir):
    session = load_session(sessions_dir / "reaper" / "external-media" / "with-external-files.rpp")
    drums = session.tracks[0].midi_clips
    # Each item is 9.3658... s = 32 quarter notes long; its source is 7680 ticks = 8 quarter notes
    # holding 18 notes, and LOOP 1 repeats it four times.
    assert [c.start for c in drums] == pytest.approx([435.51219512195081, 444.8780487804878])
    assert [len(c.notes) for c in drums] == [72, 72]
    first = drums[0].notes
    assert first[0].start == pytest.approx(435.51219512195081)
    assert [n.start - first[0].start for n in first[18::18]] == pytest.approx([8 * BEAT_205, 16 * BEAT_205, 24 * BEAT_205])
    # MT-PowerDrumKit's first item: 4 quarter notes long, SOFFS 1.1707 s = 4 QN into a 4 QN looping
    # source of four 120-tick notes of pitch 0x2a, velocity 0x56.
    clip = session.tracks[1].midi_clips[0]
    assert (clip.start, clip.duration) == pytest.approx((2.34146341463415, 1.17073170731707))
    assert [n.start for n in clip.notes] == pytest.approx([2.34146341463415 + k * BEAT_205 for k in range(4)])
    assert {(n.pitch, n.velocity) for n in clip.notes} == {(42, 86)}
    assert [n.duration for n in clip.notes] == pytest.approx([120 / 960 * BEAT_205] * 4)


def test_takes_play_the_selected_take(sessions_dir):
    session = load_session(sessions_dir / "reaper" / "takes" / "test.RPP")
    assert [t.name for t in session.tracks] == ["Track 1", "Track 2"]  # NAME "": what REAPER shows
    assert session.tracks[0].gain == pytest.approx(1.05316005474485)
    clips = session.tracks[0].clips
    # Every item's `TAKE SEL` is 01-201205_2144.wav, which is not in the corpus (1424 and 1454 are).
    assert {c.source for c in clips} == {"01-201205_2144.wav"}
    assert all(c.missing for c in clips)
    assert session.missing_media == ["01-201205_2144.wav"]
    starts = [0.0, 3.45977324263039, 4.08671201814059, 62.98233333333334]
    assert [c.start for c in clips] == pytest.approx(starts)
    assert [c.source_offset for c in clips] == pytest.approx(starts)
    assert [c.duration for c in clips] == pytest.approx([3.45977324263039, 0.6269387755102, 58.89562131519275,
                                                         75.07866666666666])
    assert [c.name for c in clips] == ["01-201205_2144.wav"] * 4


def test_piano_recording_found_by_name_beside_the_project(sessions_dir):
    folder = sessions_dir / "reaper" / "piano-recording"
    session = load_session(folder / "demo.rpp")
    (track,) = session.tracks
    (clip,) = track.clips
    assert track.name == "chopin"
    assert clip.source == str(folder / "chopin.mp3")  # the project says C:\Users\ricca\...\chopin.mp3
    assert not clip.missing and session.missing_media == []
    assert (clip.start, clip.duration, clip.fade_in) == pytest.approx((0.0, 7.5, 0.01))
    # LOOP 1, but the recording is longer than the item: nothing loops.
    assert clip.source_duration > 7.5 and clip.loop is None


def test_generated_project_with_a_space_in_its_name(sessions_dir):
    folder = sessions_dir / "reaper" / "generated"
    session = load_session(folder / "generate files.RPP")
    clips = session.tracks[0].clips
    assert [c.start for c in clips] == [0.0, 4.5, 8.0, 14.5, 20.5, 27.5]
    assert [c.duration for c in clips] == pytest.approx([3.73863945578231, 2.49385487528345, 4.78931972789116,
                                                         4.84521541950113, 3.74065759637188, 2.60383219954649])
    assert session.missing_media == ["01-200424_0739.wav", "01-200424_0739-03.wav", "01-200424_0739-04.wav",
                                     "01-200424_0739-05.wav"]
    assert [c.source for c in clips if not c.missing] == [str(folder / "01-200424_0739-01.wav"),
                                                          str(folder / "01-200424_0739-02.wav")]


def test_rppp_audio_items_find_relative_media(sessions_dir):
    folder = sessions_dir / "reaper" / "rppp"
    session = load_session(folder / "audio-file-x4.RPP")
    clips = session.tracks[0].clips
    assert [c.start for c in clips] == [0.0, 0.5, 1.0, 1.5]
    assert all(c.duration == pytest.approx(0.10179138321995) for c in clips)
    assert {c.source for c in clips} == {str(folder / "media" / "909-kick.wav")}
    assert session.missing_media == [] and session.short_media == []
    assert clips[0].source_duration == pytest.approx(4489 / 44100)
    take_fx = load_session(folder / "audio-file-with-take-fx.RPP")
    assert len(take_fx.tracks[0].clips) == 1 and not take_fx.tracks[0].clips[0].missing


def test_rppp_midi_item_notes(sessions_dir):
    session = load_session(sessions_dir / "reaper" / "rppp" / "midi-item.RPP")
    (clip,) = session.tracks[0].midi_clips
    assert (clip.start, clip.duration, clip.name) == (2.0, 2.0, "guitar untitled MIDI item")
    # E 0 90 3c 60 / E 480 80 3c 00 / E 480 90 3c 60 ... e 480 90 3d 7c / e 960 80 3d 00, at 120 bpm
    assert [(n.start, n.duration, n.pitch, n.velocity) for n in clip.notes] == [pytest.approx(n) for n in
        [(2.0, 0.25, 60, 96), (2.5, 0.25, 60, 96), (3.0, 0.25, 60, 96), (3.5, 0.5, 61, 124)]]
    assert clip.events == []  # the end-of-source `E 0 b0 7b 00` is not a played controller
    assert load_session(sessions_dir / "reaper" / "rppp" / "empty-item-x3-with-text.RPP").tracks[0].clips == []


def test_rppp_tricky_quoting(sessions_dir):
    session = load_session(sessions_dir / "reaper" / "rppp" / "tricky-strings.RPP")
    assert [t.name for t in session.tracks] == [
        "Track 1", '"', '""', '"""', "'", "''", "'''", "`", "``", "```",
        "'''```\"\"\"",  # from the <NAME |...> block that follows NAME `''''''"""`
        "NAME", 'hel"lo', 'hello"', "<HELLO world >", "<>", "<",
    ]


def test_vst_project_names_folders_and_lower_case_events(sessions_dir):
    session = load_session(sessions_dir / "reaper" / "vst" / "vst.RPP")
    names = [t.name for t in session.tracks]
    assert names == ["5.50", "Synth", "|Beep Boop", "Boop",
                     "0123456789 abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!\"#$%&'()*+,-./:;<=>?@[\\]^_'{|}~",
                     '"hey', 'hey"', "<", ">", "<>"]
    assert session.tracks[3].parent == 2
    assert session.tracks[2].kind == "folder"  # its only item plays a <SOURCE CLICK>: no audio clip
    assert all(not t.clips for t in session.tracks)
    notes = session.tracks[0].notes
    assert [(n.start, n.duration, n.pitch, n.velocity) for n in notes] == [pytest.approx(n) for n in
        [(0.0, 0.5, 60, 10), (0.5, 0.5, 62, 6), (1.0, 0.5, 64, 96), (1.5, 0.5, 65, 96)]]


def test_cli_info_json_on_a_real_project(sessions_dir):
    path = sessions_dir / "reaper" / "generated" / "generate files.RPP"
    out = subprocess.run([sys.executable, "-m", "plugin.cli", "info", "--json", str(path)], cwd=REPO,
                         capture_output=True, text=True, check=True)
    data = json.loads(out.stdout)
    assert data["format"] == "reaper"
    assert data["duration"] == pytest.approx(27.5 + 2.60383219954649, abs=1e-6)
    assert data["tempo"] == [{"time": 0.0, "bpm": 120.0}]
    assert data["missing_media"] == ["01-200424_0739.wav", "01-200424_0739-03.wav", "01-200424_0739-04.wav",
                                     "01-200424_0739-05.wav"]
    (track,) = data["tracks"]
    assert set(track) >= {"name", "kind", "muted", "clips", "notes"}
    assert track["kind"] == "audio" and len(track["clips"]) == 6
    for clip in track["clips"]:
        assert set(clip) >= {"start", "duration", "source", "source_offset", "playrate", "missing"}
    assert [c["missing"] for c in track["clips"]] == [True, False, False, True, True, True]


# ---- the chunk format ------------------------------------------------------------------------

def test_tokenize_quotes():
    assert tokenize('NAME "two words" plain') == ["NAME", "two words", "plain"]
    assert tokenize("NAME 'say \"hi\"'") == ["NAME", 'say "hi"']
    assert tokenize("NAME `it's \"x\"`") == ["NAME", "it's \"x\""]
    assert tokenize('FILE "" 1') == ["FILE", "", "1"]
    assert tokenize('NAME hel"lo') == ["NAME", 'hel"lo']


def test_unknown_chunks_are_skipped_whole(tmp_path):
    path = _write_project(tmp_path, """<TRACK
  NAME kept
  <FXCHAIN
    <JS some/effect ""
      NAME not-a-track-name
      <SOURCE WAVE
        FILE "inside-a-plugin.wav"
      >
    >
    bWNlcu9e7f4EAAAAAQAAAAAAAAACAAAAAAAAAAQAAAAAAAAACAAAAAAAAAACAAAAAQAAAAAAAAACAAAAAAAAAFQ==
  >
>""")
    session = load_session(path)
    assert [t.name for t in session.tracks] == ["kept"]
    assert session.tracks[0].clips == [] and session.missing_media == []


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"\x00\x01\x02\x03 junk", "binary data, not a REAPER project"),
        (b"<?xml version='1.0'?><Ableton/>", "not a REAPER project: it should start with <REAPER_PROJECT"),
        (b'<REAPER_PROJECT 0.1 "6.0" 1\n  <TRACK\n    NAME a\n    <ITEM\n      POSITION 1\n',
         "the file is truncated: it ends inside <ITEM> opened at line 4 (3 chunks not closed)"),
        (b'<REAPER_PROJECT 0.1 "6.0" 1\n  <TRACK\n    <FXCHAIN\n      <VST x\n        AAAA\n',
         "the file is truncated: it ends inside <FXCHAIN> opened at line 3"),
    ],
)
def test_bad_files_raise_one_line_naming_the_file(tmp_path, content, reason):
    path = tmp_path / "broken.rpp"
    path.write_bytes(content)
    with pytest.raises(SessionError) as err:
        load_session(path)
    message = str(err.value)
    assert message.startswith(str(path)) and reason in message and "\n" not in message


def test_text_after_the_project_is_ignored_with_a_warning(tmp_path):
    path = tmp_path / "extra.rpp"
    path.write_text('<REAPER_PROJECT 0.1 "6.0" 1\n<TRACK\nNAME a\n>\n>\n<TRACK\nNAME b\n>\n')
    root, trailing = parse_project(path.read_text(), path)
    assert [c.name for c in root.entries] == ["TRACK"] and trailing == 6
    session = load_session(path)
    assert [t.name for t in session.tracks] == ["a"]
    assert any("from line 6" in w for w in session.warnings)


# ---- tempo ----------------------------------------------------------------------------------

def test_active_tempo_envelope_overrides_tempo_with_a_linear_ramp(tmp_path):
    # 60 bpm ramping linearly in time to 120 bpm at 4 s, then held:
    # beats(t) = t + t^2 / 8 for t <= 4 (6 beats at 4 s), then 2 beats per second.
    header = """TEMPO 90 4 4
<TEMPOENVEX
  EGUID {7A3E0BCB-FADA-49A6-B77C-A2D31FF1155B}
  ACT 1 -1
  DEFSHAPE 1 -1 -1
  PT 0 60 0
  PT 4 120 1 524294
>"""
    events = """    E 0 90 3c 60
    E 960 80 3c 00
    E 960 90 3e 60
    E 4800 80 3e 00
    E 0 b0 7b 00"""
    path = _write_project(tmp_path, f"<TRACK\n{_midi_item(1.0, 8.0, events)}\n>", header=header)
    session = load_session(path)
    assert session.tempo.changes() == [{"time": 0.0, "bpm": 60.0}, {"time": 4.0, "bpm": 120.0}]
    # The item starts at 1 s = 1.125 beats. First note: beats 1.125 .. 2.125; t + t^2/8 = 2.125 gives
    # t = -4 + sqrt(33). Second note: beats 3.125 .. 8.125; t + t^2/8 = 3.125 gives t = -4 + sqrt(41);
    # beat 8.125 is past the ramp: 4 s + (8.125 - 6) / 2 = 5.0625 s.
    first, second = session.tracks[0].notes
    assert first.start == pytest.approx(1.0, abs=1e-9)
    assert first.end == pytest.approx(-4 + math.sqrt(33), abs=1e-9)
    assert second.start == pytest.approx(-4 + math.sqrt(41), abs=1e-9)
    assert second.end == pytest.approx(5.0625, abs=1e-9)
    # 524294 = 65536 * 8 + 6: 6/8 from the point at 4 s (6 beats).
    sigs = [(ts.beat, ts.numerator, ts.denominator) for ts in session.tempo.time_signatures]
    assert sigs == [(0.0, 4, 4), (pytest.approx(6.0), 6, 8)]


def test_inactive_tempo_envelope_leaves_the_tempo_line(tmp_path):
    header = "TEMPO 90 3 4\n<TEMPOENVEX\n  ACT 0 -1\n  PT 0 60 1\n  PT 4 120 1\n>"
    session = load_session(_write_project(tmp_path, "", header=header))
    assert session.tempo.changes() == [{"time": 0.0, "bpm": 90.0}]
    assert session.tempo.time_signatures[0].numerator == 3


# ---- items and sources ----------------------------------------------------------------------

def _audio_item(position, length, soffs=0.0, playrate=1.0, loop=0, source='<SOURCE WAVE\n    FILE "a.wav"\n  >',
                extra=""):
    return f"""<ITEM
  POSITION {position}
  LENGTH {length}
  LOOP {loop}
  FADEIN 1 0.25 0 1 0 0
  FADEOUT 1 0.5 0 1 0 0
  MUTE 0 0
  {extra}
  NAME "take one"
  VOLPAN 0.5 0 0.8 -1
  SOFFS {soffs}
  PLAYRATE {playrate} 1 0 -1 0 0.0025
  {source}
>"""


@pytest.fixture
def one_second_wav(tmp_path):
    sf.write(tmp_path / "a.wav", np.zeros(44100, np.float32), 44100)
    sf.write(tmp_path / "b.wav", np.zeros(22050, np.float32), 44100)
    return tmp_path


def test_playrate_offset_gain_and_fades(one_second_wav):
    path = _write_project(one_second_wav, f"<TRACK\n{_audio_item(2.0, 0.4, soffs=0.1, playrate=2)}\n>")
    (clip,) = load_session(path).tracks[0].clips
    assert (clip.start, clip.duration, clip.source_offset, clip.playrate) == (2.0, 0.4, 0.1, 2.0)
    assert clip.source_time(0.4) == pytest.approx(0.9)  # 0.1 + 0.4 s at double speed
    assert clip.gain == pytest.approx(0.5 * 0.8)  # item trim x take volume
    assert (clip.fade_in, clip.fade_out, clip.name) == (0.25, 0.5, "take one")
    assert not clip.short and clip.loop is None


def test_auto_crossfade_length_replaces_the_manual_fade(one_second_wav):
    # REAPER writes an automatic crossfade between overlapping items as the third FADEIN/FADEOUT
    # field; the manual length (second field) is kept for when the items stop overlapping.
    first = _audio_item(1.0, 0.6, extra="FADEOUT 1.1 0.01 0.2 1 1 0 0")
    second = _audio_item(1.4, 0.5, extra="FADEIN 1.1 0.01 0.2 1 1 0 0")
    path = _write_project(one_second_wav, f"<TRACK\n{first}\n{second}\n>")
    first_clip, second_clip = load_session(path).tracks[0].clips
    assert (first_clip.fade_in, first_clip.fade_out) == (0.25, 0.2)
    assert (second_clip.fade_in, second_clip.fade_out) == (0.2, 0.5)


def test_looping_item_longer_than_its_source_loops(one_second_wav):
    path = _write_project(one_second_wav, f"<TRACK\n{_audio_item(0, 3.0, loop=1)}\n{_audio_item(5, 3.0)}\n>")
    looped, plain = load_session(path).tracks[0].clips
    assert looped.loop == (0.0, None) and not looped.short
    assert plain.loop is None and plain.short


def test_section_source_adds_its_start_and_ends_the_clip(one_second_wav):
    section = """<SOURCE SECTION
    LENGTH 0.3
    STARTPOS 0.5
    OVERLAP 0.01
    <SOURCE WAVE
      FILE "a.wav"
    >
  >"""
    body = f"<TRACK\n{_audio_item(1.0, 2.0, soffs=0.1, source=section)}\n{_audio_item(4.0, 2.0, loop=1, source=section)}\n>"
    session = load_session(_write_project(one_second_wav, body))
    cut, looped = session.tracks[0].clips
    assert cut.source_offset == pytest.approx(0.6)
    assert cut.duration == pytest.approx(0.2)  # the section's 0.3 s minus the 0.1 s slip offset
    assert looped.loop == pytest.approx((0.5, 0.8)) and looped.duration == 2.0
    assert session.warnings == []
    reversed_section = section.replace("OVERLAP", "MODE 3\n    OVERLAP")
    reversed_body = f"<TRACK\n{_audio_item(1.0, 0.2, source=reversed_section)}\n>"
    reversed_session = load_session(_write_project(one_second_wav, reversed_body, name="rev.rpp"))
    assert any("reversed source section" in w for w in reversed_session.warnings)


def test_section_mode_3_reverses_the_whole_source_and_mode_2_the_section(one_second_wav):
    # MODE 2 is "section + reverse", MODE 3 "reverse" alone: its STARTPOS/LENGTH are not a section.
    def reversed_item(mode):
        return _audio_item(1.0, 2.0, soffs=0.1, source=f"""<SOURCE SECTION
    LENGTH 0.3
    MODE {mode}
    STARTPOS 0.5
    OVERLAP 0.01
    <SOURCE WAVE
      FILE "a.wav"
    >
  >""")
    body = f"<TRACK\n{reversed_item(2)}\n>\n<TRACK\n{reversed_item(3)}\n>"
    session = load_session(_write_project(one_second_wav, body))
    (section,), (whole,) = (t.clips for t in session.tracks)
    assert (section.source_offset, section.duration) == pytest.approx((0.6, 0.2))
    assert (whole.source_offset, whole.duration) == pytest.approx((0.1, 2.0))
    assert any("2 item(s) with a reversed source section" in w for w in session.warnings)


def test_takes_without_sel_play_the_first_and_take_volumes(one_second_wav):
    item = """<ITEM
  POSITION 0
  LENGTH 0.5
  VOLPAN 1 0 0.5 -1
  NAME first
  <SOURCE WAVE
    FILE "a.wav"
  >
  TAKE
  NAME second
  TAKEVOLPAN 0 0.25 -1
  <SOURCE WAVE
    FILE "b.wav"
  >
>"""
    session = load_session(_write_project(one_second_wav, "<TRACK\n" + item + "\n" + item.replace("  TAKE\n", "  TAKE SEL\n") + "\n>"))
    first, selected = session.tracks[0].clips
    assert (first.name, Path(first.source).name, first.gain) == ("first", "a.wav", 0.5)
    assert (selected.name, Path(selected.source).name, selected.gain) == ("second", "b.wav", 0.25)
    every_take = item.replace("LENGTH 0.5", "LENGTH 0.5\n  ALLTAKES 1")
    both = load_session(_write_project(one_second_wav, f"<TRACK\n{every_take}\n>", name="all.rpp")).tracks[0].clips
    assert [c.name for c in both] == ["first", "second"]


def test_empty_click_and_null_takes_give_no_clip(one_second_wav):
    body = """<TRACK
  <ITEM
    POSITION 0
    LENGTH 1
    <SOURCE CLICK
      BPM 120
    >
  >
  <ITEM
    POSITION 1
    LENGTH 1
    <SOURCE EMPTY
    >
  >
  <ITEM
    POSITION 2
    LENGTH 1
    <SOURCE WAVE
      FILE "a.wav"
    >
    TAKE NULL SEL
  >
>"""
    session = load_session(_write_project(one_second_wav, body))
    assert session.tracks[0].clips == [] and session.warnings == []


def test_record_path_folders_are_searched(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    sf.write(tmp_path / "elsewhere" / "take.wav", np.zeros(441, np.float32), 44100)
    body = '<TRACK\n<ITEM\nPOSITION 0\nLENGTH 0.01\n<SOURCE WAVE\nFILE "take.wav"\n>\n>\n>'
    header = 'TEMPO 120 4 4\nRECORD_PATH "../elsewhere" "C:\\Users\\Public"'
    session = load_session(_write_project(tmp_path / "project", body, header=header))
    (clip,) = session.tracks[0].clips
    assert not clip.missing  # only the record path, outside the project folder, holds it
    assert Path(clip.source).resolve() == (tmp_path / "elsewhere" / "take.wav").resolve()


# ---- MIDI -----------------------------------------------------------------------------------

def test_midi_flags_sysex_deltas_offsets_and_playrate(tmp_path):
    events = """    E 0 90 3c 40
    Em 480 90 3d 40
    <X 480 0
      8AECAwQF9w==
    >
    Em 0 80 3d 00
    e 0 80 3c 00
    E 0 e0 00 60
    E 0 b0 07 64
    E 960 90 3e 50
    E 960 80 3e 00
    E 0 b0 7b 00"""
    body = "<TRACK\n" + "\n".join([
        _midi_item(0.0, 4.0, events),
        _midi_item(10.0, 1.0, events, extra="SOFFS 0.5 1"),  # starts 1 QN into the source
        _midi_item(20.0, 2.0, events, extra="PLAYRATE 2 1 0 -1 0 0.0025"),
    ]) + "\n>"
    whole, offset, fast = load_session(_write_project(tmp_path, body)).tracks[0].midi_clips
    # The muted note (Em) is dropped; the sysex chunk's 480 ticks still count.
    assert [(n.start, n.duration, n.pitch) for n in whole.notes] == [(0.0, 0.5, 60), (1.0, 0.5, 62)]
    assert [(e.time, e.kind, e.value, e.controller) for e in whole.events] == [
        (0.5, "pitchwheel", (0x60 << 7) - 8192, None), (0.5, "control_change", 100, 7)]
    assert [(n.start, n.duration, n.pitch) for n in offset.notes] == [(10.5, 0.5, 62)]
    assert [(n.start, n.duration, n.pitch) for n in fast.notes] == [(20.0, 0.25, 60), (20.5, 0.25, 62)]


def test_pooled_midi_items_share_the_events(tmp_path):
    events = "    POOLEDEVTS {10F9B930-32BF-604C-86D1-B6819C2E6F41}\n    E 0 90 3c 60\n    E 960 80 3c 00\n    E 960 b0 7b 00"
    pooled = """<ITEM
  POSITION 4
  LENGTH 1
  <SOURCE MIDIPOOL
    POOLEDEVTS {10F9B930-32BF-604C-86D1-B6819C2E6F41}
  >
>"""
    body = f"<TRACK\n{pooled}\n>\n<TRACK\n{_midi_item(0.0, 1.0, events)}\n>"
    session = load_session(_write_project(tmp_path, body))
    assert [(n.start, n.pitch) for n in session.tracks[0].notes] == [(4.0, 60)]
    assert [(n.start, n.pitch) for n in session.tracks[1].notes] == [(0.0, 60)]


def test_looped_midi_source_repeats_and_notes_after_the_item_end_are_dropped(tmp_path):
    events = "    E 0 90 3c 60\n    E 480 80 3c 00\n    E 1440 b0 7b 00"  # 2 QN source, one note
    body = "<TRACK\n" + _midi_item(0.0, 2.5, events, extra="").replace("LOOP 0", "LOOP 1") + "\n>"
    notes = load_session(_write_project(tmp_path, body)).tracks[0].notes
    assert [n.start for n in notes] == [0.0, 1.0, 2.0]  # 5 QN: the pattern starts three times
    assert notes[-1].duration == pytest.approx(0.25)


def test_folder_parents_nest_and_close(tmp_path):
    body = "\n".join(f"<TRACK\n  NAME {name}\n  ISBUS {bus}\n>" for name, bus in [
        ("band", "1 1"), ("guitars", "1 1"), ("gtr 1", "0 0"), ("gtr 2", "2 -2"), ("vocals", "0 0")])
    session = load_session(_write_project(tmp_path, body))
    assert [t.parent for t in session.tracks] == [None, 0, 1, 1, None]
    assert [t.kind for t in session.tracks] == ["folder", "folder", "audio", "audio", "audio"]


def test_midi_take_playing_a_midi_file(tmp_path):
    import mido

    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.Message("note_on", note=67, velocity=90, time=480))
    track.append(mido.Message("note_off", note=67, velocity=0, time=480))
    tmp_path.mkdir(exist_ok=True)
    mid.save(tmp_path / "riff.mid")
    items = [f'<ITEM\nPOSITION {p}\nLENGTH 2\n<SOURCE MIDI\nFILE "{name}"\n>\n>' for p, name in ((1, "riff.mid"),
                                                                                              (5, "gone.mid"))]
    session = load_session(_write_project(tmp_path, "<TRACK\n" + "\n".join(items) + "\n>"))
    found, gone = session.tracks[0].midi_clips
    assert [(n.start, n.duration, n.pitch) for n in found.notes] == [(1.5, 0.5, 67)]  # beat 1 at 120 bpm
    assert found.source == str(tmp_path / "riff.mid") and not found.missing
    assert gone.missing and session.missing_media == ["gone.mid"]


def test_video_takes_keep_decodable_sound_only(one_second_wav):
    (one_second_wav / "clip.mp4").write_bytes(b"not really a video")
    items = [f'<ITEM\nPOSITION {p}\nLENGTH 0.5\n<SOURCE VIDEO\nFILE "{name}"\n>\n>' for p, name in ((0, "a.wav"),
                                                                                                (1, "clip.mp4"))]
    session = load_session(_write_project(one_second_wav, "<TRACK\n" + "\n".join(items) + "\n>"))
    (clip,) = session.tracks[0].clips
    assert Path(clip.source).name == "a.wav" and not clip.missing
    assert any("clip.mp4" in w and "skipped" in w for w in session.warnings)
    assert session.missing_media == []


def test_fixed_item_lanes_mute_the_lanes_that_do_not_play(one_second_wav):
    # REAPER 7: FREEMODE 2 = fixed lanes, LANESOLO's first field = bit mask of the playing lanes,
    # YPOS top height = the item's lane (top / height, from 0).
    items = "\n".join(_audio_item(0, 0.5, extra=f"YPOS {lane / 3} {1 / 3} 2") for lane in range(3))
    body = f"<TRACK\n  FREEMODE 2\n  LANESOLO 2 0 0 0 0 0 0 0\n{items}\n>"
    clips = load_session(_write_project(one_second_wav, body)).tracks[0].clips
    assert [c.muted for c in clips] == [True, False, True]


def test_midi_source_ignoring_the_project_tempo(tmp_path):
    events = "    E 960 90 3c 60\n    E 960 80 3c 00\n    E 0 b0 7b 00"
    item = _midi_item(2.0, 4.0, events + "\n    IGNTEMPO 1 60 4 4")
    (note,) = load_session(_write_project(tmp_path, f"<TRACK\n{item}\n>")).tracks[0].notes
    assert (note.start, note.duration) == (3.0, 1.0)  # one quarter note at 60 bpm, not at 120
