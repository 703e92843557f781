"""ResNet-18 / ResNet-50 image encoders built from torchvision's definitions (He, Zhang, Ren & Sun, "Deep
Residual Learning for Image Recognition", CVPR 2016), randomly initialised, classifier removed."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

from selfsup.backbones.base import BACKBONES

IMAGE_DOMAINS = ("images", "seismic")


def check_image_batch(backbone_name: str, x: torch.Tensor, in_channels: int) -> None:
    """ValueError unless ``x`` is (batch, in_channels, height, width); the message names the backbone."""
    if x.dim() != 4:
        raise ValueError(f"{backbone_name} expects (batch, channels, height, width), got shape {tuple(x.shape)}")
    if x.shape[1] != in_channels:
        raise ValueError(f"{backbone_name} was built for {in_channels} input channels, got shape {tuple(x.shape)}")


def _kaiming_conv(in_channels: int, out_channels: int, kernel: int, stride: int, padding: int) -> nn.Conv2d:
    conv = nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=padding, bias=False)
    # The initialisation torchvision's ResNet gives every convolution, so a replaced stem starts alike.
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return conv


class TorchvisionResNetBackbone(nn.Module):
    """A torchvision ResNet without its classifier: stem -> layer1..layer4 -> global average pool.

    Stem (ImageNet): conv 7x7 stride 2 (padding 3) -> BN -> ReLU -> max-pool 3x3 stride 2 (stride 4), then
    layer2, layer3 and layer4 each stride 2: output stride 32. ``small_image_stem`` replaces it by a 3x3 stride-1 conv
    (padding 1) and drops the max-pool, as SimCLR does for 32x32 CIFAR images (Chen, Kornblith, Norouzi &
    Hinton, ICML 2020, appendix B.9): output stride 8, so 32x32 inputs give a 4x4 map instead of 1x1.
    ``in_channels`` != 3 replaces the first convolution by one of the same kernel, stride and padding.
    ``replace_stride_with_dilation`` (torchvision's argument) trades the stride 2 of layer2/3/4 for
    dilated convolutions, halving the output stride for each True.

    Module names are torchvision's (conv1, bn1, layer1, ...), so a torchvision state dict without ``fc.*``
    loads into a 3-channel, ImageNet-stem instance.

    ``forward(x)``: (B, C, H, W) -> (B, output_dim); ``forward_features(x)``: (B, C, H, W) ->
    (B, feature_channels, H / output_stride, W / output_stride) (sizes rounded up by the strided layers).
    """

    domains: ClassVar[tuple[str, ...]] = IMAGE_DOMAINS
    backbone_name: ClassVar[str]
    # The builder in ``torchvision.models``, by name: torchvision is imported when a ResNet is built, not when
    # the registry loads, since importing it costs every process about a second (it pulls in torch._dynamo)
    # and time-series trials, whose Ray Train workers start on the critical path, never use it.
    torchvision_builder: ClassVar[str]

    def __init__(
        self,
        in_channels: int,
        small_image_stem: bool = False,
        replace_stride_with_dilation: tuple[bool, bool, bool] = (False, False, False),
    ) -> None:
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"{self.backbone_name} needs in_channels >= 1, got {in_channels}")
        from torchvision import models  # on first build, see torchvision_builder

        build = getattr(models, self.torchvision_builder)
        net = build(weights=None, replace_stride_with_dilation=list(replace_stride_with_dilation))
        self.in_channels = in_channels
        self.small_image_stem = small_image_stem
        if small_image_stem:
            self.conv1 = _kaiming_conv(in_channels, net.conv1.out_channels, kernel=3, stride=1, padding=1)
            self.maxpool = nn.Identity()
        else:
            if in_channels != 3:
                original = net.conv1
                net.conv1 = _kaiming_conv(
                    in_channels,
                    original.out_channels,
                    kernel=original.kernel_size[0],
                    stride=original.stride[0],
                    padding=original.padding[0],
                )
            self.conv1 = net.conv1
            self.maxpool = net.maxpool
        self.bn1, self.relu = net.bn1, net.relu
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4

        stem_stride = 1 if small_image_stem else 4  # conv1 stride 2 and max-pool stride 2
        stage_stride = math.prod(1 if dilated else 2 for dilated in replace_stride_with_dilation)
        self.output_stride = stem_stride * stage_stride
        self.feature_channels = net.fc.in_features  # 512 for ResNet-18, 2048 for ResNet-50
        self.output_dim = self.feature_channels

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(self.backbone_name, x, self.in_channels)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x).mean(dim=(2, 3))

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, small_image_stem={self.small_image_stem}, "
            f"output_stride={self.output_stride}"
        )


@BACKBONES.register("resnet18")
class ResNet18(TorchvisionResNetBackbone):
    """torchvision ResNet-18 (BasicBlock, [2, 2, 2, 2]), 512-d features; ImageNet stem unless
    ``small_image_stem=True``."""

    backbone_name = "resnet18"
    torchvision_builder = "resnet18"

    def __init__(self, in_channels: int, small_image_stem: bool = False) -> None:
        super().__init__(in_channels, small_image_stem=small_image_stem)


@BACKBONES.register("resnet50")
class ResNet50(TorchvisionResNetBackbone):
    """torchvision ResNet-50 (Bottleneck, [3, 4, 6, 3]), 2048-d features; ImageNet stem unless
    ``small_image_stem=True``."""

    backbone_name = "resnet50"
    torchvision_builder = "resnet50"

    def __init__(self, in_channels: int, small_image_stem: bool = False) -> None:
        super().__init__(in_channels, small_image_stem=small_image_stem)


# The small-stem variants under their own names, so a search-space file picks the stem by backbone name.
# They take no small_image_stem option: "resnet18_small" with the ImageNet stem would be a contradiction.


@BACKBONES.register("resnet18_small")
class ResNet18Small(TorchvisionResNetBackbone):
    """ResNet-18 with the small-image (CIFAR) stem: output stride 8, 32x32 -> 4x4 feature map."""

    backbone_name = "resnet18_small"
    torchvision_builder = "resnet18"

    def __init__(self, in_channels: int) -> None:
        super().__init__(in_channels, small_image_stem=True)


@BACKBONES.register("resnet50_small")
class ResNet50Small(TorchvisionResNetBackbone):
    """ResNet-50 with the small-image (CIFAR) stem: output stride 8, 32x32 -> 4x4 feature map."""

    backbone_name = "resnet50_small"
    torchvision_builder = "resnet50"

    def __init__(self, in_channels: int) -> None:
        super().__init__(in_channels, small_image_stem=True)
