"""Training from cached features: the cache is faithful and reused, and the crop sampler levels,
equalises and mixes as its Augment says, reproducibly for a seed. No fluidsynth needed."""

import json
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from models import train as T

TASK = T.TASKS["instrument"]
FLOOR = TASK.front_end.log_floor
LABELS = len(TASK.labels)


def _split(examples=12, mixes=()):
    """A FeatureSplit whose example i has label i (constant over time) and a distinct spectrum."""
    stride, out_frames = TASK.net.time_stride, 100
    rng = np.random.default_rng(0)
    logs = rng.uniform(-8, 4, (examples, out_frames * stride, TASK.front_end.n_bins)).astype(np.float32)
    targets = np.zeros((examples, out_frames, LABELS), np.float16)
    for i in range(examples):
        targets[i, :, i] = 1
    meta = [{"is_mix": i in mixes, "index": i} for i in range(examples)]
    return T.FeatureSplit(T.encode_features(logs, FLOOR), targets, meta, FLOOR), logs


def test_feature_codes_round_trip_within_half_a_step_and_clip_at_the_floor():
    logs = np.array([np.log(FLOOR), -3.21, 0.0, 7.777, np.log(FLOOR) - 5], np.float32)
    back = T.decode_features(T.encode_features(logs, FLOOR), FLOOR)
    assert np.all(np.abs(back[:4] - logs[:4]) <= T.FEATURE_STEP / 2 + 1e-6)
    assert back[4] == pytest.approx(np.log(FLOOR))


def test_cached_features_are_the_shipped_front_end_and_are_reused(tmp_path, monkeypatch):
    rate = 16000
    audio = (0.3 * np.sin(2 * np.pi * 330 * np.arange(rate * 8) / rate)).astype(np.float32)[None]
    logs = T.compute_features(audio, TASK)
    reference = TASK.front_end.numpy_features(T.pad_for_model(audio, TASK)[0])
    assert logs.shape == (1, 400, TASK.front_end.n_bins)
    assert np.abs(logs[0] - reference).max() < 1e-3

    split = T.Split(audio, np.zeros((1, 100, LABELS), np.float32), [{"is_mix": False}])
    monkeypatch.setattr(T, "load_split", lambda *a: split)
    (tmp_path / "train.json").write_text(json.dumps({"examples": 1, "seed": 7}))
    made = []
    first = T.load_features(tmp_path, "train", TASK, quantise=True, ensure=lambda: made.append(1))
    assert made == [1] and first.feats.dtype == np.uint8
    monkeypatch.setattr(T, "compute_features", lambda *a: pytest.fail("the cache should have been used"))
    again = T.load_features(tmp_path, "train", TASK, quantise=True)
    assert np.array_equal(again.feats, first.feats)
    (tmp_path / "train.json").write_text(json.dumps({"examples": 1, "seed": 8}))  # another corpus
    with pytest.raises(pytest.fail.Exception):
        T.load_features(tmp_path, "train", TASK, quantise=True)


def test_a_run_with_another_front_end_keeps_its_own_cache_beside_the_default_one(tmp_path, monkeypatch):
    rate = 16000
    audio = (0.3 * np.sin(2 * np.pi * 220 * np.arange(rate * 8) / rate)).astype(np.float32)[None]
    split = T.Split(audio, np.zeros((1, 100, LABELS), np.float32), [{"is_mix": False}])
    monkeypatch.setattr(T, "load_split", lambda *a: split)
    (tmp_path / "train.json").write_text(json.dumps({"examples": 1, "seed": 7}))
    wide = replace(TASK, front_end=replace(TASK.front_end, n_fft=1024, n_bins=96))
    default = T.load_features(tmp_path, "train", TASK, quantise=True)
    other = T.load_features(tmp_path, "train", wide, quantise=True)
    assert default.feats.shape == (1, 400, 64) and other.feats.shape == (1, 400, 96)
    assert len(list(tmp_path.glob("features-instrument*-train.npz"))) == 2
    monkeypatch.setattr(T, "compute_features", lambda *a: pytest.fail("each cache should have been used"))
    assert np.array_equal(T.load_features(tmp_path, "train", TASK, quantise=True).feats, default.feats)
    assert np.array_equal(T.load_features(tmp_path, "train", wide, quantise=True).feats, other.feats)


