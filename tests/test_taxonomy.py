"""The taxonomy matches ARCHITECTURE.md's fixed vocabularies and maps GM programs one way."""

from models.data.taxonomy import FAMILIES, FINE_LABELS, TECHNIQUES, family_of, fine_label_for_program


def test_families_and_techniques_are_the_fixed_vocabularies():
    assert FAMILIES == ("vocals", "drums", "percussion", "bass", "guitar", "piano",
                        "organ", "synth", "strings", "brass", "woodwinds", "plucked")
    assert TECHNIQUES == ("vibrato", "bend_up", "bend_down", "slide", "glissando", "tremolo",
                          "trill", "staccato", "pizzicato", "palm_mute", "harmonic")


def test_every_family_has_fine_labels_and_there_are_at_least_24():
    assert len(FINE_LABELS) >= 24
    assert {family_of(label) for label in FINE_LABELS} == set(FAMILIES)


def test_each_gm_program_belongs_to_at_most_one_fine_label():
    programs = [p for _, progs in FINE_LABELS.values() if progs for p in progs]
    assert len(programs) == len(set(programs))
    assert fine_label_for_program(33) == "electric_bass"
    assert fine_label_for_program(30) == "distorted_guitar"
    assert fine_label_for_program(0, is_drum=True) == "acoustic_kit"
    assert fine_label_for_program(25, is_drum=True) == "drum_machine"
    assert fine_label_for_program(120) is None  # guitar fret noise: left out
