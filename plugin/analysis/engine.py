"""The analysis engine: a session's tracks and its mix through every model, as a generator.

`analyze(session)` yields `AnalysisEvent`s: "start", "progress" per track and render chunk,
"track" when one track's results are complete (from the cache or computed), and finally "done"
with the `Analysis` (or "cancelled"). It never touches a UI; a caller shows progress and may set
`cancel` (a threading.Event or a callable) at any time: the run stops before its next model call.

One pass renders every track that needs computing, and the mix, at the highest model sample
rate (each source decoded once; `plugin.audio.render_stems`), resamples for models at other
rates (pedalboard's StreamResampler, chunk-invariant) and feeds the models chunk by chunk
(`plugin.inference.FrameStream`), batching tracks into one model call. Rendering runs one chunk
ahead on a thread, so decoding and inference overlap.

Which tracks: every track with audio clips (muted ones too, marked muted), in session order; the
mix ("mix") is the audible audio tracks with their faders. Stems run to their last clip's end,
the mix to the last audible clip's end; all times are seconds on the session timeline.

Cache: each (track, model) result is stored under a key made of the track's audio content (the
sha256 of each media file, the clip placement, play rates, gains and fades), the model's sha256
and the engine version; an unchanged session reopens without decoding anything.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pedalboard import Resample
from pedalboard.io import StreamResampler

from ..audio import DEFAULT_QUALITY, render_stems
from ..cache import FingerprintIndex, ResultCache, stable_hash
from ..inference import FrameStream, ModelSpec, get_session, shipped_models
from ..inference.device import CPU
from ..inference.stream import batches_by_length, default_chunk_frames, is_cancelled
from ..session.model import Session, Track
from .timeline import Timeline

# Bump when anything that changes results (rendering, resampling, feeding) changes.
ENGINE_VERSION = 1
MODEL_NAMES = ("instrument", "technique")
MIX_NAME = "mix"
# Chunks of one model per call. On the CPU, single-threaded sessions running one chunk each, side
# by side on every core, do the most work (measured on 2 cores, 16 tracks x 3 min: batches of 8
# 11.1-13.6 s, batches of 1 10.5 s; benchmarks/bench_analyze.py); accelerators want batches.
CPU_BATCH = 1
ACCELERATOR_BATCH = 8
# onnxruntime intra-op threads per model session (see above: one, with a chunk per core).
MODEL_THREADS = 1
_RESAMPLE_QUALITY = Resample.Quality.WindowedSinc32


@dataclass(eq=False)
class TrackResult:
    """One analysed track (or the mix): a Timeline per model and the provider that computed it."""

    name: str
    session_track: int | None  # index into session.tracks; None for the mix
    duration: float
    timelines: dict[str, Timeline]
    providers: dict[str, str]
    muted: bool = False
    cached: bool = False  # every model's result came from the cache

    @property
    def is_mix(self) -> bool:
        return self.session_track is None

    def instruments(self) -> list[dict]:
        """Family and fine labels found, highest confidence first (see Timeline.instrument_summary)."""
        timeline = self.timelines.get("instrument")
        return timeline.instrument_summary() if timeline is not None else []

    def techniques(self) -> list[dict]:
        """Technique events {label, start, end, confidence} in time order."""
        timeline = self.timelines.get("technique")
        return timeline.technique_events() if timeline is not None else []


@dataclass(eq=False)
class Analysis:
    """Every track's results for one session, and what ran them."""

    source: str
    session_format: str
    models: list[dict]  # [{name, version, sha256}]
    tracks: list[TrackResult]
    device: str = "auto"
    warnings: list[str] = field(default_factory=list)

    @property
    def providers(self) -> dict[str, str]:
        """Model name -> the execution provider that produced its results (computed or cached)."""
        found: dict[str, str] = {}
        for track in self.tracks:
            for model, provider in track.providers.items():
                found.setdefault(model, provider)
        return found

    @property
    def provider(self) -> str:
        """The execution provider that ran, or several joined by ', ' when models ran on different ones."""
        names = list(dict.fromkeys(self.providers.values()))
        return ", ".join(names) if names else "none"

    def track(self, name: str) -> TrackResult:
        for t in self.tracks:
            if t.name == name:
                return t
        raise KeyError(f"no analysed track named {name!r}")


@dataclass(frozen=True)
class AnalysisEvent:
    """One step of a run. kind: start | progress | track | done | cancelled."""

    kind: str
    overall: float  # 0..1 over the whole run
    track: int | None = None  # index into the run's track list (the mix is the last)
    fraction: float = 0.0  # 0..1 of that track
    result: TrackResult | None = None  # kind == "track"
    analysis: Analysis | None = None  # kind == "done"
    names: tuple[str, ...] = ()  # kind == "start": the tracks in run order
    session_tracks: tuple[int | None, ...] = ()  # kind == "start": their session.tracks indices (None: the mix)
    message: str = ""


