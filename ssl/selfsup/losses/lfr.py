"""Learning from Randomness: its loss and its choice of diverse random projectors (Sui, Wu, Cresswell, Wu,
Leung, Zhang, Volkovs & Caterini, "Self-supervised Representation Learning from Random Data Projectors",
ICLR 2024; github.com/layer6ai-labs/lfr, ``utils/trainers.py`` ``bt_loss_bs``, ``ssl_models/lfr.py``
``LFR.select_targets``, ``utils/dpp.py`` ``dpp``).

- :func:`batch_barlow_loss`: the "barlow-batch" loss, a Barlow Twins loss whose correlation matrix runs over
  the batch instead of the feature dimensions;
- :func:`projector_similarity_kernel`: how alike two random projectors are on a sample of the data;
- :func:`dpp_greedy`: the fast greedy MAP inference of a determinantal point process that picks the most
  diverse projectors from a larger random pool.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from selfsup.distributed import gather_batch
from selfsup.losses._matrix import check_two_views, off_diagonal
from selfsup.mixed_precision import full_precision


@full_precision
def batch_barlow_loss(
    prediction: torch.Tensor, target: torch.Tensor, lambda_offdiag: float = 0.01, gather_distributed: bool = True
) -> torch.Tensor:
    """LFR's "barlow-batch" loss (``bt_loss_bs`` in the LFR code, with its default ``normalize=False``).

    For predictions ``p`` and targets ``z`` of shape (N, D), rows L2-normalised (``F.normalize``, eps 1e-12)::

        C_ij = <p_i / |p_i|, z_j / |z_j|>                  (N, N): cosine of prediction i and target j
        loss = sum_i (1 - C_ii)^2  +  lambda_offdiag * sum_{i != j} C_ij^2

    Each prediction is pulled to its own window's target and pushed orthogonal to the other windows'
    targets. The sum is not divided by N, as in the reference (so the scale grows with the batch size). The
    reference's ``assert -1 < C < 1`` is left out: exact +-1 is a legal cosine. With ``gather_distributed``
    (the default) the matrix spans the windows of every DDP rank (N = the global batch), as one process on
    the concatenated batch would compute it (:mod:`selfsup.distributed`). Paper value of ``lambda_offdiag``:
    the code's default ``--lambd`` 0.01, which its HAR script keeps.
    """
    check_two_views("batch_barlow_loss", prediction, target)
    if gather_distributed:
        prediction, target = gather_batch(prediction), gather_batch(target)
    c = F.normalize(prediction, dim=1) @ F.normalize(target, dim=1).T
    on_diag = (torch.diagonal(c) - 1.0).pow(2).sum()
    off_diag = off_diagonal(c).pow(2).sum()
    return on_diag + lambda_offdiag * off_diag


@torch.no_grad()
def projector_similarity_kernel(representations: torch.Tensor, chunk_rows: int = 64) -> torch.Tensor:
    """The DPP kernel of ``LFR.select_targets``: (M, M) float64 similarities of M projectors.

    ``representations``: (M, n, D), each projector's outputs on the same n windows. Per projector, the
    (n, n) cosine-similarity matrix of its outputs is flattened and L2-normalised; the kernel is the matrix of
    inner products of those vectors::

        S_a = R_a R_a^T,  R_a = rows of projector a's outputs normalised       (n, n)
        K_ab = <S_a, S_b>_F / (|S_a|_F |S_b|_F)

    so two projectors are alike when they find the same windows alike. The reference builds all M flattened
    matrices at once (M x n^2 floats: it sees one batch, n = 128); here the Gram matrix ``sum S_a * S_b`` is
    accumulated over blocks of ``chunk_rows`` rows (float32 products, float64 sums), so n = 1000 windows fit
    in memory. The diagonal is 1 by construction and set to exactly 1.
    """
    if representations.ndim != 3:
        raise ValueError(
            f"projector_similarity_kernel expects (projectors, windows, dim), got shape {tuple(representations.shape)}"
        )
    r = F.normalize(representations.float(), dim=2)
    m, n, _ = r.shape
    gram = torch.zeros(m, m, dtype=torch.float64, device=r.device)
    for start in range(0, n, chunk_rows):
        block = torch.einsum("mid,mjd->mij", r[:, start : start + chunk_rows], r).reshape(m, -1)
        gram += (block @ block.T).double()
    norms = gram.diagonal().sqrt().clamp_min(1e-12)
    kernel = gram / norms[:, None] / norms[None, :]
    kernel.fill_diagonal_(1.0)
    return kernel


def dpp_greedy(kernel: np.ndarray, max_length: int, epsilon: float = 1e-10) -> list[int]:
    """Greedy MAP inference of a DPP with kernel ``L`` (Chen, Zhang & Zhou, "Fast Greedy MAP Inference for
    Determinantal Point Process to Improve Recommendation Diversity", NeurIPS 2018, Algorithm 1;
    github.com/laming-chen/fast-map-dpp ``dpp.py``), ported line by line from LFR's ``utils/dpp.py``.

    Starting from the item with the largest ``L_ii``, each step adds the item ``j`` that maximises
    ``det(L_{S + j})`` (equivalently the log-det gain ``log det L_{S+j} - log det L_S = log d_j^2``), where
    ``d_j^2`` is item j's squared distance from the span of the selected items, kept up to date by an
    incremental Cholesky factorisation (``cis``). Stops after ``max_length`` items, or earlier when the best
    remaining gain ``d_j^2`` falls below ``epsilon`` (the kernel has no more independent directions): the
    result may then be shorter than ``max_length``. Ties go to the lowest index (``np.argmax``).
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    item_size = kernel.shape[0]
    cis = np.zeros((max_length, item_size))
    di2s = np.copy(np.diag(kernel))
    selected_items = []
    selected_item = int(np.argmax(di2s))
    selected_items.append(selected_item)
    while len(selected_items) < max_length:
        k = len(selected_items) - 1
        ci_optimal = cis[:k, selected_item]
        di_optimal = math.sqrt(di2s[selected_item])
        elements = kernel[selected_item, :]
        eis = (elements - np.dot(ci_optimal, cis[:k, :])) / di_optimal
        cis[k, :] = eis
        di2s -= np.square(eis)
        di2s[selected_item] = -np.inf
        selected_item = int(np.argmax(di2s))
        if di2s[selected_item] < epsilon:
            break
        selected_items.append(selected_item)
    return selected_items
