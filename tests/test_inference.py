"""plugin.inference: shipped-model discovery, device choice, streaming chunked inference.

Models are made here, not trained: a small graph built with the onnx helper API (the real
feature front-end, a conv, a time pool and a dilated conv), and, where torch is installed, the
two shipped architectures (same time structure, narrower) exported and described by
models.train.write_model itself, so their receptive_field_frames is the one shipped models get.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from plugin.inference import (
    ChunkResult,
    InferenceCancelled,
    InferenceError,
    ModelSpec,
    blocks_of,
    clear_sessions,
    collect,
    get_session,
    infer_stream,
    infer_tracks,
    infer_whole,
    load_model,
    shipped_models,
    shipped_models_dir,
)
from plugin.inference import device as device_module
from plugin.inference.device import CPU, CUDA, ModelSession

REPO = Path(__file__).resolve().parents[1]
CUDA_PRESENT = CUDA in device_module.available_providers()


@pytest.fixture(autouse=True)
def fresh_sessions():
    clear_sessions()
    yield
    clear_sessions()


# ---- models made for the tests ------------------------------------------------------------------
def _write(folder: Path, name: str, model_bytes: bytes, manifest: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.onnx").write_bytes(model_bytes)
    manifest = {**manifest, "name": name, "file": f"{name}.onnx", "sha256": hashlib.sha256(model_bytes).hexdigest()}
    path = folder / f"{name}.json"
    path.write_text(json.dumps(manifest, indent=1))
    return path


def helper_model(folder: Path, name: str = "toy") -> Path:
    """Audio [b, n] -> STFT log-mel features -> conv(3 x bins) -> ReLU -> max-pool 2 in time ->
    conv(3, dilation 2) -> sigmoid [b, frames, 5]. Reach: 1 + 2*2 = 5 feature frames = 3 output frames."""
    from onnx import TensorProto, helper, numpy_helper

    from models.features import FrontEnd

    fe = FrontEnd(8000, 256, 80, 16, 50.0, 4000.0, "mel")
    labels = 5
    rng = np.random.default_rng(7)
    nodes, inits = fe.onnx_graph_nodes("audio", "feats")
    inits += [
        numpy_helper.from_array((rng.standard_normal((6, 1, 3, fe.n_bins)) * 0.2).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.standard_normal(6).astype(np.float32), "b1"),
        numpy_helper.from_array((rng.standard_normal((labels, 6, 3, 1)) * 0.3).astype(np.float32), "w2"),
        numpy_helper.from_array(rng.standard_normal(labels).astype(np.float32), "b2"),
        numpy_helper.from_array(np.array([3], np.int64), "bins_axis"),
    ]
    nodes += [
        helper.make_node("Conv", ["feats", "w1", "b1"], ["c1"], pads=[1, 0, 1, 0]),  # (b, 6, frames, 1)
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 1], strides=[2, 1]),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], pads=[2, 0, 2, 0], dilations=[2, 1]),
        helper.make_node("Squeeze", ["c2", "bins_axis"], ["s2"]),
        helper.make_node("Transpose", ["s2"], ["t2"], perm=[0, 2, 1]),
        helper.make_node("Sigmoid", ["t2"], ["probs"]),
    ]
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["b", "n"])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["b", "f", labels])],
                              initializer=inits)
    # IR 8 as in the shipped models: onnx 1.23 defaults to IR 14, which onnxruntime 1.31 refuses
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)
    hop = fe.hop * 2
    manifest = {
        "version": "0.0.1", "sample_rate": fe.sample_rate, "channels": 1, "hop_samples": hop,
        "hop_seconds": hop / fe.sample_rate, "window_samples": fe.n_fft, "pad_samples": fe.pad_samples,
        "pad_back_samples": fe.n_fft - fe.hop - fe.pad_samples, "receptive_field_frames": 3,
        "front_end": fe.to_json(),
        "input": {"name": "audio", "shape": ["batch", "samples"], "dtype": "float32"},
        "output": {"name": "probs", "shape": ["batch", "frames", labels], "dtype": "float32", "activation": "sigmoid"},
        "labels": [{"name": "drums", "group": "family", "family": "drums", "threshold": 0.5},
                   {"name": "organ", "group": "family", "family": "organ", "threshold": 0.4},
                   {"name": "organ", "group": "fine", "family": "organ", "threshold": 0.3},
                   {"name": "acoustic_kit", "group": "fine", "family": "drums", "threshold": 0.6},
                   {"name": "vibrato", "group": "technique", "family": None, "threshold": 0.7}],
        "training": {"command": "tests", "seed": 0}, "metrics": {},
    }
    return _write(folder, name, model.SerializeToString(), manifest)


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> ModelSpec:
    return ModelSpec.from_manifest(helper_model(tmp_path_factory.mktemp("toy")))


@pytest.fixture(scope="module")
def shipped_architectures(tmp_path_factory) -> dict[str, ModelSpec]:
    """The instrument and technique networks (narrow, random weights and batch-norm statistics),
    exported and described by the training code's own write_model."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from models.nn import Model
    from models.train import TASKS, write_model

    out = tmp_path_factory.mktemp("architectures")
    specs = {}
    for name, channels in (("instrument", (4, 4, 8, 8, 8)), ("technique", (4, 4, 8, 8))):
        task = replace(TASKS[name], net=replace(TASKS[name].net, channels=channels))
        torch.manual_seed(0)
        model = Model(task.front_end, task.net).eval()
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
                    module.running_mean.uniform_(-1, 1)
                    module.running_var.uniform_(0.5, 2)
        path = write_model(task, model, np.full(len(task.labels), 0.5), {}, out, "tests", 0, {})
        specs[name] = ModelSpec.from_manifest(path)
    return specs


