"""How each lane kind paints through the shared mapping (Sonic Visualiser's layers, in QPainter).

Every painter draws only pixel columns [x0, x1) of a row and asks the mapping for every x, so a
repaint costs the visible width, never the session's length. Waveforms and activations are
decimated per pixel with numpy and drawn as one image per row.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QPointF, QRectF, Qt
from PyQt6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPolygonF

from . import theme
from .lanes import LabelRow, pretty
from .peaks import Peaks, reduce_per_pixel
from .timemap import TimeMapping

MIN_KEYS = 13
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def note_name(pitch: int) -> str:
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def _argb(color: QColor) -> int:
    return (color.alpha() << 24) | (color.red() << 16) | (color.green() << 8) | color.blue()


def _image(pixels: np.ndarray) -> QImage:
    """A QImage over a C-contiguous uint32 (h, w) array; the caller keeps the array alive."""
    h, w = pixels.shape
    return QImage(pixels.data, w, h, w * 4, QImage.Format.Format_ARGB32)


def _device_pixel_ratio(p: QPainter) -> float:
    """Physical pixels per logical pixel of what is painted on (2 on a high-DPI screen)."""
    device = p.device()
    return max(float(device.devicePixelRatioF()), 1.0) if device is not None else 1.0


def paint_waveform(p: QPainter, x0: int, x1: int, y: int, h: int, mapping: TimeMapping,
                   peaks: Peaks | None, color: QColor) -> None:
    """min/max per physical pixel column, normalised to the track's own peak, as one image."""
    if peaks is None or x1 <= x0 or h <= 2:
        p.setPen(theme.GRID)
        p.drawLine(x0, y + h // 2, x1, y + h // 2)
        return
    dpr = _device_pixel_ratio(p)
    width, height = round((x1 - x0) * dpr), round(h * dpr)
    lo, hi, valid = peaks.per_pixel(mapping.time_of(x0), mapping.seconds_per_pixel / dpr, width)
    scale = (height / 2 - 1) / max(peaks.peak, 1e-4)
    centre = (height - 1) / 2
    top = np.floor(centre - hi * scale).astype(np.int32)
    bottom = np.ceil(centre - lo * scale).astype(np.int32)
    rows = np.arange(height, dtype=np.int32)[:, None]
    mask = (rows >= top[None, :]) & (rows <= bottom[None, :]) & valid[None, :]
    pixels = np.where(mask, np.uint32(_argb(color)), np.uint32(0)).astype(np.uint32)
    image = _image(pixels)
    image.setDevicePixelRatio(dpr)
    p.drawImage(QPointF(x0, y), image)


def paint_label_rows(p: QPainter, x0: int, x1: int, mapping: TimeMapping,
                     rows: list[tuple[int, int, LabelRow, QColor, float]], font: QFont,
                     metrics: QFontMetrics) -> None:
    """Label rows (y, height, row, colour, text_left) of one group, drawn as one image: each
    label's activation as opacity per pixel with a bar under its segments; then captions on the
    segments wide enough for one (right of text_left, where the row's title ends)."""
    width = x1 - x0
    if width <= 0 or not rows:
        return
    t0, spp = mapping.time_of(x0), mapping.seconds_per_pixel
    columns = round(width * _device_pixel_ratio(p))  # physical pixel columns
    top = min(y for y, _, _, _, _ in rows)
    bottom = max(y + h for y, h, _, _, _ in rows)
    pixels = np.zeros((bottom - top, columns), dtype=np.uint32)
    for y, h, row, color, _ in rows:
        act, _ = reduce_per_pixel(row.activation, row.hop_seconds, t0, spp * width / columns, columns, np.maximum)
        rgb = np.uint32(_argb(color) & 0xFFFFFF)
        bar = 3 if h >= 12 else 2
        r = y - top
        pixels[r + 1:r + h - bar] = ((act.astype(np.uint32) * 200 // 255) << 24) | rgb
        pixels[r + h - bar:r + h] = np.where(row.coverage(t0, spp * width / columns, columns),
                                             np.uint32(0xFF000000) | rgb, np.uint32(0))
    p.drawImage(QRectF(x0, top, width, bottom - top), _image(pixels), QRectF(0, 0, columns, bottom - top))
    p.setFont(font)
    p.setPen(theme.TEXT)
    t1 = mapping.time_of(x1)
    for y, h, row, _, text_left in rows:
        bar = 3 if h >= 12 else 2
        baseline = y + (h - bar + metrics.ascent() - metrics.descent()) / 2
        for seg in row.wide_segments(t0, t1, spp, 40):
            text_x = max(mapping.x_of(seg.start), text_left) + 3
            room = min(mapping.x_of(seg.end), x1 + 400) - text_x - 3
            caption = fitting_caption(seg, room, metrics)
            if caption:
                p.drawText(QPointF(text_x, baseline), caption)


_CAPTION_WIDTHS: dict[tuple[str, int], int] = {}


def fitting_caption(seg, room: float, metrics: QFontMetrics) -> str | None:
    """The segment's caption ("distorted guitar 82%"), or its label alone, whichever fits."""
    for text in (seg.caption, seg.caption.rsplit(" ", 1)[0]):
        key = (text, id(metrics))
        width = _CAPTION_WIDTHS.get(key)
        if width is None:
            width = _CAPTION_WIDTHS[key] = metrics.horizontalAdvance(text)
            if len(_CAPTION_WIDTHS) > 4096:
                _CAPTION_WIDTHS.clear()
        if width <= room:
            return text
    return None


def paint_row_title(p: QPainter, x: int, y: int, h: int, text: str, color: QColor, font: QFont,
                    metrics: QFontMetrics) -> int:
    """The row's name pinned at the lanes' left edge, on a dark pill so data stays readable;
    returns the pill's right edge."""
    w = metrics.horizontalAdvance(text) + 8
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(20, 21, 24, 200))
    p.drawRect(QRectF(x, y + 1, w, h - 2))
    p.setPen(color)
    p.setFont(font)
    p.drawText(QRectF(x + 4, y, w, h), Qt.AlignmentFlag.AlignVCenter, text)
    return x + w


class PianoRoll:
    """A MIDI track's notes and pitch bends as arrays, painted through the shared mapping."""

    def __init__(self, track):
        notes = track.notes
        self.starts = np.array([n.start for n in notes], dtype=np.float64)
        self.ends = np.array([n.end for n in notes], dtype=np.float64)
        self.pitches = np.array([n.pitch for n in notes], dtype=np.int32)
        self.velocities = np.array([n.velocity for n in notes], dtype=np.int32)
        order = np.argsort(self.starts, kind="stable")
        self.starts, self.ends = self.starts[order], self.ends[order]
        self.pitches, self.velocities = self.pitches[order], self.velocities[order]
        self.longest = float((self.ends - self.starts).max()) if len(notes) else 0.0
        low, high = (int(self.pitches.min()) - 1, int(self.pitches.max()) + 1) if len(notes) else (60, 71)
        short = max(0, MIN_KEYS - (high - low + 1))  # at least an octave: notes stay note-shaped
        self.low, self.high = max(low - short // 2, 0), min(high + short - short // 2, 127)
        bends = sorted((e.time, e.value) for c in track.midi_clips if not c.muted
                       for e in c.events if e.kind == "pitchwheel")
        self.bend_times = np.array([t for t, _ in bends], dtype=np.float64)
        self.bend_values = np.array([v for _, v in bends], dtype=np.float64)

    def visible_notes(self, t0: float, t1: float) -> np.ndarray:
        """Indices of the notes sounding somewhere in [t0, t1]."""
        lo = int(np.searchsorted(self.starts, t0 - self.longest, side="left"))
        hi = int(np.searchsorted(self.starts, t1, side="right"))
        idx = np.arange(lo, hi)
        return idx[self.ends[lo:hi] >= t0]

    def note_rect(self, i: int, mapping: TimeMapping, y: int, h: int) -> QRectF:
        """Where note i is drawn (also what the tests measure)."""
        span = self.high - self.low + 1
        key_h = h / span
        top = y + (self.high - self.pitches[i]) * key_h
        sx, ex = mapping.x_of(self.starts[i]), mapping.x_of(self.ends[i])
        return QRectF(sx, top, max(ex - sx, 1.0), max(key_h - (1 if key_h > 3 else 0), 1.0))

    def note_at(self, t: float, y_in_row: float, h: int) -> int | None:
        span = self.high - self.low + 1
        pitch = self.high - int(y_in_row / (h / span))
        for i in self.visible_notes(t, t):
            if self.pitches[i] == pitch and self.starts[i] <= t <= self.ends[i]:
                return int(i)
        return None

    def paint(self, p: QPainter, x0: int, x1: int, y: int, h: int, mapping: TimeMapping) -> None:
        t0, t1 = mapping.time_of(x0), mapping.time_of(x1)
        span = self.high - self.low + 1
        key_h = h / span
        p.setPen(Qt.PenStyle.NoPen)
        for pitch in range(self.low, self.high + 1):  # black keys darker, C lines marked
            if pitch % 12 in (1, 3, 6, 8, 10):
                p.fillRect(QRectF(x0, y + (self.high - pitch) * key_h, x1 - x0, key_h), QColor(33, 34, 38))
        idx = self.visible_notes(t0, t1)
        if len(idx):
            sx = np.maximum(mapping.xs_of(self.starts[idx]), x0 - 1)
            ex = np.minimum(mapping.xs_of(self.ends[idx]), x1 + 1)
            tops = y + (self.high - self.pitches[idx]) * key_h
            note_h = max(key_h - (1 if key_h > 3 else 0), 1.0)
            shade = np.clip(self.velocities[idx] // 16, 0, 7)
            for level in np.unique(shade):
                sel = shade == level
                color = QColor(theme.NOTE)
                color.setAlpha(int(80 + 175 * (level + 1) / 8))
                p.setBrush(color)
                p.drawRects([QRectF(a, b, max(c - a, 1.0), note_h)
                             for a, b, c in zip(sx[sel].tolist(), tops[sel].tolist(), ex[sel].tolist())])
        self._paint_bends(p, x0, x1, y, h, mapping, t0, t1)

    def _paint_bends(self, p, x0, x1, y, h, mapping, t0, t1) -> None:
        if not len(self.bend_times):
            return
        lo = max(int(np.searchsorted(self.bend_times, t0)) - 1, 0)
        hi = int(np.searchsorted(self.bend_times, t1)) + 1
        times, values = self.bend_times[lo:hi], self.bend_values[lo:hi]
        if not len(times) or not np.any(values):
            return
        if len(times) > 4 * (x1 - x0):  # more bends than pixels: keep one per pixel
            xs = mapping.xs_of(times).astype(np.int64)
            keep = np.concatenate(([True], np.diff(xs) != 0))
            times, values = times[keep], values[keep]
        centre = y + h / 2
        ys = centre - values / 8192.0 * (h / 2 - 2)
        xs = mapping.xs_of(times)
        points = []
        for k in range(len(xs)):  # steps: a bend holds until the next one
            x = max(xs[k], x0 - 1)
            if points:
                points.append(QPointF(x, points[-1].y()))
            points.append(QPointF(x, ys[k]))
        points.append(QPointF(x1 + 1, points[-1].y()))
        p.setPen(theme.BEND)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawPolyline(QPolygonF(points))

    def describe(self, t: float, y_in_row: float, h: int) -> str:
        i = self.note_at(t, y_in_row, h)
        if i is None:
            return ""
        return (f"{note_name(int(self.pitches[i]))} velocity {int(self.velocities[i])}, "
                f"{self.starts[i]:.3f}–{self.ends[i]:.3f} s")


def row_title(row: LabelRow) -> str:
    if row.group == "fine" and row.family:
        return f"{pretty(row.family)}: {row.title}"
    return row.title

