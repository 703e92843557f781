"""The reference report's 1-D convolutional HAR encoder."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from selfsup.backbones.base import BACKBONES


def _conv_block(in_channels: int, out_channels: int, kernel: int, stride: int, padding: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(in_channels, out_channels, kernel, stride=stride, padding=padding, bias=False),
        nn.BatchNorm1d(out_channels),
        nn.ReLU(inplace=True),
    )


@BACKBONES.register("conv1d")
class Conv1dEncoder(nn.Module):
    """channels -> 32 (kernel 7, stride 2, padding 3) -> 64 -> 128 -> 256 (kernel 3, stride 1), each
    convolution followed by batch norm and ReLU, then max-pooled over time to a 256-d vector.

    ``forward_sequence`` keeps the time axis (batch, 256, length / 2) for methods that need it (CPC).
    """

    domains: ClassVar[tuple[str, ...]] = ("timeseries",)

    def __init__(self, in_channels: int, width: int = 32) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            _conv_block(in_channels, width, 7, 2, 3),
            _conv_block(width, 2 * width, 3, 1, 1),
            _conv_block(2 * width, 4 * width, 3, 1, 1),
            _conv_block(4 * width, 8 * width, 3, 1, 1),
        )
        self.output_dim = 8 * width

    def forward_sequence(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3:
            raise ValueError(f"conv1d expects (batch, channels, length), got shape {tuple(x.shape)}")
        return self.layers(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_sequence(x).amax(dim=-1)
