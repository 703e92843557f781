"""Backbones (encoders) registered by name. Each maps a batch to one feature vector per example and
exposes ``output_dim``; time-series backbones take (batch, channels, length).

Adding a backbone: one module here with ``@BACKBONES.register("name")`` and one import line below.
"""
from selfsup.registry import Registry

BACKBONES: Registry = Registry("backbone")

from selfsup.backbones import conv1d, gru  # noqa: E402,F401  (registration side effect)


def build_backbone(name: str, in_channels: int):
    return BACKBONES.get(name)(in_channels=in_channels)
