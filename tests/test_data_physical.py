"""The physical-model instruments: deterministic, in tune, labelled while they sound, and the
acoustic corpus split built from them."""

import numpy as np
import pytest

from models.data import physical
from models.data.synths import midi_hz

RATE = 16000


@pytest.mark.parametrize("label", physical.LABELS)
def test_play_is_deterministic_and_instruments_vary(label):
    notes = [(0.1, 0.6, 48, 100), (0.8, 1.4, 55, 80)]
    one = physical.play(label, notes, 2.0, RATE, np.random.default_rng(3))
    again = physical.play(label, notes, 2.0, RATE, np.random.default_rng(3))
    assert np.array_equal(one.audio, again.audio) and one.note_spans == again.note_spans
    assert one.audio.dtype == np.float32 and len(one.audio) == 2 * RATE and np.isfinite(one.audio).all()
    assert len({repr(physical.random_instrument(label, np.random.default_rng(s))) for s in range(8)}) == 8


def test_an_unknown_label_is_refused():
    with pytest.raises(ValueError, match="no procedural instrument for 'violin'"):
        physical.random_instrument("violin", np.random.default_rng(0))


@pytest.mark.parametrize("label", physical.LABELS)
@pytest.mark.parametrize("pitch", [40, 57, 76])
def test_the_strongest_partial_of_a_note_is_its_pitch(label, pitch):
    """Plucked strings, piano strings, tines and bars all sound their fundamental loudest (bars
    and tines add inharmonic modes above it); the Karplus-Strong delay is tuned to the cent."""
    for seed in range(3):
        out = physical.play(label, [(0.0, 1.5, pitch, 90)], 1.5, RATE, np.random.default_rng(seed))
        segment = out.audio[int(0.05 * RATE):int(0.05 * RATE) + 8192].astype(np.float64)
        spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment)), 8 * len(segment)))
        freqs = np.fft.rfftfreq(8 * len(segment), 1 / RATE)
        f0 = midi_hz(pitch)
        band = (freqs > f0 * 0.7) & (freqs < f0 * 1.3)
        assert abs(freqs[band][np.argmax(spectrum[band])] / f0 - 1) < 0.006, (seed, out.patch)
        if label in physical.PLUCKED:  # and it is the strongest of all
            assert abs(freqs[np.argmax(spectrum * (freqs > 30))] / f0 - round(freqs[np.argmax(spectrum * (freqs > 30))] / f0)) < 0.02


@pytest.mark.parametrize("label", physical.LABELS)
def test_labels_cover_each_note_until_it_has_died_away(label):
    """A label starts at its onset, the note sounds within 40 dB of the part's loudest while
    labelled, and nothing but release tails and bleed-free silence lies outside the labels."""
    notes = [(0.2, 0.9, 52, 100), (2.0, 3.0, 59, 100)]
    for seed in range(4):
        out = physical.play(label, notes, 4.0, RATE, np.random.default_rng(seed))
        assert [s for s, _ in out.note_spans] == [0.2, 2.0]
        frame = RATE // 100
        rms = np.sqrt(np.mean(out.audio.reshape(400, frame).astype(np.float64) ** 2, axis=1))
        inside = [k for k in range(400) if any(s + 0.02 <= k / 100 < min(e, s + 0.3) for s, e in out.note_spans)]
        outside = [k for k in range(400) if all(k / 100 < s or k / 100 >= e + 0.05 for s, e in out.note_spans)]
        assert rms[inside].min() > rms.max() * 10 ** (-40 / 20), (seed, out.patch)
        assert rms[outside].max() < rms.max() * 10 ** (-30 / 20), (seed, out.patch)


def test_a_plucked_note_that_dies_while_held_is_no_longer_labelled():
    out = physical.play("banjo", [(0.0, 3.5, 76, 100)], 4.0, RATE, np.random.default_rng(0))
    assert out.note_spans[0][1] < 2.0  # a banjo's high E rings for well under two seconds


@pytest.mark.parametrize("index", range(6))
def test_acoustic_split_examples_are_one_physical_instrument_labelled_as_its_family(index):
    from models.data import corpus

    example = corpus.make_example(7, index, "acoustic")
    again = corpus.make_example(7, index, "acoustic")
    assert np.array_equal(example.audio, again.audio) and np.array_equal(example.family, again.family)
    (stem,) = example.meta["stems"]
    assert example.meta["variant"] == "acoustic" and not example.meta["is_mix"]
    assert stem["label"] in physical.LABELS and stem["source"].startswith("procedural:")
    family = corpus.FAMILIES.index(stem["family"])
    assert example.family[:, family].sum() > 0
    assert example.family.sum() == example.family[:, family].sum()  # bleed is never labelled
    assert example.fine[:, corpus.FINE.index(stem["label"])].sum() == example.family[:, family].sum()


def test_the_acoustic_split_is_only_used_when_asked_for():
    torch = pytest.importorskip("torch")  # noqa: F841 - models.train needs it
    from models.train import corpus_splits

    assert [s for s, *_ in corpus_splits(10, 4, 2, 1)] == ["train", "validation", "extra"]
    assert corpus_splits(10, 4, 0, 1, acoustic_examples=5)[-1] == ("acoustic", 5, 3001)
