"""W-MSE (Ermolov, Siarohin, Sangineto & Sebe, "Whitening for Self-Supervised Representation Learning",
ICML 2021; github.com/htdt/self-supervised, ``methods/w_mse.py``).

2 or 4 views; the projector's embeddings of each view are whitened on random sub-batches of ``w_size`` rows
(inverse Cholesky factor of the sub-batch covariance, ``w_iter`` times with new sub-batches) and the MSE of
the normalised whitened embeddings of every pair of views is minimised: whitening, not negatives or a
predictor, keeps the embeddings from collapsing. Paper: embedding 64-d (``projector_dim``), head hidden
1024, ``w_size`` 128 with batches of 1024 (ImageNet) / 256 (CIFAR), ``w_iter`` 1, no shrinkage.
``w_size`` must exceed ``projector_dim`` (or set ``w_eps`` > 0) and fit in one batch.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from selfsup.losses import WMSELoss
from selfsup.methods.base import ALL_DOMAINS, METHODS, MethodParams, PretextBatch, SSLMethod, StepOutput


class WMSEParams(MethodParams):
    w_size: int = Field(128, ge=2)
    w_iter: int = Field(1, ge=1)
    w_eps: float = Field(0.0, ge=0, le=1)
    views: Literal[2, 4] = 2


@METHODS.register("wmse")
class WMSE(SSLMethod[WMSEParams]):
    Params = WMSEParams
    domains = ALL_DOMAINS
    pretext_check_params = frozenset({"w_size", "batch_size"})

    def __init__(self, backbone, projector, params: WMSEParams, data=None) -> None:
        super().__init__(backbone, projector, params, data)
        self.n_views = params.views
        self.criterion = WMSELoss(params.w_size, params.w_iter, params.w_eps)

    @classmethod
    def check_pretext_data(cls, params: WMSEParams, windows, shared) -> None:
        n_windows, batch_size = len(windows), shared.batch_size
        usable = min(batch_size, n_windows)
        if params.w_size > usable:
            raise ValueError(
                f"wmse w_size {params.w_size} exceeds the batch of {usable} windows (batch_size "
                f"{batch_size}, {n_windows} pretext windows); use w_size <= {usable}"
            )

    def forward(self, batch: PretextBatch) -> StepOutput:
        views = batch.views(self.n_views)
        # As the official code: backbone per view, the head once over all views (one set of BN statistics).
        features = torch.cat([self.backbone(view) for view in views])
        assert self.projector is not None  # uses_projector: built by SSLMethod
        embeddings = list(self.projector(features).chunk(self.n_views))
        return StepOutput(self.criterion(embeddings))
