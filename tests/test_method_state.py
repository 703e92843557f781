"""State that methods carry between steps (BYOL's EMA target, MoCo's key encoder and queue) and the supervised
baseline's labels: updated as the papers say, saved in checkpoints, and a trial resumed from a checkpoint
continues exactly as one that never stopped."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from gloo_processes import run_on_gloo_ranks
from local_trial import LocalContext

from selfsup.backbones import build_backbone
from selfsup.data.timeseries.prepare import prepare_data
from selfsup.data.windows import Windows
from selfsup.methods import METHODS, DataShape, PretextBatch, ProjectorSpec
from selfsup.methods.momentum import cosine_momentum
from selfsup.trial_params import TrialParams
from trainables.records.results import (
    EPOCH,
    FAILURE_REASON,
    RANKED_OBJECTIVE,
    REPORTED_AT,
    Outcome,
    outcome,
    unpacked,
)
from trainables.searchspace import load_sweep
from trainables.trial.worker import run_trial_loop

ROOT = Path(__file__).resolve().parents[1]


def _method(name: str, **params):
    torch.manual_seed(0)
    cls = METHODS.get(name)
    return cls(build_backbone("conv1d", 3), ProjectorSpec(16, 2), cls.Params(**params), DataShape(3, 30, 4))


def _batch(n: int = 8, seed: int = 0, labels: bool = False) -> PretextBatch:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 30, generator=generator)
    y = torch.randint(0, 4, (n,), generator=generator) if labels else None
    return PretextBatch(x, lambda t, k: [t + 0.1 * torch.randn_like(t) for _ in range(k)], y)


# ------------------------------------------------------------------------------------------------ BYOL


def test_byol_cosine_momentum_schedule():
    assert cosine_momentum(0.996, 0.0) == pytest.approx(0.996)
    assert cosine_momentum(0.996, 0.5) == pytest.approx(0.998)
    assert cosine_momentum(0.996, 1.0) == pytest.approx(1.0)


def test_byol_target_gets_no_gradient_and_follows_the_ema():
    model = _method("byol", base_momentum=0.9)
    model.train()
    output = model(_batch())
    output.loss.backward()
    assert all(p.grad is None for p in model.target_backbone.parameters())
    assert all(p.grad is None for p in model.target_projector.parameters())
    assert model.target_backbone.training  # the target's BatchNorm uses batch statistics, as in the paper
    before = [p.clone() for p in model.target_backbone.parameters()]
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(1.0)  # as if an optimiser step moved the online network
    model.after_optimizer_step(0.25)
    tau = cosine_momentum(0.9, 0.25)
    for old, online, target in zip(before, model.backbone.parameters(), model.target_backbone.parameters()):
        assert torch.allclose(target, tau * old + (1 - tau) * online)


def test_byol_loss_is_the_symmetric_normalised_squared_distance():
    model = _method("byol")
    model.eval()
    batch = _batch()
    torch.manual_seed(1)
    output = model(batch)
    torch.manual_seed(1)
    v1, v2 = batch.views(2)
    p1, p2 = (model.predictor(model.projector(model.backbone(v))) for v in (v1, v2))
    t1, t2 = (model.target_projector(model.target_backbone(v)) for v in (v1, v2))

    def distance(p, z):
        return ((p / p.norm(dim=1, keepdim=True) - z / z.norm(dim=1, keepdim=True)) ** 2).sum(dim=1).mean()

    assert output.loss.item() == pytest.approx((distance(p1, t2) + distance(p2, t1)).item(), abs=1e-5)


# ------------------------------------------------------------------------------------------------ MoCo


def test_moco_queue_is_a_ring_buffer_of_keys():
    model = _method("moco", queue_size=10)
    keys = [torch.nn.functional.normalize(torch.randn(4, 16), dim=1) for _ in range(3)]
    for k in keys:
        model._enqueue(k)
    # 12 keys into 10 slots: the third batch fills slots 8-9 and wraps round to overwrite slots 0-1.
    assert torch.equal(model.queue[:, 8:10].T, keys[2][:2]) and torch.equal(model.queue[:, 0:2].T, keys[2][2:])
    assert torch.equal(model.queue[:, 2:4].T, keys[0][2:]) and torch.equal(model.queue[:, 4:8].T, keys[1])
    assert int(model.queue_pointer) == 2
    assert {"queue", "queue_pointer"} <= set(model.state_dict())


def test_moco_momentum_update_and_training_only_enqueue():
    model = _method("moco", queue_size=16, momentum=0.5)
    queue = model.queue.clone()
    model.eval()
    model(_batch())
    assert torch.equal(model.queue, queue)  # evaluation does not touch the queue
    model.train()
    model(_batch()).loss.backward()
    assert not torch.equal(model.queue, queue) and int(model.queue_pointer) == 8
    assert all(p.grad is None for p in model.key_backbone.parameters())
    old = [p.clone() for p in model.key_backbone.parameters()]
    model.after_optimizer_step(0.0)
    for before, online, key in zip(old, model.backbone.parameters(), model.key_backbone.parameters()):
        assert torch.allclose(key, 0.5 * before + 0.5 * online)


def test_moco_queue_larger_than_the_data_is_refused():
    cls = METHODS.get("moco")
    windows = Windows(np.zeros((300, 3, 8), np.float32), None, np.arange(300))
    with pytest.raises(ValueError, match=r"moco queue_size 512 exceeds the 300 pretext windows.*queue_size <= 300"):
        cls.check_pretext_data(cls.Params(queue_size=512), windows, TrialParams(batch_size=64))
    with pytest.raises(ValueError, match="smaller than batch_size 64"):
        cls.check_pretext_data(cls.Params(queue_size=32), windows, TrialParams(batch_size=64))
    cls.check_pretext_data(cls.Params(queue_size=256), windows, TrialParams(batch_size=64))


def test_tune_refuses_a_queue_larger_than_the_data_before_ray(tmp_path, capsys):
    import ray

    import tune

    raw = yaml.safe_load((ROOT / "searchspaces" / "barlow.yaml").read_text())
    raw.update(
        method="moco",
        search={"queue_size": {"type": "categorical", "choices": [64, 100000]}},
        fixed={k: v for k, v in raw["fixed"].items() if k != "lambda_offdiag"},
    )
    path = tmp_path / "moco.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert tune.main([str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path}: the search can draw queue_size=100000: moco queue_size 100000 exceeds the")
    assert err.count("\n") == 0
    assert not ray.is_initialized()


# ------------------------------------------------------------------------------------------------ supervised


def test_supervised_trains_on_the_probes_label_subset():
    from selfsup.data.splits import label_fraction_indices
    from selfsup.evaluation import pool_by_series
    from selfsup.pretrain import training_windows

    spec = load_sweep(ROOT / "searchspaces" / "barlow.yaml")
    data = prepare_data(spec.data.pretext, spec.data.downstream, 50, 0.5, 0.2, spec.seed)
    cls = METHODS.get("supervised")
    chosen = training_windows(cls, cls.Params(label_fraction=0.25), data, "series", spec.seed)
    windows, labels = chosen.x, chosen.y
    # The probes' view: one row per training series, in pool_by_series order, subset by label_fraction_indices.
    _, order = pool_by_series(np.zeros((len(data.train.x), 1)), data.train.series_index)
    series_labels = data.train_series_labels[order]
    chosen = order[label_fraction_indices(series_labels, [0.25], spec.seed)[0.25]]
    expected = np.isin(data.train.series_index, chosen)
    assert np.array_equal(windows, data.train.x[expected]) and np.array_equal(labels, data.train.y[expected])
    assert 0 < len(windows) < len(data.train.x)
    assert set(labels) == set(data.train.y)  # every class keeps at least one series
    full = training_windows(cls, cls.Params(label_fraction=1.0), data, "series", spec.seed)
    assert len(full) == len(data.train.x)
    pretext = training_windows(
        METHODS.get("barlow_twins"), METHODS.get("barlow_twins").Params(), data, "series", spec.seed
    )
    assert pretext.x is data.pretext.x and pretext.y is None  # pretext labels never reach an SSL method
    assert data.pretext.y is not None  # (they exist: pretext and downstream are the same data here)


def test_supervised_baseline_of_a_refitted_sweep_trains_on_training_and_validation_series():
    from selfsup.pretrain import training_windows

    spec = load_sweep(ROOT / "searchspaces" / "barlow.yaml")
    data = prepare_data(spec.data.pretext, spec.data.downstream, 50, 0.5, 0.2, spec.seed)
    cls = METHODS.get("supervised")
    full = training_windows(cls, cls.Params(label_fraction=1.0), data, "series", spec.seed, refit_on_validation=True)
    assert np.array_equal(full.x, np.concatenate([data.train.x, data.validation.x]))
    assert np.array_equal(full.y, np.concatenate([data.train.y, data.validation.y]))
    n_train = len(data.train.series)  # validation series numbered after the training ones
    assert np.array_equal(
        full.series_index, np.concatenate([data.train.series_index, data.validation.series_index + n_train])
    )
    # 50 % of the labels: the probes' subset of the 40 training + validation series, in that order.
    from selfsup.data.splits import label_fraction_indices

    half = training_windows(cls, cls.Params(label_fraction=0.5), data, "series", spec.seed, refit_on_validation=True)
    labels = np.concatenate([data.train_series_labels, data.validation_series_labels])
    assert np.array_equal(np.unique(half.series_index), np.sort(label_fraction_indices(labels, [0.5], spec.seed)[0.5]))
    assert (np.unique(half.series_index) >= n_train).any()  # validation series are drawn too


def test_supervised_needs_labels_and_learns_them():
    model = _method("supervised")
    with pytest.raises(ValueError, match="labelled batches"):
        model(_batch())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    batch = _batch(n=32, labels=True)
    first = model(batch).loss.item()
    for _ in range(30):
        output = model(batch)
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
    assert output.loss.item() < 0.5 * first and output.terms["accuracy"] > 0.8


# ------------------------------------------------------------------------------------------------ resume


def _small_trial_config(tmp_path: Path, method: str, params: dict, epochs: int, checkpoint_every: int) -> dict:
    """``run_trial_loop``'s config for one small configuration on BasicMotions (kNN objective, no random init)."""
    raw = yaml.safe_load((ROOT / "searchspaces" / "barlow.yaml").read_text())
    projector = {"projector_dim": 32} if METHODS.get(method).uses_projector else {}
    raw.update(
        method=method,
        search={},
        fixed={"batch_size": 16, **projector, **params},
        budget={"trials": 1, "epochs": epochs, "checkpoint_every": checkpoint_every},
        evaluation={"protocols": ["knn"], "label_fractions": [1.0], "compare_random_init": False},
        objective={"metric": "val/knn/acc/frac_1.0", "mode": "max"},
        scheduler={"type": "fifo"},
    )  # one trial, no rungs (ASHA's grace may not exceed these few epochs)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw))
    spec = load_sweep(path)
    data = prepare_data(
        spec.data.pretext,
        spec.data.downstream,
        spec.data.window.length,
        spec.data.window.overlap,
        spec.data.validation_fraction,
        spec.seed,
    )
    return {"sweep": spec.model_dump(mode="json"), "params": spec.default_params(), "data": data}


