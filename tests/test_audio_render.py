"""Streaming render of tracks and mixes (plugin.audio): placement, rates, gains, loops, channels,
formats, bad media and memory, on generated sources (written in tmp_path) and real sessions."""

from __future__ import annotations

import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from pedalboard.io import AudioFile

from plugin.audio import (
    CHUNK_FRAMES,
    SourceReader,
    channel_matrix,
    decode,
    render_array,
    render_blocks,
    render_mix,
    render_track,
)
from plugin.audio.decode import mp3_gapless_trim
from plugin.session import AudioClip, Session, Track, load_session

SR = 44100


def write_wav(path: Path, frames_by_channel: np.ndarray, sample_rate: int = SR, subtype: str = "FLOAT") -> Path:
    """Write a (channels, frames) array; FLOAT keeps every float32 sample exactly."""
    sf.write(str(path), np.asarray(frames_by_channel, dtype=np.float32).T, sample_rate, subtype=subtype)
    return path


def impulses(seconds: float, at_samples: list[int]) -> np.ndarray:
    data = np.zeros((1, int(seconds * SR)), dtype=np.float32)
    data[:, at_samples] = 0.9
    return data


def session_of(*tracks: Track) -> Session:
    return Session(path="generated", format="folder", tracks=list(tracks))


def one_clip_track(source: Path, start: float, duration: float, **clip_fields) -> Track:
    return Track(name=source.stem, clips=[AudioClip(start=start, duration=duration, source=str(source), **clip_fields)])


def peak_near(signal: np.ndarray, sample: int, window: int = 200) -> int:
    """Index of the largest sample within `window` of `sample`."""
    lo = max(sample - window, 0)
    return lo + int(np.argmax(signal[lo:sample + window]))


def lag_of(rendered: np.ndarray, reference: np.ndarray, at: int, span: int = 4000, search: int = 3000) -> int:
    """Shift (in samples) of `reference[at:at+span]` inside `rendered`, found by cross-correlation."""
    segment = reference[at:at + span]
    window = rendered[at - search:at + span + search]
    return int(np.argmax(np.correlate(window, segment, "valid"))) - search


# --- placement ------------------------------------------------------------------------------

