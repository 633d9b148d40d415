"""The bundled demo session: package data, size, stems, deterministic MIDI, the lead's techniques.

The committed files are checked against what plugin/demo/build.py writes (so they never go stale)
and against each other: the lead's MIDI notes and pitch bends must be heard in the lead stem.
"""

from __future__ import annotations

import fnmatch
import io
import re
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np
import pytest
from pedalboard.io import AudioFile

from plugin.demo import build, demo_session_path

REPO = Path(__file__).resolve().parents[1]
SESSION_DIR = demo_session_path().parent
PARTS = {part.name: part for part in build.compose()}
AUDIO_PARTS = [name for name, part in PARTS.items() if part.stem is not None]
SESSION_FRAMES = 1_799_280  # 17 bars of 4 beats at 100 bpm = 40.8 s, at 44.1 kHz


def decode(path: Path) -> tuple[np.ndarray, float]:
    with AudioFile(str(path)) as f:
        return f.read(f.frames), f.samplerate


def lead_midi_file() -> mido.MidiFile:
    return mido.MidiFile(str(SESSION_DIR / "midi" / "lead.mid"))


@dataclass
class LeadScore:
    """The lead's notes (start s, end s, pitch) and its wheel in semitones over time."""

    notes: list[tuple[float, float, int]]
    wheel_times: np.ndarray
    wheel_semitones: np.ndarray
    bent_onsets: list[float]  # times where the wheel is fully down: starts of notes bent into

    def is_bent(self, start: float) -> bool:
        return any(abs(start - t) < 1e-6 for t in self.bent_onsets)

    def wheel_at(self, times: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self.wheel_times, times, side="right") - 1
        return np.where(idx >= 0, self.wheel_semitones[np.maximum(idx, 0)], 0.0)


def read_lead_score(mid: mido.MidiFile) -> LeadScore:
    """Notes and pitch bends of a lead MIDI file, in seconds, with the bend range from RPN 0."""
    tempo = next(m.tempo for m in mido.merge_tracks(mid.tracks) if m.type == "set_tempo")
    tick, rpn, bend_range = 0, [None, None], None
    starts: dict[int, float] = {}
    notes, wheel = [], [(0.0, 0)]
    for msg in mido.merge_tracks(mid.tracks):
        tick += msg.time
        t = mido.tick2second(tick, mid.ticks_per_beat, tempo)
        if msg.type == "control_change" and msg.control in (101, 100):
            rpn[msg.control - 100] = msg.value
        elif msg.type == "control_change" and msg.control == 6 and rpn == [0, 0]:
            bend_range = msg.value
        elif msg.type == "pitchwheel":
            wheel.append((t, msg.pitch))
        elif msg.type == "note_on" and msg.velocity > 0:
            starts[msg.note] = t
        elif msg.type in ("note_on", "note_off") and msg.note in starts:
            notes.append((starts.pop(msg.note), t, msg.note))
    assert bend_range is not None, "the lead states its pitch-bend range (RPN 0)"
    times = np.array([w[0] for w in wheel])
    semitones = np.array([w[1] for w in wheel]) / 8192 * bend_range
    bent = [t for t, value in wheel if value == -8192]
    return LeadScore(sorted(notes), times, semitones, bent)


# ---- the files --------------------------------------------------------------------------------


def test_demo_session_is_package_data():
    path = demo_session_path()
    assert path.is_file() and path.name == "demo.rpp"
    assert SESSION_DIR == REPO / "plugin" / "demo" / "session"
    files = sorted(str(p.relative_to(SESSION_DIR)) for p in SESSION_DIR.rglob("*") if p.is_file())
    assert files == [
        "demo.rpp",
        "midi/bass.mid", "midi/drums.mid", "midi/keys.mid", "midi/lead.mid", "midi/pad.mid",
        "stems/bass.ogg", "stems/drums.ogg", "stems/keys.ogg", "stems/lead.ogg",
    ]
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["*"]
    for name in files:
        assert any(fnmatch.fnmatch(Path(name).name, p) for p in patterns), f"{name} would not be installed"


def test_demo_session_fits_in_3_mb():
    total = sum(p.stat().st_size for p in SESSION_DIR.rglob("*") if p.is_file())
    assert total <= 3_000_000