@pytest.mark.parametrize(
    "method,params",
    [
        ("byol", {"base_momentum": 0.9}),
        ("moco", {"queue_size": 32}),
        ("barlow_twins", {}),
        # The fixed neighbourhood width: ADF's (statsmodels, per anchor and epoch; tests/test_tnc.py) holds no state.
        ("tnc", {"mc_sample_size": 4, "adf": False}),
        ("masked_reconstruction", {}),
        # Two GRU layers, so dropout masks are part of what resumes.
        ("cpc", {"prediction_steps": 4, "ar_hidden": 32, "batch_size": 32}),
        # 192 windows / 32 = 6 steps per epoch; a cycle of 5 steps puts the
        # restart (step 12) mid-cycle, on a predictor step.
        ("lfr", {"batch_size": 32, "num_projectors": 3, "pool_ratio": 3, "predictor_steps": 4, "predictor_layers": 2}),
    ],
)
def test_resumed_trial_equals_an_uninterrupted_one(tmp_path, method, params):
    config = _small_trial_config(tmp_path, method, params, epochs=4, checkpoint_every=2)

    straight = LocalContext(tmp_path / "straight")
    before = time.time()
    run_trial_loop(config, straight)
    # Each result carries when it was handed over (how far the driver is behind: benchmarks/sweep_scale.py).
    handed = [r[REPORTED_AT] for r in straight.reports]
    assert before <= handed[0] and handed == sorted(handed) and handed[-1] <= time.time()
    crashed = LocalContext(tmp_path / "crashed", crash_after_epoch=2)
    with pytest.raises(KeyboardInterrupt):
        run_trial_loop(config, crashed)
    resumed = LocalContext(tmp_path / "resumed", resume_from=tmp_path / "crashed" / "epoch2")
    run_trial_loop(config, resumed)

    assert [r["epoch"] for r in resumed.reports] == [3, 4]
    assert [r["train/loss"] for r in resumed.reports] == [r["train/loss"] for r in straight.reports[2:]]
    final = torch.load(tmp_path / "straight" / "epoch4" / "trial_state.pt", weights_only=True)
    again = torch.load(tmp_path / "resumed" / "epoch4" / "trial_state.pt", weights_only=True)
    assert final["method"].keys() == again["method"].keys()
    for name, tensor in final["method"].items():  # weights, target / key encoder, queue, BN statistics
        assert torch.equal(tensor, again["method"][name]), name
    if method == "lfr":  # the step counter that alternates the steps, and the DPP's choice from the pool of 9
        assert int(final["method"]["steps_done"]) == 24 and final["method"]["selected"].tolist() != [0, 1, 2]
    if method == "moco":
        assert "queue" in final["method"] and not torch.equal(
            final["method"]["queue"],
            torch.load(tmp_path / "crashed" / "epoch2" / "trial_state.pt", weights_only=True)["method"]["queue"],
        )


