"""Choosing a reader, clear errors for bad input, and folders / single audio / single MIDI files."""

import json
import os
import subprocess
import sys

import mido
import numpy as np
import pytest
import soundfile as sf

from plugin.session import SessionError, load_session


def test_unknown_extension_names_the_file_and_the_kinds(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("hello")
    with pytest.raises(SessionError) as err:
        load_session(f)
    msg = str(err.value)
    assert str(f) in msg and "unknown file type '.txt'" in msg and ".rpp" in msg


def test_missing_path_and_empty_file(tmp_path):
    with pytest.raises(SessionError, match="no such file"):
        load_session(tmp_path / "nope.rpp")
    empty = tmp_path / "empty.dawproject"
    empty.write_bytes(b"")
    with pytest.raises(SessionError, match="the file is empty"):
        load_session(empty)


def test_a_path_the_system_cannot_check_is_a_session_error(tmp_path):
    # pathlib raises OSError (not False) for a name over 255 bytes or a folder not entered.
    path = tmp_path / ("a" * 300 + ".rpp")
    with pytest.raises(SessionError, match="cannot read the file") as err:
        load_session(path)
    assert str(path) in str(err.value) and len(str(err.value).splitlines()) == 1
    with pytest.raises(SessionError, match="no such file"):
        load_session("~no-such-user-here/song.rpp")  # expanduser raises RuntimeError


def test_folder_of_stems_is_one_track_per_audio_file(sessions_dir):
    folder = sessions_dir / "reaper" / "generated"
    session = load_session(folder)
    assert session.format == "folder"
    wavs = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".wav")
    assert [t.name for t in session.tracks] == [p.stem for p in sorted(wavs, key=lambda p: p.name.lower())]
    for track, wav in zip(session.tracks, sorted(wavs, key=lambda p: p.name.lower())):
        (clip,) = track.clips
        assert clip.start == 0.0 and not clip.missing
        assert clip.duration == pytest.approx(sf.info(str(wav)).duration, abs=1e-6)
    assert session.duration == pytest.approx(max(sf.info(str(w)).duration for w in wavs), abs=1e-6)


def test_single_midi_file_uses_its_own_tempo(tmp_path):
    mid = mido.MidiFile(ticks_per_beat=480)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(90), time=0))
    tr.append(mido.Message("note_on", note=60, velocity=100, time=0))
    tr.append(mido.Message("note_off", note=60, velocity=0, time=480))
    tr.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(180), time=0))
    tr.append(mido.Message("pitchwheel", pitch=4096, time=0))
    tr.append(mido.Message("note_on", note=64, velocity=80, time=480))  # beat 2 = 2/3 + 1/3 s
    tr.append(mido.Message("note_off", note=64, velocity=0, time=960))
    path = tmp_path / "tune.mid"
    mid.save(path)
    session = load_session(path)
    assert session.format == "midi"
    (track,) = session.tracks
    assert track.kind == "midi"
    n1, n2 = track.notes
    assert (n1.start, n1.duration, n1.pitch) == (0.0, pytest.approx(2 / 3), 60)
    assert n2.start == pytest.approx(2 / 3 + 1 / 3) and n2.duration == pytest.approx(2 / 3) and n2.velocity == 80
    (bend,) = track.midi_clips[0].events
    assert bend.kind == "pitchwheel" and bend.value == 4096 and bend.time == pytest.approx(2 / 3)
    assert [c["bpm"] for c in session.tempo.changes()] == pytest.approx([90.0, 180.0], rel=1e-5)  # SMF stores whole microseconds


