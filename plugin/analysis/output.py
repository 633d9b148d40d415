"""`analysis.json` and its frame files: writing an Analysis to a folder and reading it back.

Layout of DIR (the `stemscope analyze --out DIR` contract, ../shared/ARCHITECTURE.md):
- `analysis.json`: source, provider, models and tracks [{name, instruments, techniques, frames}];
- `frames/NN-name.npz`, one per track: for each model M, `M` (frames, labels) float16
  activations, and `M_labels`, `M_groups`, `M_families`, `M_thresholds`, `M_hop_seconds`,
  `M_confidence_scale`: enough to rebuild the Timeline without the model files.
Times are seconds on the session timeline, rounded to microseconds; confidences to 1e-4.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np

from .. import __version__
from .engine import Analysis, TrackResult
from .timeline import Timeline

ANALYSIS_FILE = "analysis.json"
FRAMES_FOLDER = "frames"
FORMAT_VERSION = 1


class AnalysisFileError(Exception):
    """An analysis folder that cannot be read; str() names the file and the reason."""


def _t(seconds: float) -> float:
    return round(float(seconds), 6)


def _c(confidence: float) -> float:
    return round(float(confidence), 4)


def track_json(track: TrackResult, frames: str | None) -> dict:
    """One track's entry in analysis.json."""
    return {
        "name": track.name,
        "index": track.session_track,
        "mix": track.is_mix,
        "muted": track.muted,
        "duration": _t(track.duration),
        "providers": dict(track.providers),
        "instruments": [
            {"label": row["label"], "group": row["group"], "family": row["family"],
             "confidence": _c(row["confidence"]), "active_seconds": _t(row["active_seconds"]),
             "segments": [[_t(s), _t(e)] for s, e, _ in row["segments"]]}
            for row in track.instruments()
        ],
        "techniques": [
            {"label": ev["label"], "start": _t(ev["start"]), "end": _t(ev["end"]), "confidence": _c(ev["confidence"])}
            for ev in track.techniques()
        ],
        "frames": frames,
    }


def numbered_file_stems(analysis: Analysis) -> list[str]:
    """"NN-name" per track: numbered (names repeat) and safe on every filesystem."""
    stems = []
    for n, track in enumerate(analysis.tracks, 1):
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", track.name).strip("._")[:60] or "track"
        stems.append(f"{n:02d}-{safe}")
    return stems


def remove_stale_numbered_files(folder: Path, suffix: str, kept: list[Path]) -> None:
    """Delete `NN-*suffix` files in folder that an earlier write left and this one did not make
    (a session that had more tracks, or renamed ones). Only such numbered files are touched."""
    keep = {path.name for path in kept}
    for path in folder.glob(f"[0-9][0-9]-*{suffix}"):
        if path.name not in keep and path.is_file():
            path.unlink()


def frame_file_names(analysis: Analysis) -> list[str]:
    """`frames/NN-name.npz` per track."""
    return [f"{FRAMES_FOLDER}/{stem}.npz" for stem in numbered_file_stems(analysis)]


def analysis_json(analysis: Analysis, frames: list[str | None] | None = None) -> dict:
    """The analysis.json object (frames: the per-track frame file names, or None each)."""
    frames = frames or [None] * len(analysis.tracks)
    return {
        "stemscope": __version__,
        "format_version": FORMAT_VERSION,
        "source": analysis.source,
        "session_format": analysis.session_format,
        "device": analysis.device,
        "provider": analysis.provider,
        "providers": analysis.providers,
        "models": analysis.models,
        "tracks": [track_json(t, f) for t, f in zip(analysis.tracks, frames)],
        "warnings": list(analysis.warnings),
    }


def write_analysis(analysis: Analysis, out_dir: str | Path) -> Path:
    """Write analysis.json and the frame files into out_dir (created); returns analysis.json's path."""
    out = Path(out_dir)
    (out / FRAMES_FOLDER).mkdir(parents=True, exist_ok=True)
    names = frame_file_names(analysis)
    for track, name in zip(analysis.tracks, names):
        arrays = {}
        for model, tl in track.timelines.items():
            arrays[model] = tl.activations
            arrays[f"{model}_labels"] = np.array(tl.label_names)
            arrays[f"{model}_groups"] = np.array(tl.groups)
            arrays[f"{model}_families"] = np.array([f or "" for f in tl.families])
            arrays[f"{model}_thresholds"] = tl.thresholds
            arrays[f"{model}_hop_seconds"] = np.array(tl.hop_seconds)
            arrays[f"{model}_confidence_scale"] = np.array(tl.confidence_scale)
        np.savez(out / name, **arrays)
    remove_stale_numbered_files(out / FRAMES_FOLDER, ".npz", [out / name for name in names])
    path = out / ANALYSIS_FILE
    path.write_text(json.dumps(analysis_json(analysis, names), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_analysis(out_dir: str | Path) -> Analysis:
    """An Analysis back from a folder write_analysis wrote (timelines rebuilt from the frame files)."""
    path = Path(out_dir) / ANALYSIS_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        tracks = []
        for entry in doc["tracks"]:
            timelines = {}
            if entry.get("frames"):
                frames_path = Path(out_dir) / entry["frames"]
                with np.load(frames_path, allow_pickle=False) as data:
                    for model in entry["providers"]:
                        families = tuple(str(f) or None for f in data[f"{model}_families"])
                        timelines[model] = Timeline(
                            activations=data[model], label_names=tuple(str(n) for n in data[f"{model}_labels"]),
                            groups=tuple(str(g) for g in data[f"{model}_groups"]), families=families,
                            thresholds=data[f"{model}_thresholds"], hop_seconds=float(data[f"{model}_hop_seconds"]),
                            model=model, confidence_scale=float(data[f"{model}_confidence_scale"]))
            tracks.append(TrackResult(entry["name"], entry["index"], float(entry["duration"]), timelines,
                                      dict(entry["providers"]), bool(entry.get("muted", False)), cached=True))
        return Analysis(doc["source"], doc["session_format"], list(doc["models"]), tracks,
                        device=doc.get("device", "auto"), warnings=list(doc.get("warnings", [])))
    except FileNotFoundError as exc:
        raise AnalysisFileError(f"{exc.filename}: no such file") from None
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise AnalysisFileError(f"{path}: not a readable Stemscope analysis ({type(exc).__name__}: {exc})") from None
