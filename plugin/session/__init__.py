"""Session import: every supported DAW format read into one Session model (times in seconds)."""

from .loader import SUPPORTED, load_audio_files, load_session
from .model import AudioClip, MidiClip, MidiEvent, Note, Session, SessionError, Track
from .tempo import TempoMap, TempoPoint, TimeSignature

__all__ = [
    "SUPPORTED", "load_audio_files", "load_session", "AudioClip", "MidiClip", "MidiEvent", "Note", "Session",
    "SessionError", "Track", "TempoMap", "TempoPoint", "TimeSignature",
]