# ------------------------------------------------------------------------------------------------ two ranks


class DDPContext(LocalContext):
    """The training loop on one of two gloo ranks, wrapped in DistributedDataParallel as Ray Train does."""

    def __init__(self, store: Path, rank: int):
        super().__init__(store)
        self.rank, self.world_size = rank, 2

    def prepare_model(self, model):
        return torch.nn.parallel.DistributedDataParallel(model, **model.ddp_options())

    def prepare_loader(self, loader):
        sampler = torch.utils.data.DistributedSampler(loader.dataset, num_replicas=2, rank=self.rank, shuffle=True)
        return torch.utils.data.DataLoader(
            loader.dataset, batch_size=loader.batch_size, sampler=sampler, drop_last=True
        )

    def report(self, metrics, checkpoint_dir=None):
        if checkpoint_dir:
            self.store.mkdir(parents=True, exist_ok=True)
            state = torch.load(Path(checkpoint_dir) / "trial_state.pt", weights_only=True)
            torch.save(state, self.store / f"rank{self.rank}_epoch{metrics.get('epoch', 'x')}.pt")
        self.reports.append(unpacked(metrics))


def _two_rank_worker(rank: int, init_file: str, store: str, configs: dict[str, dict]) -> None:
    """One pair of gloo ranks trains each method's trial in turn (one process start and one process group for
    all of them: most of a spawned rank's time is importing torch)."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        for method, config in configs.items():
            context = DDPContext(Path(store) / method, rank)
            run_trial_loop(config, context)
            # Every rank saves its own reports here (the loop saves rank 0's state only), to compare the ranks.
            context.store.mkdir(parents=True, exist_ok=True)
            torch.save({"reports": context.reports}, context.store / f"rank{rank}_final.pt")
    finally:
        dist.destroy_process_group()


# The methods with collectives of their own (gathered negatives, MoCo's shuffle BN and shared queue, BYOL's
# momentum targets, TNC's sampled neighbourhoods, LFR's many projectors) and one without.
GLOO_METHODS = {
    "moco": {"queue_size": 64},
    "byol": {},
    "simclr": {},
    "tnc": {"mc_sample_size": 4, "adf": False},
    "masked_reconstruction": {},
    "lfr": {"num_projectors": 3, "pool_ratio": 3, "predictor_steps": 1},
}


def test_two_gloo_ranks_train_one_model_of_each_method(tmp_path):
    """Ray Train's DDP path on two CPU processes: each method's collectives run, both ranks take part in every
    epoch, rank 0 reports the mean loss and the evaluation, and rank 0's checkpoint holds the state."""
    configs = {}
    for method, params in GLOO_METHODS.items():
        (tmp_path / method).mkdir()
        configs[method] = _small_trial_config(tmp_path / method, method, params, epochs=2, checkpoint_every=1)
    run_on_gloo_ranks(
        _two_rank_worker, (str(tmp_path / "init"), str(tmp_path / "store"), configs), world=2, timeout_s=300.0
    )
    for method in GLOO_METHODS:
        store = tmp_path / "store" / method
        reports = [torch.load(store / f"rank{r}_final.pt", weights_only=False)["reports"] for r in (0, 1)]
        losses = [r["train/loss"] for r in reports[0]]
        assert len(losses) == 2 and all(np.isfinite(losses)), (method, losses)
        assert "val/knn/acc/frac_1.0" in reports[0][-1] and "test/knn/acc/frac_1.0" in reports[0][-1], method
        assert reports[1] == [{}, {}], method  # rank 1 trains and takes part in every collective, rank 0 reports
        state = torch.load(store / "rank0_epoch2.pt", weights_only=True)["method"]
        assert all(torch.isfinite(tensor.float()).all() for tensor in state.values()), method


