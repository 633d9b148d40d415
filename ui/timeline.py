"""The timeline: ruler, track headers, and one canvas painting every lane through one mapping.

Layout (top to bottom): ruler (seconds and bars|beats), a vertically scrolling body (track
headers on the left, the lane canvas on the right; the mix group first), and a horizontal
scroll bar that moves the shared mapping. The canvas paints only the rows and pixel columns
in its update rect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from PyQt6.QtCore import QEvent, QPointF, QRect, QRectF, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QFontMetrics, QMouseEvent, QPainter, QPolygonF
from PyQt6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QScrollArea,
    QScrollBar,
    QSizePolicy,
    QToolButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from . import theme
from .lanes import (
    MIX_KEY,
    Group,
    LaneFilter,
    TrackAnalysisView,
    group_at,
    group_rows,
    stack_groups,
    visible_groups,
)
from .layers import (
    PianoRoll,
    paint_label_rows,
    paint_row_title,
    paint_waveform,
    row_title,
)
from .peaks import Peaks
from .timemap import BarGrid, format_time, time_step, time_ticks
from .viewmanager import ViewManager

HEADER_WIDTH = 180
RULER_HEIGHT = 40
ZOOM_STEP = 1.25


@dataclass
class LaneState:
    """What one lane group shows: a session track (key = its index) or the mix (MIX_KEY)."""

    key: int
    name: str
    has_audio: bool
    has_midi: bool
    piano_roll: PianoRoll | None = None
    peaks: Peaks | None = None
    analysis: TrackAnalysisView | None = None
    analysing: bool = False
    audible: bool = True
    notes: list[str] = field(default_factory=list)  # short problems shown in the placeholder rows


def zoom_factor_for_wheel(delta_y: int) -> float:
    return ZOOM_STEP ** (delta_y / 120.0)


class LaneCanvas(QWidget):
    """Paints every lane group; all x come from the ViewManager's mapping."""

    def __init__(self, view: ViewManager, parent: QWidget | None = None):
        super().__init__(parent)
        self.view = view
        self.groups: list[Group] = []
        self.states: dict[int, LaneState] = {}
        self.bar_grid: BarGrid | None = None
        self.setMouseTracking(True)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.grabGesture(Qt.GestureType.PinchGesture)
        self._font = QFont(self.font())
        self._font.setPointSizeF(max(self._font.pointSizeF() * 0.8, 6.0))
        self._metrics = QFontMetrics(self._font)
        self._press: QPointF | None = None
        self._dragging = False
        self.hover_x: float | None = None

    # ---- painting ---------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        p = QPainter(self)
        rect = event.rect()
        x0, x1 = max(rect.left(), 0), min(rect.right() + 1, self.width())
        if x1 <= x0:
            return
        mapping = self.view.mapping
        groups = visible_groups(self.groups, rect.top(), rect.bottom() + 1)
        # One fill for the lanes, then the gaps between groups (and below the last) in the darker
        # background: every pixel is filled once.
        p.fillRect(rect, theme.LANE_BACKGROUND)
        y = rect.top()
        for group in groups:
            if group.y > y:
                p.fillRect(QRect(x0, y, x1 - x0, group.y - y), theme.BACKGROUND)
            y = group.y + group.height
        if y <= rect.bottom():
            p.fillRect(QRect(x0, y, x1 - x0, rect.bottom() + 1 - y), theme.BACKGROUND)
        self._paint_grid(p, rect, x0, x1)
        for group in groups:
            state = self.states.get(group.key)
            if state is None:
                continue
            p.setOpacity(1.0 if state.audible else 0.45)
            labelled = []
            for row in group.rows:
                if row.y > rect.bottom() or row.y + row.height < rect.top():
                    continue
                if row.label is not None:
                    labelled.append(row)
                else:
                    self._paint_row(p, row, state, x0, x1, mapping)
            if labelled:
                self._paint_label_rows(p, labelled, x0, x1, mapping)
            p.setOpacity(1.0)
        self._paint_overlays(p, rect, x0, x1)

    def _paint_grid(self, p: QPainter, rect: QRect, x0: int, x1: int) -> None:
        if self.bar_grid is None:
            return
        t0, t1 = self.view.mapping.time_of(x0 - 1), self.view.mapping.time_of(x1 + 1)
        p.setPen(theme.GRID)
        for t, _, is_bar in self.bar_grid.visible(t0, t1, self.view.mapping.seconds_per_pixel, 24.0):
            if is_bar:
                x = round(self.view.mapping.x_of(t))
                p.drawLine(x, rect.top(), x, rect.bottom())

    def _paint_row(self, p: QPainter, row, state: LaneState, x0: int, x1: int, mapping) -> None:
        if row.kind == "waveform":
            color = theme.MIX_WAVEFORM if state.key == MIX_KEY else theme.WAVEFORM
            paint_waveform(p, x0, x1, row.y + 2, row.height - 4, mapping, state.peaks, color)
            if state.notes:
                paint_row_title(p, 0, row.y + 2, 16, ", ".join(state.notes), theme.WARNING, self._font, self._metrics)
            elif state.peaks is None and state.has_audio:
                paint_row_title(p, 0, row.y + row.height // 2 - 8, 16, "waveform…", theme.DIM_TEXT,
                                self._font, self._metrics)
        elif row.kind == "pianoroll" and state.piano_roll is not None:
            state.piano_roll.paint(p, x0, x1, row.y, row.height, mapping)
        elif row.kind in ("instrument", "technique"):
            text = self._placeholder(row.kind, state)
            paint_row_title(p, 0, row.y, row.height, text, theme.DIM_TEXT, self._font, self._metrics)

    def _paint_label_rows(self, p: QPainter, rows, x0: int, x1: int, mapping) -> None:
        """A group's instrument and technique rows: one image, then captions and titles."""
        specs = []
        for row in rows:
            label = row.label
            color = (theme.family_color(label.family) if row.kind == "instrument"
                     else theme.technique_color(label.name))
            title = row_title(label)
            specs.append((row.y, row.height, label, color, self._metrics.horizontalAdvance(title) + 8, title))
        paint_label_rows(p, x0, x1, mapping, [s[:5] for s in specs], self._font, self._metrics)
        for y, h, _, color, _, title in specs:
            paint_row_title(p, 0, y, h, title, color, self._font, self._metrics)

    @staticmethod
    def _placeholder(kind: str, state: LaneState) -> str:
        if state.analysing:
            return "analysing…"
        if state.analysis is None:
            return "instruments: not analysed" if kind == "instrument" else "techniques: not analysed"
        return "no instrument found" if kind == "instrument" else "no technique found"

    def _paint_overlays(self, p: QPainter, rect: QRect, x0: int, x1: int) -> None:
        mapping = self.view.mapping
        if self.view.selection:
            s, e = self.view.selection
            sx, ex = mapping.x_of(s), mapping.x_of(e)
            p.fillRect(QRectF(sx, rect.top(), max(ex - sx, 1.0), rect.height()), theme.SELECTION)
        x = mapping.x_of(self.view.playhead)
        if x0 - 2 <= x <= x1 + 2:
            p.setPen(theme.PLAYHEAD)
            p.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom() + 1))

    # ---- hit testing (also what tooltips show) ----------------------------------------------
    def row_at(self, y: float):
        group = group_at(self.groups, y)
        if group is None:
            return None, None
        for row in group.rows:
            if row.y <= y < row.y + row.height:
                return group, row
        return group, None

    def describe_at(self, pos: QPointF) -> str:
        """Time, and the label and confidence under the pointer: the hover tooltip's text."""
        t = self.view.mapping.time_of(pos.x())
        group, row = self.row_at(pos.y())
        state = self.states.get(group.key) if group else None
        if state is None or row is None:
            return ""
        head = f"{format_time(t, 0.001)} · {state.name}"
        if row.kind == "pianoroll" and state.piano_roll is not None:
            note = state.piano_roll.describe(t, pos.y() - row.y, row.height)
            return f"{head}\n{note}" if note else head
        if row.kind in ("instrument", "technique") and row.label is not None:
            label = row.label
            seg = label.segment_at(t)
            activation = label.activation_at(t)
            if seg is not None:
                return (f"{head}\n{row_title(label)}: {seg.caption}\n"
                        f"segment {seg.start:.2f}–{seg.end:.2f} s, activation here {activation:.2f}")
            return f"{head}\n{row_title(label)}: activation {activation:.2f}"
        if row.kind in ("instrument", "technique"):
            return f"{head}\n{self._placeholder(row.kind, state)}"
        return head

    def segment_at(self, pos: QPointF) -> tuple[float, float] | None:
        t = self.view.mapping.time_of(pos.x())
        _, row = self.row_at(pos.y())
        if row is None or row.label is None:
            return None
        seg = row.label.segment_at(t)
        return (seg.start, seg.end) if seg else None

    # ---- input ------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = event.position()
            self._dragging = False
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self.hover_x = event.position().x()
        if self._press is not None and event.buttons() & Qt.MouseButton.LeftButton:
            if abs(event.position().x() - self._press.x()) > 3:
                self._dragging = True
            if self._dragging:
                m = self.view.mapping
                self.view.set_selection((m.time_of(self._press.x()), m.time_of(event.position().x())))
            return
        text = self.describe_at(event.position())
        if text:
            QToolTip.showText(event.globalPosition().toPoint(), text, self)
        else:
            QToolTip.hideText()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._press is not None:
            if not self._dragging:
                self.view.set_selection(self.segment_at(event.position()))
            self._press, self._dragging = None, False
        super().mouseReleaseEvent(event)

    def leaveEvent(self, event) -> None:
        self.hover_x = None
        super().leaveEvent(event)

    def wheelEvent(self, event) -> None:
        if handle_wheel(self.view, event):
            event.accept()
        else:
            event.ignore()  # plain wheel: the scroll area scrolls tracks

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.NativeGesture and handle_native_zoom(self.view, event):
            return True
        if event.type() == QEvent.Type.Gesture:  # a touch-screen pinch
            pinch = event.gesture(Qt.GestureType.PinchGesture)
            if pinch is not None and pinch.scaleFactor() > 0:
                centre = self.mapFromGlobal(pinch.centerPoint().toPoint())
                self.view.zoom_at(centre.x(), pinch.scaleFactor())
                event.accept()
                return True
        return super().event(event)


