"""Shipped models and their manifests.

Every model ships as `NAME.onnx` beside `NAME.json` in the `models/shipped` package folder and is
found through importlib.resources, so it works from a checkout, an installed wheel or a frozen
app alike. The manifest (models/manifest.schema.json, written by models/train.py `write_model`)
holds everything the runtime needs: rate, hop, padding, receptive field, tensor names, labels
with their families and calibrated thresholds. None of those constants live in code.

Loading a manifest reads and checks the JSON only; the .onnx file is hashed against the
manifest's sha256 lazily, the first time a session is created for it (`ModelSpec.verified_bytes`).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InferenceError

SHIPPED_PACKAGE = "models"
SHIPPED_FOLDER = "shipped"
LABEL_GROUPS = ("family", "fine", "technique")
_REQUIRED = ("name", "version", "file", "sha256", "sample_rate", "hop_samples", "hop_seconds", "window_samples",
             "pad_samples", "pad_back_samples", "receptive_field_frames", "input", "output", "labels")


@dataclass(frozen=True)
class Label:
    name: str
    group: str  # "family", "fine" or "technique"
    family: str | None  # the family a label belongs to (a family label: itself; a technique: None)
    threshold: float  # calibrated decision threshold on the sigmoid activation


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """One model as its manifest describes it. Build with `ModelSpec.from_manifest` or `load_model`."""

    name: str
    version: str
    sha256: str
    sample_rate: int
    hop_samples: int  # audio samples per output frame; output frame j is [j*hop, (j+1)*hop)
    hop_seconds: float
    window_samples: int
    pad_samples: int  # zeros the caller prepends to a whole file
    pad_back_samples: int  # zeros the caller appends to a whole file
    receptive_field_frames: int  # output frames of context on each side that can change a frame
    input_name: str
    output_name: str
    labels: tuple[Label, ...]
    mix_confidence: float  # factor on confidences reported for a whole mix (stems-only models: < 1)
    manifest_path: Any  # pathlib.Path or importlib.resources Traversable
    model_path: Any
    manifest: dict = field(repr=False)

    # ---- loading --------------------------------------------------------------------------------
    @classmethod
    def from_manifest(cls, manifest_path) -> ModelSpec:
        """Read and check a manifest; the model file must sit beside it (its hash is checked later)."""
        where = _display(manifest_path)
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InferenceError(f"model manifest {where} does not exist") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InferenceError(f"model manifest {where} cannot be read: {exc}") from None
        return cls.from_dict(manifest, manifest_path)

    @classmethod
    def from_dict(cls, manifest: dict, manifest_path) -> ModelSpec:
        where = _display(manifest_path)

        def bad(reason: str) -> InferenceError:
            return InferenceError(f"model manifest {where} is invalid: {reason}")

        if not isinstance(manifest, dict):
            raise bad("not a JSON object")
        missing = [k for k in _REQUIRED if k not in manifest]
        if missing:
            raise bad(f"missing {', '.join(missing)}")
        if manifest.get("channels", 1) != 1:
            raise bad(f"channels is {manifest['channels']!r}; the runtime feeds mono audio only")
        ints = {}
        for key, low in (("sample_rate", 1), ("hop_samples", 1), ("window_samples", 1), ("pad_samples", 0),
                         ("pad_back_samples", 0), ("receptive_field_frames", 0)):
            value = manifest[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise bad(f"{key} must be an integer >= {low}, not {value!r}")
            ints[key] = value
        sha = manifest["sha256"]
        if not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
            raise bad("sha256 is not 64 lowercase hex digits")
        hop_seconds = manifest["hop_seconds"]
        expected_hop = ints["hop_samples"] / ints["sample_rate"]
        if not isinstance(hop_seconds, int | float) or abs(hop_seconds - expected_hop) > 1e-9:
            raise bad(f"hop_seconds {hop_seconds!r} is not hop_samples / sample_rate")
        # The graph frames the padded audio with `window_samples` and the feature hop; the
        # padding convention fixes that hop as window - pad - pad_back. Chunks start on output
        # frame boundaries, which keeps feature frames and pooling aligned only when the
        # feature hop divides the output hop.
        feature_hop = ints["window_samples"] - ints["pad_samples"] - ints["pad_back_samples"]
        if feature_hop <= 0 or ints["hop_samples"] % feature_hop:
            raise bad(f"window_samples - pad_samples - pad_back_samples = {feature_hop} does not divide "
                      f"hop_samples {ints['hop_samples']}")
        for key in ("input", "output"):
            if not isinstance(manifest[key], dict) or not isinstance(manifest[key].get("name"), str):
                raise bad(f"{key} has no tensor name")
        shape = manifest["output"].get("shape")
        if shape is not None and (not isinstance(shape, list) or len(shape) != 3):
            raise bad(f"output shape {shape!r} is not [batch, frames, labels]")
        labels = manifest["labels"]
        if not isinstance(labels, list) or not labels:
            raise bad("labels is empty")
        parsed = []
        for i, lab in enumerate(labels):
            try:
                name, group, family, threshold = lab["name"], lab["group"], lab.get("family"), lab["threshold"]
            except (TypeError, KeyError) as exc:
                raise bad(f"label {i} lacks {exc}") from None
            if not isinstance(name, str) or group not in LABEL_GROUPS:
                raise bad(f"label {i} ({name!r}) has group {group!r}, not one of {', '.join(LABEL_GROUPS)}")
            if not isinstance(threshold, int | float) or not 0 < threshold < 1:
                raise bad(f"label {name!r} threshold {threshold!r} is not in (0, 1)")
            parsed.append(Label(name, group, family, float(threshold)))
        if len({(lab.group, lab.name) for lab in parsed}) != len(parsed):  # "organ" is a family and a fine label
            raise bad("a label name repeats within its group")
        if shape is not None and isinstance(shape[2], int) and shape[2] != len(parsed):
            raise bad(f"output shape has {shape[2]} labels but {len(parsed)} are listed")
        mix_confidence = manifest.get("mix_confidence", 1.0)
        if isinstance(mix_confidence, bool) or not isinstance(mix_confidence, int | float) or not 0 < mix_confidence <= 1:
            raise bad(f"mix_confidence {mix_confidence!r} is not in (0, 1]")
        model_file = manifest["file"]
        if not isinstance(model_file, str) or "/" in model_file or "\\" in model_file or not model_file:
            raise bad(f"file {model_file!r} is not a file name beside the manifest")
        model_path = _sibling(manifest_path, model_file)
        if not model_path.is_file():
            raise InferenceError(f"model file {_display(model_path)} named by {where} does not exist")
        return cls(
            name=str(manifest["name"]), version=str(manifest["version"]), sha256=sha,
            hop_seconds=float(hop_seconds), input_name=manifest["input"]["name"],
            output_name=manifest["output"]["name"], labels=tuple(parsed),
            mix_confidence=float(mix_confidence), manifest_path=manifest_path,
            model_path=model_path, manifest=manifest, **ints,
        )

    # ---- the model file -------------------------------------------------------------------------
    def verified_bytes(self) -> bytes:
        """The .onnx file's bytes, after checking them against the manifest's sha256."""
        try:
            data = self.model_path.read_bytes()
        except OSError as exc:
            raise InferenceError(f"model file {_display(self.model_path)} cannot be read: {exc}") from None
        found = hashlib.sha256(data).hexdigest()
        if found != self.sha256:
            raise InferenceError(
                f"model file {_display(self.model_path)} does not match its manifest "
                f"{_display(self.manifest_path)}: sha256 {found[:12]}... found, {self.sha256[:12]}... expected "
                f"(the file was changed or the manifest is stale; retrain or reinstall the model)")
        return data

    @property
    def key(self) -> str:
        """Identity for caches: the model file and its expected content."""
        return f"{_display(self.model_path)}#{self.sha256}"

    # ---- labels ---------------------------------------------------------------------------------
    @property
    def label_names(self) -> list[str]:
        """Output column names; a name may appear in two groups (family "organ", fine "organ")."""
        return [lab.name for lab in self.labels]

    @property
    def thresholds(self) -> np.ndarray:
        return np.array([lab.threshold for lab in self.labels], dtype=np.float32)

    @property
    def families(self) -> list[str]:
        """The families the labels belong to, in first-seen order."""
        seen: dict[str, None] = {}
        for lab in self.labels:
            if lab.family is not None:
                seen.setdefault(lab.family)
        return list(seen)

    def group(self, group: str) -> list[int]:
        """Output columns of the labels in one group ("family", "fine" or "technique")."""
        return [i for i, lab in enumerate(self.labels) if lab.group == group]

    # ---- frames ---------------------------------------------------------------------------------
    @property
    def feature_hop(self) -> int:
        return self.window_samples - self.pad_samples - self.pad_back_samples

    def frame_count(self, samples: int) -> int:
        """Output frames a whole-file run gives for `samples` samples (a partial last hop is dropped)."""
        return max(0, int(samples)) // self.hop_samples

    def frame_seconds(self, frame: int) -> float:
        return frame * self.hop_samples / self.sample_rate


# ---- discovery ----------------------------------------------------------------------------------
def shipped_models_dir():
    """The package folder the shipped models live in (a Traversable; a Path in a checkout)."""
    return importlib.resources.files(SHIPPED_PACKAGE) / SHIPPED_FOLDER


def shipped_models(folder=None) -> dict[str, ModelSpec]:
    """Every model whose manifest sits in the shipped folder (or `folder`), by name, sorted."""
    folder = shipped_models_dir() if folder is None else folder
    if not folder.is_dir():
        return {}
    specs = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json") and entry.is_file():
            spec = ModelSpec.from_manifest(entry)
            if spec.name in specs:
                raise InferenceError(f"two manifests in {_display(folder)} name the model {spec.name!r}")
            specs[spec.name] = spec
    return specs


_loaded: dict[tuple[str, str], ModelSpec] = {}
_loaded_lock = threading.Lock()


def load_model(name: str, folder=None) -> ModelSpec:
    """The shipped model `name` ("instrument", "technique"), its manifest read once per process."""
    folder = shipped_models_dir() if folder is None else folder
    key = (str(folder), name)
    with _loaded_lock:
        if key in _loaded:
            return _loaded[key]
    manifest = folder / f"{name}.json"
    if not manifest.is_file():
        raise InferenceError(f"model {name!r} is not installed: {_display(manifest)} does not exist "
                             f"(train it with `python -m models.train {name}`)")
    spec = ModelSpec.from_manifest(manifest)
    if spec.name != name:
        raise InferenceError(f"model manifest {_display(manifest)} names the model {spec.name!r}, not {name!r}")
    with _loaded_lock:
        return _loaded.setdefault(key, spec)


def _sibling(path, name: str):
    if isinstance(path, Path):
        return path.with_name(name)
    parent = getattr(path, "parent", None)
    if parent is not None:
        return parent / name
    raise InferenceError(f"cannot find {name} beside {_display(path)}")


def _display(path) -> str:
    return str(path)
