"""Barlow Twins loss (Zbontar, Jing, Misra, LeCun & Deny, "Barlow Twins: Self-Supervised Learning via
Redundancy Reduction", ICML 2021; github.com/facebookresearch/barlowtwins)."""

from __future__ import annotations

import torch
from torch import nn

from selfsup.distributed import gather_batch
from selfsup.losses._matrix import check_global_batch, check_two_views, off_diagonal
from selfsup.mixed_precision import full_precision


class BarlowTwinsLoss(nn.Module):
    """Push the cross-correlation matrix of two views' embeddings to the identity.

    For embeddings ``z_a, z_b`` of shape (N, D) (gathered over all ranks when ``gather_distributed``, giving
    N_global rows), each dimension is standardised over the global batch with the biased std, as
    ``BatchNorm1d(affine=False)`` in training mode::

        z_n[:, i] = (z[:, i] - mean_i) / sqrt(var_i + eps)          var_i biased (divides by N_global)
        C_ij      = sum_n z_a_n[n, i] * z_b_n[n, j] / N_global
        loss      = sum_i (1 - C_ii)^2  +  lambda_offdiag * sum_{i != j} C_ij^2

    The official code normalises each rank's batch with SyncBatchNorm and all_reduces C; gathering the
    embeddings (:func:`selfsup.distributed.gather_batch`) computes the same global statistics, and the loss
    value is identical on every rank. See :mod:`selfsup.distributed` for the gradient convention.

    Args:
        lambda_offdiag: weight of the redundancy-reduction (off-diagonal) term; 0.005 in the paper.
        gather_distributed: compute the statistics over the batch of all DDP ranks.
        eps: added to the variance before the square root (BatchNorm1d's default 1e-5).
    """

    def __init__(self, lambda_offdiag: float = 0.005, gather_distributed: bool = True, eps: float = 1e-5) -> None:
        super().__init__()
        self.lambda_offdiag = lambda_offdiag
        self.gather_distributed = gather_distributed
        self.eps = eps

    @full_precision
    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        """Scalar loss for two (N, D) embedding batches."""
        check_two_views(type(self).__name__, z_a, z_b)
        if self.gather_distributed:
            z_a, z_b = gather_batch(z_a), gather_batch(z_b)
        n_global = z_a.shape[0]
        check_global_batch(type(self).__name__, n_global, z_b.shape)

        z_a_n = self._standardise(z_a)
        z_b_n = self._standardise(z_b)
        c = z_a_n.T @ z_b_n / n_global
        on_diag = (1.0 - torch.diagonal(c)).pow(2).sum()
        off_diag = off_diagonal(c).pow(2).sum()
        return on_diag + self.lambda_offdiag * off_diag

    def _standardise(self, z: torch.Tensor) -> torch.Tensor:
        mean = z.mean(dim=0)
        var = z.var(dim=0, unbiased=False)
        return (z - mean) / torch.sqrt(var + self.eps)

    def extra_repr(self) -> str:
        return f"lambda_offdiag={self.lambda_offdiag}, gather_distributed={self.gather_distributed}, eps={self.eps}"
