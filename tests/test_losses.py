"""Barlow Twins and VICReg losses: naive loop references of the published formulas, properties, and the
global-batch statistics / gradients under a real two-process gloo group."""

from __future__ import annotations

import math

import pytest
import torch
import torch.distributed as dist
from gloo_processes import run_on_gloo_ranks

from selfsup import distributed
from selfsup.losses import BarlowTwinsLoss, MarginContrastiveLoss, NTXentLoss, TripletLoss, VICRegLoss, off_diagonal

N, D = 8, 5
TOL = 1e-10
LAMBDAS = [0.001, 0.005, 0.1]
VICREG_COEFFS = [(25.0, 25.0, 1.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (5.0, 10.0, 2.0)]


# ----------------------------------------------------------------------------- naive references (loops only)


def naive_barlow(z_a: torch.Tensor, z_b: torch.Tensor, lam: float, eps: float = 1e-5) -> float:
    """Zbontar et al. 2021, written with scalar loops: BN(affine=False) per dimension, C = a^T b / N."""
    a, b = z_a.tolist(), z_b.tolist()
    n, d = len(a), len(a[0])

    def standardise(z):
        out = [[0.0] * d for _ in range(n)]
        for j in range(d):
            mean = sum(z[k][j] for k in range(n)) / n
            var = sum((z[k][j] - mean) ** 2 for k in range(n)) / n  # biased, as BatchNorm in training
            for k in range(n):
                out[k][j] = (z[k][j] - mean) / math.sqrt(var + eps)
        return out

    a, b = standardise(a), standardise(b)
    loss = 0.0
    for i in range(d):
        for j in range(d):
            c_ij = sum(a[k][i] * b[k][j] for k in range(n)) / n
            loss += (1.0 - c_ij) ** 2 if i == j else lam * c_ij**2
    return loss


def naive_vicreg_terms(z_a: torch.Tensor, z_b: torch.Tensor, eps: float = 1e-4) -> dict[str, float]:
    """Bardes et al. 2022 / official main.py, written with scalar loops (single process)."""
    a, b = z_a.tolist(), z_b.tolist()
    n, d = len(a), len(a[0])
    invariance = sum((a[k][j] - b[k][j]) ** 2 for k in range(n) for j in range(d)) / (n * d)

    def centre(z):
        means = [sum(z[k][j] for k in range(n)) / n for j in range(d)]
        return [[z[k][j] - means[j] for j in range(d)] for k in range(n)]

    def variance_term(z):  # z centred
        total = 0.0
        for j in range(d):
            var = sum(z[k][j] ** 2 for k in range(n)) / (n - 1)  # unbiased
            total += max(0.0, 1.0 - math.sqrt(var + eps))
        return total / d

    def covariance_term(z):  # z centred
        total = 0.0
        for i in range(d):
            for j in range(d):
                if i != j:
                    cov_ij = sum(z[k][i] * z[k][j] for k in range(n)) / (n - 1)
                    total += cov_ij**2
        return total / d

    a, b = centre(a), centre(b)
    return {
        "invariance": invariance,
        "variance": variance_term(a) / 2 + variance_term(b) / 2,
        "covariance": covariance_term(a) + covariance_term(b),
    }


def _views(seed: int = 0, n: int = N, d: int = D) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    # per-dimension scales below and above 1 so the variance hinge is active for some dimensions only
    scale = torch.linspace(0.3, 1.6, d, dtype=torch.float64)
    z_a = torch.randn(n, d, generator=g, dtype=torch.float64) * scale + 0.7
    z_b = 0.6 * z_a + 0.5 * torch.randn(n, d, generator=g, dtype=torch.float64) * scale
    return z_a, z_b


def _whitened(n: int = N, d: int = D, seed: int = 1) -> torch.Tensor:
    """(n, d) with centred, mutually orthogonal columns of biased variance exactly 1."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    x = x - x.mean(dim=0)
    q, _ = torch.linalg.qr(x)  # orthonormal columns, still orthogonal to the ones vector
    return q * math.sqrt(n) + 3.0


# ----------------------------------------------------------------------------- against the references


@pytest.mark.parametrize("lam", LAMBDAS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_barlow_matches_naive_reference(lam, seed):
    z_a, z_b = _views(seed)
    loss = BarlowTwinsLoss(lambda_offdiag=lam)(z_a, z_b)
    assert loss.dtype == torch.float64 and loss.ndim == 0
    assert abs(loss.item() - naive_barlow(z_a, z_b, lam)) < TOL


def test_barlow_lambda_scales_only_the_off_diagonal_term():
    z_a, z_b = _views(3)
    on_diag = BarlowTwinsLoss(lambda_offdiag=0.0)(z_a, z_b).item()
    off_diag = BarlowTwinsLoss(lambda_offdiag=1.0)(z_a, z_b).item() - on_diag
    assert off_diag > 0
    for lam in LAMBDAS:
        assert abs(BarlowTwinsLoss(lambda_offdiag=lam)(z_a, z_b).item() - (on_diag + lam * off_diag)) < TOL


def test_barlow_eps_is_used():
    z_a, z_b = _views(4)
    for eps in (0.0, 1e-5, 0.1):
        loss = BarlowTwinsLoss(lambda_offdiag=0.005, eps=eps)(z_a, z_b).item()
        assert abs(loss - naive_barlow(z_a, z_b, 0.005, eps=eps)) < TOL


@pytest.mark.parametrize("coeffs", VICREG_COEFFS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vicreg_matches_naive_reference(coeffs, seed):
    z_a, z_b = _views(seed)
    sim, std, cov = coeffs
    criterion = VICRegLoss(sim_coeff=sim, std_coeff=std, cov_coeff=cov)
    ref = naive_vicreg_terms(z_a, z_b)
    assert all(v > 1e-3 for v in ref.values()), "test data must make every term non-trivial"

    terms = criterion.terms(z_a, z_b)
    assert set(terms) == {"invariance", "variance", "covariance"}
    for name, value in ref.items():
        assert abs(terms[name].item() - value) < TOL, name

    loss = criterion(z_a, z_b).item()
    expected = sim * ref["invariance"] + std * ref["variance"] + cov * ref["covariance"]
    assert abs(loss - expected) < TOL


def test_vicreg_each_coefficient_scales_its_own_term():
    z_a, z_b = _views(5)
    ref = naive_vicreg_terms(z_a, z_b)
    assert abs(VICRegLoss(1.0, 0.0, 0.0)(z_a, z_b).item() - ref["invariance"]) < TOL
    assert abs(VICRegLoss(0.0, 1.0, 0.0)(z_a, z_b).item() - ref["variance"]) < TOL
    assert abs(VICRegLoss(0.0, 0.0, 1.0)(z_a, z_b).item() - ref["covariance"]) < TOL
    # linear in each coefficient, and the terms themselves do not depend on the coefficients
    base = VICRegLoss(1.0, 1.0, 1.0)
    for k, name in enumerate(["invariance", "variance", "covariance"]):
        coeffs = [1.0, 1.0, 1.0]
        coeffs[k] = 7.0
        bumped = VICRegLoss(*coeffs)
        assert abs(bumped(z_a, z_b).item() - base(z_a, z_b).item() - 6.0 * ref[name]) < TOL
        assert abs(bumped.terms(z_a, z_b)[name].item() - ref[name]) < TOL


def test_vicreg_eps_is_used():
    z_a, z_b = _views(6)
    for eps in (0.0, 1e-4, 0.5):
        terms = VICRegLoss(eps=eps).terms(z_a, z_b)
        assert abs(terms["variance"].item() - naive_vicreg_terms(z_a, z_b, eps=eps)["variance"]) < TOL


def test_off_diagonal():
    m = torch.arange(16.0).view(4, 4)
    expected = torch.tensor([m[i, j].item() for i in range(4) for j in range(4) if i != j])
    assert torch.equal(off_diagonal(m), expected)
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        off_diagonal(torch.zeros(3, 4))


# ----------------------------------------------------------------------------- properties


def test_barlow_identical_whitened_views_give_zero_loss():
    z = _whitened()
    for lam in LAMBDAS:
        assert BarlowTwinsLoss(lambda_offdiag=lam, eps=0.0)(z, z.clone()).item() < 1e-20
        # with the default eps C = I / (1 + eps): loss = D * (eps / (1 + eps))^2
        loss = BarlowTwinsLoss(lambda_offdiag=lam)(z, z.clone()).item()
        assert abs(loss - D * (1e-5 / (1 + 1e-5)) ** 2) < 1e-15


def test_barlow_is_invariant_to_per_dimension_affine_maps():
    z_a, z_b = _views(7)
    scale = torch.tensor([0.5, 2.0, 3.0, 0.1, 10.0], dtype=torch.float64)
    ref = BarlowTwinsLoss(eps=0.0)(z_a, z_b).item()
    assert abs(BarlowTwinsLoss(eps=0.0)(z_a * scale - 4.0, z_b * scale.flip(0) + 1.0).item() - ref) < 1e-9


def test_vicreg_collapsed_embeddings():
    row = torch.randn(1, D, dtype=torch.float64)
    z = row.expand(N, D).clone()
    criterion = VICRegLoss()  # 25 / 25 / 1
    terms = criterion.terms(z, z.clone())
    assert terms["invariance"].item() == 0.0
    assert abs(terms["covariance"].item()) < 1e-25
    # every std is sqrt(0 + eps): the hinge gives 1 - sqrt(eps) per dimension and view
    assert abs(terms["variance"].item() - (1.0 - math.sqrt(1e-4))) < TOL
    assert abs(criterion(z, z.clone()).item() - 25.0 * (1.0 - math.sqrt(1e-4))) < TOL
    # without eps the variance term is exactly 1, weighted by std_coeff
    assert VICRegLoss(eps=0.0).terms(z, z.clone())["variance"].item() == 1.0
    assert abs(VICRegLoss(std_coeff=3.0, eps=0.0)(z, z.clone()).item() - 3.0) < TOL


def test_vicreg_identical_whitened_views_give_zero_loss():
    # unbiased std sqrt(N / (N - 1)) > 1: no variance penalty; orthogonal columns: no covariance
    z = _whitened()
    terms = VICRegLoss().terms(z, z.clone())
    assert terms["invariance"].item() == 0.0
    assert terms["variance"].item() == 0.0
    assert terms["covariance"].item() < 1e-25


TWO_VIEW_LOSSES = [BarlowTwinsLoss(), VICRegLoss(), NTXentLoss(), TripletLoss(), MarginContrastiveLoss()]
TWO_VIEW_IDS = ["barlow", "vicreg", "nt_xent", "triplet", "margin_contrastive"]


@pytest.mark.parametrize("criterion", TWO_VIEW_LOSSES, ids=TWO_VIEW_IDS)
def test_shape_mismatch_raises(criterion):
    with pytest.raises(ValueError, match=rf"{type(criterion).__name__}.*\(8, 5\).*\(8, 4\)"):
        criterion(torch.zeros(8, 5), torch.zeros(8, 4))
    with pytest.raises(ValueError, match=r"\(8, 5\).*\(7, 5\)"):
        criterion(torch.zeros(8, 5), torch.zeros(7, 5))
    with pytest.raises(ValueError, match=r"2-D.*\(8,\)"):
        criterion(torch.zeros(8), torch.zeros(8))


@pytest.mark.parametrize("criterion", TWO_VIEW_LOSSES, ids=TWO_VIEW_IDS)
def test_single_sample_raises(criterion):
    with pytest.raises(ValueError, match="at least 2"):
        criterion(torch.randn(1, D), torch.randn(1, D))


def test_gradients_flow_and_are_finite():
    z_a, z_b = _views(8)
    z_a.requires_grad_(True)
    z_b.requires_grad_(True)
    (BarlowTwinsLoss()(z_a, z_b) + VICRegLoss()(z_a, z_b)).backward()
    for g in (z_a.grad, z_b.grad):
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0


def test_distributed_helpers_without_process_group():
    assert distributed.world_size() == 1
    assert distributed.rank() == 0
    x = torch.randn(3, 2)
    assert distributed.gather_batch(x) is x
    losses = {"train/loss": 1.5}
    assert distributed.mean_over_ranks(losses, torch.device("cpu")) is losses


# ----------------------------------------------------------------------------- two gloo processes

WORLD = 2
DDP_LAMBDAS = [0.001, 0.1]
DDP_VICREG = [(25.0, 25.0, 1.0), (5.0, 10.0, 2.0)]
SPLITS = {"even": [4, 4], "uneven": [5, 3]}


def _ddp_worker(
    rank: int, world: int, init_file: str, out_dir: str, z_a_full: torch.Tensor, z_b_full: torch.Tensor
) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        results: dict = {"world_size": distributed.world_size(), "rank": distributed.rank()}
        values = {"b": 2.0 * rank + 1, "a": float(rank)}
        if rank == 1:  # the same names, inserted in the other order
            values = dict(reversed(values.items()))
        results["mean"] = distributed.mean_over_ranks(values, torch.device("cpu"))
        for split, sizes in SPLITS.items():
            start = sum(sizes[:rank])
            stop = start + sizes[rank]
            out: dict = {"gathered": distributed.gather_batch(z_a_full[start:stop]).detach()}

            def local_views():
                return (
                    z_a_full[start:stop].clone().requires_grad_(True),
                    z_b_full[start:stop].clone().requires_grad_(True),
                )

            for lam in DDP_LAMBDAS:
                z_a, z_b = local_views()
                loss = BarlowTwinsLoss(lambda_offdiag=lam, gather_distributed=True)(z_a, z_b)
                grads = torch.autograd.grad(loss, (z_a, z_b))
                out[("barlow", lam)] = (loss.detach(), grads)
            for coeffs in DDP_VICREG:
                z_a, z_b = local_views()
                criterion = VICRegLoss(*coeffs, gather_distributed=True)
                terms = {k: v.detach() for k, v in criterion.terms(z_a, z_b).items()}
                loss = criterion(z_a, z_b)
                grads = torch.autograd.grad(loss, (z_a, z_b))
                out[("vicreg", coeffs)] = (loss.detach(), grads, terms)
            results[split] = out
        torch.save(results, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _full_batch(loss_fn, z_a_full, z_b_full):
    z_a = z_a_full.clone().requires_grad_(True)
    z_b = z_b_full.clone().requires_grad_(True)
    loss = loss_fn(z_a, z_b)
    return loss.detach(), torch.autograd.grad(loss, (z_a, z_b))


def test_ddp_global_batch_statistics_and_gradients(tmp_path):
    z_a_full, z_b_full = _views(11)

    run_on_gloo_ranks(
        _ddp_worker, (WORLD, str(tmp_path / "init"), str(tmp_path), z_a_full, z_b_full), world=WORLD, timeout_s=50.0
    )
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]

    for r, res in enumerate(ranks):
        assert res["world_size"] == WORLD and res["rank"] == r
        assert res["mean"] == {"a": 0.5, "b": 2.0}  # (0 + 1) / 2 and (1 + 3) / 2, by name whatever the order

    for split, sizes in SPLITS.items():
        bounds = [sum(sizes[:r]) for r in range(WORLD + 1)]
        for res in ranks:
            assert torch.equal(res[split]["gathered"], z_a_full)

        # Barlow Twins: one global loss, identical on every rank and equal to the single-process loss;
        # local grad / world_size (what DDP's averaging applies) is the full-batch gradient of its rows.
        for lam in DDP_LAMBDAS:
            full_loss, full_grads = _full_batch(BarlowTwinsLoss(lambda_offdiag=lam), z_a_full, z_b_full)
            for r, res in enumerate(ranks):
                loss, grads = res[split][("barlow", lam)]
                assert abs(loss.item() - full_loss.item()) < TOL, (split, lam, r)
                for g_local, g_full in zip(grads, full_grads):
                    assert torch.allclose(g_local / WORLD, g_full[bounds[r] : bounds[r + 1]], rtol=0, atol=TOL)

        # VICReg: variance and covariance are global (identical on every rank, equal to single process);
        # invariance is the local MSE, as in the official code.
        for coeffs in DDP_VICREG:
            full_terms = VICRegLoss(*coeffs).terms(z_a_full, z_b_full)
            for r, res in enumerate(ranks):
                loss, grads, terms = res[split][("vicreg", coeffs)]
                for name in ("variance", "covariance"):
                    assert abs(terms[name].item() - full_terms[name].item()) < TOL, (split, coeffs, r, name)
                local = slice(bounds[r], bounds[r + 1])
                local_inv = torch.nn.functional.mse_loss(z_a_full[local], z_b_full[local])
                assert abs(terms["invariance"].item() - local_inv.item()) < TOL

            if split != "even":
                continue
            # With equal local batches the mean of the local MSEs is the full-batch MSE, so the mean of
            # the rank losses is the single-process loss ...
            full_loss, full_grads = _full_batch(VICRegLoss(*coeffs), z_a_full, z_b_full)
            mean_loss = sum(res[split][("vicreg", coeffs)][0].item() for res in ranks) / WORLD
            assert abs(mean_loss - full_loss.item()) < TOL
            # ... and what DDP computes -- the rank gradients (invariance: d inv_r / dz_r, which is
            # world_size x the full-batch invariance gradient of those rows; global terms: world_size x via
            # the gather) stacked and divided by world_size -- is the single-process gradient.
            for view in range(2):
                stacked = torch.cat([res[split][("vicreg", coeffs)][1][view] for res in ranks], dim=0)
                assert torch.allclose(stacked / WORLD, full_grads[view], rtol=0, atol=TOL)
