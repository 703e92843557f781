"""The one training loop of a trial, whichever process runs it (see ``context.py``).

Per epoch every worker trains on its shard of the pretext windows; rank 0 then measures the label-free
health metrics, the online kNN accuracy and the sweep's objective on validation data and reports them
(Tune, ASHA and Optuna read rank 0's report). The last epoch's report also carries the full downstream
evaluation, so a trial that ASHA lets finish always has it, and a trial that ASHA stops never claims it.
"""

from __future__ import annotations

import copy
import math
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import ray
import torch

from selfsup.data.prepared import PreparedData
from selfsup.distributed import first_failure, mean_over_ranks
from selfsup.evaluation.metric_names import TEST_UNITS_METRIC
from selfsup.failures import TrainingFailure
from selfsup.methods import METHODS
from selfsup.mixed_precision import check_precision_supported
from selfsup.pretrain import (
    build_augmenter,
    build_method,
    build_optimizer,
    check_health,
    data_sample,
    data_shape,
    to_channels_last,
    train_one_epoch,
    training_loader,
    training_windows,
    unwrap,
)
from trainables.records.names import trial_label
from trainables.records.results import (
    EMBEDDINGS_FILE,
    EPOCH,
    EVALUATION_DONE,
    FAILURE_REASON,
    NODE_ID,
    RANDOM_INIT_PREFIX,
    RANKED_OBJECTIVE,
    REPORTED_AT,
    SEGMENTATION_EXAMPLE_FILE,
    for_tune,
)
from trainables.records.selection import tie_broken
from trainables.searchspace import SweepSpec, split_trial_params
from trainables.trial.context import TrainWorkerContext, TrialContext
from trainables.trial.trial_figures import draw_trial_figures

_Evaluated = TypeVar("_Evaluated")


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """Entry point of each Ray Train worker (``TorchTrainer(train_loop_per_worker, ...)``)."""
    run_trial_loop(config, TrainWorkerContext())


def run_trial_loop(config: dict[str, Any], context: TrialContext) -> None:
    """Pretrain, evaluate and report one configuration.

    ``config``: ``sweep`` (the ``SweepSpec`` as JSON), ``params`` (the trial's hyperparameters), ``data``
    (an object-store reference to the sweep's ``PreparedData``, see ``data_cache.py``), ``trial_number``
    (Optuna's, or None without a searcher; see ``selection.py``) and ``training_seed``.
    """
    sweep = SweepSpec.model_validate(config["sweep"])
    spec, params = sweep.for_trial(config["params"])  # the trial's method (one of a sweep's methods:)
    shared, own = split_trial_params(str(spec.method), params, spec.domain.name)
    rank, world, device = context.rank, context.world_size, context.device

    # The training seed (initialisation, views, shuffling) is the sweep's, or a final repeat's own; data
    # splits and label subsets always follow the sweep's seed, so repeats are scored on the same data.
    seed = config.get("training_seed", spec.seed)
    torch.manual_seed(seed)
    np.random.seed(seed)
    data: PreparedData = config["data"]
    if isinstance(data, ray.ObjectRef):  # the sweep's shared copy; tests and notebooks may pass the data itself
        data = ray.get(data)

    windows = training_windows(
        METHODS.get(spec.method), own, data, spec.evaluation.unit, spec.seed, spec.evaluation.refit_on_validation
    )
    method = build_method(spec.method, shared, own, data_shape(data))
    random_init_backbone = copy.deepcopy(method.backbone) if spec.evaluation.compare_random_init else None
    method.initialise_from_data(data_sample(windows.x, seed))  # same sample on every rank, before DDP and restore
    resources = spec.resources
    check_precision_supported(device, resources.precision)
    if resources.channels_last:
        to_channels_last(method)
    model = context.prepare_model(method.to(device))
    optimizer = build_optimizer(shared, model)
    augmenter = build_augmenter(shared, seed + rank, spec.domain.name)

    # What evaluation calls: the trained backbone (the same module), seen as the domain shows it its inputs.
    scored_backbone = spec.domain.evaluation_model(unwrap(model).backbone, shared)
    loader = context.prepare_loader(training_loader(windows, shared.batch_size, world))
    start_epoch = _restore(context, model, optimizer)
    node_id = context.node_id  # reported with every epoch: where rank 0 trains (MLflow tag sslsweep.node_id)
    epochs = spec.budget.epochs
    for epoch in range(start_epoch, epochs):
        _seed_epoch(loader, augmenter, seed, epoch, rank, world)
        last = epoch == epochs - 1
        metrics: dict[str, Any] = {EPOCH: epoch + 1, RANKED_OBJECTIVE: math.nan}
        if node_id is not None:
            metrics[NODE_ID] = node_id
        try:  # a TrainingFailure is raised on every rank at once (first_failure), so that none waits for another
            losses = train_one_epoch(
                model,
                loader,
                windows,
                augmenter,
                optimizer,
                device,
                epoch,
                epochs,
                resources.precision,
                resources.channels_last,
            )
            metrics.update(mean_over_ranks(losses, device))
            embeddings, example = _on_rank_zero(
                lambda: _evaluate_epoch(
                    metrics, epoch, last, scored_backbone, random_init_backbone, data, spec, shared, config, device
                ),
                rank,
                device,
            ) or (None, None)
        except TrainingFailure as error:
            # Ended as failed at once, with its reason in its last result (results.outcome: failed) and without
            # raising: an exception reads as a crash, which Ray Train and Tune retry from the checkpoint
            # (resources.max_failures), and it would fail the same way (selfsup.failures). A failed trial is not
            # ranked: its objective is NaN, which ASHA's cutoffs ignore (np.nanpercentile) and Optuna keeps as an
            # intermediate value of a trial it is then told FAIL.
            failed = {**metrics, RANKED_OBJECTIVE: math.nan, FAILURE_REASON: _reason(error)}
            context.report({**for_tune(failed, spec.objective.metric), REPORTED_AT: time.time()} if rank == 0 else {})
            return

        with tempfile.TemporaryDirectory(prefix="sslsweep-checkpoint-") as checkpoint_dir:
            saved = rank == 0 and (last or (epoch + 1) % spec.budget.checkpoint_every == 0)
            if saved:
                _save_checkpoint(checkpoint_dir, model, optimizer, epoch, shared.backbone)
                if last and embeddings is not None:
                    embeddings.to_parquet(os.path.join(checkpoint_dir, EMBEDDINGS_FILE), index=False)
                if last and example is not None:
                    np.savez_compressed(os.path.join(checkpoint_dir, SEGMENTATION_EXAMPLE_FILE), **example)
                if last:
                    _draw_figures(checkpoint_dir, sweep, config, seed, embeddings, metrics)
            # Tune reads rank 0's.
            reported = {**for_tune(metrics, spec.objective.metric), REPORTED_AT: time.time()} if rank == 0 else {}
            context.report(reported, checkpoint_dir if saved else None)


