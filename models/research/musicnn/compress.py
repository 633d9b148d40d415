"""How far can musicnn's pretrained front-end be made cheaper without retraining, and at what
cost in fidelity? Fidelity = agreement of the MTT 50-tag clip output with the uncompressed
model on 64 rendered 3 s patches (Pearson r of probabilities, top-5 overlap); speed = ONNX with
the log-mel inside, onnxruntime 1 thread.

Knobs: t = time stride of every front-end conv (1, 2); f = frequency stride of the two timbral
convs (max over frequency follows anyway); r = SVD rank of the timbral kernels (0 = full).
"""
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, "/tmp/musicnn_work")
import bench
import musicnn_torch as mt

torch.set_num_threads(1)


class LowRankConv(nn.Module):
    def __init__(self, conv: nn.Conv2d, rank: int):
        super().__init__()
        w = conv.weight.data  # (out, 1, kh, kw)
        out, _, kh, kw = w.shape
        u, s, vt = torch.linalg.svd(w.reshape(out, -1), full_matrices=False)
        self.a = nn.Parameter((vt[:rank] * s[:rank, None]).reshape(rank, 1, kh, kw).clone())
        self.b = nn.Parameter(u[:, :rank].reshape(out, rank, 1, 1).clone())
        self.bias = nn.Parameter(conv.bias.data.clone())
        self.energy = float((s[:rank] ** 2).sum() / (s ** 2).sum())

    def forward(self, x, stride):
        return F.conv2d(F.conv2d(x, self.a, stride=stride), self.b, self.bias)


class Compressed(nn.Module):
    def __init__(self, base: mt.Musicnn, t=1, f=1, r=0, backend=True, up=0):
        super().__init__()
        self.up = up
        self.b, self.t, self.f, self.backend = base, t, f, backend
        self.lr = nn.ModuleList([LowRankConv(base.f74, r), LowRankConv(base.f77, r)]) if r else None
        self.head = nn.Conv1d(753, 43, 1)
        self.pool = 5 if up else max(1, round(5 / t))

    def timbral(self, i, conv, xp):
        s = (self.t, self.f)
        return self.lr[i](xp, s) if self.lr is not None else F.conv2d(xp, conv.weight, conv.bias, stride=s)

    def features(self, feats):
        b = self.b
        x = b.bn_in(feats.unsqueeze(1))
        xp = F.pad(x, (0, 0, 3, 3))
        out = [b.bn74(F.relu(self.timbral(0, b.f74, xp))).amax(3), b.bn77(F.relu(self.timbral(1, b.f77, xp))).amax(3)]
        for conv, bn in zip(b.s, b.bns):
            a, c = b._tf_same_pad(conv.kernel_size[0])
            out.append(bn(F.relu(F.conv2d(F.pad(x, (0, 0, a, c)), conv.weight, conv.bias, stride=(self.t, 1)))).amax(3))
        n = min(o.shape[2] for o in out)
        fe = torch.cat([o[:, :, :n] for o in out], 1)
        if self.up and self.t > 1:  # mid-end back at 16 ms spacing (nearest), as it was trained
            fe = fe.repeat_interleave(self.t, dim=2)
        return b.midend(fe)

    def forward(self, feats):
        z = self.features(feats)
        if self.backend:
            return torch.sigmoid(self.b.backend(z)[0])
        return torch.sigmoid(self.head(F.avg_pool1d(z, self.pool))).transpose(1, 2)


if __name__ == "__main__":
    full = mt.Musicnn().load_tf("/tmp/musicnn/unpacked/musicnn/MTT_musicnn/").eval()
    d = np.load("/work/data/corpus/validation-00001.npz")
    audio = d["audio"].astype(np.float32) / 32768.0
    lm = torch.from_numpy(np.stack([mt.musicnn_logmel_numpy(a)[:374] for a in audio]).reshape(-1, 187, 96))
    with torch.no_grad():
        ref = torch.sigmoid(full(lm)).numpy()
    configs = [(1, 1, 0), (2, 1, 0), (2, 2, 0), (1, 1, 32), (2, 1, 32), (2, 2, 32), (2, 2, 16), (2, 3, 16), (3, 3, 16), (4, 2, 16)]
    for cfg in (configs if len(sys.argv) < 2 else [tuple(map(int, a.split(","))) for a in sys.argv[1:]]):
        t, f, r = cfg[:3]
        up = cfg[3] if len(cfg) > 3 else 0
        m = Compressed(full, t, f, r, up=up).eval()
        with torch.no_grad():
            p = m(lm).numpy()
        corr = np.mean([np.corrcoef(p[i], ref[i])[0, 1] for i in range(len(p))])
        top5 = np.mean([len(set(np.argsort(-p[i])[:5]) & set(np.argsort(-ref[i])[:5])) / 5 for i in range(len(p))])
        m.backend = False
        path = f"/tmp/musicnn_work/cmp_t{t}f{f}r{r}u{up}.onnx"
        bench.export(m, path)
        import os
        size = os.path.getsize(path) / 1e6
        rtf = bench.rtf(path, 1)
        energy = "" if not r else " svd-energy %.2f/%.2f" % (m.lr[0].energy, m.lr[1].energy)
        print(f"t={t} f={f} r={r:<3d} up={up} tag-corr {corr:.3f} top5-overlap {top5:.2f}  onnx {size:.2f} MB  RTF@1thread {rtf:.0f}x{energy}", flush=True)
