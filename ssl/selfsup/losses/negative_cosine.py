"""Negative cosine similarity with a stop-gradient on the target, the loss of BYOL and SimSiam (Grill et al.,
"Bootstrap Your Own Latent", NeurIPS 2020, github.com/deepmind/deepmind-research/tree/master/byol;
Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021, github.com/facebookresearch/simsiam)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from selfsup.losses._matrix import check_two_views
from selfsup.mixed_precision import full_precision


@full_precision
def negative_cosine(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``-mean_n cos(p_n, z_n)`` for (N, D) predictions ``p`` and targets ``z``; no gradient reaches ``z``.

    SimSiam's ``D(p, z) = -cos(p, stopgrad(z))`` exactly. BYOL writes its loss as the squared distance of the
    normalised vectors, ``||p/|p| - z/|z|||^2 = 2 - 2 cos(p, z)``, i.e. ``2 + 2 * negative_cosine(p, z)``.
    The loss is per sample, so under DDP the mean of the rank losses is the single-process loss.
    """
    check_two_views("negative_cosine", prediction, target)
    return -F.cosine_similarity(prediction, target.detach(), dim=1).mean()
