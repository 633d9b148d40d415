"""The procedural synthesisers: deterministic, in tune, free of aliasing, and labelled where they sound."""

import numpy as np
import pytest

from models.data import synths

RATE = 16000


def _harmonic_share(audio: np.ndarray, f0: float, lowest_ratio: float = 0.5) -> float:
    """Share of the spectrum's energy (above 20 Hz) near multiples of f0 * lowest_ratio."""
    spec = np.abs(np.fft.rfft(audio * np.hanning(len(audio)))) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / RATE)
    base = f0 * lowest_ratio
    multiple = freqs / base
    audible = freqs > 20
    tolerance = max(0.03 * f0, 3 * RATE / len(audio))  # the Hann window's main lobe
    near = (np.abs(multiple - np.round(multiple)) * base <= tolerance) & audible
    return float(spec[near].sum() / spec[audible].sum())


@pytest.mark.parametrize("label", synths.LABELS)
def test_play_is_deterministic_and_patches_vary(label):
    notes = [(0.1, 0.6, 60, 100), (0.8, 1.4, 64, 80)]
    one = synths.play(label, notes, 2.0, RATE, np.random.default_rng(3))
    again = synths.play(label, notes, 2.0, RATE, np.random.default_rng(3))
    assert np.array_equal(one.audio, again.audio) and one.note_spans == again.note_spans
    assert one.audio.dtype == np.float32 and len(one.audio) == 2 * RATE and np.isfinite(one.audio).all()
    patches = {repr(synths.random_patch(label, np.random.default_rng(seed))) for seed in range(8)}
    assert len(patches) == 8


_STEADY = synths.Envelope(0.005, 0.2, 0.8, 0.1)
_TUNED = {  # patches without vibrato or detune, at the top and bottom of their registers
    "saw lead": (synths.Patch("saw", (synths.Oscillator("saw", 1.0),), _STEADY, cutoff_hz=8000), 91),
    "pulse and sub bass": (synths.Patch("bass", (synths.Oscillator("pulse", 1.0, 1.0, 0.2),
                                                  synths.Oscillator("sine", 0.8, 0.5)), _STEADY,
                                        cutoff_hz=300, resonance=6.0, poles=4, filter_octaves=3.0), 28),
    "fm lead": (synths.Patch("fm", (), _STEADY, fm_ratio=3.0, fm_index=3.0), 86),
    "full drawbars": (synths.Organ("organ", "tonewheel", tuple((r, 1.0) for r in synths._DRAWBARS), _STEADY,
                                   percussion=(3.0, 1.0, 0.3), rotary_hz=0.8, rotary_depth=0.3), 96),
    "driven square lead": (synths.Patch("driven", (synths.Oscillator("square", 1.0),), _STEADY,
                                        cutoff_hz=8000, drive=6.0), 84),
    "driven drawbars": (synths.Organ("organ", "tonewheel", ((1.0, 1.0), (2.0, 0.7), (3.0, 0.5)), _STEADY,
                                     drive=4.0), 79),
}


@pytest.mark.parametrize("name", _TUNED)
def test_notes_are_in_tune_and_do_not_alias(name):
    """The held note's energy lies on its harmonics (the 16' drawbar and the sub-oscillator sound
    an octave down): nothing folds back from above Nyquist, even at the top of the register."""
    patch, pitch = _TUNED[name]
    out = synths.play("synth_lead", [(0.0, 1.5, pitch, 100)], 1.5, RATE, np.random.default_rng(0), patch=patch)
    held = out.audio[int(0.3 * RATE):int(1.4 * RATE)]
    assert 1 - _harmonic_share(held, synths.midi_hz(pitch)) < 3e-4  # naive tanh drive: 4e-4 to 3e-3


@pytest.mark.parametrize("label", synths.LABELS)
def test_random_patches_sound_at_the_note_pitch(label):
    """Whatever patch is drawn, most of a held note's energy lies near its harmonics."""
    pitch = {"synth_bass": 36, "synth_pad": 60, "synth_lead": 72, "organ": 67}[label]
    for seed in range(6):
        out = synths.play(label, [(0.0, 1.5, pitch, 100)], 1.5, RATE, np.random.default_rng(seed))
        held = out.audio[int(0.5 * RATE):int(1.4 * RATE)]
        assert _harmonic_share(held, synths.midi_hz(pitch)) > 0.6, (seed, out.patch)


@pytest.mark.parametrize("label", synths.LABELS)
def test_labels_cover_the_sound_and_its_release_and_nothing_else(label):
    """Labelled frames sound (within 40 dB of the part's loudest), unlabelled ones are silent, and
    a label ends when the release, drive included, has fallen 40 dB."""
    notes = [(0.2, 0.7, 57, 100), (2.0, 2.4, 62, 100)]
    for seed in range(8):
        out = synths.play(label, notes, 4.0, RATE, np.random.default_rng(seed))
        patch = synths.random_patch(label, np.random.default_rng(seed))  # the patch play drew first
        longest = patch.amp.release * (1 + synths._drive_lift_db(patch.drive) / 40)
        assert [s for s, _ in out.note_spans] == [0.2, 2.0]
        for (_, end, *_), (_, span_end) in zip(notes, out.note_spans):
            assert end < span_end <= end + longest + 1e-9
        frame = RATE // 100
        rms = np.sqrt(np.mean(out.audio[: 400 * frame].reshape(400, frame) ** 2, axis=1))
        peak = rms.max()
        inside = [k for k in range(400) if any(s + 0.05 <= k / 100 < min(e, s + 0.3) for s, e in out.note_spans)]
        outside = [k for k in range(400) if all(k / 100 < s or k / 100 >= e + 0.02 for s, e in out.note_spans)]
        assert rms[inside].min() > peak * 10 ** (-40 / 20), (seed, out.patch)
        assert rms[outside].max() < peak * 10 ** (-38 / 20), (seed, out.patch)


def test_vibrato_is_labelled_when_the_patch_wobbles_the_pitch():
    labelled = 0
    for seed in range(30):
        rng = np.random.default_rng(seed)
        out = synths.play("synth_lead", [(0.0, 2.0, 69, 100)], 2.5, RATE, rng)
        patch = synths.random_patch("synth_lead", np.random.default_rng(seed))
        wobbles = patch.lfo_hz >= 4 and patch.lfo_cents >= 10
        assert bool(out.technique_spans) == wobbles
        if wobbles:
            labelled += 1
            (start, end, name), = out.technique_spans
            assert name == "vibrato" and start >= patch.lfo_delay and end <= 2.5
    assert 5 <= labelled <= 25
