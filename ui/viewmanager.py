"""Keeps zoom, scroll, playhead and selection in step across the ruler, lanes and piano roll."""

from __future__ import annotations

from PyQt6.QtCore import QObject, pyqtSignal

from .timemap import TimeMapping


class ViewManager(QObject):
    """Owns the one TimeMapping; every view paints through it and listens for `view_changed`."""

    view_changed = pyqtSignal()
    playhead_changed = pyqtSignal(float)
    selection_changed = pyqtSignal(object)  # (start, end) or None

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.mapping = TimeMapping()
        self.duration = 0.0
        self.width = 800  # pixels of lane area
        self.playhead = 0.0
        self.selection: tuple[float, float] | None = None
        self._fitted = True  # until the user zooms, a resize refits the session

    # ---- geometry ---------------------------------------------------------------------------
    def set_duration(self, duration: float) -> None:
        self.duration = max(float(duration), 0.0)
        self.fit()

    def set_width(self, width: int) -> None:
        width = max(int(width), 1)
        if width == self.width:
            return
        self.width = width
        if self._fitted:
            self.mapping.fit(self.duration, width)
        else:
            self.mapping.clamp(self.duration, width)
        self.view_changed.emit()

    def visible_range(self) -> tuple[float, float]:
        return self.mapping.visible_range(self.width)

    # ---- zoom and scroll --------------------------------------------------------------------
    def fit(self) -> None:
        self.mapping.fit(self.duration, self.width)
        self._fitted = True
        self.view_changed.emit()

    def zoom_at(self, x: float, factor: float) -> None:
        """Zoom by `factor` keeping the time under pixel x fixed (unless that would scroll
        before the session's start)."""
        if factor <= 0:
            return
        self.mapping.zoom_about(x, factor)
        if self.mapping.left_time < 0:
            self.mapping.left_time = 0.0
        self._fitted = False
        self.view_changed.emit()

    def scroll_to(self, left_time: float) -> None:
        self.mapping.left_time = left_time
        self.mapping.clamp(self.duration, self.width)
        self._fitted = False
        self.view_changed.emit()

    def scroll_by_pixels(self, dx: float) -> None:
        self.scroll_to(self.mapping.left_time + dx * self.mapping.seconds_per_pixel)

    # ---- playhead and selection ------------------------------------------------------------
    def set_playhead(self, t: float, follow: bool = False) -> None:
        self.playhead = min(max(float(t), 0.0), max(self.duration, 0.0))
        if follow:
            t0, t1 = self.visible_range()
            if not t0 <= self.playhead <= t1:
                span = t1 - t0
                self.scroll_to(self.playhead - 0.05 * span)
        self.playhead_changed.emit(self.playhead)

    def set_selection(self, selection: tuple[float, float] | None) -> None:
        if selection is not None:
            start, end = sorted(selection)
            selection = (max(start, 0.0), min(end, self.duration)) if end - start > 1e-4 else None
        if selection != self.selection:
            self.selection = selection
            self.selection_changed.emit(selection)
