"""Seeded MIDI parts: determinism, each technique's MIDI, labels against rendered audio, rendering."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from models.data.parts import (
    HIT_KITS, PITCH_BEND_RANGE, STACCATO_MAX_LENGTH, TECHNIQUE_PROGRAMS, make_hits, make_part, kinds_for,
    random_key, techniques_for,
)
from models.data.render import (
    SOUNDFONTS, TRAIN_SOUNDFONTS, VALIDATION_SOUNDFONTS, MissingPresetError, _run_fluidsynth,
    _substitutions, presets_used, render_part, render_parts, soundfont_presets,
)
from models.data.taxonomy import FINE_LABELS, TECHNIQUES

SR = 22050
needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not all(p.is_file() for p in SOUNDFONTS.values()),
    reason="fluidsynth and the three GM soundfonts are needed to render",
)


def _events(part):
    """(seconds, message) for every message of the part's MIDI file."""
    now, out = 0.0, []
    for message in part.midi:
        now += message.time
        out.append((round(now, 6), message))
    return out


def _part_where(kind, label, technique, accept=lambda part: True, **kwargs):
    """The first seeded part with this technique that `accept` takes (deterministic search)."""
    for seed in range(300):
        part = make_part(kind, label, np.random.default_rng(seed), 6.0, 100, "D major", (technique,),
                         **kwargs)
        if accept(part):
            return part
    raise AssertionError(f"no seed gave an acceptable {technique} part")


def _spans(part, label):
    return [(a, b) for a, b, name in part.technique_spans if name == label]


def _bend_semitones(message):
    return message.pitch / 8192 * PITCH_BEND_RANGE


def _pitch_bends(part, start, end):
    return [(t, _bend_semitones(m)) for t, m in _events(part) if m.type == "pitchwheel" and start <= t <= end]


def _frame_db(audio, hop=0.02):
    n = int(hop * SR)
    frames = audio[: len(audio) // n * n].reshape(-1, n)
    return 10 * np.log10((frames ** 2).mean(axis=1) + 1e-12), (np.arange(len(frames)) + 0.5) * hop


# --- determinism and structure ----------------------------------------------------------------


@pytest.mark.parametrize("kind,label,techniques", [
    ("drums", "acoustic_kit", ()),
    ("drums", "hand_percussion", ()),
    ("bass", "electric_bass", ("slide", "bend_up")),
    ("chords", "clean_electric_guitar", ("palm_mute", "vibrato")),
    ("arpeggio", "harp", ("glissando",)),
    ("melody", "violin", ("vibrato", "trill", "pizzicato")),
])
def test_same_seed_gives_identical_bytes_and_labels_and_another_seed_differs(kind, label, techniques):
    def make(seed):
        return make_part(kind, label, np.random.default_rng(seed), 8.0, 97.0, "F# minor", techniques)

    first, again, other = make(42), make(42), make(43)
    assert first.midi_bytes() == again.midi_bytes()
    assert first.labels() == again.labels()
    assert first.midi_bytes() != other.midi_bytes()
    assert first.labels() != other.labels()


def test_every_label_kind_and_technique_gives_a_consistent_part():
    rng = np.random.default_rng(0)
    for label in FINE_LABELS:
        for kind in kinds_for(label):
            for technique in (None,) + techniques_for(label, kind):
                techniques = () if technique is None else (technique,)
                part = make_part(kind, label, rng, 6.0, float(rng.uniform(60, 180)), random_key(rng),
                                 techniques)
                where = f"{label} {kind} {techniques}"
                assert part.family == FINE_LABELS[label][0] and part.fine_label == label
                assert part.is_drum == (kind == "drums") and part.channel == (9 if part.is_drum else 0)
                assert part.bank == (128 if part.is_drum else 0)
                assert part.note_spans, where
                assert all(0 <= a < b <= part.duration for a, b in part.note_spans), where
                assert all(0 <= a < b <= part.duration and name in TECHNIQUES
                           for a, b, name in part.technique_spans), where
                if technique is not None:
                    assert technique in {name for _, _, name in part.technique_spans}, where
                # the MIDI plays exactly the notes the part reports, at the same milliseconds
                ons, offs = {}, []
                for t, m in _events(part):
                    if m.type == "note_on":
                        ons.setdefault(m.note, []).append((t, m.velocity))
                    elif m.type == "note_off":
                        start, velocity = ons[m.note].pop(0)
                        offs.append((start, t, m.note, velocity))
                assert sorted(offs) == sorted(part.notes), where
                assert all(0 <= m.note <= 127 for _, m in _events(part) if m.type == "note_on")


def test_impossible_requests_are_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="palm_mute"):
        make_part("melody", "flute", rng, 5.0, 100, "C major", ("palm_mute",))
    with pytest.raises(ValueError, match="pizzicato"):
        make_part("chords", "acoustic_piano", rng, 5.0, 100, "C major", ("pizzicato",))
    with pytest.raises(ValueError, match="drums"):
        make_part("drums", "violin", rng, 5.0, 100, "C major")
    with pytest.raises(ValueError, match="singing_voice"):
        make_part("melody", "singing_voice", rng, 5.0, 100, "C major")
    with pytest.raises(ValueError, match="key"):
        make_part("melody", "flute", rng, 5.0, 100, "H dorian")
    with pytest.raises(ValueError, match="program"):
        make_part("melody", "flute", rng, 5.0, 100, "C major", program=0)


