"""Frame-level networks (training only: imports torch) and their export to one ONNX graph.

A model maps mono audio to per-frame logits. Its features come from `models.features.FrontEnd`;
in ONNX the front-end's nodes are prepended to the exported network, so the shipped graph takes
raw audio [batch, samples] and returns sigmoid activations [batch, frames, labels].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .features import FrontEnd


class TorchFrontEnd(nn.Module):
    """The FrontEnd in torch, for training: (batch, padded samples) -> (batch, 1, frames, bins)."""

    def __init__(self, fe: FrontEnd):
        super().__init__()
        self.fe = fe
        self.register_buffer("window", torch.from_numpy(fe.window()))
        self.register_buffer("filterbank", torch.from_numpy(fe.filterbank()))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(audio, self.fe.n_fft, self.fe.hop, window=self.window, center=False,
                          return_complex=True)
        power = spec.real ** 2 + spec.imag ** 2  # (batch, freq, frames)
        bands = torch.matmul(power.transpose(1, 2), self.filterbank)
        return torch.log(bands + self.fe.log_floor).unsqueeze(1)


BIN_READOUTS = ("pool", "flatten")  # how the bins left after the 2-D convs reach the layers over time


@dataclass
class NetConfig:
    """A 2-D CNN over (time, bins), bins pooled away, then dilated 1-D convs over time."""

    channels: tuple[int, ...] = (16, 32, 64, 128, 128)
    time_pools: tuple[int, ...] = (1, 2, 2, 1, 1)
    bin_pools: tuple[int, ...] = (2, 2, 2, 2, 1)
    temporal_dilations: tuple[int, ...] = (1, 2, 4)
    temporal_kernel: int = 3
    band_position: bool = False  # a second input plane holding each band's position (-1 low .. 1 high)
    bin_readout: str = "pool"  # "pool": mean + max over the last bins; "flatten": bins kept as channels
    dropout: float = 0.2
    heads: dict[str, int] = field(default_factory=dict)  # name -> number of labels, in output order

    @property
    def time_stride(self) -> int:
        return int(np.prod(self.time_pools))


class FrameNet(nn.Module):
    """(batch, 1, frames, bins) log features -> (batch, frames / time_stride, labels) logits."""

    def __init__(self, n_bins: int, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        self.norm = nn.BatchNorm2d(1)
        if cfg.band_position:  # convolutions are blind to where in the spectrum they are; this plane tells them
            self.register_buffer("band_position", torch.linspace(-1.0, 1.0, n_bins).view(1, 1, 1, n_bins))
        layers: list[nn.Module] = []
        c_in, bins = 2 if cfg.band_position else 1, n_bins
        for c_out, tp, bp in zip(cfg.channels, cfg.time_pools, cfg.bin_pools):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
            if tp > 1 or bp > 1:
                layers.append(nn.MaxPool2d((tp, bp)))
            c_in, bins = c_out, bins // bp
        self.conv = nn.Sequential(*layers)
        width = cfg.channels[-1]
        if cfg.bin_readout == "flatten":  # where in the spectrum a pattern lies survives, projected to `width`
            self.readout = nn.Sequential(nn.Conv1d(width * bins, width, 1, bias=False), nn.BatchNorm1d(width), nn.ReLU())
        elif cfg.bin_readout not in BIN_READOUTS:
            raise ValueError(f"unknown bin readout {cfg.bin_readout!r}")
        self.temporal = nn.ModuleList()
        for d in cfg.temporal_dilations:
            pad = d * (cfg.temporal_kernel - 1) // 2
            self.temporal.append(nn.Sequential(
                nn.Conv1d(width, width, cfg.temporal_kernel, padding=pad, dilation=d, bias=False),
                nn.BatchNorm1d(width), nn.ReLU()))
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Conv1d(width, sum(cfg.heads.values()), 1)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        x = self.norm(feats)
        if self.cfg.band_position:
            x = torch.cat([x, self.band_position.expand(x.shape[0], 1, x.shape[2], -1)], dim=1)
        x = self.conv(x)  # (batch, channels, frames', bins')
        if self.cfg.bin_readout == "flatten":
            x = self.readout(x.transpose(2, 3).flatten(1, 2))  # (batch, channels * bins', frames') -> width
        else:
            x = x.mean(dim=3) + x.amax(dim=3)  # bins pooled away: (batch, channels, frames')
        for block in self.temporal:
            x = x + block(x)
        return self.head(self.dropout(x)).transpose(1, 2)

    def receptive_field(self) -> int:
        """Feature frames on each side of an output frame's own frames that can change it."""
        reach, jump = 0, 1
        for module in self.conv:
            if isinstance(module, nn.Conv2d):
                reach += jump * (module.kernel_size[0] // 2)
            elif isinstance(module, nn.MaxPool2d):
                k = module.kernel_size[0] if isinstance(module.kernel_size, tuple) else module.kernel_size
                reach += jump * (k - 1)
                jump *= k
        for block in self.temporal:
            conv = block[0]
            reach += jump * conv.dilation[0] * (conv.kernel_size[0] - 1) // 2
        return reach


class Model(nn.Module):
    """Front-end and network: (batch, padded samples) -> logits (batch, out frames, labels)."""

    def __init__(self, fe: FrontEnd, cfg: NetConfig):
        super().__init__()
        self.front = TorchFrontEnd(fe)
        self.net = FrameNet(fe.n_bins, cfg)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.net(self.front(audio))


class _Activations(nn.Module):
    def __init__(self, net: FrameNet):
        super().__init__()
        self.net = net

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(feats))


def export_onnx(model: Model, path, input_name: str = "audio", output_name: str = "activations",
                opset: int = 18) -> None:
    """Write one ONNX graph: audio [batch, samples] -> activations [batch, frames, labels]."""
    import io

    import onnx

    fe = model.front.fe
    model = model.eval()
    feats_name = "features"
    dummy = torch.zeros(1, 1, 64, fe.n_bins)
    buffer = io.BytesIO()
    torch.onnx.export(
        _Activations(model.net).eval(), (dummy,), buffer, input_names=[feats_name], output_names=[output_name],
        dynamic_axes={feats_name: {0: "batch", 2: "frames"}, output_name: {0: "batch", 1: "out_frames"}},
        opset_version=opset, dynamo=False, do_constant_folding=True,
    )
    net = onnx.load_from_string(buffer.getvalue())
    nodes, inits = fe.onnx_graph_nodes(input_name, feats_name)
    graph = net.graph
    new_nodes = list(nodes) + list(graph.node)
    del graph.node[:]
    graph.node.extend(new_nodes)
    graph.initializer.extend(inits)
    del graph.input[:]
    graph.input.append(onnx.helper.make_tensor_value_info(input_name, onnx.TensorProto.FLOAT, ["batch", "samples"]))
    onnx.checker.check_model(net)
    onnx.save(net, str(path))
