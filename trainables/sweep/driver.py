"""The sweep driver: validated spec -> Ray Tune (an Optuna study + ASHA) over TorchTrainer trials -> MLflow ->
report. ``tune.py`` is its command line."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import ray
from mlflow.environment_variables import MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT
from mlflow.tracking import MlflowClient
from ray import tune
from ray.tune.logger import JsonLoggerCallback
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
from ray.tune.search import ConcurrencyLimiter, Searcher
from ray.tune.search.basic_variant import BasicVariantGenerator

from selfsup.evaluation.metric_names import eval_metric_name, parse_eval_metric_name
from trainables.records.results import (
    BASELINE_OF_KEY,
    EPOCH,
    GAIN_PREFIX,
    RANKED_OBJECTIVE,
    REPEAT_OF_KEY,
    TRAINING_SEED_KEY,
    Outcome,
    split_bookkeeping,
)
from trainables.records.selection import best_first, best_per_backbone
from trainables.records.tags import NOTE_TAG, OPTUNA_STUDY_TAG, OUTCOME_TAG, TRIAL_ID_TAG, Role, tag_column
from trainables.report.builder import write_sweep_report
from trainables.report.document import Report
from trainables.report.markdown import markdown_text
from trainables.report.sweep_answer import log_answer, sweep_answer
from trainables.report.tables import Selected, select
from trainables.searchspace import METHOD_PARAM, SweepSpec
from trainables.sweep.console import TrialLines, asha_rungs
from trainables.sweep.registry import Registration, backbone_weights, register_sweep_backbones
from trainables.sweep.resources import (
    describe_cluster,
    describe_request,
    joins_a_cluster,
    node_resources,
    trial_concurrency,
)
from trainables.sweep.resume import (
    InterruptedSweep,
    SweepInterrupted,
    SweepStopped,
    close_open_child_runs,
    ray_stop_reason,
    reopen_parent,
    restore_tuner,
    resume_command,
)
from trainables.sweep.searcher import (
    CredentialFreeRDBStorage,
    OptunaStudySearcher,
    ResumableConcurrencyLimiter,
    method_rotation,
    optuna_sampler,
)
from trainables.tracking.mlflow_callback import SweepMLflowCallback, child_runs, ensure_experiment, start_parent_run
from trainables.tracking.runs import SweepRuns, child_runs_frame
from trainables.tracking.stores import Stores
from trainables.tracking.ui_links import save_decision_view, shared_view_link, ui_base_url
from trainables.tracking.writer import EXIT_WAIT_S, flush_all, report_unwritten
from trainables.trial.data_cache import fetch_prepared_data, start_data_cache
from trainables.trial.trainable import KEPT_CHECKPOINTS, make_trainable


@dataclass
class SweepOutcome:
    parent_run_id: str
    experiment_name: str
    study_name: str
    sweep: SweepRuns | None  # read back from MLflow; None when no trial finished
    report: Report | None  # the sweep's own report; None when no trial finished
    outcomes: dict[str, str]
    data_preparations: int
    # Model versions registered for the selected backbones (trainables/sweep/registry.py); empty when none was.
    registrations: list[Registration] = field(default_factory=list)
    decision_view: str = ""  # the MLflow UI link to the sweep's finished trials, best first (tracking.ui_links)


def _searcher(spec: SweepSpec, stores: Stores, study_name: str, concurrency: int):
    if not spec.searches:
        return None  # nothing to search: num_samples repeats of the fixed configuration
    storage = CredentialFreeRDBStorage(stores.optuna_url)
    grid = spec.grid() if spec.sampler.type == "grid" else None
    sampler = optuna_sampler(spec.sampler, spec.seed, grid, conditional=spec.methods is not None)
    return ResumableConcurrencyLimiter(
        OptunaStudySearcher(
            space=spec.optuna_space(),
            define=spec.suggest if spec.methods is not None else None,
            first=method_rotation(list(spec.methods or ()), spec.sampler, spec.seed, spec.budget.trials),
            metric=RANKED_OBJECTIVE,
            mode=spec.objective.mode,
            sampler=sampler,
            study_name=study_name,
            storage=storage,
        ),
        max_concurrent=concurrency,
    )


def _trial_lines(spec: SweepSpec, scheduler, trials: int) -> TrialLines:
    """The console's line per trial event, with ASHA's rungs where ``scheduler`` is ``_scheduler``'s ASHA."""
    rungs = ()
    if isinstance(scheduler, ASHAScheduler):
        rungs = asha_rungs(spec.scheduler.grace_period, spec.scheduler.reduction_factor, spec.budget.epochs)
    return TrialLines(spec.objective.metric, spec.objective.mode, spec.searched_names(), trials, rungs)


