"""The bundled demo session: the app's first screen and the tests' common fixture.

`build.py` beside this file writes it (MIDI parts rendered with fluidsynth and FluidR3_GM).
"""

from importlib.resources import files
from pathlib import Path


def demo_session_path() -> Path:
    """The demo session's REAPER project, inside the installed package."""
    return Path(str(files(__package__) / "session" / "demo.rpp"))
