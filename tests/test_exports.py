"""plugin.exports: MIDI (tempo-aware), Audacity labels and CSV, each read back."""

from __future__ import annotations

import mido
import numpy as np
import pytest

from plugin.analysis import Analysis, Timeline, TrackResult
from plugin.exports import (
    PITCH_BASE,
    TICKS_PER_BEAT,
    label_rows,
    read_audacity_labels,
    read_csv,
    write_all,
    write_audacity_labels,
    write_csv,
    write_midi,
)
from plugin.session import TempoMap, TimeSignature

HOP = 0.08


def timeline(group_labels: dict[str, list[str]], spans: dict[tuple[str, str], list[tuple[float, float, float]]],
             seconds: float, hop: float = HOP) -> Timeline:
    """A timeline whose labels are active (at a given level) exactly over the given spans."""
    keys = [(g, n) for g, names in group_labels.items() for n in names]
    acts = np.zeros((round(seconds / hop), len(keys)), np.float32)
    for (g, n), items in spans.items():
        for start, end, level in items:
            acts[round(start / hop):round(end / hop), keys.index((g, n))] = level
    families = [n if g == "family" else ("bass" if g == "fine" else None) for g, n in keys]
    return Timeline(acts, [n for _, n in keys], [g for g, _ in keys], families,
                    np.full(len(keys), 0.5), hop, min_durations={"family": (0, 0), "fine": (0, 0), "technique": (0, 0)})


@pytest.fixture
def analysis() -> Analysis:
    inst = timeline({"family": ["drums", "bass"], "fine": ["electric_bass"]},
                    {("family", "bass"): [(0.4, 2.0, 0.9), (5.2, 7.6, 0.75)],
                     ("fine", "electric_bass"): [(0.4, 2.0, 0.8)],
                     ("family", "drums"): [(0.0, 8.0, 1.0)]}, 8.0)
    tech = timeline({"technique": ["vibrato", "bend_up"]},
                    {("technique", "vibrato"): [(1.0, 1.5, 0.7)], ("technique", "bend_up"): [(6.02, 6.3, 0.6)]},
                    8.0, hop=0.02)
    bass = TrackResult("Bass, DI", 1, 8.0, {"instrument": inst, "technique": tech}, {"instrument": "CPU", "technique": "CPU"})
    empty = TrackResult("Silent", 2, 8.0, {"instrument": timeline({"family": ["drums"]}, {}, 8.0)}, {"instrument": "CPU"})
    return Analysis("x.rpp", "reaper", [{"name": "instrument", "version": "0", "sha256": "0" * 64}], [bass, empty])


def note_times(path) -> dict[str, list[tuple[float, float, int, int]]]:
    """(start s, end s, pitch, velocity) per MIDI track name, timed by mido through the tempo map."""
    mid = mido.MidiFile(path)
    tempo_events = []  # (tick, tempo)
    for msg_tick in _absolute(mid.tracks[0]):
        if msg_tick[1].type == "set_tempo":
            tempo_events.append((msg_tick[0], msg_tick[1].tempo))

    def seconds(tick: int) -> float:
        total, last_tick, tempo = 0.0, 0, 500000
        for t, value in tempo_events:
            if t > tick:
                break
            total += mido.tick2second(t - last_tick, mid.ticks_per_beat, tempo)
            last_tick, tempo = t, value
        return total + mido.tick2second(tick - last_tick, mid.ticks_per_beat, tempo)

    out = {}
    for track in mid.tracks[1:]:
        open_notes, notes = {}, []
        for tick, msg in _absolute(track):
            if msg.type == "note_on" and msg.velocity > 0:
                open_notes[msg.note] = (tick, msg.velocity)
            elif msg.type in ("note_off", "note_on"):
                start, velocity = open_notes.pop(msg.note)
                notes.append((seconds(start), seconds(tick), msg.note, velocity))
        out[track.name] = notes
    return out


def _absolute(track):
    tick = 0
    for msg in track:
        tick += msg.time
        yield tick, msg


@pytest.mark.parametrize("tempo", [
    None,
    TempoMap.from_seconds([(0.0, 90.0, "step"), (3.0, 140.0, "linear"), (6.0, 70.0, "step")],
                          [TimeSignature(0.0, 7, 8)]),
    TempoMap.from_beats([(0.0, 100.0, "linear"), (8.0, 160.0, "step")]),
], ids=["default", "steps-and-time-ramp", "beat-ramp"])
def test_midi_notes_land_on_the_segments_through_the_tempo_map(analysis, tmp_path, tempo):
    path = write_midi(analysis, tmp_path / "a.mid", tempo)
    mid = mido.MidiFile(path)
    assert mid.type == 1 and mid.ticks_per_beat == TICKS_PER_BEAT
    names = [t.name for t in mid.tracks]
    assert names == ["Stemscope analysis", "Bass, DI instruments", "Bass, DI techniques", "Silent instruments"]
    notes = note_times(path)
    bass = notes["Bass, DI instruments"]
    want = [(0.4, 2.0, PITCH_BASE["family"] + 1), (5.2, 7.6, PITCH_BASE["family"] + 1),
            (0.4, 2.0, PITCH_BASE["fine"]), (0.0, 8.0, PITCH_BASE["family"])]
    for start, end, pitch in want:
        match = [n for n in bass if n[2] == pitch and abs(n[0] - start) < 2e-3]
        assert match, (start, pitch, bass)
        assert match[0][1] == pytest.approx(end, abs=2e-3)
    velocity = {n[0]: n[3] for n in bass if n[2] == PITCH_BASE["family"] + 1}
    assert sorted(velocity.values()) == [round(0.75 * 127), round(0.9 * 127)]
    tech = notes["Bass, DI techniques"]
    assert [(round(s, 2), round(e, 2), p) for s, e, p, _ in tech] == [
        (1.0, 1.5, PITCH_BASE["technique"]), (6.02, 6.3, PITCH_BASE["technique"] + 1)]
    assert notes["Silent instruments"] == []
    markers = [m.text for m in mid.tracks[0] if m.type == "marker"]
    assert "Bass, DI: vibrato" in markers and "Bass, DI: bass" in markers
    texts = [m.text for m in mid.tracks[1] if m.type == "text"]
    assert "bass/electric_bass" in texts


