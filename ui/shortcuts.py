"""The one table of keyboard shortcuts: it sets the QActions' shortcuts and fills Help > Shortcuts."""

from __future__ import annotations

# action name -> (menu text, key sequences (first is shown in menus), what it does)
SHORTCUTS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "open": ("&Open…", ("Ctrl+O",), "Open a session, a folder of stems or audio files"),
    "quit": ("&Quit", ("Ctrl+Q",), "Quit Stemscope"),
    "play": ("&Play / Stop", ("Space",), "Start or stop playback"),
    "loop": ("&Loop Selection", ("L",), "Loop the selected time range"),
    "home": ("Go to &Start", ("Home",), "Move the playhead to the start"),
    "analyze": ("&Analyze", ("Ctrl+R",), "Analyse every track and the mix"),
    "cancel": ("&Cancel Analysis", ("Esc",), "Stop the running analysis"),
    "zoom_in": ("Zoom &In", ("+", "=", "Ctrl++"), "Zoom in around the mouse pointer"),
    "zoom_out": ("Zoom &Out", ("-", "Ctrl+-"), "Zoom out around the mouse pointer"),
    "fit": ("&Fit Session", ("Ctrl+0",), "Show the whole session"),
    "taller": ("&Taller Lanes", ("Ctrl+Shift+Up",), "Make every lane taller"),
    "shorter": ("S&horter Lanes", ("Ctrl+Shift+Down",), "Make every lane shorter"),
    "export_json": ("Analysis &JSON…", ("Ctrl+E",), "Write analysis.json and its frames"),
    "export_midi": ("&MIDI…", ("Ctrl+Shift+M",), "Write the analysis as a MIDI file"),
    "export_labels": ("Audacity &Labels…", (), "Write Audacity label tracks"),
    "export_csv": ("&CSV…", (), "Write the segments as CSV"),
    "shortcuts": ("&Keyboard Shortcuts", ("F1",), "Show this list"),
}

# Pointer gestures the table cannot bind as key sequences, listed in the same dialog.
GESTURES: tuple[tuple[str, str], ...] = (
    ("Ctrl+Wheel / pinch", "Zoom around the pointer"),
    ("Wheel", "Scroll tracks up and down"),
    ("Shift+Wheel", "Scroll along time"),
    ("Click ruler", "Move the playhead there"),
    ("Click a segment", "Select its time range"),
    ("Drag in lanes", "Select a time range"),
)
