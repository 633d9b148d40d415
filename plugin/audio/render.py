"""Streaming render of tracks and mixes: every audio clip placed on the exact output sample.

`render_blocks` yields float32 arrays shaped (channels, n) that together cover [start, end)
exactly. Placement: a clip starts on output sample round(start * sample_rate) and ends on
round(end * sample_rate); output sample n of the clip plays source time
`clip.source_time((n - first_sample) / sample_rate)`, wrapped into the clip's loop. Each
stretch of constant rate r (the play rate, or one warp segment) reads the source resampled to
sample_rate / r, so at the source's own rate and play rate 1 the output samples are the
source's samples, bit for bit.

Memory does not grow with the session: the mix is computed in fixed internal chunks (the
requested block size only re-slices them, so the output never depends on it) and a clip's
source is open only while the clip overlaps the chunk being rendered.

A clip whose source is missing, cannot be opened or stops decoding plays as silence (from the
point of failure); each such problem is one line appended to the caller's `warnings` list (or
logged, without one). Nothing raises for a bad media file.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from pedalboard import Resample

from ..session.model import AudioClip, Session, Track
from .decode import DEFAULT_QUALITY, DecodeError, SourceReader

log = logging.getLogger(__name__)

DEFAULT_BLOCK_SIZE = 16384
# Internal render grid, counted from the first rendered sample. Fixed, so that the samples never
# depend on the block size a caller asks for.
CHUNK_FRAMES = 65536
FADE_SHAPES = ("linear", "equal_power")

_MINUS_3DB = math.sqrt(0.5)
# Standard layouts (SMPTE/WAVE order) folded to stereo: (left weight, right weight) per channel.
_STEREO_FOLD = {
    3: [(1, 0), (0, 1), (_MINUS_3DB, _MINUS_3DB)],  # L R C
    4: [(1, 0), (0, 1), (_MINUS_3DB, 0), (0, _MINUS_3DB)],  # L R Ls Rs
    5: [(1, 0), (0, 1), (_MINUS_3DB, _MINUS_3DB), (_MINUS_3DB, 0), (0, _MINUS_3DB)],  # L R C Ls Rs
    6: [(1, 0), (0, 1), (_MINUS_3DB, _MINUS_3DB), (0, 0), (_MINUS_3DB, 0), (0, _MINUS_3DB)],  # 5.1
    8: [(1, 0), (0, 1), (_MINUS_3DB, _MINUS_3DB), (0, 0),
        (_MINUS_3DB, 0), (0, _MINUS_3DB), (_MINUS_3DB, 0), (0, _MINUS_3DB)],  # 7.1
}


def channel_matrix(source_channels: int, target_channels: int) -> np.ndarray:
    """Weights (target, source) that turn a source's channels into the target's.

    Mono target: the mean of all channels. Mono source: the same signal on the first two
    target channels (both, for stereo). Equal counts: unchanged. Stereo target from 3, 4, 5,
    5.1 and 7.1 layouts: the ITU fold-down (centre and surrounds at -3 dB, LFE dropped); other
    channel counts alternate left/right. More channels to fewer (other than stereo): channel i
    goes to output i mod target. Rows that fold several channels are scaled to sum to 1, like
    the mono mean, so a downmix never gets louder than its loudest input channel.
    """
    src, dst = source_channels, target_channels
    if src == dst:
        return np.eye(dst, dtype=np.float64)
    if dst == 1:
        return np.full((1, src), 1.0 / src)
    m = np.zeros((dst, src))
    if src == 1:
        m[: min(dst, 2), 0] = 1.0
        return m
    if src < dst:
        m[np.arange(src), np.arange(src)] = 1.0
        return m
    if dst == 2:
        weights = _STEREO_FOLD.get(src) or [(1, 0) if i % 2 == 0 else (0, 1) for i in range(src)]
        m = np.array(weights, dtype=np.float64).T
    else:
        m[np.arange(src) % dst, np.arange(src)] = 1.0
    return m / m.sum(axis=1, keepdims=True)


def convert_channels(block: np.ndarray, target_channels: int) -> np.ndarray:
    """A (channels, n) float32 block as `target_channels` channels (see channel_matrix)."""
    src = block.shape[0]
    if src == target_channels:
        return block
    if src == 1:
        out = np.zeros((target_channels, block.shape[1]), dtype=np.float32)
        out[: min(target_channels, 2)] = block[0]
        return out
    weights = channel_matrix(src, target_channels).astype(np.float32)
    out = np.zeros((target_channels, block.shape[1]), dtype=np.float32)
    # Row by row, in a fixed order: the same samples whatever the block length.
    for t in range(target_channels):
        for s in range(src):
            if weights[t, s]:
                out[t] += weights[t, s] * block[s]
    return out


class _Settings:
    def __init__(self, sample_rate: float, channels: int, fade_shape: str, quality: Resample.Quality):
        self.sample_rate = float(sample_rate)
        self.channels = int(channels)
        self.fade_shape = fade_shape
        self.quality = quality


def _first_sample(seconds: float, sample_rate: float) -> int:
    """The output sample nearest to `seconds` (halves round up, the same for every clip)."""
    return math.floor(seconds * sample_rate + 0.5)


def _linear_segments(clip: AudioClip, length: float) -> Iterator[tuple[float, float, float, float]]:
    """(t0, t1, u0, rate): clip seconds t in [t0, t1) play source second u0 + (t - t0) * rate.

    The same map as AudioClip.source_time: the play rate, or the warp points with each segment
    at its own rate and the first and last segments extended beyond the points.
    """
    points = sorted(clip.warp)
    if len(points) < 2:
        u_at_zero = points[0][1] - points[0][0] * clip.playrate if points else clip.source_offset
        yield 0.0, length, u_at_zero, clip.playrate
        return
    last = len(points) - 2
    for k in range(last + 1):
        (c0, s0), (c1, s1) = points[k], points[k + 1]
        rate = (s1 - s0) / (c1 - c0) if c1 != c0 else clip.playrate
        lo = 0.0 if k == 0 else max(c0, 0.0)
        hi = length if k == last else min(c1, length)
        if hi > lo:
            yield lo, hi, s0 + (lo - c0) * rate, rate


def _clip_pieces(clip: AudioClip, clip_frames: int, sample_rate: float,
                 source_duration: float) -> Iterator[tuple[int, int, float | None, int]]:
    """(begin, end, rate, index): clip frames [begin, end) read the source resampled to
    sample_rate / rate from its frame `index` on; rate None is silence (a stopped or reversed
    warp segment). Pieces come in order and lazily (a short loop makes many)."""
    loop = None
    if clip.loop is not None:
        loop_start, loop_end = clip.loop
        loop_end = source_duration if loop_end is None else loop_end
        if loop_end - loop_start > 0:
            loop = (loop_start, loop_end - loop_start)
    length = clip_frames / sample_rate

    def piece(t_begin: float, t_end: float, rate: float | None, u_begin: float):
        begin = min(max(_first_sample(t_begin, sample_rate), 0), clip_frames)
        end = min(max(_first_sample(t_end, sample_rate), 0), clip_frames)
        if end <= begin:
            return None
        if rate is None:
            return begin, end, None, 0
        # Source seconds at the piece's first output sample, then the frame at the stream's rate.
        u = u_begin + (begin / sample_rate - t_begin) * rate
        return begin, end, rate, _first_sample(u * sample_rate / rate, 1.0)

    for t0, t1, u0, rate in _linear_segments(clip, length):
        if not (rate > 0 and math.isfinite(rate)):
            p = piece(t0, t1, None, 0.0)
        elif loop is None or loop[1] * sample_rate / rate < 1:  # a loop under one sample: ignored
            p = piece(t0, t1, rate, u0)
        else:
            loop_start, loop_len = loop
            # An offset past the loop's end is first wrapped into it (fmod is exact: a huge offset
            # from a corrupt session must not leave `t_wrap` stuck at `t` through lost precision).
            if u0 >= loop_start + loop_len:
                u0 = loop_start + math.fmod(u0 - loop_start, loop_len)
            # Passes through the loop: pass m plays unwrapped source [start + m*len, start + (m+1)*len).
            m = 0
            t = t0
            while t < t1:
                t_wrap = t0 + (loop_start + (m + 1) * loop_len - u0) / rate
                t_next = min(t_wrap, t1)
                if not t_next > t:  # no progress (float limits): the rest of the segment is silent
                    break
                p = piece(t, t_next, rate, u0 + (t - t0) * rate - m * loop_len)
                if p is not None:
                    yield p
                t, m = t_next, m + 1
            continue
        if p is not None:
            yield p


class _ClipStream:
    """One clip being rendered: its open source and its place in the clip's pieces."""

    def __init__(self, clip: AudioClip, first: int, last: int, settings: _Settings, warnings: list[str]):
        self.clip = clip
        self.first, self.last = first, last  # output samples [first, last)
        self._settings = settings
        self._warnings = warnings
        self._reader: SourceReader | None = None
        self._pieces: Iterator | None = None
        self._piece: tuple | None = None
        self._failed = False
        self._warned_rate = False
        self._notes_seen = 0

    def _fail(self, reason: str, at_frame: int) -> None:
        self._failed = True
        at = (self.first + at_frame) / self._settings.sample_rate
        self._warnings.append(f"{reason}; the clip at {self.clip.start:.3f} s is silent from {at:.3f} s")
        self.close()

    def _open(self, begin: int) -> bool:
        files = list(self.clip.channel_files) or [self.clip.source]
        try:
            self._reader = SourceReader(files, quality=self._settings.quality)
        except DecodeError as exc:
            self._fail(str(exc), begin)
            return False
        s = self._settings
        self._pieces = _clip_pieces(self.clip, self.last - self.first, s.sample_rate, self._reader.duration)
        self._piece = next(self._pieces, None)
        return True

    def _collect_notes(self) -> None:
        notes = self._reader.notes if self._reader else []
        for note in notes[self._notes_seen:]:
            self._warnings.append(note)
        self._notes_seen = len(notes)

    def render(self, begin: int, end: int) -> np.ndarray | None:
        """Clip frames [begin, end) (clip-local) as float32 (channels, n), gain and fades applied."""
        if self._failed or (self._reader is None and not self._open(begin)):
            return None
        s = self._settings
        out = None
        try:
            while self._piece is not None and self._piece[1] <= begin:
                self._piece = next(self._pieces, None)
            piece = self._piece
            while piece is not None and piece[0] < end:
                p_begin, p_end, rate, index = piece
                lo, hi = max(p_begin, begin), min(p_end, end)
                if rate is None and not self._warned_rate:
                    self._warned_rate = True
                    self._warnings.append(
                        f"{self.clip.source}: the clip at {self.clip.start:.3f} s plays its source backwards "
                        "or stopped (a warp segment without forward motion); that part is silent")
                if rate is not None:
                    data = self._reader.read(s.sample_rate / rate, index + lo - p_begin, hi - lo, mono=s.channels == 1)
                    data = convert_channels(data, s.channels)
                    if lo == begin and hi == end:
                        out = data
                    else:
                        if out is None:
                            out = np.zeros((s.channels, end - begin), dtype=np.float32)
                        out[:, lo - begin:hi - begin] = data
                if p_end > end:
                    break
                piece = self._piece = next(self._pieces, None)
        except DecodeError as exc:
            self._collect_notes()
            self._fail(str(exc), begin)
            return None
        self._collect_notes()
        if out is None:
            return None
        envelope = self._envelope(begin, end)
        if envelope is not None:
            out = out * envelope
        return out

    def _envelope(self, begin: int, end: int) -> np.ndarray | float | None:
        """Clip gain times the fades over clip frames [begin, end); None when it is exactly 1."""
        s, clip = self._settings, self.clip
        frames = self.last - self.first
        fade_in = min(max(_first_sample(clip.fade_in, s.sample_rate), 0), frames)
        fade_out = min(max(_first_sample(clip.fade_out, s.sample_rate), 0), frames)
        in_fade = begin < fade_in or end > frames - fade_out
        if not in_fade:
            return None if clip.gain == 1.0 else np.float32(clip.gain)
        j = np.arange(begin, end, dtype=np.float64)
        ramp = np.ones_like(j)
        if fade_in:
            ramp = np.minimum(ramp, j / fade_in)
        if fade_out:
            ramp *= np.minimum(1.0, (frames - j) / fade_out)
        if s.fade_shape == "equal_power":
            ramp = np.sin(ramp * (math.pi / 2))
        return (ramp * clip.gain).astype(np.float32)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


