"""Does one sweep across methods choose as well as one sweep per method, for less?

    python benchmarks/method_selection.py [--datasets PickupGestureWiimoteZ ArrowHead JapaneseVowels]
                                          [--seeds 0 1 2] [--trials 12] [--epochs 20] [--quick] [--json FILE]
    python benchmarks/method_selection.py --summarise FILE     # the summaries of a --json file again

``searchspaces/auto_timeseries.yaml`` (k methods, their own and the shared hyperparameters) on each data set
(bundled in aeon), each search seed, three strategies with the same nominal budget E = trials x epochs:
  (a) the sweep across methods as shipped: TPE draws the method first, ASHA stops the losing trials
  (b) random search over the same joint space, same ASHA, same budget
  (c) one sweep per method (the method's own and the shared parameters), trials / k each: E / k epochs each;
      the user then keeps the method whose selected trial has the best objective
Per data set and strategy it prints, medians over seeds: the selected trial's test accuracy (linear probe, 100 %
and 10 % labels) beside the same backbone untrained and trained supervised (the supervised baselines of (a),
trained on the same labels, for the selected backbone), the best test accuracy any trial of the strategy
reached, the selection regret (that best minus the selected), the epochs spent, and for (a) and (b) the epochs
spent until a finished trial's objective reached (c)'s selected objective ("to (c) sel") and until the trial the
sweep would have selected had it been stopped then tested within 2 points of (c)'s selection and stayed so to
the end ("to (c)±2", the target as the issue words it); then MiniRocket (aeon's
``MiniRocketClassifier``, fitted on the same training + validation series the test readouts are, scored on the
same test series; mean of three random states). Targets (issue "one sweep that chooses the method"): (a)
within 2 points of (c)'s selection on every set with at most 50 % of (c)'s epochs to get there; (a) beats (b)
in median over seeds; (a) within 2 points of MiniRocket. It prints figures; nothing is asserted.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "ssl"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from selfsup.evaluation.metric_names import RANDOM_INIT_PREFIX, TRAINING_LOSS, eval_metric_name  # noqa: E402
from trainables.records.names import test_units_text  # noqa: E402
from trainables.records.results import Outcome  # noqa: E402
from trainables.records.tags import (  # noqa: E402
    BACKBONE_TAG,
    BASELINE_OF_TAG,
    BEST_RUN_TAG,
    METHOD_TAG,
    OUTCOME_TAG,
    PARENT_RUN_ID_TAG,
    ROLE_TAG,
    TRIAL_NUMBER_TAG,
    Role,
)

SHIPPED = ROOT / "searchspaces" / "auto_timeseries.yaml"
# Each set resized to about its series' length; the methods train on three-quarter windows of it.
DATASETS = {
    "PickupGestureWiimoteZ": {"series_length": 128, "window": 96},  # 29-361 steps, 10 gestures, 50 test
    "ArrowHead": {"series_length": 128, "window": 96},  # 251 steps, 3 shapes, 175 test
    "JapaneseVowels": {"series_length": 32, "window": 24},  # 7-29 steps, 12 channels, 9 speakers, 370 test
}
FRACTIONS = (1.0, 0.1)
STRATEGIES = ("(a) across methods", "(b) random, joint", "(c) one per method")


def test_metric(fraction: float, prefix: str = "") -> str:
    return eval_metric_name("test", "linear", "acc", fraction, prefix)


def sweep_spec(dataset: str, seed: int, trials: int, epochs: int) -> dict:
    """The shipped file on ``dataset`` at ``seed`` with ``trials`` x ``epochs``."""
    raw = yaml.safe_load(SHIPPED.read_text())
    shape = DATASETS[dataset]
    source = {"source": "aeon", "name": dataset}
    raw["data"].update(
        pretext=source,
        downstream=source,
        series_length=shape["series_length"],
        window={"length": shape["window"], "overlap": raw["data"]["window"]["overlap"]},
        evaluation_window={"length": shape["series_length"], "overlap": 0},
    )
    raw.update(
        name=f"selection-{dataset}-{seed}", seed=seed, budget={**raw["budget"], "trials": trials, "epochs": epochs}
    )
    raw["final"] = {"registry": False}
    if raw["scheduler"].get("grace_period", 1) > epochs:  # a shorter budget (--epochs, --quick)
        raw["scheduler"]["grace_period"] = max(1, epochs // 2)
    raw["sampler"] = {
        **raw.get("sampler", {}),
        "startup_trials": min(raw.get("sampler", {}).get("startup_trials", 5), max(trials // 2, 1)),
    }
    return raw


def strategy_specs(base: dict, label: str) -> list[dict]:
    """The sweeps one strategy runs."""
    if label.startswith("(a)"):
        return [base]
    if label.startswith("(b)"):
        raw = copy.deepcopy(base)
        raw.update(name=base["name"] + "-random", sampler={"type": "random"})
        raw["evaluation"] = {**raw["evaluation"], "supervised_baseline": False}
        return [raw]
    methods = base["methods"]
    per_method = max(1, round(base["budget"]["trials"] / len(methods)))
    sweeps = []
    for name, choice in methods.items():
        raw = copy.deepcopy(base)
        del raw["methods"]
        raw.update(
            name=f"{base['name']}-{name}",
            method=name,
            search={**base["search"], **choice.get("search", {})},
            fixed={**base.get("fixed", {}), **choice.get("fixed", {})},
            budget={**base["budget"], "trials": per_method},
        )
        raw["sampler"] = {
            **base["sampler"],
            "startup_trials": min(base["sampler"]["startup_trials"], max(per_method // 2, 1)),
        }
        raw["evaluation"] = {**raw["evaluation"], "supervised_baseline": False}
        sweeps.append(raw)
    return sweeps


def run_one(raw: dict) -> dict:
    """One real sweep (Ray Tune + Optuna + MLflow in a temporary home); its trials and its selected run."""
    import mlflow
    from trial_overhead import _sweep

    with tempfile.TemporaryDirectory() as home:
        seconds, outcome = _sweep(raw, Path(home))
        mlflow.set_tracking_uri(f"sqlite:///{Path(home) / 'mlflow.db'}")
        children = mlflow.search_runs(
            experiment_names=[outcome.experiment_name],
            filter_string=f"tags.`{PARENT_RUN_ID_TAG}` = '{outcome.parent_run_id}'",
        )
        parent = mlflow.get_run(outcome.parent_run_id)
        client = mlflow.MlflowClient()
        epochs = {
            run_id: sorted(m.timestamp for m in client.get_metric_history(run_id, TRAINING_LOSS))
            for run_id in children["run_id"]
        }  # when each epoch of each run was logged (a resumed trial's repeated epochs count: they were spent)
    if BEST_RUN_TAG not in parent.data.tags:
        raise SystemExit(f"sweep {raw['name']} selected no trial (its parent run has no {BEST_RUN_TAG} tag)")
    best = parent.data.tags.get(BEST_RUN_TAG)
    objective = f"metrics.{raw['objective']['metric']}"

    def metric(row, name: str) -> float | None:
        value = row.get(f"metrics.{name}")
        return None if value is None or value != value else float(value)

    trials, baselines = [], []
    for _, row in children.iterrows():
        role = row.get(f"tags.{ROLE_TAG}")
        if role == Role.TRIAL:
            trials.append(
                {
                    "run_id": row["run_id"],
                    "end": row["end_time"].timestamp(),
                    "epochs": len(epochs[row["run_id"]]),
                    "epoch_times": epochs[row["run_id"]],
                    "finished": row.get(f"tags.{OUTCOME_TAG}") == Outcome.FINISHED,
                    "number": int(number) if isinstance(number := row.get(f"tags.{TRIAL_NUMBER_TAG}"), str) else None,
                    "method": row.get(f"tags.{METHOD_TAG}"),
                    "backbone": row.get(f"tags.{BACKBONE_TAG}"),
                    "objective": None if row.get(objective) != row.get(objective) else row.get(objective),
                    **{f"test@{f}": metric(row, test_metric(f)) for f in FRACTIONS},
                    **{f"untrained@{f}": metric(row, test_metric(f, RANDOM_INIT_PREFIX)) for f in FRACTIONS},
                }
            )
        elif role == Role.BASELINE and row.get(f"tags.{OUTCOME_TAG}") == Outcome.FINISHED:
            fraction = float(row["params.label_fraction"])
            baselines.append(
                {
                    "backbone": row.get(f"tags.{BACKBONE_TAG}"),
                    "of": row.get(f"tags.{BASELINE_OF_TAG}"),
                    "fraction": fraction,
                    "test": metric(row, test_metric(fraction)),
                }
            )
    trials.sort(key=lambda trial: trial["end"])
    return {"seconds": seconds, "selected": best, "trials": trials, "baselines": baselines}


def selected_trial(sweeps: list[dict], mode: str) -> dict | None:
    """sslsweep's selection in each sweep; across several (c), the one with the best objective (``mode``)."""
    chosen = [next((t for t in s["trials"] if t["run_id"] == s["selected"]), None) for s in sweeps]
    chosen = [trial for trial in chosen if trial is not None and trial["objective"] is not None]
    sign = 1 if mode == "max" else -1
    return max(chosen, key=lambda trial: sign * trial["objective"]) if chosen else None


