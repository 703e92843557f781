"""InfoNCE against a queue of negatives, MoCo's loss (He et al., "Momentum Contrast for Unsupervised Visual
Representation Learning", CVPR 2020; Chen, Fan, Girshick & He, "Improved Baselines with Momentum Contrastive
Learning" (MoCo v2), 2020; github.com/facebookresearch/moco, ``moco/builder.py``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from selfsup.losses._matrix import check_two_views
from selfsup.mixed_precision import full_precision


@full_precision
def info_nce_with_queue(
    query: torch.Tensor, key: torch.Tensor, queue: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Cross-entropy of each query picking its own key among the key and the K queued negatives.

    ``query``, ``key``: (N, D) L2-normalised; ``queue``: (D, K) L2-normalised negatives (column per key, as
    the official buffer); with ``tau`` the temperature::

        l_pos[n]    = q_n . k_n                      (N, 1)
        l_neg[n, j] = q_n . queue[:, j]              (N, K)
        loss        = mean_n  -log( exp(l_pos[n] / tau) / (exp(l_pos[n] / tau) + sum_j exp(l_neg[n, j] / tau)) )

    No gradient reaches ``key`` or ``queue`` (the key encoder is a momentum copy).
    """
    check_two_views("info_nce_with_queue", query, key)
    if queue.ndim != 2 or queue.shape[0] != query.shape[1]:
        raise ValueError(
            f"info_nce_with_queue expects a (D, K) queue with D={query.shape[1]}, got shape {tuple(queue.shape)}"
        )
    if temperature <= 0:
        raise ValueError(f"info_nce_with_queue temperature must be > 0, got {temperature}")
    l_pos = (query * key.detach()).sum(dim=1, keepdim=True)
    l_neg = query @ queue.detach()
    logits = torch.cat([l_pos, l_neg], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(query), dtype=torch.long, device=query.device))