def _finite_clip(clip: AudioClip) -> bool:
    values = [clip.start, clip.duration, clip.source_offset, clip.gain, clip.fade_in, clip.fade_out]
    values += [v for point in clip.warp for v in point]
    values += [v for v in (clip.loop or ()) if v is not None]
    return all(math.isfinite(v) for v in values)


class _TrackRenderer:
    """Renders one track chunk by chunk, opening clips as they start and closing them as they end."""

    def __init__(self, track: Track, settings: _Settings, faders: bool):
        self.track = track
        self._settings = settings
        self.warnings: list[str] = []
        sr = settings.sample_rate
        placed = []
        for clip in track.clips:
            if clip.muted:
                continue
            if not _finite_clip(clip):
                self.warnings.append(f"{clip.source}: the clip at {clip.start} s has a position, offset, gain "
                                     "or fade that is not a number; it is skipped")
                continue
            first, last = _first_sample(clip.start, sr), _first_sample(clip.end, sr)
            if last > first:
                placed.append((first, last, clip))
        placed.sort(key=lambda p: p[0])
        self._pending = placed
        self._next = 0
        self._active: list[_ClipStream] = []
        self._fader = self._fader_gains(track, settings.channels) if faders else None

    @staticmethod
    def _fader_gains(track: Track, channels: int) -> np.ndarray | None:
        """Per-channel gain of the track's fader and pan (balance law: centre is unity)."""
        gains = np.full(channels, track.gain, dtype=np.float64)
        if channels >= 2:
            pan = min(max(track.pan, -1.0), 1.0)
            gains[0] *= min(1.0, 1.0 - pan)
            gains[1] *= min(1.0, 1.0 + pan)
        if np.all(gains == 1.0):
            return None
        return gains.astype(np.float32)[:, None]

    def render(self, begin: int, end: int) -> np.ndarray | None:
        """The track over output samples [begin, end), or None for silence."""
        while self._next < len(self._pending) and self._pending[self._next][0] < end:
            first, last, clip = self._pending[self._next]
            self._next += 1
            if last <= begin:
                continue
            if clip.missing:
                self.warnings.append(f"{clip.source}: missing; its clips are silent")
                continue
            self._active.append(_ClipStream(clip, first, last, self._settings, self.warnings))
        out = None
        for stream in self._active:
            lo, hi = max(begin, stream.first), min(end, stream.last)
            if hi <= lo:
                continue
            data = stream.render(lo - stream.first, hi - stream.first)
            if data is None:
                continue
            if out is None:
                out = np.zeros((self._settings.channels, end - begin), dtype=np.float32)
            out[:, lo - begin:hi - begin] += data
        for stream in [s for s in self._active if s.last <= end]:
            stream.close()
            self._active.remove(stream)
        if out is not None and self._fader is not None:
            out *= self._fader
        return out

    def close(self) -> None:
        for stream in self._active:
            stream.close()
        self._active.clear()


