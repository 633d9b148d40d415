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
    _drop_beyond_limit(session)
    for track in session.tracks:
        if track.kind != "folder":
            track.settle_kind()
    return session


MAX_SESSION_SECONDS = 24 * 3600.0  # no DAW session plays longer; later times are corrupt values


def _drop_beyond_limit(session: Session) -> None:
    """Clips and notes placed after 24 h are dropped (and counted in a warning); clips reaching past it are cut."""
    limit = MAX_SESSION_SECONDS
    for track in session.tracks:
        before = len(track.clips) + len(track.midi_clips)
        track.clips = [c for c in track.clips if c.start < limit]
        track.midi_clips = [m for m in track.midi_clips if m.start < limit]
        for clip in [*track.clips, *track.midi_clips]:
            clip.duration = min(clip.duration, limit - clip.start)
        for mclip in track.midi_clips:
            mclip.notes = [n for n in mclip.notes if n.start < limit]
            mclip.events = [e for e in mclip.events if e.time < limit]
            for note in mclip.notes:
                note.duration = min(note.duration, limit - note.start)
        dropped = before - len(track.clips) - len(track.midi_clips)
        if dropped:
            session.warnings.append(f"track '{track.name}': {dropped} clip{'s' if dropped > 1 else ''} "
                                    "placed after 24 hours dropped (corrupt positions?)")


def _article(noun: str) -> str:
    return "an" if noun[:1].lower() in "aeiou" else "a"


def load_audio_files(paths) -> Session:
    """Audio files given directly: one track each (SessionError names a file that cannot be used)."""
    from .readers.folder import read_audio_files

    return read_audio_files([Path(p).expanduser() for p in paths])
