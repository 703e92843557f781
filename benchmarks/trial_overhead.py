"""How much of a trial is orchestration (Ray, Tune, Train, MLflow), and how much is training and evaluation?

    python benchmarks/trial_overhead.py [searchspaces/barlow.yaml] [--epochs N] [--skip-sweep]

1. Runs one configuration (the search space's first choice / lower bound of every dimension) in-process:
   data preparation, training epochs, the final evaluation (and the untrained backbone's).
2. Runs the same configuration as real sweeps through Ray Tune + MLflow (a temporary SSLSWEEP_HOME), two
   trials one after the other, for each way a trial can run: in the Tune trial (one worker; the second trial
   reuses the first one's process) and in a Ray Train worker group of 1 and of 2 workers (DDP, gloo).
   From Tune's per-epoch results it splits each trial into start-up, per-epoch and final-evaluation time.
3. Unless --skip-sweep: runs the whole search space as a sweep, then the same trials (the same
   hyperparameters, each for the epochs it ran) one after another in one process, and compares wall times.
It prints figures; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "ssl"))


def first_point(spec) -> dict:
    point = {}
    for key, dimension in spec.search.items():
        point[key] = (
            dimension.choices[0]
            if dimension.type == "categorical"
            else (int(dimension.low) if dimension.type == "int" else dimension.low)
        )
    return point


def in_process(spec, params: dict, epochs: int, data=None) -> dict[str, float]:
    """The trial's work without Ray: the same library calls the training loop makes."""
    from selfsup.data.timeseries.prepare import prepare_data
    from selfsup.pretrain import (
        build_augmenter,
        build_method,
        build_optimizer,
        data_shape,
        train_one_epoch,
        training_loader,
    )
    from trainables.searchspace import split_trial_params
    from trainables.trial.worker import epoch_evaluation

    timings = {}
    start = time.perf_counter()
    if data is None:
        data = prepare_data(
            spec.data.pretext,
            spec.data.downstream,
            spec.data.window.length,
            spec.data.window.overlap,
            spec.data.validation_fraction,
            spec.seed,
        )
    timings["data"] = time.perf_counter() - start
    shared, own = split_trial_params(spec.method, {**spec.default_params(), **params}, spec.domain.name)
    torch.manual_seed(spec.seed)
    model = build_method(spec.method, shared, own, data_shape(data))
    untrained = build_method(spec.method, shared, own, data_shape(data)).backbone
    optimizer, augmenter = build_optimizer(shared, model), build_augmenter(shared, spec.seed)
    loader = training_loader(data.pretext, shared.batch_size)
    cpu = torch.device("cpu")
    start = time.perf_counter()
    for epoch in range(epochs):
        train_one_epoch(model, loader, data.pretext, augmenter, optimizer, cpu, epoch, epochs)
        epoch_evaluation(model.backbone, data, spec, cpu)
    timings["epochs (training + per-epoch validation)"] = time.perf_counter() - start
    start = time.perf_counter()
    if epochs == spec.budget.epochs:  # only trials that ran to the end are evaluated
        domain, evaluation = spec.domain, spec.evaluation
        domain.evaluate(model.backbone, data, evaluation, spec.seed, cpu, include_test=True)
        if evaluation.compare_random_init:
            domain.evaluate(untrained, data, evaluation, spec.seed, cpu, include_test=True, prefix="random_init/")
    timings["final evaluation"] = time.perf_counter() - start
    timings["total"] = sum(timings.values())
    return timings


def _sweep(raw: dict, home: Path):
    """Run one sweep from a raw search-space dict in a fresh local Ray; returns (seconds, outcome, home)."""
    import ray
    import yaml

    from trainables.searchspace import load_sweep
    from trainables.sweep.driver import run_sweep
    from trainables.tracking.stores import resolve_stores

    home.mkdir(parents=True, exist_ok=True)  # --home may name a folder that does not exist yet
    path = home / "searchspace.yaml"
    path.write_text(yaml.safe_dump(raw))
    os.environ.update(SSLSWEEP_HOME=str(home), SSLSWEEP_REPORTS_DIR=str(home / "reports"))
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    try:
        start = time.perf_counter()
        outcome = run_sweep(load_sweep(path), path, resolve_stores())
        return time.perf_counter() - start, outcome
    finally:
        ray.shutdown()


def _trial_results(home: Path) -> list[list[dict]]:
    """Each trial's per-epoch Tune results, in the order the trials started."""
    trials = []
    for result_file in home.glob("ray_results/*/run_trial_*/result.json"):
        results = [json.loads(line) for line in result_file.read_text().splitlines() if line.strip()]
        trials.append(results)
    return sorted(trials, key=lambda results: results[0]["timestamp"] - results[0]["time_total_s"])