def _on_rank_zero(evaluate: Callable[[], _Evaluated], rank: int, device) -> _Evaluated | None:
    """``evaluate()`` on rank 0, None on the other ranks; a ``TrainingFailure`` it raises is raised on every rank
    (the others wait for rank 0 here, as they would in their next collective)."""
    failure, evaluated = None, None
    if rank == 0:
        try:
            evaluated = evaluate()
        except TrainingFailure as error:
            failure = error
    failure = first_failure(failure, device)
    if failure is not None:
        raise failure
    return evaluated


def _evaluate_epoch(
    metrics: dict[str, Any],
    epoch: int,
    last: bool,
    scored_backbone,
    random_init_backbone,
    data,
    spec: SweepSpec,
    shared,
    config,
    device,
) -> tuple[Any, Any]:
    """Rank 0's evaluation of epoch ``epoch`` (0-based), added to ``metrics`` as it goes (a failure's report keeps
    what was measured): the validation metrics and the objective, the health check, and at the ``last`` epoch the
    full evaluation. Returns what the last checkpoint keeps for the report (``_final_evaluation``), else (None, None)."""
    metrics.update(epoch_evaluation(scored_backbone, data, spec, device))
    metrics[RANKED_OBJECTIVE] = metrics[spec.objective.metric]
    check_health(
        metrics,
        epoch,
        collapse_std_floor=spec.health.collapse_std_floor,
        grace_epochs=spec.health.grace_epochs,
    )
    if not last:
        return None, None
    final, embeddings, example = _final_evaluation(scored_backbone, random_init_backbone, data, spec, shared, device)
    metrics.update(final)
    # Equal final objectives rank by trial number in Tune and Optuna (selection.py); MLflow and the report keep the
    # value itself and rank ties by creation.
    metrics[RANKED_OBJECTIVE] = tie_broken(
        metrics[spec.objective.metric], config.get("trial_number"), spec.objective.mode
    )
    return embeddings, example


