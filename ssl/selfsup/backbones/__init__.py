"""Backbones (encoders) registered by name. Each maps a batch to one feature vector per example and
exposes ``output_dim``, and says in ``domains`` which data it reads (``selfsup.domains``): time-series
backbones take (batch, channels, length), image and seismic backbones (batch, channels, height, width) and
also expose ``forward_features`` (the feature map segmentation heads use), ``feature_channels`` and
``output_stride``.

Adding a backbone: one module here with ``@BACKBONES.register("name")`` and one import line below.
"""

from selfsup.registry import Registry

BACKBONES: Registry = Registry("backbone")

from selfsup.backbones import cnn5, conv1d, deeplab_resnet50, dilated_conv1d, gru, resnet  # noqa: E402,F401  (registration side effect)


def build_backbone(name: str, in_channels: int):
    return BACKBONES.get(name)(in_channels=in_channels)