def _scheduler(spec: SweepSpec):
    if spec.scheduler.type == "fifo":
        return FIFOScheduler()
    # Rungs by epoch, not by Tune's count of results: a trial whose Ray Train worker group restarted from a
    # checkpoint reports some epochs twice, and would otherwise reach max_t before its last epoch.
    return ASHAScheduler(
        time_attr=EPOCH,
        max_t=spec.budget.epochs,
        grace_period=spec.scheduler.grace_period,  # at most the epochs (SweepSpec)
        reduction_factor=spec.scheduler.reduction_factor,
    )


def _settle_heap() -> None:
    """A full garbage collection, then what is left moved out of the collector's sight (``gc.freeze``). What the
    driver holds before Tune starts (the imported torch, Ray, MLflow and pandas, the prepared checks) lives as long
    as the process; Python's full collections, which come more often as a sweep's records grow, walked all of it
    each time, on Tune's event loop (docs/measurements.md, "At a cluster's scale")."""
    gc.collect()
    gc.freeze()


def run_sweep(
    spec: SweepSpec,
    spec_path: Path,
    stores: Stores,
    parent_tags: dict[str, str] | None = None,
    resume_from: InterruptedSweep | None = None,
    verbose: bool = False,
) -> SweepOutcome:
    """Run one sweep to its end and its report; ``parent_tags`` go on its MLflow parent run (the nightly date).
    ``resume_from`` (``tune.py --resume``) carries an interrupted sweep on instead (``resume.py``). A Ctrl-C ends
    the sweep with ``SweepInterrupted``, its records closed. ``verbose``: Tune prints every trial's configuration
    and results (its default); otherwise one line per trial that ends (``console.TrialLines``)."""
    # Tune's experiment state (trials, their latest checkpoints, the searcher) is saved on Ray's own schedule
    # (TUNE_GLOBAL_CHECKPOINT_S unset is "auto": every max(10 s, 19 x the last save's time), so saving never takes
    # more than 5 % of the driver's loop however large the sweep), and whenever a trial has made KEPT_CHECKPOINTS
    # since the last save, so that the state never names a deleted checkpoint. A driver killed in between is
    # resumed from the trials' older checkpoints; nothing recorded is lost (docs/guide/resume-faults.md).
    # Tune warns when such forced saves come within 5 s of each other; with epochs of a second (the bundled data)
    # they do, at milliseconds a save (docs/measurements.md, "At a cluster's scale"): warn below 1 s only.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "1")
    # Of Tune's own per-trial files only result.json (``_tuner`` adds its logger): MLflow has every result, and
    # Tune's TensorBoard logger costs milliseconds per result on the event loop, its CSV and events files a copy
    # at every state save (docs/measurements.md, "At a cluster's scale").
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    _quiet_libraries()
    if not ray.is_initialized():
        # Connects to RAY_ADDRESS (set by `ray job submit`) or a running local cluster, else starts one.
        joined = joins_a_cluster()
        ray.init(address=os.environ.get("RAY_ADDRESS"), log_to_driver=True)
        print(f"ray        {describe_cluster(ray, joined)}", flush=True)
    concurrency = trial_concurrency(spec, node_resources(ray))
    workers = f"{spec.resources.workers} workers" if spec.resources.workers > 1 else "1 worker"
    print(
        f"at once    {concurrency} trial(s) of {workers} ({describe_request(spec.resources.per_worker())} each)",
        flush=True,
    )

    experiment_name = f"sslsweep/{spec.name}"
    experiment_id = ensure_experiment(stores.mlflow_uri, experiment_name, stores.mlflow_artifacts)
    if spec.description:  # the experiment's description in MLflow's UI
        MlflowClient(stores.mlflow_uri).set_experiment_tag(experiment_id, NOTE_TAG, markdown_text(spec.description))
    if resume_from is None:
        parent_run_id = start_parent_run(
            spec, stores.mlflow_uri, experiment_id, Path(spec_path).read_text(), parent_tags
        )
        study_name = f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}-{parent_run_id[:8]}"
    else:
        parent_run_id, study_name = resume_from.parent_run_id, resume_from.study_name
        reopen_parent(stores.mlflow_uri, resume_from)

    status = "FAILED"
    registrations: list[Registration] = []
    decision_view = ""
    try:
        view = save_decision_view(
            stores.mlflow_uri,
            experiment_id,
            parent_run_id,
            spec.objective.mode,
            decision_view_metrics(spec),
            (METHOD_PARAM, "backbone") if spec.methods is not None else ("backbone",),
        )
        decision_view = shared_view_link(ui_base_url(stores.mlflow_uri), experiment_id, view)
        if resume_from is None:
            MlflowClient(stores.mlflow_uri).set_tag(parent_run_id, OPTUNA_STUDY_TAG, study_name)
            split = spec.domain.split_record(spec.data, spec.seed)
            if split is not None:  # e.g. seismic inline blocks: which inlines validation and test came from
                MlflowClient(stores.mlflow_uri).log_dict(parent_run_id, split, "data/split.json")
        callback = SweepMLflowCallback(spec, stores.mlflow_uri, experiment_name, parent_run_id)
        data_cache = start_data_cache()
        trainable = make_trainable(spec, stores.ray_storage, data_cache)
        if resume_from is None or resume_from.experiment_path is None:
            search = _tuner(
                spec,
                trainable,
                study_name,
                stores,
                callback,
                concurrency,
                search_alg=_searcher(spec, stores, study_name, concurrency),
                scheduler=_scheduler(spec),
                num_samples=spec.budget.trials,
                verbose=verbose,
            )
        else:  # Tune's saved experiment: its searcher, scheduler, trials and this sweep's callback
            search = restore_tuner(resume_from.experiment_path, trainable)
        _settle_heap()
        results = _fit(search, spec.budget.trials, stores.mlflow_uri, parent_run_id, verbose)
        if resume_from is not None:  # runs of trials the dead driver started that no trial carried on
            close_open_child_runs(stores.mlflow_uri, parent_run_id, Outcome.ABANDONED)
        if spec.final.repeats:
            _run_final_repeats(
                spec,
                trainable,
                study_name,
                stores,
                callback,
                concurrency,
                parent_run_id,
                results,
                resuming=resume_from is not None,
                verbose=verbose,
            )
        if spec.evaluation.supervised_baseline:
            _run_supervised_baselines(
                spec,
                study_name,
                stores,
                callback,
                concurrency,
                parent_run_id,
                results,
                data_cache,
                resuming=resume_from is not None,
                verbose=verbose,
            )
        data_preparations = ray.get(data_cache.preparations.remote())
        MlflowClient(stores.mlflow_uri).log_metric(parent_run_id, "sweep/data_preparations", data_preparations)
        sweep, report = write_sweep_report(stores.mlflow_uri, parent_run_id, stores.reports_dir, stores.optuna_url)
        if sweep is not None:
            selections = _selections(sweep)
            _log_answer(stores.mlflow_uri, parent_run_id, sweep, shared_view_link("", experiment_id, view), selections)
            _log_best_backbone(stores.mlflow_uri, parent_run_id, sweep.finished_trials.iloc[0])
            # Search trials only: the Model Registry's versions and champions (never raises; warns).
            if spec.final.registry:
                registrations = register_sweep_backbones(
                    stores.mlflow_uri,
                    sweep,
                    spec,
                    _trial_params(results),
                    lambda params: ray.get(fetch_prepared_data(data_cache, spec, params)),
                    selections,
                )
            status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        # A second Ctrl-C can cut Tune's own end short: what is queued goes first (whichever callback Tune ran,
        # this one or the one it restored with its experiment).
        _close_open_records(stores.mlflow_uri, parent_run_id)
        raise SweepInterrupted(parent_run_id, resume_command(spec, spec_path)) from None
    except Exception as error:
        # Whatever stopped the sweep, what is queued is written and its open trials are closed as after a Ctrl-C,
        # so that --resume carries them on; an error of Ray's own (resume.ray_stop_reason) is one line.
        closed = _close_open_records(stores.mlflow_uri, parent_run_id)
        reason = ray_stop_reason(error)
        if reason is None:
            raise
        if verbose:
            traceback.print_exception(error)
        raise SweepStopped(parent_run_id, reason, resume_command(spec, spec_path), closed) from None
    finally:
        MlflowClient(stores.mlflow_uri).set_terminated(parent_run_id, status=status)
    return SweepOutcome(
        parent_run_id,
        experiment_name,
        study_name,
        sweep,
        report,
        _outcomes(stores.mlflow_uri, parent_run_id),
        data_preparations,
        registrations,
        decision_view,
    )


