"""SimCLR (Chen, Kornblith, Norouzi & Hinton, ICML 2020; github.com/google-research/simclr).

Two views through backbone and projector; NT-Xent over the 2N views, negatives gathered from every DDP rank.
Paper: 2-layer projector to 128-d (deeper heads help, Appendix B.4; the reference seismic report used a
4-layer MLP: ``projector_layers``), temperature 0.5 on CIFAR-10 and 0.1 on ImageNet, large batches.
"""

from __future__ import annotations

from pydantic import Field

from selfsup.losses import NTXentLoss
from selfsup.methods.base import ALL_DOMAINS, METHODS, MethodParams, SSLMethod, StepOutput


class SimCLRParams(MethodParams):
    temperature: float = Field(0.5, gt=0)


@METHODS.register("simclr")
class SimCLR(SSLMethod[SimCLRParams]):
    Params = SimCLRParams
    domains = ALL_DOMAINS

    def __init__(self, backbone, projector, params: SimCLRParams, data=None) -> None:
        super().__init__(backbone, projector, params, data)
        self.criterion = NTXentLoss(params.temperature, gather_distributed=True)

    def loss(self, embeddings) -> StepOutput:
        z_a, z_b = embeddings
        return StepOutput(self.criterion(z_a, z_b))
