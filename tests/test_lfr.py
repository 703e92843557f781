"""LFR (Learning from Randomness): the barlow-batch loss against its element-wise definition, the DPP selection
against brute-force determinants, the encoder / predictor alternation (what each step may change), toy
training, a resumed trial equal to an uninterrupted one, and two DDP ranks staying identical."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gloo_processes import run_on_gloo_ranks
from lfr_steps import lfr_step, no_views
from toy_data import sine_windows

from selfsup.backbones import build_backbone
from selfsup.losses.lfr import batch_barlow_loss, dpp_greedy, projector_similarity_kernel
from selfsup.methods import METHODS, DataShape, PretextBatch, ProjectorSpec
from selfsup.methods.lfr import DPP_WINDOWS, RandomCNNProjector, RandomMLPProjector

ROOT = Path(__file__).resolve().parents[1]
SHAPE = DataShape(3, 40, 4)


def _lfr(backbone: str = "conv1d", seed: int = 0, data: DataShape = SHAPE, **params):
    torch.manual_seed(seed)
    cls = METHODS.get("lfr")
    return cls(build_backbone(backbone, data.n_channels), ProjectorSpec(16, 2), cls.Params(**params), data)


def _toy(n: int = 96, seed: int = 0) -> torch.Tensor:
    return torch.as_tensor(sine_windows(n, seed=seed))


def _copy(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in module.state_dict().items()}


def _same(module: torch.nn.Module, before: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(tensor, before[name]) for name, tensor in module.state_dict().items())


# ------------------------------------------------------------------------------------------------ loss


def _naive_batch_barlow(p: torch.Tensor, z: torch.Tensor, lambd: float) -> float:
    """``bt_loss_bs`` (LFR, utils/trainers.py) written out element by element."""
    n, d = p.shape
    loss = 0.0
    for i in range(n):
        for j in range(n):
            dot = sum(float(p[i, k]) * float(z[j, k]) for k in range(d))
            norm_p = sum(float(p[i, k]) ** 2 for k in range(d)) ** 0.5
            norm_z = sum(float(z[j, k]) ** 2 for k in range(d)) ** 0.5
            c = dot / (norm_p * norm_z)
            loss += (1.0 - c) ** 2 if i == j else lambd * c**2
    return loss


@pytest.mark.parametrize("n,d", [(2, 3), (5, 4), (7, 9)])
@pytest.mark.parametrize("lambd", [0.0, 0.01, 0.5])
def test_batch_barlow_loss_matches_the_element_wise_definition(n, d, lambd):
    generator = torch.Generator().manual_seed(n * 100 + d)
    p = torch.randn(n, d, generator=generator, dtype=torch.float64)
    z = torch.randn(n, d, generator=generator, dtype=torch.float64)
    assert batch_barlow_loss(p, z, lambd).item() == pytest.approx(_naive_batch_barlow(p, z, lambd), abs=1e-6)
    # Perfect predictions up to scale: every C_ii is 1, what is left is the off-diagonal term.
    off = (F.normalize(z) @ F.normalize(z).T).pow(2).sum() - n
    assert batch_barlow_loss(3.0 * z, z, lambd).item() == pytest.approx(lambd * off.item(), abs=1e-9)


@pytest.mark.parametrize("loss_type", ["barlow_batch", "cosine"])
def test_method_loss_is_the_mean_over_projectors_of_predictor_vs_projector(loss_type):
    model = _lfr(num_projectors=3, pool_ratio=1, loss_type=loss_type, lambda_offdiag=0.2, predictor_layers=2)
    model.eval()  # BatchNorm on running statistics, so both computations see the same features
    x = _toy(16)
    output = model(PretextBatch(x, no_views))
    features = model.backbone(x)
    per_projector = []
    for predictor, projector in zip(model.predictors, model.random_projectors):
        p, z = predictor(features), projector(x)
        per_projector.append(
            -F.cosine_similarity(p, z, dim=1).mean() if loss_type == "cosine" else batch_barlow_loss(p, z, 0.2)
        )
    assert output.loss.item() == pytest.approx(torch.stack(per_projector).mean().item(), rel=1e-5)


# ------------------------------------------------------------------------------------------------ DPP


def _brute_force_greedy(kernel: np.ndarray, k: int, epsilon: float = 1e-10) -> list[int]:
    """Greedy MAP by its definition: start at the largest L_ii, then add the item with the largest
    det(L_{S+j}), i.e. the largest log-det gain, while that gain det(L_{S+j}) / det(L_S) exceeds epsilon."""
    chosen = [int(np.argmax(np.diag(kernel)))]
    while len(chosen) < k:
        current = np.linalg.det(kernel[np.ix_(chosen, chosen)])
        dets = {
            j: np.linalg.det(kernel[np.ix_(chosen + [j], chosen + [j])]) for j in range(len(kernel)) if j not in chosen
        }
        best = max(dets, key=lambda j: (dets[j], -j))
        if dets[best] / current < epsilon:
            break
        chosen.append(best)
    return chosen


@pytest.mark.parametrize("seed", range(6))
def test_dpp_greedy_adds_the_item_with_the_largest_determinant_each_step(seed):
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((9, 12))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    kernel = vectors @ vectors.T  # a cosine kernel, like LFR's: unit diagonal
    if seed % 2:
        kernel = kernel * rng.uniform(0.5, 2.0, size=(9, 1)) * rng.uniform(0.5, 2.0, size=(1, 9))
        kernel = (kernel + kernel.T) / 2 + 9 * np.eye(9)  # a general PSD kernel, unequal diagonal
    for k in (1, 3, 6, 9):
        assert dpp_greedy(kernel, k) == _brute_force_greedy(kernel, k)


def test_dpp_greedy_stops_when_the_kernel_runs_out_of_directions():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((7, 3))  # rank 3: a fourth item adds no volume
    kernel = vectors @ vectors.T
    chosen = dpp_greedy(kernel, 5)
    assert len(chosen) == 3 and chosen == _brute_force_greedy(kernel, 5)


def test_projector_kernel_is_the_reference_computation():
    """``LFR.select_targets``: per projector the flattened (n, n) cosine matrix, normalised, then inner products."""
    reps = torch.randn(5, 70, 8, generator=torch.Generator().manual_seed(0))
    sims = torch.stack([(F.normalize(r, dim=1) @ F.normalize(r, dim=1).T).reshape(-1) for r in reps])
    reference = F.normalize(sims, dim=1) @ F.normalize(sims, dim=1).T
    assert torch.allclose(projector_similarity_kernel(reps, chunk_rows=16), reference.double(), atol=1e-6)


def test_pool_ratio_one_keeps_every_drawn_projector():
    model = _lfr(num_projectors=4, pool_ratio=1)
    before = _copy(model.random_projectors)
    model.initialise_from_data(_toy(50))
    assert model.selected.tolist() == [0, 1, 2, 3] and _same(model.random_projectors, before)


def test_pool_is_reduced_to_the_dpp_choice_with_projector_k_paired_to_predictor_k():
    model = _lfr(num_projectors=3, pool_ratio=4)
    pool = list(model._pool)
    weights = [_copy(network) for network in pool]
    assert len(pool) == 12
    sample = _toy(300)
    model.initialise_from_data(sample)
    spread = sample[torch.linspace(0, 299, DPP_WINDOWS).round().long()]  # the windows the kernel is built on
    with torch.no_grad():
        expected = dpp_greedy(projector_similarity_kernel(torch.stack([net(spread) for net in pool])).numpy(), 3)
    assert model.selected.tolist() == expected and len(set(expected)) == 3
    for slot, index in enumerate(expected):
        assert _same(model.random_projectors[slot], weights[index])
    assert model._pool is None and len(model.predictors) == 3
    # Only the kept projectors are state (4 Linear layers, weight and bias each); nothing else of the pool.
    assert sum(name.startswith("random_projectors.") for name in model.state_dict()) == 3 * 8
    assert all(not p.requires_grad for p in model.random_projectors.parameters())


def test_random_projector_architectures():
    mlp = RandomMLPProjector(DataShape(9, 128, 6), 64)
    assert [(m.in_features, m.out_features) for m in mlp if isinstance(m, torch.nn.Linear)] == [
        (9 * 128, 256),
        (256, 256),
        (256, 256),
        (256, 64),
    ]
    cnn = RandomCNNProjector(DataShape(9, 128, 6), 64)
    assert cnn.mlp[0].in_features == 32 * 34  # the LFR code's HARCnnTarget on HAR's 9 x 128 windows
    for length in (4, 29, 50):
        assert RandomCNNProjector(DataShape(2, length, 2), 8)(torch.randn(3, 2, length)).shape == (3, 8)


# ------------------------------------------------------------------------------------------------ alternation


def test_encoder_steps_and_predictor_steps_change_only_their_part():
    model = _lfr(num_projectors=3, pool_ratio=2, predictor_steps=2, predictor_layers=2)
    model.initialise_from_data(_toy(64))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    model.train()
    projectors = _copy(model.random_projectors)
    kinds = []
    for step in range(6):
        kinds.append(model.is_predictor_step())
        backbone, predictors = _copy(model.backbone), _copy(model.predictors)
        output = lfr_step(model, optimizer, _toy(32, seed=step))
        assert output.terms["predictor_step"].item() == float(kinds[-1])
        if kinds[-1]:  # encoder frozen in eval mode: weights and BatchNorm statistics untouched
            assert _same(model.backbone, backbone) and not _same(model.predictors, predictors)
            assert all(p.grad is None for p in model.backbone.parameters())
        else:  # encoder trained; predictors applied but not trained (their BatchNorm statistics still move)
            assert not _same(model.backbone, backbone)
            assert all(torch.equal(p, predictors[name]) for name, p in model.predictors.named_parameters())
            assert all(p.grad is None for p in model.predictors.parameters())
        assert _same(model.random_projectors, projectors)
    assert kinds == [False, True, True, False, True, True] and int(model.steps_done) == 6


def test_predictor_steps_zero_trains_everything_jointly_every_step():
    model = _lfr(num_projectors=2, pool_ratio=1, predictor_steps=0)
    assert model.ddp_options() == {} and _lfr(pool_ratio=1).ddp_options() == {"find_unused_parameters": True}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(2):
        backbone, predictors = _copy(model.backbone), _copy(model.predictors)
        assert not model.is_predictor_step()
        lfr_step(model, optimizer, _toy(16, seed=step))
        assert not _same(model.backbone, backbone) and not _same(model.predictors, predictors)


@pytest.mark.parametrize("backbone", ["conv1d", "gru"])
@pytest.mark.parametrize("target_arch", ["mlp", "cnn"])
def test_both_backbones_and_projector_architectures_train(backbone, target_arch):
    model = _lfr(backbone, num_projectors=2, pool_ratio=2, target_arch=target_arch, predictor_steps=1)
    model.initialise_from_data(_toy(40))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    first = model(PretextBatch(_toy(16), no_views))
    first.loss.backward()  # the first step of a trial is an encoder step: the backbone gets gradients
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.backbone.parameters())
    for step in range(2):
        assert torch.isfinite(lfr_step(model, optimizer, _toy(16, seed=step)).loss)
    with pytest.raises(ValueError, match="3 channels x 40 steps"):
        model(PretextBatch(torch.zeros(4, 3, 30), no_views))


def test_a_few_epochs_lower_the_loss_without_collapse():
    from selfsup.augmentations import TimeSeriesAugmenter
    from selfsup.data.windows import Windows
    from selfsup.evaluation.health import embedding_std
    from selfsup.pretrain import train_one_epoch, training_loader

    model = _lfr()  # the HAR script's settings: 6 projectors from a pool of 60, 5 predictor steps per encoder step
    toy = Windows(_toy(96).numpy(), None, np.arange(96))
    model.initialise_from_data(torch.as_tensor(toy.x))
    loader = training_loader(toy, 32)
    loader.generator.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = [
        train_one_epoch(model, loader, toy, TimeSeriesAugmenter({}, seed=0), optimizer, torch.device("cpu"), epoch, 8)[
            "train/loss"
        ]
        for epoch in range(8)
    ]
    assert losses[-1] < 0.5 * losses[0], losses
    model.eval()
    with torch.no_grad():
        assert embedding_std(model.backbone(torch.as_tensor(toy.x))) > 0.05


# ------------------------------------------------------------------------------------------------ sweep file


def test_shipped_searchspace_validates():
    from trainables.searchspace import load_sweep, split_trial_params

    spec = load_sweep(ROOT / "searchspaces" / "lfr.yaml")
    assert spec.method == "lfr" and spec.search["num_projectors"].choices == [5, 8, 12, 16]
    assert {"pool_ratio", "predictor_layers", "lr", "backbone"} <= set(spec.search)
    assert spec.search["backbone"].choices == ["conv1d", "gru"]
    assert (spec.budget.trials, spec.budget.epochs) == (8, 30)
    shared, own = split_trial_params(
        "lfr",
        {
            **spec.default_params(),
            "num_projectors": 16,
            "pool_ratio": 10,
            "predictor_layers": 2,
            "lr": 1e-3,
            "backbone": "gru",
        },
        spec.domain.name,
    )
    assert own.num_projectors == 16 and shared.backbone == "gru"


# ------------------------------------------------------------------------------------------------ two ranks


def _train_on_two_ranks(rank: int) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    # Same seed and sample on both ranks (as the worker loop), then different data per rank.
    method = _lfr(num_projectors=3, pool_ratio=3, predictor_steps=1, predictor_layers=2)
    method.initialise_from_data(_toy(64))
    model = DistributedDataParallel(method, **method.ddp_options())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    start = _copy(method.backbone)
    for step in range(5):
        predictor_step = method.is_predictor_step()
        backbone = {n: p.detach().clone() for n, p in method.backbone.named_parameters()}
        predictors = {n: p.detach().clone() for n, p in method.predictors.named_parameters()}
        lfr_step(model, optimizer, _toy(16, seed=10 * step + rank))
        # A part DDP found unused keeps a None gradient, so AdamW (weight decay 0.1) leaves it alone.
        assert all(torch.equal(p, backbone[n]) for n, p in method.backbone.named_parameters()) == predictor_step
        assert all(torch.equal(p, predictors[n]) for n, p in method.predictors.named_parameters()) != predictor_step
    assert not _same(method.backbone, start)
    # Identical trainable and frozen parameters and LFR's buffers on both ranks (BatchNorm statistics are
    # each rank's own after its last forward pass; DDP re-broadcasts rank 0's before the next one).
    state = {n: p.detach() for n, p in method.named_parameters()}
    state.update(selected=method.selected, steps_done=method.steps_done)
    flat = torch.cat([t.double().reshape(-1) for t in state.values()])
    gathered = [torch.zeros_like(flat) for _ in range(2)]
    dist.all_gather(gathered, flat)
    assert torch.equal(gathered[0], gathered[1])


def _two_rank_worker(rank: int, init_file: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        _train_on_two_ranks(rank)  # returns only when done: the DDP wrapper is gone before the group is
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_alternate_steps_and_stay_identical(tmp_path):
    run_on_gloo_ranks(_two_rank_worker, (str(tmp_path / "init"),), world=2, timeout_s=120.0)


def _rank_barlow_batch(rank: int, init_file: str, out_dir: str, prediction, target) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        mine = prediction[rank * 4 : (rank + 1) * 4].clone().requires_grad_(True)
        loss = batch_barlow_loss(mine, target[rank * 4 : (rank + 1) * 4], lambda_offdiag=0.05)
        loss.backward()
        torch.save({"loss": loss.detach(), "grad": mine.grad}, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_ranks_compute_the_batch_matrix_over_the_concatenated_batch(tmp_path):
    """Each rank holds 4 of 8 windows; both compute the single-process loss on all 8, and the gradient each
    rank gets for its rows, averaged by DDP (divided by 2), is the single-process gradient of those rows."""
    generator = torch.Generator().manual_seed(0)
    prediction = torch.randn(8, 6, generator=generator, dtype=torch.float64)
    target = torch.randn(8, 6, generator=generator, dtype=torch.float64)
    run_on_gloo_ranks(_rank_barlow_batch, (str(tmp_path / "init"), str(tmp_path), prediction, target))
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    whole = prediction.clone().requires_grad_(True)
    expected = batch_barlow_loss(whole, target, lambda_offdiag=0.05)
    expected.backward()
    for rank, result in enumerate(ranks):
        assert result["loss"].item() == pytest.approx(expected.item(), rel=1e-12)
        assert torch.allclose(result["grad"] / 2, whole.grad[rank * 4 : (rank + 1) * 4], rtol=1e-10, atol=1e-12)
