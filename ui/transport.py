"""The playback state machine (no Qt): stopped or playing, a position, an optional loop.

Time comes from outside (`now`, seconds on any monotonic clock: the audio device's processed
time, or a wall clock when there is no device), so the machine is the same with or without
sound and testable with a fake clock.
"""

from __future__ import annotations

from dataclasses import dataclass

STOPPED = "stopped"
PLAYING = "playing"


@dataclass
class Transport:
    duration: float
    position: float = 0.0  # where playback (re)starts, or where it was when last asked
    state: str = STOPPED
    loop: tuple[float, float] | None = None  # played over and over while looping is on
    looping: bool = False
    _started_at: float = 0.0  # clock time of play()
    _started_from: float = 0.0  # position at play()

    def position_after(self, elapsed: float) -> float:
        """Position `elapsed` seconds after play(), wrapped into the loop when it is on."""
        pos = self._started_from + elapsed
        loop = self.wrapping_loop
        if loop and pos >= loop[1]:
            start, end = loop
            pos = start + (pos - start) % (end - start)
        return pos

    @property
    def active_loop(self) -> tuple[float, float] | None:
        if self.looping and self.loop and self.loop[1] - self.loop[0] > 1e-3:
            return self.loop
        return None

    @property
    def wrapping_loop(self) -> tuple[float, float] | None:
        """The loop that playback wraps in: the active loop, if playback started before its end."""
        loop = self.active_loop
        return loop if loop and self._started_from < loop[1] else None

    def position_at(self, now: float) -> float:
        if self.state != PLAYING:
            return self.position
        return self.position_after(max(0.0, now - self._started_at))

    def tick(self, now: float) -> float:
        """Advance to `now`: the position, stopping at the end of the session."""
        if self.state == PLAYING:
            pos = self.position_at(now)
            if pos >= self.duration and not self.active_loop:
                self.state = STOPPED
                pos = self.duration
            self.position = pos
        return self.position

    def play(self, now: float) -> None:
        if self.state == PLAYING:
            return
        if self.position >= self.duration - 1e-6:
            self.position = 0.0
        loop = self.active_loop
        if loop and not loop[0] <= self.position < loop[1]:
            self.position = loop[0]
        self.state = PLAYING
        self._started_at, self._started_from = now, self.position

    def stop(self, now: float) -> None:
        if self.state == PLAYING:
            self.tick(now)
            self.state = STOPPED

    def toggle(self, now: float) -> None:
        self.stop(now) if self.state == PLAYING else self.play(now)

    def seek(self, position: float, now: float) -> None:
        self.position = min(max(position, 0.0), self.duration)
        if self.state == PLAYING:
            self._started_at, self._started_from = now, self.position

    def set_loop(self, loop: tuple[float, float] | None, now: float) -> None:
        self.tick(now)
        self.loop = (min(loop), max(loop)) if loop else None
        if self.state == PLAYING:
            self._started_at, self._started_from = now, self.position

    def set_looping(self, on: bool, now: float) -> None:
        self.tick(now)
        self.looping = on
        if self.state == PLAYING:
            self._started_at, self._started_from = now, self.position
