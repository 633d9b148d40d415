"""Finding a session's media files the way DAWs do, and probing them.

Sessions store paths written on other machines: Windows paths with drive letters and
backslashes, paths relative to the session or to a media folder, or absolute paths that no
longer exist. A resolver tries the path as written, then relative to the session folder and the
DAW's media folders, then finds the file by name in those folders (as REAPER does when a
project moves). Nothing is ever written.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path, PurePosixPath, PureWindowsPath

from .model import Session

AUDIO_EXTENSIONS = {".wav", ".wave", ".bwf", ".aif", ".aiff", ".aifc", ".flac", ".mp3", ".ogg", ".oga",
                    ".opus", ".m4a", ".wv", ".caf", ".w64", ".rf64"}
MIDI_EXTENSIONS = {".mid", ".midi", ".smf"}

_MAX_INDEXED_FILES = 50_000
_MAX_INDEX_DEPTH = 6


def path_parts(raw: str) -> list[str]:
    """Split a path written on any OS into its components (drive and root dropped)."""
    raw = raw.strip().strip('"')
    if raw.startswith("file:"):
        raw = urllib.parse.unquote(urllib.parse.urlparse(raw).path)
        if re.match(r"^/[A-Za-z]:", raw):
            raw = raw[1:]
    if "\\" in raw or re.match(r"^[A-Za-z]:", raw):
        parts = list(PureWindowsPath(raw).parts)
        if parts and (parts[0].endswith("\\") or parts[0].endswith(":")):
            parts = parts[1:]
    else:
        parts = [p for p in PurePosixPath(raw).parts if p != "/"]
    return [p for p in parts if p not in ("", ".")]


def is_file(path: Path) -> bool:
    """Path.is_file for paths a session wrote: False, not OSError, for a name too long for this
    system or a folder that cannot be entered (pathlib only ignores 'not found')."""
    try:
        return path.is_file()
    except OSError:
        return False


def is_dir(path: Path) -> bool:
    """Path.is_dir, False where the path cannot be checked (see is_file)."""
    try:
        return path.is_dir()
    except OSError:
        return False


def is_absolute(raw: str) -> bool:
    raw = raw.strip().strip('"')
    return raw.startswith("/") or raw.startswith("\\\\") or bool(re.match(r"^[A-Za-z]:[\\/]", raw))


class MediaResolver:
    """Resolves media paths from one session against its folder and the DAW's media folders."""

    def __init__(self, session_dir: Path, media_dirs: list[Path] | tuple[Path, ...] = ()):
        self.session_dir = Path(session_dir)
        self.media_dirs = [Path(d) if Path(d).is_absolute() else self.session_dir / d for d in media_dirs]
        self._by_name: dict[str, list[Path]] | None = None

    def resolve(self, raw: str) -> Path | None:
        """The existing file that `raw` names, or None."""
        if not raw:
            return None
        cleaned = raw.strip().strip('"')
        if cleaned.startswith("file:"):
            cleaned = urllib.parse.unquote(urllib.parse.urlparse(cleaned).path)
        direct = Path(cleaned)
        if direct.is_absolute() and is_file(direct):
            return direct
        parts = path_parts(raw)
        if not parts:
            return None
        rel = Path(*parts)
        bases = [self.session_dir, *self.media_dirs]
        if not is_absolute(raw):
            for base in bases:
                cand = base / rel
                if is_file(cand):
                    return cand
        # An absolute path from another machine, or a relative one that moved: try its tail
        # under each base (".../Project/Audio/x.wav" -> session/Audio/x.wav), then the bare name.
        for k in range(1, len(parts)):
            tail = Path(*parts[k:])
            for base in bases:
                cand = base / tail
                if is_file(cand):
                    return cand
        return self._find_by_name(parts[-1])

    def _find_by_name(self, name: str) -> Path | None:
        if self._by_name is None:
            self._by_name = {}
            count = 0
            for base in [self.session_dir, *self.media_dirs]:
                if not is_dir(base):
                    continue
                base_depth = len(base.parts)
                for root, dirs, files in os.walk(base):
                    if len(Path(root).parts) - base_depth >= _MAX_INDEX_DEPTH:
                        dirs[:] = []
                    dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # the same pick everywhere
                    for f in sorted(files):
                        self._by_name.setdefault(f.lower(), []).append(Path(root) / f)
                        count += 1
                    if count > _MAX_INDEXED_FILES:
                        break
        hits = self._by_name.get(name.lower(), [])
        return hits[0] if hits else None


def probe_audio(path: Path) -> tuple[float, int, float]:
    """(duration s, channels, sample rate) of an audio file; raises ValueError if unreadable."""
    from pedalboard.io import AudioFile

    from ..audio.decode import mp3_gapless_trim

    if path.stat().st_size == 0:
        raise ValueError("the audio file is empty")
    try:
        with AudioFile(str(path)) as f:
            frames, channels, rate = f.frames, f.num_channels, float(f.samplerate)
    except Exception as exc:  # pedalboard raises ValueError/RuntimeError/OSError variants per codec
        raise ValueError(f"cannot decode audio ({exc})") from exc
    if path.suffix.lower() == ".mp3":
        trim = mp3_gapless_trim(path)  # the encoder's delay and padding are not music
        if trim:
            frames = max(frames - sum(trim), 0)
    return frames / rate, channels, rate


def attach_media(session: Session, resolver: MediaResolver) -> Session:
    """Resolve every clip's source, probe it, and record missing, unreadable and short media."""
    probed: dict[str, tuple[float, int, float] | str] = {}

    def probe(p: Path) -> tuple[float, int, float] | str:
        key = str(p)
        if key not in probed:
            try:
                probed[key] = probe_audio(p)
            except (ValueError, OSError) as exc:
                probed[key] = str(exc)
        return probed[key]

    for track in session.tracks:
        for clip in track.clips:
            files = list(clip.channel_files) or [clip.source]
            resolved = [resolver.resolve(f) for f in files]
            if any(r is None for r in resolved):
                clip.missing = True
                clip.channel_files = tuple(str(r) if r else f for r, f in zip(resolved, files)) if clip.channel_files else ()
                if not clip.channel_files:
                    clip.source = files[0]
                continue
            infos = [probe(r) for r in resolved]
            bad = [(r, i) for r, i in zip(resolved, infos) if isinstance(i, str)]
            if clip.channel_files:
                clip.channel_files = tuple(str(r) for r in resolved)
            clip.source = str(resolved[0])
            if bad:
                clip.missing = True
                for r, why in bad:
                    msg = f"{r}: {why}"
                    if msg not in session.warnings:
                        session.warnings.append(msg)
                continue
            clip.source_duration = min(i[0] for i in infos)
            clip.source_channels = sum(i[1] for i in infos)
            clip.source_sample_rate = infos[0][2]
    for src in session.short_media:
        session.warnings.append(f"{src}: the source is shorter than a clip that plays it")
    return session
