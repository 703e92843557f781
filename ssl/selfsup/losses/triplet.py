"""Margin losses on distances: the triplet loss with in-batch negative mining and the margin contrastive loss.

Triplet loss: Schroff, Kalenichenko & Philbin, "FaceNet: A Unified Embedding for Face Recognition and
Clustering", CVPR 2015 (semi-hard negatives); Hermans, Beyer & Leibe, "In Defense of the Triplet Loss for
Person Re-Identification", arXiv:1703.07737, 2017 (batch-hard). The semi-hard rule, including its fallback,
is TensorFlow Addons' ``triplet_semihard_loss`` (github.com/tensorflow/addons,
``tensorflow_addons/losses/triplet.py``); batch-hard is its ``triplet_hard_loss`` / pytorch-metric-learning's
``BatchHardMiner`` (github.com/KevinMusgrave/pytorch-metric-learning, ``miners/batch_hard_miner.py``) with the
single positive a self-supervised anchor has.

Margin contrastive loss: Hadsell, Chopra & LeCun, "Dimensionality Reduction by Learning an Invariant
Mapping", CVPR 2006; per-pair form of TensorFlow Addons' ``contrastive_loss``
(``tensorflow_addons/losses/contrastive.py``), with pytorch-metric-learning's ``ContrastiveLoss``
(``losses/contrastive_loss.py``) for the separate positive / negative reductions.

Self-supervised setting: ``z_a, z_b`` are (N, D) embeddings of two augmented views of the same N windows.
The positive of view ``a_i`` is ``b_i`` (and of ``b_i`` is ``a_i``); its negatives are the 2N - 2 views of
the other windows, from both views. Distances are Euclidean, ``d(u, v) = ||u - v||_2`` (not squared), on
L2-normalised embeddings by default -- pytorch-metric-learning's default ``LpDistance(normalize_embeddings=True,
p=2, power=1)``; TF Addons' ``"L_2"`` and the FaceNet paper use *squared* distances, so a margin tuned there
does not carry over unchanged. With normalisation every distance lies in [0, 2].

Distributed: with ``gather_distributed`` and an initialised process group the anchors stay local and the
candidates (positives and negatives) are the views of every rank (:func:`selfsup.distributed.gather_batch_with_offset`);
each rank returns the mean over its own anchors. With equal local batches the mean of the rank losses is the
single-process loss on the concatenated batch, and DDP's gradient average is its gradient (see
:mod:`selfsup.distributed` for the gradient convention).
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

from selfsup.distributed import gather_batch_with_offset
from selfsup.losses._matrix import check_global_batch, check_two_views
from selfsup.mixed_precision import full_precision

Mining = Literal["batch_hard", "semi_hard", "all"]
MINING_MODES: tuple[str, ...] = get_args(Mining)


def _check_margin(name: str, margin: float) -> None:
    if not margin > 0:  # also rejects NaN
        raise ValueError(f"{name} margin must be > 0, got {margin}")


def _anchor_candidate_distances(
    name: str, z_a: torch.Tensor, z_b: torch.Tensor, normalize: bool, gather_distributed: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Distances from the 2n local anchors to the 2N (global) candidates, the positive distances, and the
    negative mask.

    Returns ``dist`` (2n, 2N), ``d_ap`` (2n,) and ``negative`` (2n, 2N, bool). Anchor rows are the local views
    a then b; candidate columns are the gathered views a then b, so candidate ``c`` belongs to window
    ``c mod N``. Anchor ``k`` is local window ``k mod n``, global window ``offset + k mod n``.
    """
    check_two_views(name, z_a, z_b)
    n = z_a.shape[0]
    if normalize:
        z_a, z_b = F.normalize(z_a, dim=1), F.normalize(z_b, dim=1)
    if gather_distributed:
        # One gather of both views side by side keeps their rows aligned across ranks.
        gathered, offset = gather_batch_with_offset(torch.cat([z_a, z_b], dim=1))
        cand_a, cand_b = gathered.split(z_a.shape[1], dim=1)
    else:
        cand_a, cand_b, offset = z_a, z_b, 0
    n_global = cand_a.shape[0]
    check_global_batch(name, n_global, z_a.shape)

    anchors = torch.cat([z_a, z_b])  # (2n, D)
    candidates = torch.cat([cand_a, cand_b])  # (2N, D)
    # The direct (x - y) form, not the |x|^2 + |y|^2 - 2 x.y expansion: exact near d = 0, where positives
    # end up, and cdist's gradient there is 0 rather than NaN.
    dist = torch.cdist(anchors, candidates, compute_mode="donot_use_mm_for_euclid_dist")  # (2n, 2N)

    device = z_a.device
    window = torch.arange(n, device=device) + offset  # global window of each local row
    anchor_window = torch.cat([window, window])  # (2n,)
    positive_col = torch.cat([window + n_global, window])  # the other view of the same window
    d_ap = dist[torch.arange(2 * n, device=device), positive_col]  # (2n,)
    candidate_window = torch.arange(2 * n_global, device=device) % n_global
    negative = anchor_window[:, None] != candidate_window[None, :]  # (2n, 2N), 2N - 2 per row
    return dist, d_ap, negative