def _close_open_records(tracking_uri: str, parent_run_id: str) -> bool:
    """What is queued for MLflow written, and the sweep's open trial runs closed as interrupted (``--resume``
    reopens them); False where they could not be closed (the store may be what failed: a warning, and the
    sweep's own error goes on)."""
    report_unwritten(flush_all(EXIT_WAIT_S))
    try:
        close_open_child_runs(tracking_uri, parent_run_id, Outcome.INTERRUPTED)
    except Exception as closing:  # noqa: BLE001 - see the docstring
        print(f"warning: the open trial runs of parent run {parent_run_id} were not closed: {closing}", file=sys.stderr)
        return False
    return True


def _selections(sweep: SweepRuns) -> list[Selected] | None:
    """The report's selection (one trial per backbone), read once for the answer and the registry; None where it
    cannot be made (both then say why, without failing the sweep)."""
    try:
        return select([sweep])
    except Exception:  # noqa: BLE001 - ReportError and the like: the answer and the registry report it
        return None


def _log_answer(
    tracking_uri: str, parent_run_id: str, sweep: SweepRuns, decision_view: str, selections: list[Selected] | None
) -> None:
    """The sweep's answer on its parent run (``report.sweep_answer``); like the report, never fails the sweep."""
    try:
        answer = sweep_answer(sweep, decision_view, selections)
        if answer is not None:
            log_answer(tracking_uri, parent_run_id, answer)
    except Exception:  # noqa: BLE001 - the trials are recorded; a summary that fails must not fail the sweep
        traceback.print_exc()
        print(f"warning: the answer of sweep {sweep.name} was not written on its parent run (above)", file=sys.stderr)


