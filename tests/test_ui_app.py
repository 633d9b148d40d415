"""The desktop app with real widgets, offscreen: opening, lanes, zoom, analysis, playback, exports.

Every test fails if it leaves top-level widgets alive (like napari's leak fixture), and the app's
settings live in a temporary folder.
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtCore import (
    QCoreApplication,
    QEvent,
    QMimeData,
    QPoint,
    QPointF,
    QSettings,
    Qt,
    QUrl,
)
from PyQt6.QtGui import QImage, QKeySequence, QWheelEvent
from PyQt6.QtWidgets import QApplication, QToolTip

from plugin.demo import demo_session_path
from ui.lanes import MIX_KEY
from ui.mainwindow import MainWindow, ShortcutsDialog, app_settings
from ui.opening import SESSION_EXTENSIONS
from ui.playback import PLAYBACK_RATE, MixBuffer, PlaybackController
from ui.shortcuts import GESTURES, SHORTCUTS
from ui.transport import PLAYING, STOPPED, Transport

DEMO = str(demo_session_path())


# ---- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def temporary_settings(tmp_path):
    """QSettings of the app in a temporary folder, never the user's."""
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    yield


@pytest.fixture(autouse=True)
def no_leaked_widgets(qapp):
    """Fail a test that leaves top-level widgets alive (pytest-qt closes the ones it was given)."""
    before = set(QApplication.topLevelWidgets())
    yield
    for _ in range(3):
        QApplication.processEvents()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        gc.collect()
    leaked = [w for w in QApplication.topLevelWidgets()
              if w not in before and w.metaObject().className() != "QTipLabel"]  # Qt tooltip singleton
    assert not leaked, f"widgets leaked: {[type(w).__name__ for w in leaked]}"


@pytest.fixture
def make_window(qtbot):
    def make(**options) -> MainWindow:
        options.setdefault("auto_cached_analysis", False)
        window = MainWindow(**options)
        qtbot.addWidget(window)
        if not options.get("use_settings", True) or app_settings().value("window/geometry") is None:
            window.resize(1300, 900)
        window.show()
        return window
    return make


def open_and_wait(qtbot, window: MainWindow, paths, timeout: int = 30_000) -> str | None:
    """Open and wait for the load worker; None on success, the error line on failure."""
    outcome: list = []
    window.session_loaded.connect(lambda _: outcome.append(None))
    window.load_failed.connect(outcome.append)
    window.open_paths([str(p) for p in paths])
    qtbot.waitUntil(lambda: bool(outcome), timeout=timeout)
    return outcome[0]


def wait_overviews(qtbot, window: MainWindow, timeout: int = 30_000) -> None:
    qtbot.waitUntil(lambda: not window.overviews_running, timeout=timeout)


def analyse(qtbot, window: MainWindow, timeout: int = 120_000) -> str:
    with qtbot.waitSignal(window.analysis_finished, timeout=timeout) as blocker:
        window.start_analysis()
    return blocker.args[0]


def write_wav(path: Path, signal: np.ndarray, rate: int) -> Path:
    import soundfile as sf

    sf.write(path, signal.astype(np.float32), rate)
    return path


# ---- opening ----------------------------------------------------------------------------------
def test_every_shared_session_opens(qtbot, make_window, sessions_dir):
    window = make_window()
    files = sorted(p for p in sessions_dir.rglob("*") if p.is_file() and p.suffix.lower() in SESSION_EXTENSIONS)
    assert len(files) >= 20
    opened = failed = 0
    for path in files:
        error = open_and_wait(qtbot, window, [path])
        if error is None:
            opened += 1
            session = window.session
            assert Path(session.path) == path
            groups = window.timeline.canvas.groups
            assert [g.key for g in groups] == [MIX_KEY, *range(len(session.tracks))]
            assert all(window.timeline.body.headers[g.key].isVisible() for g in groups)
            for missing in session.missing_media:  # missing media listed, the rest loaded
                assert any(missing in line for line in window.problems.lines())
            window.timeline.canvas.grab()  # paints every lane without an error
        else:
            failed += 1
            assert "\n" not in error and str(path) in error
            assert any(line.startswith("Cannot open") for line in window.problems.lines())
    assert opened >= len(files) - 3 and failed >= 2  # ableton/broken holds two files that must fail
    wait_overviews(qtbot, window)