def test_plain_crops_are_the_cached_features_and_their_labels():
    split, _logs = _split()
    sampler = T.CropSampler(split, TASK, "cpu", 0, T.Augment(gain_db=(0, 0), eq_probability=0, mix_probability=0))
    x, y = sampler.batch(16)
    assert x.shape == (16, 1, 200, TASK.front_end.n_bins) and y.shape == (16, 50, LABELS)
    decoded = T.decode_features(split.feats.astype(np.float32), FLOOR)
    for row in range(16):
        label = int(np.flatnonzero(y[row, 0])[0])
        assert (y[row].sum(dim=1) == 1).all()
        windows = np.lib.stride_tricks.sliding_window_view(decoded[label], (200, decoded.shape[2]))[:, 0]
        assert np.abs(windows - x[row, 0].numpy()).max(axis=(1, 2)).min() < 1e-3  # some crop of its example


def test_gain_shifts_every_band_and_mixing_joins_single_stems_only():
    split, _ = _split(mixes=(0, 1))
    quiet = T.CropSampler(split, TASK, "cpu", 3, T.Augment(gain_db=(-6, -6), eq_probability=0, mix_probability=0))
    plain = T.CropSampler(split, TASK, "cpu", 3, T.Augment(gain_db=(0, 0), eq_probability=0, mix_probability=0))
    (xq, yq), (xp, yp) = quiet.batch(8), plain.batch(8)
    assert torch.equal(yq, yp)
    loud = xp > np.log(FLOOR) + 9  # well above the floor a gain is a shift of the log
    assert torch.allclose((xp - xq)[loud], torch.full_like(xp[loud], 0.6 * np.log(10)), atol=3e-3)

    mixing = T.CropSampler(split, TASK, "cpu", 5, T.Augment(eq_probability=0, mix_probability=1.0))
    _, y = mixing.batch(256)
    active = (y[:, 0] > 0).sum(dim=1)
    assert active.max() <= 4 and (active >= 2).float().mean() > 0.8  # 1 to 3 stems joined (a rare redraw of itself)
    # the corpus's own mixes (examples 0 and 1) are drawn as a base but never mixed into another crop
    assert not ((y[:, 0, 0] > 0) & (y[:, 0, 1] > 0)).any()
    assert (active[(y[:, 0, 0] > 0) | (y[:, 0, 1] > 0)] >= 2).all()


def test_the_sampler_is_reproducible_for_a_seed():
    split, _ = _split()
    a = T.CropSampler(split, TASK, "cpu", 11, T.Augment()).batch(8)
    b = T.CropSampler(split, TASK, "cpu", 11, T.Augment()).batch(8)
    c = T.CropSampler(split, TASK, "cpu", 12, T.Augment()).batch(8)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_regenerating_a_split_drops_its_stale_shards_and_feature_caches(tmp_path, monkeypatch):
    from models.data import corpus

    made = []
    monkeypatch.setattr(corpus, "generate", lambda *args: iter(made.append(args) or ()))
    (tmp_path / "train.json").write_text(json.dumps({"examples": 32, "seed": 1}))
    for name in ("train-00000.npz", "features-instrument-train.npz", "features-technique-train.npz",
                 "features-instrument-validation.npz"):
        (tmp_path / name).write_bytes(b"old")
    T.ensure_split(tmp_path, "train", 32, 1, 1)  # made with this count and seed: kept
    assert not made and (tmp_path / "features-instrument-train.npz").exists()
    T.ensure_split(tmp_path, "train", 64, 1, 1)  # another count: regenerated
    assert len(made) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features-instrument-validation.npz", "train.json"]


def test_a_split_made_by_an_older_generator_is_made_again(tmp_path):
    """A split's json records the generator's version of it; files from before versions are version 1."""
    (tmp_path / "extra.json").write_text(json.dumps({"examples": 32, "seed": 1}))
    (tmp_path / "train.json").write_text(json.dumps({"examples": 32, "seed": 1}))
    assert T.SPLIT_VERSIONS["extra"] > 1 and T.SPLIT_VERSIONS["train"] == 1
    assert not T.split_made(tmp_path, "extra", 32, 1) and T.split_made(tmp_path, "train", 32, 1)
    (tmp_path / "extra.json").write_text(json.dumps({"examples": 32, "seed": 1, "version": T.SPLIT_VERSIONS["extra"]}))
    assert T.split_made(tmp_path, "extra", 32, 1)