@pytest.mark.parametrize("label", ["acoustic_kit", "drum_machine", "hand_percussion", "electric_bass",
                                   "acoustic_piano", "distorted_guitar", "string_section", "flute"])
def test_hits_are_isolated_events_with_silence_around_them(label):
    def make(seed):
        return make_hits(label, np.random.default_rng(seed), 8.0, 110.0, "A minor")

    first, again = make(3), make(3)
    assert first.midi_bytes() == again.midi_bytes() and first.labels() == again.labels()
    assert first.midi_bytes() != make(4).midi_bytes()
    for seed in range(8):
        part = make(seed)
        assert part.fine_label == label and part.family == FINE_LABELS[label][0]
        assert part.note_spans and all(0 <= a < b <= part.duration for a, b in part.note_spans)
        assert not part.technique_spans
        if label in ("acoustic_kit", "drum_machine"):
            assert part.is_drum and part.program in HIT_KITS[label]
            assert not {p for _, _, p, _ in part.notes} & {54, 56, 60, 61, 62, 63, 64, 69, 70, 75, 76, 77}
        # several events with silence (no label) between them (rolls and phrases may leave shorter gaps)
        gaps = [b[0] - a[1] for a, b in zip(part.note_spans, part.note_spans[1:])]
        assert sum(g >= 0.2 for g in gaps) >= 1
        assert sum(b - a for a, b in part.note_spans) < 0.95 * part.duration


# --- each technique is the MIDI it claims -------------------------------------------------------


def test_pitch_bend_range_is_set_with_rpn_0_before_anything_plays():
    part = make_part("melody", "synth_lead", np.random.default_rng(1), 4.0, 120, "A minor", ("bend_up",))
    setup = [m for t, m in _events(part) if t == 0 and m.type == "control_change"]
    pairs = [(m.control, m.value) for m in setup]
    rpn = pairs.index((101, 0))
    assert pairs[rpn:rpn + 6] == [(101, 0), (100, 0), (6, PITCH_BEND_RANGE), (38, 0), (101, 127), (100, 127)]


def test_pitch_bend_vibrato_oscillates_at_4_to_8_hz_with_10_to_100_cents():
    checked = 0
    for seed in range(40):
        part = make_part("melody", "violin", np.random.default_rng(seed), 6.0, 100, "D major", ("vibrato",))
        (start, end), = _spans(part, "vibrato")
        bends = _pitch_bends(part, start, end)
        if not bends:
            continue  # the modulation-wheel variant
        values = np.array([v for _, v in bends])
        signs = np.sign(values[np.abs(values) > 1e-3])
        half_cycles = np.count_nonzero(np.diff(signs))
        rate = (half_cycles + 1) / 2 / (end - start)
        depth_cents = np.abs(values).max() * 100
        assert 4.0 <= rate <= 8.0, (seed, rate)
        assert 9.5 <= depth_cents <= 100.5, (seed, depth_cents)
        assert bends[0][0] == start and bends[-1] == (end, 0.0)  # the LFO is the span, ending centred
        assert min(t for t, _ in bends) >= start and len(bends) >= 20 * (end - start)
        checked += 1
    assert checked >= 10


