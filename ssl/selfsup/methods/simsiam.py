"""SimSiam (Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021;
github.com/facebookresearch/simsiam, ``simsiam/builder.py``).

BYOL without the target network: a predictor and a stop-gradient are enough to avoid collapse::

    loss = D(p_1, z_2) / 2 + D(p_2, z_1) / 2        D(p, z) = -cos(p, stopgrad(z)),  p = predictor(z)

Paper: projector 3 layers ending in a non-affine BatchNorm (2048-d), predictor bottleneck 512 (a quarter of
the projector width: ``predictor_hidden_dim``).
"""

from __future__ import annotations

from pydantic import Field

from selfsup.heads import ProjectionHead
from selfsup.losses import negative_cosine
from selfsup.methods.base import ALL_DOMAINS, METHODS, MethodParams, PretextBatch, SSLMethod, StepOutput


class SimSiamParams(MethodParams):
    predictor_hidden_dim: int | None = Field(None, ge=1)  # None: a quarter of projector_dim


@METHODS.register("simsiam")
class SimSiam(SSLMethod[SimSiamParams]):
    Params = SimSiamParams
    domains = ALL_DOMAINS

    def __init__(self, backbone, projector, params: SimSiamParams, data=None) -> None:
        super().__init__(backbone, projector, params, data)
        self.projector = ProjectionHead(
            backbone.output_dim, projector.output_dim, projector.layers, projector.hidden_dim, output_batch_norm=True
        )
        self.predictor = ProjectionHead(
            projector.output_dim,
            projector.output_dim,
            layers=2,
            hidden_dim=params.predictor_hidden_dim or max(1, projector.output_dim // 4),
        )

    def forward(self, batch: PretextBatch) -> StepOutput:
        z_1, z_2 = self.embed_views(batch.views(2))
        p_1, p_2 = self.predictor(z_1), self.predictor(z_2)
        return StepOutput(negative_cosine(p_1, z_2) / 2 + negative_cosine(p_2, z_1) / 2)
