"""The singing-voice source (espeak-ng + PSOLA, formant singer) and DAW-like augmentation."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import replace

import numpy as np
import pytest

from models.data import augment as A
from models.data import vocals as V

SR = 22050

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (apt-get install espeak-ng)")


def yin_track(x, sr, hop_s=0.01, win_s=0.03, fmin=70.0, fmax=1100.0, voicing=0.3):
    """Frame times and f0 (nan where unvoiced) from YIN's cumulative-mean-normalised difference:
    the deepest dip, or the shortest dip nearly as deep at a whole fraction of its lag."""
    w, lmax, hop = int(win_s * sr), int(sr / fmin) + 2, int(hop_s * sr)
    frames = np.lib.stride_tricks.sliding_window_view(np.asarray(x, np.float64), w + lmax)[::hop]
    n = 1 << int(np.ceil(np.log2(2 * (w + lmax))))
    corr = np.fft.irfft(np.conj(np.fft.rfft(frames[:, :w], n, axis=1))
                        * np.fft.rfft(frames, n, axis=1), n, axis=1)[:, :lmax]
    energy = np.concatenate([np.zeros((len(frames), 1)), np.cumsum(frames ** 2, axis=1)], axis=1)
    diff = energy[:, w:w + 1] + energy[:, w:w + lmax] - energy[:, :lmax] - 2 * corr
    cmnd = np.ones_like(diff)
    running_mean = np.maximum(np.cumsum(diff[:, 1:], axis=1), 1e-12) / np.arange(1, lmax)
    cmnd[:, 1:] = diff[:, 1:] / running_mean
    lo = int(sr / fmax)
    f0 = np.full(len(frames), np.nan)
    for i, row in enumerate(cmnd):
        lag = lo + int(np.argmin(row[lo:lmax - 1]))
        if row[lag] > voicing:
            continue
        inner = row[lo + 1:lag]
        dips = lo + 1 + np.flatnonzero((inner <= row[lo:lag - 1]) & (inner <= row[lo + 2:lag + 1])
                                       & (inner < row[lag] + 0.1))
        whole = dips[np.abs(lag / dips - np.round(lag / dips)) < 0.03 * lag / dips]
        lag = int(whole[0]) if len(whole) else lag
        a, b, c = row[lag - 1], row[lag], row[lag + 1]
        f0[i] = sr / (lag + (0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c > 0 else 0.0))
    rms = np.sqrt(np.mean(frames[:, :w] ** 2, axis=1))
    f0[rms < 0.02 * rms.max()] = np.nan
    return (np.arange(len(frames)) * hop + w / 2) / sr, f0


def melody_in(register: str, rng) -> list[tuple[float, float, int]]:
    """Ten notes in the register, legato and detached, with one long rest in the middle."""
    low, high = V.REGISTERS[register]
    pitch, t, notes = int(rng.integers(low + 3, high - 5)), 0.2, []
    for i in range(10):
        duration = float(rng.choice([0.3, 0.45, 0.7]))
        notes.append((round(t, 3), duration, pitch))
        t += duration + (1.3 if i == 4 else float(rng.choice([0.0, 0.05, 0.2])))
        pitch = int(np.clip(pitch + rng.integers(-4, 5), low, high))
    return notes


def rms_db(x) -> float:
    return 10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20)


# --- vocals ---------------------------------------------------------------------------------


@needs_espeak
def test_lyric_languages_and_variants_are_installed_and_distinct():
    voices = V.espeak_voices()
    assert set(V.LYRICS) <= voices, set(V.LYRICS) - voices
    variants = V.espeak_voices("variant")
    assert set(V.FEMALE_VARIANTS) | set(V.MALE_VARIANTS) <= variants
    for language in V.LYRICS:  # e.g. "en-gb+f1" silently ignores its variant; "en+f1" does not
        female = V._espeak("la", language, "f1", 120, 50)
        male = V._espeak("la", language, "m1", 120, 50)
        assert not np.array_equal(female, male), language


@needs_espeak
def test_espeak_is_deterministic():
    first = V._espeak("corazón", "es", "f3", 100, 60)
    second = V._espeak("corazón", "es", "f3", 100, 60)
    assert len(first) > 0.1 * SR and first.tobytes() == second.tobytes()


@pytest.mark.parametrize("method,seeds", [pytest.param("espeak", (1, 2), marks=needs_espeak),
                                          ("formant", (3, 4))])
def test_sung_notes_follow_the_melody_in_pitch_and_time(method, seeds):
    in_tune = total = 0
    for seed in seeds:
        rng = np.random.default_rng(seed)
        register = ("bass", "tenor", "alto", "soprano")[seed % 4]
        voice = V.choose_voice(rng, method, register=register)
        notes = melody_in(register, rng)
        audio, spans = V.sing(notes, rng, voice=voice)
        end = notes[-1][0] + notes[-1][1]
        assert audio.dtype == np.float32 and len(audio) == int(np.ceil((end + V.TAIL_S) * SR))
        times, f0 = yin_track(audio, SR)
        loudness = []
        for (start, duration, pitch), span in zip(notes, spans):
            inside = (times > start + 0.05) & (times < start + duration - 0.05) & ~np.isnan(f0)
            if inside.any():
                in_tune += abs(1200 * np.log2(np.median(f0[inside]) / V.midi_to_hz(pitch))) < 50
            total += 1
            held = audio[int((start + 0.03) * SR):int((start + duration - 0.03) * SR)]
            loudness.append(rms_db(held))
            assert span.pitch == pitch and span.syllable
            assert start - 0.2 <= span.start <= start + 0.01 and span.end > start
        # every note sounds; the long rest is quiet (before the inhale of the next phrase)
        assert min(loudness) > max(loudness) - 20, loudness
        rest_from, rest_to = notes[4][0] + notes[4][1] + 0.25, notes[5][0] - 0.65
        assert rms_db(audio[int(rest_from * SR):int(rest_to * SR)]) < max(loudness) - 30
    assert in_tune >= 0.85 * total, f"{in_tune}/{total} notes within 50 cents"


@pytest.mark.parametrize("method", [pytest.param("espeak", marks=needs_espeak), "formant"])
def test_sing_is_deterministic_for_a_seed(method):
    notes = [(0.1, 0.4, 60), (0.55, 0.3, 62), (0.9, 0.6, 64)]
    first, spans = V.sing(notes, np.random.default_rng(7), method=method)
    second, same_spans = V.sing(notes, np.random.default_rng(7), method=method)
    other, _ = V.sing(notes, np.random.default_rng(8), method=method)
    assert first.tobytes() == second.tobytes() and spans == same_spans
    assert first.tobytes() != other.tobytes()
    assert json.dumps([s.as_dict() for s in spans])


@needs_espeak
def test_production_and_other_sample_rates():
    notes = [(0.0, 0.5, 57), (0.5, 0.5, 60), (1.2, 0.8, 64)]
    for seed in range(3):
        audio, spans = V.sing(notes, np.random.default_rng(seed), sample_rate=44100,
                              production=True)
        assert audio.dtype == np.float32 and len(audio) == int(np.ceil((2.0 + V.TAIL_S) * 44100))
        assert np.isfinite(audio).all() and 0.5 < np.max(np.abs(audio)) <= 1.0
        assert len(spans) == 3


def test_voices_vary_and_fit_the_melody():
    voices = [V.choose_voice(np.random.default_rng(seed)) for seed in range(40)]
    assert {v.sex for v in voices} == {"male", "female"}
    assert len({v.language for v in voices}) >= 6 and len({v.variant for v in voices}) >= 10
    low = [(0, 1, 45), (1, 1, 48)]
    high = [(0, 1, 74), (1, 1, 77)]
    for seed in range(10):
        assert V.choose_voice(np.random.default_rng(seed), melody=low).sex == "male"
        assert V.choose_voice(np.random.default_rng(seed), melody=high).sex == "female"


def test_vibrato_spans_are_labelled_where_the_pitch_wobbles():
    voice = V.choose_voice(np.random.default_rng(0), "formant", register="tenor")
    steady = replace(voice, vibrato_prob=0.0, drift_cents=0.0, scoop_prob=0.0)
    wobbly = replace(steady, vibrato_prob=1.0, vibrato_depth_cents=60.0)
    notes = [(0.1, 1.5, 60)]
    results = {}
    for name, v in (("steady", steady), ("wobbly", wobbly)):
        audio, spans = V.sing(notes, np.random.default_rng(1), voice=v)
        times, f0 = yin_track(audio, SR)
        inside = (times > 0.9) & (times < 1.5) & ~np.isnan(f0)
        results[name] = (np.std(1200 * np.log2(f0[inside] / V.midi_to_hz(60))), spans[0].vibrato)
    assert results["steady"][1] is None and results["steady"][0] < 10
    assert results["wobbly"][1] is not None and results["wobbly"][0] > 20


# --- augmentation ---------------------------------------------------------------------------


def make_signal(seconds=2.0, sr=SR):
    """Two partials, pulsing twice a second."""
    t = np.arange(int(seconds * sr)) / sr
    tone = 0.4 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 1760 * t)
    return (tone * (0.5 + 0.5 * (t % 0.5 < 0.3))).astype(np.float32)


@pytest.mark.parametrize("family", [None, "guitar", "bass", "vocals", "drums", "synth"])
def test_augment_is_deterministic_and_keeps_length_finite_and_peak(family):
    x = make_signal()
    for seed in range(6):
        out = A.augment(x, SR, np.random.default_rng(seed), family)
        again = A.augment(x, SR, np.random.default_rng(seed), family)
        assert out.dtype == np.float32 and len(out) == len(x)
        assert np.isfinite(out).all() and np.max(np.abs(out)) <= 1.0
        assert out.tobytes() == again.tobytes()


@pytest.mark.parametrize("family", ["drums", "bass", "piano"])
def test_production_is_deterministic_and_squashes_the_dynamics(family):
    x = make_signal()
    out = A.production(x, SR, np.random.default_rng(3), family)
    again = A.production(x, SR, np.random.default_rng(3), family)
    assert out.dtype == np.float32 and len(out) == len(x) and np.isfinite(out).all()
    assert np.max(np.abs(out)) <= 1.0 and out.tobytes() == again.tobytes()
    assert not np.allclose(out, x / np.max(np.abs(x)), atol=1e-3)

    def crest(y):
        return np.max(np.abs(y)) / np.sqrt(np.mean(y ** 2))

    if family == "drums":  # parallel compression and a limiter bring the body up to the peaks
        assert crest(out) <= crest(x) * 1.05
    assert A.production(x[:0], SR, np.random.default_rng(0), family).shape == (0,)


def test_augment_is_choose_then_apply_and_describes_itself():
    x = make_signal()
    chain = A.choose_chain(np.random.default_rng(5), SR, "guitar")
    direct = A.augment(x, SR, np.random.default_rng(5), "guitar")
    assert chain.apply(x, SR).tobytes() == direct.tobytes()
    record = json.loads(json.dumps(A.describe(chain)))
    assert record["family"] == "guitar" and [e["kind"] for e in record["effects"]] == [
        e.kind for e in chain.effects]


@pytest.mark.parametrize("kind", A.EFFECT_KINDS)
def test_each_effect_kind_can_be_drawn_and_changes_the_signal(kind):
    x = make_signal(1.0)
    family = {"drive": "guitar", "modulation": "organ"}.get(kind)
    chains = (A.choose_chain(np.random.default_rng(seed), SR, family, kinds=(kind,))
              for seed in range(300))
    chain = next(c for c in chains if c.effects)
    assert {e.kind for e in chain.effects} == {kind}
    out = chain.apply(x, SR)
    assert np.max(np.abs(out - x)) > 1e-3, A.describe(chain)


def test_strength_zero_changes_nothing_and_families_differ():
    x = make_signal(0.5)
    untouched = A.augment(x, SR, np.random.default_rng(0), "guitar", strength=0.0)
    assert untouched.tobytes() == x.tobytes()

    def drive_rate(family):
        chains = [A.choose_chain(np.random.default_rng(s), SR, family) for s in range(300)]
        return np.mean([any(e.kind == "drive" for e in chain.effects) for chain in chains])
    assert drive_rate("guitar") > 0.45 and drive_rate("bass") > 0.2 and drive_rate("piano") < 0.12


def test_drive_adds_harmonics():
    t = np.arange(SR) / SR
    sine = (0.5 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    for name, params in (("Distortion", {"drive_db": 25.0}), ("Clipping", {"threshold_db": -12.0})):
        out = A.AugmentChain((A.Effect("drive", name, params),)).apply(sine, SR)
        s = np.abs(np.fft.rfft(out * np.hanning(len(out))))
        harmonics = sum(s[k * 200] for k in (3, 5, 7)) / s[200]
        assert harmonics > 0.1, name


def test_codecs_and_lower_source_rates():
    x = make_signal(2.0)
    x = x + 0.05 * np.sin(2 * np.pi * 6000 * np.arange(len(x)) / SR).astype(np.float32)
    f = np.fft.rfftfreq(len(x), 1 / SR)

    def band_db(y, lo, hi):
        return 10 * np.log10(np.sum(np.abs(np.fft.rfft(y))[(f >= lo) & (f < hi)] ** 2) + 1e-12)
    for name, params in (("MP3Compressor", {"vbr_quality": 9.0}), ("GSMFullRateCompressor", {}),
                         ("Resample", {"target_sample_rate": 8000.0})):
        out = A.AugmentChain((A.Effect("codec", name, params),)).apply(x, SR)
        assert len(out) == len(x) and np.isfinite(out).all() and np.max(np.abs(out)) <= 1
        assert np.corrcoef(out, x)[0, 1] > 0.5, name  # still the same music, in time
        if name != "MP3Compressor":  # an 8 kHz path keeps nothing above 4 kHz
            assert band_db(out, 5000, 7000) < band_db(x, 5000, 7000) - 20, name
        else:
            assert not np.allclose(out, x, atol=1e-3)


def test_noise_is_added_at_the_drawn_snr():
    x = make_signal(1.0)
    for color in ("white", "pink", "hum"):
        out = A.AugmentChain((A.Effect("noise", color, {"snr_db": 20.0, "seed": 3}),)).apply(x, SR)
        assert abs((rms_db(out - x)) - (rms_db(x) - 20)) < 0.5, color


def test_bleed_adds_other_stems_at_the_requested_level():
    rng = np.random.default_rng(0)
    target = 0.5 * make_signal(1.0)
    drums = (0.8 * rng.uniform(-1, 1, SR // 2)).astype(np.float32)  # shorter: zero-padded
    out = A.bleed(target, [drums], np.random.default_rng(1), level_db=-20.0)
    assert out.dtype == np.float32 and len(out) == len(target)
    np.testing.assert_allclose(out[:len(drums)] - target[:len(drums)], 0.1 * drums, atol=1e-6)
    np.testing.assert_allclose(out[len(drums):], target[len(drums):], atol=1e-7)
    drawn = A.bleed(target, [drums], np.random.default_rng(2)) - target
    gain_db = 20 * np.log10(np.dot(drawn[:len(drums)], drums) / np.dot(drums, drums))
    assert -40.01 <= gain_db <= -17.99
    loud = A.bleed(np.ones(100, np.float32), [np.ones(100, np.float32)], rng, level_db=0.0)
    assert np.max(np.abs(loud)) <= 1.0


def test_separation_artifacts_leave_a_masked_but_recognisable_stem():
    floor_noise = 0.01 * np.random.default_rng(0).standard_normal(2 * SR).astype(np.float32)
    x = make_signal(2.0) + floor_noise
    unchanged = A.separation_artifacts(x, SR, np.random.default_rng(1), strength=0.0)
    assert np.allclose(unchanged, x, atol=1e-5)
    out = A.separation_artifacts(x, SR, np.random.default_rng(1))
    again = A.separation_artifacts(x, SR, np.random.default_rng(1))
    assert out.tobytes() == again.tobytes() and len(out) == len(x) and np.max(np.abs(out)) <= 1
    assert np.corrcoef(out, x)[0, 1] > 0.8
    # the weak noise floor between the partials is gated: much of it is gone, not all of it
    spec_in, spec_out = A._stft(x, 1024, 256), A._stft(out, 1024, 256)
    floor = np.abs(spec_in) < np.median(np.abs(spec_in))
    cut = np.abs(spec_out[floor]) < 0.3 * np.abs(spec_in[floor])
    assert 0.3 < cut.mean() < 0.99


@needs_espeak
def test_speed_in_seconds_of_audio_per_wall_second(capsys):
    notes = [(0.2 + 0.5 * i, 0.45, 55 + (i * 3) % 12) for i in range(8)]
    speeds = {}
    for method in ("espeak", "formant"):
        start = time.perf_counter()
        audio, _ = V.sing(notes, np.random.default_rng(11), method=method)
        speeds[f"sing {method}"] = len(audio) / SR / (time.perf_counter() - start)
    x = make_signal(4.0)
    start = time.perf_counter()
    for seed in range(10):
        A.augment(x, SR, np.random.default_rng(seed), "guitar")
    speeds["augment"] = 40.0 / (time.perf_counter() - start)
    start = time.perf_counter()
    A.separation_artifacts(x, SR, np.random.default_rng(0))
    speeds["separation_artifacts"] = 4.0 / (time.perf_counter() - start)
    with capsys.disabled():
        print("\nseconds of audio per wall second: "
              + ", ".join(f"{name} {speed:.0f}x" for name, speed in speeds.items()))
    assert speeds["sing espeak"] > 2 and speeds["sing formant"] > 2 and speeds["augment"] > 10
