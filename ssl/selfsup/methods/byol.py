"""BYOL (Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020; github.com/deepmind/deepmind-research,
``byol/byol_experiment.py``; solo-learn ``solo/methods/byol.py``).

An online network (backbone, projector, predictor) predicts a target network's projection of the other
view; the target is an exponential moving average of the online backbone + projector whose momentum follows
the paper's cosine schedule from ``base_momentum`` (0.996) to 1. Loss, symmetrised over the two views::

    loss = (2 - 2 cos(q_1, z'_2)) + (2 - 2 cos(q_2, z'_1))        q = predictor(projector(backbone(v)))
                                                                   z' = target(v), no gradient

The target never receives gradients; its BatchNorm runs in train mode (batch statistics) as in the paper.
Paper: projector and predictor 4096 -> 256 (``projector_hidden_dim``, ``projector_dim``,
``predictor_hidden_dim``).
"""

from __future__ import annotations

import torch
from pydantic import Field

from selfsup.heads import ProjectionHead
from selfsup.losses import negative_cosine
from selfsup.methods.base import ALL_DOMAINS, METHODS, MethodParams, PretextBatch, SSLMethod, StepOutput
from selfsup.methods.momentum import cosine_momentum, ema_update, frozen_copy


class BYOLParams(MethodParams):
    base_momentum: float = Field(0.996, ge=0, le=1)
    predictor_hidden_dim: int | None = Field(None, ge=1)  # None: the projector's hidden width


@METHODS.register("byol")
class BYOL(SSLMethod[BYOLParams]):
    Params = BYOLParams
    domains = ALL_DOMAINS

    def __init__(self, backbone, projector, params: BYOLParams, data=None) -> None:
        super().__init__(backbone, projector, params, data)
        assert self.projector is not None  # uses_projector: built by SSLMethod
        self.predictor = ProjectionHead(
            projector.output_dim,
            projector.output_dim,
            layers=2,
            hidden_dim=params.predictor_hidden_dim or projector.hidden_dim,
        )
        self.target_backbone = frozen_copy(self.backbone)
        self.target_projector = frozen_copy(self.projector)
        self.momentum = params.base_momentum

    def forward(self, batch: PretextBatch) -> StepOutput:
        views = batch.views(2)
        predictions = [self.predictor(z) for z in self.embed_views(views)]
        with torch.no_grad():
            targets = [self.target_projector(self.target_backbone(view)) for view in views]
        terms = {
            "view_1": 2 + 2 * negative_cosine(predictions[0], targets[1]),
            "view_2": 2 + 2 * negative_cosine(predictions[1], targets[0]),
        }
        return StepOutput(terms["view_1"] + terms["view_2"], {"target_momentum": torch.tensor(self.momentum)})

    def after_optimizer_step(self, progress: float) -> None:
        # The momentum for the update after step k is tau_k of the schedule (progress = k / K).
        self.momentum = cosine_momentum(self.params.base_momentum, progress)
        assert self.projector is not None  # uses_projector: built by SSLMethod
        ema_update(self.target_backbone, self.backbone, self.momentum)
        ema_update(self.target_projector, self.projector, self.momentum)