def _final_evaluation(
    scored_backbone, random_init_backbone, data, spec: SweepSpec, shared, device
) -> tuple[dict[str, Any], Any, Any]:
    """The last epoch's full evaluation (test data included, the untrained backbone beside it) and what the
    checkpoint keeps for the report: the embedding table and, on segmentation data, an example prediction."""
    domain, evaluation = spec.domain, spec.evaluation
    metrics = domain.evaluate(scored_backbone, data, evaluation, spec.seed, device, include_test=True)
    metrics[TEST_UNITS_METRIC] = domain.test_units(data, evaluation)
    if random_init_backbone is not None:
        untrained = domain.evaluation_model(random_init_backbone.to(device), shared)
        metrics.update(
            domain.evaluate(
                untrained, data, evaluation, spec.seed, device, include_test=True, prefix=RANDOM_INIT_PREFIX
            )
        )
    metrics[EVALUATION_DONE] = 1
    # For the report's t-SNE maps: kept with the last checkpoint, logged to MLflow with the run.
    embeddings = domain.embedding_table(scored_backbone, data, evaluation, spec.seed, device)
    # For the report's "section | truth | prediction" figure (segmentation), kept the same way.
    example = domain.example_prediction(scored_backbone, data, evaluation, spec.seed, device, spec.objective.metric)
    return metrics, embeddings, example


def _reason(error: Exception) -> str:
    """A failed trial's reason, one line (MLflow tag ``sslsweep.failure_reason``, the console)."""
    return f"{type(error).__name__}: {error}"


def _draw_figures(directory: str, spec: SweepSpec, config: dict[str, Any], seed: int, embeddings, metrics) -> None:
    """The finished trial's own figures (``trial_figures``), kept with its last checkpoint for its MLflow run. A
    figure that cannot be drawn is a warning: the trial's results stand without it."""
    title = trial_label(config["params"], spec.searched_names(), config.get("trial_number"))
    if seed != spec.seed:
        title += f" seed {seed}"
    try:
        draw_trial_figures(directory, title, embeddings, metrics, spec.domain.report_metrics[0])
    except Exception as error:  # noqa: BLE001 - matplotlib or t-SNE on odd data; the scores are recorded
        print(f"warning: figures of trial {title} not drawn: {type(error).__name__}: {error}", flush=True)


def epoch_evaluation(backbone, data, spec: SweepSpec, device) -> dict[str, float]:
    """Health metrics, the domain's online metrics (kNN accuracy on classification data) and the objective,
    all on validation data.

    The objective is computed the same way at every epoch (same protocol, same label fraction, same
    validation data), so what ASHA compares at a rung is what Optuna optimises at the end.
    """
    names = sorted({*spec.domain.online_metrics, spec.objective.metric})
    return spec.domain.validation_metrics(backbone, data, spec.evaluation, spec.seed, device, names)


def _seed_epoch(loader, augmenter, seed: int, epoch: int, rank: int, world: int) -> None:
    """Every epoch's randomness (shuffling, views, anything a method draws from torch's global generator)
    derives from (seed, epoch, rank) alone, so a trial resumed from a checkpoint after epoch k continues
    exactly as one that never stopped. Each rank draws its own views."""
    epoch_seed = (seed * 1_000_003 + epoch) * 1009 + rank
    torch.manual_seed(epoch_seed)
    augmenter.reseed(epoch_seed)
    if world > 1:
        loader.sampler.set_epoch(epoch)  # DistributedSampler: shuffles with seed + epoch, same on every rank
    else:
        loader.generator.manual_seed(seed * 1_000_003 + epoch)


def _save_checkpoint(directory: str, model, optimizer, epoch: int, backbone_name: str) -> None:
    method = unwrap(model)
    torch.save(
        {"epoch": epoch, "method": method.state_dict(), "optimizer": optimizer.state_dict()},
        os.path.join(directory, "trial_state.pt"),
    )
    # The backbone alone is what users take away (logged to MLflow for the best trial).
    torch.save(
        {"backbone": backbone_name, "state_dict": method.backbone.state_dict()}, os.path.join(directory, "backbone.pt")
    )


def _restore(context: TrialContext, model, optimizer) -> int:
    """The epoch to start from: 0, or the one after the checkpoint the trial resumes from."""
    with context.restored_checkpoint() as directory:
        if directory is None:
            return 0
        state = torch.load(os.path.join(directory, "trial_state.pt"), map_location="cpu", weights_only=True)
    unwrap(model).load_state_dict(state["method"])
    optimizer.load_state_dict(state["optimizer"])
    return state["epoch"] + 1