class TripletLoss(nn.Module):
    """Triplet margin loss over in-batch negatives, symmetrised over the two views.

    For every anchor ``x`` among the 2n local views (a_1..a_n, b_1..b_n), ``p`` its positive (the other view
    of its window) and ``Neg(x)`` the 2N - 2 views of the other windows, with ``d`` the Euclidean distance
    (on L2-normalised embeddings when ``normalize``) and ``m`` the margin::

        batch_hard:  l(x) = max(0, d(x, p) - min_{n in Neg(x)} d(x, n) + m)
        semi_hard:   l(x) = max(0, d(x, p) - d(x, n*) + m),
                       n* = argmin { d(x, n) : n in Neg(x), d(x, n) > d(x, p) }   if that set is not empty,
                       n* = argmax { d(x, n) : n in Neg(x) }                      otherwise
        all:         l(x) = 1 / (2N - 2) * sum_{n in Neg(x)} max(0, d(x, p) - d(x, n) + m)
        loss         = 1 / (2n) * sum_x l(x)          (= (mean over anchors a_i + mean over anchors b_i) / 2)

    ``batch_hard`` is Hermans et al.'s batch-hard negative (their batch-hard positive is the only positive
    here). ``semi_hard`` follows TF Addons' ``triplet_semihard_loss`` exactly: the closest negative strictly
    farther than the positive (FaceNet's semi-hard negative; one beyond ``d(x, p) + m`` gives 0, as it
    would if it were excluded), and when no negative is farther than the positive, the *largest* negative
    distance (TF Addons' ``negatives_inside``), i.e. the least violating of the hard negatives. ``all`` is the
    mean over every (anchor, negative) triplet, zero-loss triplets included -- unlike pytorch-metric-learning's
    default ``AvgNonZeroReducer``, which averages over the non-zero ones only; every anchor has 2N - 2
    negatives, so this is also the mean over anchors of the per-anchor means. Every mode averages over all
    anchors, zeros included, as TF Addons does.

    The mining (which negative) is a selection on the distances; gradients flow through the selected
    distances only.

    Args:
        margin: ``m`` > 0; FaceNet's 0.2 (its margin is on squared distances, see the module docstring).
        mining: ``"batch_hard"``, ``"semi_hard"`` or ``"all"``.
        normalize: L2-normalise the embeddings before the distances (distances then lie in [0, 2]).
        gather_distributed: take positives and negatives from the batch of all DDP ranks (anchors stay local).
    """

    def __init__(
        self, margin: float = 0.2, mining: Mining = "semi_hard", normalize: bool = True, gather_distributed: bool = True
    ) -> None:
        super().__init__()
        _check_margin(type(self).__name__, margin)
        if mining not in MINING_MODES:
            raise ValueError(f"TripletLoss mining must be one of {', '.join(map(repr, MINING_MODES))}; got {mining!r}")
        self.margin = margin
        self.mining = mining
        self.normalize = normalize
        self.gather_distributed = gather_distributed

    @full_precision
    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        """Scalar loss for two (N, D) embedding batches: the mean over this rank's 2N anchors."""
        dist, d_ap, negative = _anchor_candidate_distances(
            type(self).__name__, z_a, z_b, self.normalize, self.gather_distributed
        )
        if self.mining == "all":
            per_triplet = F.relu(d_ap[:, None] - dist + self.margin)
            return per_triplet[negative].mean()  # same count of negatives per anchor: mean over triplets

        with torch.no_grad():
            inf = torch.tensor(float("inf"), dtype=dist.dtype, device=dist.device)
            hardest = torch.where(negative, dist, inf).argmin(dim=1)
            if self.mining == "batch_hard":
                chosen = hardest
            else:
                outside = negative & (dist > d_ap[:, None])  # semi-hard candidates
                closest_outside = torch.where(outside, dist, inf).argmin(dim=1)
                largest = torch.where(negative, dist, -inf).argmax(dim=1)  # TF Addons' negatives_inside
                chosen = torch.where(outside.any(dim=1), closest_outside, largest)
        d_an = dist.gather(1, chosen[:, None]).squeeze(1)
        return F.relu(d_ap - d_an + self.margin).mean()

    def extra_repr(self) -> str:
        return (
            f"margin={self.margin}, mining={self.mining!r}, normalize={self.normalize}, "
            f"gather_distributed={self.gather_distributed}"
        )


