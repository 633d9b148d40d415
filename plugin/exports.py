"""Hand results back to the DAW: a MIDI file, Audacity label tracks and CSV, each with a reader.

MIDI (type 1, 960 ticks per quarter note), placed through the session's tempo map so it lines up
when dropped at the session start: track 1 holds the tempo map, time signatures and a marker at
every instrument segment and technique event ("Bass: vibrato"); then, per analysed track, a
track "<name> instruments" (families on C1 upwards, fine labels on C3 upwards, in the model's
label order) and a track "<name> techniques" (from C6 upwards). A note spans its segment, its
velocity is the confidence (1-127), and a text event at its start names the label. Ramps in the
tempo map are written as steps every sixteenth note, exact at every step.

Audacity: one label file per track ("start<TAB>end<TAB>label"); families are named as they
are ("bass"), fine labels with their family ("bass/electric_bass"), techniques as they are.

CSV: one row per instrument segment or technique event: track, kind (instrument | technique),
group, label, family, start, end, confidence.
"""

from __future__ import annotations

import csv
from pathlib import Path

import mido

from .analysis.engine import Analysis, TrackResult
from .analysis.output import numbered_file_stems, remove_stale_numbered_files
from .session.tempo import TempoMap

TICKS_PER_BEAT = 960
RAMP_STEP_BEATS = 0.25
PITCH_BASE = {"family": 24, "fine": 48, "technique": 84}
CSV_FIELDS = ("track", "kind", "group", "label", "family", "start", "end", "confidence")


# ---- MIDI ---------------------------------------------------------------------------------------
def _tempo_steps(tempo: TempoMap) -> list[tuple[float, float]]:
    """(beat, bpm) steps reproducing the map: exact on steps, every RAMP_STEP_BEATS inside ramps."""
    steps = []
    points = tempo.points
    for i, p in enumerate(points):
        nxt = points[i + 1] if i + 1 < len(points) else None
        if p.ramp == "step" or nxt is None or nxt.bpm == p.bpm:
            steps.append((p.beat, p.bpm))
            continue
        beat = p.beat
        while beat < nxt.beat - 1e-9:
            stop = min(beat + RAMP_STEP_BEATS, nxt.beat)
            seconds = tempo.beats_to_seconds(stop) - tempo.beats_to_seconds(beat)
            steps.append((beat, 60.0 * (stop - beat) / seconds))
            beat = stop
    return steps


def _midi_can_hold(numerator: int, denominator: int) -> bool:
    """A time signature a MIDI file can state: 1-255 beats of a power-of-two note value."""
    return 1 <= numerator <= 255 and 1 <= denominator <= 1 << 255 and denominator & (denominator - 1) == 0


def _note_tracks(track: TrackResult, to_tick) -> tuple[list[mido.MidiTrack], list[tuple[int, str]]]:
    """The instruments and techniques tracks of one analysed track, and its markers (tick, text)."""
    markers: list[tuple[int, str]] = []
    out = []
    for kind, groups in (("instruments", ("family", "fine")), ("techniques", ("technique",))):
        timeline = track.timelines.get("instrument" if kind == "instruments" else "technique")
        if timeline is None:
            continue
        events: list[tuple[int, int, mido.Message | mido.MetaMessage]] = []  # (tick, order, message)
        for group in groups:
            columns = [k for k in timeline.keys if k[0] == group]
            for offset, (_, name) in enumerate(columns):
                pitch = PITCH_BASE[group] + offset
                text = name if group != "fine" else f"{timeline.families[timeline.column(group, name)]}/{name}"
                for start, end, conf in timeline.label_segments(group, name):
                    on, off = to_tick(start), max(to_tick(end), to_tick(start) + 1)
                    velocity = max(1, min(127, round(conf * 127)))
                    events.append((on, 1, mido.MetaMessage("text", text=text)))
                    events.append((on, 2, mido.Message("note_on", note=pitch, velocity=velocity)))
                    events.append((off, 0, mido.Message("note_off", note=pitch, velocity=0)))
                    if group != "fine":
                        markers.append((on, f"{track.name}: {name}"))
        midi_track = mido.MidiTrack([mido.MetaMessage("track_name", name=f"{track.name} {kind}")])
        _append_absolute(midi_track, events)
        out.append(midi_track)
    return out, markers


def _append_absolute(midi_track: mido.MidiTrack, events: list[tuple[int, int, object]]) -> None:
    """Append (tick, order, message) events as delta times, sorted by tick then order."""
    now = 0
    for tick, _, message in sorted(events, key=lambda e: (e[0], e[1])):
        midi_track.append(message.copy(time=tick - now))
        now = tick
    midi_track.append(mido.MetaMessage("end_of_track", time=0))