def test_clips_land_on_the_nearest_sample_as_bit_identical_copies(tmp_path):
    rng = np.random.default_rng(1)
    source = rng.uniform(-0.9, 0.9, (2, SR)).astype(np.float32)
    path = write_wav(tmp_path / "noise.wav", source)
    # (start s, offset s, duration s) -> first output sample, first source sample, frames
    placements = [
        ((0.5, 0.0, 0.25), (22050, 0, 11025)),
        ((1.25 + 0.4 / SR, 0.1, 0.5), (55125, 4410, 22050)),  # 0.4 of a sample rounds down
        ((2.0 + 0.6 / SR, 0.25, 0.5), (88201, 11025, 22050)),  # 0.6 rounds up
        ((3.0, 0.5, 1.0), (132300, 22050, 44100)),  # plays past the source's end: silence there
    ]
    track = Track(name="t", clips=[AudioClip(start=s, duration=d, source=str(path), source_offset=o)
                                   for (s, o, d), _ in placements])
    out = render_array([track], sample_rate=SR, channels=2, end=4.5)
    assert out.dtype == np.float32 and out.shape == (2, 4 * SR + SR // 2)
    expected = np.zeros_like(out)
    for _, (first, offset, frames) in placements:
        copied = source[:, offset:offset + frames]
        expected[:, first:first + copied.shape[1]] = copied
    assert np.array_equal(out, expected)


def test_resampled_clip_lands_impulses_on_the_expected_output_samples(tmp_path):
    # 48 kHz source with impulses at 0.5 s and 1.0 s; the clip starts at 0.3 s, 0.25 s in.
    source = np.zeros((1, 96000), dtype=np.float32)
    source[0, [24000, 48000]] = 0.9
    path = write_wav(tmp_path / "imp48k.wav", source, 48000)
    track = one_clip_track(path, 0.3, 1.5, source_offset=0.25)
    for rate, expected in ((44100, (24255, 46305)), (32000, (17600, 33600))):
        out = render_array([track], sample_rate=rate, channels=1)[0]
        assert out.shape == (int(1.8 * rate),)
        for sample in expected:
            assert peak_near(out, sample) == sample
            assert out[sample] > 0.3


@pytest.mark.parametrize("playrate, expected", [(2.0, (44100, 66150, 88200)), (0.5, (44100, 132300))])
def test_playrate_scales_source_time(tmp_path, playrate, expected):
    path = write_wav(tmp_path / "imp.wav", impulses(3.0, [22050, 66150, 110250]))
    # source time = 0.5 + t * playrate: the impulse at 0.5 s plays at the clip start (1.0 s)
    track = one_clip_track(path, 1.0, 2.4, source_offset=0.5, playrate=playrate)
    out = render_array([track], sample_rate=SR, channels=1, end=4.0)[0]
    for sample in expected:
        assert peak_near(out, sample) == sample
        assert out[sample] > 0.3
    assert not out[int(3.4 * SR) + 1:].any()  # nothing after the clip's end


def test_warp_segments_play_at_their_own_rates(tmp_path):
    path = write_wav(tmp_path / "imp.wav", impulses(4.0, [SR, int(2.5 * SR)]))
    # clip 0..1 s plays source 0..2 s (rate 2), clip 1..3 s plays source 2..3 s (rate 0.5)
    track = one_clip_track(path, 0.0, 3.0, warp=((0.0, 0.0), (1.0, 2.0), (3.0, 3.0)))
    out = render_array([track], sample_rate=SR, channels=1)[0]
    assert peak_near(out, SR // 2) == SR // 2  # source 1.0 s at clip 0.5 s
    assert peak_near(out, 2 * SR) == 2 * SR  # source 2.5 s at clip 2.0 s

    # a segment running backwards cannot stream: it is silent, with a warning; the rest plays
    track = one_clip_track(path, 0.0, 3.0, warp=((0.0, 1.5), (1.0, 0.5), (1.5, 1.0)))
    warnings: list[str] = []
    out = render_array([track], sample_rate=SR, channels=1, warnings=warnings)[0]
    assert not out[:SR].any()
    assert peak_near(out, int(1.5 * SR)) == int(1.5 * SR)  # rate 1 from clip 1.0 s = source 0.5 s
    assert len(warnings) == 1 and "backwards" in warnings[0]


def test_clips_with_values_that_are_not_numbers_are_skipped_with_a_warning(tmp_path):
    path = constant(tmp_path, "dc", 0.5)
    tracks = [one_clip_track(path, 0.0, 1.0, source_offset=float("nan")), one_clip_track(path, 0.0, 1.0)]
    warnings: list[str] = []
    out = render_array(tracks, sample_rate=SR, channels=1, warnings=warnings)[0]
    assert np.all(out == 0.5) and len(warnings) == 1 and "not a number" in warnings[0]


def test_warp_at_unit_rate_is_a_plain_copy(tmp_path):
    # Ableton writes warp markers like these for an unstretched recording
    source = np.random.default_rng(5).uniform(-0.9, 0.9, (1, SR)).astype(np.float32)
    path = write_wav(tmp_path / "rec.wav", source)
    track = one_clip_track(path, 0.5, 1.0, warp=((0.0, 0.0), (0.015625, 0.015625), (0.9, 0.9)))
    out = render_array([track], sample_rate=SR, channels=1)[0]
    assert np.array_equal(out[SR // 2:], source[0])


def test_loop_repeats_its_region_sample_exactly(tmp_path):
    rate = 8000
    ramp = (np.arange(rate, dtype=np.float32) / rate)[None]  # 1 s, every sample distinct
    path = write_wav(tmp_path / "ramp.wav", ramp, rate)
    loop_start, loop_end = 2000, 6000  # (0.25 s, 0.75 s)

    def wrapped(index: int, start: int, end: int) -> int:
        return index if index < end else start + (index - start) % (end - start)

    track = one_clip_track(path, 0.1, 2.3, source_offset=0.5, loop=(0.25, 0.75))
    out = render_array([track], sample_rate=rate, channels=1)[0]
    first, frames = 800, round(2.3 * rate)
    expected = ramp[0, [wrapped(4000 + j, loop_start, loop_end) for j in range(frames)]]
    assert np.array_equal(out[first:first + frames], expected)
    assert not out[:first].any()

    # loop end None: the region runs to the source's end (1.0 s) and back to 0.5 s
    track = one_clip_track(path, 0.0, 2.0, source_offset=0.0, loop=(0.5, None))
    out = render_array([track], sample_rate=rate, channels=1)[0]
    expected = ramp[0, [wrapped(j, 4000, 8000) for j in range(2 * rate)]]
    assert np.array_equal(out, expected)


def test_loop_offsets_far_past_the_loop_wrap_into_it_and_never_hang(tmp_path):
    """An offset many loop lengths in plays from the same phase; an absurd one (a corrupt
    session's 1e300) renders in finite time instead of spinning on lost float precision."""
    import threading

    rate = 8000
    ramp = (np.arange(rate, dtype=np.float32) / rate)[None]
    path = write_wav(tmp_path / "ramp.wav", ramp, rate)
    near = render_array([one_clip_track(path, 0.0, 1.0, source_offset=0.6, loop=(0.25, 0.75))],
                        sample_rate=rate, channels=1)
    far = render_array([one_clip_track(path, 0.0, 1.0, source_offset=0.6 + 7 * 0.5, loop=(0.25, 0.75))],
                       sample_rate=rate, channels=1)
    assert np.array_equal(near, far)

    done: list = []
    absurd = one_clip_track(path, 0.0, 1.0, source_offset=1e300, loop=(0.25, 0.75))
    worker = threading.Thread(target=lambda: done.append(render_array([absurd], sample_rate=rate, channels=1)),
                              daemon=True)
    worker.start()
    worker.join(20)
    assert done and done[0].shape == (1, rate)


# --- gains, fades, mix ----------------------------------------------------------------------

def constant(tmp_path: Path, name: str, level: float, seconds: float = 1.0) -> Path:
    return write_wav(tmp_path / f"{name}.wav", np.full((1, int(seconds * SR)), level, dtype=np.float32))


@pytest.mark.parametrize("shape", ["linear", "equal_power"])
def test_fades_and_clip_gain(tmp_path, shape):
    path = constant(tmp_path, "dc", 0.5)
    fade_in, fade_out = 100, 200
    track = one_clip_track(path, 0.0, 1000 / SR, gain=0.5, fade_in=fade_in / SR, fade_out=fade_out / SR)
    out = render_array([track], sample_rate=SR, channels=1, fade_shape=shape)[0]
    j = np.arange(1000)
    ramp = np.minimum(1.0, j / fade_in) * np.minimum(1.0, (1000 - j) / fade_out)
    if shape == "equal_power":
        ramp = np.sin(ramp * math.pi / 2)
    np.testing.assert_allclose(out, 0.25 * ramp, rtol=1e-6, atol=1e-9)
    assert out[0] == 0.0 and out[500] == np.float32(0.25)


def test_mix_applies_track_gain_pan_clip_gain_mute_and_solo(tmp_path):
    a = Track(name="a", gain=2.0, pan=-0.5, clips=[
        AudioClip(start=0.0, duration=1.0, source=str(constant(tmp_path, "a", 0.1))),
        AudioClip(start=0.0, duration=1.0, source=str(constant(tmp_path, "a_muted", 0.3)), muted=True),
    ])
    b = Track(name="b", clips=[AudioClip(start=0.0, duration=1.0, source=str(constant(tmp_path, "b", 0.2)), gain=0.5)])
    c = Track(name="c", muted=True, clips=[AudioClip(start=0.0, duration=1.0, source=str(constant(tmp_path, "c", 0.4)))])
    session = session_of(a, b, c)

    stereo = np.concatenate(list(render_mix(session, sample_rate=SR, channels=2)), axis=1)
    assert stereo.shape == (2, SR)
    # left: a at full (pan law: centre is unity, the far side drops), right: a at half
    np.testing.assert_allclose(stereo[0], 0.1 * 2.0 + 0.2 * 0.5, rtol=1e-6)
    np.testing.assert_allclose(stereo[1], 0.1 * 2.0 * 0.5 + 0.2 * 0.5, rtol=1e-6)

    mono = render_array(session, sample_rate=SR, channels=1)[0]
    np.testing.assert_allclose(mono, 0.1 * 2.0 + 0.2 * 0.5, rtol=1e-6)

    b.solo = True
    soloed = render_array(session, sample_rate=SR, channels=1)[0]
    np.testing.assert_allclose(soloed, 0.2 * 0.5, rtol=1e-6)

    # a muted track still renders when asked for by itself; faders=False leaves gain and pan out
    alone = np.concatenate(list(render_track(c, sample_rate=SR, channels=1)), axis=1)[0]
    np.testing.assert_allclose(alone, 0.4, rtol=1e-6)
    raw = render_array(session, tracks=["a"], sample_rate=SR, channels=2, faders=False)
    np.testing.assert_allclose(raw, 0.1, rtol=1e-6)


def test_mute_silences_a_soloed_track_and_a_muted_folder_its_soloed_child():
    # REAPER, Live and Ardour (by default): mute wins over solo, and a folder's mute reaches in.
    folder = Track(name="folder", kind="folder", muted=True)
    child = Track(name="child", parent=0, solo=True)
    muted_solo = Track(name="muted solo", muted=True, solo=True)
    solo = Track(name="solo", solo=True)
    plain = Track(name="plain")
    session = session_of(folder, child, muted_solo, solo, plain)
    assert [t.name for t in session.audible_tracks()] == ["solo"]
    folder.muted, folder.solo, child.solo = False, True, False
    assert [t.name for t in session.audible_tracks()] == ["folder", "child", "solo"]
    for t in session.tracks:
        t.solo = False
    assert [t.name for t in session.audible_tracks()] == ["folder", "child", "solo", "plain"]


# --- channels -------------------------------------------------------------------------------

def test_channel_files_join_two_mono_files(tmp_path):
    rng = np.random.default_rng(2)
    left, right = rng.uniform(-0.5, 0.5, (2, SR)).astype(np.float32)
    files = (str(write_wav(tmp_path / "take%L.wav", left[None])), str(write_wav(tmp_path / "take%R.wav", right[None])))
    track = Track(name="take", clips=[AudioClip(start=0.0, duration=1.0, source=files[0], channel_files=files)])
    stereo = render_array([track], sample_rate=SR, channels=2)
    assert np.array_equal(stereo, np.stack([left, right]))
    mono = render_array([track], sample_rate=SR, channels=1)[0]
    np.testing.assert_allclose(mono, (left + right) / 2, rtol=1e-6, atol=1e-9)


def test_real_ardour_split_channel_files(sessions_dir):
    folder = sessions_dir / "ardour/TestAudio/interchange/Test/audiofiles"
    files = (str(folder / "Drum-1%L.wav"), str(folder / "Drum-1%R.wav"))
    left, rate = sf.read(files[0], dtype="float32")
    right, _ = sf.read(files[1], dtype="float32")
    assert rate == SR and len(left) == len(right) == 361472  # read with soundfile.info beforehand
    clip = AudioClip(start=1.0, duration=len(left) / SR, source=files[0], channel_files=files)
    out = render_array([Track(name="Drum", clips=[clip])], sample_rate=SR, channels=2)
    assert out.shape == (2, SR + 361472)
    assert not out[:, :SR].any()
    assert np.array_equal(out[:, SR:], np.stack([left, right]))


def test_mono_stereo_and_surround_sources_convert(tmp_path):
    mono = constant(tmp_path, "mono", 0.3)
    stereo = write_wav(tmp_path / "stereo.wav", np.array([[0.2] * SR, [0.6] * SR]))
    levels = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]  # L R C LFE Ls Rs
    surround = write_wav(tmp_path / "surround.wav", np.array([[v] * SR for v in levels]))

    def render(path: Path, channels: int) -> np.ndarray:
        return render_array([one_clip_track(path, 0.0, 1.0)], sample_rate=SR, channels=channels)[:, SR // 2]

    np.testing.assert_allclose(render(mono, 2), [0.3, 0.3], rtol=1e-6)
    np.testing.assert_allclose(render(stereo, 1), [0.4], rtol=1e-6)
    np.testing.assert_allclose(render(stereo, 2), [0.2, 0.6], rtol=1e-6)
    np.testing.assert_allclose(render(surround, 1), [sum(levels) / 6], rtol=1e-6)
    np.testing.assert_allclose(render(surround, 6), levels, rtol=1e-6)
    # ITU fold-down: C, Ls/Rs at -3 dB, LFE dropped, each side scaled so its weights sum to 1
    k = math.sqrt(0.5)
    left = (0.1 + k * 0.3 + k * 0.5) / (1 + 2 * k)
    right = (0.2 + k * 0.3 + k * 0.6) / (1 + 2 * k)
    np.testing.assert_allclose(render(surround, 2), [left, right], rtol=1e-6)
    assert channel_matrix(2, 6)[:2].tolist() == [[1, 0], [0, 1]] and not channel_matrix(2, 6)[2:].any()


# --- invariance -----------------------------------------------------------------------------

def test_output_is_identical_whatever_the_block_size_and_threads(tmp_path):
    rng = np.random.default_rng(3)
    noise48 = write_wav(tmp_path / "n48.wav", rng.uniform(-0.5, 0.5, (2, 96000)), 48000)
    noise = write_wav(tmp_path / "n.wav", rng.uniform(-0.5, 0.5, (1, 2 * SR)))
    mp3 = tmp_path / "n.mp3"
    with AudioFile(str(mp3), "w", SR, 2) as f:
        f.write(rng.uniform(-0.5, 0.5, (2, 2 * SR)).astype(np.float32))
    session = session_of(
        one_clip_track(noise48, 0.1, 1.7, fade_in=0.05, fade_out=0.3),
        one_clip_track(noise, 0.37, 2.0, playrate=1.5, loop=(0.2, 0.9), gain=0.7),
        one_clip_track(noise, 0.0, 2.5, warp=((0.0, 0.0), (1.0, 0.6), (2.0, 1.9))),
        one_clip_track(mp3, 0.5, 2.6, source_offset=0.3),
    )
    options = {"sample_rate": 22050, "channels": 2, "start": 0.05, "end": 3.2}
    reference = render_array(session, block_size=CHUNK_FRAMES, workers=1, **options)
    assert reference.shape == (2, 70560 - 1103)  # [start, end) in samples; 1102.5 rounds up
    for block_size in (1, 997, 4096, 100_000):
        blocks = list(render_blocks(session, block_size=block_size, workers=2, **options))
        assert all(b.shape[1] == block_size for b in blocks[:-1]) and 0 < blocks[-1].shape[1] <= block_size
        assert all(b.dtype == np.float32 and b.shape[0] == 2 for b in blocks)
        assert np.array_equal(np.concatenate(blocks, axis=1), reference), block_size


# --- formats --------------------------------------------------------------------------------

@pytest.mark.parametrize("ext, tolerance", [("flac", 1e-4), ("aiff", 1e-4), ("ogg", None), ("mp3", None)])
def test_compressed_and_other_formats_decode_in_place(tmp_path, ext, tolerance):
    rng = np.random.default_rng(4)
    source = (rng.standard_normal((1, 2 * SR)) * 0.2).astype(np.float32)
    path = tmp_path / f"noise.{ext}"
    with AudioFile(str(path), "w", SR, 1, **({"bit_depth": 16} if ext in ("flac", "aiff") else {})) as f:
        f.write(source)
    with SourceReader([path]) as reader:
        assert reader.channels == 1 and reader.sample_rate == SR
        assert reader.duration == pytest.approx(2.0, abs=1e-3 if ext != "ogg" else 0.05)
    out = render_array([one_clip_track(path, 0.5, 2.0)], sample_rate=SR, channels=1)[0]
    placed = np.concatenate([np.zeros(SR // 2, np.float32), source[0]])
    assert out.shape == placed.shape
    if tolerance is not None:
        np.testing.assert_allclose(out, placed, atol=tolerance)
    else:
        # lossy: the same noise, on the same samples (the MP3 encoder delay is trimmed)
        assert lag_of(out, placed, SR) == 0
        assert np.corrcoef(out[SR:SR + 8000], placed[SR:SR + 8000])[0, 1] > 0.9


def test_mp3_gapless_trim_is_read_from_the_lame_tag(sessions_dir):
    # chopin.mp3's LAME tag (hexdump at the tag + 21) holds bytes 24 04 40: delay 576, padding 1088
    assert mp3_gapless_trim(sessions_dir / "reaper/piano-recording/chopin.mp3") == (576 + 529, 1088 - 529)
    assert mp3_gapless_trim(sessions_dir / "reaper/generated/dasd.wav") is None


# --- bad media ------------------------------------------------------------------------------

def test_missing_corrupt_and_truncated_sources_render_silence_with_warnings(tmp_path):
    good = constant(tmp_path, "good", 0.25)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all " * 100)
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    whole = constant(tmp_path, "cut", 0.5, seconds=1.0)
    truncated = tmp_path / "truncated.wav"
    data = whole.read_bytes()
    truncated.write_bytes(data[:len(data) - (SR // 2) * 4])  # the last 0.5 s of float samples gone
    tracks = [
        one_clip_track(good, 0.0, 1.0),
        Track(name="gone", clips=[AudioClip(start=t, duration=0.5, source=str(tmp_path / "gone.wav"), missing=True)
                                  for t in (0.0, 0.5)]),
        one_clip_track(junk, 0.0, 1.0),
        one_clip_track(empty, 0.0, 1.0),
        one_clip_track(truncated, 0.0, 1.0),
    ]
    warnings: list[str] = []
    out = render_array(tracks, sample_rate=SR, channels=1, warnings=warnings)[0]
    np.testing.assert_allclose(out[:SR // 2], 0.75, rtol=1e-6)  # good + the intact half
    np.testing.assert_allclose(out[SR // 2:], 0.25, rtol=1e-6)
    assert len(warnings) == 4  # one line for both clips of the missing file
    assert any("gone.wav" in w and "missing" in w for w in warnings)
    assert any("junk.wav" in w and "cannot open" in w for w in warnings)
    assert any("empty.flac" in w and "empty" in w for w in warnings)
    assert any("truncated.wav" in w and "truncated" in w for w in warnings)


def test_corrupt_samples_midway_silence_the_rest_of_the_clip(tmp_path):
    source = np.full((1, 2 * SR), 0.5, dtype=np.float32)
    source[0, CHUNK_FRAMES + 1000:] = np.nan  # decoded garbage after the first render chunk
    path = write_wav(tmp_path / "nan.wav", source)
    warnings: list[str] = []
    out = render_array([one_clip_track(path, 0.0, 2.0)], sample_rate=SR, channels=1, warnings=warnings)[0]
    assert np.all(out[:CHUNK_FRAMES] == 0.5)
    assert not out[CHUNK_FRAMES:].any()
    assert len(warnings) == 1 and "nan.wav" in warnings[0] and "corrupt" in warnings[0]


def test_decoder_exception_midway_gives_silence_and_a_warning(tmp_path, monkeypatch):
    path = constant(tmp_path, "dies", 0.5, seconds=3.0)

    class DiesOnSecondRead:
        """The real decoder, failing the way a damaged stream does on its second read."""

        def __init__(self, *args):
            self._file = AudioFile(*args)
            self._reads = 0

        def read(self, frames):
            self._reads += 1
            if self._reads == 2:
                raise RuntimeError("MP3 frame sync lost")
            return self._file.read(frames)

        def __getattr__(self, name):
            return getattr(self._file, name)

    monkeypatch.setattr(decode, "AudioFile", DiesOnSecondRead)
    warnings: list[str] = []
    blocks = list(render_blocks([one_clip_track(path, 0.0, 3.0)], sample_rate=SR, channels=1, warnings=warnings))
    out = np.concatenate(blocks, axis=1)[0]
    assert out.shape == (3 * SR,)
    assert np.all(out[:CHUNK_FRAMES] == 0.5) and not out[CHUNK_FRAMES:].any()
    assert len(warnings) == 1 and "dies.wav" in warnings[0] and "frame sync lost" in warnings[0]


# --- real sessions --------------------------------------------------------------------------

def test_real_folder_session_mix_is_the_sum_of_its_files(sessions_dir):
    folder = sessions_dir / "reaper/generated"
    session = load_session(folder)
    names = ["01-200424_0739-01", "01-200424_0739-02", "01-200424_1408", "asdas", "dasd"]
    assert [t.name for t in session.tracks] == names
    out = render_array(session, sample_rate=SR, channels=2)
    assert out.shape == (2, 211209)  # the longest file, 01-200424_0739-02.wav (soundfile.info)
    expected = np.zeros_like(out)
    for name in names:
        data, rate = sf.read(str(folder / f"{name}.wav"), dtype="float32", always_2d=True)
        assert rate == SR
        expected[:, :len(data)] += data.T if data.shape[1] == 2 else np.repeat(data.T, 2, axis=0)
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_real_reaper_piano_recording_renders_the_mp3_in_place(sessions_dir):
    rpp = sessions_dir / "reaper/piano-recording/demo.rpp"
    # demo.rpp: one item, POSITION 0, LENGTH 7.5, SOFFS 0, FADEIN/FADEOUT 0.01 s, of chopin.mp3
    session = load_session(rpp)
    assert session.duration == pytest.approx(7.5)
    warnings: list[str] = []
    out = render_array(session, sample_rate=SR, channels=2, warnings=warnings)
    assert warnings == [] and out.shape == (2, 330750)
    # The decoder's own samples, after the MP3's encoder delay (576 + 529 frames, LAME tag).
    with AudioFile(str(rpp.parent / "chopin.mp3")) as f:
        decoded = f.read(1105 + out.shape[1])[:, 1105:]
    fade = 441  # 0.01 s
    assert np.array_equal(out[:, fade:-fade], decoded[:, fade:-fade])
    assert np.abs(out[:, 0]).max() == 0.0 and np.abs(out[:, -fade:]).max() < np.abs(decoded[:, -fade:]).max()

    mono = render_array(session, sample_rate=22050, channels=1)
    assert mono.shape == (1, 165375)
    assert 0.01 < float(np.sqrt(np.mean(mono ** 2))) < 0.5


# --- memory ---------------------------------------------------------------------------------

def test_memory_does_not_grow_with_the_track_length(tmp_path):
    rate = 8000
    path = write_wav(tmp_path / "bar.wav", np.sin(np.arange(2 * rate) / 10.0)[None] * 0.5, rate)
    hour = Track(name="hour", clips=[AudioClip(start=0.0, duration=3600.0, source=str(path), loop=(0.0, None))])
    tracemalloc.start()
    try:
        total = 0
        for block in render_track(hour, sample_rate=rate, channels=1, block_size=rate):
            total += block.shape[1]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 3600 * rate
    assert peak < 8 * 1024 * 1024  # the whole hour as float32 would be 115 MB


@pytest.mark.parametrize("source_rate, rate, channels", [(44100, 16000, 2), (48000, 16000, 6), (44100, 8000, 2),
                                                         (22050, 16000, 2), (96000, 44100, 2)])
def test_mono_renders_average_before_resampling_with_the_same_samples(tmp_path, source_rate, rate, channels):
    """A mono render resamples the channels' mean (half the work): equal to resampling each channel
    and averaging, to float rounding, across clips that start mid-file (resampler restarts)."""
    rng = np.random.default_rng(channels)
    audio = (rng.standard_normal((channels, source_rate * 6)) * 0.2).astype(np.float32)
    source = write_wav(tmp_path / "multi.wav", audio, sample_rate=source_rate)
    track = Track(name="t", clips=[AudioClip(0.0, 1.7, str(source), source_offset=0.0),
                                   AudioClip(1.7, 2.2, str(source), source_offset=3.123457),
                                   AudioClip(4.0, 1.9, str(source), source_offset=0.5, fade_in=0.1)])
    mono = render_array([track], sample_rate=rate, channels=1)
    per_channel = render_array([track], sample_rate=rate, channels=channels)
    assert mono.shape == (1, per_channel.shape[1])
    np.testing.assert_allclose(mono[0], per_channel.mean(axis=0), atol=2e-6)


def test_mono_render_at_a_rate_without_a_short_period_still_matches(tmp_path):
    audio = (np.random.default_rng(3).standard_normal((2, SR * 2)) * 0.2).astype(np.float32)
    source = write_wav(tmp_path / "s.wav", audio)
    track = Track(name="t", clips=[AudioClip(0.0, 1.5, str(source), playrate=1.0123457, source_offset=0.25)])
    mono = render_array([track], sample_rate=16000, channels=1)
    np.testing.assert_allclose(mono[0], render_array([track], sample_rate=16000, channels=2).mean(axis=0), atol=2e-6)