def test_missing_media_are_listed_while_the_rest_loads(qtbot, make_window, sessions_dir):
    window = make_window()
    assert open_and_wait(qtbot, window, [sessions_dir / "reaper" / "takes" / "test.RPP"]) is None
    wait_overviews(qtbot, window)
    missing = window.session.missing_media
    assert missing and window.problems_dock.isVisible()
    assert sum("Missing media" in line for line in window.problems.lines()) == len(missing)
    mentioning = [line for line in window.problems.lines() if any(m in line for m in missing)]
    assert all(line.startswith("Missing media") for line in mentioning)  # each listed once
    loaded = [k for k, s in window.timeline.states.items() if s.peaks is not None and k != MIX_KEY]
    assert loaded  # the tracks whose media exist have their overviews


def test_overviews_of_a_replaced_session_never_reach_the_new_lanes(qtbot, make_window, tmp_path):
    """Items a cancelled overview job emitted before it saw the cancel are still queued when the
    next session is laid out: they must not paint the old session's waveforms on the new lanes."""
    from ui.opening import open_paths

    window = make_window()
    assert open_and_wait(qtbot, window, [DEMO]) is None
    wait_overviews(qtbot, window)
    old = [s.peaks for s in window.timeline.states.values() if s.peaks is not None]
    window._start_overviews()  # all cached: the job emits every item at once...
    assert window._overview_job.wait(10_000)  # ...and they wait in the queue, undelivered
    folder = tmp_path / "other"
    folder.mkdir()
    for name in ("a", "b", "c", "d", "e"):
        write_wav(folder / f"{name}.wav", np.full(8000, 0.5), 8000)
    window._load_generation += 1  # the next session arrives first
    window._on_loaded(open_paths([str(folder)]), window._load_generation)
    shown: list = []
    set_peaks = window.timeline.set_peaks
    window.timeline.set_peaks = lambda key, peaks: (shown.append(peaks), set_peaks(key, peaks))
    wait_overviews(qtbot, window)
    assert shown and not any(p is q for p in shown for q in old)
    tracks = [s for k, s in window.timeline.states.items() if k != MIX_KEY]
    assert len(tracks) == 5 and all(s.peaks.peak == pytest.approx(0.5, rel=0.1) for s in tracks)


def test_a_session_the_lanes_cannot_lay_out_reaches_the_problems_panel(qtbot, make_window, monkeypatch):
    """An exception while laying out a loaded session (in a slot, where it would abort the app)
    is reported like a session that cannot be opened; the window stays usable."""
    window = make_window()
    real = window.timeline.set_session

    def broken(session):
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(window.timeline, "set_session", broken)
    error = open_and_wait(qtbot, window, [DEMO])
    assert error is not None and DEMO in error and "float division by zero" in error and "\n" not in error
    assert window.session is None and any(line.startswith("Cannot open") for line in window.problems.lines())
    monkeypatch.setattr(window.timeline, "set_session", real)
    assert open_and_wait(qtbot, window, [DEMO]) is None and window.session is not None
    wait_overviews(qtbot, window)


