"""Streaming, frame-by-frame inference: audio blocks of any size in, model frames out as they are ready.

Coordinates. A whole-file run feeds the model P = [pad_samples zeros] + audio + [pad_back_samples
zeros] and gets output frame j for [j*hop, (j+1)*hop) of the audio; there are
samples // hop frames (a partial last hop is dropped). All positions below are indices into P.

Chunks. With C = receptive_field_frames and hop H, output frames [j, k) are computed from
P[s*H : (k+C)*H + pad + pad_back], s = max(0, j - C): C frames of real context on each side, or
the file's own start (s = 0, exactly the whole-file padding). Chunks start on output-frame
boundaries, so feature frames and the model's time pooling line up with the whole-file run.
Frames whose right context reaches the end of the file are computed from a slice that runs to
the end of P, pad_back_samples zeros included, exactly as the whole file ends. So every emitted
frame sees the same input the whole-file run sees within its receptive field and the outputs
agree whatever the chunk and block sizes (up to float rounding) -- provided the manifest's
receptive_field_frames really covers the network's reach.

Batching. `infer_tracks` advances several tracks together and sends their chunks through the
model in one call when their inputs have the same length (the batch axis).

Progress and cancelling. `infer_tracks` is a generator of `ChunkResult` events (track, chunk,
frames, seconds done). It checks `cancel` before every model call and simply stops when it is
set; `collect` turns an unfinished run into `InferenceCancelled`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from .device import ModelSession, get_session
from .errors import InferenceError
from .models import ModelSpec

DEFAULT_CHUNK_SECONDS = 30.0


class InferenceCancelled(Exception):
    """The run was cancelled before every track was finished."""


@dataclass(frozen=True)
class ChunkResult:
    """One progress event: the frames one chunk produced for one track."""

    track: int  # index into the tracks given
    chunk: int  # 0, 1, ... per track
    start_frame: int  # first output frame in `activations`
    activations: np.ndarray  # (frames, labels) float32; may have 0 frames on a final event
    seconds_done: float  # audio seconds of this track covered by the frames emitted so far
    final: bool  # the track is finished: every frame has been emitted
    provider: str  # the onnxruntime execution provider that ran the model

    @property
    def end_frame(self) -> int:
        return self.start_frame + len(self.activations)


@dataclass
class Job:
    """One model input: frames [first, last) are rows [first - start, last - start) of its output."""

    start: int  # output frame the input begins on
    first: int
    last: int
    audio: np.ndarray  # P[start*H : ...], 1-D float32
    out_frames: int  # frames the model returns for it


def default_chunk_frames(spec: ModelSpec, seconds: float = DEFAULT_CHUNK_SECONDS) -> int:
    return max(1, round(seconds / spec.hop_seconds))


class FrameStream:
    """The chunking state of one track: `push` blocks, `finish`, then take `next_job`s and `commit` them.

    The buffer keeps only what the next chunk needs: memory is bounded by the chunk size, the
    context and one block, however long the track.
    """

    def __init__(self, spec: ModelSpec, chunk_frames: int | None = None):
        if chunk_frames is not None and chunk_frames < 1:
            raise ValueError(f"chunk_frames must be at least 1, not {chunk_frames}")
        self.spec = spec
        self.chunk_frames = chunk_frames or default_chunk_frames(spec)
        self._hop = spec.hop_samples
        self._context = spec.receptive_field_frames
        self._tail = spec.pad_samples + spec.pad_back_samples
        self._parts: list[np.ndarray] = [np.zeros(spec.pad_samples, np.float32)]
        self._start = 0  # P index of the first buffered sample
        self._end = spec.pad_samples  # P index after the last buffered sample
        self.samples = 0  # audio samples received
        self.finished = False  # every block received (back padding appended)
        self.next_frame = 0  # first frame not yet emitted
        self.chunks = 0  # jobs committed

    # ---- input ----------------------------------------------------------------------------------
    def push(self, block) -> None:
        """Append audio: 1-D, or (channels, n) which is averaged to mono. At the model's rate."""
        if self.finished:
            raise InferenceError("audio pushed after the end of the track")
        samples = as_mono(block)
        if samples.size:
            self._parts.append(samples)
            self._end += samples.size
            self.samples += samples.size

    def finish(self) -> None:
        if not self.finished:
            self._parts.append(np.zeros(self.spec.pad_back_samples, np.float32))
            self._end += self.spec.pad_back_samples
            self.finished = True

    @property
    def total_frames(self) -> int | None:
        return self.spec.frame_count(self.samples) if self.finished else None

    @property
    def done(self) -> bool:
        return self.finished and self.next_frame >= self.total_frames

    # ---- chunks ---------------------------------------------------------------------------------
    def next_job(self) -> Job | None:
        """The next chunk whose context is complete, or None until more audio (or the end) arrives."""
        j, hop, ctx = self.next_frame, self._hop, self._context
        total = self.total_frames
        if total is not None and j >= total:
            return None
        k = j + self.chunk_frames if total is None else min(j + self.chunk_frames, total)
        start = max(0, j - ctx)
        stop = (k + ctx) * hop + self._tail  # P index after the chunk's right context
        if stop <= self._end:
            return Job(start, j, k, self._slice(start * hop, stop), k + ctx - start)
        if total is None:
            return None
        # The right context reaches the end of the file: run to the end of P, as the whole file does.
        return Job(start, j, k, self._slice(start * hop, self._end), total - start)

    def commit(self, job: Job, output: np.ndarray) -> np.ndarray:
        """Accept the model's output for `job`; returns the emitted frames (last - first, labels)."""
        if job.first != self.next_frame:
            raise InferenceError(f"chunk for frame {job.first} committed while frame {self.next_frame} is next")
        if output.ndim != 2 or output.shape[0] != job.out_frames:
            raise InferenceError(
                f"{self.spec.name} returned {output.shape[0] if output.ndim else '?'} frames for "
                f"{job.audio.size} samples where its manifest implies {job.out_frames} (hop "
                f"{self._hop}, padding {self.spec.pad_samples}+{self.spec.pad_back_samples}): the manifest does not "
                f"describe the graph")
        emitted = output[job.first - job.start: job.last - job.start]
        self.next_frame = job.last
        self.chunks += 1
        self._drop_before(max(0, self.next_frame - self._context) * self._hop)
        return emitted

    def seconds_done(self) -> float:
        if self.done:
            return self.samples / self.spec.sample_rate
        return self.spec.frame_seconds(self.next_frame)

    # ---- buffer ---------------------------------------------------------------------------------
    def _joined(self) -> np.ndarray:
        if len(self._parts) != 1:
            self._parts = [np.concatenate(self._parts)]
        return self._parts[0]

    def _slice(self, a: int, b: int) -> np.ndarray:
        if a < self._start or b > self._end:
            raise AssertionError(f"P[{a}:{b}] asked of a buffer holding P[{self._start}:{self._end}]")
        return self._joined()[a - self._start: b - self._start]

    def _drop_before(self, a: int) -> None:
        if a > self._start:
            buf = self._joined()
            self._parts = [buf[min(a, self._end) - self._start:].copy()]
            self._start = a


