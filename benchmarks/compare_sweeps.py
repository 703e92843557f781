"""Whether two runs of one sweep recorded the same thing in MLflow: trials, outcomes, parameters and metrics.

    python benchmarks/compare_sweeps.py dump --home DIR --sweep NAME --out before.json
    python benchmarks/compare_sweeps.py diff before.json after.json [--tolerance 1e-6] [--ignore 'PATTERN' ...]

``dump`` reads the sweep's trial runs from the MLflow store of an SSLSWEEP_HOME (its ``mlflow.db``, or
``MLFLOW_TRACKING_URI``) and writes, per trial in creation order, its hyperparameters, outcome and every
metric's history (Tune's wall-clock figures left out of the comparison); ``diff`` prints what differs between two dumps and exits 1 if anything does. Used to check
that a change of structure left behaviour alone: run the same search-space file (with
``budget.max_concurrent: 1``, so that Optuna and ASHA see results in one order) before and after, dump each,
diff them. ``--ignore`` leaves out metrics and params whose names match a shell pattern, for a change that
meant to alter what is recorded and nothing else: e.g. across the change that stopped logging Tune's counters
and moved the trial number from a param to a tag, ``--ignore training_iteration --ignore 'time_*' --ignore epoch
--ignore evaluation_done --ignore sslsweep_trial_number --ignore objective --ignore 'gain/*' --ignore 'data/*'``.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def dump(home: Path, sweep: str) -> dict:
    import mlflow
    from mlflow.tracking import MlflowClient

    from trainables.records.tags import OUTCOME_TAG, ROLE_TAG, SWEEP_TAG, TRIAL_INDEX_TAG, Role

    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}"))
    client = MlflowClient()
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(
        experiments,
        filter_string=f"tags.`{SWEEP_TAG}` = '{sweep}' and tags.`{ROLE_TAG}` = '{Role.TRIAL}'",
        max_results=10_000,
    )
    trials = []
    for run in sorted(runs, key=lambda r: int(r.data.tags.get(TRIAL_INDEX_TAG, "0"))):
        histories = {
            key: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)]
            for key in sorted(run.data.metrics)
        }
        trials.append(
            {
                "index": run.data.tags.get(TRIAL_INDEX_TAG),
                "outcome": run.data.tags.get(OUTCOME_TAG),
                "params": dict(sorted(run.data.params.items())),
                "metrics": histories,
            }
        )
    return {"sweep": sweep, "trials": trials}


#: Metrics that measure the machine, not the search: Tune's wall-clock figures.
CLOCK_METRICS = ("time_since_restore", "time_this_iter_s", "time_total_s")


def differences(before: dict, after: dict, tolerance: float, ignored: tuple[str, ...] = ()) -> list[str]:
    """What differs between two dumps, leaving out Tune's clock metrics and names matching an ``ignored`` pattern."""

    def kept(names) -> set[str]:
        return {name for name in names if not any(fnmatch.fnmatchcase(name, pattern) for pattern in ignored)}

    found = []
    if len(before["trials"]) != len(after["trials"]):
        found.append(f"{len(before['trials'])} trials before, {len(after['trials'])} after")
    for old, new in zip(before["trials"], after["trials"]):
        where = f"trial {old['index']}"
        if old["outcome"] != new["outcome"]:
            found.append(f"{where}: outcome {old['outcome']} -> {new['outcome']}")
        for name in sorted(kept(set(old["params"]) | set(new["params"]))):
            if old["params"].get(name) != new["params"].get(name):
                found.append(f"{where}: param {name} {old['params'].get(name)} -> {new['params'].get(name)}")
        for key in sorted(kept(set(old["metrics"]) | set(new["metrics"])) - set(CLOCK_METRICS)):
            a, b = old["metrics"].get(key), new["metrics"].get(key)
            if a is None or b is None or len(a) != len(b):
                found.append(f"{where}: metric {key} recorded {len(a or [])} times before, {len(b or [])} after")
                continue
            for (step_a, value_a), (step_b, value_b) in zip(a, b):
                same = (math.isnan(value_a) and math.isnan(value_b)) or math.isclose(
                    value_a, value_b, rel_tol=tolerance, abs_tol=tolerance
                )
                if step_a != step_b or not same:
                    found.append(f"{where}: {key} step {step_a}: {value_a!r} -> step {step_b}: {value_b!r}")
                    break
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    dumping = commands.add_parser("dump")
    dumping.add_argument("--home", type=Path, required=True)
    dumping.add_argument("--sweep", required=True)
    dumping.add_argument("--out", type=Path, required=True)
    diffing = commands.add_parser("diff")
    diffing.add_argument("before", type=Path)
    diffing.add_argument("after", type=Path)
    diffing.add_argument("--tolerance", type=float, default=1e-6)
    diffing.add_argument(
        "--ignore", action="append", default=[], metavar="PATTERN", help="metric or param names to leave out"
    )
    args = parser.parse_args()
    if args.command == "dump":
        record = dump(args.home, args.sweep)
        args.out.write_text(json.dumps(record, indent=1, sort_keys=True))
        metrics = sum(len(t["metrics"]) for t in record["trials"])
        print(f"{len(record['trials'])} trials, {metrics} metric histories -> {args.out}")
        return
    before, after = json.loads(args.before.read_text()), json.loads(args.after.read_text())
    found = differences(before, after, args.tolerance, tuple(args.ignore))
    for line in found:
        print(line)
    print(f"{len(before['trials'])} trials compared: {'no difference' if not found else f'{len(found)} differences'}")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
