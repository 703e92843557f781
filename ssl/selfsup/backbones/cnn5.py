"""The coursework's 5-layer convolutional image encoder."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from selfsup.backbones.base import BACKBONES
from selfsup.backbones.resnet import IMAGE_DOMAINS, check_image_batch


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        # 3x3 with padding 1 keeps the spatial size; only the max-pools downsample.
        nn.Conv2d(in_channels, out_channels, 3, stride=1, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


@BACKBONES.register("cnn5")
class CNN5Encoder(nn.Module):
    """Five 3x3 convolution blocks (conv without bias -> batch norm -> ReLU) with channels
    16 -> 32 -> 64 -> 128 -> 256, a 2x2 max-pool after each of the first three blocks (output stride 8:
    an 8x8 input gives a 1x1 map, sizes not divisible by 8 are floored), then a global average pool to a
    256-d vector. About 0.39 M parameters for 3 input channels.

    ``forward(x)``: (B, C, H, W) -> (B, 256); ``forward_features(x)``: (B, C, H, W) -> (B, 256, H/8, W/8).
    """

    domains: ClassVar[tuple[str, ...]] = IMAGE_DOMAINS
    channels: ClassVar[tuple[int, ...]] = (16, 32, 64, 128, 256)
    pooled_blocks: ClassVar[int] = 3

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = in_channels
        for index, width in enumerate(self.channels):
            layers.append(_conv_block(previous, width))
            if index < self.pooled_blocks:
                layers.append(nn.MaxPool2d(2))
            previous = width
        self.layers = nn.Sequential(*layers)
        self.in_channels = in_channels
        self.feature_channels = self.channels[-1]
        self.output_dim = self.feature_channels
        self.output_stride = 2**self.pooled_blocks

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch("cnn5", x, self.in_channels)
        return self.layers(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x).mean(dim=(2, 3))
