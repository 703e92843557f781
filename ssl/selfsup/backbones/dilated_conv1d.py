"""TS2Vec's dilated convolutional encoder: a receptive field that spans the whole window.

The reference report's ``conv1d`` sees 19 input steps per output step, so its max-pooled vector is a bag of
local patterns; gestures and activities whose classes differ in their overall shape need more. This
encoder stacks residual blocks of two kernel-3 convolutions with dilation 2^i (block i), so block i adds
4 * 2^i steps of context: with the default 10 blocks plus the output block the receptive field exceeds
8000 steps. Instance-level features are the maximum over time, as in TS2Vec.

Yue et al., "TS2Vec: Towards Universal Representation of Time Series", AAAI 2022;
code: github.com/zhihanyue/ts2vec (``models/encoder.py`` ``TSEncoder``, ``models/dilated_conv.py``).
Same layout and defaults: a per-step linear input layer to 64 channels, ``depth`` = 10 blocks of 64
channels, a final block to 320 channels with a 1x1 projection on its residual path, GELU before each
convolution, dropout 0.1 on the output. TS2Vec's timestamp masking belongs to its training method, not
the encoder, and is left out.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from selfsup.backbones.base import BACKBONES


class _SamePadConv(nn.Module):
    """A dilated convolution whose output has the input's length (one step trimmed when the receptive
    field is even, as in TS2Vec)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        receptive_field = (kernel_size - 1) * dilation + 1
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=receptive_field // 2, dilation=dilation)
        self.trim = 1 if receptive_field % 2 == 0 else 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return out[:, :, : out.shape[-1] - self.trim]


class _ResidualBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int, final: bool) -> None:
        super().__init__()
        self.conv1 = _SamePadConv(in_channels, out_channels, kernel_size, dilation)
        self.conv2 = _SamePadConv(out_channels, out_channels, kernel_size, dilation)
        self.projection = nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels or final else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.projection is None else self.projection(x)
        return self.conv2(F.gelu(self.conv1(F.gelu(x)))) + residual


@BACKBONES.register("dilated_conv1d")
class DilatedConv1dEncoder(nn.Module):
    """channels -> 64 (per-step linear) -> ``depth`` residual blocks of 64 channels with dilations
    1, 2, 4, ... -> a block to 320 channels -> dropout 0.1 -> max over time (a 320-d vector).

    ``forward_sequence`` keeps the time axis (batch, 320, length) for methods that need it (CPC).
    """

    domains: ClassVar[tuple[str, ...]] = ("timeseries",)

    def __init__(
        self, in_channels: int, hidden_channels: int = 64, output_dim: int = 320, depth: int = 10, kernel_size: int = 3
    ) -> None:
        super().__init__()
        self.input_layer = nn.Conv1d(in_channels, hidden_channels, 1)  # TS2Vec's per-step nn.Linear
        widths = [hidden_channels] * depth + [output_dim]
        self.blocks = nn.Sequential(
            *[
                _ResidualBlock(
                    widths[i - 1] if i > 0 else hidden_channels,
                    widths[i],
                    kernel_size,
                    dilation=2**i,
                    final=i == len(widths) - 1,
                )
                for i in range(len(widths))
            ]
        )
        self.dropout = nn.Dropout(0.1)
        self.output_dim = output_dim

    def forward_sequence(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3:
            raise ValueError(f"dilated_conv1d expects (batch, channels, length), got shape {tuple(x.shape)}")
        return self.dropout(self.blocks(self.input_layer(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_sequence(x).amax(dim=-1)