def handle_wheel(view: ViewManager, event) -> bool:
    """Ctrl+wheel zooms around the pointer; Shift+wheel or a sideways wheel scrolls time."""
    mods = event.modifiers()
    delta = event.angleDelta()
    if mods & Qt.KeyboardModifier.ControlModifier and delta.y():
        view.zoom_at(event.position().x(), zoom_factor_for_wheel(delta.y()))
        return True
    dx = delta.x() or (delta.y() if mods & Qt.KeyboardModifier.ShiftModifier else 0)
    if dx:
        view.scroll_by_pixels(-dx / 120.0 * 60.0)
        return True
    return False


def handle_native_zoom(view: ViewManager, event) -> bool:
    """A trackpad pinch (ZoomNativeGesture, value = relative scale change) zooms around it."""
    if event.gestureType() != Qt.NativeGestureType.ZoomNativeGesture:
        return False
    view.zoom_at(event.position().x(), max(1.0 + event.value(), 0.05))
    return True


class Ruler(QWidget):
    """Seconds on top, bars|beats below; click or drag to move the playhead."""

    seek_requested = pyqtSignal(float)

    def __init__(self, view: ViewManager, parent: QWidget | None = None):
        super().__init__(parent)
        self.view = view
        self.bar_grid: BarGrid | None = None
        self.loop_shown = False
        self.setFixedHeight(RULER_HEIGHT)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._font = QFont(self.font())
        self._font.setPointSizeF(max(self._font.pointSizeF() * 0.8, 6.0))

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(event.rect(), QColor(36, 37, 41))
        p.setFont(self._font)
        m = self.view.mapping
        w = self.width()
        t0, t1 = m.time_of(0), m.time_of(w)
        half = RULER_HEIGHT // 2
        if self.view.selection:
            s, e = self.view.selection
            color = QColor(110, 200, 120, 90) if self.loop_shown else theme.SELECTION
            p.fillRect(QRectF(m.x_of(s), 0, max(m.x_of(e) - m.x_of(s), 1.0), RULER_HEIGHT), color)
        step = time_step(m.seconds_per_pixel)
        for t in time_ticks(t0, t1, step):
            x = round(m.x_of(t))
            p.setPen(theme.GRID.lighter(150))
            p.drawLine(x, half - 6, x, half)
            p.setPen(theme.TEXT)
            p.drawText(QPointF(x + 3, half - 6), format_time(t, step))
        if self.bar_grid is not None:
            for t, label, is_bar in self.bar_grid.visible(t0, t1, m.seconds_per_pixel):
                x = round(m.x_of(t))
                p.setPen(theme.GRID.lighter(150))
                p.drawLine(x, half + (2 if is_bar else 10), x, RULER_HEIGHT)
                p.setPen(theme.TEXT if is_bar else theme.DIM_TEXT)
                p.drawText(QPointF(x + 3, RULER_HEIGHT - 4), label)
        p.setPen(theme.GRID)
        p.drawLine(0, half, w, half)
        x = m.x_of(self.view.playhead)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(theme.PLAYHEAD)
        p.drawPolygon(QPolygonF([QPointF(x - 5, 0), QPointF(x + 5, 0), QPointF(x, 8)]))
        p.setPen(theme.PLAYHEAD)
        p.drawLine(QPointF(x, 0), QPointF(x, RULER_HEIGHT))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.seek_requested.emit(max(self.view.mapping.time_of(event.position().x()), 0.0))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.seek_requested.emit(max(self.view.mapping.time_of(event.position().x()), 0.0))

    def wheelEvent(self, event) -> None:
        if handle_wheel(self.view, event):
            event.accept()
        elif event.angleDelta().y():  # a plain wheel over the ruler scrolls time
            self.view.scroll_by_pixels(-event.angleDelta().y() / 120.0 * 60.0)
            event.accept()

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.NativeGesture and handle_native_zoom(self.view, event):
            return True
        return super().event(event)