def test_missing_media_are_listed_once_after_analysis_too(qtbot, make_window, tmp_path):
    rate = 8000
    present = write_wav(tmp_path / "present.wav", np.full(rate, 0.2), rate)
    from plugin.session import AudioClip, Session, Track

    gone = str(tmp_path / "gone.wav")
    session = Session(path=str(tmp_path / "made.rpp"), format="reaper", tracks=[
        Track(name="here", clips=[AudioClip(start=0.0, duration=1.0, source=str(present))]),
        Track(name="gone", clips=[AudioClip(start=0.0, duration=1.0, source=gone, missing=True)])])
    window = make_window()
    window._load_generation += 1
    window._on_loaded(session, window._load_generation)
    wait_overviews(qtbot, window)
    assert analyse(qtbot, window) == "done"
    assert [line for line in window.problems.lines() if "gone.wav" in line] == [f"Missing media: {gone}"]


def test_dropping_audio_files_builds_a_session(qtbot, make_window, tmp_path):
    window = make_window()
    rate = 8000
    files = [write_wav(tmp_path / f"{name}.wav", np.full(rate * (k + 1), 0.1 * (k + 1)), rate)
             for k, name in enumerate(["kick", "snare", "hats"])]
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(f)) for f in files])
    from PyQt6.QtGui import QDragEnterEvent, QDropEvent

    enter = QDragEnterEvent(QPoint(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    window.dragEnterEvent(enter)
    assert enter.isAccepted()
    refused = QMimeData()
    refused.setUrls([QUrl.fromLocalFile(str(tmp_path / "notes.txt"))])
    enter_refused = QDragEnterEvent(QPoint(50, 50), Qt.DropAction.CopyAction, refused, Qt.MouseButton.LeftButton,
                                    Qt.KeyboardModifier.NoModifier)
    window.dragEnterEvent(enter_refused)
    assert not enter_refused.isAccepted()
    with qtbot.waitSignal(window.session_loaded, timeout=20_000):
        window.dropEvent(QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                    Qt.KeyboardModifier.NoModifier))
    assert [t.name for t in window.session.tracks] == ["kick", "snare", "hats"]
    assert window.session.duration == pytest.approx(3.0)
    wait_overviews(qtbot, window)
    peaks = [window.timeline.states[i].peaks.peak for i in range(3)]
    assert peaks == pytest.approx([0.1, 0.2, 0.3], rel=0.1)  # resampling rings a little at the edges


def test_recent_sessions_and_window_geometry_are_restored(qtbot, make_window, tmp_path):
    window = make_window(use_settings=True)
    assert open_and_wait(qtbot, window, [DEMO]) is None
    assert window.recent_sessions()[0] == DEMO
    window.resize(700, 500)  # inside the offscreen screen (800 x 600): restoreGeometry keeps it
    window.inspector_dock.hide()
    window.close()
    again = make_window(use_settings=True)
    assert (again.width(), again.height()) == (700, 500)
    assert not again.inspector_dock.isVisible()
    assert again.recent_sessions() == [DEMO]
    again.recent_menu.aboutToShow.emit()  # File > Open Recent lists it, and opens it
    recent = [a for a in again.recent_menu.actions() if a.text() == DEMO]
    assert len(recent) == 1
    with qtbot.waitSignal(again.session_loaded, timeout=20_000):
        recent[0].trigger()
    assert again.session.path == DEMO
    assert Path(app_settings().fileName()).is_relative_to(tmp_path)  # never the user's settings


# ---- the timeline -----------------------------------------------------------------------------
def _first_column(image: QImage, y: int, x_from: int, differs) -> int | None:
    for x in range(x_from, image.width()):
        if differs(image.pixelColor(x, y)):
            return x
    return None


def test_piano_roll_notes_and_lanes_share_one_time_axis(qtbot, make_window, tmp_path):
    """A note at 2.0 s and audio starting at 2.0 s are painted at the same x, at any zoom."""
    import mido

    rate = 16000
    t = np.arange(rate * 4) / rate
    tone = np.where(t >= 2.0, 0.8 * np.sign(np.sin(2 * np.pi * 220 * t)), 0.0)
    folder = tmp_path / "stems"
    folder.mkdir()
    write_wav(folder / "tone.wav", tone, rate)
    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500_000, time=0),
                            mido.Message("note_on", note=60, velocity=100, time=4 * 480),
                            mido.Message("note_off", note=60, velocity=0, time=480)])
    midi.tracks.append(track)
    midi.save(folder / "notes.mid")
    window = make_window()
    assert open_and_wait(qtbot, window, [folder]) is None
    wait_overviews(qtbot, window)
    timeline, canvas, view = window.timeline, window.timeline.canvas, window.view
    midi_key = next(k for k, s in timeline.states.items() if s.piano_roll is not None)
    audio_key = next(k for k, s in timeline.states.items() if k != MIX_KEY and s.has_audio)
    roll = timeline.states[midi_key].piano_roll
    assert roll.starts[0] == pytest.approx(2.0)
    from ui import theme

    background = theme.LANE_BACKGROUND

    for zoom_x, factor in ((None, 1.0), (300, 3.0), (80, 0.4)):
        if zoom_x is not None:
            view.zoom_at(zoom_x, factor)
        else:
            view.scroll_to(0.0)
        image = canvas.grab().toImage()
        wave_row = next(r for r in timeline.group_of(audio_key).rows if r.kind == "waveform")
        roll_row = next(r for r in timeline.group_of(midi_key).rows if r.kind == "pianoroll")
        rect = roll.note_rect(0, view.mapping, roll_row.y, roll_row.height)
        note_y = int(rect.center().y())
        expected = view.mapping.x_of(2.0)
        # The waveform's first column much taller than the centre line, at its top quarter.
        start = 3  # right of the playhead at 0 s
        wave_x = _first_column(image, wave_row.y + wave_row.height // 4, start,
                               lambda c: c.blue() > 150 and c.red() < 160)
        note_x = _first_column(image, note_y, start, lambda c: abs(c.green() - background.green()) > 40)
        assert wave_x is not None and note_x is not None
        assert abs(note_x - wave_x) <= 1, (zoom_x, note_x, wave_x)
        assert abs(note_x - expected) <= 1
        assert rect.left() == pytest.approx(expected)
        tip = canvas.describe_at(rect.center())
        assert "C4 velocity 100" in tip and "2.000–2.500 s" in tip


