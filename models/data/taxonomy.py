"""The instrument taxonomy: 12 families (fixed by ARCHITECTURE.md) and the fine labels under them.

Each fine label lists the General MIDI programs (0-based) that render it in the soundfonts; drum
kits come from bank 128. Models' manifests copy the labels they were trained on from here.
"""

FAMILIES = (
    "vocals", "drums", "percussion", "bass", "guitar", "piano",
    "organ", "synth", "strings", "brass", "woodwinds", "plucked",
)

TECHNIQUES = (
    "vibrato", "bend_up", "bend_down", "slide", "glissando", "tremolo",
    "trill", "staccato", "pizzicato", "palm_mute", "harmonic",
)

# fine label -> (family, GM programs that render it; None for sources that are not GM presets)
FINE_LABELS: dict[str, tuple[str, tuple[int, ...] | None]] = {
    "singing_voice": ("vocals", None),  # speech synthesis pitched along melodies
    "choir": ("vocals", (52, 53, 54)),
    "acoustic_kit": ("drums", None),  # GM drum kits, bank 128
    "drum_machine": ("drums", None),  # electronic kits, bank 128 programs 24-25
    "hand_percussion": ("percussion", (113, 114, 115, 116, 117, 118)),
    "mallets": ("percussion", (8, 9, 10, 11, 12, 13, 14)),
    "electric_bass": ("bass", (33, 34, 35, 36, 37)),
    "synth_bass": ("bass", (38, 39)),
    "double_bass": ("bass", (32, 43)),
    "acoustic_guitar": ("guitar", (24, 25)),
    "clean_electric_guitar": ("guitar", (26, 27, 28)),
    "distorted_guitar": ("guitar", (29, 30)),
    "acoustic_piano": ("piano", (0, 1, 2, 3, 6, 7)),
    "electric_piano": ("piano", (4, 5)),
    "organ": ("organ", (16, 17, 18, 19, 20, 21, 22, 23)),
    "synth_lead": ("synth", (80, 81, 82, 83, 84, 85, 86, 87)),
    "synth_pad": ("synth", (88, 89, 90, 91, 92, 93, 94, 95)),
    "violin": ("strings", (40, 41)),
    "cello": ("strings", (42,)),
    "string_section": ("strings", (44, 45, 48, 49, 50, 51)),
    "trumpet": ("brass", (56, 59)),
    "trombone": ("brass", (57, 58)),
    "horn": ("brass", (60,)),
    "brass_section": ("brass", (61, 62, 63)),
    "flute": ("woodwinds", (72, 73, 74, 75, 76, 77, 78, 79)),
    "clarinet": ("woodwinds", (71,)),
    "saxophone": ("woodwinds", (64, 65, 66, 67)),
    "double_reed": ("woodwinds", (68, 69, 70)),
    "harp": ("plucked", (46,)),
    "banjo": ("plucked", (105,)),
    "sitar": ("plucked", (104, 106, 107)),
}


def family_of(fine_label: str) -> str:
    return FINE_LABELS[fine_label][0]


def fine_label_for_program(program: int, is_drum: bool = False) -> str | None:
    """The fine label a GM program renders as, or None for programs the taxonomy leaves out."""
    if is_drum:
        return "drum_machine" if program in (24, 25) else "acoustic_kit"
    for label, (_, programs) in FINE_LABELS.items():
        if programs and program in programs:
            return label
    return None
