"""The synthetic multitrack corpus: stems and mixes of 1 to 8 stems with frame-exact labels.

Each example is a short "song": shared tempo, key, metre and chord progression; each stem a
MIDI part rendered with one soundfont (or a synthesised singer), augmented as a DAW user would,
then mixed. Labels are per LABEL_HOP frame: family and fine-label activity of every stem, and
the playing techniques of every stem. Everything is decided by (seed, example index), so a
corpus is the same whatever the number of workers.

Run: python -m models.data.corpus OUT_DIR --split train --examples 3600 --seed 1
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import SHARD_SIZE, SPLIT_VERSIONS, physical, synths
from .augment import EFFECT_KINDS, bleed, choose_chain, describe, production, separation_artifacts
from .parts import KINDS_BY_LABEL, make_hits, make_part, random_key, random_progression, techniques_for
from .render import TRAIN_SOUNDFONTS, VALIDATION_SOUNDFONTS, render_parts
from .taxonomy import FAMILIES, FINE_LABELS, TECHNIQUES
from .vocals import REGISTERS, choose_voice, sing

SAMPLE_RATE = 16000
LABEL_HOP = 0.01  # seconds per label frame
FINE = tuple(FINE_LABELS)
# "extra" is training data too (training soundfonts and procedural synthesisers): one-shots,
# short phrases, produced drum and bass stems and synths (see `_plan_extra`); it extends the
# songs of "train".
# "acoustic" is training data made by physical models alone (`physical`: plucked and struck strings,
# tines, bars), with GM drums from the training soundfonts bleeding in; off unless a run asks for it.
SPLITS = {"train": TRAIN_SOUNDFONTS, "validation": VALIDATION_SOUNDFONTS, "extra": TRAIN_SOUNDFONTS,
          "acoustic": TRAIN_SOUNDFONTS}
# Drive would turn these into what another label names (a distorted guitar).
NO_DRIVE_LABELS = ("acoustic_guitar", "clean_electric_guitar")


@dataclass(frozen=True)
class CorpusConfig:
    seconds: float = 8.0  # per example
    mix_fraction: float = 0.5  # share of examples that are mixes
    max_stems: int = 8
    vocal_weight: float = 3.0  # singing_voice drawn this many times more often than a GM label
    technique_probability: float = 0.7  # a single stem plays 1-2 technique gestures
    augment_strength: float = 1.0
    bleed_probability: float = 0.3  # single stems with other instruments bleeding in
    separation_probability: float = 0.3  # single stems that sound source-separated


@dataclass
class Example:
    audio: np.ndarray  # float32 mono at SAMPLE_RATE
    family: np.ndarray  # (frames, 12) uint8
    fine: np.ndarray  # (frames, len(FINE)) uint8
    technique: np.ndarray  # (frames, 11) uint8
    meta: dict


def frame_count(seconds: float) -> int:
    return int(round(seconds / LABEL_HOP))


def _spans_to_frames(spans, frames: int) -> np.ndarray:
    """Frames whose interval [k*hop, (k+1)*hop) is at least half covered by a span."""
    cover = np.zeros(frames, dtype=np.float64)
    for start, end in spans:
        a, b = start / LABEL_HOP, end / LABEL_HOP
        lo, hi = max(int(np.floor(a)), 0), min(int(np.ceil(b)), frames)
        for k in range(lo, hi):
            cover[k] += max(0.0, min(b, k + 1) - max(a, k))
    return (cover >= 0.5).astype(np.uint8)


def _choose_labels(rng: np.random.Generator, n: int, config: CorpusConfig) -> list[str]:
    weights = np.array([config.vocal_weight if lab == "singing_voice" else 1.0 for lab in FINE])
    weights[[FINE.index(lab) for lab in FINE if not KINDS_BY_LABEL.get(lab) and lab != "singing_voice"]] = 0.0
    chosen: list[str] = []
    for _ in range(n):
        w = weights.copy()
        for lab in chosen:  # at most one drum kit and one singer per song
            if FINE_LABELS[lab][0] in ("drums", "vocals"):
                w[[i for i, x in enumerate(FINE) if FINE_LABELS[x][0] == FINE_LABELS[lab][0]]] = 0.0
        if w.sum() == 0:
            break
        chosen.append(FINE[int(rng.choice(len(FINE), p=w / w.sum()))])
    return chosen


def _sung_stem(rng, duration, tempo, key, beats, progression):
    """A melody sung by a synthesised voice: (audio, note spans, technique spans, voice name)."""
    voice = choose_voice(rng, method="espeak" if rng.random() < 0.6 else "formant")
    lo, hi = REGISTERS[voice.register]
    guide = make_part("melody", "flute", rng, duration, tempo, key, beats_per_bar=beats,
                      progression=progression)
    pitches = [p for _, _, p, _ in guide.notes]
    shift = 12 * int(round(((lo + hi) / 2 - float(np.median(pitches))) / 12)) if pitches else 0
    melody = [(s, e - s, int(np.clip(p + shift, lo, hi))) for s, e, p, _ in guide.notes if e > s]
    if not melody:
        return None
    audio, spans = sing(melody, rng, sample_rate=SAMPLE_RATE, voice=voice, production=rng.random() < 0.5)
    audio = np.pad(audio, (0, max(0, round(duration * SAMPLE_RATE) - len(audio))))[:round(duration * SAMPLE_RATE)]
    notes = [(s.start, s.end) for s in spans]
    techniques = [(s.vibrato[0], s.vibrato[1], "vibrato") for s in spans if s.vibrato]
    techniques += [(s.start, min(s.start + 0.15, s.end), "slide") for s in spans if s.glide_from is not None]
    return audio.astype(np.float32), notes, techniques, voice.name


@dataclass
class _Plan:
    """An example decided but not yet rendered: its rng carries on into `_finish`."""

    rng: np.random.Generator
    index: int
    split: str
    soundfont: str
    is_mix: bool
    tempo: float
    key: str
    stems: list[dict]  # label, notes, techniques, source, and "part" or "audio"
    bleed: list[dict]  # {"part"} GM parts bled quietly into a single stem, then {"audio"} too
    variant: str = ""  # extra split: "hits", "drums", "bass" or "synth"; acoustic split: "acoustic"
    separation: float | None = None  # overrides config.separation_probability


def _song(rng: np.random.Generator) -> tuple[float, object, dict]:
    """What the stems of one example share: tempo, key, metre and chord progression."""
    tempo = float(rng.uniform(70, 160))
    key = random_key(rng)
    beats = int(rng.choice([4, 4, 4, 3, 6]))
    song = dict(beats_per_bar=beats, progression=random_progression(rng, key))
    return tempo, key, song


def _plan(seed: int, index: int, split: str, config: CorpusConfig) -> _Plan:
    rng = np.random.default_rng([seed, index, list(SPLITS).index(split)])
    soundfont = SPLITS[split][int(rng.integers(len(SPLITS[split])))]
    if split == "extra":
        return _plan_extra(rng, index, soundfont, config)
    if split == "acoustic":
        return _plan_acoustic(rng, index, soundfont, config)
    is_mix = rng.random() < config.mix_fraction
    n_stems = int(rng.integers(2, config.max_stems + 1)) if is_mix else 1
    duration = config.seconds
    tempo, key, song = _song(rng)

    stems: list[dict] = []
    for label in _choose_labels(rng, n_stems, config):
        if label == "singing_voice":
            sung = _sung_stem(rng, duration, tempo, key, song["beats_per_bar"], song["progression"])
            if sung:
                audio, notes, techs, voice = sung
                stems.append({"label": label, "audio": audio, "notes": notes, "techniques": techs,
                              "source": voice})
            continue
        kinds = KINDS_BY_LABEL[label]
        kind = kinds[int(rng.integers(len(kinds)))]
        allowed = techniques_for(label, kind)
        techniques: tuple[str, ...] = ()
        if allowed and not is_mix and rng.random() < config.technique_probability:
            k = int(rng.integers(1, min(2, len(allowed)) + 1))
            techniques = tuple(rng.choice(allowed, size=k, replace=False))
        try:
            part = make_part(kind, label, rng, duration, tempo, key, techniques, **song)
        except ValueError:  # a gesture that does not fit this part: play it plainly
            part = make_part(kind, label, rng, duration, tempo, key, (), **song)
        stems.append({"label": label, "part": part, "notes": part.note_spans,
                      "techniques": part.technique_spans,
                      "source": f"{soundfont}:{part.bank}:{part.program}"})
    bleed = []
    if not is_mix and stems and rng.random() < config.bleed_probability:
        bleed.append({"part": make_part("drums", "acoustic_kit", rng, duration, tempo, key, **song)})
    return _Plan(rng, index, split, soundfont, is_mix, tempo, key, stems, bleed)


# Drum machines' long 808 kicks sound like sub-bass notes: as many of them as in songs would
# teach that a bass is a drum, so the extra split draws four acoustic kits to one machine.
_DRUM_LABELS = ("acoustic_kit", "acoustic_kit", "acoustic_kit", "acoustic_kit", "drum_machine")
_BASS_LABELS = ("electric_bass", "electric_bass", "synth_bass", "double_bass")
_SYNTH_LABELS = ("synth_lead", "synth_lead", "synth_lead", "synth_pad", "synth_pad", "synth_pad",
                 "organ", "organ", "organ", "synth_bass", "synth_bass")


def _drum_bleed(rng: np.random.Generator, duration: float, tempo: float, key, song: dict) -> dict:
    """A GM drum groove of the song, to bleed quietly into a single stem."""
    return {"part": make_part("drums", _DRUM_LABELS[int(rng.integers(len(_DRUM_LABELS)))],
                              rng, duration, tempo, key, **song)}


def _plan_extra(rng: np.random.Generator, index: int, soundfont: str, config: CorpusConfig) -> _Plan:
    """One single-stem example of the extra split, what songs alone do not teach:
    - "hits" (36%): one-shots and short phrases with silence around them (`make_hits`): drum kit
      pieces (40%), hand percussion (20%), any other GM label (40%);
    - "drums" (20%): drum grooves from every GM kit, bus-processed as on records (`production`),
      with chords bleeding in (30%; never a bass, which would teach that a bass is not one) and
      separation artefacts (50%);
    - "bass" (24%): bass lines, bus-processed, with drums bleeding in (50%) and separation
      artefacts (50%);
    - "synth" (20%): synth leads, pads and basses and organs from the procedural synthesisers
      (`synths`), a new patch each, with drums bleeding in (20%) and separation artefacts (20%)."""
    duration = config.seconds
    tempo, key, song = _song(rng)
    r = rng.random()
    bleed_parts = []
    if r >= 0.8:
        variant = "synth"
        label = _SYNTH_LABELS[int(rng.integers(len(_SYNTH_LABELS)))]
        kinds = KINDS_BY_LABEL[label]
        part = make_part(kinds[int(rng.integers(len(kinds)))], label, rng, duration, tempo, key, **song)
        played = synths.play(label, part.notes, duration, SAMPLE_RATE, rng)
        if rng.random() < 0.2:
            bleed_parts.append(_drum_bleed(rng, duration, tempo, key, song))
        stem = {"label": label, "audio": played.audio, "notes": played.note_spans,
                "techniques": played.technique_spans, "source": f"procedural:{played.patch}",
                "production": rng.random() < 0.5}
        return _Plan(rng, index, "extra", soundfont, False, tempo, key, [stem], bleed_parts, variant, 0.2)
    if r < 0.36:
        variant, separation = "hits", 0.0
        q = rng.random()
        if q < 0.4:
            label = _DRUM_LABELS[int(rng.integers(len(_DRUM_LABELS)))]
        elif q < 0.6:
            label = "hand_percussion"
        else:
            others = [lab for lab in FINE if KINDS_BY_LABEL.get(lab) and FINE_LABELS[lab][0] not in ("drums", "percussion")]
            label = others[int(rng.integers(len(others)))]
        part = make_hits(label, rng, duration, tempo, key)
    elif r < 0.56:
        variant, separation = "drums", 0.5
        label = _DRUM_LABELS[int(rng.integers(len(_DRUM_LABELS)))]
        part = make_part("drums", label, rng, duration, tempo, key, **song)
        if rng.random() < 0.3:
            other = ("acoustic_piano", "clean_electric_guitar", "distorted_guitar", "synth_pad")[int(rng.integers(4))]
            bleed_parts.append({"part": make_part("chords", other, rng, duration, tempo, key, **song)})
    else:
        variant, separation = "bass", 0.5
        label = _BASS_LABELS[int(rng.integers(len(_BASS_LABELS)))]
        part = make_part("bass", label, rng, duration, tempo, key, **song)
        if rng.random() < 0.5:
            bleed_parts.append(_drum_bleed(rng, duration, tempo, key, song))
    stem = {"label": label, "part": part, "notes": part.note_spans, "techniques": part.technique_spans,
            "source": f"{soundfont}:{part.bank}:{part.program}", "production": variant != "hits" or rng.random() < 0.4}
    return _Plan(rng, index, "extra", soundfont, False, tempo, key, [stem], bleed_parts, variant, separation)


def _plan_acoustic(rng: np.random.Generator, index: int, soundfont: str, config: CorpusConfig) -> _Plan:
    """One single-stem example of the acoustic split: a part (chords, arpeggios, melodies, bass
    lines, as the label plays them) on a new physical-model instrument (`physical`), bus-processed
    half the time, with GM drums bleeding in (30%) and separation artefacts (30%)."""
    duration = config.seconds
    tempo, key, song = _song(rng)
    label = physical.LABELS[int(rng.integers(len(physical.LABELS)))]
    kinds = KINDS_BY_LABEL[label]
    part = make_part(kinds[int(rng.integers(len(kinds)))], label, rng, duration, tempo, key, **song)
    played = physical.play(label, part.notes, duration, SAMPLE_RATE, rng)
    bleed_parts = []
    if rng.random() < 0.3:
        bleed_parts.append(_drum_bleed(rng, duration, tempo, key, song))
    stem = {"label": label, "audio": played.audio, "notes": played.note_spans, "techniques": [],
            "source": f"procedural:{played.patch}", "production": rng.random() < 0.5}
    return _Plan(rng, index, "acoustic", soundfont, False, tempo, key, [stem], bleed_parts, "acoustic", 0.3)


def _finish(plan: _Plan, config: CorpusConfig) -> Example:
    rng = plan.rng
    n = round(config.seconds * SAMPLE_RATE)
    frames = frame_count(config.seconds)
    family = np.zeros((frames, len(FAMILIES)), np.uint8)
    fine = np.zeros((frames, len(FINE)), np.uint8)
    technique = np.zeros((frames, len(TECHNIQUES)), np.uint8)
    mix = np.zeros(n, np.float64)
    meta_stems = []
    for stem in plan.stems:
        label = stem["label"]
        fam = FINE_LABELS[label][0]
        kinds = tuple(k for k in EFFECT_KINDS if not (k == "drive" and label in NO_DRIVE_LABELS))
        chain = choose_chain(rng, SAMPLE_RATE, fam, config.augment_strength, kinds)
        audio = chain.apply(stem["audio"], SAMPLE_RATE)
        if stem.get("production"):
            audio = production(audio, SAMPLE_RATE, rng, fam)
        if np.max(np.abs(audio)) < 1e-4:
            continue  # a stem that rendered silent teaches nothing and would mislabel frames
        gain = 10 ** (rng.uniform(-14.0, 0.0) / 20) if plan.is_mix else 1.0
        mix += gain * audio / max(float(np.max(np.abs(audio))), 1e-6)
        active = _spans_to_frames(stem["notes"], frames)
        family[:, FAMILIES.index(fam)] |= active
        fine[:, FINE.index(label)] |= active
        for start, end, tech in stem["techniques"]:
            technique[:, TECHNIQUES.index(tech)] |= _spans_to_frames([(start, end)], frames)
        meta_stems.append({"label": label, "family": fam, "source": stem["source"],
                           "gain": round(float(gain), 4), "augment": describe(chain),
                           **({"production": True} if stem.get("production") else {})})
    post = []
    if plan.bleed:
        mix = bleed(mix, [b["audio"] for b in plan.bleed], rng)
        post.append("bleed")
    separation = config.separation_probability if plan.separation is None else plan.separation
    if not plan.is_mix and rng.random() < separation:
        mix = separation_artifacts(mix, SAMPLE_RATE, rng)
        post.append("separation")
    peak = float(np.max(np.abs(mix)))
    level = 10 ** (rng.uniform(-18.0, -0.5) / 20)
    audio = (mix * (level / peak) if peak > 0 else mix).astype(np.float32)
    meta = {"index": plan.index, "split": plan.split, "soundfont": plan.soundfont,
            "is_mix": bool(plan.is_mix), "tempo": round(plan.tempo, 3), "key": plan.key,
            "stems": meta_stems, "post": post}
    if plan.variant:
        meta["variant"] = plan.variant
    return Example(audio, family, fine, technique, meta)


def make_examples(seed: int, indices, split: str, config: CorpusConfig = CorpusConfig()) -> list[Example]:
    """Examples of a corpus, deterministic for (seed, index, split, config) whatever the grouping.

    All GM parts of the group are rendered in one fluidsynth run per soundfont (loading a
    soundfont costs far more than rendering a few seconds).
    """
    plans = [_plan(seed, i, split, config) for i in indices]
    by_font: dict[str, list] = {}
    for plan in plans:
        to_render = [stem for stem in plan.stems if "part" in stem] + plan.bleed
        by_font.setdefault(plan.soundfont, []).extend(to_render)
    for font, items in by_font.items():
        for item, audio in zip(items, render_parts([it["part"] for it in items], font, SAMPLE_RATE)):
            item["audio"] = audio
    return [_finish(plan, config) for plan in plans]


def make_example(seed: int, index: int, split: str, config: CorpusConfig = CorpusConfig()) -> Example:
    """Example `index` of a corpus: deterministic for (seed, index, split, config)."""
    return make_examples(seed, [index], split, config)[0]


def _write_shard(args) -> tuple[int, float]:
    out_dir, split, seed, shard, start, count, config = args
    t0 = time.perf_counter()
    examples = make_examples(seed, range(start, start + count), split, config)
    np.savez_compressed(
        Path(out_dir) / f"{split}-{shard:05d}.npz",
        audio=np.stack([np.round(np.clip(e.audio, -1, 1) * 32767).astype(np.int16) for e in examples]),
        family=np.stack([e.family for e in examples]),
        fine=np.stack([e.fine for e in examples]),
        technique=np.stack([e.technique for e in examples]),
        meta=np.array(json.dumps([e.meta for e in examples])),
    )
    return count, time.perf_counter() - t0


def generate(out_dir: Path, split: str, examples: int, seed: int, workers: int = 2,
             shard_size: int = SHARD_SIZE, config: CorpusConfig = CorpusConfig()):
    """Write `examples` examples as npz shards; yields (done, total) after each shard."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{split}.json").write_text(json.dumps({
        "split": split, "version": SPLIT_VERSIONS[split], "examples": examples, "seed": seed, "sample_rate": SAMPLE_RATE,
        "label_hop": LABEL_HOP, "families": FAMILIES, "fine_labels": FINE, "techniques": TECHNIQUES,
        "soundfonts": SPLITS[split], "config": config.__dict__}, indent=1))
    jobs = [(out_dir, split, seed, k, start, min(shard_size, examples - start), config)
            for k, start in enumerate(range(0, examples, shard_size))]
    done = 0
    if workers <= 1:
        for count, _ in map(_write_shard, jobs):
            done += count
            yield done, examples
        return
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        for count, _ in pool.imap_unordered(_write_shard, jobs):
            done += count
            yield done, examples


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out_dir", type=Path)
    p.add_argument("--split", choices=list(SPLITS), default="train")
    p.add_argument("--examples", type=int, default=64)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seconds", type=float, default=CorpusConfig.seconds)
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    config = CorpusConfig(seconds=a.seconds)
    for done, total in generate(a.out_dir, a.split, a.examples, a.seed, a.workers, config=config):
        rate = done * a.seconds / (time.perf_counter() - t0)
        print(f"{done}/{total} examples, {rate:.1f} s of audio per second", flush=True)


if __name__ == "__main__":
    main()
