"""`main()`: the Stemscope app, or one headless screenshot of it. Importing this does no work."""

from __future__ import annotations

import os
import sys
from pathlib import Path

SCREENSHOT_SIZE = (1600, 1000)
SCREENSHOT_TIMEOUT_S = 600


def _application():
    """The running QApplication, or a new one (dark Fusion theme, high-DPI pass-through)."""
    from PyQt6.QtCore import Qt
    from PyQt6.QtGui import QGuiApplication
    from PyQt6.QtWidgets import QApplication

    from .mainwindow import APPLICATION, ORGANIZATION
    from .theme import apply_dark_theme

    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(sys.argv[:1])
        app.setOrganizationName(ORGANIZATION)
        app.setApplicationName(APPLICATION)
        app.setApplicationDisplayName("Stemscope")
    apply_dark_theme(app)
    return app


def _wait(signals, timeout_s: float):
    """Run the event loop until one of `signals` fires; its arguments, or None on timeout."""
    from PyQt6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    got: list = []

    def fire(*args):
        got.append(args)
        loop.quit()

    for signal in signals:
        signal.connect(fire)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    for signal in signals:
        signal.disconnect(fire)
    return got[0] if got else None


def report_unexpected_errors(window) -> None:
    """An exception escaping any slot goes to stderr and the problems panel; the app goes on
    (PyQt6 would otherwise abort the process)."""
    import traceback

    def hook(kind, value, tb) -> None:
        traceback.print_exception(kind, value, tb, file=sys.stderr)
        try:
            window.problems.add(f"Unexpected error: {kind.__name__}: {value}", "error")
            window.problems_dock.show()
        except RuntimeError:  # the window is already gone
            pass

    sys.excepthook = hook


def main(session: str | None = None, *, screenshot: str | None = None, analyze: bool = False,
         device: str = "auto") -> int:
    """Open `session` (None: the bundled demo) in the app and run it; the exit status.

    With `screenshot`, nothing is shown: the session is loaded (and analysed when `analyze`),
    the main window is rendered offscreen into that PNG, and 0 is returned; 1 with one line
    `stemscope: <file>: <reason>` on stderr when the session cannot be opened or analysed.
    """
    if session is None:
        from plugin.demo import demo_session_path

        session = str(demo_session_path())
    if screenshot is not None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = _application()
    from .mainwindow import MainWindow

    if screenshot is None:
        window = MainWindow(device=device)
        report_unexpected_errors(window)
        window.show()
        if analyze:
            def analyse_once(_session) -> None:
                window.session_loaded.disconnect(analyse_once)
                window.start_analysis()

            window.session_loaded.connect(analyse_once)
        window.open_paths([session])
        return app.exec()

    window = MainWindow(device=device, use_settings=False, auto_cached_analysis=False, use_audio=False)
    try:
        window.resize(*SCREENSHOT_SIZE)
        window.show()
        window.open_paths([session])
        got = _wait([window.session_loaded, window.load_failed], SCREENSHOT_TIMEOUT_S)
        if got is None or window.session is None:
            reason = got[0] if got else f"{session}: timed out while opening"
            print(f"stemscope: {reason}", file=sys.stderr)
            return 1
        if window.overviews_running:
            _wait([window.overviews_done], SCREENSHOT_TIMEOUT_S)
        if analyze:
            window.start_analysis()
            done = _wait([window.analysis_finished], SCREENSHOT_TIMEOUT_S)
            if done is None or done[0] != "done":
                problems = [line for line in window.problems.lines() if line.startswith("Analysis failed")]
                reason = problems[-1] if problems else "the analysis did not finish"
                print(f"stemscope: {session}: {reason}", file=sys.stderr)
                return 1
        app.processEvents()
        image = window.grab()
        target = Path(screenshot)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(f"stemscope: {target}: cannot write the screenshot ({exc.strerror or exc})", file=sys.stderr)
            return 1
        if not image.save(str(target), "PNG"):
            print(f"stemscope: {target}: cannot write the screenshot", file=sys.stderr)
            return 1
        return 0
    finally:
        window.shutdown()
        window.close()
        window.deleteLater()