def as_mono(block) -> np.ndarray:
    a = np.asarray(block, dtype=np.float32)
    if a.ndim == 2:
        a = a[0] if a.shape[0] == 1 else a.mean(axis=0, dtype=np.float32)
    elif a.ndim != 1:
        raise InferenceError(f"audio blocks must be (samples,) or (channels, samples), not {a.shape}")
    return a


def is_cancelled(cancel) -> bool:
    """True once `cancel` (None, a threading.Event or a callable returning bool) says stop."""
    if cancel is None:
        return False
    if hasattr(cancel, "is_set"):
        return bool(cancel.is_set())
    return bool(cancel())


def infer_tracks(
    spec: ModelSpec,
    tracks: Iterable[Iterable],
    *,
    device: str = "auto",
    session: ModelSession | None = None,
    chunk_frames: int | None = None,
    cancel: Callable[[], bool] | object | None = None,
    max_batch: int = 8,
    threads: int = 0,
) -> Iterator[ChunkResult]:
    """Run `spec` over several tracks, each an iterable of audio blocks at spec.sample_rate.

    Yields a ChunkResult per chunk and track, in order per track; the last one for a track has
    `final` set. `cancel` (a callable returning True, or a threading.Event) is checked before
    every model call; once set, the generator stops. Chunks of the same input length from
    different tracks share one model call, up to `max_batch` inputs.
    """
    session = session or get_session(spec, device, threads)
    sources = [iter(t) for t in tracks]
    streams = [FrameStream(spec, chunk_frames) for _ in sources]
    open_tracks = list(range(len(sources)))
    try:
        while open_tracks:
            jobs: list[tuple[int, Job]] = []
            finals: list[int] = []
            for t in open_tracks:
                job = _next_job(streams[t], sources[t])
                if job is not None:
                    jobs.append((t, job))
                elif streams[t].done:
                    finals.append(t)
            for t in finals:  # tracks that ended with nothing more to compute
                open_tracks.remove(t)
                stream = streams[t]
                yield ChunkResult(t, stream.chunks, stream.next_frame, np.zeros((0, len(spec.labels)), np.float32),
                                  stream.seconds_done(), True, session.provider)
            outputs: dict[int, np.ndarray] = {}
            for group in batches_by_length(jobs, max_batch):
                if is_cancelled(cancel):
                    return
                batch = np.stack([job.audio for _, job in group])
                result = session.run(batch)
                for row, (t, _) in enumerate(group):
                    outputs[t] = result[row]
            for t, job in jobs:
                stream = streams[t]
                chunk = stream.chunks
                emitted = stream.commit(job, outputs[t])
                final = stream.done
                if final:
                    open_tracks.remove(t)
                yield ChunkResult(t, chunk, job.first, emitted, stream.seconds_done(), final, session.provider)
    finally:
        for source in sources:
            close = getattr(source, "close", None)
            if callable(close):
                close()


