"""`stemscope analyze`: sessions and audio files in, analysis.json and exports out, clear errors.

Awkward audio (corrupt, empty, zero-length, silent, clipped, mono, stereo, 5.1, 8 kHz to 192 kHz)
gives results or one clear line naming the file, never a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf

from plugin.cli import main
from plugin.demo import demo_session_path
from plugin.exports import read_audacity_labels, read_csv
from plugin.inference import get_session, shipped_models

REPO = Path(__file__).resolve().parents[1]


def tone(seconds: float, rate: int, channels: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    signal = amplitude * np.sin(2 * np.pi * 220 * t) * (1 + 0.3 * np.sin(2 * np.pi * 5 * t))
    return np.repeat(signal[:, None], channels, axis=1).astype(np.float32)


def test_demo_session_writes_every_output(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["analyze", str(demo_session_path()), "--out", str(out), "--quiet"]) == 0
    provider = get_session(shipped_models()["instrument"], "auto").provider  # CPU, or CUDA where it runs
    assert f"provider {provider}" in capsys.readouterr().out
    doc = json.loads((out / "analysis.json").read_text())
    assert doc["provider"] == provider
    assert [t["name"] for t in doc["tracks"]][-1] == "mix"
    for track in doc["tracks"]:
        with np.load(out / track["frames"]) as frames:
            assert frames["instrument"].dtype == np.float16
    mid = mido.MidiFile(out / "analysis.mid")
    assert len(mid.tracks) == 1 + 2 * len(doc["tracks"])
    rows = read_csv(out / "analysis.csv")
    assert {r["track"] for r in rows} == {t["name"] for t in doc["tracks"]}
    labels = sorted((out / "labels").iterdir())
    assert len(labels) == len(doc["tracks"]) and read_audacity_labels(labels[0])


def test_summary_without_out(capsys):
    assert main(["analyze", str(demo_session_path()), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "Drums" in text and "drums" in text and "mix" in text


@pytest.mark.parametrize("rate, channels", [(8000, 1), (44100, 2), (48000, 6), (96000, 1), (192000, 2)])
def test_audio_files_at_any_rate_and_layout(tmp_path, capsys, rate, channels):
    path = tmp_path / f"t_{rate}_{channels}.wav"
    sf.write(path, tone(2.5, rate, channels), rate, subtype="FLOAT" if rate > 96000 else "PCM_16")
    out = tmp_path / "out"
    assert main(["analyze", str(path), "--out", str(out), "--quiet"]) == 0
    doc = json.loads((out / "analysis.json").read_text())
    assert [t["name"] for t in doc["tracks"]] == [path.stem]  # audio files: no mix entry
    assert doc["tracks"][0]["duration"] == pytest.approx(2.5, abs=1e-3)
    with np.load(out / doc["tracks"][0]["frames"]) as frames:
        assert frames["instrument"].shape[0] == int(2.5 * 16000) // 1280
        assert frames["technique"].shape[0] == int(2.5 * 8000) // 160


def test_several_audio_files_are_one_track_each(tmp_path, capsys):
    files = []
    for name, signal in (("silent", np.zeros((16000, 1), np.float32)),
                         ("clipped", np.clip(tone(1.0, 16000, 1, amplitude=4.0), -1.5, 1.5))):
        files.append(tmp_path / f"{name}.wav")
        sf.write(files[-1], signal, 16000, subtype="FLOAT")
    zero = tmp_path / "zero.wav"
    sf.write(zero, np.zeros((0, 2), np.float32), 44100)
    out = tmp_path / "out"
    assert main(["analyze", *map(str, files), str(zero), "--out", str(out), "--quiet"]) == 0
    doc = json.loads((out / "analysis.json").read_text())
    assert [t["name"] for t in doc["tracks"]] == ["silent", "clipped", "zero"]
    assert doc["tracks"][0]["instruments"] == []  # silence holds nothing
    zero_track = doc["tracks"][2]  # a zero-length file is a track of no frames, not an error
    assert zero_track["duration"] == 0 and zero_track["instruments"] == [] and zero_track["techniques"] == []


@pytest.mark.parametrize("content, reason", [(b"", "empty"), (b"RIFF\x00\x00garbage" * 10, "cannot decode")])
def test_broken_audio_is_one_clear_line(tmp_path, capsys, content, reason):
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    assert main(["analyze", str(path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("stemscope: ") and "broken.wav" in err and reason in err and err.count("\n") == 1


def test_mixing_a_session_and_audio_files_is_refused(tmp_path, capsys):
    wav = tmp_path / "a.wav"
    sf.write(wav, tone(0.5, 16000, 1), 16000)
    assert main(["analyze", str(demo_session_path()), str(wav), "--quiet"]) == 1
    assert "one session" in capsys.readouterr().err


def test_forced_cuda_without_cuda_exits_with_a_reason(capsys):
    from plugin.inference import device as device_module
    if device_module.CUDA in device_module.available_providers():
        pytest.skip("this machine has CUDA")
    device_module.clear_sessions()
    assert main(["analyze", str(demo_session_path()), "--device", "cuda", "--quiet", "--no-cache"]) == 1
    err = capsys.readouterr().err
    assert "CUDA" in err and err.count("\n") == 1
    device_module.clear_sessions()


def test_console_run_shows_no_traceback_for_a_missing_file(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "plugin.cli", "analyze", str(tmp_path / "nope.rpp")],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 1
    assert proc.stderr.strip().endswith("no such file or folder") and "Traceback" not in proc.stderr


def test_an_unwritable_out_folder_is_one_clear_line(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    wav = tmp_path / "a.wav"
    sf.write(wav, tone(0.5, 16000, 1), 16000)
    assert main(["analyze", str(wav), "--out", str(blocker / "out"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"stemscope: {blocker / 'out'}") and "cannot write" in err and err.count("\n") == 1
