"""The Temporal Neighborhood Coding discriminator loss with positive-unlabelled weighting.

Tonekaboni, Eytan & Goldenberg, "Unsupervised Representation Learning for Time Series with Temporal
Neighborhood Coding", ICLR 2021; github.com/sanatonek/TNC_representation_learning, ``tnc/tnc.py``
(``epoch_run``). A discriminator D scores whether two encodings come from the same temporal neighbourhood.
Neighbours N are labelled 1; non-neighbours are *unlabelled* (a window far away may still be in the same
state), so each is counted as a neighbour with weight w and as a non-neighbour with weight 1 - w::

    L = ( BCE(D(z_t, z_N), 1) + w BCE(D(z_t, z_U), 1) + (1 - w) BCE(D(z_t, z_U), 0) ) / 2

each BCE a mean over its pairs. The original applies a sigmoid and ``BCELoss``; this takes logits and uses
``binary_cross_entropy_with_logits`` (the same value, stable for confident scores).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from selfsup.mixed_precision import full_precision


@full_precision
def tnc_loss(neighbour_logits: torch.Tensor, non_neighbour_logits: torch.Tensor, w: float) -> torch.Tensor:
    if neighbour_logits.dim() != 1 or non_neighbour_logits.dim() != 1:
        raise ValueError(
            f"tnc_loss takes 1-D logits, got {tuple(neighbour_logits.shape)} and {tuple(non_neighbour_logits.shape)}"
        )
    if not 0 <= w <= 1:
        raise ValueError(f"the positive-unlabelled weight w must be in [0, 1], got {w}")
    ones_n, ones_u = torch.ones_like(neighbour_logits), torch.ones_like(non_neighbour_logits)
    neighbours = F.binary_cross_entropy_with_logits(neighbour_logits, ones_n)
    unlabelled_as_neighbours = F.binary_cross_entropy_with_logits(non_neighbour_logits, ones_u)
    unlabelled_as_distant = F.binary_cross_entropy_with_logits(non_neighbour_logits, torch.zeros_like(ones_u))
    return (neighbours + w * unlabelled_as_neighbours + (1 - w) * unlabelled_as_distant) / 2
