"""The main window: menus from the shortcut table, the timeline, docks, status bar, and the
background jobs (loading, overviews, analysis, playback render) wired to them.

Every long job runs on a GeneratorThread; the window only receives plain data through signals.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from PyQt6.QtCore import QMimeData, QSettings, Qt, QTimer, QUrl, pyqtSignal
from PyQt6.QtGui import QAction, QDrag, QKeySequence
from PyQt6.QtWidgets import (
    QApplication,
    QDialog,
    QDockWidget,
    QFileDialog,
    QHeaderView,
    QLabel,
    QMainWindow,
    QProgressBar,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .lanes import MIX_KEY, LaneFilter, TrackAnalysisView
from .opening import SESSION_EXTENSIONS, open_paths, openable
from .panels import InspectorPanel, ProblemsPanel
from .peaks import PeakCache, compute_overviews
from .playback import PlaybackController, session_with_flags
from .shortcuts import GESTURES, SHORTCUTS
from .timeline import ZOOM_STEP, TimelineView
from .viewmanager import ViewManager
from .workers import GeneratorThread, ThreadRegistry, one_line

MAX_RECENT = 10
ORGANIZATION = "stemscope"
APPLICATION = "stemscope"
_PEAK_CACHE = PeakCache()  # overviews survive closing and reopening a session in one app run


def app_settings() -> QSettings:
    """The app's settings (INI in the user scope, so tests can move them with QSettings.setPath)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


def load_job(cancel: threading.Event, paths: list[str]):
    """The opened Session (a SessionError becomes the job's one-line failure)."""
    yield open_paths(paths)


def analysis_job(cancel: threading.Event, session, device: str, cache_only: bool):
    """The engine's events, each with its track's lane rows built here, off the GUI thread."""
    from plugin.analysis import analyze

    for event in analyze(session, device=device, cancel=cancel, use_cache=True, cache_only=cache_only):
        view = None
        if event.kind == "track" and event.result is not None:
            timelines = event.result.timelines
            view = TrackAnalysisView(timelines.get("instrument"), timelines.get("technique"))
        yield event, view


class MidiDragButton(QToolButton):
    """Drag the analysis out of the window as a MIDI file (a file URL in the user cache)."""

    def __init__(self, window: MainWindow):
        super().__init__()
        self._window = window
        self.setText("⇲ MIDI")
        self.setToolTip("Drag the analysis as a MIDI file into your DAW or a folder")
        self._press = None

    def mousePressEvent(self, event) -> None:
        self._press = event.position()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if (self._press is not None and event.buttons() & Qt.MouseButton.LeftButton
                and (event.position() - self._press).manhattanLength() >= QApplication.startDragDistance()):
            self._press = None
            mime = self._window.midi_drag_mime()
            if mime is not None:
                drag = QDrag(self)
                drag.setMimeData(mime)
                drag.exec(Qt.DropAction.CopyAction)
            return
        super().mouseMoveEvent(event)