def epochs_to_reach(sweep: dict, target: float, mode: str) -> float:
    """Epochs the sweep had spent (every epoch of every trial logged by then, ended or still running) when a
    finished trial first reached ``target``."""
    sign = 1 if mode == "max" else -1
    reached = [
        trial["end"]
        for trial in sweep["trials"]
        if trial["finished"] and trial["objective"] is not None and sign * (trial["objective"] - target) >= -1e-9
    ]
    if not reached:
        return float("inf")
    when = min(reached) * 1000  # run end times are seconds, metric timestamps milliseconds
    return sum(1 for trial in sweep["trials"] for logged in trial["epoch_times"] if logged <= when)


def epochs_to_select_within(sweep: dict, target_test: float, mode: str, within: float = 0.02) -> float:
    """Epochs the sweep had spent when the trial it would have selected, had it been stopped then (the finished
    trial with the best objective so far, ties to the lower trial number: ``trainables/records/selection.py``),
    tested within ``within`` of ``target_test`` (linear probe, 100 % labels) and went on doing so to the sweep's
    end; infinite where its final selection is not within."""
    sign = 1 if mode == "max" else -1
    finished = sorted(
        (t for t in sweep["trials"] if t["finished"] and t["objective"] is not None), key=lambda t: t["end"]
    )
    since = None  # the trial whose end began the run of selections within reach that lasts to the end
    for index, trial in enumerate(finished):
        selected = min(finished[: index + 1], key=lambda t: (-sign * t["objective"], t.get("number") or 0))
        reached = selected["test@1.0"] is not None and selected["test@1.0"] >= target_test - within - 1e-9
        since = (since or trial) if reached else None
    if since is None:
        return float("inf")
    when = since["end"] * 1000  # run end times are seconds, metric timestamps milliseconds
    return sum(1 for t in sweep["trials"] for logged in t["epoch_times"] if logged <= when)


