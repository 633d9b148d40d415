"""Finding media the way DAWs do: foreign paths, relative paths, moved projects; probing sources."""

import numpy as np
import pytest
import soundfile as sf

from plugin.session.media import MediaResolver, attach_media, path_parts
from plugin.session.model import AudioClip, Session, Track


@pytest.fixture
def project(tmp_path):
    """A moved project: media in 'Audio Files/' and 'Media/ünï cödé/', a session file at the top."""
    (tmp_path / "Audio Files").mkdir()
    (tmp_path / "Media" / "ünï cödé").mkdir(parents=True)
    sf.write(tmp_path / "Audio Files" / "kick take 1.wav", np.zeros(4410, np.float32), 44100)
    sf.write(tmp_path / "Media" / "ünï cödé" / "Bass DI.flac", np.zeros(48000, np.float32), 48000)
    return tmp_path


def test_path_parts_reads_windows_posix_and_file_urls():
    assert path_parts(r"C:\Users\me\Project\Audio Files\kick.wav") == ["Users", "me", "Project", "Audio Files", "kick.wav"]
    assert path_parts("Audio Files\\kick.wav") == ["Audio Files", "kick.wav"]
    assert path_parts("/home/me/a b/c.wav") == ["home", "me", "a b", "c.wav"]
    assert path_parts("file:///C:/Music/x%20y.wav") == ["Music", "x y.wav"]
    assert path_parts("./rel/x.wav") == ["rel", "x.wav"]


@pytest.mark.parametrize(
    "written",
    [
        "Audio Files/kick take 1.wav",  # relative to the session
        r"Audio Files\kick take 1.wav",  # relative, written on Windows
        r"D:\Old Machine\Project\Audio Files\kick take 1.wav",  # absolute on another machine
        "/Users/someone/Music/Project/Audio Files/kick take 1.wav",  # absolute on a Mac
        "kick take 1.wav",  # bare name: found by name in the session folder, as REAPER does
        "KICK TAKE 1.WAV",  # Windows is case-insensitive
    ],
)
def test_resolver_finds_moved_media(project, written):
    found = MediaResolver(project).resolve(written)
    assert found == project / "Audio Files" / "kick take 1.wav"


def test_resolver_uses_media_folders_and_non_ascii_names(project):
    resolver = MediaResolver(project, ["Media/ünï cödé"])
    assert resolver.resolve("Bass DI.flac") == project / "Media" / "ünï cödé" / "Bass DI.flac"
    assert resolver.resolve(str(project / "Media" / "ünï cödé" / "Bass DI.flac")).name == "Bass DI.flac"


def test_resolver_reports_absent_media_as_none(project):
    assert MediaResolver(project).resolve(r"C:\nowhere\ghost.wav") is None
    assert MediaResolver(project).resolve("") is None


def test_paths_this_system_cannot_check_are_missing_not_errors(project):
    # A file name over the system's 255-byte limit makes pathlib raise OSError (not False).
    long_name = "y" * 300 + ".wav"
    resolver = MediaResolver(project, ["/" + "z" * 300])
    assert resolver.resolve(long_name) is None
    assert resolver.resolve(str(project / long_name)) is None
    assert resolver.resolve("D:\\" + "x" * 300 + "\\kick take 1.wav") == project / "Audio Files" / "kick take 1.wav"
    session = Session(path="p", format="reaper", tracks=[Track("t", clips=[AudioClip(0.0, 1.0, long_name)])])
    attach_media(session, resolver)
    assert session.missing_media == [long_name]


def test_attach_media_flags_missing_short_and_keeps_the_rest(project):
    clips = [
        AudioClip(0.0, 0.1, "Audio Files/kick take 1.wav"),
        AudioClip(1.0, 2.0, "kick take 1.wav", source_offset=0.05),  # wants 2.05 s of a 0.1 s file
        AudioClip(3.0, 1.0, r"C:\gone\missing.wav"),
        AudioClip(4.0, 1.0, "Bass DI.flac", playrate=2.0),  # wants 2 s of a 1 s file: short
    ]
    session = Session(path=str(project / "x.rpp"), format="reaper", tracks=[Track("t", clips=clips)])
    attach_media(session, MediaResolver(project, ["Media/ünï cödé"]))
    ok, short, missing, fast = clips
    assert not ok.missing and ok.source_duration == pytest.approx(0.1) and ok.source_sample_rate == 44100
    assert short.short and fast.short and not ok.short
    assert missing.missing and missing.source == r"C:\gone\missing.wav"
    assert session.missing_media == [r"C:\gone\missing.wav"]
    assert sorted(session.short_media) == sorted([str(project / "Audio Files" / "kick take 1.wav"),
                                                  str(project / "Media" / "ünï cödé" / "Bass DI.flac")])


def test_looping_clip_is_never_short(project):
    clip = AudioClip(0.0, 10.0, "kick take 1.wav", loop=(0.0, None))
    session = Session(path="x", format="reaper", tracks=[Track("t", clips=[clip])])
    attach_media(session, MediaResolver(project))
    assert not clip.short and session.short_media == []


def test_empty_media_file_is_reported_not_raised(project):
    (project / "empty.wav").write_bytes(b"")
    clip = AudioClip(0.0, 1.0, "empty.wav")
    session = Session(path="x", format="reaper", tracks=[Track("t", clips=[clip])])
    attach_media(session, MediaResolver(project))
    assert clip.missing
    assert any("empty.wav" in w and "empty" in w for w in session.warnings)
