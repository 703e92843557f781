"""The dilated ResNet-50 of DeepLabV3 (Chen, Papandreou, Schroff & Adam, "Rethinking Atrous Convolution for
Semantic Image Segmentation", arXiv:1706.05587, 2017), as torchvision's ``deeplabv3_resnet50`` builds it."""

from __future__ import annotations

from selfsup.backbones.base import BACKBONES
from selfsup.backbones.resnet import TorchvisionResNetBackbone


@BACKBONES.register("deeplab_resnet50")
class DeepLabResNet50(TorchvisionResNetBackbone):
    """ResNet-50 whose layer3 and layer4 replace their stride 2 by atrous (dilated) convolutions:
    ``resnet50(weights=None, replace_stride_with_dilation=[False, True, True])``, exactly the backbone of
    ``torchvision.models.segmentation.deeplabv3_resnet50`` (there with ImageNet weights by default; here
    randomly initialised). The 3x3 convolutions of layer3 have dilation 2, those of layer4 dilation 4 (its
    first block keeps dilation 2, as torchvision builds it), so the feature map keeps output stride 8 with
    2048 channels: dense features for a segmentation head.

    The first convolution keeps its kernel 7, stride 2 and padding 3 but takes ``in_channels`` channels,
    1 by default for single-channel seismic sections. ``forward`` average-pools the feature map to a
    2048-d vector for methods that need one.

    ``forward(x)``: (B, C, H, W) -> (B, 2048); ``forward_features(x)``: (B, C, H, W) -> (B, 2048, H/8, W/8).
    """

    backbone_name = "deeplab_resnet50"
    torchvision_builder = "resnet50"

    def __init__(self, in_channels: int = 1) -> None:
        super().__init__(in_channels, small_image_stem=False, replace_stride_with_dilation=(False, True, True))