def _one_trial_worker(rank: int, init_file: str, store: str, config: dict, nan_windows_on_rank: int | None) -> None:
    """One trial on two gloo ranks; the rank ``nan_windows_on_rank`` trains on NaN windows, the other on the real
    ones."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        if rank == nan_windows_on_rank:
            config["data"].pretext.x[:] = np.nan
        context = DDPContext(Path(store), rank)
        run_trial_loop(config, context)
        Path(store).mkdir(parents=True, exist_ok=True)
        torch.save({"reports": context.reports}, Path(store) / f"rank{rank}_final.pt")
    finally:
        dist.destroy_process_group()


def test_a_nan_loss_on_one_rank_ends_the_trial_as_failed_on_every_rank(tmp_path):
    """A training failure (``selfsup.failures``) on one DDP rank: both ranks stop at that step, neither waits
    in the gradient all-reduce for the other, and rank 0 reports the failure as the trial's verdict (raising
    would read as a crash, which Tune and Ray Train retry from the checkpoint, failing the same way again)."""
    # SimSiam's loss is each rank's own (Barlow Twins' statistics over the gathered batch would be NaN on both).
    config = _small_trial_config(tmp_path, "simsiam", {}, epochs=2, checkpoint_every=1)
    store = tmp_path / "store"
    run_on_gloo_ranks(_one_trial_worker, (str(tmp_path / "init"), str(store), config, 1), world=2, timeout_s=120.0)
    reports = [torch.load(store / f"rank{r}_final.pt", weights_only=False)["reports"] for r in (0, 1)]
    assert reports[1] == [{}]
    (ended,) = reports[0]
    assert ended[FAILURE_REASON] == "NonFiniteLossError: loss became nan at epoch 1, step 1"  # rank 1's
    assert ended[EPOCH] == 1 and np.isnan(ended[RANKED_OBJECTIVE])
    assert outcome(ended, errored=False) == Outcome.FAILED
    assert not list(store.glob("rank*_epoch*.pt"))  # no checkpoint of a failed epoch


def test_a_collapse_found_by_rank_zeros_evaluation_ends_the_trial_on_every_rank(tmp_path):
    """Rank 0 alone evaluates; the failure it finds (here the collapse guard, with a floor no embedding reaches) ends
    the trial on rank 1 too, which would otherwise wait for rank 0 in the next epoch's gradient all-reduce. The
    failed epoch's measurements stay in the report; the trial is not ranked."""
    config = _small_trial_config(tmp_path, "simsiam", {}, epochs=2, checkpoint_every=1)
    config["sweep"]["health"].update(collapse_std_floor=100.0, grace_epochs=0)
    store = tmp_path / "store"
    run_on_gloo_ranks(_one_trial_worker, (str(tmp_path / "init"), str(store), config, None), world=2, timeout_s=120.0)
    reports = [torch.load(store / f"rank{r}_final.pt", weights_only=False)["reports"] for r in (0, 1)]
    assert reports[1] == [{}]
    (ended,) = reports[0]
    assert ended[FAILURE_REASON].startswith("CollapseError: embeddings collapsed at epoch 1"), ended[FAILURE_REASON]
    assert ended[EPOCH] == 1 and np.isnan(ended[RANKED_OBJECTIVE])
    measured = unpacked(ended)
    assert np.isfinite(measured["train/loss"]) and 0 < measured["health/embedding_std"] < 100.0
    assert outcome(ended, errored=False) == Outcome.FAILED
    assert not list(store.glob("rank*_epoch*.pt"))
