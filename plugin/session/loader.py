"""Choosing the reader for a path, and turning any failure into one clear SessionError."""

from __future__ import annotations

import importlib
from pathlib import Path

from .media import AUDIO_EXTENSIONS, MIDI_EXTENSIONS
from .model import Session, SessionError

# Extension (lower case) -> (reader module, what the user would call the file).
SUPPORTED: dict[str, tuple[str, str]] = {
    ".rpp": ("reaper", "REAPER project"),
    ".als": ("ableton", "Ableton Live set"),
    ".dawproject": ("dawproject", "DAWproject file"),
    ".ardour": ("ardour", "Ardour session"),
    **{ext: ("folder", "MIDI file") for ext in MIDI_EXTENSIONS},
    **{ext: ("folder", "audio file") for ext in AUDIO_EXTENSIONS},
}


def load_session(path: str | Path) -> Session:
    """Read a session file, a folder of stems, an audio file or a MIDI file.

    Raises SessionError (one line: the file and the reason) for anything that cannot be read;
    media that are missing or unreadable do not raise: they are listed on the Session.
    """
    p = Path(path)
    try:
        p = p.expanduser()
    except RuntimeError as exc:  # "~someone/..." for a user this system does not know
        raise SessionError(p, f"no such file or folder ({exc})") from exc
    try:  # pathlib only ignores 'not found': a name too long or a folder not entered raise
        exists, is_dir = p.exists(), p.is_dir()
    except OSError as exc:
        raise SessionError(p, f"cannot read the file ({exc.strerror or exc})") from exc
    if not exists:
        raise SessionError(p, "no such file or folder")
    if is_dir:
        module, what = "folder", "folder"
    else:
        entry = SUPPORTED.get(p.suffix.lower())
        if entry is None:
            known = ", ".join(sorted({e for e in SUPPORTED if e not in AUDIO_EXTENSIONS | MIDI_EXTENSIONS}))
            raise SessionError(
                p, f"unknown file type '{p.suffix or '(no extension)'}': open a session ({known}), "
                   "a MIDI or audio file, or a folder of them"
            )
        module, what = entry
        try:
            size = p.stat().st_size
        except OSError as exc:
            raise SessionError(p, f"cannot read the file ({exc.strerror or exc})") from exc
        if size == 0:
            raise SessionError(p, f"the file is empty: not {_article(what)} {what}")
    reader = importlib.import_module(f"{__package__}.readers.{module}")
    try:
        session = reader.read(p)
    except SessionError:
        raise
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # a user's file must never produce a traceback
        raise SessionError(p, f"not a readable {what} ({type(exc).__name__}: {exc})") from exc
    for track in session.tracks:
        if track.kind != "folder":
            track.settle_kind()
    return session


def _article(noun: str) -> str:
    return "an" if noun[:1].lower() in "aeiou" else "a"