def prepared(raw: dict):
    """The data a sweep's trials get (the same preparation, splits and standardisation)."""
    from trainables.searchspace import SweepSpec
    from trainables.trial.data_cache import data_request, prepare_requested

    return prepare_requested(data_request(SweepSpec.model_validate(raw)))


def minirocket(data) -> float:
    """aeon's MiniRocket on the series the test readouts use (training + validation), scored on the test series."""
    from aeon.classification.convolution_based import MiniRocketClassifier

    x = np.concatenate([data.train.x, data.validation.x]).astype(np.float64)
    y = np.concatenate([data.train.y, data.validation.y])
    scores = []
    for state in range(3):
        classifier = MiniRocketClassifier(random_state=state).fit(x, y)
        scores.append(float((classifier.predict(data.test.x.astype(np.float64)) == data.test.y).mean()))
    return float(np.mean(scores))


def summarise(label: str, sweeps: list[dict], baselines: list[dict], target: dict | None, mode: str) -> dict:
    selected = selected_trial(sweeps, mode)
    finished = [t for s in sweeps for t in s["trials"] if t["finished"] and t["test@1.0"] is not None]
    row = {
        "strategy": label,
        "epochs": sum(t["epochs"] for s in sweeps for t in s["trials"]),
        "seconds": sum(s["seconds"] for s in sweeps),
        "best_test": max((t["test@1.0"] for t in finished), default=float("nan")),
        "method": selected and selected["method"],
        "backbone": selected and selected["backbone"],
        "objective": selected and selected["objective"],
        "methods_tried": sorted({t["method"] for s in sweeps for t in s["trials"]}),
    }
    for fraction in FRACTIONS:
        row[f"test@{fraction}"] = selected[f"test@{fraction}"] if selected else float("nan")
        row[f"untrained@{fraction}"] = selected[f"untrained@{fraction}"] if selected else float("nan")
        supervised = [
            b["test"]
            for b in baselines
            if selected and b["backbone"] == selected["backbone"] and b["fraction"] == fraction
        ]
        row[f"supervised@{fraction}"] = supervised[0] if supervised else float("nan")
    row["regret"] = row["best_test"] - row["test@1.0"]
    if target is not None and len(sweeps) == 1:
        row["to_target"] = epochs_to_reach(sweeps[0], target["objective"], mode)
        row["to_within"] = epochs_to_select_within(sweeps[0], target["test@1.0"], mode)
    return row