def write_midi(analysis: Analysis, path: str | Path, tempo: TempoMap | None = None) -> Path:
    """The analysis as a MIDI file placed through `tempo` (default: 120 bpm, 4/4)."""
    tempo = tempo or TempoMap.constant()

    def to_tick(seconds: float) -> int:
        return max(0, round(tempo.seconds_to_beats(seconds) * TICKS_PER_BEAT))

    conductor: list[tuple[int, int, object]] = []
    for beat, bpm in _tempo_steps(tempo):
        conductor.append((max(0, round(beat * TICKS_PER_BEAT)), 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))))
    for ts in tempo.time_signatures:
        if not _midi_can_hold(ts.numerator, ts.denominator):
            continue  # e.g. 7/12 from a DAWproject: MIDI denominators are powers of two
        conductor.append((max(0, round(ts.beat * TICKS_PER_BEAT)), 0, mido.MetaMessage(
            "time_signature", numerator=ts.numerator, denominator=ts.denominator)))
    note_tracks = []
    for track in analysis.tracks:
        tracks, markers = _note_tracks(track, to_tick)
        note_tracks += tracks
        conductor += [(tick, 1, mido.MetaMessage("marker", text=text)) for tick, text in markers]
    first = mido.MidiTrack([mido.MetaMessage("track_name", name="Stemscope analysis")])
    _append_absolute(first, conductor)
    mid = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    mid.tracks = [first, *note_tracks]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mid.save(str(path))
    return path


# ---- Audacity labels ----------------------------------------------------------------------------
def label_rows(track: TrackResult) -> list[tuple[float, float, str]]:
    """(start, end, text) for every instrument segment and technique event of one track, in time order."""
    rows = []
    for row in track.instruments():
        text = row["label"] if row["group"] == "family" else f"{row['family']}/{row['label']}"
        rows += [(start, end, text) for start, end, _ in row["segments"]]
    rows += [(ev["start"], ev["end"], ev["label"]) for ev in track.techniques()]
    return sorted(rows)


def write_audacity_labels(analysis: Analysis, folder: str | Path) -> list[Path]:
    """One Audacity label file per track, NN-name.txt; returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem, track in zip(numbered_file_stems(analysis), analysis.tracks):
        path = folder / f"{stem}.txt"
        lines = [f"{start:.6f}\t{end:.6f}\t{text}\n" for start, end, text in label_rows(track)]
        path.write_text("".join(lines), encoding="utf-8")
        paths.append(path)
    remove_stale_numbered_files(folder, ".txt", paths)
    return paths


def read_audacity_labels(path: str | Path) -> list[tuple[float, float, str]]:
    """(start, end, text) rows of an Audacity label file (spectral-selection lines skipped)."""
    rows = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("\\"):
            continue
        parts = line.split("\t")
        try:
            start, end = float(parts[0]), float(parts[1]) if len(parts) > 1 else float(parts[0])
        except ValueError:
            raise ValueError(f"{path}:{number}: not an Audacity label line: {line!r}") from None
        rows.append((start, end, parts[2] if len(parts) > 2 else ""))
    return rows


# ---- CSV ----------------------------------------------------------------------------------------
def csv_rows(analysis: Analysis) -> list[dict]:
    rows = []
    for track in analysis.tracks:
        for row in track.instruments():
            for start, end, conf in row["segments"]:
                rows.append({"track": track.name, "kind": "instrument", "group": row["group"], "label": row["label"],
                             "family": row["family"], "start": start, "end": end, "confidence": conf})
        for ev in track.techniques():
            rows.append({"track": track.name, "kind": "technique", "group": "technique", "label": ev["label"],
                         "family": "", "start": ev["start"], "end": ev["end"], "confidence": ev["confidence"]})
    return rows


def write_csv(analysis: Analysis, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for row in csv_rows(analysis):
            writer.writerow({**row, "start": f"{row['start']:.6f}", "end": f"{row['end']:.6f}",
                             "confidence": f"{row['confidence']:.4f}"})
    return path


def read_csv(path: str | Path) -> list[dict]:
    with Path(path).open(newline="", encoding="utf-8") as f:
        return [{**row, "start": float(row["start"]), "end": float(row["end"]),
                 "confidence": float(row["confidence"])} for row in csv.DictReader(f)]


def write_all(analysis: Analysis, out_dir: str | Path, tempo: TempoMap | None = None) -> dict[str, Path]:
    """Every export into out_dir: analysis.mid, analysis.csv and labels/."""
    out = Path(out_dir)
    write_audacity_labels(analysis, out / "labels")
    return {
        "midi": write_midi(analysis, out / "analysis.mid", tempo),
        "csv": write_csv(analysis, out / "analysis.csv"),
        "labels": out / "labels",
    }
