"""The one interface every SSL method implements: views -> embeddings -> loss (+ per-step hooks).

The shared base owns the backbone and the projector and the forward pass over the views (solo-learn's
``BaseMethod`` idea); a method adds only its hyperparameters (``Params``) and its loss. Adding a method is
one module in this package decorated with ``@METHODS.register("name")`` plus its import line in
``methods/__init__.py``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from selfsup.heads import ProjectionHead
from selfsup.registry import Registry

METHODS: Registry = Registry("method")


class MethodParams(BaseModel):
    """Method-specific hyperparameters; subclasses add fields (all of them searchable by name)."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class ProjectorSpec:
    output_dim: int = 512
    layers: int = 2
    hidden_dim: int | None = None


@dataclass
class StepOutput:
    loss: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)  # logged as train/<term>


class SSLMethod(nn.Module):
    Params: ClassVar[type[MethodParams]] = MethodParams
    n_views: ClassVar[int] = 2

    def __init__(self, backbone: nn.Module, projector: ProjectorSpec, params: MethodParams) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = ProjectionHead(backbone.output_dim, projector.output_dim, projector.layers,
                                        projector.hidden_dim)
        self.params = params

    def forward(self, views: list[torch.Tensor]) -> StepOutput:
        if len(views) != self.n_views:
            raise ValueError(f"{type(self).__name__} expects {self.n_views} views, got {len(views)}")
        embeddings = [self.projector(self.backbone(view)) for view in views]
        return self.loss(embeddings)

    def loss(self, embeddings: list[torch.Tensor]) -> StepOutput:
        raise NotImplementedError

    def after_optimizer_step(self, progress: float) -> None:
        """Hook run after every optimiser step; ``progress`` in [0, 1] (e.g. an EMA momentum schedule)."""