def noise(spec: ModelSpec, seconds: float, extra: int = 0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(spec.sample_rate * seconds) + extra) * 0.3).astype(np.float32)


def chunked(spec: ModelSpec, audio: np.ndarray, chunk_frames, block_sizes, **kw) -> np.ndarray:
    events = infer_stream(spec, blocks_of(audio, block_sizes), device="cpu", chunk_frames=chunk_frames, **kw)
    return collect(events, 1, len(spec.labels))[0]


# ---- discovery and manifests --------------------------------------------------------------------
def test_import_does_no_work():
    code = ("import sys, plugin.inference; "
            "print(sorted(m for m in ('onnxruntime', 'torch', 'onnx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_shipped_models_are_found_as_package_data():
    import models

    assert Path(str(shipped_models_dir())) == Path(models.__file__).parent / "shipped"
    found = shipped_models()
    assert set(found) <= {"instrument", "technique"}
    for name, spec in found.items():
        manifest = json.loads((Path(str(shipped_models_dir())) / f"{name}.json").read_text())
        assert spec.hop_samples == manifest["hop_samples"] and spec.sample_rate == manifest["sample_rate"]
        assert spec.receptive_field_frames == manifest["receptive_field_frames"]
        assert [lab.name for lab in spec.labels] == [lab["name"] for lab in manifest["labels"]]
        assert load_model(name) is load_model(name)


def test_missing_shipped_model_says_how_to_make_it(tmp_path):
    with pytest.raises(InferenceError, match=r"python -m models.train instrument"):
        load_model("instrument", folder=tmp_path)
    assert shipped_models(tmp_path / "nowhere") == {}


def test_spec_carries_the_manifest(toy):
    assert toy.name == "toy" and toy.sample_rate == 8000 and toy.hop_samples == 160
    assert toy.input_name == "audio" and toy.output_name == "probs"
    assert toy.label_names == ["drums", "organ", "organ", "acoustic_kit", "vibrato"]
    assert toy.families == ["drums", "organ"]
    assert toy.group("fine") == [2, 3] and toy.group("technique") == [4]
    np.testing.assert_allclose(toy.thresholds, [0.5, 0.4, 0.3, 0.6, 0.7])
    assert toy.frame_count(159) == 0 and toy.frame_count(160) == 1 and toy.frame_count(8000) == 50


@pytest.mark.parametrize("change, message", [
    (lambda m: m.pop("hop_samples"), "missing hop_samples"),
    (lambda m: m.update(hop_seconds=0.5), "hop_seconds"),
    (lambda m: m["labels"][0].update(threshold=1.5), "threshold"),
    (lambda m: m.update(channels=2), "mono"),
    (lambda m: m.update(pad_back_samples=1000), "does not divide"),
    (lambda m: m["output"].update(shape=["batch", "frames", 9]), "9 labels"),
    (lambda m: m.update(file="gone.onnx"), "does not exist"),
])
def test_invalid_manifests_are_refused_with_the_reason(toy, tmp_path, change, message):
    manifest = json.loads(Path(toy.manifest_path).read_text())
    change(manifest)
    path = tmp_path / "toy.json"
    (tmp_path / "toy.onnx").write_bytes(Path(toy.model_path).read_bytes())
    path.write_text(json.dumps(manifest))
    with pytest.raises(InferenceError, match=message) as err:
        ModelSpec.from_manifest(path)
    assert str(path) in str(err.value)


def test_sha256_is_checked_lazily_at_first_session(toy, tmp_path):
    manifest = json.loads(Path(toy.manifest_path).read_text())
    data = bytearray(Path(toy.model_path).read_bytes())
    data[-1] ^= 1  # one bit of an initializer flipped: still a loadable model
    (tmp_path / "toy.onnx").write_bytes(bytes(data))
    (tmp_path / "toy.json").write_text(json.dumps(manifest))
    spec = ModelSpec.from_manifest(tmp_path / "toy.json")  # loading does not hash
    with pytest.raises(InferenceError, match=r"does not match its manifest.*sha256") as err:
        get_session(spec, "cpu")
    assert "toy.onnx" in str(err.value)


# ---- devices and sessions -----------------------------------------------------------------------
def test_cpu_runs_on_the_cpu_provider(toy):
    session = get_session(toy, "cpu")
    assert session.provider == CPU and session.session.get_providers()[0] == CPU
    events = list(infer_stream(toy, [noise(toy, 1.0)], session=session))
    assert {e.provider for e in events} == {CPU}


@pytest.mark.skipif(CUDA_PRESENT, reason="this onnxruntime offers CUDA")
def test_forcing_cuda_without_it_is_a_clear_error(toy):
    with pytest.raises(InferenceError) as err:
        get_session(toy, "cuda")
    message = str(err.value)
    assert "cuda" in message.lower() and "no CUDA provider" in message and "onnxruntime-gpu" in message
    assert "\n" not in message


@pytest.mark.skipif(CUDA_PRESENT, reason="this onnxruntime offers CUDA")
def test_forced_cuda_that_silently_falls_back_is_caught(toy, monkeypatch):
    """onnxruntime hands out a CPU session when CUDA is asked for and cannot load: that is an error."""
    monkeypatch.setattr(device_module, "available_providers", lambda: [CUDA, CPU])
    with pytest.raises(InferenceError, match=r"--device cuda: .*fell back to CPUExecutionProvider"):
        get_session(toy, "cuda")


@pytest.mark.skipif(CUDA_PRESENT, reason="this onnxruntime offers CUDA")
def test_cuda_libraries_are_preloaded_once_and_what_that_said_reaches_the_error(toy, monkeypatch, capsys):
    """preload_dlls prints its failures; they belong in the error, not on stdout (the CLI's JSON)."""
    import onnxruntime as ort

    calls = []

    def preload():
        calls.append(1)
        print("Failed to load libcudnn.so.9: cannot open shared object file")

    monkeypatch.setattr(device_module, "available_providers", lambda: [CUDA, CPU])
    monkeypatch.setattr(device_module, "_preload_said", None)
    monkeypatch.setattr(ort, "preload_dlls", preload, raising=False)
    with pytest.raises(InferenceError, match=r"loading the CUDA libraries said: Failed to load libcudnn\.so\.9"):
        get_session(toy, "cuda")
    auto = get_session(toy, "auto")
    assert auto.provider == CPU and any("libcudnn.so.9" in note for note in auto.notes)
    assert len(calls) == 1 and capsys.readouterr().out == ""


def test_forced_cuda_whose_session_fails_names_the_reason(toy, monkeypatch):
    import onnxruntime as ort

    real = ort.InferenceSession
    asked = []

    def failing(*args, providers=None, **kwargs):
        asked.extend(providers)
        if (CUDA, {"use_tf32": "0"}) in providers:  # TF32 off: CUDA's results match the CPU's
            raise RuntimeError("CUDA failure 100: no CUDA-capable device is detected")
        return real(*args, providers=providers, **kwargs)

    monkeypatch.setattr(device_module, "available_providers", lambda: [CUDA, CPU])
    monkeypatch.setattr(ort, "InferenceSession", failing)
    with pytest.raises(InferenceError, match=r"--device cuda: .*no CUDA-capable device is detected"):
        get_session(toy, "cuda")
    assert get_session(toy, "auto").provider == CPU  # auto moves on to the CPU
    assert CUDA not in asked  # always with its options


@pytest.mark.skipif(not CUDA_PRESENT, reason="needs onnxruntime with CUDA")
def test_forced_cuda_runs_on_cuda_where_present(toy):  # pragma: no cover - GPU machines only
    session = get_session(toy, "cuda")
    assert session.provider == CUDA
    np.testing.assert_allclose(infer_whole(toy, noise(toy, 2.0), session=session),
                               infer_whole(toy, noise(toy, 2.0), device="cpu"), atol=1e-4)


@pytest.mark.skipif(CUDA_PRESENT, reason="this onnxruntime offers CUDA")
def test_auto_picks_the_cpu_here_and_says_why(toy, monkeypatch):
    session = get_session(toy, "auto")
    assert session.provider == CPU
    assert "CUDA not offered" in session.description and CPU in session.description
    # an accelerator that is offered but does not load is passed over, with the reason
    clear_sessions()
    monkeypatch.setattr(device_module, "available_providers", lambda: [CUDA, CPU])
    session = get_session(toy, "auto")
    assert session.provider == CPU and "fell back" in session.description


def test_sessions_are_created_lazily_and_reused(toy, monkeypatch):
    import onnxruntime as ort

    created = []
    real = ort.InferenceSession

    def counting(*args, **kwargs):
        created.append(kwargs.get("providers"))
        return real(*args, **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", counting)
    spec = ModelSpec.from_manifest(Path(toy.manifest_path))
    assert created == []
    first = get_session(spec, "cpu")
    assert get_session(spec, "cpu") is first
    assert get_session(ModelSpec.from_manifest(Path(toy.manifest_path)), "cpu") is first  # same file, same hash
    assert len(created) == 1
    assert get_session(spec, "cpu", threads=1) is not first
    clear_sessions()
    assert get_session(spec, "cpu") is not first


def test_sessions_are_shared_across_threads(toy):
    got = []
    threads = [threading.Thread(target=lambda: got.append(get_session(toy, "cpu"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(s) for s in got}) == 1


def test_unknown_device_is_refused(toy):
    with pytest.raises(InferenceError, match="unknown device 'gpu'"):
        get_session(toy, "gpu")


# ---- chunked equals whole -----------------------------------------------------------------------
@pytest.mark.parametrize("chunk_frames", [1, 2, 3, 5, 64, None, 10**6])
@pytest.mark.parametrize("blocks", [1000, 159, 161, [7, 481, 3200, 1], 10**6], ids=str)
def test_chunked_equals_whole_file(toy, chunk_frames, blocks):
    audio = noise(toy, 3.0, extra=97)  # not a whole number of hops
    whole = infer_whole(toy, audio, device="cpu")
    got = chunked(toy, audio, chunk_frames, blocks)
    assert got.shape == whole.shape == (toy.frame_count(audio.size), 5)
    assert np.abs(got - whole).max() <= 1e-5


def test_sample_by_sample_blocks(toy):
    audio = noise(toy, 0.4, extra=33, seed=3)
    whole = infer_whole(toy, audio, device="cpu")
    assert np.abs(chunked(toy, audio, 2, 1) - whole).max() <= 1e-5


@pytest.mark.parametrize("samples", [0, 1, 159, 160, 161, 479, 480, 1601])
def test_short_and_edge_lengths(toy, samples):
    audio = noise(toy, 0, extra=samples, seed=samples)
    whole = infer_whole(toy, audio, device="cpu")
    assert whole.shape == (samples // 160, 5)
    for chunk_frames in (1, 4):
        events = list(infer_stream(toy, blocks_of(audio, 100) if samples else [], device="cpu",
                                   chunk_frames=chunk_frames))
        assert events[-1].final and events[-1].seconds_done == pytest.approx(samples / 8000)
        got = collect(events, 1, 5)[0]
        assert got.shape == whole.shape and (not samples // 160 or np.abs(got - whole).max() <= 1e-5)


@pytest.mark.parametrize("model", ["instrument", "technique"])
@pytest.mark.parametrize("chunk_frames", [1, 4, 37])
def test_shipped_architectures_chunked_equal_whole(shipped_architectures, model, chunk_frames):
    spec = shipped_architectures[model]
    audio = noise(spec, 6.0, extra=spec.hop_samples // 3 + 1, seed=1)
    whole = infer_whole(spec, audio, device="cpu")
    for blocks in (spec.hop_samples - 1, [4097, 13, 20000]):
        got = chunked(spec, audio, chunk_frames, blocks)
        assert got.shape == whole.shape
        assert np.abs(got - whole).max() <= 1e-4


@pytest.mark.parametrize("model", ["instrument", "technique"])
def test_manifest_receptive_field_covers_the_network(shipped_architectures, model):
    """Perturb one hop of audio: every output frame that changes must be one whose chunk input,
    [(j - C) * hop - pad, (j + 1 + C) * hop + pad_back), contains the perturbation."""
    spec = shipped_architectures[model]
    hop, context = spec.hop_samples, spec.receptive_field_frames
    audio = noise(spec, 5.0, seed=2)
    session = get_session(spec, "cpu")
    whole = infer_whole(spec, audio, session=session)
    rng = np.random.default_rng(5)
    frame = len(whole) // 2
    reach = 0
    for f in (frame - 1, frame, frame + 1):
        moved = audio.copy()
        moved[f * hop:(f + 1) * hop] += rng.standard_normal(hop).astype(np.float32)
        changed = np.nonzero(np.abs(infer_whole(spec, moved, session=session) - whole).max(axis=1) > 0)[0]
        assert changed.size
        for j in changed:
            assert (j - context) * hop - spec.pad_samples < (f + 1) * hop, (model, j, f)
            assert (j + 1 + context) * hop + spec.pad_back_samples > f * hop, (model, j, f)
        reach = max(reach, f - changed.min(), changed.max() - f)
    window_frames = -(-max(spec.pad_samples, spec.pad_back_samples) // hop)
    assert reach <= context + window_frames


# ---- tracks, progress, cancelling ---------------------------------------------------------------
class SpySession:
    """Wraps an onnxruntime session and records the batch of every call."""

    def __init__(self, inner):
        self.inner, self.batches = inner, []

    def run(self, names, feeds):
        self.batches.append(next(iter(feeds.values())).shape)
        return self.inner.run(names, feeds)

    def get_providers(self):
        return self.inner.get_providers()


def spy(spec: ModelSpec) -> tuple[ModelSession, SpySession]:
    real = get_session(spec, "cpu")
    watcher = SpySession(real.session)
    return ModelSession(spec, "cpu", real.provider, watcher), watcher


def test_tracks_are_batched_and_each_equals_its_whole_file(toy):
    audios = [noise(toy, 2.0, seed=1), noise(toy, 2.0, seed=2), noise(toy, 1.3, extra=51, seed=3), noise(toy, 0)]
    session, watcher = spy(toy)
    events = list(infer_tracks(toy, [blocks_of(a, 777) for a in audios], session=session, chunk_frames=10))
    results = collect(events, len(audios), 5)
    for audio, got in zip(audios, results):
        want = infer_whole(toy, audio, device="cpu")
        assert got.shape == want.shape and (not len(want) or np.abs(got - want).max() <= 1e-5)
    assert max(shape[0] for shape in watcher.batches) >= 3  # several tracks shared model calls
    assert len(watcher.batches) < sum(e.activations.shape[0] > 0 for e in events)


def test_progress_events_follow_each_track(toy):
    audios = [noise(toy, 2.0, seed=1), noise(toy, 1.0, extra=70, seed=2)]
    events = list(infer_tracks(toy, [blocks_of(a, 500) for a in audios], device="cpu", chunk_frames=16))
    assert all(isinstance(e, ChunkResult) and e.provider == CPU for e in events)
    for t, audio in enumerate(audios):
        mine = [e for e in events if e.track == t]
        assert [e.chunk for e in mine] == list(range(len(mine)))
        assert all(a.end_frame == b.start_frame for a, b in itertools.pairwise(mine))
        assert all(len(e.activations) <= 16 for e in mine)
        done = [e.seconds_done for e in mine]
        assert done == sorted(done) and done[-1] == pytest.approx(audio.size / 8000)
        assert [e.final for e in mine] == [False] * (len(mine) - 1) + [True]


def test_stereo_blocks_are_averaged_to_mono(toy):
    left, right = noise(toy, 1.0, seed=1), noise(toy, 1.0, seed=2)
    stereo = np.stack([left, right])
    blocks = [stereo[:, i:i + 999] for i in range(0, stereo.shape[1], 999)]
    got = collect(infer_stream(toy, blocks, device="cpu", chunk_frames=8), 1, 5)[0]
    np.testing.assert_allclose(got, infer_whole(toy, (left + right) / 2, device="cpu"), atol=1e-5)


@pytest.mark.parametrize("kind", ["callable", "event"])
def test_cancel_stops_between_chunks(toy, kind):
    session, watcher = spy(toy)
    flag = threading.Event()
    cancel = flag if kind == "event" else flag.is_set
    closed = []

    def blocks():
        try:
            yield from blocks_of(noise(toy, 5.0), 400)
        finally:
            closed.append(True)

    seen = []
    for event in infer_stream(toy, blocks(), session=session, chunk_frames=4, cancel=cancel):
        seen.append(event)
        if len(seen) == 3:
            calls = len(watcher.batches)
            flag.set()
    assert len(seen) == 3 and len(watcher.batches) == calls == 3  # no model call after the flag
    assert closed == [True]  # the audio source was closed
    with pytest.raises(InferenceCancelled):
        collect(infer_stream(toy, [noise(toy, 1.0)], session=session, chunk_frames=4, cancel=lambda: True), 1, 5)


# ---- the shipped models, when they are there ----------------------------------------------------
@pytest.mark.parametrize("name", ["instrument", "technique"])
def test_shipped_model_chunked_equals_whole(name):
    if name not in shipped_models():
        pytest.skip(f"models/shipped/{name}.json is not there yet")
    spec = load_model(name)
    audio = noise(spec, 4.0, extra=spec.hop_samples // 2 + 3, seed=4)
    whole = infer_whole(spec, audio, device="cpu")
    for chunk_frames in (3, 41):
        assert np.abs(chunked(spec, audio, chunk_frames, [spec.hop_samples + 1, 5000]) - whole).max() <= 1e-4
