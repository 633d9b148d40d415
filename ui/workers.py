"""Long work off the GUI thread: a generator run on a QThread, its items sent as signals.

The generator function gets a threading.Event first and must stop soon after it is set. Items
are plain data (numbers, numpy arrays, engine dataclasses); no widget is touched off the GUI
thread.
"""

from __future__ import annotations

import os
import sys
import threading

from PyQt6.QtCore import QObject, QThread, pyqtSignal


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


BACKGROUND_NICENESS = 10


def _lower_own_priority() -> None:
    """Background work yields the CPU to the GUI thread. On Linux the nice value is per thread
    (and inherited by threads this one starts, like onnxruntime's and the render prefetcher), so
    it is set here; elsewhere QThread.Priority.LowPriority at start does it."""
    if hasattr(os, "setpriority") and sys.platform.startswith("linux"):
        try:
            current = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), max(current, BACKGROUND_NICENESS))
        except OSError:
            pass


class GeneratorThread(QThread):
    item = pyqtSignal(object)
    failed = pyqtSignal(str)

    def __init__(self, fn, *args, parent: QObject | None = None):
        super().__init__(parent)
        self._fn, self._args = fn, args
        self.cancel_event = threading.Event()

    def run(self) -> None:
        _lower_own_priority()
        try:
            for item in self._fn(self.cancel_event, *self._args):
                if self.cancel_event.is_set():
                    break
                self.item.emit(item)
        except Exception as exc:  # noqa: BLE001 - any failure of the job is reported, never raised into Qt
            self.failed.emit(one_line(exc))

    def cancel(self) -> None:
        self.cancel_event.set()


class ThreadRegistry(QObject):
    """Keeps running GeneratorThreads alive and stops them all on shutdown."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._threads: set[GeneratorThread] = set()

    def start(self, thread: GeneratorThread) -> GeneratorThread:
        self._threads.add(thread)
        thread.finished.connect(lambda t=thread: self._forget(t))
        thread.start(QThread.Priority.LowPriority)
        return thread

    def _forget(self, thread: GeneratorThread) -> None:
        self._threads.discard(thread)
        thread.deleteLater()

    @property
    def running(self) -> int:
        return sum(1 for t in self._threads if t.isRunning())

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        for thread in list(self._threads):
            thread.cancel()
        for thread in list(self._threads):
            thread.wait(timeout_ms)
        self._threads.clear()
