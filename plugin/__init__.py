"""Stemscope's engine: sessions, audio, inference, analysis, the sample index, exports, the CLI.

Nothing here imports Qt; the desktop app in `ui/` is built on this package's public API.
"""

__version__ = "0.1.0"
