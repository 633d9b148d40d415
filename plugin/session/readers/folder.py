"""A folder of stems and MIDI files, a single audio file, or a single standard MIDI file.

Every audio file is a track starting at 0 s; every MIDI file becomes MIDI tracks (one per SMF
track that holds notes) placed by the file's own tempo map. The session's tempo map is that of
the first MIDI file that sets one. Subfolders are not searched.
"""

from __future__ import annotations

from pathlib import Path

from ..media import AUDIO_EXTENSIONS, MIDI_EXTENSIONS, MediaResolver, attach_media, probe_audio
from ..model import AudioClip, Session, SessionError, Track
from ..smf import read_smf, beats_to_clip


def read(path: Path) -> Session:
    if path.is_dir():
        files = sorted(
            (f for f in path.iterdir() if f.is_file() and not f.name.startswith(".")),
            key=lambda f: f.name.lower(),
        )
        audio = [f for f in files if f.suffix.lower() in AUDIO_EXTENSIONS]
        midi = [f for f in files if f.suffix.lower() in MIDI_EXTENSIONS]
        if not audio and not midi:
            raise SessionError(path, "the folder holds no audio or MIDI files")
        session = Session(path=str(path), format="folder")
        base = path
    elif path.suffix.lower() in MIDI_EXTENSIONS:
        audio, midi = [], [path]
        session = Session(path=str(path), format="midi")
        base = path.parent
    else:
        audio, midi = [path], []
        session = Session(path=str(path), format="folder")
        base = path.parent

    tempo_set = False
    for f in midi:
        try:
            content = read_smf(f)
        except SessionError as exc:
            if session.format == "midi":
                raise
            session.warnings.append(str(exc))
            continue
        tempo = content.tempo_map()
        if not tempo_set and content.tempo_changes:
            session.tempo = tempo
            tempo_set = True
        with_notes = [t for t in content.tracks if t.notes]
        for t in with_notes:
            name = f.stem if len(with_notes) == 1 else f"{f.stem}: {t.name}"
            clip = beats_to_clip(t.notes, t.events, tempo, 0.0, name=t.name)
            clip.start, clip.duration = 0.0, clip.start + clip.duration
            clip.source = str(f)
            session.tracks.append(Track(name=name, kind="midi", midi_clips=[clip]))
        if not with_notes:
            session.warnings.append(f"{f}: the MIDI file holds no notes")

    _add_audio_tracks(session, audio, base)
    if session.format == "folder" and audio and all(c.missing for t in session.tracks for c in t.clips):
        raise SessionError(path, "none of its audio files can be decoded")
    return session


def read_audio_files(paths: list[Path]) -> Session:
    """Audio files given one by one: a track each, from 0 s, in the order given.

    A file that cannot be decoded raises SessionError naming it: the user chose it.
    """
    if not paths:
        raise SessionError("(no files)", "no audio files given")
    for f in paths:
        if f.suffix.lower() not in AUDIO_EXTENSIONS:
            raise SessionError(f, f"not an audio file (known: {', '.join(sorted(AUDIO_EXTENSIONS))})")
        if not f.is_file():
            raise SessionError(f, "no such file")
        try:
            probe_audio(f)
        except (ValueError, OSError) as exc:
            raise SessionError(f, str(exc)) from None
    session = Session(path=str(paths[0]), format="files")
    _add_audio_tracks(session, paths, paths[0].parent)
    return session


def _add_audio_tracks(session: Session, audio: list[Path], base: Path) -> None:
    """One track per file, its clip as long as the file."""
    for f in audio:
        clip = AudioClip(start=0.0, duration=0.0, source=str(f), name=f.stem)
        session.tracks.append(Track(name=f.stem, kind="audio", clips=[clip]))
    attach_media(session, MediaResolver(base))
    for track in session.tracks:
        for clip in track.clips:
            if clip.source_duration is not None:
                clip.duration = clip.source_duration
