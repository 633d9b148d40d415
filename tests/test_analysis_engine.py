"""plugin.analysis.engine: a session through the shipped models, its cache, analysis.json.

Runs the real shipped models on the bundled demo session (40.8 s, four audio tracks, a MIDI
track and a MIDI-only pad) and on sessions built here from generated audio.
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from golden_analysis import GOLDEN, demo_analysis_json
from plugin.analysis import MIX_NAME, analysis_json, analyze, read_analysis, write_analysis
from plugin.analysis import engine as engine_module
from plugin.audio import render_array, render_stems
from plugin.demo import demo_session_path
from plugin.inference import InferenceError, clear_sessions, get_session, shipped_models
from plugin.inference import device as device_module
from plugin.session import AudioClip, Session, Track, load_session


def run(session, **options):
    events = list(analyze(session, **options))
    return events, (events[-1].analysis if events[-1].kind == "done" else None)


@pytest.fixture(scope="module")
def demo():
    return load_session(demo_session_path())


@pytest.fixture(scope="module")
def demo_run(demo, tmp_path_factory):
    import os
    old = os.environ.get("STEMSCOPE_CACHE_DIR")
    os.environ["STEMSCOPE_CACHE_DIR"] = str(tmp_path_factory.mktemp("demo-cache"))
    try:
        yield run(demo)
    finally:
        if old is not None:
            os.environ["STEMSCOPE_CACHE_DIR"] = old


def auto_provider() -> str:
    """The provider `auto` runs on here: the CPU, or CUDA on a machine with onnxruntime-gpu."""
    return get_session(shipped_models()["instrument"], "auto").provider


def test_every_audio_track_and_the_mix_are_analysed(demo, demo_run):
    events, analysis = demo_run
    audio = [t.name for t in demo.tracks if t.clips]
    assert [t.name for t in analysis.tracks] == audio + [MIX_NAME]
    assert [t.session_track for t in analysis.tracks] == [i for i, t in enumerate(demo.tracks) if t.clips] + [None]
    assert analysis.provider == auto_provider()
    for track in analysis.tracks:
        assert track.providers == {"instrument": auto_provider(), "technique": auto_provider()}
        inst, tech = track.timelines["instrument"], track.timelines["technique"]
        assert inst.activations.dtype == np.float16
        assert inst.frames == int(round(track.duration * 16000)) // 1280
        assert tech.frames == int(round(track.duration * 8000)) // 160


def test_events_start_progress_and_finish(demo_run):
    events, analysis = demo_run
    assert events[0].kind == "start" and events[0].names == tuple(t.name for t in analysis.tracks)
    assert events[0].session_tracks == tuple(t.session_track for t in analysis.tracks)
    assert events[-1].kind == "done" and events[-1].overall == pytest.approx(1.0)
    overall = [e.overall for e in events]
    assert overall == sorted(overall)
    finished = [e.track for e in events if e.kind == "track"]
    assert sorted(finished) == list(range(len(analysis.tracks)))
    assert any(e.kind == "progress" for e in events)


def test_what_the_demo_holds_is_found(demo_run):
    """The demo's drums, bass and keys are recognised; the lead's vibrato is heard."""
    _, analysis = demo_run
    top = {t.name: [r["label"] for r in t.instruments() if r["group"] == "family"][0] for t in analysis.tracks}
    assert top["Drums"] == "drums" and top["Bass"] == "bass" and top["Keys"] == "piano"
    lead = {ev["label"] for ev in analysis.track("Lead").techniques()}
    assert "vibrato" in lead
    assert not analysis.track("Drums").techniques()


def test_golden_analysis_json_of_the_demo(demo_run):
    _, analysis = demo_run
    doc = analysis_json(analysis)
    golden = json.loads(GOLDEN.read_text())
    hint = "the demo's analysis changed; after shipping a model, rerun `python tests/golden_analysis.py`"
    assert doc["models"] == golden["models"], hint
    assert [t["name"] for t in doc["tracks"]] == [t["name"] for t in golden["tracks"]]
    for got, want in zip(doc["tracks"], golden["tracks"]):
        assert [(r["label"], r["group"]) for r in got["instruments"]] == \
               [(r["label"], r["group"]) for r in want["instruments"]], hint
        for r, w in zip(got["instruments"], want["instruments"]):
            assert r["confidence"] == pytest.approx(w["confidence"], abs=2e-3)
            assert np.allclose(r["segments"], w["segments"], atol=1e-6)
        assert [(e["label"], e["start"], e["end"]) for e in got["techniques"]] == \
               [(e["label"], e["start"], e["end"]) for e in want["techniques"]], hint


def test_golden_generator_matches_a_fresh_run(demo_run):
    _, analysis = demo_run
    fresh = demo_analysis_json()
    doc = analysis_json(analysis)
    assert [t["instruments"] for t in fresh["tracks"]] == [t["instruments"] for t in doc["tracks"]]


def test_mix_techniques_are_reported_with_lower_confidence(demo_run):
    _, analysis = demo_run
    mix = analysis.track(MIX_NAME)
    scale = shipped_models()["technique"].mix_confidence
    assert scale < 1 and mix.timelines["technique"].confidence_scale == scale
    assert analysis.track("Lead").timelines["technique"].confidence_scale == 1.0
    for ev in mix.techniques():
        assert ev["confidence"] <= scale + 1e-6


def test_write_and_read_back(demo_run, tmp_path):
    _, analysis = demo_run
    path = write_analysis(analysis, tmp_path / "out")
    doc = json.loads(path.read_text())
    assert doc["provider"] == auto_provider()
    assert [m["name"] for m in doc["models"]] == ["instrument", "technique"]
    for entry in doc["tracks"]:
        assert (tmp_path / "out" / entry["frames"]).is_file()
        assert {"name", "instruments", "techniques", "frames"} <= entry.keys()
        confidences = [r["confidence"] for r in entry["instruments"]]
        assert confidences == sorted(confidences, reverse=True)
    again = read_analysis(tmp_path / "out")
    assert analysis_json(again, [t["frames"] for t in doc["tracks"]]) == doc
    np.testing.assert_array_equal(again.tracks[0].timelines["instrument"].activations,
                                  analysis.tracks[0].timelines["instrument"].activations)


# ---- cache --------------------------------------------------------------------------------------
def _copy_demo(tmp_path: Path) -> Path:
    folder = tmp_path / "demo"
    shutil.copytree(demo_session_path().parent, folder)
    return folder / demo_session_path().name


def test_reanalysis_comes_from_the_cache_without_running_a_model(tmp_path, monkeypatch):
    session = load_session(_copy_demo(tmp_path))
    _, first = run(session)
    assert not any(t.cached for t in first.tracks)

    def no_model(*args, **kwargs):
        raise AssertionError("a model ran although everything was cached")

    monkeypatch.setattr(engine_module, "get_session", no_model)
    events, second = run(load_session(session.path))
    assert all(t.cached for t in second.tracks)
    assert not any(e.kind == "progress" for e in events)
    assert analysis_json(second) == analysis_json(first)
    cache_root = Path(__import__("os").environ["STEMSCOPE_CACHE_DIR"])
    assert any(cache_root.rglob("*.npz"))
    assert not any(p.suffix == ".npz" for p in Path(session.path).parent.rglob("*")), "wrote into the session folder"


def test_changed_audio_misses_only_where_it_plays(tmp_path):
    path = _copy_demo(tmp_path)
    session = load_session(path)
    run(session)
    bass = next(t for t in session.tracks if t.name == "Bass").clips[0].source
    audio, rate = sf.read(bass, dtype="float32")
    sf.write(bass, audio * 0.5, rate, format="OGG", subtype="VORBIS")
    _, again = run(load_session(path))
    cached = {t.name: t.cached for t in again.tracks}
    assert cached == {"Drums": True, "Bass": False, "Keys": True, "Lead": True, MIX_NAME: False}


def test_a_muted_track_is_analysed_but_leaves_the_mix(tmp_path):
    session = load_session(_copy_demo(tmp_path))
    run(session)
    next(t for t in session.tracks if t.name == "Keys").muted = True
    _, analysis = run(session)
    keys = analysis.track("Keys")
    assert keys.muted and keys.cached
    assert not analysis.track(MIX_NAME).cached  # a different mix


def test_cache_only_computes_nothing(tmp_path, monkeypatch):
    session = load_session(_copy_demo(tmp_path))
    events, analysis = run(session, cache_only=True)
    assert analysis.tracks == [] and [e.kind for e in events] == ["start", "done"]
    run(session)
    monkeypatch.setattr(engine_module, "get_session", lambda *a, **k: pytest.fail("computed"))
    _, analysis = run(session, cache_only=True)
    assert len(analysis.tracks) == 5


def test_cache_keys_follow_the_model_and_how_it_is_fed(demo):
    """A manifest fixed beside an unchanged .onnx file (same sha256) misses; thresholds, which
    apply after the cache, do not."""
    import dataclasses

    specs = [shipped_models()[name] for name in engine_module.MODEL_NAMES]

    def keys(specs):
        return [entry.keys for entry in engine_module.plan(demo, specs)]

    base = keys(specs)
    assert keys(specs) == base
    inst = specs[0]
    for change in ({"sha256": "f" * 64}, {"receptive_field_frames": inst.receptive_field_frames + 1},
                   {"pad_samples": inst.pad_samples + 1}, {"hop_samples": inst.hop_samples * 2}):
        changed = keys([dataclasses.replace(inst, **change), specs[1]])
        assert all(c["instrument"] != b["instrument"] and c["technique"] == b["technique"]
                   for c, b in zip(changed, base)), change
    thresholds = tuple(dataclasses.replace(label, threshold=0.3) for label in inst.labels)
    assert keys([dataclasses.replace(inst, labels=thresholds), specs[1]]) == base


def test_a_corrupt_cache_entry_is_a_miss(tmp_path):
    session = load_session(_copy_demo(tmp_path))
    run(session)
    root = Path(__import__("os").environ["STEMSCOPE_CACHE_DIR"])
    for entry in root.rglob("*.npz"):
        entry.write_bytes(b"not a zip file")
    _, analysis = run(session)
    assert not any(t.cached for t in analysis.tracks)


# ---- invariance, cancel, devices ----------------------------------------------------------------
def test_chunk_size_does_not_change_the_results(demo):
    _, whole = run(demo, use_cache=False, chunk_seconds=60.0)
    _, chunked = run(demo, use_cache=False, chunk_seconds=1.3)
    for a, b in zip(whole.tracks, chunked.tracks):
        for model in ("instrument", "technique"):
            x = a.timelines[model].activations.astype(np.float32)
            y = b.timelines[model].activations.astype(np.float32)
            assert x.shape == y.shape
            assert np.abs(x - y).max() <= 1e-3  # float16 storage: one rounding step at most


def test_stems_and_mix_render_as_render_blocks_does(demo):
    audio = [t for t in demo.tracks if t.clips]
    parts = list(render_stems(audio, sample_rate=16000, mix=demo.audible_tracks(), end=demo.duration))
    stems = [np.concatenate([p[0][k] for p in parts], axis=1) for k in range(len(audio))]
    mix = np.concatenate([p[1] for p in parts], axis=1)
    for track, stem in zip(audio, stems):
        np.testing.assert_array_equal(stem, render_array([track], sample_rate=16000, channels=1, faders=False,
                                                         end=demo.duration))
    np.testing.assert_allclose(mix, render_array(demo, sample_rate=16000, channels=1), atol=1e-6)


@pytest.mark.parametrize("when", [0, 3])
def test_cancel_stops_the_run_and_caches_no_partial_track(demo, when):
    cancel = threading.Event()
    kinds = []
    for event in analyze(demo, cancel=cancel, use_cache=True, chunk_seconds=2.0):
        kinds.append(event.kind)
        if event.kind == "progress" and kinds.count("progress") > when:
            cancel.set()
    assert kinds[-1] == "cancelled" and "done" not in kinds and "track" not in kinds
    events, analysis = run(demo, cache_only=True)
    assert analysis.tracks == []


def test_closing_a_run_early_ends_its_threads_and_closes_its_media(demo):
    """A consumer that stops reading (closes the generator, or drops it) ends the render
    prefetcher, the render and model pools, and closes every source file."""
    import os

    folder = str(demo_session_path().parent)

    def open_media() -> set[str]:
        found = set()
        for fd in Path("/proc/self/fd").iterdir() if Path("/proc/self/fd").is_dir() else ():
            try:
                found.add(os.readlink(fd))
            except OSError:
                pass
        return {f for f in found if f.startswith(folder)}

    before = set(threading.enumerate())
    for drop in (False, True):
        events = analyze(demo, use_cache=False, chunk_seconds=2.0)
        for event in events:
            if event.kind == "progress":
                break
        assert [t for t in threading.enumerate() if t not in before]  # mid-run: workers are busy
        if drop:
            del events  # the last reference: CPython closes it at once
        else:
            events.close()
        assert [t.name for t in threading.enumerate() if t not in before] == []
        assert open_media() == set()


def test_forced_cuda_without_cuda_is_a_clear_error(demo):
    if device_module.CUDA in device_module.available_providers():
        pytest.skip("this machine has CUDA")
    clear_sessions()
    with pytest.raises(InferenceError, match="CUDA"):
        run(demo, device="cuda", use_cache=False)
    clear_sessions()


def test_a_session_without_audio_gives_an_empty_analysis():
    session = Session(path="nothing.rpp", format="reaper", tracks=[Track(name="MIDI", kind="midi")])
    events, analysis = run(session)
    assert analysis.tracks == [] and events[-1].overall == pytest.approx(0.0)


def test_missing_media_analyses_as_silence_with_a_warning(tmp_path):
    wav = tmp_path / "here.wav"
    sf.write(wav, np.zeros(16000, np.float32), 16000)
    session = Session(path=str(tmp_path / "s.rpp"), format="reaper", tracks=[
        Track(name="here", clips=[AudioClip(0.0, 1.0, str(wav))]),
        Track(name="gone", clips=[AudioClip(0.0, 2.0, str(tmp_path / "gone.wav"), missing=True)]),
    ])
    _, analysis = run(session)
    assert [t.name for t in analysis.tracks] == ["here", "gone", MIX_NAME]
    assert analysis.track("gone").timelines["instrument"].frames == 2 * 16000 // 1280
    assert any("gone.wav" in w for w in analysis.warnings)
