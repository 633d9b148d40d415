"""The shipped models: manifests valid and matching their files, outputs equal to the golden ones."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "shipped"
MANIFESTS = sorted(SHIPPED.glob("*.json"))
SCHEMA = SHIPPED.parent / "manifest.schema.json"


def test_both_models_are_shipped():
    assert {p.stem for p in MANIFESTS} == {"instrument", "technique"}


@pytest.mark.parametrize("manifest_path", MANIFESTS, ids=lambda p: p.stem)
def test_manifest_validates_and_names_its_file(manifest_path):
    jsonschema = pytest.importorskip("jsonschema")
    manifest = json.loads(manifest_path.read_text())
    jsonschema.validate(manifest, json.loads(SCHEMA.read_text()))
    model = manifest_path.parent / manifest["file"]
    assert hashlib.sha256(model.read_bytes()).hexdigest() == manifest["sha256"]
    assert model.stat().st_size <= 5_000_000


def test_manifests_carry_the_taxonomy():
    from models.data.taxonomy import FAMILIES, FINE_LABELS, TECHNIQUES

    inst = json.loads((SHIPPED / "instrument.json").read_text())
    fam = [lab["name"] for lab in inst["labels"] if lab["group"] == "family"]
    fine = {lab["name"]: lab["family"] for lab in inst["labels"] if lab["group"] == "fine"}
    assert fam == list(FAMILIES)
    assert fine == {k: v[0] for k, v in FINE_LABELS.items()} and len(fine) >= 24
    assert inst["hop_seconds"] <= 0.1
    tech = json.loads((SHIPPED / "technique.json").read_text())
    assert [lab["name"] for lab in tech["labels"]] == list(TECHNIQUES)
    assert tech["hop_seconds"] <= 0.025


@pytest.mark.parametrize("manifest_path", MANIFESTS, ids=lambda p: p.stem)
def test_golden_activations(manifest_path):
    from models.golden import activations

    golden = np.load(SHIPPED / "golden" / f"{manifest_path.stem}.npy")
    got = activations(manifest_path)
    assert got.shape == golden.shape
    assert np.abs(got - golden).max() <= 1e-4