@pytest.mark.parametrize("name", AUDIO_PARTS)
def test_stem_decodes_at_the_session_length(name):
    audio, rate = decode(SESSION_DIR / "stems" / f"{name}.ogg")
    stem = PARTS[name].stem
    assert rate == 44100
    assert audio.shape == (stem.channels, SESSION_FRAMES)
    peak_db = 20 * np.log10(np.abs(audio).max())
    assert abs(peak_db - stem.peak_dbfs) < 1.5  # normalised before encoding; Vorbis moves peaks a little


def test_midi_is_deterministic_for_a_seed_and_varies_with_it():
    first = build.part_midi("lead", seed=build.SEED)
    assert first == build.part_midi("lead", seed=build.SEED)
    assert first != build.part_midi("lead", seed=build.SEED + 1)
    for name, part in PARTS.items():  # the committed files are what the build writes now
        assert (SESSION_DIR / "midi" / f"{name}.mid").read_bytes() == build.midi_file_bytes(part), name


def test_committed_project_is_what_the_build_writes():
    assert demo_session_path().read_text(encoding="utf-8") == build.project_text(build.compose())


# ---- the REAPER project ------------------------------------------------------------------------


def chunks(text: str, tag: str) -> list[list[str]]:
    """The lines of every `<TAG ...>` chunk (nested chunks included), outermost first."""
    lines = [line.strip() for line in text.splitlines()]
    found = []
    for i, line in enumerate(lines):
        if line == f"<{tag}" or line.startswith(f"<{tag} "):
            depth = 0
            for j in range(i, len(lines)):
                depth += lines[j].startswith("<") - (lines[j] == ">")
                if depth == 0:
                    found.append(lines[i:j + 1])
                    break
    return found


def inline_midi(source: list[str]) -> tuple[int, list[tuple[int, list[int]]]]:
    """(ticks per quarter, [(absolute tick, message bytes)]) of a <SOURCE MIDI chunk."""
    ppq = int(re.fullmatch(r"HASDATA 1 (\d+) QN", source[1]).group(1))
    tick, events = 0, []
    for line in source:
        if line.startswith("E "):
            _, delta, *data = line.split()
            tick += int(delta)
            events.append((tick, [int(b, 16) for b in data]))
    return ppq, events


def test_project_follows_reaper_syntax():
    text = demo_session_path().read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines()]
    assert lines[0].startswith('<REAPER_PROJECT 0.1 "6.80')
    assert lines[-1] == ">"
    assert sum(line.startswith("<") for line in lines) == lines.count(">")
    assert "TEMPO 100 4 4" in lines and "SAMPLERATE 44100 0 0" in lines
    tracks = chunks(text, "TRACK")
    assert [t[1] for t in tracks] == ["NAME Drums", "NAME Bass", "NAME Keys", "NAME Lead", 'NAME "Lead MIDI"',
                                      "NAME Pad"]
    for track in tracks:
        [item] = chunks("\n".join(track), "ITEM")
        assert "POSITION 0" in item and "LENGTH 40.8" in item and "PLAYRATE 1 1 0 -1 0 0.0025" in item
        [source] = chunks("\n".join(item), "SOURCE")
        if source[0] == "<SOURCE VORBIS":
            file = re.fullmatch(r'FILE "(stems/\w+\.ogg)"', source[1]).group(1)
            assert (SESSION_DIR / file).is_file()
        else:
            assert source[0] == "<SOURCE MIDI"
            ppq, events = inline_midi(source)
            assert ppq == 960
            assert events[-1] == (17 * 4 * 960, [0xB0, 0x7B, 0x00])  # REAPER's end, at the item's end


@pytest.mark.parametrize("track, part", [("Lead MIDI", "lead"), ("Pad", "pad")])
def test_inline_midi_is_the_part_file(track, part):
    text = demo_session_path().read_text(encoding="utf-8")
    [chunk] = [t for t in chunks(text, "TRACK") if t[1] in (f"NAME {track}", f'NAME "{track}"')]
    _, events = inline_midi(chunks("\n".join(chunk), "SOURCE")[0])
    mid = mido.MidiFile(str(SESSION_DIR / "midi" / f"{part}.mid"))
    tick, expected = 0, []
    for msg in mid.tracks[1]:
        tick += msg.time
        if not msg.is_meta:
            data = msg.bytes()
            expected.append((tick, data + [0] * (3 - len(data))))
    assert events[:-1] == expected


# ---- the lead's techniques in its MIDI ---------------------------------------------------------


