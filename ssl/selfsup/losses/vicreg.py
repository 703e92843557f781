"""VICReg loss (Bardes, Ponce & LeCun, "VICReg: Variance-Invariance-Covariance Regularization for
Self-Supervised Learning", ICLR 2022; github.com/facebookresearch/vicreg, main.py)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from selfsup.distributed import gather_batch
from selfsup.losses._matrix import check_global_batch, check_two_views, off_diagonal
from selfsup.mixed_precision import full_precision


class VICRegLoss(nn.Module):
    """Variance-invariance-covariance regularisation of two views' embeddings.

    For embeddings ``z_a, z_b`` of shape (N, D), following the official ``VICReg.forward``::

        invariance = mse(z_a, z_b)                          on the LOCAL batch, mean over N * D elements
        z_a, z_b   = gather over ranks (N_global rows), then centre each dimension
        std_x      = sqrt(var(z_x, dim=0) + eps)            var unbiased (divides by N_global - 1)
        variance   = mean_j relu(1 - std_a[j]) / 2 + mean_j relu(1 - std_b[j]) / 2
        cov_x      = z_x^T z_x / (N_global - 1)
        covariance = sum_{i != j} cov_a[i, j]^2 / D + sum_{i != j} cov_b[i, j]^2 / D
        loss       = sim_coeff * invariance + std_coeff * variance + cov_coeff * covariance

    With ``gather_distributed`` the variance and covariance terms use the batch of all DDP ranks (identical
    on every rank) while the invariance term stays local, as in the official code; with equal local batch
    sizes the mean of the rank losses equals the single-process loss on the concatenated batch. See
    :mod:`selfsup.distributed` for the gradient convention.

    Args:
        sim_coeff, std_coeff, cov_coeff: term weights; 25 / 25 / 1 in the paper.
        gather_distributed: compute variance and covariance over the batch of all DDP ranks.
        eps: added to the variance before the square root (1e-4 as in the official code).
    """

    def __init__(
        self,
        sim_coeff: float = 25.0,
        std_coeff: float = 25.0,
        cov_coeff: float = 1.0,
        gather_distributed: bool = True,
        eps: float = 1e-4,
    ) -> None:
        super().__init__()
        self.sim_coeff = sim_coeff
        self.std_coeff = std_coeff
        self.cov_coeff = cov_coeff
        self.gather_distributed = gather_distributed
        self.eps = eps

    @full_precision
    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        """Scalar weighted loss for two (N, D) embedding batches."""
        return self.weighted_sum(self.terms(z_a, z_b))

    def weighted_sum(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """sim * invariance + std * variance + cov * covariance, for terms from ``terms``."""
        return (
            self.sim_coeff * terms["invariance"]
            + self.std_coeff * terms["variance"]
            + self.cov_coeff * terms["covariance"]
        )

    def terms(self, z_a: torch.Tensor, z_b: torch.Tensor) -> dict[str, torch.Tensor]:
        """The three unweighted scalar terms: ``invariance``, ``variance``, ``covariance``."""
        check_two_views(type(self).__name__, z_a, z_b)
        invariance = F.mse_loss(z_a, z_b)
        if self.gather_distributed:
            z_a, z_b = gather_batch(z_a), gather_batch(z_b)
        n_global, dim = z_a.shape
        check_global_batch(type(self).__name__, n_global, z_b.shape)

        z_a = z_a - z_a.mean(dim=0)
        z_b = z_b - z_b.mean(dim=0)
        std_a = torch.sqrt(z_a.var(dim=0) + self.eps)
        std_b = torch.sqrt(z_b.var(dim=0) + self.eps)
        variance = F.relu(1.0 - std_a).mean() / 2 + F.relu(1.0 - std_b).mean() / 2

        cov_a = z_a.T @ z_a / (n_global - 1)
        cov_b = z_b.T @ z_b / (n_global - 1)
        covariance = off_diagonal(cov_a).pow(2).sum() / dim + off_diagonal(cov_b).pow(2).sum() / dim
        return {"invariance": invariance, "variance": variance, "covariance": covariance}

    def extra_repr(self) -> str:
        return (
            f"sim_coeff={self.sim_coeff}, std_coeff={self.std_coeff}, cov_coeff={self.cov_coeff}, "
            f"gather_distributed={self.gather_distributed}, eps={self.eps}"
        )