def test_modulation_wheel_vibrato_is_cc1_inside_the_span_only():
    def has_cc1(part):
        return any(m.type == "control_change" and m.control == 1 and m.value > 0 for _, m in _events(part))

    part = _part_where("melody", "flute", "vibrato", has_cc1)
    (start, end), = _spans(part, "vibrato")
    wheel = [(t, m.value) for t, m in _events(part) if m.type == "control_change" and m.control == 1]
    assert min(t for t, v in wheel if v > 0) == start and all(t <= end for t, v in wheel if v > 0)
    assert max(v for _, v in wheel) >= 50 and wheel[-1] == (end, 0)
    assert not _pitch_bends(part, start, end)


@pytest.mark.parametrize("technique", ["bend_up", "bend_down"])
def test_bends_move_the_pitch_one_to_two_semitones_within_the_span(technique):
    for seed in range(12):
        part = make_part("melody", "distorted_guitar", np.random.default_rng(seed), 5.0, 100, "E minor",
                         (technique,))
        (start, end), = _spans(part, technique)
        ramp = _pitch_bends(part, start, end)
        before = [v for t, v in _pitch_bends(part, start - 0.5, start - 1e-6)]
        origin = before[-1] if before else 0.0
        assert ramp[-1][0] == end
        moved = ramp[-1][1] - origin
        assert 1.0 - 1e-3 <= abs(moved) <= 2.0 + 1e-3, (seed, moved)
        assert (moved > 0) == (technique == "bend_up")
        steps = np.diff([origin] + [v for _, v in ramp])
        assert np.all(steps >= -1e-9) if technique == "bend_up" else np.all(steps <= 1e-9)


def test_slides_glide_by_pitch_bend_or_by_portamento_exactly_over_the_span():
    kinds = set()
    for seed in range(16):
        part = make_part("melody", "synth_lead", np.random.default_rng(seed), 5.0, 100, "G major", ("slide",))
        (start, end), = _spans(part, "slide")
        events = _events(part)
        portamento = [(t, m) for t, m in events if m.type == "control_change" and m.control in (5, 37, 65)
                      and start <= t < end]
        if portamento:
            values = {m.control: m.value for _, m in portamento}
            assert values[65] == 127 and all(t == start for t, _ in portamento)
            assert values[5] * 128 + values[37] == round((end - start) * 1000)  # glide time in ms
            assert any(m.type == "note_on" and t == start for t, m in events)
            kinds.add("portamento")
        else:
            ramp = _pitch_bends(part, start, end)
            assert ramp[-1][0] == end and abs(ramp[-1][1]) >= 1.0
            assert np.all(np.diff([v for _, v in ramp]) * np.sign(ramp[-1][1]) >= -1e-9)
            kinds.add("bend")
    assert kinds == {"portamento", "bend"}


def _notes_in(part, start, end):
    return sorted(n for n in part.notes if start <= n[0] < end)


def test_staccato_notes_are_short_and_detached():
    part = _part_where("melody", "trumpet", "staccato")
    spans = _spans(part, "staccato")
    assert len(spans) >= 3
    for start, end in spans:
        assert end - start <= STACCATO_MAX_LENGTH + 1e-9
        assert all(e - s <= STACCATO_MAX_LENGTH + 1e-9 for s, e, _, _ in _notes_in(part, start, end))
    for (start, end), (next_start, _) in zip(spans, spans[1:]):
        assert next_start - end >= end - start  # the gap is at least as long as the note


@pytest.mark.parametrize("technique,low,high", [("tremolo", 8.0, 20.0), ("trill", 8.0, 16.0),
                                                ("glissando", 1 / 0.06, 1 / 0.025)])
def test_fast_figures_repeat_at_their_rate(technique, low, high):
    part = _part_where("melody", "flute" if technique != "tremolo" else "mallets", technique)
    (start, end), = _spans(part, technique)
    notes = _notes_in(part, start, end)
    onsets = np.array([n[0] for n in notes])
    rate = 1 / np.median(np.diff(onsets))
    assert low - 0.5 <= rate <= high + 0.5
    pitches = [n[2] for n in notes]
    if technique == "tremolo":
        assert len(set(pitches)) == 1
    elif technique == "trill":
        assert len(set(pitches)) == 2 and max(pitches) - min(pitches) in (1, 2)
        assert all(a != b for a, b in zip(pitches, pitches[1:]))
    else:
        steps = np.diff(pitches)
        assert np.all(np.abs(steps) <= 2) and (np.all(steps > 0) or np.all(steps < 0))
    assert notes[0][0] == start and max(n[1] for n in notes) == end