class MarginContrastiveLoss(nn.Module):
    """Hadsell et al.'s margin contrastive loss on the positive and negative pairs of a two-view batch.

    With ``d`` the Euclidean distance (on L2-normalised embeddings when ``normalize``), ``m`` the margin,
    positive pairs (a_i, b_i) and negative pairs (x, y) of views of different windows (both views)::

        per pair:  y * d^2 + (1 - y) * max(0, m - d)^2          y = 1 for a positive pair, 0 for a negative
        loss     = mean_{positive pairs} d^2  +  mean_{negative pairs} max(0, m - d)^2

    The per-pair loss is TF Addons' ``contrastive_loss``, without the paper's factor 1/2 (which only rescales
    the loss and its gradients by 2). The two kinds of pair are averaged *separately* and added with equal
    weight (pytorch-metric-learning's ``ContrastiveLoss`` reduces ``pos_loss`` and ``neg_loss`` separately
    too, though over non-zero pairs only): a batch has N positive but 2N(N - 1) ordered negative pairs, so a
    plain mean over all pairs would weight the positive term by about 1 / (2N) and let the balance drift
    with the batch size. Both means include zero-loss pairs.

    Concretely, each of the 2n local views is an anchor: the positive term is the mean over anchors of
    ``d(x, p)^2`` (each positive pair counted once from each side) and the negative term the mean over
    the 2n * (2N - 2) (anchor, negative) pairs -- every unordered negative pair counted once from each side
    in a single process, so these are the means over pairs above.

    Args:
        margin: ``m`` > 0, the distance beyond which negative pairs stop contributing; TF Addons' 1.0.
        normalize: L2-normalise the embeddings before the distances (distances then lie in [0, 2]).
        gather_distributed: take positives and negatives from the batch of all DDP ranks (anchors stay local).
    """

    def __init__(self, margin: float = 1.0, normalize: bool = True, gather_distributed: bool = True) -> None:
        super().__init__()
        _check_margin(type(self).__name__, margin)
        self.margin = margin
        self.normalize = normalize
        self.gather_distributed = gather_distributed

    @full_precision
    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        """Scalar loss for two (N, D) embedding batches, over this rank's anchors."""
        dist, d_ap, negative = _anchor_candidate_distances(
            type(self).__name__, z_a, z_b, self.normalize, self.gather_distributed
        )
        positive_term = d_ap.pow(2).mean()
        negative_term = F.relu(self.margin - dist[negative]).pow(2).mean()
        return positive_term + negative_term

    def extra_repr(self) -> str:
        return f"margin={self.margin}, normalize={self.normalize}, gather_distributed={self.gather_distributed}"
