"""musicnn (Pons & Serra 2019) front-end + mid-end (+ back-end) re-implemented in torch,
following musicnn/models.py of the PyPI wheel 0.1.0, loading its TF1 checkpoint with
tfckpt_reader (no tensorflow).

Input contract (musicnn/extractor.py + configuration.py):
  librosa.load(sr=16000) mono; librosa.feature.melspectrogram(n_fft=512, hop=256, n_mels=96)
  -> defaults: center=True (reflect pad 256), periodic Hann, power=2, Slaney mel 0..8000 Hz,
  Slaney area norm; cast float16; log10(10000*x + 1); patches of 187 frames (~3 s).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import tfckpt_reader

SR, N_FFT, HOP, N_MELS = 16000, 512, 256, 96
EPS = 1e-3  # tf.compat.v1.layers.batch_normalization default epsilon


# ------------------------------------------------------------------ features --
def _hz_to_mel_slaney(f):
    f = np.asarray(f, dtype=np.float64)
    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp)


def _mel_to_hz_slaney(m):
    m = np.asarray(m, dtype=np.float64)
    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def librosa_mel_filterbank(sr=SR, n_fft=N_FFT, n_mels=N_MELS, fmin=0.0, fmax=None):
    """== librosa.filters.mel(sr, n_fft, n_mels) defaults (htk=False, norm='slaney'); (n_mels, bins)."""
    fmax = sr / 2 if fmax is None else fmax
    fftfreqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = _mel_to_hz_slaney(np.linspace(_hz_to_mel_slaney(fmin), _hz_to_mel_slaney(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    w = np.zeros((n_mels, len(fftfreqs)))
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        w[i] = np.maximum(0, np.minimum(lower, upper))
    w *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    return w.astype(np.float32)


def musicnn_logmel_numpy(audio: np.ndarray) -> np.ndarray:
    """(frames, 96) exactly as musicnn's batch_data (minus librosa's resampling)."""
    x = np.pad(audio.astype(np.float32), N_FFT // 2, mode="reflect")
    n = 1 + (len(x) - N_FFT) // HOP
    win = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n)[:, None]
    power = np.abs(np.fft.rfft(x[idx] * win, axis=1)) ** 2
    mel = (power @ librosa_mel_filterbank().T).astype(np.float16).astype(np.float32)
    return np.log10(10000 * mel + 1)


class TorchLogMel(nn.Module):
    """Same features, ONNX-exportable the way models/features.py does it (STFT -> MatMul -> log)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("window", torch.hann_window(N_FFT, periodic=True))
        self.register_buffer("fb", torch.from_numpy(librosa_mel_filterbank().T.copy()))

    def forward(self, audio):  # (B, samples) -> (B, frames, 96); caller handles centre padding
        spec = torch.stft(audio, N_FFT, HOP, window=self.window, center=False, return_complex=True)
        power = spec.real ** 2 + spec.imag ** 2
        mel = torch.matmul(power.transpose(1, 2), self.fb)
        return torch.log10(10000 * mel + 1)


# --------------------------------------------------------------------- model --
def _bn(c):
    return nn.BatchNorm2d(c, eps=EPS) if isinstance(c, tuple) else nn.BatchNorm1d(c, eps=EPS)


