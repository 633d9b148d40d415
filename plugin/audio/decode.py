"""Streaming decode of one audio source at any sample rate, through pedalboard.io.AudioFile.

A source is one file, or several files whose channels stack into one source (Ardour's split
mono `%L`/`%R` files). `SourceReader.read(rate, index, count)` returns frames
`[index, index + count)` of the source as if it had been recorded at `rate` Hz: frames outside
the file are silence, and nothing is ever read whole. Resampling is pedalboard's
(`ReadableAudioFile.resampled_to`), which is sample-accurate on seek and gives the same samples
whatever the read sizes; at the file's own rate the samples are the file's, bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Self

import numpy as np
import soundfile
from pedalboard import Resample
from pedalboard.io import AudioFile, StreamResampler

DEFAULT_QUALITY = Resample.Quality.WindowedSinc32

# A decoder that yields samples beyond +40 dBFS (or NaN/inf) is reading corrupt data; real
# recordings, even float ones, never come near this.
SANE_SAMPLE_LIMIT = 100.0

# Formats whose length soundfile derives from the file size, so a truncated file shows up as
# fewer frames than pedalboard reads from the header.
_UNCOMPRESSED_FORMATS = {"WAV", "WAVEX", "AIFF", "W64", "RF64", "CAF"}


# MPEG layer III decoders output this many samples of their own delay before the encoder's
# (LAME and ffmpeg use the same figure when they trim gapless MP3s).
_MP3_DECODER_DELAY = 529


def mp3_gapless_trim(path: str | Path) -> tuple[int, int] | None:
    """(leading, trailing) frames of an MP3's decoded stream that are encoder delay and padding.

    Read from the LAME/Lavc tag in the first frame's Xing/Info header; None when the file has
    none (then nothing is trimmed). The leading figure includes the decoder's own delay.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(10)
            skip = 0
            if head[:3] == b"ID3" and len(head) == 10:
                size = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | (head[9] & 0x7F)
                skip = 10 + size + (10 if head[5] & 0x10 else 0)
            f.seek(skip)
            data = f.read(8192)
    except OSError:
        return None
    sync = next((i for i in range(len(data) - 4) if data[i] == 0xFF and data[i + 1] & 0xE0 == 0xE0), None)
    if sync is None:
        return None
    b1, b3 = data[sync + 1], data[sync + 3]
    version, layer, has_crc = (b1 >> 3) & 3, (b1 >> 1) & 3, not (b1 & 1)
    if layer != 1 or version == 1:  # layer III only; version 1 is reserved
        return None
    mono = (b3 >> 6) == 3
    side_info = (17 if mono else 32) if version == 3 else (9 if mono else 17)
    xing = sync + 4 + (2 if has_crc else 0) + side_info
    if data[xing:xing + 4] not in (b"Xing", b"Info"):
        return None
    flags = int.from_bytes(data[xing + 4:xing + 8], "big")
    tag = xing + 8 + 4 * (flags & 1) + 4 * (flags >> 1 & 1) + 100 * (flags >> 2 & 1) + 4 * (flags >> 3 & 1)
    if data[tag:tag + 4] not in (b"LAME", b"Lavc", b"Lavf", b"L3.9") or len(data) < tag + 24:
        return None
    d0, d1, d2 = data[tag + 21:tag + 24]
    encoder_delay, padding = d0 << 4 | d1 >> 4, (d1 & 0x0F) << 8 | d2
    return encoder_delay + _MP3_DECODER_DELAY, max(padding - _MP3_DECODER_DELAY, 0)


class DecodeError(Exception):
    """A source that cannot be opened or stops decoding. str() is one line naming the file."""


