"""Supervised baseline: the same backbone trained from scratch with labels (cross-entropy).

What every report sets pretraining against: the backbone, augmentations and optimiser of an SSL trial,
trained on the labelled training windows of the downstream data instead of the unlabelled pretext ones,
with only the ``label_fraction`` subset of the labels (the same nested, per-class subset the probes use at
that fraction, so "10 % labels" means the same examples for both). The classifier is a linear layer on the
backbone features (in the projector's place); its backbone is then evaluated with the same frozen probes as
any SSL backbone.
"""

from __future__ import annotations

import torch.nn.functional as F
from pydantic import Field
from torch import nn

from selfsup.methods.base import METHODS, MethodParams, PretextBatch, SSLMethod, StepOutput


class SupervisedParams(MethodParams):
    label_fraction: float = Field(1.0, gt=0, le=1)


@METHODS.register("supervised")
class Supervised(SSLMethod[SupervisedParams]):
    Params = SupervisedParams
    n_views = 1
    uses_labels = True
    domains = ("timeseries", "images")  # seismic: the seg_finetune protocol from random initialisation
    projector: nn.Linear  # the classifier, in the shared projector's place

    def __init__(self, backbone, projector, params: SupervisedParams, data=None) -> None:
        super().__init__(backbone, projector, params, data)
        if data is None:
            raise ValueError("the supervised baseline needs the data's class count (DataShape)")
        self.projector = nn.Linear(backbone.output_dim, data.n_classes)  # the classifier

    def forward(self, batch: PretextBatch) -> StepOutput:
        if batch.labels is None:
            raise ValueError("the supervised baseline needs labelled batches")
        (view,) = batch.views(1)
        logits = self.projector(self.backbone(view))
        accuracy = (logits.argmax(dim=1) == batch.labels).float().mean().detach()
        return StepOutput(F.cross_entropy(logits, batch.labels), {"accuracy": accuracy})