# ---- planning -----------------------------------------------------------------------------------
@dataclass(eq=False)
class _Entry:
    """One row of the run: a track's audio, or the mix of several."""

    name: str
    session_track: int | None
    tracks: list[Track]  # one for a stem; the audible tracks for the mix
    duration: float
    muted: bool
    keys: dict[str, str] = field(default_factory=dict)
    found: dict[str, tuple[np.ndarray, str]] = field(default_factory=dict)  # model -> (activations, provider)


def _clip_description(clip, fingerprints: FingerprintIndex) -> dict:
    files = clip.channel_files or (clip.source,)
    content = [fingerprints.fingerprint(f) or f"unreadable:{f}" for f in files] if not clip.missing \
        else [f"missing:{clip.source}"]
    return {"content": content, "start": clip.start, "duration": clip.duration, "offset": clip.source_offset,
            "playrate": clip.playrate, "gain": clip.gain, "fades": [clip.fade_in, clip.fade_out],
            "muted": clip.muted, "loop": clip.loop, "warp": clip.warp}


def _audio_tracks(session: Session) -> list[tuple[int, Track]]:
    return [(i, t) for i, t in enumerate(session.tracks) if t.clips]


def plan(session: Session, specs: Sequence[ModelSpec], *, include_mix: bool = True,
         fingerprints: FingerprintIndex | None = None) -> list[_Entry]:
    """The run's entries with their cache keys (the mix last)."""
    fingerprints = fingerprints or FingerprintIndex()
    render_rate = max(spec.sample_rate for spec in specs)
    audio = _audio_tracks(session)
    described = {id(t): [_clip_description(c, fingerprints) for c in t.clips] for _, t in audio}
    entries = [_Entry(t.name, i, [t], t.end, t.muted) for i, t in audio]
    audible = {id(t) for t in session.audible_tracks()}
    mix_tracks = [t for _, t in audio if id(t) in audible]
    if include_mix and mix_tracks:
        entries.append(_Entry(MIX_NAME, None, mix_tracks, max(t.end for t in mix_tracks), False))
    for entry in entries:
        content = [[described[id(t)], t.gain if entry.session_track is None else 1.0] for t in entry.tracks]
        for spec in specs:
            entry.keys[spec.name] = stable_hash({
                "engine": ENGINE_VERSION, "model": spec.sha256, "feeding": _feeding(spec),
                "render_rate": render_rate, "mix": entry.session_track is None, "audio": content,
                "duration": entry.duration})
    return entries


def _feeding(spec: ModelSpec) -> list:
    """What the manifest says about feeding the graph: a manifest fixed beside an unchanged
    .onnx file (its sha256 the same) changes the activations through these."""
    return [spec.sample_rate, spec.hop_samples, spec.window_samples, spec.pad_samples, spec.pad_back_samples,
            spec.receptive_field_frames, spec.input_name, spec.output_name, len(spec.labels)]