@pytest.mark.parametrize("kind,label,technique", [("melody", "cello", "pizzicato"),
                                                  ("chords", "clean_electric_guitar", "palm_mute"),
                                                  ("melody", "acoustic_guitar", "harmonic"),
                                                  ("chords", "string_section", "tremolo")])
def test_program_techniques_switch_to_their_gm_preset_for_the_span_only(kind, label, technique):
    program = TECHNIQUE_PROGRAMS[technique]

    def switches(part):
        return part.program != program and any(m.type == "program_change" and m.program == program
                                               for _, m in _events(part))

    part = _part_where(kind, label, technique, switches)
    current = None
    for t, m in _events(part):
        if m.type == "program_change":
            current = m.program
        elif m.type == "note_on":
            inside = any(a <= t < b for a, b in _spans(part, technique))
            assert current == (program if inside else part.program), (t, current)


def test_whole_parts_in_a_technique_program_are_labelled_throughout():
    part = make_part("chords", "string_section", np.random.default_rng(3), 5.0, 90, "C major", program=45)
    spans = _spans(part, "pizzicato")
    assert spans and spans[0][0] == part.notes[0][0] and spans[-1][1] == max(n[1] for n in part.notes)
    assert all(any(a <= start < b for a, b in spans) for start, _, _, _ in part.notes)


def test_no_controller_or_program_leaks_past_a_gesture():
    rng = np.random.default_rng(5)
    cases = [("melody", "synth_lead"), ("chords", "clean_electric_guitar"), ("melody", "violin"),
             ("melody", "saxophone"), ("bass", "electric_bass"), ("chords", "string_section")]
    for _ in range(6):
        for kind, label in cases:
            allowed = techniques_for(label, kind)
            techniques = tuple(rng.choice(allowed, size=3))
            part = make_part(kind, label, rng, 12.0, 110, random_key(rng), techniques)
            state = {"bend": 0, "mod": 0, "portamento": 0, "program": part.program}
            spans = [(a, b) for a, b, _ in part.technique_spans]
            ends = {(n[0], n[2]): n[1] for n in part.notes}
            for t, m in _events(part):
                if m.type == "pitchwheel":
                    state["bend"] = m.pitch
                elif m.type == "control_change" and m.control in (1, 65):
                    state["mod" if m.control == 1 else "portamento"] = m.value
                elif m.type == "program_change":
                    state["program"] = m.program
                elif m.type == "note_on":
                    end = ends[(t, m.note)]
                    if not any(a < end and t < b for a, b in spans):  # a plain note
                        assert state == {"bend": 0, "mod": 0, "portamento": 0, "program": part.program}, \
                            (label, techniques, t, state)


# --- rendering ------------------------------------------------------------------------------------


def test_train_and_validation_soundfonts_are_split():
    assert TRAIN_SOUNDFONTS == ("fluidr3", "timgm6mb")
    assert VALIDATION_SOUNDFONTS == ("musescore",)
    assert set(TRAIN_SOUNDFONTS) | set(VALIDATION_SOUNDFONTS) == set(SOUNDFONTS)
    assert SOUNDFONTS["musescore"].name == "MuseScore_General.sf3"
    assert SOUNDFONTS["fluidr3"].name == "FluidR3_GM.sf2" and SOUNDFONTS["timgm6mb"].name == "TimGM6mb.sf2"


@needs_fluidsynth
def test_note_spans_match_rendered_energy():
    def gappy(part):  # a part with a long rest in it
        gaps = [b[0] - a[1] for a, b in zip(part.note_spans, part.note_spans[1:])]
        return gaps and max(gaps) >= 1.5

    part = next(p for seed in range(200)
                for p in [make_part("melody", "clarinet", np.random.default_rng(seed), 5.0, 110, "Bb major")]
                if gappy(p))
    audio = render_part(part, "fluidr3")
    assert audio.dtype == np.float32 and audio.shape == (round(part.duration * SR),)
    db, t = _frame_db(audio)
    peak = db.max()
    for start, end in part.note_spans:
        inside = db[(t >= start) & (t < end)]
        assert inside.max() > peak - 30, (start, end)
    far = np.array([all(t0 < a - 0.3 or t0 > b + 0.3 for a, b in part.note_spans) for t0 in t])
    assert far.any() and db[far].max() < peak - 50


