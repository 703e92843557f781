"""Backbones registered by name (see ``base.py`` for the interface). One import line per backbone."""

from selfsup.backbones import (  # noqa: F401  (registration side effects)
    cnn5,
    conv1d,
    deeplab_resnet50,
    dilated_conv1d,
    gru,
    resnet,
)
from selfsup.backbones.base import BACKBONES, build_backbone

__all__ = ["BACKBONES", "build_backbone"]