class TrackHeader(QWidget):
    """A lane group's name, mute and solo buttons, and its analysis progress."""

    mute_toggled = pyqtSignal(int, bool)
    solo_toggled = pyqtSignal(int, bool)

    def __init__(self, key: int, name: str, kind: str, muted: bool, solo: bool, parent: QWidget | None = None):
        super().__init__(parent)
        self.key = key
        self.setAutoFillBackground(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 4, 4)
        layout.setSpacing(2)
        self.name_label = QLabel(name)
        self.name_label.setToolTip(f"{name} ({kind})")
        bold = QFont(self.name_label.font())
        bold.setBold(True)
        self.name_label.setFont(bold)
        self.name_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        layout.addWidget(self.name_label)
        buttons = QHBoxLayout()
        buttons.setSpacing(3)
        self.mute_button = self._button("M", "Mute", muted, QColor(230, 160, 60))
        self.solo_button = self._button("S", "Solo", solo, QColor(90, 200, 110))
        self.kind_label = QLabel(kind)
        self.kind_label.setStyleSheet(f"color: {theme.DIM_TEXT.name()}")
        buttons.addWidget(self.mute_button)
        buttons.addWidget(self.solo_button)
        buttons.addWidget(self.kind_label, 1)
        layout.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(6)
        self.progress.hide()
        layout.addWidget(self.progress)
        layout.addStretch(1)
        if key == MIX_KEY:
            self.mute_button.hide()
            self.solo_button.hide()
        self.mute_button.toggled.connect(lambda on: self.mute_toggled.emit(self.key, on))
        self.solo_button.toggled.connect(lambda on: self.solo_toggled.emit(self.key, on))

    def _button(self, text: str, tip: str, checked: bool, color: QColor) -> QToolButton:
        b = QToolButton()
        b.setText(text)
        b.setToolTip(tip)
        b.setCheckable(True)
        b.setChecked(checked)
        b.setFixedSize(22, 18)
        b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space stays the play shortcut
        b.setStyleSheet(f"QToolButton:checked {{ background: {color.name()}; color: black; }}")
        return b

    def set_progress(self, fraction: float | None) -> None:
        if fraction is None:
            self.progress.hide()
        else:
            self.progress.show()
            self.progress.setValue(int(max(0.0, min(fraction, 1.0)) * 1000))


