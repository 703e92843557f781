"""VICReg (Bardes, Ponce & LeCun, ICLR 2022; github.com/facebookresearch/vicreg).

Variance (keep each embedding dimension's std above 1), invariance (MSE between views) and covariance
(decorrelate dimensions) terms, weighted 25 / 25 / 1 in the paper.
"""

from __future__ import annotations

from pydantic import Field

from selfsup.losses import VICRegLoss
from selfsup.methods.base import ALL_DOMAINS, METHODS, MethodParams, SSLMethod, StepOutput


class VICRegParams(MethodParams):
    sim_coeff: float = Field(25.0, ge=0)
    std_coeff: float = Field(25.0, ge=0)
    cov_coeff: float = Field(1.0, ge=0)


@METHODS.register("vicreg")
class VICReg(SSLMethod[VICRegParams]):
    Params = VICRegParams
    domains = ALL_DOMAINS

    def __init__(self, backbone, projector, params: VICRegParams, data=None) -> None:
        super().__init__(backbone, projector, params, data)
        # Variance and covariance over the global batch (all DDP ranks), as the official FullGatherLayer.
        self.criterion = VICRegLoss(params.sim_coeff, params.std_coeff, params.cov_coeff, gather_distributed=True)

    def loss(self, embeddings) -> StepOutput:
        z_a, z_b = embeddings
        terms = self.criterion.terms(z_a, z_b)
        return StepOutput(self.criterion.weighted_sum(terms), terms)