def _wheel(widget, x: float, delta: int, modifiers) -> None:
    pos = QPointF(x, 20)
    event = QWheelEvent(pos, QPointF(widget.mapToGlobal(pos.toPoint())), QPoint(0, 0), QPoint(0, delta),
                        Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_zoom_keeps_the_time_under_the_cursor(qtbot, make_window):
    window = make_window()
    assert open_and_wait(qtbot, window, [DEMO]) is None
    canvas, view = window.timeline.canvas, window.view
    x = 437.0
    spp = view.mapping.seconds_per_pixel
    anchor = view.mapping.time_of(x)
    _wheel(canvas, x, 240, Qt.KeyboardModifier.ControlModifier)  # Ctrl+wheel: zoom in
    assert view.mapping.seconds_per_pixel < spp * 0.7
    assert view.mapping.time_of(x) == pytest.approx(anchor, abs=1e-9)
    _wheel(window.timeline.ruler, x, -120, Qt.KeyboardModifier.ControlModifier)  # over the ruler too
    assert view.mapping.time_of(x) == pytest.approx(anchor, abs=1e-9)

    from PyQt6.QtGui import QNativeGestureEvent, QPointingDevice

    spp = view.mapping.seconds_per_pixel
    pinch = QNativeGestureEvent(Qt.NativeGestureType.ZoomNativeGesture, QPointingDevice.primaryPointingDevice(),
                                2, QPointF(x, 30), QPointF(x, 30), QPointF(canvas.mapToGlobal(QPoint(int(x), 30))),
                                0.5, QPointF(0, 0))
    QApplication.sendEvent(canvas, pinch)
    assert view.mapping.seconds_per_pixel == pytest.approx(spp / 1.5)
    assert view.mapping.time_of(x) == pytest.approx(anchor, abs=1e-9)

    qtbot.mouseMove(canvas, QPoint(250, 40))  # keys zoom around the pointer
    anchor = view.mapping.time_of(250)
    window.actions["zoom_in"].trigger()
    assert view.mapping.time_of(250) == pytest.approx(anchor, abs=1e-9)
    window.actions["zoom_out"].trigger()
    window.actions["zoom_out"].trigger()
    assert view.mapping.time_of(250) == pytest.approx(anchor, abs=1e-9)

    left = view.mapping.left_time  # Shift+wheel scrolls time, the scroll bar follows
    _wheel(canvas, x, -120, Qt.KeyboardModifier.ShiftModifier)
    assert view.mapping.left_time > left
    assert window.timeline.hbar.value() == round(view.mapping.left_time * 1000)
    window.actions["fit"].trigger()
    assert view.mapping.left_time == 0 and view.mapping.x_of(window.session.duration) == pytest.approx(canvas.width())
    heights = [g.height for g in window.timeline.canvas.groups]  # taller lanes, for many tracks: shorter
    window.actions["taller"].trigger()
    assert all(g.height >= h for g, h in zip(window.timeline.canvas.groups, heights))
    assert sum(g.height for g in window.timeline.canvas.groups) > sum(heights)


def test_keyboard_shortcuts_come_from_one_table(qtbot, make_window):
    window = make_window()
    for name, (text, keys, _) in SHORTCUTS.items():
        action = window.actions[name]
        assert action.text() == text
        assert [s.toString() for s in action.shortcuts()] == [QKeySequence(k).toString() for k in keys]
    dialog = ShortcutsDialog(window)
    qtbot.addWidget(dialog)
    bound = [v for v in SHORTCUTS.values() if v[1]]
    assert dialog.table.rowCount() == len(bound) + len(GESTURES)
    assert dialog.table.item(0, 1).text() == SHORTCUTS["open"][0].replace("&", "").rstrip("…")


# ---- playback ---------------------------------------------------------------------------------
def test_playback_runs_without_an_audio_device(qtbot, make_window):
    window = make_window()
    assert open_and_wait(qtbot, window, [DEMO]) is None
    playback, view = window.playback, window.view
    window.actions["play"].trigger()
    assert playback.state == PLAYING
    qtbot.waitUntil(lambda: view.playhead > 0.15, timeout=3000)  # the playhead follows
    assert playback.audio_available is False
    assert "silently" in window.statusBar().currentMessage()  # not hidden by "Playing"
    ruler = window.timeline.ruler
    qtbot.mouseClick(ruler, Qt.MouseButton.LeftButton, pos=QPoint(300, 10))  # click the ruler: seek
    target = view.mapping.time_of(300)
    assert playback.position == pytest.approx(target, abs=0.25)  # it plays on from there
    window.actions["play"].trigger()
    assert playback.state == STOPPED
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    qtbot.keyClick(window.timeline.canvas, Qt.Key.Key_Space)  # Space plays and stops
    assert playback.state == PLAYING
    qtbot.keyClick(window.timeline.canvas, Qt.Key.Key_Space)
    assert playback.state == STOPPED

    view.set_selection((1.0, 1.3))  # loop a selection
    window.actions["loop"].setChecked(True)
    window.seek(1.1)
    window.actions["play"].trigger()
    qtbot.wait(700)
    assert 1.0 <= playback.position < 1.3
    window.actions["loop"].setChecked(False)
    window.actions["play"].trigger()

    header = window.timeline.body.headers[0]  # mute and solo change what plays
    wait_overviews(qtbot, window)
    mix_before = window.timeline.states[MIX_KEY].peaks
    header.mute_button.click()
    assert 0 not in playback.audible_indices() and not window.timeline.states[0].audible
    window.timeline.body.headers[2].solo_button.click()
    assert playback.audible_indices() == {2}
    qtbot.waitUntil(lambda: window.timeline.states[MIX_KEY].peaks is not mix_before, timeout=10_000)
    keys_only = window.timeline.states[2].peaks  # the mix overview is now the soloed track's
    assert window.timeline.states[MIX_KEY].peaks.peak == pytest.approx(keys_only.peak, rel=0.02)
    window.timeline.body.headers[2].solo_button.click()
    header.mute_button.click()
    assert playback.audible_indices() == set(range(len(window.session.tracks)))
    assert window.session.tracks[0].muted is False  # the engine's session is never changed


def test_nothing_starts_after_the_window_closed(qtbot, make_window, monkeypatch):
    """A mute click just before closing (its mix overview is due 300 ms later) and a load that
    finishes after the close start no thread on a window that is gone."""
    from ui import mainwindow

    window = make_window()
    assert open_and_wait(qtbot, window, [DEMO]) is None
    wait_overviews(qtbot, window)
    started: list = []
    start = window._threads.start
    monkeypatch.setattr(window._threads, "start", lambda job: (started.append(job), start(job))[1])
    window.timeline.body.headers[0].mute_button.click()
    window.close()
    qtbot.wait(600)
    assert started == [] and window._overview_job is None

    late = make_window()
    loading = mainwindow.load_job

    def slow(cancel, paths):
        import time as clock

        clock.sleep(0.5)
        yield from loading(cancel, paths)

    monkeypatch.setattr(mainwindow, "load_job", slow)
    late.open_paths([DEMO])
    late.close()  # waits for the load, whose session arrives after the close
    qtbot.wait(300)
    assert late.session is None and late._overview_job is None and late._analysis_job is None


def test_mix_buffer_reads_across_a_loop_wrap():
    transport = Transport(duration=2.0)
    buffer = MixBuffer(2.0)
    ramp = np.arange(len(buffer.pcm), dtype=np.int64) % 30000
    buffer.write(0, np.stack([ramp, ramp], axis=1).astype(np.int16))
    transport.set_loop((0.5, 0.6), now=0.0)
    transport.set_looping(True, now=0.0)
    transport.play(now=0.0)
    frames = int(0.15 * PLAYBACK_RATE)
    data, cursor = buffer.read(transport, 0, frames)
    left = np.frombuffer(data, np.int16).reshape(-1, 2)[:, 0]
    start, end = int(0.5 * PLAYBACK_RATE), int(0.6 * PLAYBACK_RATE)
    expected = np.concatenate([ramp[start:end], ramp[start:start + frames - (end - start)]]) % 30000
    assert cursor == frames and np.array_equal(left, expected.astype(np.int16))


# ---- analysis ---------------------------------------------------------------------------------
def test_analysis_cancel_stops_it(qtbot, make_window):
    window = make_window()
    assert open_and_wait(qtbot, window, [DEMO]) is None
    started = time.monotonic()
    with qtbot.waitSignal(window.analysis_finished, timeout=60_000) as blocker:
        window.start_analysis()
        assert window.cancel_button.isVisible() and window.progress_bar.isVisible()
        # the lanes show progress once the engine says which tracks it runs
        qtbot.waitUntil(lambda: any(s.analysing for s in window.timeline.states.values()), timeout=10_000)
        window.timeline.flush_pending()  # per-track progress, in each analysed track's header
        assert window.timeline.body.headers[0].progress.isVisible()
        assert not window.timeline.body.headers[4].progress.isVisible()  # a MIDI track: not analysed
        window.actions["cancel"].trigger()
    assert blocker.args == ["cancelled"]
    assert time.monotonic() - started < 20
    assert not window.analysis_running and not window.progress_bar.isVisible()
    assert not any(s.analysing for s in window.timeline.states.values())
    assert window.analysis is None and not window.actions["export_midi"].isEnabled()


def test_analysis_fills_lanes_inspects_and_exports(qtbot, make_window, tmp_path):
    window = make_window()
    assert open_and_wait(qtbot, window, [DEMO]) is None
    wait_overviews(qtbot, window)
    filled = []
    window.inspector.tree.model().rowsInserted.connect(lambda *a: filled.append(1))
    assert analyse(qtbot, window) == "done"
    timeline, canvas = window.timeline, window.timeline.canvas
    audio_keys = [i for i, t in enumerate(window.session.tracks) if t.clips] + [MIX_KEY]
    for key in audio_keys:
        state = timeline.states[key]
        assert state.analysis is not None and state.analysis.family_rows
        rows = [r for r in timeline.group_of(key).rows if r.kind == "instrument"]
        assert rows and all(r.label is not None for r in rows)
    assert "ExecutionProvider" in window.provider_label.text()
    assert filled  # the inspector lists instruments and techniques

    drums = timeline.group_of(0)  # hover: time, label, confidence
    row = next(r for r in drums.rows if r.kind == "instrument")
    seg = row.label.segments[0]
    x = window.view.mapping.x_of((seg.start + seg.end) / 2)
    pos = QPoint(int(x), row.y + row.height // 2)
    text = canvas.describe_at(QPointF(pos))
    assert row.label.title in text and "%" in text and ":" in text.splitlines()[0]
    qtbot.mouseMove(canvas, pos)
    assert QToolTip.text() == text
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=pos)  # click: select the segment's range
    assert window.view.selection == pytest.approx((seg.start, seg.end))

    window.inspector.set_filter(technique="vibrato", hide_unmatched=True)  # only vibrato
    shown = [g.key for g in timeline.canvas.groups]
    assert MIX_KEY in shown and len(shown) < len(timeline.states)
    for g in timeline.canvas.groups:
        techniques = [r for r in g.rows if r.kind == "technique"]
        assert all(r.label is None or r.label.name == "vibrato" for r in techniques)
        if g.key != MIX_KEY:
            assert any(r.label is not None for r in techniques)
    hidden = [k for k in timeline.states if k not in shown]
    assert all(not timeline.body.headers[k].isVisible() for k in hidden)
    window.inspector.set_filter(instrument="drums", hide_unmatched=False)
    assert [r.label.name for g in timeline.canvas.groups for r in g.rows
            if r.kind == "instrument" and r.label is not None] and all(
        r.label.name == "drums" for g in timeline.canvas.groups for r in g.rows
        if r.kind == "instrument" and r.label is not None)
    window.inspector.set_filter(None, None, False)

    written = {kind: window.export_to(kind, tmp_path / ({"midi": "a.mid", "csv": "a.csv"}.get(kind, kind)))
               for kind in ("json", "midi", "labels", "csv")}
    assert all(paths and all(p.is_file() and p.stat().st_size > 0 for p in paths) for paths in written.values())
    mime = window.midi_drag_mime()  # drag the MIDI export out as a file URL
    dragged = Path(mime.urls()[0].toLocalFile())
    from plugin.paths import user_cache_dir

    assert dragged.is_file() and dragged.suffix == ".mid" and dragged.is_relative_to(user_cache_dir())

    reopened = make_window(auto_cached_analysis=True)  # cached results appear at once on reopen
    started = time.monotonic()
    assert open_and_wait(qtbot, reopened, [DEMO]) is None
    qtbot.waitUntil(lambda: reopened.analysis is not None, timeout=20_000)
    assert time.monotonic() - started < 10
    assert all(reopened.timeline.states[k].analysis is not None for k in audio_keys)
    assert reopened.actions["export_csv"].isEnabled()


def test_analysis_errors_go_to_the_problems_panel(qtbot, make_window):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("CUDA is available here: asking for it does not fail")
    window = make_window(device="cuda")
    assert open_and_wait(qtbot, window, [DEMO]) is None
    assert analyse(qtbot, window) == "failed"
    errors = [line for line in window.problems.lines() if line.startswith("Analysis failed")]
    assert len(errors) == 1 and "cuda" in errors[0].lower() and "\n" not in errors[0]
    assert window.problems_dock.isVisible() and window.analysis is None
    assert not window.progress_bar.isVisible()


# ---- headless pictures ------------------------------------------------------------------------
def test_screenshots_before_and_after_analysis(qtbot, tmp_path, capsys):
    from ui.app import main

    before, after = tmp_path / "before.png", tmp_path / "after.png"
    assert main(DEMO, screenshot=str(before)) == 0
    assert main(DEMO, screenshot=str(after), analyze=True) == 0
    images = [QImage(str(p)) for p in (before, after)]
    for image in images:
        assert not image.isNull() and image.width() >= 1000
        pixels = np.frombuffer(image.convertToFormat(QImage.Format.Format_RGB32).constBits().asstring(
            image.width() * image.height() * 4), np.uint8)
        assert len(np.unique(pixels.reshape(-1, 4), axis=0)) > 50  # not blank
    assert images[0] != images[1]
    capsys.readouterr()
    junk = tmp_path / "junk.als"
    junk.write_bytes(b"junk!")
    assert main(str(junk), screenshot=str(tmp_path / "junk.png")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"stemscope: {junk}: ")
    assert not (tmp_path / "junk.png").exists()


def test_the_audio_sink_pulls_the_mix_at_the_playhead(qtbot):
    from plugin.session import load_session
    from ui.workers import ThreadRegistry

    threads = ThreadRegistry()
    controller = PlaybackController(threads, use_audio=False)
    controller.set_session(load_session(DEMO))
    controller.buffer = MixBuffer(controller.transport.duration)
    ramp = (np.arange(len(controller.buffer.pcm)) % 20000).astype(np.int16)
    controller.buffer.write(0, np.stack([ramp, -ramp], axis=1))
    device = controller.pull_device()
    assert device.read(16) == b"\0" * 16  # stopped: silence
    controller.seek(2.0)
    controller.play()
    first = int(2.0 * PLAYBACK_RATE)
    frames = np.frombuffer(device.read(4 * 1000), np.int16).reshape(-1, 2)
    assert np.array_equal(frames[:, 0], ramp[first:first + 1000]) and np.array_equal(frames[:, 1], -ramp[first:first + 1000])
    controller.stop()
    threads.shutdown()
    controller.deleteLater()


def test_an_unexpected_error_in_a_slot_reaches_the_problems_panel(make_window, monkeypatch, capsys):
    from ui.app import report_unexpected_errors

    window = make_window()
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    report_unexpected_errors(window)
    try:
        raise ValueError("a slot went wrong")
    except ValueError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    assert any("ValueError: a slot went wrong" in line for line in window.problems.lines())
    assert "Traceback" in capsys.readouterr().err


def test_the_analysed_mix_is_the_one_heard(qtbot, make_window):
    """Muting a track in the app takes it out of the analysed mix (as out of playback); the track
    itself is still analysed, marked muted, and the session itself is not changed."""
    window = make_window()
    assert open_and_wait(qtbot, window, [DEMO]) is None

    def analyse():
        with qtbot.waitSignal(window.analysis_finished, timeout=120_000):
            window.start_analysis()
        mix = window.analysis.track("mix").timelines["instrument"]
        return window.analysis, mix.activation("family", "drums").mean()

    full, drums_in_full_mix = analyse()
    window.timeline.body.headers[0].mute_button.click()  # Drums
    muted, drums_in_muted_mix = analyse()
    assert {t.name: t.muted for t in muted.tracks}["Drums"] is True
    assert not full.track("Drums").muted
    assert drums_in_muted_mix < 0.5 * drums_in_full_mix
    assert muted.track("Drums").cached  # the stem was not analysed again
    assert window.session.tracks[0].muted is False