def decision_view_metrics(spec: SweepSpec) -> list[str]:
    """The decision view's score columns: the headline test score and its gain over the untrained backbone at every
    label fraction, fewest labels first, for the objective's protocol (the first evaluated one where the objective names none)."""
    parsed = parse_eval_metric_name(spec.objective.metric)
    protocol = parsed.protocol if parsed is not None else spec.evaluation.protocols[0]
    metric = spec.domain.report_metrics[0]
    fractions = sorted(spec.evaluation.label_fractions)  # the fewest labels first: the report's headline
    tests = [eval_metric_name("test", protocol, metric, fraction) for fraction in fractions]
    return [column for test in tests for column in (test, GAIN_PREFIX + test)]


def _fit(
    tuner: tune.Tuner, trials: int, tracking_uri: str, parent_run_id: str, verbose: bool = False
) -> tune.ResultGrid:
    """``tuner.fit()``, raising ``KeyboardInterrupt`` where Tune swallowed one. On a first Ctrl-C Tune saves its
    state, stops the running trials, marks them TERMINATED and returns as if done; what shows the interruption:
    fewer trials than asked for, a trial that never reported, or a run ``SweepMLflowCallback`` closed as
    interrupted (a trial that started but never ended). Without ``verbose``, Tune prints nothing of its own."""
    with _tune_output(verbose):
        results = tuner.fit()
    never_ran = any(not result.metrics and result.error is None for result in results)
    trial_ids = {result.metrics.get("trial_id") for result in results if result.metrics}
    interrupted = {
        trial for trial, ended in _outcomes(tracking_uri, parent_run_id).items() if ended == Outcome.INTERRUPTED
    }
    if len(results) < trials or never_ran or trial_ids & interrupted:
        raise KeyboardInterrupt
    return results


def _outcomes(tracking_uri: str, parent_run_id: str) -> dict[str, str]:
    """Tune trial id -> how it ended (finished, pruned, failed, interrupted, ...), for every child run of the sweep."""
    return {
        run.data.tags.get(TRIAL_ID_TAG): run.data.tags.get(OUTCOME_TAG)
        for run in child_runs(MlflowClient(tracking_uri), parent_run_id)
    }


def _quiet_libraries() -> None:
    """Messages a person running a sweep can do nothing with: MLflow creating its tables, Optuna announcing the
    study and Tune its last save (the summary names the study and the stores); against a tracking server, MLflow's
    two "View run / experiment at" lines for every run it ends (each after a request of its own for the run)."""
    os.environ.setdefault(MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT.name, "true")
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    logging.getLogger("ray.tune.tune").setLevel(logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.WARNING)