def through_ray(spec_path: Path, spec, params: dict, workers: int, execution: str) -> dict:
    import yaml

    raw = yaml.safe_load(spec_path.read_text())
    raw.update(
        name=f"{spec.name}-overhead",
        search={},
        fixed={**raw.get("fixed", {}), **params},
        scheduler={"type": "fifo"},
        resources={"workers": workers, "cpus_per_worker": 1, "execution": execution},
    )
    # Two trials one after the other: the second shows what a reused trial process costs.
    raw["budget"] = {**raw.get("budget", {}), "trials": 2, "max_concurrent": 1, "epochs": spec.budget.epochs}
    with tempfile.TemporaryDirectory() as home:
        elapsed, _ = _sweep(raw, Path(home))
        trials = _trial_results(Path(home))
    return {
        "sweep": elapsed,
        "trials": [[r["time_this_iter_s"] for r in results] for results in trials],
        "trial totals": [results[-1]["time_total_s"] for results in trials],
    }


def breakdown(iterations: list[float], epoch_in_process: float) -> dict[str, float]:
    """Start-up (first epoch beyond a later epoch's time), per-epoch time, and the final evaluation."""
    middle = iterations[1:-1] or iterations[:1]
    per_epoch = statistics.median(middle)
    return {
        "start-up": iterations[0] - per_epoch,
        "per epoch": per_epoch,
        "in-process per epoch": epoch_in_process,
        "last epoch + final evaluation": iterations[-1],
    }


def whole_sweep_vs_serial(spec_path: Path, spec) -> None:
    """The search space as a sweep, then the same trials one after another in one process."""
    import yaml
    from mlflow.tracking import MlflowClient

    from selfsup.data.timeseries.prepare import prepare_data

    raw = yaml.safe_load(spec_path.read_text())
    with tempfile.TemporaryDirectory() as home:
        elapsed, outcome = _sweep(raw, Path(home))
        client = MlflowClient(f"sqlite:///{Path(home) / 'mlflow.db'}")
        experiment = client.get_experiment_by_name(outcome.experiment_name).experiment_id
        children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{outcome.parent_run_id}'")
        trials = [
            (
                {k: yaml.safe_load(v) for k, v in run.data.params.items() if k in spec.search},
                len(client.get_metric_history(run.info.run_id, "train/loss")),
            )
            for run in children
        ]
    start = time.perf_counter()
    data = prepare_data(
        spec.data.pretext,
        spec.data.downstream,
        spec.data.window.length,
        spec.data.window.overlap,
        spec.data.validation_fraction,
        spec.seed,
    )
    for params, epochs in trials:
        in_process(spec, params, epochs, data)
    serial = time.perf_counter() - start
    stopped = sum(ended == "pruned" for ended in outcome.outcomes.values())
    print(
        f"\nwhole sweep {spec_path.name}: {len(trials)} trials, {sum(epochs for _, epochs in trials)} epochs in "
        f"all ({stopped} stopped early)"
    )
    print(f"  through Ray Tune + Optuna + ASHA + MLflow   {elapsed:8.1f} s")
    print(f"  the same trials serially in one process     {serial:8.1f} s")
    print(f"  ratio                                        {elapsed / serial:8.2f} x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("searchspace", nargs="?", type=Path, default=ROOT / "searchspaces" / "barlow.yaml")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--skip-sweep", action="store_true", help="skip the whole-sweep comparison")
    args = parser.parse_args()

    from trainables.searchspace import load_sweep

    spec = load_sweep(args.searchspace)
    if args.epochs:
        spec = spec.model_copy(update={"budget": spec.budget.model_copy(update={"epochs": args.epochs})})
    params = first_point(spec)
    epochs = spec.budget.epochs
    print(f"configuration: {params}, {epochs} epochs, {os.cpu_count()} CPUs")
    work = in_process(spec, params, epochs)
    for name, value in work.items():
        print(f"  in-process {name:<44} {value:7.2f} s")
    epoch_in_process = work["epochs (training + per-epoch validation)"] / epochs

    print("\none trial through Ray (two trials in a row; the figures are per trial):")
    print(
        f"  {'':<26} {'trial':>6} {'total':>7} {'overhead':>9} {'start-up':>9} {'per epoch':>10} "
        f"{'last+eval':>10} {'sweep set-up':>13}"
    )
    for label, workers, execution in (
        ("in the trial, 1 worker", 1, "in_trial"),
        ("Ray Train, 1 worker", 1, "ray_train"),
        ("Ray Train, 2 workers", 2, "ray_train"),
    ):
        figures = through_ray(args.searchspace, spec, params, workers, execution)
        set_up = figures["sweep"] - sum(figures["trial totals"])
        for index, (iterations, total) in enumerate(zip(figures["trials"], figures["trial totals"])):
            parts = breakdown(iterations, epoch_in_process)
            overhead = total - (work["total"] - work["data"])  # data comes prepared from the sweep's cache
            print(
                f"  {label:<26} {index + 1:>6} {total:7.2f} {overhead:9.2f} {parts['start-up']:9.2f} "
                f"{parts['per epoch']:10.3f} {parts['last epoch + final evaluation']:10.2f} {set_up:13.2f}"
            )
    print(
        "  (overhead: the trial's time through Ray minus the same work in-process, data preparation excluded; "
        "start-up: first epoch minus a later epoch; sweep set-up: the sweep's time outside its two trials: "
        "Ray Tune, MLflow, Optuna, data preparation, report)"
    )
    if not args.skip_sweep:
        whole_sweep_vs_serial(args.searchspace, spec)


if __name__ == "__main__":
    main()
