"""Image backbones (ResNet-18/50 with both stems, the 5-layer CNN, DeepLabV3's dilated ResNet-50) and the
segmentation head/model: shapes, output strides, dilation, parameter count, frozen backbone, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from selfsup.backbones import BACKBONES, build_backbone
from selfsup.segmentation_head import SegmentationHead, SegmentationModel

# name -> (feature channels, output stride)
IMAGE_BACKBONES = {
    "resnet18": (512, 32),
    "resnet50": (2048, 32),
    "resnet18_small": (512, 8),
    "resnet50_small": (2048, 8),
    "cnn5": (256, 8),
    "deeplab_resnet50": (2048, 8),
}
BATCH, SIZE = 2, 64


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("in_channels", [1, 3])
@pytest.mark.parametrize("name", list(IMAGE_BACKBONES))
def test_vector_and_feature_map_shapes(name, in_channels):
    channels, stride = IMAGE_BACKBONES[name]
    backbone = build_backbone(name, in_channels)
    assert (backbone.feature_channels, backbone.output_dim, backbone.output_stride) == (channels, channels, stride)
    assert BACKBONES.get(name).domains == ("images", "seismic")
    x = torch.randn(BATCH, in_channels, SIZE, SIZE)
    with torch.no_grad():
        features = backbone.forward_features(x)
        vector = backbone(x)
    assert features.shape == (BATCH, channels, SIZE // stride, SIZE // stride)
    assert vector.shape == (BATCH, channels)
    # forward is the global average pool of the feature map
    torch.testing.assert_close(vector, features.mean(dim=(2, 3)))


@pytest.mark.parametrize("name", ["resnet18", "resnet18_small"])
def test_non_square_input_keeps_the_output_stride(name):
    _, stride = IMAGE_BACKBONES[name]
    backbone = build_backbone(name, 3).eval()
    with torch.no_grad():
        features = backbone.forward_features(torch.randn(1, 3, 64, 128))
    assert features.shape[-2:] == (64 // stride, 128 // stride)


def test_small_stem_keeps_a_4x4_map_for_32x32_images():
    by_name = build_backbone("resnet18_small", 3)
    by_option = BACKBONES.get("resnet18")(in_channels=3, small_image_stem=True)
    for backbone in (by_name, by_option):
        assert backbone.conv1.kernel_size == (3, 3) and backbone.conv1.stride == (1, 1)
        assert isinstance(backbone.maxpool, nn.Identity)
        with torch.no_grad():
            assert backbone.forward_features(torch.randn(BATCH, 3, 32, 32)).shape == (BATCH, 512, 4, 4)
    # the ImageNet stem reduces 32x32 to a single position
    with torch.no_grad():
        assert build_backbone("resnet18", 3).forward_features(torch.randn(BATCH, 3, 32, 32)).shape[-2:] == (1, 1)


def test_small_variants_take_no_stem_option():
    with pytest.raises(TypeError):
        BACKBONES.get("resnet18_small")(in_channels=3, small_image_stem=False)


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "deeplab_resnet50"])
def test_adapted_first_convolution_keeps_kernel_stride_padding(name):
    conv = build_backbone(name, 1).conv1
    assert (conv.in_channels, conv.out_channels) == (1, 64)
    assert (conv.kernel_size, conv.stride, conv.padding) == ((7, 7), (2, 2), (3, 3))
    assert conv.bias is None


def test_resnet_state_dict_matches_torchvision_without_fc():
    from torchvision.models import resnet18

    reference = {key for key in resnet18(weights=None).state_dict() if not key.startswith("fc.")}
    assert set(build_backbone("resnet18", 3).state_dict()) == reference


def test_cnn5_parameter_count():
    n_parameters = sum(p.numel() for p in build_backbone("cnn5", 3).parameters())
    assert 350_000 <= n_parameters <= 450_000
    # 3x3 convolutions without bias plus batch-norm weight and bias: 9 * (3*16 + 16*32 + 32*64 + 64*128
    # + 128*256) + 2 * (16 + 32 + 64 + 128 + 256)
    assert n_parameters == 9 * (48 + 512 + 2048 + 8192 + 32768) + 2 * 496


def test_cnn5_8x8_input_gives_a_1x1_map():
    with torch.no_grad():
        assert build_backbone("cnn5", 3).forward_features(torch.randn(BATCH, 3, 8, 8)).shape == (BATCH, 256, 1, 1)


def test_deeplab_backbone_is_dilated_like_torchvision_deeplabv3():
    backbone = BACKBONES.get("deeplab_resnet50")()  # single-channel seismic input by default
    assert backbone.conv1.in_channels == 1
    assert (backbone.feature_channels, backbone.output_stride) == (2048, 8)
    # torchvision builds the first block of a dilated stage with the previous stage's dilation
    assert [block.conv2.dilation for block in backbone.layer3] == [(1, 1)] + [(2, 2)] * 5
    assert [block.conv2.dilation for block in backbone.layer4] == [(2, 2), (4, 4), (4, 4)]
    assert all(block.conv2.stride == (1, 1) for block in [*backbone.layer3, *backbone.layer4])
    with torch.no_grad():
        assert backbone.forward_features(torch.randn(BATCH, 1, SIZE, SIZE)).shape == (BATCH, 2048, 8, 8)

    # the same layout as the backbone of torchvision.models.segmentation.deeplabv3_resnet50
    from torchvision.models.segmentation import deeplabv3_resnet50

    reference = deeplabv3_resnet50(weights=None, weights_backbone=None).backbone
    assert [block.conv2.dilation for block in reference.layer4] == [block.conv2.dilation for block in backbone.layer4]


@pytest.mark.parametrize("name", list(IMAGE_BACKBONES))
def test_wrong_rank_names_the_backbone(name):
    backbone = build_backbone(name, 3)
    with pytest.raises(ValueError, match=rf"^{name} expects .*got shape \(2, 3, 32\)"):
        backbone(torch.randn(2, 3, 32))
    with pytest.raises(ValueError, match=rf"^{name} was built for 3 input channels"):
        backbone(torch.randn(2, 1, 32, 32))


@pytest.mark.parametrize("name,size", [("cnn5", (32, 48)), ("resnet18", (64, 64)), ("resnet18", (50, 70))])
def test_segmentation_model_logits_have_the_input_size(name, size):
    model = SegmentationModel(build_backbone(name, 1), n_classes=6)
    logits = model(torch.randn(BATCH, 1, *size))
    assert logits.shape == (BATCH, 6, *size)


def test_segmentation_head_doubles_twice_before_resizing():
    head = SegmentationHead(in_channels=8, n_classes=3, hidden_channels=16)
    assert head.layers(torch.randn(BATCH, 8, 5, 7)).shape == (BATCH, 3, 20, 28)
    assert head(torch.randn(BATCH, 8, 5, 7), output_size=(40, 56)).shape == (BATCH, 3, 40, 56)


def test_frozen_backbone_gets_no_gradient_and_stays_in_eval_mode():
    model = SegmentationModel(build_backbone("cnn5", 3), n_classes=4, freeze_backbone=True)
    model.train()
    assert model.training and model.head.training
    assert not any(module.training for module in model.backbone.modules())
    running_mean = model.backbone.layers[0][1].running_mean.clone()

    model(torch.randn(BATCH, 3, 32, 32)).sum().backward()
    assert all(p.grad is None and not p.requires_grad for p in model.backbone.parameters())
    assert all(p.grad is not None for p in model.head.parameters())
    # eval-mode batch norm leaves the pretrained statistics alone
    torch.testing.assert_close(model.backbone.layers[0][1].running_mean, running_mean)


def test_trainable_backbone_gets_gradient():
    model = SegmentationModel(build_backbone("cnn5", 3), n_classes=4)
    model.train()
    assert model.backbone.training
    model(torch.randn(BATCH, 3, 32, 32)).sum().backward()
    assert all(p.grad is not None for p in model.backbone.parameters())


def test_segmentation_model_rejects_a_vector_only_backbone():
    with pytest.raises(ValueError, match="forward_features and feature_channels"):
        SegmentationModel(build_backbone("gru", 3), n_classes=2)