@needs_fluidsynth
def test_drums_render_from_bank_128_and_the_kit_program_matters():
    kit = make_part("drums", "acoustic_kit", np.random.default_rng(2), 2.5, 120, "C major", program=0)
    machine = make_part("drums", "drum_machine", np.random.default_rng(2), 2.5, 120, "C major")
    assert kit.channel == machine.channel == 9 and kit.bank == machine.bank == 128
    assert presets_used(kit.midi) == {(128, 0)} and presets_used(machine.midi) == {(128, machine.program)}
    same_hits_on_808 = make_part("drums", "acoustic_kit", np.random.default_rng(2), 2.5, 120, "C major",
                                 program=0)
    same_hits_on_808.midi.tracks[0][:] = [m.copy(program=25) if m.type == "program_change" else m
                                          for m in same_hits_on_808.midi.tracks[0]]
    standard, tr808 = render_parts([kit, same_hits_on_808], "timgm6mb")
    db, t = _frame_db(standard)
    assert db.max() > -40
    first_hit = kit.notes[0][0]
    assert db[(t > first_hit) & (t < first_hit + 0.1)].max() > db.max() - 20
    assert np.abs(standard - tr808).max() > 0.1 * np.abs(standard).max()


@needs_fluidsynth
@pytest.mark.parametrize("soundfont", sorted(SOUNDFONTS))
def test_each_soundfont_renders_a_program(soundfont):
    part = make_part("melody", "trumpet", np.random.default_rng(4), 1.5, 120, "C major")
    audio = render_part(part, soundfont)
    assert audio.shape == (round(part.duration * SR),) and np.isfinite(audio).all()
    assert np.sqrt(np.mean(audio ** 2)) > 1e-3


@needs_fluidsynth
def test_a_preset_the_soundfont_lacks_is_refused_not_substituted(tmp_path):
    part = make_part("drums", "acoustic_kit", np.random.default_rng(0), 1.5, 120, "C major", program=8)
    assert (128, 8) in soundfont_presets("fluidr3") and (128, 9) in soundfont_presets("fluidr3")
    assert (128, 9) not in soundfont_presets("timgm6mb")
    part.midi.tracks[0][:] = [m.copy(program=9) if m.type == "program_change" else m
                              for m in part.midi.tracks[0]]
    render_part(part, "fluidr3")
    with pytest.raises(MissingPresetError, match=r"\(128, 9\)"):
        render_part(part, "timgm6mb")
    # fluidsynth itself would substitute silently and only warn; that warning is what we parse
    midi_path, wav_path = tmp_path / "missing.mid", tmp_path / "missing.wav"
    part.midi.save(midi_path)
    stderr = _run_fluidsynth(SOUNDFONTS["timgm6mb"], midi_path, wav_path, SR, timeout=60)
    assert wav_path.is_file() and _substitutions(stderr) == [(9, 128, 9)]


@needs_fluidsynth
def test_parts_rendered_together_match_parts_rendered_alone():
    bells = make_part("melody", "mallets", np.random.default_rng(8), 2.0, 100, "C major", program=14)
    bass = next(p for seed in range(100)
                for p in [make_part("bass", "synth_bass", np.random.default_rng(seed), 2.3456, 100, "C major")]
                if p.notes[0][0] >= 0.3)  # starts with a rest, where the bells must not ring on
    together = render_parts([bells, bass], "fluidr3")
    alone = [render_part(p, "fluidr3") for p in (bells, bass)]
    assert [len(a) for a in together] == [round(2.0 * SR), round(2.346 * SR)]
    np.testing.assert_array_equal(together[0], alone[0])
    np.testing.assert_array_equal(together[1], alone[1])
    assert np.abs(together[1][: int(0.3 * SR)]).max() == 0.0


@needs_fluidsynth
def test_hits_render_as_sound_inside_their_spans_and_silence_outside():
    for label in ("acoustic_kit", "hand_percussion", "clarinet"):
        part = make_hits(label, np.random.default_rng(1), 6.0, 100.0, "C major")
        audio = render_part(part, "fluidr3")
        db, t = _frame_db(audio)
        peak = db.max()
        assert peak > -60
        for start, end in part.note_spans:
            assert db[(t >= start) & (t < end)].max() > peak - 35, (label, start, end)
        far = np.array([all(t0 < a - 0.3 or t0 > b + 0.3 for a, b in part.note_spans) for t0 in t])
        if far.any():
            assert db[far].max() < peak - 30, label  # kit tails (rooms, cymbals) outlast their label a little
