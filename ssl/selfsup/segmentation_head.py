"""Dense prediction on top of an image backbone's feature map: the reference report's segmentation head and
the backbone + head model, optionally with a frozen backbone (frozen-feature segmentation evaluation)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from selfsup.backbones.base import FeatureMapBackbone


class SegmentationHead(nn.Module):
    """Two learned 2x upsamplings, then bilinear resizing to the image size::

        ConvTranspose2d(in_channels, hidden_channels, kernel 4, stride 2, padding 1) -> BatchNorm2d -> ReLU
        -> ConvTranspose2d(hidden_channels, n_classes, kernel 4, stride 2, padding 1)
        -> bilinear interpolation (align_corners=False) to ``output_size``

    Each transposed convolution exactly doubles height and width ((h - 1) * 2 - 2 + 4 = 2h), so a map at
    output stride 8 reaches 1/2 of the image before the bilinear step; the interpolation also absorbs sizes
    that the backbone rounded.

    ``forward(features, output_size)``: (B, in_channels, h, w) -> (B, n_classes, *output_size) logits.
    """

    def __init__(self, in_channels: int, n_classes: int, hidden_channels: int = 512) -> None:
        super().__init__()
        if n_classes < 1:
            raise ValueError(f"SegmentationHead needs n_classes >= 1, got {n_classes}")
        self.layers = nn.Sequential(
            # No bias before batch norm: its shift would be cancelled by the mean subtraction.
            nn.ConvTranspose2d(in_channels, hidden_channels, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(hidden_channels),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(hidden_channels, n_classes, 4, stride=2, padding=1),
        )
        self.in_channels = in_channels
        self.n_classes = n_classes

    def forward(self, features: torch.Tensor, output_size: tuple[int, int]) -> torch.Tensor:
        if features.dim() != 4 or features.shape[1] != self.in_channels:
            raise ValueError(
                f"SegmentationHead expects (batch, {self.in_channels}, height, width) features, "
                f"got shape {tuple(features.shape)}"
            )
        logits = self.layers(features)
        return F.interpolate(logits, size=tuple(output_size), mode="bilinear", align_corners=False)


class SegmentationModel(nn.Module):
    """``backbone.forward_features`` -> :class:`SegmentationHead` -> (B, n_classes, H, W) logits at the input
    image's size.

    ``freeze_backbone``: the backbone's parameters get no gradient (``requires_grad`` False, and its forward
    runs under ``torch.no_grad``) and it stays in eval mode, also after ``model.train()``, so its batch-norm
    statistics are those of pretraining: only the head is trained, the frozen-backbone evaluation.

    The backbone must be an image backbone: ``forward_features`` and ``feature_channels``.
    """

    def __init__(
        self, backbone: nn.Module, n_classes: int, freeze_backbone: bool = False, hidden_channels: int = 512
    ) -> None:
        super().__init__()
        if not isinstance(backbone, FeatureMapBackbone):
            raise ValueError(
                f"SegmentationModel needs a backbone with forward_features and feature_channels "
                f"(an image backbone), got {type(backbone).__name__}"
            )
        self.backbone = backbone
        self.head = SegmentationHead(backbone.feature_channels, n_classes, hidden_channels=hidden_channels)
        self.freeze_backbone = freeze_backbone
        if freeze_backbone:
            self.backbone.requires_grad_(False)
            self.backbone.eval()

    def train(self, mode: bool = True) -> SegmentationModel:
        super().train(mode)
        if self.freeze_backbone:
            # nn.Module.train recurses into children; put the frozen backbone back so its batch-norm
            # running statistics are neither used per batch nor updated.
            self.backbone.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.freeze_backbone:
            with torch.no_grad():
                features = self.backbone.forward_features(x)
        else:
            features = self.backbone.forward_features(x)
        return self.head(features, output_size=(x.shape[-2], x.shape[-1]))

    def extra_repr(self) -> str:
        return f"freeze_backbone={self.freeze_backbone}"