def _select_tracks(source, tracks) -> list[Track]:
    if isinstance(source, Session):
        if tracks is None:
            return source.audible_tracks()
        chosen = []
        for key in tracks:
            if isinstance(key, Track):
                chosen.append(key)
            elif isinstance(key, int):
                chosen.append(source.tracks[key])
            else:
                named = [t for t in source.tracks if t.name == key]
                if not named:
                    raise KeyError(f"no track named {key!r}")
                chosen.extend(named)
        return chosen
    if isinstance(source, Track):
        source = [source]
    if tracks is not None:
        raise TypeError("tracks= selects from a Session; pass the tracks themselves instead")
    return list(source)


def _default_workers(track_count: int) -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(track_count, cores, 8))


def render_blocks(
    source: Session | Track | Iterable[Track],
    *,
    sample_rate: float,
    channels: int,
    block_size: int = DEFAULT_BLOCK_SIZE,
    start: float = 0.0,
    end: float | None = None,
    tracks: Iterable[Track | int | str] | None = None,
    faders: bool = True,
    fade_shape: str = "linear",
    quality: Resample.Quality = DEFAULT_QUALITY,
    workers: int | None = None,
    warnings: list[str] | None = None,
) -> Iterator[np.ndarray]:
    """Render tracks summed, as float32 blocks (channels, <= block_size) covering [start, end).

    `source`: a Session (its audible tracks, or `tracks` chosen by index, name or Track), a
    Track, or a list of tracks (each rendered whatever its mute/solo state). `end` None: the
    session's duration (the tracks' end). With `faders`, each track's gain and pan apply; clip
    gain, fades (`fade_shape` "linear" or "equal_power") and clip mutes always do. Samples are
    not clipped. Problems with media are appended to `warnings` (one line each, no repeats), or
    logged when no list is given.
    Tracks render on `workers` threads (default: one per core); the output does not depend on
    it, nor on `block_size`.
    """
    if not sample_rate > 0:
        raise ValueError(f"sample_rate must be positive, not {sample_rate}")
    if int(channels) < 1:
        raise ValueError(f"channels must be at least 1, not {channels}")
    if int(block_size) < 1:
        raise ValueError(f"block_size must be at least 1, not {block_size}")
    if fade_shape not in FADE_SHAPES:
        raise ValueError(f"fade_shape must be one of {FADE_SHAPES}, not {fade_shape!r}")
    chosen = _select_tracks(source, tracks)
    if end is None:
        end = source.duration if isinstance(source, Session) else max((t.end for t in chosen), default=0.0)
    settings = _Settings(sample_rate, channels, fade_shape, quality)
    first, last = _first_sample(start, settings.sample_rate), _first_sample(end, settings.sample_rate)
    count = workers if workers is not None else _default_workers(len(chosen))
    return _generate(chosen, settings, first, last, int(block_size), faders, max(1, count), warnings)


