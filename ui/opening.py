"""Sessions from what the user opens or drops: one session file or folder, or several audio
files (a track each). No Qt."""

from __future__ import annotations

from pathlib import Path

from plugin.session import SUPPORTED, Session, SessionError, load_session
from plugin.session.media import AUDIO_EXTENSIONS
from plugin.session.readers.folder import read_audio_files

SESSION_EXTENSIONS = {ext for ext, (module, _) in SUPPORTED.items() if module != "folder"}


def openable(path: str | Path) -> bool:
    """True for a folder, a session file, an audio file or a MIDI file."""
    p = Path(path)
    return p.is_dir() or p.suffix.lower() in SUPPORTED


def open_paths(paths: list[str | Path]) -> Session:
    """One path: load_session. Several: every audio file is a track (in the order given).

    Raises SessionError (one line) when nothing can be opened.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise SessionError("(nothing)", "no file to open")
    if len(paths) == 1:
        return load_session(paths[0])
    audio = [p for p in paths if p.suffix.lower() in AUDIO_EXTENSIONS]
    if not audio:
        sessions = [p for p in paths if p.suffix.lower() in SESSION_EXTENSIONS]
        if sessions:
            return load_session(sessions[0])
        raise SessionError(paths[0], "none of the dropped files is audio or a session")
    return read_audio_files(audio)
