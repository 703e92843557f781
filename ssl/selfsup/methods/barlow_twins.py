"""Barlow Twins (Zbontar et al., ICML 2021; github.com/facebookresearch/barlowtwins).

Two views through backbone and projector; the cross-correlation of their batch-normalised embeddings is
pushed to the identity, ``lambda_offdiag`` weighting the off-diagonal (redundancy) terms. Paper values:
projector 8192-8192-8192, lambda 0.005; the reference report searched projector 256/512/1024 and lambda
0.001-0.01 on time series.
"""

from __future__ import annotations

from pydantic import Field

from selfsup.losses import BarlowTwinsLoss
from selfsup.methods.base import ALL_DOMAINS, METHODS, MethodParams, SSLMethod, StepOutput


class BarlowTwinsParams(MethodParams):
    lambda_offdiag: float = Field(0.005, gt=0)


@METHODS.register("barlow_twins")
class BarlowTwins(SSLMethod[BarlowTwinsParams]):
    Params = BarlowTwinsParams
    domains = ALL_DOMAINS

    def __init__(self, backbone, projector, params: BarlowTwinsParams, data=None) -> None:
        super().__init__(backbone, projector, params, data)
        # Statistics over the global batch (all DDP ranks), as the official all_reduce does.
        self.criterion = BarlowTwinsLoss(lambda_offdiag=params.lambda_offdiag, gather_distributed=True)

    def loss(self, embeddings) -> StepOutput:
        z_a, z_b = embeddings
        return StepOutput(self.criterion(z_a, z_b))