def _chunks(renderers: list[_TrackRenderer], first: int, last: int, workers: int,
            warnings: list[str] | None) -> Iterator[tuple[int, int, list[np.ndarray | None]]]:
    """(begin, end, one part per renderer or None for silence) over the fixed internal chunk
    grid, rendering the tracks on `workers` threads; closes the renderers at the end."""
    pool = ThreadPoolExecutor(workers) if workers > 1 and len(renderers) > 1 else None
    reported: set[str] = set()
    try:
        for begin in range(first, last, CHUNK_FRAMES):
            end = min(begin + CHUNK_FRAMES, last)
            if pool is not None:
                parts = [job.result() for job in [pool.submit(r.render, begin, end) for r in renderers]]
            else:
                parts = [r.render(begin, end) for r in renderers]
            _report(renderers, reported, warnings)
            yield begin, end, parts
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
        for r in renderers:
            r.close()


def _generate(tracks: list[Track], settings: _Settings, first: int, last: int, block_size: int,
              faders: bool, workers: int, warnings: list[str] | None) -> Iterator[np.ndarray]:
    renderers = [_TrackRenderer(t, settings, faders) for t in tracks]
    carry = np.zeros((settings.channels, 0), dtype=np.float32)
    for begin, end, parts in _chunks(renderers, first, last, workers, warnings):
        mix = np.zeros((settings.channels, end - begin), dtype=np.float32)
        for part in parts:  # always in track order: the sum does not depend on the threads
            if part is not None:
                mix += part
        if carry.shape[1]:
            mix = np.concatenate([carry, mix], axis=1)
        full = mix.shape[1] - mix.shape[1] % block_size
        for k in range(0, full, block_size):
            yield np.ascontiguousarray(mix[:, k:k + block_size])
        carry = mix[:, full:]
    if carry.shape[1]:
        yield np.ascontiguousarray(carry)