def median(rows: list[dict], key: str) -> float:
    values = [row[key] for row in rows if isinstance(row.get(key), (int, float)) and row[key] == row[key]]
    return statistics.median(values) if values else float("nan")


def print_summary(dataset: str, results: dict, rocket: float, units: int) -> None:
    seeds = sorted(results)
    print(
        f"\n{dataset}: medians over seeds {seeds}; test accuracy, linear probe, over "
        f"{test_units_text(units, 'series', 'classification')}; MiniRocket {rocket:.3f}"
    )
    header = (
        f"  {'strategy':<22} {'selected 100%':>13} {'untrained':>9} {'supervised':>10} {'10%: sel':>9} "
        f"{'untr':>5} {'sup':>5} {'best any':>8} {'regret':>6} {'epochs':>6} {'to (c) sel':>10} {'to (c)±2':>8} "
        f"{'s':>5}"
    )
    print(header)
    for label in STRATEGIES:
        rows = [results[seed][label] for seed in seeds]
        print(
            f"  {label:<22} {median(rows, 'test@1.0'):13.3f} {median(rows, 'untrained@1.0'):9.3f} "
            f"{median(rows, 'supervised@1.0'):10.3f} {median(rows, 'test@0.1'):9.3f} {median(rows, 'untrained@0.1'):5.2f} "
            f"{median(rows, 'supervised@0.1'):5.2f} {median(rows, 'best_test'):8.3f} {median(rows, 'regret'):6.3f} "
            f"{median(rows, 'epochs'):6.0f} {median(rows, 'to_target'):10.0f} {median(rows, 'to_within'):8.0f} "
            f"{median(rows, 'seconds'):5.0f}"
        )
    a, b, c = ([results[seed][label] for seed in seeds] for label in STRATEGIES)

    def shares(key: str) -> str:
        fractions = [x.get(key, float("inf")) / max(z["epochs"], 1) for x, z in zip(a, c)]
        return ", ".join("never" if f == float("inf") else f"{f:.0%}" for f in fractions)

    differences = ", ".join(f"{x['test@1.0'] - z['test@1.0']:+.3f}" for x, z in zip(a, c))
    print(
        f"  targets: (a) - (c) selected, per seed: {differences} (within 0.02?); share of (c)'s epochs (a) "
        f"had spent when its selection so far came within 0.02 of (c)'s for good: {shares('to_within')} (<= 50 %?), "
        f"when a finished trial reached (c)'s selected objective: {shares('to_target')}; "
        f"(a) - (b) median {median(a, 'test@1.0') - median(b, 'test@1.0'):+.3f} (> 0?); "
        f"(a) - MiniRocket {median(a, 'test@1.0') - rocket:+.3f} (>= -0.02?)"
    )
    print(
        "  selected, per seed: "
        + "; ".join(
            f"seed {seed} "
            + ", ".join(
                f"{label[:3]} {results[seed][label]['method']}/{results[seed][label]['backbone']}"
                for label in STRATEGIES
            )
            for seed in seeds
        )
    )