def test_lead_midi_has_vibrato_on_its_long_notes():
    score = read_lead_score(mido.MidiFile(file=io.BytesIO(build.part_midi("lead"))))
    long_notes = [(s, e) for s, e, _ in score.notes if e - s >= 0.85]
    assert len(long_notes) == 14
    for start, end in long_notes:
        times = np.arange(start + 0.3, end, 0.001)  # past the bend into the note
        cents = 100 * score.wheel_at(times)
        crossings = times[np.nonzero(np.diff(cents >= 0))[0]]
        assert crossings.size >= 2, start
        rate = (crossings.size - 1) / 2 / (crossings[-1] - crossings[0])
        assert 4 <= rate <= 8, (start, rate)
        full_depth = np.abs(cents[times >= start + 0.6]).max()  # past the vibrato's fade-in
        assert 45 <= full_depth <= 50, (start, full_depth)


def test_lead_midi_bends_up_a_whole_tone_into_notes():
    score = read_lead_score(mido.MidiFile(file=io.BytesIO(build.part_midi("lead"))))
    bent = [(s, e, p) for s, e, p in score.notes if score.is_bent(s)]
    assert len(bent) == 7
    for start, _, _ in bent:
        rise = score.wheel_at(np.arange(start, start + 0.15, 0.005))
        assert rise[0] == pytest.approx(-2.0)  # starts a whole tone below the written note
        assert np.all(np.diff(rise) >= 0)
        assert score.wheel_at(np.array([start + 0.2]))[0] == pytest.approx(0.0, abs=0.05)


# ---- the lead's MIDI heard in its stem ---------------------------------------------------------


@pytest.fixture(scope="module")
def lead_stem() -> tuple[np.ndarray, float]:
    audio, rate = decode(SESSION_DIR / "stems" / "lead.ogg")
    return audio.mean(axis=0), rate


@dataclass
class PitchSalience:
    """Harmonic-sum salience of MIDI pitches on a 5-cent grid, one row per 10 ms frame."""

    times: np.ndarray
    candidates: np.ndarray
    salience: np.ndarray

    def track(self, low: float = -np.inf, high: float = np.inf) -> np.ndarray:
        """The most salient pitch of each frame between two pitches."""
        allowed = (self.candidates >= low) & (self.candidates <= high)
        return self.candidates[allowed][np.argmax(self.salience[:, allowed], axis=1)]


@pytest.fixture(scope="module")
def lead_salience(lead_stem) -> PitchSalience:
    x, rate = lead_stem
    hop, window, nfft = 441, 2048, 8192
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(x, window // 2), window)[::hop]
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(window), nfft, axis=1))
    candidates = np.arange(60.0, 86.0, 0.05)
    freqs = 440 * 2 ** ((candidates - 69) / 12)
    salience = np.zeros((len(frames), len(candidates)))
    for harmonic in range(1, 6):
        bins = harmonic * freqs * nfft / rate
        low = np.floor(bins).astype(int)
        frac = bins - low
        salience += (spectrum[:, low] * (1 - frac) + spectrum[:, low + 1] * frac) / harmonic
    return PitchSalience(np.arange(len(frames)) * hop / rate, candidates, salience)


@pytest.fixture(scope="module")
def lead_pitch(lead_salience) -> tuple[np.ndarray, np.ndarray]:
    """(frame times, estimated MIDI pitch) of the lead stem."""
    return lead_salience.times, lead_salience.track()


def test_lead_stem_is_silent_until_the_first_lead_note(lead_stem):
    x, rate = lead_stem
    first = read_lead_score(lead_midi_file()).notes[0][0]
    assert first == pytest.approx(9.6)  # bar 5
    envelope = np.abs(x)
    assert envelope[: int((first - 0.05) * rate)].max() < 1e-3
    onset = np.argmax(envelope > 0.01) / rate
    assert first - 0.005 <= onset <= first + 0.02


def test_lead_notes_start_where_the_stem_changes_pitch(lead_pitch):
    times, pitch = lead_pitch
    score = read_lead_score(lead_midi_file())
    lags = []
    for (start, end, note), (_, _, previous) in zip(score.notes[1:], score.notes):
        if note == previous or score.is_bent(start):
            continue
        window = (times >= start - 0.1) & (times < end)
        reached = np.nonzero(np.abs(pitch[window] - note) < 0.5)[0]
        assert reached.size, f"the note at {start:.2f} s is not heard"
        lags.append(times[window][reached[0]] - start)
    lags = np.array(lags)
    assert len(lags) >= 30
    assert np.all((lags > -0.05) & (lags < 0.12))
    assert np.mean((lags >= -0.03) & (lags <= 0.05)) >= 0.8


