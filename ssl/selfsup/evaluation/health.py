"""Label-free collapse indicators on an embedding matrix ``z`` of shape (N, D).

Both take a torch tensor or a numpy array, compute in float64 and return a Python float.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

Embeddings = torch.Tensor | np.ndarray


def _as_matrix(z: Embeddings) -> torch.Tensor:
    z = torch.as_tensor(z).to(torch.float64)
    if z.ndim != 2:
        raise ValueError(f"expected an embedding matrix (N, D), got shape {tuple(z.shape)}")
    return z


def embedding_std(z: Embeddings) -> float:
    """Std of the L2-normalised embeddings, averaged over dimensions and rescaled by sqrt(D).

        z_hat = z / ||z||_2 (per row);   embedding_std = sqrt(D) * mean_d std_n(z_hat[n, d])

    SimSiam's collapse monitor (Chen & He 2021): for an isotropic Gaussian each normalised coordinate has
    std 1/sqrt(D), so after the sqrt(D) rescaling a healthy representation gives ~1 whatever D is, and a
    collapsed one (every input mapped to the same direction) gives 0. Scale-invariant per row.
    """
    z = _as_matrix(z)
    normalised = F.normalize(z, dim=1)
    per_dimension_std = normalised.std(dim=0, correction=0)
    return float(per_dimension_std.mean() * math.sqrt(z.shape[1]))


def rankme(z: Embeddings, eps: float = 1e-7) -> float:
    """RankMe (Garrido et al. 2023): the effective rank of the embeddings.

        p_k = sigma_k / sum_j sigma_j + eps;   rankme = exp(-sum_k p_k log p_k)

    with sigma the singular values of z. It lies in [1, min(N, D)] (up to eps): 1 for rank-one (collapsed)
    embeddings, min(N, D) when all singular values are equal.
    """
    singular_values = torch.linalg.svdvals(_as_matrix(z))
    total = singular_values.sum().clamp_min(torch.finfo(torch.float64).tiny)
    p = singular_values / total + eps
    return float(torch.exp(-(p * torch.log(p)).sum()))
