"""Triplet and margin-contrastive learning on augmented views (the lecture notes: Hadsell, Chopra & LeCun,
CVPR 2006; Schroff, Kalenichenko & Philbin, "FaceNet", CVPR 2015; Hermans, Beyer & Leibe, "In Defense of the
Triplet Loss", 2017; conventions of TensorFlow Addons and pytorch-metric-learning, see ``losses/triplet.py``).

Positives are the two augmented views of one window, negatives the views of every other window in the global
batch. ``triplet`` mines negatives per anchor (``semi_hard`` as FaceNet, ``batch_hard`` as Hermans et al., or
``all``); ``margin_contrastive`` pulls positive pairs together and pushes negative pairs beyond the margin.
Distances are Euclidean between L2-normalised embeddings (in [0, 2]), so margins are on that scale.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from selfsup.losses import MarginContrastiveLoss, TripletLoss
from selfsup.methods.base import ALL_DOMAINS, METHODS, MethodParams, SSLMethod, StepOutput


class TripletParams(MethodParams):
    margin: float = Field(0.2, gt=0)
    mining: Literal["semi_hard", "batch_hard", "all"] = "semi_hard"


@METHODS.register("triplet")
class Triplet(SSLMethod[TripletParams]):
    Params = TripletParams
    domains = ALL_DOMAINS

    def __init__(self, backbone, projector, params: TripletParams, data=None) -> None:
        super().__init__(backbone, projector, params, data)
        self.criterion = TripletLoss(params.margin, params.mining, gather_distributed=True)

    def loss(self, embeddings) -> StepOutput:
        return StepOutput(self.criterion(*embeddings))


class MarginContrastiveParams(MethodParams):
    margin: float = Field(1.0, gt=0)


@METHODS.register("margin_contrastive")
class MarginContrastive(SSLMethod[MarginContrastiveParams]):
    Params = MarginContrastiveParams
    domains = ALL_DOMAINS

    def __init__(self, backbone, projector, params: MarginContrastiveParams, data=None) -> None:
        super().__init__(backbone, projector, params, data)
        self.criterion = MarginContrastiveLoss(params.margin, gather_distributed=True)

    def loss(self, embeddings) -> StepOutput:
        return StepOutput(self.criterion(*embeddings))
