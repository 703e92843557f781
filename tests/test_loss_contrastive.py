"""SimCLR's NT-Xent, MoCo's InfoNCE with a queue, BYOL/SimSiam's negative cosine: naive scalar-loop references
of the published formulas, and under a real two-process gloo group the DDP meaning (gathered negatives, one
shared MoCo queue, shuffle BN that gives every rank its own keys back)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.distributed as dist
from gloo_processes import run_on_gloo_ranks

from selfsup.losses import NTXentLoss, info_nce_with_queue, negative_cosine

TOL = 1e-10


def _cos(u: list[float], v: list[float]) -> float:
    dot = sum(a * b for a, b in zip(u, v))
    return dot / (math.sqrt(sum(a * a for a in u)) * math.sqrt(sum(b * b for b in v)))


def naive_nt_xent(z_a: torch.Tensor, z_b: torch.Tensor, tau: float) -> float:
    """Chen et al. 2020, eq. (1) and Algorithm 1: 2N views z_1..z_2N, views 2k-1 and 2k from window k."""
    views = []
    for a, b in zip(z_a.tolist(), z_b.tolist()):
        views += [a, b]

    def pair_loss(i: int, j: int) -> float:
        denominator = sum(math.exp(_cos(views[i], views[k]) / tau) for k in range(len(views)) if k != i)
        return -math.log(math.exp(_cos(views[i], views[j]) / tau) / denominator)

    n = len(z_a)
    return sum(pair_loss(2 * k, 2 * k + 1) + pair_loss(2 * k + 1, 2 * k) for k in range(n)) / (2 * n)


def naive_info_nce(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, tau: float) -> float:
    """He et al. 2020, eq. (1): L_q = -log exp(q.k+/tau) / sum over {k+} and the K queued keys."""
    total = 0.0
    negatives = queue.T.tolist()
    for q_n, k_n in zip(q.tolist(), k.tolist()):
        positive = math.exp(sum(a * b for a, b in zip(q_n, k_n)) / tau)
        rest = sum(math.exp(sum(a * b for a, b in zip(q_n, key)) / tau) for key in negatives)
        total += -math.log(positive / (positive + rest))
    return total / len(q)


def _views(seed: int, n: int = 6, d: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    z_a = torch.randn(n, d, generator=generator, dtype=torch.float64)
    return z_a, z_a + 0.5 * torch.randn(n, d, generator=generator, dtype=torch.float64)


@pytest.mark.parametrize("tau", [0.07, 0.2, 0.5, 1.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_nt_xent_matches_naive_reference(tau, seed):
    z_a, z_b = _views(seed)
    assert NTXentLoss(tau)(z_a, z_b).item() == pytest.approx(naive_nt_xent(z_a, z_b, tau), abs=TOL)


def test_nt_xent_ranks_the_positive_first_when_views_agree():
    z_a, _ = _views(3, n=8)
    assert NTXentLoss(0.1)(z_a, z_a * 2.0) < NTXentLoss(0.1)(z_a, z_a.roll(1, dims=0))


@pytest.mark.parametrize("tau", [0.07, 0.2, 1.0])
def test_info_nce_with_queue_matches_naive_reference(tau):
    generator = torch.Generator().manual_seed(0)
    q, k = (
        torch.nn.functional.normalize(torch.randn(4, 3, generator=generator, dtype=torch.float64), dim=1)
        for _ in range(2)
    )
    queue = torch.nn.functional.normalize(torch.randn(3, 7, generator=generator, dtype=torch.float64), dim=0)
    assert info_nce_with_queue(q, k, queue, tau).item() == pytest.approx(naive_info_nce(q, k, queue, tau), abs=TOL)


def test_info_nce_sends_no_gradient_to_keys_or_queue():
    q = torch.randn(4, 3, requires_grad=True)
    k = torch.randn(4, 3, requires_grad=True)
    queue = torch.randn(3, 5, requires_grad=True)
    info_nce_with_queue(q, k, queue, 0.2).backward()
    assert q.grad is not None and k.grad is None and queue.grad is None


def test_negative_cosine_is_simsiam_d_and_stops_the_target_gradient():
    p = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    z = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    expected = -sum(_cos(a, b) for a, b in zip(p.tolist(), z.tolist())) / 5
    loss = negative_cosine(p, z)
    assert loss.item() == pytest.approx(expected, abs=TOL)
    loss.backward()
    assert z.grad is None and p.grad is not None
    # BYOL's form: || p/|p| - z/|z| ||^2 = 2 - 2 cos = 2 + 2 * negative_cosine
    byol = (
        sum(
            sum(
                (a / math.sqrt(sum(x * x for x in pa)) - b / math.sqrt(sum(x * x for x in zb))) ** 2
                for a, b in zip(pa, zb)
            )
            for pa, zb in zip(p.tolist(), z.tolist())
        )
        / 5
    )
    assert 2 + 2 * loss.item() == pytest.approx(byol, abs=TOL)


@pytest.mark.parametrize(
    "bad",
    [
        lambda: NTXentLoss(0.0),
        lambda: NTXentLoss()(torch.randn(4, 3), torch.randn(5, 3)),
        lambda: info_nce_with_queue(torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 9), 0.2),
        lambda: negative_cosine(torch.randn(4, 3), torch.randn(4)),
    ],
)
def test_bad_inputs_raise_value_error(bad):
    with pytest.raises(ValueError):
        bad()


# ----------------------------------------------------------------------------- two gloo processes

WORLD = 2


def _ddp_worker(rank: int, world: int, init_file: str, out_dir: str, z_a_full, z_b_full, x_full) -> None:
    from selfsup.backbones import build_backbone
    from selfsup.methods import METHODS, ProjectorSpec

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        n = len(z_a_full) // world
        local = slice(rank * n, (rank + 1) * n)
        results = {}
        for tau in (0.1, 0.5):
            z_a = z_a_full[local].clone().requires_grad_(True)
            z_b = z_b_full[local].clone().requires_grad_(True)
            loss = NTXentLoss(tau, gather_distributed=True)(z_a, z_b)
            results[("nt_xent", tau)] = (loss.detach(), torch.autograd.grad(loss, (z_a, z_b)))

        # MoCo: same initial weights and queue on both ranks (seeded), one enqueue of each rank's keys.
        torch.manual_seed(0)
        cls = METHODS.get("moco")
        moco = cls(build_backbone("conv1d", 3), ProjectorSpec(8, 2), cls.Params(queue_size=16)).double()
        moco.eval()  # BatchNorm from running statistics: a key depends on its window only, not on the shuffle
        torch.manual_seed(100 + rank)  # the shuffle's permutation must come from rank 0's broadcast
        keys = moco._keys(x_full[local])
        moco._enqueue(keys)
        results["moco"] = (keys, moco.queue.clone(), int(moco.queue_pointer))
        torch.save(results, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_ddp_gathered_negatives_and_shared_queue(tmp_path):
    from selfsup.backbones import build_backbone
    from selfsup.methods import METHODS, ProjectorSpec

    z_a_full, z_b_full = _views(7, n=8)
    x_full = torch.randn(8, 3, 20, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    run_on_gloo_ranks(
        _ddp_worker,
        (WORLD, str(tmp_path / "init"), str(tmp_path), z_a_full, z_b_full, x_full),
        world=WORLD,
        timeout_s=60.0,
    )
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]

    # NT-Xent: the mean of the rank losses is the single-process loss on the concatenated batch, and the
    # rank gradients (world_size x the global-loss gradient, see distributed.py) averaged by DDP are its gradient.
    for tau in (0.1, 0.5):
        z_a = z_a_full.clone().requires_grad_(True)
        z_b = z_b_full.clone().requires_grad_(True)
        full = NTXentLoss(tau)(z_a, z_b)
        full_grads = torch.autograd.grad(full, (z_a, z_b))
        mean_loss = sum(r[("nt_xent", tau)][0].item() for r in ranks) / WORLD
        assert mean_loss == pytest.approx(full.item(), abs=TOL)
        for view in range(2):
            stacked = torch.cat([r[("nt_xent", tau)][1][view] for r in ranks])
            assert torch.allclose(stacked / WORLD, full_grads[view], rtol=0, atol=TOL)

    # MoCo: every rank ends with the same queue, holding the keys of the whole global batch in rank order,
    # and shuffle BN hands each rank the keys of its own windows.
    keys = [r["moco"][0] for r in ranks]
    queues = [r["moco"][1] for r in ranks]
    assert torch.equal(queues[0], queues[1])
    assert torch.allclose(queues[0][:, :8].T, torch.cat(keys), atol=TOL)
    assert all(r["moco"][2] == 8 for r in ranks)
    torch.manual_seed(0)
    cls = METHODS.get("moco")
    single = cls(build_backbone("conv1d", 3), ProjectorSpec(8, 2), cls.Params(queue_size=16)).double()
    assert torch.allclose(queues[0][:, 8:], single.queue[:, 8:], atol=TOL)  # older entries untouched
    # Each rank encoded a shuffled slice of the global batch; unshuffled, its keys are its own windows' keys.
    single.eval()
    with torch.no_grad():
        expected = torch.nn.functional.normalize(single.key_projector(single.key_backbone(x_full)), dim=1)
    assert torch.allclose(torch.cat(keys), expected, atol=1e-9)