@contextlib.contextmanager
def _tune_output(verbose: bool):
    """Tune's output engine prints a configuration box, the results path and a TensorBoard hint even at verbose 0
    (``ray.tune.experimental.output``); its legacy engine at verbose 0 prints nothing. ``--verbose`` keeps the
    engine the environment chose (``RAY_AIR_NEW_OUTPUT``)."""
    if verbose:
        yield
        return
    before = os.environ.get("RAY_AIR_NEW_OUTPUT")
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("RAY_AIR_NEW_OUTPUT", None)
        else:
            os.environ["RAY_AIR_NEW_OUTPUT"] = before


def _tuner(
    spec: SweepSpec,
    trainable,
    name: str,
    stores: Stores,
    callback,
    concurrency: int,
    *,
    search_alg,
    scheduler,
    num_samples: int,
    param_space: dict | None = None,
    verbose: bool = False,
) -> tune.Tuner:
    return tune.Tuner(
        trainable,
        param_space=spec.default_params() if param_space is None else param_space,
        tune_config=tune.TuneConfig(
            metric=RANKED_OBJECTIVE,
            mode=spec.objective.mode,
            search_alg=search_alg,
            scheduler=scheduler,
            num_samples=num_samples,
            # The searcher's ConcurrencyLimiter, or the generator's max_concurrent, already bounds the trials
            # (Tune warns when both do, and ignores it for a generator).
            max_concurrent_trials=(
                None
                if isinstance(search_alg, ConcurrencyLimiter) or not isinstance(search_alg, Searcher)
                else concurrency
            ),
            # In-trial trials keep their process (and its imported torch) for the next trial. A trial ASHA
            # stops is parked in its report call, which Tune's reset ends within its 2 s timeout.
            reuse_actors=not spec.resources.uses_ray_train,
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=stores.ray_storage,
            # Tune's tables per trial with --verbose; otherwise one line per trial event (console.py).
            callbacks=[callback, JsonLoggerCallback()]
            + ([] if verbose else [_trial_lines(spec, scheduler, num_samples)]),
            verbose=2 if verbose else 0,
            # Tune would otherwise keep every checkpoint of every trial, on disk and in its experiment state.
            checkpoint_config=tune.CheckpointConfig(num_to_keep=KEPT_CHECKPOINTS),
            # A crashed in-trial trial restarts from its last checkpoint; Ray Train trials retry in their trainer.
            failure_config=tune.FailureConfig(
                max_failures=0 if spec.resources.uses_ray_train else spec.resources.max_failures
            ),
        ),
    )


def _run_final_repeats(
    spec: SweepSpec,
    trainable,
    study_name: str,
    stores: Stores,
    callback,
    concurrency: int,
    parent_run_id: str,
    results: tune.ResultGrid,
    resuming: bool,
    verbose: bool = False,
) -> None:
    """``final.repeats``: the ``final.top_k`` best finished trials (selection.py's rule, read from MLflow) run
    again with training seeds seed+1, seed+2, ...: new trials of the same sweep, tagged ``sslsweep.role =
    repeat`` and ``sslsweep.repeat_of = <run id>``, each for the full budget, not told to Optuna."""
    best = _finished_search_trials(spec, stores, parent_run_id).head(spec.final.top_k)
    params = _trial_params(results)
    points = [
        {**params[run[tag_column(TRIAL_ID_TAG)]], TRAINING_SEED_KEY: spec.seed + repeat, REPEAT_OF_KEY: run["run_id"]}
        for _, run in best.iterrows()
        for repeat in range(1, spec.final.repeats + 1)
    ]
    _run_points(
        spec,
        trainable,
        f"{study_name}-repeats",
        stores,
        callback,
        concurrency,
        points,
        parent_run_id,
        resuming,
        verbose,
    )