def test_relative_mixing_levels_each_stem_to_the_crop_it_joins():
    floor, frames, bins = FLOOR, 100 * TASK.net.time_stride, TASK.front_end.n_bins
    levels = np.array([2.0, -1.0], np.float32)  # two single stems 3 nats apart, flat spectra
    logs = np.broadcast_to(levels[:, None, None], (2, frames, bins)).copy()
    targets = np.zeros((2, 100, LABELS), np.float16)
    targets[0, :, 0] = targets[1, :, 1] = 1
    split = T.FeatureSplit(T.encode_features(logs, floor), targets, [{"is_mix": False}] * 2, floor)
    aug = T.Augment(gain_db=(0, 0), eq_probability=0, mix_probability=1.0, mix_db=(0, 0), mix_relative=True)
    x, _ = T.CropSampler(split, TASK, "cpu", 2, aug).batch(64)
    stems = np.log(np.arange(2, 5))  # one to three stems joined, each as loud as the crop
    allowed = (levels[:, None] + stems[None, :]).ravel()
    got = x[:, 0, 0, 0].numpy()
    assert np.abs(got[:, None] - allowed[None, :]).min(axis=1).max() < 0.06


def test_sonic_pi_clips_are_labelled_only_where_the_name_makes_the_family_certain(tmp_path):
    from models.evaluate_real import sonic_pi_labels

    names = ["elec_snare", "elec_soft_kick", "elec_blip", "elec_chime", "drum_cowbell", "drum_snare_hard",
             "tabla_na", "guit_em9", "bass_voxy_c", "ambi_drone", "perc_bell"]
    for name in names:
        (tmp_path / f"{name}.flac").write_bytes(b"")
    assert sonic_pi_labels(tmp_path) == {
        "elec_snare.flac": "drums", "elec_soft_kick.flac": "drums", "drum_cowbell.flac": "percussion",
        "drum_snare_hard.flac": "drums", "tabla_na.flac": "percussion", "guit_em9.flac": "guitar",
        "bass_voxy_c.flac": "bass"}


def _flat_split(levels):
    """Single stems with flat spectra at the given natural-log levels, one label each."""
    frames, bins = 100 * TASK.net.time_stride, TASK.front_end.n_bins
    levels = np.asarray(levels, np.float32)
    logs = np.broadcast_to(levels[:, None, None], (len(levels), frames, bins)).copy()
    targets = np.zeros((len(levels), 100, LABELS), np.float16)
    for row in range(len(levels)):
        targets[row, :, row] = 1
    return T.FeatureSplit(T.encode_features(logs, FLOOR), targets, [{"is_mix": False}] * len(levels), FLOOR)


def test_bleed_lies_faintly_under_the_crop_and_leaves_its_labels_off():
    split = _flat_split([2.0, -1.0])
    plain = T.Augment(gain_db=(0, 0), eq_probability=0, mix_probability=0)
    (xp, yp) = T.CropSampler(split, TASK, "cpu", 4, plain).batch(64)
    (xb, yb) = T.CropSampler(split, TASK, "cpu", 4, replace(plain, bleed_probability=1.0)).batch(64)
    assert torch.equal(yp, yb)  # the bled-in stem's labels stay off
    rise = (xb - xp).numpy()  # flat spectra: a gain g under the crop's level raises every bin by log(1 + g)
    assert (rise > np.log1p(10 ** -3.0) - 1e-3).all() and (rise < np.log1p(10 ** -1.8) + 1e-3).all()
    assert np.ptp(rise, axis=(1, 2, 3)).max() < 1e-3 and np.ptp(rise[:, 0, 0, 0]) > 1e-3  # one gain per crop, drawn


def test_notches_cut_one_or_two_runs_of_bands_and_nothing_else():
    split = _flat_split([2.0, -1.0])
    plain = T.Augment(gain_db=(0, 0), eq_probability=0, mix_probability=0)
    (xp, yp) = T.CropSampler(split, TASK, "cpu", 6, plain).batch(64)
    (xn, yn) = T.CropSampler(split, TASK, "cpu", 6, replace(plain, notch_probability=1.0)).batch(64)
    assert torch.equal(yp, yn)
    cut = (xn - xp)[:, 0].numpy()  # (crops, frames, bins) in nats
    assert np.ptp(cut, axis=1).max() < 1e-4  # the same cut in every frame
    cut = cut[:, 0]
    hit = cut < -1e-3
    assert hit.any(axis=1).all() and hit.mean() < 0.3
    assert (cut[hit] <= -np.log(10) + 1e-3).all() and (cut[hit] >= -3 * np.log(10) - 1e-3).all()  # 10 to 30 dB
    runs = (np.diff(hit.astype(int), axis=1) == 1).sum(axis=1) + hit[:, 0]
    assert runs.min() >= 1 and runs.max() <= 2 and (runs == 2).any()


