"""Dark Fusion theme and the colours lanes use."""

from __future__ import annotations

from PyQt6.QtGui import QColor, QPalette
from PyQt6.QtWidgets import QApplication

from .lanes import FAMILIES, TECHNIQUES

BACKGROUND = QColor(30, 31, 34)
LANE_BACKGROUND = QColor(38, 40, 44)
GRID = QColor(58, 61, 66)
TEXT = QColor(220, 222, 226)
DIM_TEXT = QColor(140, 144, 150)
WAVEFORM = QColor(110, 180, 230)
MIX_WAVEFORM = QColor(235, 200, 110)
PLAYHEAD = QColor(255, 90, 80)
WARNING = QColor(240, 180, 80)
SELECTION = QColor(120, 160, 255, 50)
NOTE = QColor(150, 220, 140)
BEND = QColor(250, 170, 60)

_FAMILY_HUES = {name: i * 360 // len(FAMILIES) for i, name in enumerate(FAMILIES)}
_TECHNIQUE_HUES = {name: (15 + i * 360 // len(TECHNIQUES)) % 360 for i, name in enumerate(TECHNIQUES)}


def family_color(family: str | None) -> QColor:
    return QColor.fromHsv(_FAMILY_HUES.get(family or "", 200), 170, 235)


def technique_color(name: str) -> QColor:
    return QColor.fromHsv(_TECHNIQUE_HUES.get(name, 300), 120, 245)


def apply_dark_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    p = QPalette()
    base, window, text = QColor(25, 26, 29), QColor(42, 44, 48), TEXT
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        p.setColor(group, QPalette.ColorRole.Window, window)
        p.setColor(group, QPalette.ColorRole.WindowText, text)
        p.setColor(group, QPalette.ColorRole.Base, base)
        p.setColor(group, QPalette.ColorRole.AlternateBase, window)
        p.setColor(group, QPalette.ColorRole.ToolTipBase, QColor(50, 52, 58))
        p.setColor(group, QPalette.ColorRole.ToolTipText, text)
        p.setColor(group, QPalette.ColorRole.Text, text)
        p.setColor(group, QPalette.ColorRole.Button, window)
        p.setColor(group, QPalette.ColorRole.ButtonText, text)
        p.setColor(group, QPalette.ColorRole.BrightText, QColor(255, 80, 80))
        p.setColor(group, QPalette.ColorRole.Link, QColor(100, 160, 255))
        p.setColor(group, QPalette.ColorRole.Highlight, QColor(60, 110, 200))
        p.setColor(group, QPalette.ColorRole.HighlightedText, QColor(255, 255, 255))
        p.setColor(group, QPalette.ColorRole.PlaceholderText, DIM_TEXT)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(110, 112, 118))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Window, window)
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Base, base)
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Button, window)
    app.setPalette(p)
