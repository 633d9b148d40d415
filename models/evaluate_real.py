"""How the shipped instrument detector does on real recordings: `python -m models.evaluate_real`.

Two labelled sets, never used for training:
- ../shared/realdev (default): separated stems of real songs, labels.json mapping file -> family;
- `--sonic-pi`: the Debian package sonic-pi-samples, for the families its names make certain
  (drum hits and breaks, tabla and cowbell, guitars, synth basses, a piano, a choir).
It runs the ONNX model through onnxruntime exactly as shipped and prints per-family clip
accuracy (the family with the highest mean activation over the clip) and the frame recall of the
labelled family at its calibrated threshold.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

from .train import MODELS_DIR

REPO = MODELS_DIR.parent
REALDEV = REPO.parent / "shared" / "realdev"


def load_mono(path: Path, sample_rate: int) -> np.ndarray:
    from pedalboard.io import AudioFile

    with AudioFile(str(path)).resampled_to(sample_rate) as f:
        audio = f.read(f.frames)
    return audio.mean(axis=0).astype(np.float32)


def activations(session: ort.InferenceSession, manifest: dict, audio: np.ndarray) -> np.ndarray:
    """Frame activations of a whole clip; a clip shorter than one frame is padded to one."""
    audio = np.pad(audio, (0, max(0, manifest["hop_samples"] - len(audio))))
    padded = np.pad(audio, (manifest["pad_samples"], manifest["pad_back_samples"]))[None, :]
    return session.run([manifest["output"]["name"]], {manifest["input"]["name"]: padded})[0][0]


SONIC_PI_DIR = Path("/usr/share/sonic-pi/samples")
# file-name prefix -> family, for the sonic-pi samples whose family the name makes certain
SONIC_PI_FAMILIES = (
    ("drum_cowbell", "percussion"), ("tabla_", "percussion"), ("loop_tabla", "percussion"),
    ("bd_", "drums"), ("sn_", "drums"), ("drum_", "drums"),
    # elec_ also holds blips, pings, bells, chimes and a twang: only its drum pieces are labelled
    ("elec_cymbal", "drums"), ("elec_filt_snare", "drums"), ("elec_fuzz_tom", "drums"),
    ("elec_hi_snare", "drums"), ("elec_hollow_kick", "drums"), ("elec_lo_snare", "drums"),
    ("elec_mid_snare", "drums"), ("elec_snare", "drums"), ("elec_soft_kick", "drums"),
    ("loop_amen", "drums"), ("loop_breakbeat", "drums"),
    ("guit_", "guitar"), ("bass_", "bass"), ("ambi_piano", "piano"), ("ambi_choir", "vocals"),
)


SESSIONS_DIR = REPO.parent / "shared" / "sessions"
# Real recordings among the shared DAW sessions' media whose family their README makes certain.
SESSION_RECORDINGS = {"reaper/piano-recording/chopin.mp3": "piano"}


def sonic_pi_labels(folder: Path = SONIC_PI_DIR) -> dict[str, str]:
    out = {}
    for path in sorted(folder.glob("*.flac")):
        family = next((fam for prefix, fam in SONIC_PI_FAMILIES if path.name.startswith(prefix)), None)
        if family:
            out[path.name] = family
    return out


def song_of(name: str) -> str:
    """The song a realdev excerpt comes from ("Tours_-_Enthusiast_3__bass.mp3" -> "Tours_-_Enthusiast");
    a name without an excerpt number is its own song. Excerpts of one song share its sounds, so
    clips are not independent: a model's misses are read by song."""
    match = re.match(r"(.+)_\d+__", name)
    return match.group(1) if match else Path(name).stem


def by_song(rows: list[dict]) -> dict[str, list[int]]:
    """{song: [clips named right, clips]} of the given rows, songs in order of name."""
    out: dict[str, list[int]] = {}
    for r in sorted(rows, key=lambda r: r["file"]):
        tally = out.setdefault(song_of(r["file"]), [0, 0])
        tally[0] += r["predicted"] == r["family"]
        tally[1] += 1
    return out


