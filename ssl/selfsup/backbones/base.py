"""The backbone interface and its registry.

A backbone (encoder) maps a batch to one feature vector per example and exposes ``output_dim``; its class says
in ``domains`` which data it reads (``selfsup.domains``): time-series backbones take (batch, channels, length),
image and seismic backbones (batch, channels, height, width) and also expose ``forward_features`` (the feature
map segmentation heads use), ``feature_channels`` and ``output_stride``. Every backbone is built from
``in_channels`` alone (``build_backbone``); its other arguments have defaults.

Adding a backbone is one module in this package decorated with ``@BACKBONES.register("name")`` plus its import
line in ``backbones/__init__.py``. Registration refuses, when the module is imported, a class that is not an
``nn.Module``, does not implement ``forward`` or does not declare ``domains``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import nn

from selfsup.registry import Registry


# The members a backbone has besides ``forward`` (module docstring), as types. A backbone is held as an
# ``nn.Module``, whose typing sees every attribute it does not declare as a parameter or submodule
# (``Tensor | Module``); ``isinstance(backbone, FeatureMapBackbone)`` tests for the members (as ``hasattr``
# would) and tells the type checker what they are.
@runtime_checkable
class VectorBackbone(Protocol):
    """Every backbone: ``forward`` gives (batch, ``output_dim``) feature vectors."""

    output_dim: int


@runtime_checkable
class SequenceBackbone(Protocol):
    """Time-series backbones: the per-step features before pooling over time."""

    def forward_sequence(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, channels, length) -> (batch, output_dim, steps)."""
        ...


@runtime_checkable
class FeatureMapBackbone(Protocol):
    """Image and seismic backbones: the feature map segmentation heads and dense predictors read."""

    feature_channels: int

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, channels, height, width) -> (batch, feature_channels, height', width')."""
        ...


def check_backbone_class(name: str, entry: object) -> None:
    """TypeError unless ``entry`` is an ``nn.Module`` class with a ``forward`` and ``domains``, a non-empty tuple
    of domain names (a bare string would read as its letters)."""
    if not (isinstance(entry, type) and issubclass(entry, nn.Module)):
        raise TypeError(f"backbone '{name}': {entry!r} is not an nn.Module class")
    where = f"backbone '{name}' ({entry.__module__}.{entry.__qualname__})"
    if entry.forward is nn.Module.forward:
        raise TypeError(f"{where} does not implement forward")
    domains = getattr(entry, "domains", None)
    if domains is None:
        raise TypeError(f"{where} does not set domains, the data domains it reads (e.g. ('timeseries',))")
    if not (isinstance(domains, tuple) and domains and all(isinstance(domain, str) for domain in domains)):
        raise TypeError(f"{where}: domains must be a non-empty tuple of domain names, got {domains!r}")


BACKBONES: Registry[type[nn.Module]] = Registry("backbone", check_entry=check_backbone_class)


def build_backbone(name: str, in_channels: int) -> nn.Module:
    return BACKBONES.get(name)(in_channels=in_channels)