class TimelineBody(QWidget):
    """The vertically scrolling part: headers at the left, the canvas at the right."""

    def __init__(self, view: ViewManager, parent: QWidget | None = None):
        super().__init__(parent)
        self.canvas = LaneCanvas(view, self)
        self.headers: dict[int, TrackHeader] = {}
        self.content_height = 0

    def resizeEvent(self, event) -> None:
        self.canvas.setGeometry(HEADER_WIDTH, 0, max(self.width() - HEADER_WIDTH, 1), self.height())
        super().resizeEvent(event)

    def place(self, groups: list[Group]) -> None:
        shown = {g.key for g in groups}
        for key, header in self.headers.items():
            header.setVisible(key in shown)
        for g in groups:
            header = self.headers.get(g.key)
            if header is not None:
                header.setGeometry(0, g.y, HEADER_WIDTH - 2, g.height)
        self.content_height = (groups[-1].y + groups[-1].height) if groups else 0
        self.setMinimumHeight(self.content_height + 4)
        self.canvas.setGeometry(HEADER_WIDTH, 0, max(self.width() - HEADER_WIDTH, 1), max(self.height(), self.content_height + 4))


class TimelineView(QWidget):
    """Ruler + lanes + piano rolls for one session, sharing one ViewManager."""

    mute_changed = pyqtSignal(int, bool)
    solo_changed = pyqtSignal(int, bool)

    def __init__(self, view: ViewManager, parent: QWidget | None = None):
        super().__init__(parent)
        self.view = view
        self.lane_filter = LaneFilter()
        self.lane_scale = 1.0
        self.states: dict[int, LaneState] = {}
        self._order: list[int] = []

        self.corner = QLabel("0:00.000")
        self.corner.setFixedSize(HEADER_WIDTH, RULER_HEIGHT)
        self.corner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.corner.setStyleSheet("font-family: monospace; font-size: 13pt;")
        self.ruler = Ruler(view)
        self.body = TimelineBody(view)
        self.canvas = self.body.canvas
        self.scroll = QScrollArea()
        self.scroll.setWidget(self.body)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.hbar = QScrollBar(Qt.Orientation.Horizontal)

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.setSpacing(0)
        top.addWidget(self.corner)
        top.addWidget(self.ruler, 1)
        top.addSpacing(self.scroll.verticalScrollBar().sizeHint().width())
        bottom = QHBoxLayout()
        bottom.setContentsMargins(HEADER_WIDTH, 0, self.scroll.verticalScrollBar().sizeHint().width(), 0)
        bottom.addWidget(self.hbar)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(top)
        layout.addWidget(self.scroll, 1)
        layout.addLayout(bottom)

        view.view_changed.connect(self._on_view_changed)
        view.playhead_changed.connect(self._on_playhead)
        view.selection_changed.connect(lambda _: self._repaint_all())
        self.hbar.valueChanged.connect(self._on_hbar)
        self._last_playhead_x: float | None = None
        self._syncing = False
        self._progress: dict[int, float | None] = {}
        self._relayout_pending = False
        self._pending_timer = QTimer(self)
        self._pending_timer.setSingleShot(True)
        self._pending_timer.setInterval(100)
        self._pending_timer.timeout.connect(self.flush_pending)
        self.canvas.installEventFilter(self)

    # ---- content ----------------------------------------------------------------------------
    def set_session(self, session) -> None:
        """One lane group per track (folders included, they have a header and empty lanes)."""
        for header in self.body.headers.values():
            header.setParent(None)
            header.deleteLater()
        self.body.headers.clear()
        self.states.clear()
        mix = LaneState(MIX_KEY, "Mix", has_audio=True, has_midi=False)
        self.states[MIX_KEY] = mix
        self._order = [MIX_KEY]
        self._add_header(MIX_KEY, "Mix", "mix of the audible tracks", False, False)
        for i, track in enumerate(session.tracks):
            has_audio = bool(track.clips)
            has_midi = bool(track.midi_clips)
            state = LaneState(i, track.name or f"Track {i + 1}", has_audio, has_midi)
            if has_midi:
                state.piano_roll = PianoRoll(track)
            missing = sum(c.missing for c in track.clips)
            if missing:
                state.notes.append(f"{missing} of {len(track.clips)} clips: media missing (silent)")
            self.states[i] = state
            self._order.append(i)
            self._add_header(i, state.name, track.kind, track.muted, track.solo)
        self.canvas.states = self.states
        grid = BarGrid(session.tempo, session.duration)
        self.canvas.bar_grid = self.ruler.bar_grid = grid
        self.relayout()
        self.scroll.verticalScrollBar().setValue(0)

    def _add_header(self, key: int, name: str, kind: str, muted: bool, solo: bool) -> None:
        header = TrackHeader(key, name, kind, muted, solo, self.body)
        header.mute_toggled.connect(self.mute_changed)
        header.solo_toggled.connect(self.solo_changed)
        header.show()
        self.body.headers[key] = header

    def relayout(self) -> None:
        self._relayout_pending = False
        specs = []
        flt = self.lane_filter
        for key in self._order:
            state = self.states[key]
            hidden = flt.hide_unmatched and flt.active and key != MIX_KEY
            if hidden and (state.analysis is None or not state.analysis.matches(flt)):
                continue
            specs.append((key, group_rows(state.has_audio, state.has_midi, state.analysis, flt, self.lane_scale)))
        self.canvas.groups = stack_groups(specs)
        self.body.place(self.canvas.groups)
        self.canvas.update()

    def set_peaks(self, key: int, peaks: Peaks) -> None:
        state = self.states.get(key)
        if state is not None:
            state.peaks = peaks
            self._update_group(key)

    def set_analysis(self, key: int, analysis: TrackAnalysisView) -> None:
        """A track's results: its lanes are laid out again on the next turn of the event loop
        (a burst of results costs one layout and one repaint)."""
        state = self.states.get(key)
        if state is not None:
            state.analysis = analysis
            state.analysing = False
            self._progress[key] = None
            self._pending_timer.start()
            self._relayout_pending = True

    def set_analysing(self, key: int, fraction: float | None) -> None:
        """Per-track analysis progress (None: not analysing); bars update at most 10 times a second
        (a QProgressBar repaints synchronously, which would flush every pending repaint)."""
        state = self.states.get(key)
        if state is None:
            return
        was = state.analysing
        state.analysing = fraction is not None
        self._progress[key] = fraction
        if not self._pending_timer.isActive():
            self._pending_timer.start()
        if was != state.analysing:
            self._update_group(key)

    def flush_pending(self) -> None:
        """Apply waiting progress values and layout now."""
        self._pending_timer.stop()
        progress, self._progress = self._progress, {}
        for key, fraction in progress.items():
            header = self.body.headers.get(key)
            if header is not None:
                header.set_progress(fraction)
        if self._relayout_pending:
            self.relayout()

    def set_audible(self, audible_keys: set[int]) -> None:
        for key, state in self.states.items():
            state.audible = key == MIX_KEY or key in audible_keys
        self.canvas.update()

    def set_filter(self, flt: LaneFilter) -> None:
        self.lane_filter = flt
        self.relayout()

    def set_lane_scale(self, scale: float) -> None:
        self.lane_scale = min(max(scale, 0.4), 3.0)
        self.relayout()

    def group_of(self, key: int) -> Group | None:
        return next((g for g in self.canvas.groups if g.key == key), None)

    def _update_group(self, key: int) -> None:
        group = self.group_of(key)
        if group is not None:
            self.canvas.update(QRect(0, group.y, self.canvas.width(), group.height))

    # ---- view sync --------------------------------------------------------------------------
    def _on_view_changed(self) -> None:
        m = self.view.mapping
        self._syncing = True
        self.hbar.setRange(0, round(m.max_left(self.view.duration, self.view.width) * 1000))
        self.hbar.setPageStep(max(int(self.view.width * m.seconds_per_pixel * 1000), 1))
        self.hbar.setSingleStep(max(int(60 * m.seconds_per_pixel * 1000), 1))
        self.hbar.setValue(round(m.left_time * 1000))
        self._syncing = False
        self._repaint_all()

    def _on_hbar(self, value: int) -> None:
        if not self._syncing:
            self.view.scroll_to(value / 1000.0)

    def _repaint_all(self) -> None:
        self.ruler.update()
        self.canvas.update()

    def _on_playhead(self, t: float) -> None:
        self.corner.setText(format_time(t, 0.001))
        x = self.view.mapping.x_of(t)
        self.ruler.update()
        for old in (self._last_playhead_x, x):  # repaint only the two thin strips that change
            if old is not None and -2 <= old <= self.canvas.width() + 2:
                self.canvas.update(QRect(math.floor(old) - 2, 0, 5, self.canvas.height()))
        self._last_playhead_x = x

    def eventFilter(self, obj, event) -> bool:
        if obj is self.canvas and event.type() == QEvent.Type.Resize:
            self.view.set_width(self.canvas.width())
        return super().eventFilter(obj, event)

    def zoom_keys(self, factor: float) -> None:
        """Zoom from the keyboard around the pointer when it is over the lanes, else the centre."""
        x = self.canvas.hover_x
        if x is None:
            local = self.canvas.mapFromGlobal(self.cursor().pos())
            x = local.x() if self.canvas.rect().contains(local) else self.canvas.width() / 2
        self.view.zoom_at(x, factor)