def test_the_bass_lowpass_cuts_single_bass_crops_above_their_cutoff_and_nothing_else():
    names = [n for n, _ in T._label_groups(TASK)]
    split = _flat_split([8.0, 8.0, 8.0])  # loud enough that a 60 dB cut stays well above the floor
    split.targets[:] = 0
    for row, labels in enumerate([("bass", "electric_bass"), ("piano", "acoustic_piano"), ("bass", "drums")]):
        for label in labels:
            split.targets[row, :, names.index(label)] = 1  # the first column of that name: the family's
    plain = T.Augment(gain_db=(0, 0), eq_probability=0, mix_probability=0)
    (xp, yp) = T.CropSampler(split, TASK, "cpu", 8, plain).batch(96)
    (xl, yl) = T.CropSampler(split, TASK, "cpu", 8, replace(plain, bass_lowpass_probability=1.0)).batch(96)
    assert torch.equal(yp, yl)
    cut_db = ((xl - xp)[:, 0] * 10 / np.log(10)).numpy()  # (crops, frames, bins)
    assert np.ptp(cut_db, axis=1).max() < 1e-3
    cut_db = cut_db[:, 0]
    only_bass = (yp[:, 0, names.index("bass")] > 0) & (yp[:, 0, names.index("drums")] == 0)
    assert only_bass.any() and (~only_bass).any()
    assert np.abs(cut_db[~only_bass.numpy()]).max() < 1e-3  # piano, and bass with drums, untouched
    hz = TASK.front_end.centres()[1:-1]
    bass = cut_db[only_bass.numpy()]
    assert np.abs(bass[:, hz <= 80]).max() < 1e-3  # below the lowest cutoff: nothing cut
    assert (np.diff(bass, axis=1) <= 1e-3).all()  # falling with frequency
    gentlest = np.minimum(12 * np.log2(np.maximum(hz / 300, 1)), 60)  # 12 dB/octave above 300 Hz
    steepest = np.minimum(36 * np.log2(np.maximum(hz / 80, 1)), 60)  # 36 dB/octave above 80 Hz
    assert (bass <= -gentlest + 1e-2).all() and (bass >= -steepest - 1e-2).all()
    assert np.ptp(bass[:, np.argmin(np.abs(hz - 400))]) > 5  # cutoffs and slopes drawn per crop

    (xh, yh) = T.CropSampler(split, TASK, "cpu", 9, replace(plain, bass_lowpass_probability=0.5)).batch(400)
    (xo, _) = T.CropSampler(split, TASK, "cpu", 9, plain).batch(400)
    alone = ((yh[:, 0, names.index("bass")] > 0) & (yh[:, 0, names.index("drums")] == 0)).numpy()
    cut = ((xh - xo)[:, 0, 0] * 10 / np.log(10)).numpy().min(axis=1) < -1e-2
    assert 0.35 < cut[alone].mean() < 0.65 and not cut[~alone].any()  # about half of them


def test_realdev_misses_are_tallied_by_the_song_each_excerpt_comes_from():
    from models.evaluate_real import by_song, song_of, song_weighted_accuracy

    assert song_of("Tours_-_Enthusiast_3__bass.mp3") == "Tours_-_Enthusiast"
    assert song_of("117800_low_12__drums.mp3") == "117800_low"
    assert song_of("elec_snare.flac") == "elec_snare"  # no excerpt number: its own song
    rows = [{"file": "b_2__bass.mp3", "family": "bass", "predicted": "percussion"},
            {"file": "a_1__bass.mp3", "family": "bass", "predicted": "bass"},
            {"file": "b_1__bass.mp3", "family": "bass", "predicted": "bass"}]
    assert by_song(rows) == {"a": [1, 1], "b": [1, 2]}
    assert song_weighted_accuracy(rows) == pytest.approx(0.75)  # (1/1 + 1/2) / 2, where clips give 2/3
