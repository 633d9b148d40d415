"""Playback through QtMultimedia: the audible mix rendered into memory, pulled by a QAudioSink.

The Transport (ui.transport) is the state machine; a QElapsedTimer is its clock, so the
playhead moves the same way with or without an audio device. With no device (offscreen, a
server, a muted machine) playback runs silently and the status bar says so. Mute and solo
re-render the mix in the background from the playhead on.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
from PyQt6.QtCore import QElapsedTimer, QIODevice, QObject, QTimer, pyqtSignal

from .transport import PLAYING, STOPPED, Transport
from .workers import GeneratorThread, ThreadRegistry

PLAYBACK_RATE = 44100
PLAYBACK_CHANNELS = 2
MAX_PLAYBACK_SECONDS = 45 * 60  # the rendered mix lives in memory: 45 min stereo int16 is 476 MB


def session_with_flags(session, muted: dict[int, bool], solo: dict[int, bool]):
    """A shallow copy of the session whose tracks carry the UI's mute and solo (the engine's
    Session is never changed)."""
    out = copy.copy(session)
    out.tracks = [dataclasses.replace(t, muted=muted.get(i, t.muted), solo=solo.get(i, t.solo))
                  for i, t in enumerate(session.tracks)]
    return out


def render_mix_chunks(cancel, session, start: float, duration: float):
    """Yield (first_frame, int16 (n, channels)) chunks of the audible mix: from `start` to the
    end, then from 0 to `start` (what plays next arrives first)."""
    from plugin.audio import render_blocks

    end = min(duration, MAX_PLAYBACK_SECONDS)
    for lo, hi in ((start, end), (0.0, start)):
        if hi - lo <= 0:
            continue
        frame = round(lo * PLAYBACK_RATE)
        warnings: list[str] = []
        for block in render_blocks(session, sample_rate=PLAYBACK_RATE, channels=PLAYBACK_CHANNELS,
                                   start=lo, end=hi, block_size=PLAYBACK_RATE // 2, warnings=warnings):
            if cancel.is_set():
                return
            pcm = (np.clip(block.T, -1.0, 1.0) * 32767.0).astype(np.int16)
            yield frame, pcm
            frame += pcm.shape[0]


class MixBuffer:
    """The whole mix as int16 frames; parts not rendered yet are silence."""

    def __init__(self, duration: float):
        frames = int(min(duration, MAX_PLAYBACK_SECONDS) * PLAYBACK_RATE) + 1
        self.pcm = np.zeros((frames, PLAYBACK_CHANNELS), dtype=np.int16)

    def write(self, first: int, pcm: np.ndarray) -> None:
        n = max(0, min(len(pcm), len(self.pcm) - first))
        self.pcm[first:first + n] = pcm[:n]

    def read(self, transport: Transport, frame_cursor: int, frames: int) -> tuple[bytes, int]:
        """`frames` frames from the cursor (frames since play()), wrapped into the loop; returns
        (bytes, new cursor)."""
        out = np.zeros((frames, PLAYBACK_CHANNELS), dtype=np.int16)
        first = round(transport.position_after(frame_cursor / PLAYBACK_RATE) * PLAYBACK_RATE)
        loop = transport.wrapping_loop
        loop_start, loop_end = (round(t * PLAYBACK_RATE) for t in loop) if loop else (0, len(self.pcm))
        written = 0
        while written < frames:  # a loop wrap can fall anywhere in the request
            if loop and first >= loop_end:
                first = loop_start
            n = min(frames - written, loop_end - first, len(self.pcm) - first)
            if n <= 0:
                break
            out[written:written + n] = self.pcm[first:first + n]
            written += n
            first += n
        return out.tobytes(), frame_cursor + frames


class PullDevice(QIODevice):
    """What the QAudioSink pulls from: the MixBuffer read at the transport's position."""

    def __init__(self, controller: PlaybackController):
        super().__init__(controller)
        self._controller = controller
        self.cursor = 0

    def readData(self, maxlen: int) -> bytes:
        c = self._controller
        frames = maxlen // (2 * PLAYBACK_CHANNELS)
        if c.buffer is None or frames <= 0 or c.transport.state != PLAYING:
            return b"\0" * (frames * 2 * PLAYBACK_CHANNELS)
        data, self.cursor = c.buffer.read(c.transport, self.cursor, frames)
        return data

    def writeData(self, data) -> int:
        return -1

    def isSequential(self) -> bool:
        return True

    def bytesAvailable(self) -> int:
        return 1 << 16


