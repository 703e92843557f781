"""Triplet loss (batch-hard, semi-hard, all) and margin contrastive loss: a naive loop reference of the
published rules (TF Addons' semi-hard semantics), hand-built cases with known picks, properties, and the
gathered negatives / gradients under a real two-process gloo group."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
from gloo_processes import run_on_gloo_ranks

from selfsup.losses.triplet import MarginContrastiveLoss, TripletLoss

TOL = 1e-10
MODES = ["batch_hard", "semi_hard", "all"]
TRIPLET_MARGINS = [0.05, 0.2, 0.5, 1.0]
CONTRASTIVE_MARGINS = [0.3, 1.0, 1.5]
SEEDS = [0, 1, 2]
# (seed, noise): close views, and nearly independent ones where some anchors have no negative farther than
# their positive, so the semi-hard fallback branch is exercised (checked by test_noisy_views_hit_the_fallback)
VIEW_CASES = [(seed, 0.5) for seed in SEEDS] + [(seed, 10.0) for seed in (0, 1, 4)]


# ----------------------------------------------------------------------------- naive reference (loops only)


def _naive_normalise(z: torch.Tensor) -> list[torch.Tensor]:
    rows = []
    for i in range(z.shape[0]):
        norm = torch.sqrt(sum(z[i, k] ** 2 for k in range(z.shape[1])))
        rows.append(z[i] / norm)
    return rows


def _naive_distance(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(sum((u[k] - v[k]) ** 2 for k in range(u.shape[0])))


def _relu(x: torch.Tensor) -> torch.Tensor:
    return x if x > 0 else x * 0.0  # keeps the graph (zero gradient), as relu does


def naive_per_anchor(
    z_a: torch.Tensor, z_b: torch.Tensor, kind: str, margin: float, normalize: bool = True
) -> list[torch.Tensor]:
    """Per-anchor losses (0-dim tensors, differentiable) for the 2N anchors a_0..a_{N-1}, b_0..b_{N-1}.

    Single process; explicit loops over anchors and candidates. ``kind``: a triplet mining mode or
    ``"contrastive"`` (per anchor: d(x, p)^2 + mean over its negatives of max(0, m - d)^2).
    """
    n = z_a.shape[0]
    a = _naive_normalise(z_a) if normalize else [z_a[i] for i in range(n)]
    b = _naive_normalise(z_b) if normalize else [z_b[i] for i in range(n)]
    views = [(i, a[i]) for i in range(n)] + [(i, b[i]) for i in range(n)]  # (window, embedding)
    out = []
    for anchor_index, (window, x) in enumerate(views):
        p = b[window] if anchor_index < n else a[window]
        d_ap = _naive_distance(x, p)
        negatives = [_naive_distance(x, y) for (w, y) in views if w != window]
        assert len(negatives) == 2 * n - 2

        if kind == "contrastive":
            total = 0.0
            for d in negatives:
                total = total + _relu(margin - d) ** 2
            out.append(d_ap**2 + total / len(negatives))
        elif kind == "all":
            total = 0.0
            for d in negatives:
                total = total + _relu(d_ap - d + margin)
            out.append(total / len(negatives))
        else:
            hardest = negatives[0]
            for d in negatives:
                if d < hardest:
                    hardest = d
            largest = negatives[0]
            for d in negatives:
                if d > largest:
                    largest = d
            semi_hard = None
            for d in negatives:
                if d > d_ap and (semi_hard is None or d < semi_hard):
                    semi_hard = d
            if kind == "batch_hard":
                d_an = hardest
            elif kind == "semi_hard":
                d_an = semi_hard if semi_hard is not None else largest  # TF Addons: negatives_inside
            else:
                raise AssertionError(kind)
            out.append(_relu(d_ap - d_an + margin))
    return out


def naive_loss(z_a, z_b, kind, margin, normalize=True) -> torch.Tensor:
    terms = naive_per_anchor(z_a, z_b, kind, margin, normalize)
    return sum(terms) / len(terms)


def _criterion(kind: str, margin: float, normalize: bool = True, gather_distributed: bool = True):
    if kind == "contrastive":
        return MarginContrastiveLoss(margin, normalize=normalize, gather_distributed=gather_distributed)
    return TripletLoss(margin, mining=kind, normalize=normalize, gather_distributed=gather_distributed)


def _views(seed: int, n: int = 6, d: int = 5, noise: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    z_a = torch.randn(n, d, generator=g, dtype=torch.float64)
    z_b = z_a + noise * torch.randn(n, d, generator=g, dtype=torch.float64)
    return z_a, z_b


def _line(*xs: float) -> torch.Tensor:
    """Points on the x axis of the plane, as a (len(xs), 2) float64 tensor."""
    return torch.tensor([[x, 0.0] for x in xs], dtype=torch.float64)


# ----------------------------------------------------------------------------- against the naive reference


def _fallback_anchors(z_a: torch.Tensor, z_b: torch.Tensor) -> int:
    """How many anchors (normalised embeddings) have no negative farther than their positive."""
    n = z_a.shape[0]
    a, b = _naive_normalise(z_a), _naive_normalise(z_b)
    views = [(i, a[i]) for i in range(n)] + [(i, b[i]) for i in range(n)]
    count = 0
    for k, (window, x) in enumerate(views):
        d_ap = _naive_distance(x, b[window] if k < n else a[window])
        if not any(_naive_distance(x, y) > d_ap for (w, y) in views if w != window):
            count += 1
    return count


def test_noisy_views_hit_the_fallback():
    for seed, noise in VIEW_CASES:
        assert (_fallback_anchors(*_views(seed, noise=noise)) > 0) == (noise > 1), (seed, noise)


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("seed,noise", VIEW_CASES)
@pytest.mark.parametrize("margin", TRIPLET_MARGINS)
@pytest.mark.parametrize("mining", MODES)
def test_triplet_matches_naive_reference(mining, margin, seed, noise, normalize):
    z_a, z_b = _views(seed, noise=noise)
    if not normalize:
        margin = 4 * margin  # unnormalised distances are a few units, not in [0, 2]
    loss = TripletLoss(margin, mining=mining, normalize=normalize)(z_a, z_b)
    assert loss.dtype == torch.float64 and loss.ndim == 0
    assert loss.item() == pytest.approx(naive_loss(z_a, z_b, mining, margin, normalize).item(), abs=TOL)


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("seed,noise", VIEW_CASES)
@pytest.mark.parametrize("margin", CONTRASTIVE_MARGINS)
def test_contrastive_matches_naive_reference(margin, seed, noise, normalize):
    z_a, z_b = _views(seed, noise=noise)
    if not normalize:
        margin = 3 * margin
    loss = MarginContrastiveLoss(margin, normalize=normalize)(z_a, z_b)
    assert loss.item() == pytest.approx(naive_loss(z_a, z_b, "contrastive", margin, normalize).item(), abs=TOL)


@pytest.mark.parametrize("kind", MODES + ["contrastive"])
def test_gradients_match_naive_reference(kind):
    z_a, z_b = _views(3)
    grads = []
    for fn in (lambda a, b: _criterion(kind, 0.5)(a, b), lambda a, b: naive_loss(a, b, kind, 0.5)):
        a, b = z_a.clone().requires_grad_(True), z_b.clone().requires_grad_(True)
        grads.append(torch.autograd.grad(fn(a, b), (a, b)))
    for g, g_ref in zip(*grads):
        assert torch.isfinite(g).all() and g.abs().sum() > 0
        assert torch.allclose(g, g_ref, rtol=0, atol=TOL)


def test_the_modes_differ_on_random_views():
    """The three mining modes give different losses; batch-hard (the largest per-anchor term) is the largest."""
    z_a, z_b = _views(0)
    losses = {m: TripletLoss(0.5, mining=m)(z_a, z_b).item() for m in MODES}
    assert len({round(v, 8) for v in losses.values()}) == 3
    assert losses["batch_hard"] > losses["semi_hard"]


# ----------------------------------------------------------------------------- hand-built cases

# Three windows on a line (x coordinate; normalize=False so distances are the differences):
#   window 0: a0 = 0, b0 = 4      window 1: a1 = 1, b1 = 2      window 2: a2 = 6, b2 = 7
# anchor  d_ap  negatives (distance)              hardest  semi-hard (closest > d_ap)
#   a0     4    a1 1, b1 2, a2 6, b2 7             1        6
#   b0     4    a1 3, b1 2, a2 2, b2 3             2        none > 4 -> fallback: largest = 3
#   a1     1    a0 1, b0 3, a2 5, b2 6             1        3  (a0 at exactly d_ap = 1 is not > d_ap)
#   b1     1    a0 2, b0 2, a2 4, b2 5             2        2
#   a2     1    a0 6, b0 2, a1 5, b1 4             2        2
#   b2     1    a0 7, b0 3, a1 6, b1 5             3        3
HAND_A, HAND_B, HAND_MARGIN = _line(0, 1, 6), _line(4, 2, 7), 1.5


def test_hand_built_batch_hard():
    # max(0, d_ap - hardest + 1.5): a0 4.5, b0 3.5, a1 1.5, b1 0.5, a2 0.5, b2 0
    loss = TripletLoss(HAND_MARGIN, mining="batch_hard", normalize=False)(HAND_A, HAND_B)
    assert loss.item() == pytest.approx((4.5 + 3.5 + 1.5 + 0.5 + 0.5 + 0.0) / 6, abs=1e-12)


def test_hand_built_semi_hard_with_fallback_and_strict_inequality():
    # max(0, d_ap - semi-hard + 1.5): a0 0 (6 is beyond the margin), b0 4 - 3 + 1.5 = 2.5 (fallback to the
    # LARGEST negative distance, not the hardest 2, which would give 3.5), a1 0 (picks 3, not the tie at 1),
    # b1 0.5, a2 0.5, b2 0
    loss = TripletLoss(HAND_MARGIN, mining="semi_hard", normalize=False)(HAND_A, HAND_B)
    assert loss.item() == pytest.approx((0.0 + 2.5 + 0.0 + 0.5 + 0.5 + 0.0) / 6, abs=1e-12)


def test_hand_built_all_triplets():
    # mean over the 4 negatives of max(0, d_ap + 1.5 - d_an):
    #   a0 (4.5 + 3.5 + 0 + 0) / 4 = 2     b0 (2.5 + 3.5 + 3.5 + 2.5) / 4 = 3    a1 (1.5 + 0 + 0 + 0) / 4
    #   b1 (0.5 + 0.5 + 0 + 0) / 4         a2 (0 + 0.5 + 0 + 0) / 4              b2 0
    loss = TripletLoss(HAND_MARGIN, mining="all", normalize=False)(HAND_A, HAND_B)
    assert loss.item() == pytest.approx((2 + 3 + 0.375 + 0.25 + 0.125 + 0) / 6, abs=1e-12)
    assert loss.item() == pytest.approx(23 / 24, abs=1e-12)


def test_semi_hard_falls_back_to_the_largest_negative_when_none_is_farther_than_the_positive():
    # window 0: a0 = 0, b0 = 10 (far apart); window 1: a1 = 3, b1 = 4; margin 1.
    # a0: d_ap 10, negatives 3, 4 -> none > 10 -> largest 4 -> 10 - 4 + 1 = 7   (hardest 3 would give 8)
    # b0: d_ap 10, negatives 7, 6 -> largest 7          -> 10 - 7 + 1 = 4   (hardest 6 would give 5)
    # a1: d_ap 1, negatives 3, 7 -> semi-hard 3         -> max(0, 1 - 3 + 1) = 0
    # b1: d_ap 1, negatives 4, 6 -> semi-hard 4         -> 0
    z_a, z_b = _line(0, 3), _line(10, 4)
    semi = TripletLoss(1.0, mining="semi_hard", normalize=False)(z_a, z_b)
    hard = TripletLoss(1.0, mining="batch_hard", normalize=False)(z_a, z_b)
    assert semi.item() == pytest.approx((7 + 4 + 0 + 0) / 4, abs=1e-12)
    assert hard.item() == pytest.approx((8 + 5 + 0 + 0) / 4, abs=1e-12)


def test_hand_built_contrastive():
    # window 0: a0 = 0, b0 = 1; window 1: a1 = 3, b1 = 5; margin 2.5.
    # positives: d = 1 and 2 -> mean of d^2 over the anchors (1, 1, 4, 4) = 2.5
    # negatives (8 ordered pairs): a0-a1 3, a0-b1 5, b0-a1 2, b0-b1 4 and the reverse ones;
    #   max(0, 2.5 - d)^2 is 0.25 for the two pairs at d = 2, else 0 -> 0.5 / 8 = 0.0625
    loss = MarginContrastiveLoss(2.5, normalize=False)(_line(0, 3), _line(1, 5))
    assert loss.item() == pytest.approx(2.5 + 0.0625, abs=1e-12)


def test_hand_built_normalised_distances():
    # Unit vectors at 0, 90 and 180 degrees with identical views: d_ap = 0, negatives at sqrt(2) (90 degrees)
    # and 2 (180 degrees); scaling the inputs must not change anything when normalising.
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=torch.float64)
    scale = torch.tensor([[3.0], [0.5], [7.0]], dtype=torch.float64)
    r2 = 2**0.5
    m = 1.5
    # every anchor: hardest negative sqrt(2) -> m - sqrt(2); semi-hard: closest > 0 is also sqrt(2)
    for mining in ("batch_hard", "semi_hard"):
        loss = TripletLoss(m, mining=mining)(z * scale, z)
        assert loss.item() == pytest.approx(m - r2, abs=1e-12)
    # all: windows 0 and 2 have negatives {sqrt2, sqrt2, 2, 2}; window 1 has {sqrt2} * 4
    expected_all = (4 * (2 * (m - r2) + 0) / 4 + 2 * (m - r2)) / 6
    assert TripletLoss(m, mining="all")(z * scale, z).item() == pytest.approx(expected_all, abs=1e-12)
    # contrastive, margin 1.5: positives 0; a negative pair gives (1.5 - sqrt2)^2 at sqrt(2), 0 at 2. Of the
    # 6 * 4 = 24 (anchor, negative) pairs, 16 are at sqrt(2): 2 of 4 for each of the 4 anchors of windows 0
    # and 2, 4 of 4 for the 2 anchors of window 1.
    expected_con = (4 * 2 + 2 * 4) * (m - r2) ** 2 / 24
    assert MarginContrastiveLoss(m)(z * scale, z).item() == pytest.approx(expected_con, abs=1e-12)


# ----------------------------------------------------------------------------- properties


@pytest.mark.parametrize("kind", MODES + ["contrastive"])
def test_well_separated_embeddings_give_zero_loss(kind):
    # Orthogonal windows, identical views: d_ap = 0, every negative at sqrt(2) > margin.
    z = 5.0 * torch.eye(6, dtype=torch.float64)
    margin = 1.0 if kind == "contrastive" else 0.2
    assert _criterion(kind, margin)(z, z.clone()).item() == 0.0
    # Unnormalised: windows 10 apart, views 0.1 apart.
    z_a = 10.0 * torch.arange(5, dtype=torch.float64)[:, None].repeat(1, 3)
    assert _criterion(kind, 1.0, normalize=False)(z_a, z_a + 0.1).item() == pytest.approx(
        0.0 if kind != "contrastive" else 3 * 0.01, abs=1e-12
    )


@pytest.mark.parametrize("kind", MODES + ["contrastive"])
def test_views_are_interchangeable(kind):
    z_a, z_b = _views(4)
    criterion = _criterion(kind, 0.5)
    assert criterion(z_a, z_b).item() == pytest.approx(criterion(z_b, z_a).item(), abs=TOL)


@pytest.mark.parametrize("kind", MODES + ["contrastive"])
def test_gradients_finite_including_identical_views(kind):
    for z_a, z_b in (_views(5), (_views(5)[0], _views(5)[0])):  # identical views: d_ap = 0 exactly
        z_a = z_a.float().requires_grad_(True)
        z_b = z_b.float().requires_grad_(True)
        loss = _criterion(kind, 1.5)(z_a, z_b)
        loss.backward()
        assert torch.isfinite(loss)
        for g in (z_a.grad, z_b.grad):
            assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0


@pytest.mark.parametrize("kind", MODES + ["contrastive"])
def test_gradcheck(kind):
    z_a, z_b = _views(6, n=4, d=3)
    criterion = _criterion(kind, 0.7)
    assert torch.autograd.gradcheck(criterion, (z_a.requires_grad_(True), z_b.requires_grad_(True)))


def test_defaults_and_extra_repr():
    t = TripletLoss()
    assert (t.margin, t.mining, t.normalize, t.gather_distributed) == (0.2, "semi_hard", True, True)
    assert repr(t) == "TripletLoss(margin=0.2, mining='semi_hard', normalize=True, gather_distributed=True)"
    c = MarginContrastiveLoss()
    assert (c.margin, c.normalize, c.gather_distributed) == (1.0, True, True)
    assert repr(c) == "MarginContrastiveLoss(margin=1.0, normalize=True, gather_distributed=True)"


# ----------------------------------------------------------------------------- bad inputs

# (shape checks and the single-window case: tests/test_losses.py, for every two-view loss)


@pytest.mark.parametrize("margin", [0.0, -0.1, float("nan")])
def test_non_positive_margin_raises(margin):
    with pytest.raises(ValueError, match=r"TripletLoss margin must be > 0"):
        TripletLoss(margin)
    with pytest.raises(ValueError, match=r"MarginContrastiveLoss margin must be > 0"):
        MarginContrastiveLoss(margin)


def test_unknown_mining_raises_listing_the_options():
    with pytest.raises(ValueError, match=r"'batch_hard', 'semi_hard', 'all'.*'hardest'"):
        TripletLoss(mining="hardest")


# ----------------------------------------------------------------------------- two gloo processes

WORLD = 2
DDP_CASES = [(kind, margin) for kind in MODES for margin in (0.2, 1.0)] + [("contrastive", 0.5), ("contrastive", 1.5)]
SPLITS = {"even": [4, 4], "uneven": [5, 3]}


def _ddp_worker(
    rank: int, world: int, init_file: str, out_dir: str, z_a_full: torch.Tensor, z_b_full: torch.Tensor
) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        results: dict = {}
        for split, sizes in SPLITS.items():
            start = sum(sizes[:rank])
            stop = start + sizes[rank]
            for kind, margin in DDP_CASES:
                z_a = z_a_full[start:stop].clone().requires_grad_(True)
                z_b = z_b_full[start:stop].clone().requires_grad_(True)
                loss = _criterion(kind, margin, gather_distributed=True)(z_a, z_b)
                results[(split, kind, margin)] = (loss.detach(), torch.autograd.grad(loss, (z_a, z_b)))
        torch.save(results, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_ddp_gathered_negatives_and_gradients(tmp_path):
    """Anchors local, candidates gathered (distributed.gather_batch_with_offset), each rank the mean over its
    own anchors.

    Gradient maths. Let l_k be anchor k's loss, L_s = mean_{k in rank s} l_k the loss rank s returns and
    R = sum_s L_s. Rank s's local inputs z_s reach L_s directly (as anchors) and every L_t through the
    gathered candidates; GatherLayer's backward all-reduces (sums) dL_t/dZ over the ranks t and keeps z_s's
    rows, so the gradient rank s holds is dR/dz_s -- for any split. With equal local batches of n rows,
    R = W * L where L = mean over all anchors is the single-process loss on the concatenated batch, so the
    rank gradient is W * dL/dz_s, and DDP's average over ranks (divide by W) gives dL/dtheta: the rank
    gradients stacked and divided by W are the single-process gradient. With unequal batches the stacked
    rank gradients are still dR/dz (checked against the loop reference), but R is no longer W * L; the
    losses combine into L with weights n_s / N.
    """
    z_a_full, z_b_full = _views(11, n=8)

    run_on_gloo_ranks(
        _ddp_worker, (WORLD, str(tmp_path / "init"), str(tmp_path), z_a_full, z_b_full), world=WORLD, timeout_s=90.0
    )
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]
    n_total = z_a_full.shape[0]

    for split, sizes in SPLITS.items():
        bounds = [sum(sizes[:r]) for r in range(WORLD + 1)]
        for kind, margin in DDP_CASES:
            a = z_a_full.clone().requires_grad_(True)
            b = z_b_full.clone().requires_grad_(True)
            full = _criterion(kind, margin, gather_distributed=False)(a, b)
            full_grads = torch.autograd.grad(full, (a, b))
            losses = [res[(split, kind, margin)][0].item() for res in ranks]

            # Each rank's loss is the mean of the reference per-anchor losses over its own anchors (both views).
            a_ref = z_a_full.clone().requires_grad_(True)
            b_ref = z_b_full.clone().requires_grad_(True)
            per_anchor = naive_per_anchor(a_ref, b_ref, kind, margin)
            rank_refs = []
            for r in range(WORLD):
                own = [per_anchor[k] for k in range(bounds[r], bounds[r + 1])]
                own += [per_anchor[n_total + k] for k in range(bounds[r], bounds[r + 1])]
                rank_refs.append(sum(own) / len(own))
                assert losses[r] == pytest.approx(rank_refs[r].item(), abs=TOL), (split, kind, margin, r)

            # The losses weighted by local batch size are the single-process loss.
            weighted = sum(loss * n for loss, n in zip(losses, sizes)) / n_total
            assert weighted == pytest.approx(full.item(), abs=TOL), (split, kind, margin)

            # Stacked rank gradients are dR/dz, R = sum of the rank losses (any split).
            ref_grads = torch.autograd.grad(sum(rank_refs), (a_ref, b_ref))
            for view in range(2):
                stacked = torch.cat([res[(split, kind, margin)][1][view] for res in ranks])
                assert torch.allclose(stacked, ref_grads[view], rtol=0, atol=TOL), (split, kind, margin, view)

            if split == "even":
                # Equal local batches: plain mean of the rank losses = single-process loss, and
                # stacked rank gradients / WORLD (what DDP's averaging applies) = single-process gradient.
                assert sum(losses) / WORLD == pytest.approx(full.item(), abs=TOL)
                for view in range(2):
                    stacked = torch.cat([res[(split, kind, margin)][1][view] for res in ranks])
                    assert torch.allclose(stacked / WORLD, full_grads[view], rtol=0, atol=TOL)