def summarise_seed(done: dict[str, list[dict]], mode: str) -> dict[str, dict]:
    """Each strategy's row for one seed, from its sweeps (``run_one``'s)."""
    baselines = done[STRATEGIES[0]][0]["baselines"]
    target = selected_trial(done[STRATEGIES[2]], mode)
    return {label: summarise(label, done[label], baselines, target, mode) for label in STRATEGIES}


def summarise_saved(path: Path) -> None:
    """The summaries again from an earlier run's ``--json`` file, without running a sweep."""
    for dataset, saved in json.loads(path.read_text()).items():
        mode = yaml.safe_load(SHIPPED.read_text())["objective"].get("mode", "max")
        results = {int(seed): summarise_seed(done, mode) for seed, done in saved["sweeps"].items()}
        units = saved.get("test_units") or len(prepared(sweep_spec(dataset, 0, 1, 1)).test_series_labels)
        print_summary(dataset, results, saved["minirocket"], units)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=None, help="default: the shipped file's")
    parser.add_argument("--epochs", type=int, default=None, help="default: the shipped file's")
    parser.add_argument("--quick", action="store_true", help="one set, one seed, 6 trials x 4 epochs: a smoke run")
    parser.add_argument("--json", type=Path, help="also write every sweep's trials here")
    parser.add_argument("--summarise", type=Path, help="print the summaries of an earlier run's --json file, only")
    args = parser.parse_args()
    if args.summarise:
        return summarise_saved(args.summarise)
    shipped = yaml.safe_load(SHIPPED.read_text())["budget"]
    trials, epochs = args.trials or shipped["trials"], args.epochs or shipped["epochs"]
    datasets, seeds = args.datasets, args.seeds
    if args.quick:
        datasets, seeds, trials, epochs = datasets[:1], seeds[:1], 6, 4

    everything = {}
    for dataset in datasets:
        results, raw_sweeps = {}, {}
        data = prepared(sweep_spec(dataset, seeds[0], trials, epochs))
        rocket, units = minirocket(data), len(data.test_series_labels)
        for seed in seeds:
            base = sweep_spec(dataset, seed, trials, epochs)
            done = {label: [run_one(raw) for raw in strategy_specs(base, label)] for label in STRATEGIES}
            results[seed] = summarise_seed(done, base["objective"].get("mode", "max"))
            raw_sweeps[seed] = done
            for label in STRATEGIES:
                row = results[seed][label]
                print(
                    f"{dataset} seed {seed} {label:<22} selected {row['method']}/{row['backbone']} "
                    f"test {row['test@1.0']:.3f} (untrained {row['untrained@1.0']:.3f}) "
                    f"10% {row['test@0.1']:.3f}; best any {row['best_test']:.3f}; epochs {row['epochs']}; "
                    f"{row['seconds']:.0f} s",
                    flush=True,
                )
        print_summary(dataset, results, rocket, units)
        everything[dataset] = {"minirocket": rocket, "test_units": units, "results": results, "sweeps": raw_sweeps}
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1, default=str))
    print(f"\n(command: {' '.join(sys.argv)}; {time.strftime('%Y-%m-%d')})")


if __name__ == "__main__":
    main()