class Musicnn(nn.Module):
    """x (B, T, 96) log-mel -> dict of musicnn's features; works for any T (fully convolutional
    in time up to the back-end's global pooling)."""

    def __init__(self, num_filt_midend=64, num_units_backend=200, num_classes=50, with_backend=True):
        super().__init__()
        nf = 1.6
        self.bn_in = nn.BatchNorm2d(1, eps=EPS)
        t = int(nf * 128)
        s = int(nf * 32)
        self.f74 = nn.Conv2d(1, t, (7, int(0.4 * N_MELS)))
        self.f77 = nn.Conv2d(1, t, (7, int(0.7 * N_MELS)))
        self.bn74, self.bn77 = nn.BatchNorm2d(t, eps=EPS), nn.BatchNorm2d(t, eps=EPS)
        self.s = nn.ModuleList([nn.Conv2d(1, s, (k, 1)) for k in (128, 64, 32)])
        self.bns = nn.ModuleList([nn.BatchNorm2d(s, eps=EPS) for _ in range(3)])
        fe_dim = 2 * t + 3 * s  # 561
        m = num_filt_midend
        self.mid = nn.ModuleList([nn.Conv1d(fe_dim, m, 7), nn.Conv1d(m, m, 7), nn.Conv1d(m, m, 7)])
        self.bnmid = nn.ModuleList([nn.BatchNorm1d(m, eps=EPS) for _ in range(3)])
        self.out_dim = fe_dim + 3 * m  # 753
        self.with_backend = with_backend
        if with_backend:
            self.bn_pool = nn.BatchNorm1d(2 * self.out_dim, eps=EPS)
            self.dense = nn.Linear(2 * self.out_dim, num_units_backend)
            self.bn_dense = nn.BatchNorm1d(num_units_backend, eps=EPS)
            self.logits = nn.Linear(num_units_backend, num_classes)

    @staticmethod
    def _tf_same_pad(k):  # TF 'SAME' for stride 1: extra padding goes after
        return (k - 1) // 2, (k - 1) - (k - 1) // 2

    def frontend(self, x):  # (B,T,96) -> (B,561,T) and the parts
        x = self.bn_in(x.unsqueeze(1))  # (B,1,T,96)
        xp = F.pad(x, (0, 0, 3, 3))
        f74 = self.bn74(F.relu(self.f74(xp))).amax(dim=3)  # (B,204,T)
        f77 = self.bn77(F.relu(self.f77(xp))).amax(dim=3)
        temporal = []
        for conv, bn in zip(self.s, self.bns):
            a, b = self._tf_same_pad(conv.kernel_size[0])
            temporal.append(bn(F.relu(conv(F.pad(x, (0, 0, a, b))))).amax(dim=3))
        return torch.cat([f74, f77] + temporal, dim=1)

    def midend(self, fe):  # (B,561,T) -> (B,753,T)
        c1 = self.bnmid[0](F.relu(self.mid[0](F.pad(fe, (3, 3)))))
        c2 = self.bnmid[1](F.relu(self.mid[1](F.pad(c1, (3, 3))))) + c1
        c3 = self.bnmid[2](F.relu(self.mid[2](F.pad(c2, (3, 3))))) + c2
        return torch.cat([fe, c1, c2, c3], dim=1)

    def backend(self, feats):  # (B,753,T) -> logits
        mx, mean = feats.amax(dim=2), feats.mean(dim=2)
        pooled = torch.stack([mx, mean], dim=2).flatten(1)  # TF: concat axis 2 then flatten -> interleaved
        h = self.bn_dense(F.relu(self.dense(self.bn_pool(pooled))))
        return self.logits(h), h

    def forward(self, x):
        feats = self.midend(self.frontend(x))
        if not self.with_backend:
            return feats
        return self.backend(feats)[0]

    # ---------------------------------------------------------------- weights --
    def load_tf(self, prefix):
        ck = tfckpt_reader.Checkpoint(prefix)
        g = ck.get

        def conv2d(mod, name):
            mod.weight.data = torch.from_numpy(g(name + "/kernel").transpose(3, 2, 0, 1).copy())
            mod.bias.data = torch.from_numpy(g(name + "/bias"))

        def conv1d(mod, name):  # TF kernel (7, in, 1, out) applied as 2-D over (T, in)
            k = g(name + "/kernel")[:, :, 0, :]
            mod.weight.data = torch.from_numpy(k.transpose(2, 1, 0).copy())
            mod.bias.data = torch.from_numpy(g(name + "/bias"))

        def bn(mod, name):
            mod.weight.data = torch.from_numpy(g(name + "/gamma"))
            mod.bias.data = torch.from_numpy(g(name + "/beta"))
            mod.running_mean.data = torch.from_numpy(g(name + "/moving_mean"))
            mod.running_var.data = torch.from_numpy(g(name + "/moving_variance"))

        # creation order in models.py fixes the TF auto-names
        bn(self.bn_in, "batch_normalization")
        conv2d(self.f74, "conv2d"); bn(self.bn74, "batch_normalization_1")
        conv2d(self.f77, "conv2d_1"); bn(self.bn77, "batch_normalization_2")
        for i in range(3):
            conv2d(self.s[i], "conv2d_%d" % (2 + i)); bn(self.bns[i], "batch_normalization_%d" % (3 + i))
            conv1d(self.mid[i], "conv2d_%d" % (5 + i)); bn(self.bnmid[i], "batch_normalization_%d" % (6 + i))
        if self.with_backend:
            bn(self.bn_pool, "batch_normalization_9")
            self.dense.weight.data = torch.from_numpy(g("dense/kernel").T.copy())
            self.dense.bias.data = torch.from_numpy(g("dense/bias"))
            bn(self.bn_dense, "batch_normalization_10")
            self.logits.weight.data = torch.from_numpy(g("dense_1/kernel").T.copy())
            self.logits.bias.data = torch.from_numpy(g("dense_1/bias"))
        return self