# ---- the run ------------------------------------------------------------------------------------
def analyze(
    session: Session,
    *,
    device: str = "auto",
    models: Sequence[ModelSpec] | None = None,
    include_mix: bool = True,
    cancel: Callable[[], bool] | threading.Event | None = None,
    use_cache: bool = True,
    cache_only: bool = False,
    chunk_seconds: float = 30.0,
    threads: int = MODEL_THREADS,
) -> Iterator[AnalysisEvent]:
    """Analyse every audio track of `session` (and its mix) with every model; see the module doc.

    `cache_only`: report what the cache holds and compute nothing (for showing results at once
    when a session is reopened); "done" then carries only the cached tracks. `use_cache` False:
    compute everything and store nothing. `chunk_seconds`: audio per model call (results do not
    depend on it). `threads`: onnxruntime intra-op threads per model (0: every core).
    Raises InferenceError (device or model problems) from the first model call.
    """
    specs = list(models) if models is not None else [shipped_models()[name] for name in MODEL_NAMES]
    if not specs:
        raise ValueError("no models to run")
    fingerprints = FingerprintIndex()
    cache = ResultCache()
    warnings: list[str] = []
    entries = plan(session, specs, include_mix=include_mix, fingerprints=fingerprints)
    fingerprints.save()
    yield AnalysisEvent("start", 0.0, names=tuple(e.name for e in entries),
                        session_tracks=tuple(e.session_track for e in entries))

    if use_cache:
        for entry in entries:
            for spec in specs:
                hit = cache.get(entry.keys[spec.name])
                if hit is not None and "activations" in hit[0]:
                    entry.found[spec.name] = (hit[0]["activations"], str(hit[1].get("provider", "unknown")))
    total = sum(e.duration for e in entries) or 1.0
    done_seconds = {i: 0.0 for i in range(len(entries))}
    results: dict[int, TrackResult] = {}
    for i, entry in enumerate(entries):
        if len(entry.found) == len(specs):
            results[i] = _result(entry, specs, cached=True)
            done_seconds[i] = entry.duration
            yield AnalysisEvent("track", sum(done_seconds.values()) / total, i, 1.0, result=results[i])

    pending = [i for i in range(len(entries)) if i not in results]
    if pending and not cache_only:
        run = _Run(entries, pending, specs, device, threads, chunk_seconds, warnings)
        try:
            for event in run.events(cancel):
                if event == "cancelled":
                    yield AnalysisEvent("cancelled", sum(done_seconds.values()) / total)
                    return
                i, seconds, finished = event
                done_seconds[i] = min(seconds, entries[i].duration)
                overall = sum(done_seconds.values()) / total
                if not finished:
                    fraction = done_seconds[i] / entries[i].duration if entries[i].duration > 0 else 1.0
                    yield AnalysisEvent("progress", overall, i, fraction)
                    continue
                entry = entries[i]
                for name, (activations, provider) in run.computed[i].items():
                    entry.found[name] = (activations, provider)
                    if use_cache:
                        cache.put(entry.keys[name], {"activations": activations},
                                  {"provider": provider, "model": name, "track": entry.name})
                results[i] = _result(entry, specs, cached=False)
                yield AnalysisEvent("track", overall, i, 1.0, result=results[i])
        finally:
            run.close()

    analysis = Analysis(
        source=str(Path(session.path).absolute()), session_format=session.format,
        models=[{"name": s.name, "version": s.version, "sha256": s.sha256} for s in specs],
        tracks=[results[i] for i in sorted(results)], device=device, warnings=warnings)
    yield AnalysisEvent("done", sum(done_seconds.values()) / total, analysis=analysis)


def _result(entry: _Entry, specs: Sequence[ModelSpec], cached: bool) -> TrackResult:
    timelines = {}
    for spec in specs:
        activations, _ = entry.found[spec.name]
        scale = spec.mix_confidence if entry.session_track is None else 1.0
        timelines[spec.name] = Timeline.from_spec(spec, activations, confidence_scale=scale)
    return TrackResult(entry.name, entry.session_track, entry.duration, timelines,
                       {spec.name: entry.found[spec.name][1] for spec in specs}, entry.muted, cached)