class _MonoResampledStream:
    """A file's channels averaged, then resampled: the samples of `resampled_to` averaged (to
    float rounding) for half the resampling work or less.

    Same interface as pedalboard's resampled files (frames, seek, read, close). A seek restarts
    the resampler at an input frame whose output position is a whole frame (the rate ratio is
    p/q with q <= MAX_PERIOD) and at least WARMUP frames early, whose outputs are dropped: from
    there on the samples equal those of an uninterrupted stream.
    """

    MAX_PERIOD = 48000  # input frames between aligned restart points, at most (one second or so)
    WARMUP = 256  # output frames computed and dropped after a restart
    BLOCK = 32768  # input frames per decode

    def __init__(self, base, rate: float, quality: Resample.Quality, frames: int):
        self._base = base
        self._native = float(base.samplerate)
        self._rate = rate
        self._quality = quality
        ratio = Fraction(rate / self._native).limit_denominator(self.MAX_PERIOD)
        self._out_step, self._in_step = ratio.numerator, ratio.denominator
        self.frames = frames
        self._restart(0)

    @classmethod
    def period(cls, native: float, rate: float) -> int | None:
        """Input frames between aligned restart points, or None when the ratio has no short period."""
        ratio = Fraction(rate / native).limit_denominator(cls.MAX_PERIOD)
        if ratio.numerator <= 0 or abs(ratio.numerator / ratio.denominator * native - rate) > 1e-9 * rate:
            return None
        return ratio.denominator

    def _restart(self, target: int) -> None:
        anchor = max(0, target - self.WARMUP) // self._out_step * self._out_step
        self._base.seek(anchor // self._out_step * self._in_step)
        self._resampler = StreamResampler(self._native, self._rate, 1, self._quality)
        self._buffer = np.zeros((1, 0), dtype=np.float32)
        self._next = anchor  # output frame at the head of the buffer
        self._ended = False
        self._skip(target - anchor)

    def _fill(self, needed: int) -> None:
        parts = [self._buffer]
        have = self._buffer.shape[1]
        while have < needed and not self._ended:
            block = self._base.read(self.BLOCK)
            if block.shape[1]:
                out = self._resampler.process(block.mean(axis=0, keepdims=True, dtype=np.float32))
            else:
                out = self._resampler.process()
                self._ended = True
            parts.append(out)
            have += out.shape[1]
        self._buffer = np.concatenate(parts, axis=1) if len(parts) > 1 else self._buffer

    def _skip(self, count: int) -> None:
        self._fill(count)
        self._buffer = self._buffer[:, count:]
        self._next += count

    def tell(self) -> int:
        return self._next

    def seek(self, frame: int) -> None:
        if frame != self._next:
            self._restart(frame)

    def read(self, count: int) -> np.ndarray:
        count = max(0, min(count, self.frames - self._next))
        self._fill(count)
        out = self._buffer[:, :count]
        if out.shape[1] < count:  # the resampler's tail fell short of the declared length: silence
            out = np.concatenate([out, np.zeros((1, count - out.shape[1]), np.float32)], axis=1)
        self._buffer = self._buffer[:, count:]
        self._next += count
        return out

    def close(self) -> None:
        self._base.close()


class _FileStream:
    """One open file, read at one rate at a time, remembering its position to avoid seeks."""

    def __init__(self, path: str, quality: Resample.Quality):
        self.path = path
        self._quality = quality
        self.notes: list[str] = []
        try:
            if Path(path).stat().st_size == 0:
                raise DecodeError(f"{path}: the file is empty")
            self._base = AudioFile(path)
        except DecodeError:
            raise
        except Exception as exc:  # pedalboard raises ValueError/RuntimeError/OSError per codec
            raise DecodeError(f"{path}: cannot open ({exc})") from exc
        self.channels = int(self._base.num_channels)
        self.sample_rate = float(self._base.samplerate)
        self.frames = int(self._base.frames)
        if self.channels < 1 or not self.sample_rate > 0:
            self._base.close()
            raise DecodeError(f"{path}: cannot open (the header says {self.channels} channels "
                              f"at {self.sample_rate:g} Hz)")
        # MP3 lengths can be estimates; reads then go on until the decoder stops.
        self._length_exact = bool(self._base.exact_duration_known)
        # Frames at the file's rate before its first real sample (gapless MP3 encoder delay).
        self._lead = 0
        trim = mp3_gapless_trim(path) if Path(path).suffix.lower() in (".mp3", ".mp2") else None
        if trim is not None and sum(trim) < self.frames:
            self._lead = trim[0]
            self.frames -= sum(trim)
        self._stream = self._base
        self._rate = self.sample_rate
        self._requested_rate = (self.sample_rate, False)
        self._mono = False  # the stream averages the channels (a _MonoResampledStream)
        self._position: int | None = 0
        self._check_truncation()

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    def _check_truncation(self) -> None:
        try:
            info = soundfile.info(self.path)
        except Exception:  # soundfile cannot read every format pedalboard can; nothing to compare
            return
        if info.format in _UNCOMPRESSED_FORMATS and info.frames < self.frames:
            self.notes.append(
                f"{self.path}: the file is truncated: it holds {info.frames / self.sample_rate:.3f} s "
                f"of the {self.duration:.3f} s its header declares; the rest is silence"
            )
            self.frames = int(info.frames)

    def _switch_rate(self, rate: float, mono: bool) -> None:
        """Reopen the file resampled to `rate` (or as is, when `rate` is the file's own); with
        `mono`, average the channels before resampling where the rates allow it."""
        if not (self._stream is self._base and self._position == 0):  # an unread file is reused
            self._close_stream()
            self._base = AudioFile(self.path)
        self._mono = False
        # Within 1e-8 (under two frames' drift in an hour) a rate is the file's own: no resampling.
        if abs(rate - self.sample_rate) <= 1e-8 * self.sample_rate:
            self._stream, self._rate = self._base, self.sample_rate
        elif mono and self.channels > 1 and _MonoResampledStream.period(self.sample_rate, rate):
            with AudioFile(self.path).resampled_to(rate, quality=self._quality) as probe:
                frames = probe.frames
            self._stream = _MonoResampledStream(self._base, rate, self._quality, frames)
            self._rate, self._mono = rate, True
        else:
            self._stream, self._rate = self._base.resampled_to(rate, quality=self._quality), rate
        self._requested_rate = (rate, mono)
        self._position = 0

    def read(self, rate: float, index: int, count: int, mono: bool = False) -> np.ndarray:
        """(channels, count) frames at `rate`; with `mono`, (1, count): the channels' mean."""
        out = np.zeros((1 if mono else self.channels, count), dtype=np.float32)
        try:
            if (rate, mono) != self._requested_rate:
                self._switch_rate(rate, mono)
            stream = self._stream
            # Positions in the decoded stream, which starts with `lead` frames of encoder delay.
            lead = round(self._lead * self._rate / self.sample_rate)
            lo = max(index, 0) + lead
            hi = index + count + lead
            if self._length_exact:
                # Frames that exist at this rate: the header's (or the truncated) length, scaled.
                end = round((self._lead + self.frames) * self._rate / self.sample_rate)
                hi = min(hi, stream.frames, end)
            if hi <= lo:
                return out
            if self._position != lo:
                if lo >= stream.frames:
                    return out
                stream.seek(lo)
            data = stream.read(hi - lo)
        except DecodeError:
            raise
        except Exception as exc:
            self._position = None
            raise DecodeError(f"{self.path}: decoding failed ({exc})") from exc
        got = int(data.shape[1])
        self._position = lo + got
        if got:
            peak = float(np.max(np.abs(data)))
            if not peak <= SANE_SAMPLE_LIMIT:
                raise DecodeError(f"{self.path}: corrupt data near {(lo - lead) / self._rate:.3f} s "
                                  f"(decoded sample {peak:g})")
            if mono and not self._mono:
                data = data.mean(axis=0, keepdims=True, dtype=np.float32) if data.shape[0] > 1 else data
            out[:, lo - lead - index:lo - lead - index + got] = data
        if got < hi - lo and self._length_exact:
            # The decoder ran out before the length the file declared (a damaged or cut stream).
            self.notes.append(f"{self.path}: decoding ended at {(lo - lead + got) / self._rate:.3f} s, "
                              f"before the {self.duration:.3f} s the file declares; the rest is silence")
            self.frames = int((lo - lead + got) * self.sample_rate / self._rate)
        return out

    def _close_stream(self) -> None:
        for f in (self._stream, self._base):
            try:
                f.close()
            except Exception:  # closing a half-broken decoder must not mask the real problem
                pass

    def close(self) -> None:
        self._close_stream()


class SourceReader:
    """Streams one source (a file, or files whose channels stack in order) at any sample rate.

    Raises DecodeError when a file cannot be opened; `read` raises DecodeError when decoding
    fails. `notes` collects problems that leave the source playable (a truncated file, a
    stream that ended early): those parts play as silence.
    """

    def __init__(self, paths: Sequence[str | Path], *, quality: Resample.Quality = DEFAULT_QUALITY):
        if not paths:
            raise DecodeError("no source file given")
        self._files: list[_FileStream] = []
        try:
            for p in paths:
                self._files.append(_FileStream(str(p), quality))
        except DecodeError:
            self.close()
            raise

    @property
    def channels(self) -> int:
        return sum(f.channels for f in self._files)

    @property
    def sample_rate(self) -> float:
        return self._files[0].sample_rate

    @property
    def duration(self) -> float:
        """Seconds of audio all the files hold (the shortest one's length)."""
        return min(f.duration for f in self._files)

    @property
    def notes(self) -> list[str]:
        return [n for f in self._files for n in f.notes]

    def read(self, rate: float, index: int, count: int, mono: bool = False) -> np.ndarray:
        """Frames [index, index + count) of the source at `rate` Hz: float32 (channels, count),
        or with `mono` (1, count), the mean of all channels (averaged before resampling)."""
        if count <= 0:
            return np.zeros((1 if mono else self.channels, 0), dtype=np.float32)
        parts = [f.read(rate, index, count, mono) for f in self._files]
        if len(parts) == 1:
            return parts[0]
        if not mono:
            return np.concatenate(parts, axis=0)
        weighted = sum(part * f.channels for part, f in zip(parts, self._files))
        return (weighted / self.channels).astype(np.float32)

    def close(self) -> None:
        for f in self._files:
            f.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
