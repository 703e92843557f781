"""NT-Xent, SimCLR's loss (Chen, Kornblith, Norouzi & Hinton, "A Simple Framework for Contrastive Learning
of Visual Representations", ICML 2020; github.com/google-research/simclr, ``objective.py``
``add_contrastive_loss``; lightly ``lightly/loss/ntx_ent_loss.py`` for the DDP convention)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from selfsup.distributed import gather_batch_with_offset
from selfsup.losses._matrix import check_global_batch, check_two_views
from selfsup.mixed_precision import full_precision


class NTXentLoss(nn.Module):
    """Normalised-temperature cross-entropy over 2N views.

    For embeddings ``z_a, z_b`` of shape (N, D) (two views of the same N windows), with ``s(u, v)`` the cosine
    similarity and ``tau`` the temperature, each of the 2N views is an anchor whose positive is the other
    view of its window and whose negatives are the 2N - 2 views of the other windows::

        l(i, j) = -log( exp(s(z_i, z_j) / tau) / sum_{k != i} exp(s(z_i, z_k) / tau) )
        loss    = 1 / (2N) * sum_n [ l(a_n, b_n) + l(b_n, a_n) ]

    With ``gather_distributed`` the candidates (positives and negatives) are the views of every DDP rank,
    while the anchors stay local: anchor ``n`` of this rank finds its positive at its global row
    (``selfsup.distributed.gather_batch_with_offset``). The mean of the rank losses is then the
    single-process loss on the concatenated batch, and DDP's gradient average its gradient (equal local
    batches; see :mod:`selfsup.distributed`).

    Args:
        temperature: ``tau``; 0.5 in SimCLR's CIFAR-10 runs, 0.1 for ImageNet.
        gather_distributed: take negatives from the batch of all DDP ranks.
    """

    def __init__(self, temperature: float = 0.5, gather_distributed: bool = True) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"NTXentLoss temperature must be > 0, got {temperature}")
        self.temperature = temperature
        self.gather_distributed = gather_distributed

    @full_precision
    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        check_two_views(type(self).__name__, z_a, z_b)
        n = z_a.shape[0]
        z_a, z_b = F.normalize(z_a, dim=1), F.normalize(z_b, dim=1)
        if self.gather_distributed:
            # One gather of both views side by side keeps their rows aligned across ranks.
            gathered, offset = gather_batch_with_offset(torch.cat([z_a, z_b], dim=1))
            cand_a, cand_b = gathered.split(z_a.shape[1], dim=1)
        else:
            cand_a, cand_b, offset = z_a, z_b, 0
        n_global = cand_a.shape[0]
        check_global_batch(type(self).__name__, n_global, z_a.shape)

        anchors = torch.cat([z_a, z_b])  # (2n, D): views a, then views b
        candidates = torch.cat([cand_a, cand_b])  # (2N, D)
        logits = anchors @ candidates.T / self.temperature  # (2n, 2N)
        rows = torch.arange(n, device=z_a.device) + offset  # each local window's global row
        own = torch.cat([rows, rows + n_global])  # where each anchor sits among candidates
        positive = torch.cat([rows + n_global, rows])  # the other view of the same window
        logits[torch.arange(2 * n, device=z_a.device), own] = float("-inf")  # k != i
        return F.cross_entropy(logits, positive)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, gather_distributed={self.gather_distributed}"
