"""The feature front-end every model carries inside its ONNX graph: STFT power -> filterbank -> log.

One `FrontEnd` describes it. The same description builds three implementations that must agree:
the ONNX nodes shipped in the model (runtime code never recomputes features), the torch module
used in training, and a numpy reference for tests.

Framing convention (shared by training labels and the runtime): the caller prepends
`pad_samples` zeros, so feature frame k covers the analysis window centred on the middle of
[k*hop, (k+1)*hop) and stands for that interval of the original audio.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class FrontEnd:
    sample_rate: int
    n_fft: int
    hop: int
    n_bins: int
    fmin: float
    fmax: float
    scale: str = "mel"  # "mel" or "log" (log-spaced centres: constant bins per octave)
    log_floor: float = 1e-6

    @property
    def pad_samples(self) -> int:
        return (self.n_fft - self.hop) // 2

    def to_json(self) -> dict:
        return asdict(self)

    def window(self) -> np.ndarray:
        """Periodic Hann window."""
        n = np.arange(self.n_fft)
        return (0.5 - 0.5 * np.cos(2 * np.pi * n / self.n_fft)).astype(np.float32)

    def centres(self) -> np.ndarray:
        """n_bins + 2 edge frequencies (Hz) of the triangular filters."""
        if self.scale == "mel":
            lo, hi = _hz_to_mel(self.fmin), _hz_to_mel(self.fmax)
            return _mel_to_hz(np.linspace(lo, hi, self.n_bins + 2))
        if self.scale == "log":
            return np.geomspace(self.fmin, self.fmax, self.n_bins + 2)
        raise ValueError(f"unknown filterbank scale {self.scale!r}")

    def filterbank(self) -> np.ndarray:
        """(n_fft // 2 + 1, n_bins) triangular filters, each at least one FFT bin wide, unit peak."""
        freqs = np.arange(self.n_fft // 2 + 1) * self.sample_rate / self.n_fft
        edges = self.centres()
        min_width = self.sample_rate / self.n_fft
        fb = np.zeros((freqs.size, self.n_bins), dtype=np.float64)
        for b in range(self.n_bins):
            lo, mid, hi = edges[b], edges[b + 1], edges[b + 2]
            lo, hi = min(lo, mid - min_width), max(hi, mid + min_width)
            rise = (freqs - lo) / (mid - lo)
            fall = (hi - freqs) / (hi - mid)
            fb[:, b] = np.clip(np.minimum(rise, fall), 0.0, None)
        return fb.astype(np.float32)

    def frame_count(self, samples_after_padding: int) -> int:
        return max(0, 1 + (samples_after_padding - self.n_fft) // self.hop)

    def numpy_features(self, padded_audio: np.ndarray) -> np.ndarray:
        """(frames, n_bins) log filterbank energies of already padded mono audio."""
        n = self.frame_count(len(padded_audio))
        idx = np.arange(self.n_fft)[None, :] + self.hop * np.arange(n)[:, None]
        frames = padded_audio[idx].astype(np.float64) * self.window()
        power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
        return np.log(power @ self.filterbank() + self.log_floor).astype(np.float32)

    # ---- ONNX -----------------------------------------------------------------------------
    def onnx_graph_nodes(self, audio_name: str, output_name: str, prefix: str = "fe_"):
        """(nodes, initializers) turning audio [batch, samples] into [batch, 1, frames, n_bins]."""
        from onnx import helper, numpy_helper

        p = prefix
        inits = [
            numpy_helper.from_array(self.window(), p + "window"),
            numpy_helper.from_array(self.filterbank(), p + "filterbank"),
            numpy_helper.from_array(np.array(self.hop, dtype=np.int64), p + "hop"),
            numpy_helper.from_array(np.array(self.n_fft, dtype=np.int64), p + "n_fft"),
            numpy_helper.from_array(np.array([-1], dtype=np.int64), p + "last_axis"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), p + "channel_axis"),
            numpy_helper.from_array(np.array(self.log_floor, dtype=np.float32), p + "floor"),
        ]
        nodes = [
            helper.make_node("Unsqueeze", [audio_name, p + "last_axis"], [p + "signal"]),
            helper.make_node("STFT", [p + "signal", p + "hop", p + "window", p + "n_fft"], [p + "spectrum"],
                             onesided=1),
            helper.make_node("ReduceSumSquare", [p + "spectrum", p + "last_axis"], [p + "power"], keepdims=0),
            helper.make_node("MatMul", [p + "power", p + "filterbank"], [p + "bands"]),
            helper.make_node("Add", [p + "bands", p + "floor"], [p + "floored"]),
            helper.make_node("Log", [p + "floored"], [p + "logbands"]),
            helper.make_node("Unsqueeze", [p + "logbands", p + "channel_axis"], [output_name]),
        ]
        return nodes, inits


def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def _mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)