class _Run:
    """The computing pass over the entries the cache did not answer."""

    def __init__(self, entries: list[_Entry], pending: list[int], specs: Sequence[ModelSpec], device: str,
                 threads: int, chunk_seconds: float, warnings: list[str]):
        self.entries, self.pending, self.warnings = entries, pending, warnings
        self.specs = list(specs)
        self.render_rate = max(s.sample_rate for s in specs)
        self.device, self.threads = device, threads
        self.chunk_seconds = chunk_seconds
        # (entry, model) -> stream state, only for the models the cache did not answer
        self.streams: dict[tuple[int, str], FrameStream] = {}
        self.resamplers: dict[tuple[int, str], StreamResampler | None] = {}
        self.pieces: dict[tuple[int, str], list[np.ndarray]] = {}
        for i in pending:
            for spec in specs:
                if spec.name in entries[i].found:
                    continue
                key = (i, spec.name)
                self.streams[key] = FrameStream(spec, default_chunk_frames(spec, chunk_seconds))
                self.resamplers[key] = None if spec.sample_rate == self.render_rate else StreamResampler(
                    self.render_rate, spec.sample_rate, 1, _RESAMPLE_QUALITY)
                self.pieces[key] = []
        self.sessions = {}
        self.computed: dict[int, dict[str, tuple[np.ndarray, str]]] = {i: {} for i in pending}
        workers = max(len(self.specs), min(os.cpu_count() or 1, 8))
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="stemscope-model")

    def _session(self, spec: ModelSpec):
        if spec.name not in self.sessions:
            self.sessions[spec.name] = get_session(spec, self.device, self.threads)
        return self.sessions[spec.name]

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def events(self, cancel) -> Iterator[tuple[int, float, bool] | str]:
        """(entry, seconds done, finished) per entry and chunk, or "cancelled"."""
        stems = [i for i in self.pending if self.entries[i].session_track is not None]
        mix = [i for i in self.pending if self.entries[i].session_track is None]  # none or one
        mix_tracks = self.entries[mix[0]].tracks if mix else []
        stem_tracks = [self.entries[i].tracks[0] for i in stems]
        end = max(self.entries[i].duration for i in self.pending)
        ends = {i: round(self.entries[i].duration * self.render_rate) for i in self.pending}
        position = 0
        open_entries = list(self.pending)
        blocks = render_stems(stem_tracks, sample_rate=self.render_rate, mix=mix_tracks, end=end,
                              quality=DEFAULT_QUALITY, warnings=self.warnings)
        for parts, mix_block in _prefetched(blocks):
            if is_cancelled(cancel):
                yield "cancelled"
                return
            by_entry = dict(zip(stems, parts))
            if mix:
                by_entry[mix[0]] = mix_block
            length = next(iter(by_entry.values())).shape[1] if by_entry else 0
            self._feed([(i, by_entry[i][0, :max(0, min(length, ends[i] - position))], position + length >= ends[i])
                        for i in open_entries])
            position += length
            if not self._compute(cancel):
                yield "cancelled"
                return
            for i in list(open_entries):
                finished = self._collect(i)
                if finished:
                    open_entries.remove(i)
                yield i, min(position, ends[i]) / self.render_rate, finished
        # entries of zero length, or ones the render did not reach
        self._feed([(i, np.zeros(0, np.float32), True) for i in open_entries])
        if not self._compute(cancel):
            yield "cancelled"
            return
        for i in open_entries:
            yield i, self.entries[i].duration, self._collect(i)

    def _models_of(self, i: int) -> list[ModelSpec]:
        return [s for s in self.specs if (i, s.name) in self.streams]

    def _feed(self, items: list[tuple[int, np.ndarray, bool]]) -> None:
        """(entry, samples at the render rate, ended) to every model stream of those entries,
        resampling where a model's rate differs; the streams are fed side by side on the pool."""
        def feed(key: tuple[int, str], samples: np.ndarray, ended: bool) -> None:
            stream, resampler = self.streams[key], self.resamplers[key]
            if stream.finished:
                return
            stream.push(samples if resampler is None else resampler.process(samples[None])[0])
            if ended:
                if resampler is not None:
                    stream.push(resampler.process()[0])
                stream.finish()

        jobs = [self._pool.submit(feed, (i, spec.name), samples, ended)
                for i, samples, ended in items for spec in self._models_of(i)]
        for job in jobs:
            job.result()

    def _compute(self, cancel) -> bool:
        """Run every chunk that is ready, in batches per model (one chunk each on the CPU), side by
        side on the pool's threads; False when cancelled."""
        while True:
            batches = []  # (spec, [(key, job)]) of equal input lengths
            for spec in self.specs:
                ready = [(key, stream.next_job()) for key, stream in self.streams.items() if key[1] == spec.name]
                jobs = [(key, job) for key, job in ready if job is not None]
                size = CPU_BATCH if jobs and self._session(spec).provider == CPU else ACCELERATOR_BATCH
                batches += [(spec, group) for group in batches_by_length(jobs, size)]
            if not batches:
                return True
            if is_cancelled(cancel):
                return False
            sessions = [self._session(spec) for spec, _ in batches]
            runs = [self._pool.submit(session.run, np.stack([job.audio for _, job in batch]))
                    for session, (_, batch) in zip(sessions, batches)]
            for run, (_, batch) in zip(runs, batches):
                out = run.result()
                for row, (key, job) in enumerate(batch):
                    self.pieces[key].append(self.streams[key].commit(job, out[row]).astype(np.float16))

    def _collect(self, i: int) -> bool:
        """Move entry i's finished model outputs into `computed`; True when all are in."""
        for spec in self._models_of(i):
            key = (i, spec.name)
            if spec.name in self.computed[i] or not self.streams[key].done:
                continue
            pieces = self.pieces.pop(key)
            activations = np.concatenate(pieces) if pieces else np.zeros((0, len(spec.labels)), np.float16)
            self.computed[i][spec.name] = (activations, self._session(spec).provider)
        return all(s.name in self.computed[i] for s in self._models_of(i))


def _prefetched(blocks: Iterator, depth: int = 2) -> Iterator:
    """Iterate `blocks` on a worker thread, `depth` items ahead; closing stops the worker."""
    items: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for block in blocks:
                if not put(("block", block)):
                    break
            else:
                put(("end", None))
        except BaseException as exc:  # handed to the consumer, raised there
            put(("error", exc))
        finally:
            blocks.close()

    worker = threading.Thread(target=work, name="stemscope-render", daemon=True)
    worker.start()
    try:
        while True:
            kind, item = items.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        worker.join()