def _run_supervised_baselines(
    spec: SweepSpec,
    study_name: str,
    stores: Stores,
    callback,
    concurrency: int,
    parent_run_id: str,
    results: tune.ResultGrid,
    data_cache,
    resuming: bool,
    verbose: bool = False,
) -> None:
    """``evaluation.supervised_baseline``: for the best finished trial of each backbone and each label fraction
    of the evaluation, the same backbone trained from scratch with cross-entropy on that fraction's labels
    (its optimiser, learning rate, batch and augmentations), tagged ``sslsweep.role = supervised_baseline``
    and ``sslsweep.baseline_of = <run id>``; the report sets them beside the pretrained backbone."""
    best = best_per_backbone(_finished_search_trials(spec, stores, parent_run_id)).values()
    params = _trial_params(results)
    shared_keys = set(spec.domain.Params.model_fields)
    points = [
        {
            **{k: v for k, v in params[run[tag_column(TRIAL_ID_TAG)]].items() if k in shared_keys},
            "label_fraction": fraction,
            BASELINE_OF_KEY: run["run_id"],
        }
        for run in best
        for fraction in spec.evaluation.label_fractions
    ]
    baseline = spec.supervised_baseline_spec()
    _run_points(
        baseline,
        make_trainable(baseline, stores.ray_storage, data_cache),
        f"{study_name}-supervised",
        stores,
        callback,
        concurrency,
        points,
        parent_run_id,
        resuming,
        verbose,
    )


def _finished_search_trials(spec: SweepSpec, stores: Stores, parent_run_id: str):
    """The sweep's finished search trials (not repeats or baselines), best first (selection.py's rule)."""
    experiment_id = MlflowClient(stores.mlflow_uri).get_run(parent_run_id).info.experiment_id
    runs = child_runs_frame(stores.mlflow_uri, experiment_id, parent_run_id, spec.name, ", ".join(spec.method_names))
    finished = runs[(runs["outcome"] == Outcome.FINISHED) & (runs["role"] == Role.TRIAL)]
    return best_first(finished, f"metrics.{spec.objective.metric}", spec.objective.mode)


def _trial_params(results: tune.ResultGrid) -> dict[str, dict]:
    """Tune trial id -> the trial's hyperparameters (sslsweep's bookkeeping keys removed)."""
    return {result.metrics["trial_id"]: split_bookkeeping(result.config)[0] for result in results if result.metrics}


def _run_points(
    spec: SweepSpec,
    trainable,
    name: str,
    stores: Stores,
    callback,
    concurrency: int,
    points: list[dict],
    parent_run_id: str,
    resuming: bool,
    verbose: bool = False,
) -> None:
    """Run these exact configurations once each, after the search (FIFO, no searcher: not told to Optuna); a
    resumed sweep carries on with Tune's saved experiment of them when the interruption came after it began.
    Points with other hyperparameters (the trials of two methods of a sweep across methods) run as experiments of
    their own, ``<name>-2`` and on: Tune's space must hold every key a point sets, and only those."""
    groups = _same_keys(points)
    for number, group in enumerate(groups, start=1):
        experiment = name if number == 1 else f"{name}-{number}"
        path = f"{stores.ray_storage.rstrip('/')}/{experiment}"
        if resuming and tune.Tuner.can_restore(path):
            tuner = restore_tuner(path, trainable)
        else:
            tuner = _tuner(
                spec,
                trainable,
                experiment,
                stores,
                callback,
                concurrency,
                search_alg=BasicVariantGenerator(points_to_evaluate=group, max_concurrent=concurrency),
                scheduler=FIFOScheduler(),
                num_samples=len(group),
                param_space=_space_of(group),
                verbose=verbose,
            )
        _fit(tuner, len(group), stores.mlflow_uri, parent_run_id, verbose)


def _same_keys(points: list[dict]) -> list[list[dict]]:
    """The points grouped by the keys they set, in the order each set first comes."""
    groups: dict[tuple[str, ...], list[dict]] = {}
    for point in points:
        groups.setdefault(tuple(sorted(point)), []).append(point)
    return list(groups.values())


def _space_of(points: list[dict]) -> dict:
    """A space holding every point of points that set the same keys: Tune warns about a point whose value a
    constant of the space does not match; a key whose points differ is the choice of their values."""
    space: dict = {}
    for key in points[0]:
        values = []
        for point in points:
            if point[key] not in values:
                values.append(point[key])
        space[key] = values[0] if len(values) == 1 else tune.choice(values)
    return space


def _log_best_backbone(tracking_uri: str, parent_run_id: str, best) -> None:
    """Copy the best trial's backbone weights (its last checkpoint) into its MLflow run and the parent's."""
    best_run_id = best["run_id"]
    weights = backbone_weights(best)
    if weights is None:
        return
    client = MlflowClient(tracking_uri)
    client.log_artifact(best_run_id, str(weights), "backbone")
    client.log_artifact(parent_run_id, str(weights), "best_backbone")
