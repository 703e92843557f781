"""What each Ray Train start-up switch saves: a 2-worker TorchTrainer trial's start-up under each setting.

    python benchmarks/train_startup.py [searchspaces/barlow.yaml] [--workers 2] [--epochs 3]

For each setting, a fresh local Ray runs a sweep of two trials one after the other (the same configuration),
each a Ray Train worker group of ``--workers`` workers; start-up is the first epoch's time minus a later
epoch's, from Tune's results (as in trial_overhead.py). The settings are Ray 2.60's environment switches
(``ray/train/v2/_internal/constants.py``); sslsweep keeps those that help (``trainables/trial/launch.py``,
``TRAIN_ENVIRONMENT``). It prints figures; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trial_overhead import ROOT, breakdown, first_point, through_ray  # noqa: E402

SETTINGS = {
    "Ray's defaults": {},
    "controller poll 0.2 s": {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.2"},
    "+ no preemption watcher": {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.2", "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0"},
    "+ no Train metrics": {
        "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.2",
        "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0",
        "RAY_TRAIN_METRICS_ENABLED": "0",
    },
    "+ no state reconciliation": {
        "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.2",
        "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0",
        "RAY_TRAIN_METRICS_ENABLED": "0",
        "RAY_TRAIN_ENABLE_STATE_ACTOR_RECONCILIATION": "0",
    },
    # Ray's raylet starts idle worker processes ahead of need; with this they import torch while idle.
    "+ torch preloaded": {
        "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.2",
        "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0",
        "RAY_TRAIN_METRICS_ENABLED": "0",
        "RAY_TRAIN_ENABLE_STATE_ACTOR_RECONCILIATION": "0",
        "RAY_preload_python_modules": "torch,selfsup.pretrain,ray.train.torch",
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("searchspace", nargs="?", type=Path, default=ROOT / "searchspaces" / "barlow.yaml")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--only", nargs="+", choices=list(SETTINGS), help="run only these settings")
    args = parser.parse_args()

    from trainables.searchspace import load_sweep

    spec = load_sweep(args.searchspace)
    spec = spec.model_copy(update={"budget": spec.budget.model_copy(update={"epochs": args.epochs})})
    params = first_point(spec)
    names = {name for setting in SETTINGS.values() for name in setting}
    print(f"{args.workers}-worker Ray Train trials, {args.epochs} epochs, two trials per setting; seconds")
    print(f"  {'setting':<28} {'start-up 1st':>13} {'start-up 2nd':>13} {'per epoch':>10} {'trial total':>12}")
    for label, environment in SETTINGS.items():
        if args.only and label not in args.only:
            continue
        for name in names:  # every switch set explicitly, so sslsweep's own defaults do not apply
            os.environ[name] = environment.get(name, _RAY_DEFAULTS[name])
        figures = through_ray(args.searchspace, spec, params, args.workers, "ray_train")
        parts = [breakdown(iterations, 0.0) for iterations in figures["trials"]]
        print(
            f"  {label:<28} {parts[0]['start-up']:13.2f} {parts[1]['start-up']:13.2f} "
            f"{statistics.median(p['per epoch'] for p in parts):10.3f} "
            f"{statistics.median(figures['trial totals']):12.2f}"
        )


_RAY_DEFAULTS = {
    "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "2.0",
    "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "1",
    "RAY_TRAIN_METRICS_ENABLED": "1",
    "RAY_TRAIN_ENABLE_STATE_ACTOR_RECONCILIATION": "1",
    "RAY_preload_python_modules": "",
}

if __name__ == "__main__":
    main()