def test_midi_file_in_smpte_time_places_notes_in_seconds(tmp_path):
    # Division -25 fps x 40 ticks per frame: 1000 ticks a second, whatever set_tempo says.
    events = bytes([0x00, 0xFF, 0x51, 0x03, 0x0F, 0x42, 0x40,  # set_tempo 60 bpm: ignored in SMPTE time
                    0x00, 0x90, 60, 100, 0x83, 0x74, 0x80, 60, 0,  # note on, 500 ticks later off
                    0x00, 0xFF, 0x2F, 0x00])
    path = tmp_path / "smpte.mid"
    path.write_bytes(b"MThd" + (6).to_bytes(4, "big") + bytes([0, 0, 0, 1, 0xE7, 40])
                     + b"MTrk" + len(events).to_bytes(4, "big") + events)
    (note,) = load_session(path).tracks[0].notes
    assert (note.start, note.pitch) == (0.0, 60) and note.duration == pytest.approx(0.5)


def test_folder_with_a_corrupt_stem_loads_the_rest(tmp_path):
    sf.write(tmp_path / "good.wav", np.zeros(22050, dtype=np.float32), 22050)
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x00\x00junk" * 10)
    before = sorted(p.name for p in tmp_path.iterdir())
    session = load_session(tmp_path)
    assert [t.name for t in session.tracks] == ["bad", "good"]
    assert session.tracks[0].clips[0].missing and not session.tracks[1].clips[0].missing
    assert any("bad.wav" in w and "cannot decode" in w for w in session.warnings)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_single_corrupt_audio_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "take 1 ü.wav"
    bad.write_bytes(b"\x00\x01junk")
    with pytest.raises(SessionError) as err:
        load_session(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_folder_without_media_is_a_clear_error(tmp_path):
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(SessionError, match="no audio or MIDI files"):
        load_session(tmp_path)


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "plugin.cli", *args], capture_output=True, text=True, timeout=60,
                          env=env)


def test_cli_info_json_contract_on_a_folder(sessions_dir):
    out = _cli("info", "--json", str(sessions_dir / "reaper" / "generated"))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for key in ("format", "duration", "tempo", "missing_media", "tracks"):
        assert key in data
    assert data["tempo"] == [{"time": 0.0, "bpm": 120.0}]
    clip = data["tracks"][0]["clips"][0]
    assert set(clip) >= {"start", "duration", "source", "source_offset", "playrate", "missing"}


def test_cli_error_is_one_line_with_status_1(tmp_path):
    bad = tmp_path / "junk.als"
    bad.write_bytes(b"\x00junk")
    out = _cli("info", str(bad))
    assert out.returncode == 1
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and "Traceback" not in out.stderr


def test_cli_prints_file_names_that_are_not_utf8(tmp_path):
    # A Latin-1 file name on Linux: Python holds it with a lone surrogate, which a strict UTF-8
    # stdout (any UTF-8 locale but C) refuses; the CLI must print it, escaped, not a traceback.
    sf.write(tmp_path / "good.wav", np.zeros(800, dtype=np.float32), 8000)
    try:
        os.link(tmp_path / "good.wav", os.path.join(os.fsencode(tmp_path), b"caf\xe9.wav"))
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    for args in (("info", str(tmp_path)), ("info", "--json", str(tmp_path))):
        out = _cli(*args, env=env)
        assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
        assert "caf\\udce9.wav" in out.stdout


def test_clips_placed_absurdly_late_are_dropped_with_a_warning(tmp_path):
    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(4410, np.float32), 44100)
    rpp = tmp_path / "late.rpp"
    rpp.write_text(
        '<REAPER_PROJECT 0.1 "6.80" 0\n  TEMPO 120 4 4\n  <TRACK\n    NAME t\n'
        '    <ITEM\n      POSITION 1e300\n      LENGTH 1\n      <SOURCE WAVE\n        FILE "a.wav"\n      >\n    >\n'
        '    <ITEM\n      POSITION 2\n      LENGTH 1e12\n      <SOURCE WAVE\n        FILE "a.wav"\n      >\n    >\n'
        '  >\n>\n')
    session = load_session(rpp)
    (clip,) = session.tracks[0].clips
    assert clip.start == 2.0 and clip.end == 24 * 3600
    assert any("1 clip placed after 24 hours dropped" in w for w in session.warnings)