def test_midi_time_signatures_are_written(analysis, tmp_path):
    tempo = TempoMap.from_beats([(0.0, 120.0, "step")], [TimeSignature(0.0, 3, 4), TimeSignature(6.0, 6, 8)])
    mid = mido.MidiFile(write_midi(analysis, tmp_path / "a.mid", tempo))
    sigs = [(msg.numerator, msg.denominator) for msg in mid.tracks[0] if msg.type == "time_signature"]
    assert sigs == [(3, 4), (6, 8)]


def test_midi_leaves_out_time_signatures_it_cannot_state(analysis, tmp_path):
    """A DAWproject may say 7/12, a REAPER point 300/4: the file is written all the same."""
    tempo = TempoMap.from_beats([(0.0, 120.0, "step")], [TimeSignature(0.0, 4, 4), TimeSignature(4.0, 7, 12),
                                                        TimeSignature(8.0, 300, 4), TimeSignature(12.0, 5, 8)])
    mid = mido.MidiFile(write_midi(analysis, tmp_path / "a.mid", tempo))
    sigs = [(msg.numerator, msg.denominator) for msg in mid.tracks[0] if msg.type == "time_signature"]
    assert sigs == [(4, 4), (5, 8)]


def test_audacity_labels_round_trip(analysis, tmp_path):
    paths = write_audacity_labels(analysis, tmp_path / "labels")
    assert [p.name for p in paths] == ["01-Bass_DI.txt", "02-Silent.txt"]
    rows = read_audacity_labels(paths[0])
    assert rows == [(round(s, 6), round(e, 6), text) for s, e, text in label_rows(analysis.tracks[0])]
    assert ("bass/electric_bass" in {text for _, _, text in rows}) and ("vibrato" in {t for _, _, t in rows})
    assert read_audacity_labels(paths[1]) == []


def test_a_second_export_leaves_no_stale_numbered_files_and_nothing_else_is_touched(analysis, tmp_path):
    from dataclasses import replace

    from plugin.analysis import read_analysis, write_analysis

    out = tmp_path / "out"
    write_analysis(analysis, out)
    write_audacity_labels(analysis, out / "labels")
    (out / "labels" / "notes.txt").write_text("mine")
    (out / "frames" / "mine.npz").write_bytes(b"x")
    fewer = replace(analysis, tracks=[replace(analysis.tracks[1], name="Renamed")])
    write_analysis(fewer, out)
    assert [p.name for p in write_audacity_labels(fewer, out / "labels")] == ["01-Renamed.txt"]
    assert sorted(p.name for p in (out / "labels").iterdir()) == ["01-Renamed.txt", "notes.txt"]
    assert sorted(p.name for p in (out / "frames").iterdir()) == ["01-Renamed.npz", "mine.npz"]
    assert [t.name for t in read_analysis(out).tracks] == ["Renamed"]


def test_audacity_reader_skips_spectral_lines_and_names_bad_lines(tmp_path):
    path = tmp_path / "l.txt"
    path.write_text("1.5\t2.5\tvoice\n\\\t100\t2000\n3\t3\n")
    assert read_audacity_labels(path) == [(1.5, 2.5, "voice"), (3.0, 3.0, "")]
    path.write_text("one\ttwo\tx\n")
    with pytest.raises(ValueError, match="l.txt:1"):
        read_audacity_labels(path)


def test_csv_round_trip(analysis, tmp_path):
    rows = read_csv(write_csv(analysis, tmp_path / "a.csv"))
    assert {(r["track"], r["kind"], r["label"]) for r in rows} >= {
        ("Bass, DI", "instrument", "bass"), ("Bass, DI", "technique", "vibrato"), ("Bass, DI", "instrument", "electric_bass")}
    vib = next(r for r in rows if r["label"] == "vibrato")
    assert (vib["start"], vib["end"], vib["confidence"]) == (pytest.approx(1.0), pytest.approx(1.5), pytest.approx(0.7, abs=1e-3))
    assert len(rows) == len(label_rows(analysis.tracks[0]))


def test_write_all(analysis, tmp_path):
    written = write_all(analysis, tmp_path / "out")
    assert written["midi"].is_file() and written["csv"].is_file() and len(list(written["labels"].iterdir())) == 2
