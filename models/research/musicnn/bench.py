"""Export musicnn front-end + mid-end (+ a frame-level head) to ONNX with the log-mel front-end
inside the graph, and time it with onnxruntime at 1 thread (and 2) on this CPU.

Variants (all load the pretrained MTT_musicnn weights where shapes allow):
  full      : musicnn front+mid at 16 ms frames, head = avgpool x5 (80 ms) + 1x1 conv -> 43 labels
  frontonly : only the 561-d front-end + head
  t2        : time stride 2 in every front-end conv (32 ms frames; same weights), head pool x(80/32~)2-3
  t2f2      : t2 + frequency stride 2 in the two timbral convs (max over freq then skips positions)
"""
import io
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, "/tmp/musicnn_work")
import musicnn_torch as mt

torch.set_num_threads(1)
N_LABELS = 43  # 12 families + 31 fine labels, as the shipped instrument model


class Variant(nn.Module):
    def __init__(self, base: mt.Musicnn, kind: str):
        super().__init__()
        self.base, self.kind = base, kind
        self.front = mt.TorchLogMel()
        self.t = 2 if kind.startswith("t2") else 1
        self.f = 2 if kind == "t2f2" else 1
        dim = 561 if kind == "frontonly" else 753
        self.pool = 5 if self.t == 1 else 2  # 80 ms or 64 ms output hop
        self.head = nn.Conv1d(dim, N_LABELS, 1)

    def frontend(self, x):
        b = self.base
        x = b.bn_in(x.unsqueeze(1))
        xp = F.pad(x, (0, 0, 3, 3))
        f74 = b.bn74(F.relu(F.conv2d(xp, b.f74.weight, b.f74.bias, stride=(self.t, self.f)))).amax(3)
        f77 = b.bn77(F.relu(F.conv2d(xp, b.f77.weight, b.f77.bias, stride=(self.t, self.f)))).amax(3)
        out = [f74, f77]
        for conv, bn in zip(b.s, b.bns):
            a, c = b._tf_same_pad(conv.kernel_size[0])
            out.append(bn(F.relu(F.conv2d(F.pad(x, (0, 0, a, c)), conv.weight, conv.bias, stride=(self.t, 1)))).amax(3))
        n = min(o.shape[2] for o in out)
        return torch.cat([o[:, :, :n] for o in out], 1)

    def forward(self, feats):  # (B, T, 96) log-mel; the ONNX graph prepends the STFT->mel nodes
        fe = self.frontend(feats)
        z = fe if self.kind == "frontonly" else self.base.midend(fe)
        z = F.avg_pool1d(z, self.pool)
        return torch.sigmoid(self.head(z)).transpose(1, 2)


def frontend_nodes(audio="audio", out="feats", p="fe_"):
    """musicnn log-mel as ONNX nodes, the way models/features.py builds ours:
    audio [B, samples] -> log10(1 + 10000 * mel power) [B, frames, 96]."""
    from onnx import helper, numpy_helper
    win = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(mt.N_FFT) / mt.N_FFT)).astype(np.float32)
    inits = [numpy_helper.from_array(win, p + "window"),
             numpy_helper.from_array(mt.librosa_mel_filterbank().T.copy(), p + "fb"),
             numpy_helper.from_array(np.array(mt.HOP, dtype=np.int64), p + "hop"),
             numpy_helper.from_array(np.array(mt.N_FFT, dtype=np.int64), p + "n_fft"),
             numpy_helper.from_array(np.array([-1], dtype=np.int64), p + "last"),
             numpy_helper.from_array(np.array(10000.0, dtype=np.float32), p + "gain"),
             numpy_helper.from_array(np.array(1.0, dtype=np.float32), p + "one"),
             numpy_helper.from_array(np.array(1 / np.log(10), dtype=np.float32), p + "inv_ln10")]
    nodes = [helper.make_node("Unsqueeze", [audio, p + "last"], [p + "sig"]),
             helper.make_node("STFT", [p + "sig", p + "hop", p + "window", p + "n_fft"], [p + "spec"], onesided=1),
             helper.make_node("ReduceSumSquare", [p + "spec", p + "last"], [p + "pow"], keepdims=0),
             helper.make_node("MatMul", [p + "pow", p + "fb"], [p + "mel"]),
             helper.make_node("Mul", [p + "mel", p + "gain"], [p + "g"]),
             helper.make_node("Add", [p + "g", p + "one"], [p + "g1"]),
             helper.make_node("Log", [p + "g1"], [p + "ln"]),
             helper.make_node("Mul", [p + "ln", p + "inv_ln10"], [out])]
    return nodes, inits


def export(model, path):
    model.eval()
    dummy = torch.zeros(1, 250, 96)
    buf = io.BytesIO()
    torch.onnx.export(model, (dummy,), buf, input_names=["feats"], output_names=["activations"],
                      dynamic_axes={"feats": {0: "batch", 1: "frames"}, "activations": {0: "batch", 1: "out_frames"}},
                      opset_version=18, dynamo=False, do_constant_folding=True)
    m = onnx.load_from_string(buf.getvalue())
    nodes, inits = frontend_nodes()
    g = m.graph
    allnodes = list(nodes) + list(g.node)
    del g.node[:]
    g.node.extend(allnodes)
    g.initializer.extend(inits)
    del g.input[:]
    g.input.append(onnx.helper.make_tensor_value_info("audio", onnx.TensorProto.FLOAT, ["batch", "samples"]))
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return m


def rtf(path, threads, seconds=60.0, chunk=10.0, repeats=2):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    x = (np.random.default_rng(0).standard_normal((1, int(chunk * 16000) + 512)) * 0.1).astype(np.float32)
    s.run(None, {"audio": x})
    best = 1e9
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(int(seconds / chunk)):
            s.run(None, {"audio": x})
        best = min(best, time.perf_counter() - t0)
    return seconds / best


def macs_per_second(kind):
    fps = 16000 / 256 / (2 if kind.startswith("t2") else 1)
    f = 2 if kind == "t2f2" else 1
    timbral = (len(range(0, 96 - 38 + 1, f)) * 7 * 38 + len(range(0, 96 - 67 + 1, f)) * 7 * 67) * 204
    temporal = 96 * (128 + 64 + 32) * 51
    mid = 0 if kind == "frontonly" else 7 * 561 * 64 + 2 * 7 * 64 * 64
    return (timbral + temporal + mid) * fps


if __name__ == "__main__":
    base = mt.Musicnn(with_backend=False).load_tf("/tmp/musicnn/unpacked/musicnn/MTT_musicnn/").eval()
    kinds = sys.argv[1:] or ["full", "frontonly", "t2", "t2f2"]
    for kind in kinds:
        v = Variant(base, kind).eval()
        path = f"/tmp/musicnn_work/musicnn_{kind}.onnx"
        export(v, path)
        params = sum(p.numel() for p in v.parameters())
        import os
        size = os.path.getsize(path) / 1e6
        # parity torch vs onnx
        x = torch.randn(1, 16000 * 5) * 0.1
        with torch.no_grad():
            ref = v(v.front(x)).numpy()
        got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"audio": x.numpy()})[0]
        r1 = rtf(path, 1)
        print(f"{kind:10s} params {params:,}  onnx {size:.2f} MB  GMAC/s-audio {macs_per_second(kind)/1e9:.3f}  "
              f"ort-vs-torch {np.abs(ref-got).max():.2e}  RTF@1thread {r1:.0f}x", flush=True)