def test_stem_pitch_follows_notes_and_bends_best_without_a_time_shift(lead_pitch):
    times, pitch = lead_pitch
    score = read_lead_score(lead_midi_file())
    expected = np.full(times.shape, np.nan)
    for start, end, note in score.notes:
        inside = (times >= start + 0.03) & (times < end - 0.03)
        expected[inside] = note + score.wheel_at(times[inside])
    sounding = ~np.isnan(expected)

    def agreement(shift_frames: int) -> float:
        return float(np.mean(np.abs(np.roll(pitch, -shift_frames)[sounding] - expected[sounding]) < 0.25))

    shifts = range(-20, 21)  # +-200 ms
    scores = [agreement(s) for s in shifts]
    assert abs(shifts[int(np.argmax(scores))]) <= 2  # within 20 ms
    assert agreement(0) >= 0.9  # within 25 cents, vibrato and bends included
    assert agreement(5) < 0.8 and agreement(-5) < 0.8


def test_lead_stem_has_the_vibrato(lead_salience):
    times = lead_salience.times
    score = read_lead_score(lead_midi_file())
    checked = 0
    for start, end, note in score.notes:
        if end - start < 1.1:
            continue
        span = (times >= start + 0.6) & (times < end - 0.05)
        cents = 100 * (lead_salience.track(note - 1.5, note + 1.5)[span] - note)
        cents -= cents.mean()
        spectrum = np.abs(np.fft.rfft(cents * np.hanning(cents.size), 1024))
        rate = np.fft.rfftfreq(1024, times[1] - times[0])[np.argmax(spectrum)]
        assert 4 <= rate <= 8, (start, rate)
        assert 35 <= np.percentile(np.abs(cents), 95) <= 65, start
        checked += 1
    assert checked >= 10


@pytest.mark.skipif(shutil.which("fluidsynth") is None or not build.SOUND_FONT.is_file(),
                    reason="needs the fluidsynth command and FluidR3_GM")
def test_rerendered_lead_matches_the_committed_stem(tmp_path):
    part = PARTS["lead"]
    midi_path = tmp_path / "lead.mid"
    midi_path.write_bytes(build.midi_file_bytes(part))
    build.render_part(midi_path, tmp_path / "lead.wav")
    rendered, _ = decode(tmp_path / "lead.wav")
    fresh = build.fit_stem(rendered, part.stem)[0]
    committed = decode(SESSION_DIR / "stems" / "lead.ogg")[0][0]
    assert np.corrcoef(fresh, committed)[0, 1] > 0.98  # the same audio, up to the Vorbis encoding


# ---- through the REAPER reader -----------------------------------------------------------------


def test_demo_loads_as_a_reaper_session():
    pytest.importorskip("plugin.session.readers.reaper")
    from plugin.session import load_session

    session = load_session(demo_session_path())
    assert session.format == "reaper"
    assert session.missing_media == []
    assert session.duration == pytest.approx(40.8)
    assert session.tempo.changes()[0]["bpm"] == pytest.approx(100)
    assert [(t.name, t.kind, len(t.clips), len(t.midi_clips)) for t in session.tracks] == [
        ("Drums", "audio", 1, 0), ("Bass", "audio", 1, 0), ("Keys", "audio", 1, 0), ("Lead", "audio", 1, 0),
        ("Lead MIDI", "midi", 0, 1), ("Pad", "midi", 0, 1),
    ]
    for track in session.tracks[:4]:
        [clip] = track.clips
        assert (clip.start, clip.source_offset, clip.playrate) == (0, 0, 1)
        assert clip.duration == pytest.approx(40.8)
        assert clip.source_duration == pytest.approx(40.8)
        assert not clip.missing and not clip.short
    lead = read_lead_score(lead_midi_file())
    notes = session.tracks[4].notes
    assert [n.pitch for n in notes] == [p for _, _, p in lead.notes]
    assert [n.start for n in notes] == pytest.approx([s for s, _, _ in lead.notes], abs=1e-6)
    bends = [e for e in session.tracks[4].midi_clips[0].events if e.kind == "pitchwheel"]
    assert len(bends) == 1067 and min(e.value for e in bends) == -8192
    assert len(session.tracks[5].notes) == 51
