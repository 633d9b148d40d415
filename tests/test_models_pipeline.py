"""Training-side pipeline: features agree across numpy/torch/ONNX, export is faithful, the corpus is
deterministic, metrics are right, and a tiny generate-train-export-load-predict run works."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")

from models.data import corpus  # noqa: E402
from models.features import FrontEnd  # noqa: E402
from models.metrics import average_precision, best_thresholds, event_f1, f1  # noqa: E402
from models.nn import FrameNet, Model, NetConfig, export_onnx  # noqa: E402

needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not Path("/usr/share/sounds/sf2/FluidR3_GM.sf2").is_file(),
    reason="fluidsynth and the GM soundfonts are not installed")
SCHEMA = Path(__file__).resolve().parents[1] / "models" / "manifest.schema.json"


def _front_end_only(fe: FrontEnd):
    from onnx import TensorProto, helper

    nodes, inits = fe.onnx_graph_nodes("audio", "feats")
    graph = helper.make_graph(nodes, "fe", [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["b", "n"])],
                              [helper.make_tensor_value_info("feats", TensorProto.FLOAT, None)], initializer=inits)
    # IR 8 as in the shipped models: onnx 1.23 defaults to IR 14, which onnxruntime 1.31 refuses
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("fe", [FrontEnd(16000, 512, 320, 64, 30, 8000, "mel"),
                                FrontEnd(8000, 512, 160, 96, 50, 4000, "log")])
def test_front_end_is_the_same_in_numpy_torch_and_onnx(fe):
    rng = np.random.default_rng(0)
    t = np.arange(fe.sample_rate * 2) / fe.sample_rate
    audio = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    reference = fe.numpy_features(audio)
    onnx_feats = _front_end_only(fe).run(None, {"audio": audio[None]})[0][0, 0]
    from models.nn import TorchFrontEnd

    torch_feats = TorchFrontEnd(fe)(torch.from_numpy(audio[None])).numpy()[0, 0]
    assert reference.shape == onnx_feats.shape == torch_feats.shape == (fe.frame_count(len(audio)), fe.n_bins)
    assert np.abs(onnx_feats - reference).max() < 1e-3
    assert np.abs(torch_feats - reference).max() < 1e-3
    # the 440 Hz tone lands in the band whose centre is nearest to it
    centre_bin = int(np.argmin(np.abs(fe.centres()[1:-1] - 440)))
    assert abs(int(np.argmax(reference.mean(axis=0))) - centre_bin) <= 1


@pytest.mark.parametrize("band_position, bin_readout", [(False, "pool"), (True, "pool"), (False, "flatten")])
def test_exported_graph_matches_torch(tmp_path, band_position, bin_readout):
    torch.manual_seed(0)
    fe = FrontEnd(16000, 512, 320, 64, 30, 8000, "mel")
    model = Model(fe, NetConfig(channels=(8, 16, 16), time_pools=(2, 2, 1), bin_pools=(2, 2, 2),
                                temporal_dilations=(1, 2), band_position=band_position, bin_readout=bin_readout,
                                heads={"a": 5})).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
                module.running_mean.uniform_(-1, 1)
                module.running_var.uniform_(0.5, 2)
    export_onnx(model, tmp_path / "m.onnx")
    audio = (np.random.default_rng(1).standard_normal((2, 16000 * 3)) * 0.1).astype(np.float32)
    got = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"audio": audio})[0]
    with torch.no_grad():
        want = torch.sigmoid(model(torch.from_numpy(audio))).numpy()
    frames = fe.frame_count(16000 * 3) // 2 // 2  # two time pools of 2
    assert got.shape == want.shape == (2, frames, 5)
    assert np.abs(got - want).max() < 1e-4


def test_the_band_position_plane_or_flattened_bins_tell_the_network_where_in_the_spectrum_it_is():
    """Without the plane, a spectrum shifted along the bands (away from the edges) gives the same
    pooled output; with it, or with the last bins kept as channels, the output depends on where the
    energy lies."""
    torch.manual_seed(0)
    feats = torch.full((1, 1, 16, 32), -5.0)
    low, high = feats.clone(), feats.clone()
    low[..., 8:10], high[..., 20:22] = 3.0, 3.0
    outputs = {}
    for band_position, bin_readout in ((False, "pool"), (True, "pool"), (False, "flatten")):
        net = FrameNet(32, NetConfig(channels=(4, 4), time_pools=(1, 1), bin_pools=(1, 1), temporal_dilations=(1,),
                                     band_position=band_position, bin_readout=bin_readout, heads={"a": 3})).eval()
        with torch.no_grad():
            outputs[band_position, bin_readout] = (net(low) - net(high)).abs().max().item()
    assert outputs[False, "pool"] < 1e-5
    assert outputs[True, "pool"] > 1e-3
    assert outputs[False, "flatten"] > 1e-3  # the bins kept as channels carry the position too


def test_metrics_on_known_cases():
    assert average_precision(np.array([0.9, 0.8, 0.1]), np.array([1, 0, 1])) == pytest.approx((1 + 2 / 3) / 2)
    assert f1(np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0])) == pytest.approx(0.5)
    scores = np.array([[0.1], [0.4], [0.6], [0.9]])
    assert best_thresholds(scores, np.array([[0], [0], [1], [1]]))[0] == pytest.approx(0.42, abs=0.2)
    pred = np.array([0, 1, 1, 0, 0, 0, 1, 1, 0], bool)
    truth = np.array([0, 0, 1, 1, 0, 0, 0, 0, 0], bool)
    assert event_f1(pred, truth, tolerance_frames=1) == pytest.approx(2 * 1 / 3)


@needs_fluidsynth
def test_corpus_is_deterministic_and_labels_follow_the_audio():
    config = corpus.CorpusConfig(seconds=3.0)
    one = corpus.make_example(5, 3, "train", config)
    again = corpus.make_examples(5, [2, 3], "train", config)[1]  # rendered in a group of two
    assert one.meta == again.meta
    assert np.allclose(one.audio, again.audio, atol=1e-4)
    assert one.family.shape == (300, 12) and one.fine.shape == (300, len(corpus.FINE))
    assert one.family.any()
    # frames labelled silent are quieter than frames labelled sounding
    frame_rms = np.sqrt(np.mean(one.audio[: 300 * 160].reshape(300, 160) ** 2, axis=1))
    active = one.family.any(axis=1)
    if (~active).sum() >= 5:
        assert np.median(frame_rms[active]) > 2 * np.median(frame_rms[~active])
    validation = corpus.make_example(5, 3, "validation", config)
    assert validation.meta["soundfont"] == "musescore" and one.meta["soundfont"] in ("fluidr3", "timgm6mb")


@needs_fluidsynth
def test_extra_split_is_deterministic_single_stems_of_training_soundfonts():
    config = corpus.CorpusConfig(seconds=3.0)
    examples = corpus.make_examples(5, range(16), "extra", config)
    again = corpus.make_example(5, 7, "extra", config)
    assert again.meta == examples[7].meta and np.allclose(again.audio, examples[7].audio, atol=1e-4)
    variants = {e.meta["variant"] for e in examples}
    assert variants == {"hits", "drums", "bass", "synth"}
    for e in examples:
        assert not e.meta["is_mix"] and len(e.meta["stems"]) == 1
        assert e.meta["soundfont"] in ("fluidr3", "timgm6mb")
        assert e.family.sum(axis=1).max() == 1 and e.family.any()
        stem = e.meta["stems"][0]
        if e.meta["variant"] == "synth":
            assert stem["source"].startswith("procedural:")
            assert stem["label"] in ("synth_lead", "synth_pad", "synth_bass", "organ")
        elif e.meta["variant"] != "hits":
            assert stem["family"] == e.meta["variant"] and stem["source"].startswith(e.meta["soundfont"])
    assert "variant" not in corpus.make_example(5, 3, "train", config).meta  # songs stay songs


@needs_fluidsynth
@pytest.mark.parametrize("task", ["instrument", "technique"])
def test_tiny_end_to_end_generate_train_export_load_predict(tmp_path, task, capsys):
    jsonschema = pytest.importorskip("jsonschema")
    from models.train import main

    # physical models join in, and a front-end other than the task's is trained, exported and evaluated
    instrument_args = ["--acoustic-examples", "4", "--window", "1024", "--bands", "96"]
    assert main([task, "--tiny", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out"),
                 "--workers", "1", *(instrument_args if task == "instrument" else [])]) == 0
    manifest = json.loads((tmp_path / "out" / f"{task}.json").read_text())
    assert manifest["training"]["corpus"]["acoustic_examples"] == (4 if task == "instrument" else 0)
    if task == "instrument":
        assert (manifest["front_end"]["n_fft"], manifest["front_end"]["n_bins"], manifest["window_samples"]) == (1024, 96, 1024)
    jsonschema.validate(manifest, json.loads(SCHEMA.read_text()))
    session = ort.InferenceSession(str(tmp_path / "out" / manifest["file"]), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].name == manifest["input"]["name"]
    seconds = 2.0
    audio = np.zeros((1, int(seconds * manifest["sample_rate"])), np.float32)
    padded = np.pad(audio, ((0, 0), (manifest["pad_samples"], manifest["pad_back_samples"])))
    out = session.run([manifest["output"]["name"]], {manifest["input"]["name"]: padded})[0]
    assert out.shape == (1, round(seconds / manifest["hop_seconds"]), len(manifest["labels"]))
    assert np.all((out >= 0) & (out <= 1))
    # The shipped graph on the held-out renders agrees with what training measured through torch.
    from models import evaluate_renders
    from models.train import TASKS, summary_lines

    capsys.readouterr()
    evaluate_renders.main(["--manifest", str(tmp_path / "out" / f"{task}.json"), "--data", str(tmp_path / "data")])
    printed = capsys.readouterr().out.splitlines()[1:]
    expected = summary_lines(TASKS[task], manifest["metrics"])
    assert manifest["training"]["channels"] == list(TASKS[task].net.channels)  # the net can be rebuilt
    assert len(printed) == len(expected) > 0

    def numbers(lines):
        return np.array([float(x) for line in lines for x in re.findall(r"(?:\d+\.\d+|nan)", line)])

    assert np.allclose(numbers(printed), numbers(expected), atol=0.02, equal_nan=True)
    # and on the first shard of the training split, which it has fitted
    evaluate_renders.main(["--manifest", str(tmp_path / "out" / f"{task}.json"), "--data", str(tmp_path / "data"),
                           "--split", "train", "--examples", "1"])
    assert re.search(r" on [1-8] train examples of ", capsys.readouterr().out)  # technique keeps single stems only