def _next_job(stream: FrameStream, source: Iterator) -> Job | None:
    """Pull blocks until a chunk is ready or the track ends."""
    job = stream.next_job()
    while job is None and not stream.finished:
        try:
            stream.push(next(source))
        except StopIteration:
            stream.finish()
        job = stream.next_job()
    return job


def batches_by_length(jobs: list[tuple[object, Job]], max_batch: int) -> Iterator[list[tuple[object, Job]]]:
    """(tag, job) pairs grouped into model calls: equal input lengths, at most max_batch each."""
    by_length: dict[int, list[tuple[int, Job]]] = {}
    for item in jobs:
        by_length.setdefault(item[1].audio.size, []).append(item)
    for group in by_length.values():
        for i in range(0, len(group), max(1, max_batch)):
            yield group[i: i + max(1, max_batch)]


def infer_stream(spec: ModelSpec, blocks: Iterable, **options) -> Iterator[ChunkResult]:
    """`infer_tracks` for one track."""
    return infer_tracks(spec, [blocks], **options)


def collect(events: Iterable[ChunkResult], tracks: int, labels: int) -> list[np.ndarray]:
    """Consume events into one (frames, labels) array per track; InferenceCancelled if any is unfinished."""
    pieces: list[list[np.ndarray]] = [[] for _ in range(tracks)]
    finished = [False] * tracks
    for event in events:
        pieces[event.track].append(event.activations)
        finished[event.track] = finished[event.track] or event.final
    if not all(finished):
        raise InferenceCancelled(f"{finished.count(False)} of {tracks} tracks unfinished")
    return [np.concatenate(p, axis=0) if p else np.zeros((0, labels), np.float32) for p in pieces]


def infer_whole(spec: ModelSpec, audio, *, device: str = "auto", session: ModelSession | None = None,
                threads: int = 0) -> np.ndarray:
    """The whole-file reference: (frames, labels) from one model call on the padded audio."""
    session = session or get_session(spec, device, threads)
    mono = as_mono(audio)
    frames = spec.frame_count(mono.size)
    if frames == 0:
        return np.zeros((0, len(spec.labels)), np.float32)
    padded = np.pad(mono, (spec.pad_samples, spec.pad_back_samples))
    out = session.run(padded[None])[0]
    if out.shape[0] != frames:
        raise InferenceError(f"{spec.name} returned {out.shape[0]} frames for {mono.size} samples where its "
                             f"manifest implies {frames}: the manifest does not describe the graph")
    return out


def blocks_of(audio, sizes: int | Iterable[int]) -> Iterator[np.ndarray]:
    """Cut 1-D audio into blocks: all of one size, or cycling through a list of sizes."""
    audio = as_mono(audio)
    sizes = [sizes] if isinstance(sizes, int) else list(sizes)
    if not sizes or min(sizes) < 1:
        raise ValueError("block sizes must be positive")
    pos, i = 0, 0
    while pos < audio.size:
        n = sizes[i % len(sizes)]
        yield audio[pos: pos + n]
        pos, i = pos + n, i + 1

