"""Docked panels: problems (missing media, errors; non-modal) and the inspector (what each track
holds, and the lane filter)."""

from __future__ import annotations

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QListWidget,
    QListWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from . import theme
from .lanes import FAMILIES, MIX_KEY, TECHNIQUES, LaneFilter, TrackAnalysisView, pretty

_ALL = "All"


class ProblemsPanel(QListWidget):
    """One line per problem, newest last; the same line is listed once."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWordWrap(True)
        self.setAlternatingRowColors(True)
        self._seen: set[str] = set()

    def add(self, text: str, kind: str = "warning") -> None:
        line = f"{'⚠' if kind == 'warning' else '✖'} {text}"
        if line in self._seen:
            return
        self._seen.add(line)
        item = QListWidgetItem(line)
        item.setToolTip(text)
        if kind == "error":
            item.setForeground(theme.PLAYHEAD)
        self.addItem(item)

    def clear_problems(self) -> None:
        self._seen.clear()
        self.clear()

    def lines(self) -> list[str]:
        return [self.item(i).toolTip() for i in range(self.count())]


class InspectorPanel(QWidget):
    """Every track's instruments and techniques; the filter the lanes obey."""

    filter_changed = pyqtSignal(object)  # LaneFilter
    range_selected = pyqtSignal(float, float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.instrument_box = QComboBox()
        self.technique_box = QComboBox()
        self.hide_box = QCheckBox("Hide tracks without a match")
        self.instrument_box.addItem(_ALL, None)
        for family in FAMILIES:
            self.instrument_box.addItem(pretty(family), family)
        self.technique_box.addItem(_ALL, None)
        for name in TECHNIQUES:
            self.technique_box.addItem(pretty(name), name)
        form = QFormLayout()
        form.addRow("Instrument", self.instrument_box)
        form.addRow("Technique", self.technique_box)
        form.addRow(self.hide_box)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Track / label", "Confidence", "Seconds"])
        self.tree.setColumnWidth(0, 190)
        self.tree.setRootIsDecorated(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(form)
        layout.addWidget(self.tree, 1)
        self._items: dict[int, QTreeWidgetItem] = {}
        self.instrument_box.currentIndexChanged.connect(self._emit_filter)
        self.technique_box.currentIndexChanged.connect(self._emit_filter)
        self.hide_box.toggled.connect(self._emit_filter)
        self.tree.itemActivated.connect(self._on_activated)
        self.tree.itemClicked.connect(self._on_clicked)

    # ---- filter -----------------------------------------------------------------------------
    def current_filter(self) -> LaneFilter:
        return LaneFilter(self.instrument_box.currentData(), self.technique_box.currentData(),
                          self.hide_box.isChecked())

    def set_filter(self, instrument: str | None = None, technique: str | None = None,
                   hide_unmatched: bool | None = None) -> None:
        for box, value in ((self.instrument_box, instrument), (self.technique_box, technique)):
            index = box.findData(value)
            if index < 0 and value is not None:
                box.addItem(pretty(value), value)
                index = box.count() - 1
            box.blockSignals(True)
            box.setCurrentIndex(max(index, 0))
            box.blockSignals(False)
        if hide_unmatched is not None:
            self.hide_box.blockSignals(True)
            self.hide_box.setChecked(hide_unmatched)
            self.hide_box.blockSignals(False)
        self._emit_filter()

    def _emit_filter(self, *_) -> None:
        self.filter_changed.emit(self.current_filter())

    # ---- tracks -----------------------------------------------------------------------------
    def set_tracks(self, names: dict[int, str]) -> None:
        self.tree.clear()
        self._items.clear()
        for key, name in names.items():
            item = QTreeWidgetItem([name, "", ""])
            item.setData(0, Qt.ItemDataRole.UserRole, None)
            item.setForeground(1, theme.DIM_TEXT)
            item.setText(1, "not analysed")
            self.tree.addTopLevelItem(item)
            self._items[key] = item

    def set_track_analysis(self, key: int, view: TrackAnalysisView) -> None:
        item = self._items.get(key)
        if item is None:
            return
        item.takeChildren()
        item.setText(1, "")
        instruments = QTreeWidgetItem(["Instruments", "", ""])
        for row in view.family_rows:
            fam = QTreeWidgetItem([pretty(row.name), f"{row.confidence:.0%}", f"{_active(row):.1f}"])
            fam.setData(0, Qt.ItemDataRole.UserRole, ("instrument", row.name, row.segments[0].start,
                                                      row.segments[0].end))
            fam.setForeground(0, theme.family_color(row.family))
            for fine in sorted((r for r in view.fine_rows.values() if r.family == row.name),
                               key=lambda r: -r.confidence):
                child = QTreeWidgetItem([pretty(fine.name), f"{fine.confidence:.0%}", f"{_active(fine):.1f}"])
                child.setData(0, Qt.ItemDataRole.UserRole, ("instrument", fine.name, fine.segments[0].start,
                                                            fine.segments[0].end))
                fam.addChild(child)
            instruments.addChild(fam)
        techniques = QTreeWidgetItem(["Techniques", "", ""])
        for row in view.technique_rows:
            tech = QTreeWidgetItem([f"{pretty(row.name)} ×{len(row.segments)}", f"{row.confidence:.0%}",
                                    f"{_active(row):.1f}"])
            tech.setData(0, Qt.ItemDataRole.UserRole, ("technique", row.name, row.segments[0].start,
                                                       row.segments[0].end))
            tech.setForeground(0, theme.technique_color(row.name))
            techniques.addChild(tech)
        if not view.family_rows:
            instruments.setText(1, "none found")
        if not view.technique_rows:
            techniques.setText(1, "none found")
        item.addChild(instruments)
        item.addChild(techniques)
        item.setExpanded(key != MIX_KEY or len(self._items) == 1)
        instruments.setExpanded(True)
        techniques.setExpanded(True)

    def set_track_status(self, key: int, text: str) -> None:
        item = self._items.get(key)
        if item is not None:
            item.setText(1, text)

    def _on_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        data = item.data(0, Qt.ItemDataRole.UserRole)
        if data:
            self.range_selected.emit(data[2], data[3])

    def _on_activated(self, item: QTreeWidgetItem, _column: int) -> None:
        """Double-click or Enter on a label: show only that label in the lanes."""
        data = item.data(0, Qt.ItemDataRole.UserRole)
        if not data:
            return
        group, name = data[0], data[1]
        current = self.current_filter()
        if group == "instrument":
            self.set_filter(instrument=name, technique=current.technique)
        else:
            self.set_filter(instrument=current.instrument, technique=name)


def _active(row) -> float:
    return sum(s.end - s.start for s in row.segments)