class MainWindow(QMainWindow):
    """The app's window.

    `device`: where analysis runs (auto, cpu, cuda). `use_settings`: restore and save geometry
    and dock layout, and remember opened sessions. `auto_cached_analysis`: show cached results on
    open (an analysis run that computes nothing). `use_audio`: look for an audio device.
    """

    session_loaded = pyqtSignal(object)
    load_failed = pyqtSignal(str)
    overviews_done = pyqtSignal()
    analysis_finished = pyqtSignal(str)  # "done", "cancelled" or "failed"

    def __init__(self, *, device: str = "auto", use_settings: bool = True, auto_cached_analysis: bool = True,
                 use_audio: bool = True):
        super().__init__()
        self.setWindowTitle("Stemscope")
        self.setAcceptDrops(True)
        self.device = device
        self.auto_cached_analysis = auto_cached_analysis
        self._use_settings = use_settings
        self.session = None
        self.analysis = None
        self._load_generation = 0
        self._threads = ThreadRegistry(self)
        self._overview_job: GeneratorThread | None = None
        self._analysis_job: GeneratorThread | None = None
        self._analysis_keys: list[int] = []
        self._mix_overview_timer = QTimer(self)
        self._mix_overview_timer.setSingleShot(True)
        self._mix_overview_timer.setInterval(300)
        self._mix_overview_timer.timeout.connect(lambda: self.session is not None and self._start_overviews())
        self._analysis_cache_only = False
        self._shut_down = False

        self.view = ViewManager(self)
        self.timeline = TimelineView(self.view)
        self.setCentralWidget(self.timeline)
        self.playback = PlaybackController(self._threads, self, use_audio=use_audio)

        self.problems = ProblemsPanel()
        self.problems_dock = self._dock("Problems", "problems", self.problems, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.inspector = InspectorPanel()
        self.inspector_dock = self._dock("Inspector", "inspector", self.inspector, Qt.DockWidgetArea.RightDockWidgetArea)
        self.problems_dock.hide()

        self.actions: dict[str, QAction] = {}
        self._build_actions()
        self._build_menus()
        self._build_status_bar()
        self._connect()
        self.resize(1400, 900)
        if use_settings:
            self._restore_window()

    # ---- construction -----------------------------------------------------------------------
    def _dock(self, title: str, name: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{name}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_actions(self) -> None:
        handlers = {
            "open": self.open_dialog, "quit": self.close, "play": self.playback.toggle,
            "loop": None, "home": lambda: self.seek(0.0), "analyze": self.start_analysis,
            "cancel": self.cancel_analysis, "zoom_in": lambda: self.timeline.zoom_keys(ZOOM_STEP),
            "zoom_out": lambda: self.timeline.zoom_keys(1 / ZOOM_STEP), "fit": self.view.fit,
            "taller": lambda: self.timeline.set_lane_scale(self.timeline.lane_scale * 1.25),
            "shorter": lambda: self.timeline.set_lane_scale(self.timeline.lane_scale / 1.25),
            "export_json": lambda: self.export_dialog("json"), "export_midi": lambda: self.export_dialog("midi"),
            "export_labels": lambda: self.export_dialog("labels"), "export_csv": lambda: self.export_dialog("csv"),
            "shortcuts": self.show_shortcuts,
        }
        for name, (text, keys, tip) in SHORTCUTS.items():
            action = QAction(text, self)
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.setStatusTip(tip)
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            if handlers[name] is not None:
                action.triggered.connect(lambda _=False, h=handlers[name]: h())
            self.addAction(action)
            self.actions[name] = action
        self.actions["loop"].setCheckable(True)
        self.actions["loop"].toggled.connect(self._on_loop_toggled)
        for name in ("cancel", "export_json", "export_midi", "export_labels", "export_csv"):
            self.actions[name].setEnabled(False)

    def _build_menus(self) -> None:
        a = self.actions
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(a["open"])
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(a["quit"])
        play_menu = self.menuBar().addMenu("&Playback")
        for name in ("play", "loop", "home"):
            play_menu.addAction(a[name])
        analysis_menu = self.menuBar().addMenu("&Analysis")
        analysis_menu.addAction(a["analyze"])
        analysis_menu.addAction(a["cancel"])
        view_menu = self.menuBar().addMenu("&View")
        for name in ("zoom_in", "zoom_out", "fit", "taller", "shorter"):
            view_menu.addAction(a[name])
        view_menu.addSeparator()
        view_menu.addAction(self.problems_dock.toggleViewAction())
        view_menu.addAction(self.inspector_dock.toggleViewAction())
        export_menu = self.menuBar().addMenu("&Export")
        for name in ("export_json", "export_midi", "export_labels", "export_csv"):
            export_menu.addAction(a[name])
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(a["shortcuts"])
        toolbar = self.addToolBar("Transport")
        toolbar.setObjectName("toolbar-main")
        for name in ("open", "play", "loop", "analyze", "cancel", "zoom_in", "zoom_out", "fit"):
            toolbar.addAction(a[name])
        self.midi_drag_button = MidiDragButton(self)
        self.midi_drag_button.setEnabled(False)
        toolbar.addWidget(self.midi_drag_button)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.provider_label = QLabel("provider: –")
        self.provider_label.setToolTip("The onnxruntime execution provider the analysis ran on")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self._overall = 0.0
        self._overall_timer = QTimer(self)  # progress bars repaint synchronously: 10 updates a second at most
        self._overall_timer.setSingleShot(True)
        self._overall_timer.setInterval(100)
        self._overall_timer.timeout.connect(self._show_overall_progress)
        self.progress_bar.setFixedWidth(180)
        self.progress_bar.hide()
        self.cancel_button = QToolButton()
        self.cancel_button.setDefaultAction(self.actions["cancel"])
        self.cancel_button.hide()
        bar.addPermanentWidget(self.progress_bar)
        bar.addPermanentWidget(self.cancel_button)
        bar.addPermanentWidget(self.provider_label)

    def _connect(self) -> None:
        self.timeline.ruler.seek_requested.connect(self.seek)
        self.timeline.mute_changed.connect(self._on_mute)
        self.timeline.solo_changed.connect(self._on_solo)
        self.playback.position_changed.connect(
            lambda t: self.view.set_playhead(t, follow=self.playback.state == "playing"))
        self.playback.message.connect(self.status)
        self.playback.state_changed.connect(self._on_playback_state)
        self.view.selection_changed.connect(self._on_selection)
        self.inspector.filter_changed.connect(self._on_filter)
        self.inspector.range_selected.connect(lambda s, e: self.view.set_selection((s, e)))

    def status(self, text: str, timeout_ms: int = 0) -> None:
        self.statusBar().showMessage(text, timeout_ms)

    # ---- settings ---------------------------------------------------------------------------
    def _restore_window(self) -> None:
        settings = app_settings()
        geometry = settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = settings.value("window/state")
        if state is not None:
            self.restoreState(state)

    def recent_sessions(self) -> list[str]:
        value = app_settings().value("recent_sessions", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _remember(self, path: str) -> None:
        recent = [path] + [p for p in self.recent_sessions() if p != path]
        settings = app_settings()
        settings.setValue("recent_sessions", recent[:MAX_RECENT])
        settings.sync()

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_sessions()
        if not recent:
            self.recent_menu.addAction("(none)").setEnabled(False)
        for path in recent:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.open_paths([p]))

    def closeEvent(self, event) -> None:
        self.shutdown()
        if self._use_settings:
            settings = app_settings()
            settings.setValue("window/geometry", self.saveGeometry())
            settings.setValue("window/state", self.saveState())
            settings.sync()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop playback and every background job (waits for the threads); after it, nothing
        starts another: a load finishing late, or the mix overview due after a mute click."""
        self._shut_down = True
        self._load_generation += 1  # a load still running is dropped when it reports
        self._mix_overview_timer.stop()
        self.playback.shutdown()
        self._threads.shutdown()

    # ---- opening ----------------------------------------------------------------------------
    def open_dialog(self) -> None:
        exts = " ".join(f"*{e}" for e in sorted(SESSION_EXTENSIONS | {".wav", ".flac", ".mp3", ".aif", ".aiff",
                                                                      ".ogg", ".mid"}))
        paths, _ = QFileDialog.getOpenFileNames(self, "Open a session or audio files", "",
                                                f"Sessions and audio ({exts});;All files (*)")
        if paths:
            self.open_paths(paths)

    def open_paths(self, paths: list[str]) -> None:
        """Open a session, a folder, or several audio files (a track each), off the GUI thread."""
        if self._shut_down:
            return
        self._load_generation += 1
        generation = self._load_generation
        shown = paths[0] if len(paths) == 1 else f"{len(paths)} files"
        self.status(f"Opening {shown}…")
        job = GeneratorThread(load_job, [str(p) for p in paths])
        job.item.connect(lambda session: self._on_loaded(session, generation))
        job.failed.connect(lambda why: self._on_load_failed(why, generation))
        self._threads.start(job)

    def _on_load_failed(self, why: str, generation: int) -> None:
        if generation != self._load_generation:
            return
        self.problems.add(f"Cannot open: {why}", "error")
        self.problems_dock.show()
        self.status(f"Cannot open {why}")
        self.load_failed.emit(why)

    def _on_loaded(self, session, generation: int) -> None:
        if generation != self._load_generation:
            return
        try:
            self._show_session(session)
        except Exception as exc:  # noqa: BLE001 - a session the lanes cannot lay out is reported, not a crash
            self._cancel_jobs()
            self.session = self.analysis = None
            self._set_exports_enabled(False)
            self._on_load_failed(f"{session.path}: cannot be shown ({one_line(exc)})", generation)
            return
        self._start_overviews()
        self.session_loaded.emit(session)
        if self.auto_cached_analysis:
            self.start_analysis(cache_only=True)

    def _show_session(self, session) -> None:
        """Lay out a loaded session: lanes, playback, inspector, problems, title."""
        self._cancel_jobs()
        self.session, self.analysis = session, None
        self._set_exports_enabled(False)
        self.problems.clear_problems()
        self.timeline.set_session(session)
        self.view.set_selection(None)
        self.view.set_duration(session.duration)
        self.playback.set_session(session)
        self.timeline.set_audible(self.playback.audible_indices())
        names = {MIX_KEY: "Mix"} | {i: t.name for i, t in enumerate(session.tracks)}
        self.inspector.set_tracks(names)
        for i, track in enumerate(session.tracks):
            if not track.clips:
                self.inspector.set_track_status(i, "no audio")
        self.provider_label.setText("provider: –")
        for path in session.missing_media:
            self.problems.add(f"Missing media: {path}")
        for line in session.warnings:
            self.problems.add(line)
        if self.problems.count():
            self.problems_dock.show()
        title = Path(session.path).name if session.format != "files" else f"{len(session.tracks)} audio files"
        self.setWindowTitle(f"{title} — Stemscope")
        if session.format != "files" and self._use_settings:  # headless screenshots leave settings alone
            self._remember(session.path)
        missing = len(session.missing_media)
        self.status(f"Opened {title}: {len(session.tracks)} tracks, {session.duration:.1f} s"
                    + (f", {missing} media file{'s' if missing > 1 else ''} missing" if missing else ""))

    def _cancel_jobs(self) -> None:
        for job in (self._overview_job, self._analysis_job):
            if job is not None:
                job.cancel()
        self._overview_job = self._analysis_job = None
        self._analysis_finished_ui()

    # ---- drag and drop ----------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        urls = event.mimeData().urls()
        if urls and all(u.isLocalFile() and openable(u.toLocalFile()) for u in urls):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    # ---- overviews --------------------------------------------------------------------------
    def _start_overviews(self) -> None:
        """Every track's overview, then the mix of what is audible now (with the UI's mute and
        solo; tracks already in the memory cache are not rendered again except for the mix)."""
        if self._shut_down:
            return
        if self._overview_job is not None:
            self._overview_job.cancel()
        flagged = session_with_flags(self.session, self.playback.muted, self.playback.solo)
        job = GeneratorThread(compute_overviews, flagged, _PEAK_CACHE, MIX_KEY)
        # Items of a replaced job can still be queued (emitted before it saw its cancel): they
        # belong to another session or mix and are dropped.
        job.item.connect(lambda item, j=job: j is self._overview_job and self._on_overview_item(item))
        job.failed.connect(lambda why, j=job: j is self._overview_job
                           and self.problems.add(f"Waveform overview: {why}", "error"))
        job.finished.connect(lambda j=job: self._on_overviews_finished(j))
        self._overview_job = job
        self._threads.start(job)

    def _on_overview_item(self, item) -> None:
        if item[0] == "peaks":
            self.timeline.set_peaks(item[1], item[2])
        elif item[0] == "warning":
            self._add_media_warning(item[1])

    def _add_media_warning(self, line: str) -> None:
        """A render warning, unless it is about a missing file the panel lists already."""
        missing = self.session.missing_media if self.session else []
        if not any(line.startswith(f"{path}:") for path in missing):
            self.problems.add(line)

    def _on_overviews_finished(self, job) -> None:
        if job is self._overview_job:
            self._overview_job = None
            self.overviews_done.emit()

    # ---- analysis ---------------------------------------------------------------------------
    def start_analysis(self, cache_only: bool = False) -> None:
        """Run the engine off the GUI thread; lanes fill as each track's results arrive.
        cache_only: only show what the cache holds (used on open)."""
        if self.session is None or self._shut_down:
            return
        if not any(t.clips for t in self.session.tracks):
            if not cache_only:
                self.status("Nothing to analyse: the session has no audio tracks", 5000)
                self.analysis_finished.emit("done")
            return
        if self._analysis_job is not None:
            if not self._analysis_cache_only or cache_only:
                return  # a full run is going: let it finish
            self._analysis_job.cancel()
        self._analysis_keys = []  # the lanes in the engine's run order, from its "start" event
        self._analysis_cache_only = cache_only
        # The mix analysed is the one heard: the UI's mute and solo apply, as they do to playback
        # and the mix waveform (stems are cached apart from the mix, so toggling costs one mix).
        flagged = session_with_flags(self.session, self.playback.muted, self.playback.solo)
        job = GeneratorThread(analysis_job, flagged, self.device, cache_only)
        job.item.connect(lambda item, j=job: self._on_analysis_event(item, j))
        job.failed.connect(lambda why, j=job: self._on_analysis_failed(why, j))
        job.finished.connect(lambda j=job: self._on_analysis_thread_done(j))
        self._analysis_job = job
        if not cache_only:
            self.actions["cancel"].setEnabled(True)
            self.cancel_button.show()
            self.progress_bar.setValue(0)
            self.progress_bar.show()
            self.status(f"Analysing on {self.device}…")
        self._threads.start(job)

    def cancel_analysis(self) -> None:
        if self._analysis_job is not None and not self._analysis_cache_only:
            self._analysis_job.cancel()
            self.status("Cancelling analysis…")

    def _on_analysis_event(self, item, job) -> None:
        if job is not self._analysis_job:
            return
        event, view = item
        if event.kind == "start":
            self._analysis_keys = [MIX_KEY if index is None else index for index in event.session_tracks]
            if not self._analysis_cache_only:
                for key in self._analysis_keys:
                    state = self.timeline.states.get(key)
                    if state is not None and state.analysis is None:
                        self.timeline.set_analysing(key, 0.0)
            return
        if not self._analysis_cache_only:
            self._overall = event.overall
            if not self._overall_timer.isActive():
                self._overall_timer.start()
        key = self._analysis_keys[event.track] if event.track is not None and event.track < len(self._analysis_keys) else None
        if event.kind == "progress" and key is not None:
            self.timeline.set_analysing(key, event.fraction)
        elif event.kind == "track" and event.result is not None:
            result = event.result
            key = MIX_KEY if result.is_mix else result.session_track
            self.timeline.set_analysis(key, view)
            self.inspector.set_track_analysis(key, view)
            providers = ", ".join(dict.fromkeys(result.providers.values()))
            self.provider_label.setText(f"provider: {providers}")
        elif event.kind == "done":
            analysis = event.analysis
            complete = len(analysis.tracks) == len(self._analysis_keys)
            if analysis.tracks and (complete or not self._analysis_cache_only):
                self.analysis = analysis
                self._set_exports_enabled(True)
                self.provider_label.setText(f"provider: {analysis.provider}")
            for line in analysis.warnings:
                self._add_media_warning(line)
            if self._analysis_cache_only:
                if analysis.tracks:
                    self.status(f"Cached analysis shown for {len(analysis.tracks)} tracks", 4000)
            else:
                self.status(f"Analysis done on {analysis.provider}", 5000)
        elif event.kind == "cancelled":
            self.status("Analysis cancelled", 5000)

    def _on_analysis_failed(self, why: str, job) -> None:
        if job is not self._analysis_job:
            return
        self.problems.add(f"Analysis failed: {why}", "error")
        self.problems_dock.show()
        self.status(f"Analysis failed: {why}")
        job.setProperty("outcome", "failed")

    def _on_analysis_thread_done(self, job) -> None:
        if job is not self._analysis_job:
            return
        outcome = job.property("outcome") or ("cancelled" if job.cancel_event.is_set() else "done")
        self._analysis_job = None
        cache_only = self._analysis_cache_only
        self._analysis_finished_ui()
        if not cache_only:
            self.analysis_finished.emit(outcome)

    def _show_overall_progress(self) -> None:
        self.progress_bar.setValue(int(self._overall * 1000))

    def _analysis_finished_ui(self) -> None:
        self.actions["cancel"].setEnabled(False)
        self.cancel_button.hide()
        self._overall_timer.stop()
        self.progress_bar.hide()
        for key, state in self.timeline.states.items():
            if state.analysing:
                self.timeline.set_analysing(key, None)
        self.timeline.flush_pending()

    @property
    def analysis_running(self) -> bool:
        return self._analysis_job is not None

    @property
    def overviews_running(self) -> bool:
        return self._overview_job is not None

    # ---- exports ----------------------------------------------------------------------------
    def _set_exports_enabled(self, on: bool) -> None:
        for name in ("export_json", "export_midi", "export_labels", "export_csv"):
            self.actions[name].setEnabled(on)
        self.midi_drag_button.setEnabled(on)

    def _export_stem(self) -> str:
        stem = Path(self.session.path).stem if self.session else "session"
        return re.sub(r"[^A-Za-z0-9._-]+", "_", stem) or "session"

    def export_dialog(self, kind: str) -> None:
        if self.analysis is None:
            return
        stem = self._export_stem()
        if kind in ("json", "labels"):
            target = QFileDialog.getExistingDirectory(self, "Export into folder")
        else:
            suffix = {"midi": ".mid", "csv": ".csv"}[kind]
            target, _ = QFileDialog.getSaveFileName(self, "Export", f"{stem}-analysis{suffix}")
        if target:
            self.export_to(kind, target)

    def export_to(self, kind: str, target: str | Path) -> list[Path]:
        """Write one export (json: a folder, labels: a folder, midi / csv: a file) via
        plugin.exports; the files written. Errors go to the problems panel."""
        from plugin import exports
        from plugin.analysis import write_analysis

        try:
            if kind == "json":
                written = [write_analysis(self.analysis, target)]
            elif kind == "midi":
                written = [exports.write_midi(self.analysis, target, tempo=self.session.tempo)]
            elif kind == "labels":
                written = list(exports.write_audacity_labels(self.analysis, target))
            elif kind == "csv":
                written = [exports.write_csv(self.analysis, target)]
            else:
                raise ValueError(f"unknown export {kind!r}")
        except (OSError, ValueError) as exc:
            self.problems.add(f"Export failed ({kind}): {exc}", "error")
            self.problems_dock.show()
            return []
        self.status(f"Exported {', '.join(str(p) for p in written)}", 6000)
        return [Path(p) for p in written]

    def midi_drag_mime(self) -> QMimeData | None:
        """The MIDI export written to the user cache, as a file URL drag payload."""
        from plugin.paths import user_cache_dir

        if self.analysis is None:
            return None
        folder = user_cache_dir() / "drag"
        folder.mkdir(parents=True, exist_ok=True)
        written = self.export_to("midi", folder / f"{self._export_stem()}-analysis.mid")
        if not written:
            return None
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(written[0]))])
        return mime

    # ---- playback and view ------------------------------------------------------------------
    def seek(self, t: float) -> None:
        self.playback.seek(t)
        self.view.set_playhead(self.playback.position)

    def _on_playback_state(self, state: str) -> None:
        """Playing / Stopped, briefly; without sound, why (which "Playing" must not hide)."""
        if state == "playing" and self.playback.silent_reason:
            self.status(self.playback.silent_reason, 8000)
        else:
            self.status("Playing" if state == "playing" else "Stopped", 1500)

    def _on_mute(self, key: int, on: bool) -> None:
        self.playback.set_mute(key, on)
        self._mix_changed()

    def _on_solo(self, key: int, on: bool) -> None:
        self.playback.set_solo(key, on)
        self._mix_changed()

    def _mix_changed(self) -> None:
        """Dim what is silent now, and redraw the mix overview after a pause in the clicking."""
        self.timeline.set_audible(self.playback.audible_indices())
        self._mix_overview_timer.start()

    def _on_selection(self, selection) -> None:
        self.playback.set_loop(selection)
        self.timeline.ruler.loop_shown = self.actions["loop"].isChecked() and selection is not None

    def _on_loop_toggled(self, on: bool) -> None:
        self.playback.set_looping(on)
        self.timeline.ruler.loop_shown = on and self.view.selection is not None
        self.timeline.ruler.update()

    def _on_filter(self, flt: LaneFilter) -> None:
        self.timeline.set_filter(flt)

    def show_shortcuts(self) -> None:
        dialog = ShortcutsDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()


class ShortcutsDialog(QDialog):
    """Help > Shortcuts: the same table that set the actions' shortcuts, and the pointer gestures."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = [(", ".join(QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText) for k in keys),
                 text.replace("&", "").rstrip("…"), tip)
                for text, keys, tip in SHORTCUTS.values() if keys]
        rows += [(gesture, "", tip) for gesture, tip in GESTURES]
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(["Keys", "Command", "What it does"])
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.resizeColumnsToContents()
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        self.resize(640, 480)