def render_stems(
    stems: list[Track],
    *,
    sample_rate: float,
    mix: list[Track] = (),
    channels: int = 1,
    start: float = 0.0,
    end: float | None = None,
    quality: Resample.Quality = DEFAULT_QUALITY,
    workers: int | None = None,
    warnings: list[str] | None = None,
) -> Iterator[tuple[list[np.ndarray], np.ndarray | None]]:
    """Several tracks and their mix in one pass: every source is decoded once.

    Yields, per internal chunk, `(parts, mix_block)`: one float32 (channels, n) array per track of
    `stems` (clip gains and fades, no fader: what the track holds) and the sum of the `mix`
    tracks with their faders (None when `mix` is empty). The blocks cover [start, end); `end`
    None is the last track's end. The samples equal `render_blocks` of each track (faders off)
    and of the mix tracks (faders on).
    """
    if not sample_rate > 0:
        raise ValueError(f"sample_rate must be positive, not {sample_rate}")
    settings = _Settings(sample_rate, channels, "linear", quality)
    order = list({id(t): t for t in [*stems, *mix]}.values())  # each track rendered once, whatever its roles
    if end is None:
        end = max((t.end for t in order), default=0.0)
    first, last = _first_sample(start, settings.sample_rate), _first_sample(end, settings.sample_rate)
    renderers = [_TrackRenderer(t, settings, faders=False) for t in order]
    faders = {id(t): _TrackRenderer._fader_gains(t, settings.channels) for t in mix}
    count = workers if workers is not None else _default_workers(len(order))
    for begin, stop, parts in _chunks(renderers, first, last, count, warnings):
        silence = np.zeros((settings.channels, stop - begin), dtype=np.float32)
        by_track = {id(t): (silence if part is None else part) for t, part in zip(order, parts)}
        mix_block = None
        if mix:
            mix_block = np.zeros_like(silence)
            for track in mix:  # in the given order: the sum does not depend on the threads
                gain = faders[id(track)]
                mix_block += by_track[id(track)] if gain is None else by_track[id(track)] * gain
        yield [by_track[id(t)] for t in stems], mix_block


def _report(renderers: list[_TrackRenderer], reported: set[str], warnings: list[str] | None) -> None:
    """Pass the renderers' new warnings on once each (to `warnings`, or the log)."""
    for r in renderers:
        for line in r.warnings:
            if line in reported:
                continue
            reported.add(line)
            if warnings is not None:
                warnings.append(line)
            else:
                log.warning("%s", line)
        r.warnings.clear()


def render_track(track: Track, **options) -> Iterator[np.ndarray]:
    """One track's blocks (whatever its mute state); options as render_blocks."""
    return render_blocks([track], **options)


def render_mix(session: Session, **options) -> Iterator[np.ndarray]:
    """The session's mix: its audible tracks (solo and mute as the DAW plays them), each with
    its gain and pan; options as render_blocks."""
    return render_blocks(session, **options)


def render_array(source: Session | Track | Iterable[Track], **options) -> np.ndarray:
    """render_blocks joined into one (channels, n) array: for short renders and tests."""
    blocks = list(render_blocks(source, **options))
    if not blocks:
        return np.zeros((int(options["channels"]), 0), dtype=np.float32)
    return np.concatenate(blocks, axis=1)
