"""The model card's real-recording table: compared runs are measured, recorded and carried."""

import json
import shutil

import pytest

from models import card

SHIPPED = card.SHIPPED / "instrument.json"
CLIPS = {"Tours_-_Enthusiast_1__bass.mp3": "bass", "Tours_-_Enthusiast_1__drums.mp3": "drums"}


def _copy_of_shipped(folder):
    folder.mkdir()
    manifest = json.loads(SHIPPED.read_text())
    shutil.copy(SHIPPED.parent / manifest["file"], folder / manifest["file"])
    (folder / "instrument.json").write_text(json.dumps(manifest))
    return folder / "instrument.json"


@pytest.mark.skipif(not card.REALDEV.is_dir(), reason=f"the realdev recordings are not at {card.REALDEV}")
def test_a_compared_run_is_recorded_and_carried_into_later_cards(tmp_path, monkeypatch):
    realdev = tmp_path / "realdev"
    realdev.mkdir()
    for name, family in CLIPS.items():
        (realdev / name).symlink_to(card.REALDEV / name)
    (realdev / "labels.json").write_text(json.dumps(CLIPS))
    monkeypatch.setattr(card, "REALDEV", realdev)
    monkeypatch.setattr(card, "SONIC_PI_DIR", tmp_path / "no-sonic-pi")
    monkeypatch.setattr(card, "SESSIONS_DIR", tmp_path / "no-sessions")
    record = tmp_path / "compared.json"
    record.write_text(json.dumps([{"model": "old-run/instrument 0.1.0 (1, 10k)", "stems": "0.5 / 0.6",
                                   "mixes": "0.4 / 0.5", "realdev": "1/2 (50.0%)", "bass": "1/1 (recall 0.50)",
                                   "drums": "0/1 (recall 0.10)", "vocals": "-", "sonic_pi": "-", "piano": "-",
                                   "confusions": "drums → bass", "command": "old-run/instrument (seed 1, cpu): `x`."}]))
    run = _copy_of_shipped(tmp_path / "new-run")

    shipped = json.loads(SHIPPED.read_text())
    what = f"{shipped['version']} ({shipped['training']['seed']}, {shipped['training']['parameters'] / 1000:.0f}k)"
    first = "\n".join(card.real_section(SHIPPED, [run], record))
    rows = [line for line in first.splitlines() if line.startswith("| ")][1:]  # below the header
    names = [row.split(" | ")[0] for row in rows]
    assert names == [f"| shipped/instrument {what}", "| old-run/instrument 0.1.0 (1, 10k)", f"| new-run/instrument {what}"]
    # the copy is the shipped model, so its measured row matches the shipped one cell for cell
    assert rows[0].split(" | ")[1:] == rows[2].split(" | ")[1:]
    assert json.loads(record.read_text())[1]["model"] == f"new-run/instrument {what}"

    shutil.rmtree(run.parent)  # the run's files are gone: its row is carried from the record
    second = "\n".join(card.real_section(SHIPPED, [], record))
    assert rows[2] in second and "new-run/instrument (seed 1, cpu)" in second
