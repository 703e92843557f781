"""Does the search earn its keep? Random search against TPE, with and without ASHA, on data with headroom.

    python benchmarks/search_efficiency.py [--seeds 0 1 2 3 4] [--trials 16] [--epochs 12] [--startup-trials 5]
                                           [--dataset NAME]

One wide Barlow Twins space on PickupGestureWiimoteZ (10 gestures; untrained Conv1D encoder about 0.63,
MiniRocket 0.78), run as real sweeps under four strategies, each with the same seeds:
  (a) random search, every trial the full epoch budget (FIFO)
  (b) TPE, no early stopping
  (c) TPE + ASHA, early-stopped trials told to Optuna as PRUNED (sslsweep's searcher)
  (d) TPE + ASHA as Ray's own OptunaSearch tells them (COMPLETE with their low-fidelity value)
For each sweep, trials are taken in the order they ended; after each, the epochs spent so far and the best
finished trial so far (by the validation objective; its test accuracy beside it). It prints, per strategy,
the median over seeds of the final best validation objective and test accuracy, the epochs spent, and the
epochs needed to reach random search's final best validation objective of the same seed. Target: (c)
reaches (a)'s final best with at most 40 % of (a)'s epochs. TPE's random start-up is cut from Optuna's 10
trials to ``--startup-trials`` so that a 16-trial sweep has trials left for the model. It prints figures;
nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "ssl"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from trainables.records.results import FINISHED  # noqa: E402 - after the path set-up
from trainables.records.tags import OUTCOME_TAG  # noqa: E402

OBJECTIVE = "cv/linear/acc/frac_1.0"
TEST = "test/linear/acc/frac_1.0"
SPACE = {
    "backbone": {"type": "categorical", "choices": ["conv1d", "gru"]},
    "projector_dim": {"type": "categorical", "choices": [256, 512, 1024]},
    "lambda_offdiag": {"type": "float", "low": 0.0001, "high": 0.1, "log": True},
    "lr": {"type": "float", "low": 0.0001, "high": 0.01, "log": True},
    "batch_size": {"type": "categorical", "choices": [16, 32, 64]},
    "aug_jitter": {"type": "float", "low": 0.0, "high": 0.3},
    "aug_crop_resize": {"type": "float", "low": 0.0, "high": 0.5},
    "aug_time_warp": {"type": "float", "low": 0.0, "high": 0.4},
}
STRATEGIES = {
    "(a) random, full budget": {"sampler": "random", "scheduler": {"type": "fifo"}},
    "(b) TPE, no pruning": {"sampler": "tpe", "scheduler": {"type": "fifo"}},
    "(c) TPE + ASHA, PRUNED (ours)": {
        "sampler": "tpe",
        "scheduler": {"type": "asha", "grace_period": 2, "reduction_factor": 3},
    },
    "(d) TPE + ASHA, Ray's OptunaSearch": {
        "sampler": "tpe",
        "scheduler": {"type": "asha", "grace_period": 2, "reduction_factor": 3},
    },
}


def run_strategy(
    label: str, settings: dict, seed: int, dataset: str, trials: int, epochs: int, startup_trials: int
) -> list[dict]:
    """One sweep; its trials in the order they ended: epochs run, objective and test accuracy (finished only)."""
    from mlflow.tracking import MlflowClient
    from ray.tune.search.optuna import OptunaSearch
    from trial_overhead import _sweep

    import trainables.sweep.driver

    raw = yaml.safe_load((ROOT / "searchspaces" / "barlow.yaml").read_text())
    raw.update(
        name=f"efficiency-{seed}",
        seed=seed,
        search=SPACE,
        objective={"metric": OBJECTIVE, "mode": "max"},
        budget={"trials": trials, "epochs": epochs},
        **settings,
    )
    if settings["sampler"] == "tpe":
        raw["sampler"] = {"type": "tpe", "startup_trials": startup_trials}
    raw["fixed"] = {k: v for k, v in raw["fixed"].items() if k not in SPACE}
    raw["data"]["pretext"] = raw["data"]["downstream"] = {"source": "aeon", "name": dataset}
    raw["evaluation"] = {"protocols": ["linear"], "label_fractions": [1.0], "compare_random_init": False}
    searcher = trainables.sweep.driver.OptunaStudySearcher
    if label.startswith("(d)"):
        trainables.sweep.driver.OptunaStudySearcher = OptunaSearch  # Ray's own bookkeeping, for comparison
    try:
        with tempfile.TemporaryDirectory() as home:
            _, outcome = _sweep(raw, Path(home))
            client = MlflowClient(f"sqlite:///{Path(home) / 'mlflow.db'}")
            experiment = client.get_experiment_by_name(outcome.experiment_name).experiment_id
            runs = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{outcome.parent_run_id}'")
            ended = [
                {
                    "end": run.info.end_time,
                    "epochs": len(client.get_metric_history(run.info.run_id, "train/loss")),
                    "finished": run.data.tags.get(OUTCOME_TAG) == FINISHED,
                    "objective": run.data.metrics.get(OBJECTIVE),
                    "test": run.data.metrics.get(TEST),
                }
                for run in runs
            ]
    finally:
        trainables.sweep.driver.OptunaStudySearcher = searcher
    return sorted(ended, key=lambda trial: trial["end"])


def trajectory(trials: list[dict]) -> list[tuple[int, float, float]]:
    """(epochs spent, best validation objective so far, its test accuracy) after each trial ended."""
    spent, best, points = 0, None, []
    for trial in trials:
        spent += trial["epochs"]
        if trial["finished"] and trial["objective"] is not None and (best is None or trial["objective"] > best[0]):
            best = (trial["objective"], trial["test"])
        points.append((spent, *(best or (float("nan"), float("nan")))))
    return points


def epochs_to_reach(points: list[tuple[int, float, float]], target: float) -> float:
    return next((spent for spent, value, _ in points if value >= target - 1e-9), float("inf"))


def best_within(points: list[tuple[int, float, float]], epochs: float) -> tuple[float, float]:
    """Best validation objective (and its test accuracy) among trials ended within ``epochs`` spent; 0 if none."""
    inside = [(value, test) for spent, value, test in points if spent <= epochs and value == value]
    return inside[-1] if inside else (0.0, 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--startup-trials", type=int, default=5, help="TPE's random start-up trials")
    parser.add_argument("--dataset", default="PickupGestureWiimoteZ")
    args = parser.parse_args()

    curves = {label: {} for label in STRATEGIES}
    for seed in args.seeds:
        for label, settings in STRATEGIES.items():
            curves[label][seed] = trajectory(
                run_strategy(label, settings, seed, args.dataset, args.trials, args.epochs, args.startup_trials)
            )
            spent, value, test = curves[label][seed][-1]
            print(
                f"seed {seed} {label:<36} epochs {spent:4d}  best {OBJECTIVE} {value:.4f}  its test {test:.4f}",
                flush=True,
            )

    print(
        f"\n{args.dataset}, {args.trials} trials x up to {args.epochs} epochs, seeds {args.seeds}; medians over "
        f"seeds (selection on {OBJECTIVE}, test = {TEST})"
    )
    print(
        f"  {'strategy':<36} {'best val':>9} {'its test':>9} {'epochs':>7} {'epochs to (a) best':>19} "
        f"{'share of (a)':>13}"
    )
    for label in STRATEGIES:
        finals = [curves[label][seed][-1] for seed in args.seeds]
        reach = [
            epochs_to_reach(curves[label][seed], curves["(a) random, full budget"][seed][-1][1]) for seed in args.seeds
        ]
        share = [r / curves["(a) random, full budget"][seed][-1][0] for r, seed in zip(reach, args.seeds)]
        print(
            f"  {label:<36} {statistics.median(f[1] for f in finals):9.4f} "
            f"{statistics.median(f[2] for f in finals):9.4f} {statistics.median(f[0] for f in finals):7.0f} "
            f"{statistics.median(reach):19.0f} {statistics.median(share):12.0%}"
        )
    budget = statistics.median(curves["(a) random, full budget"][seed][-1][0] for seed in args.seeds)
    marks = [0.25, 0.5, 0.75, 1.0]
    print(
        f"\n  best validation objective (its test accuracy) after a share of (a)'s {budget:.0f} epochs, median over seeds"
    )
    print(f"  {'strategy':<36} " + " ".join(f"{m:>15.0%}" for m in marks))
    for label in STRATEGIES:
        cells = []
        for mark in marks:
            reached = [best_within(curves[label][seed], mark * budget) for seed in args.seeds]
            cells.append(
                f"{statistics.median(r[0] for r in reached):.3f} ({statistics.median(r[1] for r in reached):.3f})"
            )
        print(f"  {label:<36} " + " ".join(f"{c:>15}" for c in cells))
    print(
        "  (epochs to (a) best: epochs spent until the best finished trial's validation objective reached random "
        "search's final best of the same seed; inf: never)"
    )


if __name__ == "__main__":
    main()