class PlaybackController(QObject):
    """Space plays and stops; seek, loop a selection, mute and solo; the playhead follows."""

    position_changed = pyqtSignal(float)
    state_changed = pyqtSignal(str)
    message = pyqtSignal(str)

    def __init__(self, threads: ThreadRegistry, parent: QObject | None = None, use_audio: bool = True):
        super().__init__(parent)
        self._threads = threads
        self.transport = Transport(duration=0.0)
        self.session = None
        self.muted: dict[int, bool] = {}
        self.solo: dict[int, bool] = {}
        self.buffer: MixBuffer | None = None
        self._render: GeneratorThread | None = None
        self._clock = QElapsedTimer()
        self._clock.start()
        self._timer = QTimer(self)
        self._timer.setInterval(30)
        self._timer.timeout.connect(self._tick)
        self._use_audio = use_audio
        self._sink = None
        self._device: PullDevice | None = None
        self.audio_available: bool | None = None  # None until the first play looks for a device
        self.silent_reason: str | None = None  # why playback runs silently, once a play found out

    # ---- state ------------------------------------------------------------------------------
    def now(self) -> float:
        return self._clock.nsecsElapsed() / 1e9

    @property
    def state(self) -> str:
        return self.transport.state

    @property
    def position(self) -> float:
        return self.transport.position_at(self.now())

    def set_session(self, session) -> None:
        self.stop()
        self._cancel_render()
        self.session = session
        self.muted = {i: t.muted for i, t in enumerate(session.tracks)}
        self.solo = {i: t.solo for i, t in enumerate(session.tracks)}
        self.transport = Transport(duration=session.duration)
        self.buffer = None
        self.position_changed.emit(0.0)

    def audible_indices(self) -> set[int]:
        if self.session is None:
            return set()
        flagged = session_with_flags(self.session, self.muted, self.solo)
        audible = {id(t) for t in flagged.audible_tracks()}
        return {i for i, t in enumerate(flagged.tracks) if id(t) in audible}

    def set_mute(self, index: int, on: bool) -> None:
        self.muted[index] = on
        self._mix_changed()

    def set_solo(self, index: int, on: bool) -> None:
        self.solo[index] = on
        self._mix_changed()

    def _mix_changed(self) -> None:
        if self.buffer is not None:  # re-render what plays; until then the old mix is dropped
            self._start_render()

    # ---- transport --------------------------------------------------------------------------
    def toggle(self) -> None:
        self.stop() if self.state == PLAYING else self.play()

    def play(self) -> None:
        if self.session is None or self.transport.duration <= 0 or self.state == PLAYING:
            return
        self.transport.play(self.now())
        if self._use_audio and self._open_audio():
            if self.buffer is None:
                self._start_render()
            self._device.cursor = 0
            self._sink.start(self._device)
        self._timer.start()
        self.state_changed.emit(PLAYING)

    def stop(self) -> None:
        if self.state != PLAYING:
            return
        self.transport.stop(self.now())
        if self._sink is not None:
            self._sink.stop()
        self._timer.stop()
        self.state_changed.emit(STOPPED)
        self.position_changed.emit(self.transport.position)

    def seek(self, t: float) -> None:
        self.transport.seek(t, self.now())
        self._restart_stream()
        self.position_changed.emit(self.transport.position)

    def set_loop(self, selection: tuple[float, float] | None) -> None:
        self.transport.set_loop(selection, self.now())
        self._restart_stream()

    def set_looping(self, on: bool) -> None:
        self.transport.set_looping(on, self.now())
        if on and self.transport.active_loop and self.state == PLAYING:
            start, end = self.transport.active_loop
            if not start <= self.transport.position < end:
                self.transport.seek(start, self.now())
        self._restart_stream()

    def _restart_stream(self) -> None:
        if self._device is not None:
            self._device.cursor = 0

    def _tick(self) -> None:
        pos = self.transport.tick(self.now())
        self.position_changed.emit(pos)
        if self.state != PLAYING:
            self._timer.stop()
            if self._sink is not None:
                self._sink.stop()
            self.state_changed.emit(STOPPED)

    # ---- audio ------------------------------------------------------------------------------
    def _open_audio(self) -> bool:
        if self.audio_available is not None:
            return self.audio_available
        try:
            from PyQt6.QtMultimedia import QAudioFormat, QAudioSink, QMediaDevices
        except ImportError as exc:
            self._silent(f"No audio playback (QtMultimedia unavailable: {exc}); the playhead runs silently")
            return False
        device = QMediaDevices.defaultAudioOutput()
        if device.isNull():
            self._silent("No audio output device: playback runs silently (playhead only)")
            return False
        fmt = QAudioFormat()
        fmt.setSampleRate(PLAYBACK_RATE)
        fmt.setChannelCount(PLAYBACK_CHANNELS)
        fmt.setSampleFormat(QAudioFormat.SampleFormat.Int16)
        if not device.isFormatSupported(fmt):
            self._silent(f"The audio device '{device.description()}' cannot play 44.1 kHz stereo: "
                         "playback runs silently")
            return False
        self._sink = QAudioSink(device, fmt, self)
        self._device = self.pull_device()
        self.audio_available = True
        return True

    def _silent(self, reason: str) -> None:
        self.audio_available = False
        self.silent_reason = reason
        self.message.emit(reason)

    def pull_device(self) -> PullDevice:
        """The device a QAudioSink pulls the mix from; unbuffered, so every read is at the playhead."""
        device = PullDevice(self)
        device.open(QIODevice.OpenModeFlag.ReadOnly | QIODevice.OpenModeFlag.Unbuffered)
        return device

    def _start_render(self) -> None:
        self._cancel_render()
        flagged = session_with_flags(self.session, self.muted, self.solo)
        self.buffer = MixBuffer(self.session.duration)
        thread = GeneratorThread(render_mix_chunks, flagged, self.transport.position_at(self.now()),
                                 self.session.duration)
        buffer = self.buffer
        thread.item.connect(lambda chunk, b=buffer: b.write(*chunk))
        thread.failed.connect(lambda why: self.message.emit(f"Playback render failed: {why}"))
        self._render = thread
        self._threads.start(thread)

    def _cancel_render(self) -> None:
        if self._render is not None:
            self._render.cancel()
            self._render = None

    def shutdown(self) -> None:
        self._timer.stop()
        self._cancel_render()
        if self._sink is not None:
            self._sink.stop()