def song_weighted_accuracy(rows: list[dict]) -> float:
    """The mean over songs of the share of each song's clips named right: every song counts once,
    however many excerpts it gives."""
    return float(np.mean([ok / n for ok, n in by_song(rows).values()]))


def evaluate(manifest_path: Path, folder: Path, truth: dict[str, str] | None = None) -> dict:
    manifest = json.loads(manifest_path.read_text())
    labels = manifest["labels"]
    families = [lab["name"] for lab in labels if lab["group"] == "family"]
    thresholds = np.array([lab["threshold"] for lab in labels if lab["group"] == "family"])
    session = ort.InferenceSession(str(manifest_path.parent / manifest["file"]), providers=["CPUExecutionProvider"])
    if truth is None:
        truth = json.loads((folder / "labels.json").read_text())
    rows = []
    for name, family in sorted(truth.items()):
        act = activations(session, manifest, load_mono(folder / name, manifest["sample_rate"]))[:, : len(families)]
        k = families.index(family)
        mean = act.mean(axis=0)
        rows.append({"file": name, "family": family, "predicted": families[int(np.argmax(mean))],
                     "frame_recall": float((act[:, k] >= thresholds[k]).mean()),
                     "mean_activation": float(mean[k])})
    per_family = {}
    for fam in sorted({r["family"] for r in rows}):
        rs = [r for r in rows if r["family"] == fam]
        per_family[fam] = {"clips": len(rs), "correct": sum(r["predicted"] == fam for r in rs),
                           "frame_recall": float(np.mean([r["frame_recall"] for r in rs])),
                           "mean_activation": float(np.mean([r["mean_activation"] for r in rs])),
                           "confused_with": sorted({r["predicted"] for r in rs if r["predicted"] != fam}),
                           "by_song": by_song(rs)}
    correct = sum(v["correct"] for v in per_family.values())
    return {"clips": len(rows), "clip_accuracy": correct / len(rows), "songs": len({song_of(r["file"]) for r in rows}),
            "song_weighted_accuracy": song_weighted_accuracy(rows), "per_family": per_family, "rows": rows}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", type=Path, default=MODELS_DIR / "shipped" / "instrument.json")
    p.add_argument("--folder", type=Path, default=REALDEV)
    p.add_argument("--sonic-pi", action="store_true", help=f"the sonic-pi samples in {SONIC_PI_DIR} instead")
    p.add_argument("--sessions", action="store_true",
                   help=f"the real recordings among the shared sessions' media ({SESSIONS_DIR}) instead")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    if a.sonic_pi:
        if not SONIC_PI_DIR.is_dir():
            raise SystemExit(f"{SONIC_PI_DIR} is missing: apt-get install sonic-pi-samples")
        result = evaluate(a.manifest, SONIC_PI_DIR, sonic_pi_labels())
        a.folder = SONIC_PI_DIR
    elif a.sessions:
        result = evaluate(a.manifest, SESSIONS_DIR, SESSION_RECORDINGS)
        a.folder = SESSIONS_DIR
    else:
        result = evaluate(a.manifest, a.folder)
    if a.json:
        json.dump({k: v for k, v in result.items() if k != "rows"}, sys.stdout, indent=1)
        print()
        return 0
    print(f"{a.folder}: {result['clips']} clips, clip accuracy {result['clip_accuracy']:.3f}"
          + (f"; {result['songs']} songs, song-weighted accuracy {result['song_weighted_accuracy']:.3f}"
             if result["songs"] < result["clips"] else ""))
    for fam, v in result["per_family"].items():
        print(f"  {fam:<8} {v['correct']}/{v['clips']} clips, frame recall {v['frame_recall']:.2f}, "
              f"mean activation {v['mean_activation']:.2f}"
              + (f", confused with {', '.join(v['confused_with'])}" if v["confused_with"] else ""))
        if len(v["by_song"]) < v["clips"]:
            print("           by song: " + ", ".join(f"{song} {ok}/{n}" for song, (ok, n) in v["by_song"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
