"""Which objective picks the configuration that generalises? Selection regret of candidate objectives.

    python benchmarks/objective_selection.py [--datasets BasicMotions ArrowHead ...] [--trials 10] [--epochs 12]

For each bundled data set: a real sweep (searchspaces/barlow.yaml with only the data name changed, FIFO so
every trial finishes, random sampling so the trials spread over the space), then for every trial's final
backbone each candidate objective is computed from its frozen embeddings (validation and training data only)
beside its test accuracy, which MLflow recorded (linear probe, 100 % labels). For each candidate it prints
- regret: the sweep's best test accuracy minus that of the trial the candidate selects (0 is perfect);
- hit: whether the candidate selects a trial with the sweep's best test accuracy;
- Spearman's rho between the candidate and test accuracy over the trials.
Ties are broken as the platform does (earliest trial first). It prints figures; nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import yaml
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "ssl"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from trainables.records.results import Outcome  # noqa: E402 - after the path set-up
from trainables.records.tags import CHECKPOINT_TAG, OUTCOME_TAG, TRIAL_INDEX_TAG  # noqa: E402

CANDIDATES = [
    "val/knn/acc/frac_1.0",
    "val/linear/acc/frac_1.0",
    "cv/knn/acc/frac_1.0",
    "cv/linear/acc/frac_1.0",
    "cv/linear/f1/frac_1.0",
    "cv/linear/f1/frac_0.1",
    "health/rankme",
]
TARGET = "test/linear/acc/frac_1.0"


def sweep_one(dataset: str, trials: int, epochs: int, home: Path):
    from trial_overhead import _sweep

    raw = yaml.safe_load((ROOT / "searchspaces" / "barlow.yaml").read_text())
    raw["name"] = f"objective-{dataset}"
    raw["data"]["pretext"] = raw["data"]["downstream"] = {"source": "aeon", "name": dataset}
    raw["evaluation"]["protocols"] = ["linear", "knn"]
    raw["evaluation"]["label_fractions"] = [1.0]
    raw["budget"] = {"trials": trials, "epochs": epochs}
    raw["scheduler"] = {"type": "fifo"}
    raw["objective"] = {"metric": "health/rankme", "mode": "max"}  # any: random sampling ignores it
    raw["sampler"] = "random"
    _, outcome = _sweep(raw, home)
    return yaml.safe_load((home / "searchspace.yaml").read_text()), outcome


def candidate_values(raw: dict, home: Path, outcome) -> list[dict]:
    """Each finished trial's candidate objectives (recomputed from its backbone) and test accuracy."""
    from mlflow.tracking import MlflowClient

    from selfsup.backbones import build_backbone
    from selfsup.data.timeseries.prepare import prepare_data
    from trainables.searchspace import SweepSpec

    spec = SweepSpec.model_validate({**raw, "evaluation": {**raw["evaluation"], "protocols": ["linear", "knn"]}})
    data = prepare_data(
        spec.data.pretext,
        spec.data.downstream,
        spec.data.window.length,
        spec.data.window.overlap,
        spec.data.validation_fraction,
        spec.seed,
    )
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(outcome.experiment_name).experiment_id
    rows = []
    for run in client.search_runs([experiment], f"tags.mlflow.parentRunId = '{outcome.parent_run_id}'"):
        if run.data.tags.get(OUTCOME_TAG) != Outcome.FINISHED:
            continue
        state = torch.load(Path(run.data.tags[CHECKPOINT_TAG]) / "backbone.pt", weights_only=True)
        backbone = build_backbone(state["backbone"], in_channels=data.n_channels)
        backbone.load_state_dict(state["state_dict"])
        values = spec.domain.validation_metrics(
            backbone, data, spec.evaluation, spec.seed, torch.device("cpu"), CANDIDATES
        )
        rows.append(
            {
                "index": int(run.data.tags[TRIAL_INDEX_TAG]),
                "backbone": state["backbone"],
                TARGET: run.data.metrics[TARGET],
                **{name: values[name] for name in CANDIDATES},
            }
        )
    return sorted(rows, key=lambda row: row["index"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--datasets", nargs="+", default=["BasicMotions", "ArrowHead", "GunPoint", "PickupGestureWiimoteZ"]
    )
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=12)
    args = parser.parse_args()

    summary = {name: [] for name in CANDIDATES}
    for dataset in args.datasets:
        with tempfile.TemporaryDirectory() as home:
            raw, outcome = sweep_one(dataset, args.trials, args.epochs, Path(home))
            rows = candidate_values(raw, Path(home), outcome)
        test = np.array([row[TARGET] for row in rows])
        print(
            f"\n{dataset}: {len(rows)} finished trials, test accuracy {test.min():.3f}-{test.max():.3f} "
            f"(linear probe, 100 % labels)"
        )
        print(f"  {'objective':<26} {'selected trial':>15} {'its test acc':>13} {'regret':>7} {'hit':>4} {'rho':>6}")
        for name in CANDIDATES:
            values = np.array([row[name] for row in rows])
            chosen = int(np.flatnonzero(values == values.max())[0])  # earliest among ties, as the platform
            regret = test.max() - test[chosen]
            rho = spearmanr(values, test).statistic if len(set(values)) > 1 else float("nan")
            summary[name].append((regret, regret == 0, rho))
            print(
                f"  {name:<26} {rows[chosen]['index']:>15} {test[chosen]:13.3f} {regret:7.3f} "
                f"{'yes' if regret == 0 else 'no':>4} {rho:6.2f}"
            )
    print(f"\nover {len(args.datasets)} data sets: mean regret, hits, mean Spearman rho")
    for name, results in summary.items():
        regrets, hits, rhos = zip(*results)
        print(f"  {name:<26} {np.mean(regrets):7.3f} {sum(hits):>3}/{len(hits)} {np.nanmean(rhos):6.2f}")


if __name__ == "__main__":
    main()
