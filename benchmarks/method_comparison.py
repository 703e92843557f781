"""What each method's default sweep adds over the same backbone untrained and trained supervised.

    python benchmarks/method_comparison.py [--dataset PickupGestureWiimoteZ] [--methods simclr byol ...]
                                           [--trials 8] [--epochs 12] [--fractions 0.1 1.0] [--home DIR]
                                           [--series-length 128 --window 96 0.875] [--backbone dilated_conv1d]

For every method: its `searchspaces/<method>.yaml` as shipped, with only the data set changed (pretext and
downstream), the linear probe at 10 % and 100 % labels, and `evaluation.supervised_baseline: true`; a real
sweep (Ray Tune + Optuna + ASHA + MLflow) in a temporary home, or in ``--home`` to keep the stores (then
``SSLSWEEP_HOME=DIR python tune.py report compare-cpc compare-vicreg ...`` builds a report over them). The
configuration is selected on the YAML's objective (validation data only). Printed from each sweep's
``ssl_vs_supervised`` report table (generated from MLflow): per method and backbone, test accuracy untrained,
supervised on the same labels, pretrained, and the gains in points. Default data: PickupGestureWiimoteZ (10
gestures; untrained Conv1D about 0.63, 1-NN DTW 0.70, MiniRocket 0.78). ``--series-length`` and ``--window``
replace each YAML's series length and window too (whole gestures, as ``searchspaces/vicreg_gestures.yaml``:
``--series-length 128 --window 96 0.875``), and ``--backbone`` fixes every sweep's backbone (a searched one
included). It prints figures; nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "ssl"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

YAML_NAME = {"barlow_twins": "barlow"}  # searchspaces/<name>.yaml where it differs from the method's name
SSL_METHODS = [
    "barlow_twins",
    "vicreg",
    "simclr",
    "byol",
    "simsiam",
    "moco",
    "wmse",
    "triplet",
    "margin_contrastive",
    "cpc",
    "lfr",
    "tnc",
    "masked_reconstruction",
]
# Searched dimensions that must change with the data set, per data set and method. TNC draws an anchor's
# non-neighbours from its own series, so windows can be at most half the shortest series: 14 steps on
# PickupGestureWiimoteZ (shortest gesture 29 steps), where its YAML's 20-50 are refused before the sweep.
DATA_OVERRIDES = {("PickupGestureWiimoteZ", "tnc"): {"window_length": {"type": "categorical", "choices": [10, 14]}}}


def sweep_tables(
    raw: dict, trials: int | None, epochs: int | None, *names: str, home: Path | None = None
) -> tuple[list[pd.DataFrame], float]:
    """Run the sweep ``raw`` (budget overridden where given) in ``home`` (default: a temporary one); its report
    tables ``names`` (``reports/<sweep>/tables/<name>.csv``) and the seconds spent inside run_sweep."""
    from trial_overhead import _sweep

    if trials:
        raw["budget"]["trials"] = trials
    if epochs:
        raw["budget"]["epochs"] = epochs
    with tempfile.TemporaryDirectory() as scratch:
        elapsed, outcome = _sweep(raw, home or Path(scratch))
        tables = [pd.read_csv(outcome.report.directory / "tables" / f"{name}.csv") for name in names]
    return tables, elapsed


def gains(comparison: pd.DataFrame, metric: str = "acc") -> pd.DataFrame:
    """The ``ssl_vs_supervised`` table's ``metric`` columns under short names (untrained, supervised, pretrained,
    gains in points); rows without a pretrained score (fractions the trial did not evaluate) dropped."""
    columns = {
        f"untrained {metric}": "untrained",
        f"supervised {metric}": "supervised",
        f"SSL {metric}": "pretrained",
        f"gain over untrained {metric} (pts)": "gain over untrained (pts)",
        f"gain over supervised {metric} (pts)": "gain over supervised (pts)",
    }
    table = comparison.rename(columns=columns).reindex(columns=["method", "backbone", "labels", *columns.values()])
    return table[table["pretrained"].notna()].reset_index(drop=True)


def compare(
    method: str,
    dataset: str,
    trials: int | None,
    epochs: int | None,
    fractions: list[float],
    home: Path | None = None,
    series_length: int | None = None,
    window: tuple[int, float] | None = None,
    backbone: str | None = None,
) -> tuple[pd.DataFrame, float]:
    raw = yaml.safe_load((ROOT / "searchspaces" / f"{YAML_NAME.get(method, method)}.yaml").read_text())
    raw["name"] = f"compare-{method}"
    raw["data"]["pretext"] = raw["data"]["downstream"] = {"source": "aeon", "name": dataset}
    if series_length is not None:
        raw["data"]["series_length"] = series_length
    if window is not None:
        raw["data"]["window"] = {"length": int(window[0]), "overlap": float(window[1])}
    if backbone is not None:
        raw["search"].pop("backbone", None)
        raw["fixed"] = {**raw.get("fixed", {}), "backbone": backbone}
    raw["search"].update(DATA_OVERRIDES.get((dataset, method), {}))
    raw["evaluation"] = {
        **raw.get("evaluation", {}),
        "protocols": ["linear"],
        "label_fractions": fractions,
        "compare_random_init": True,
        "supervised_baseline": True,
    }
    (comparison, configurations), elapsed = sweep_tables(
        raw, trials, epochs, "ssl_vs_supervised", f"compare-{method}_configurations", home=home
    )
    if "num_projectors" in configurations:  # LFR: the validation score against the number of random projectors K
        print(configurations.sort_values("num_projectors").to_string(index=False), flush=True)
    return gains(comparison), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="PickupGestureWiimoteZ")
    parser.add_argument("--methods", nargs="+", default=SSL_METHODS)
    parser.add_argument("--trials", type=int, help="override each YAML's budget.trials")
    parser.add_argument("--epochs", type=int, help="override each YAML's budget.epochs")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.1, 1.0], help="label fractions evaluated")
    parser.add_argument("--home", type=Path, help="keep the sweeps' stores here (default: a temporary directory)")
    parser.add_argument("--series-length", type=int, help="resize every series to this many steps (data.series_length)")
    parser.add_argument(
        "--window", type=float, nargs=2, metavar=("LENGTH", "OVERLAP"), help="replace each YAML's data.window"
    )
    parser.add_argument("--backbone", help="fix every sweep's backbone (e.g. dilated_conv1d)")
    args = parser.parse_args()

    rows = []
    for method in args.methods:
        table, elapsed = compare(
            method,
            args.dataset,
            args.trials,
            args.epochs,
            args.fractions,
            args.home.resolve() if args.home else None,
            args.series_length,
            args.window,
            args.backbone,
        )
        table["sweep s"] = round(elapsed)
        rows.append(table)
        print(table.to_string(index=False), flush=True)
    everything = pd.concat(rows, ignore_index=True)
    print(f"\n{args.dataset}: test accuracy, linear probe, selected on each YAML's objective (validation data)")
    print(
        "| method | backbone | labels | untrained | supervised | pretrained | gain over untrained (pts) | "
        "gain over supervised (pts) | sweep s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for _, row in everything.iterrows():
        cells = [row["method"], row["backbone"], row["labels"]]
        cells += [f"{row[c]:.3f}" if pd.notna(row[c]) else "" for c in ("untrained", "supervised", "pretrained")]
        cells += [
            f"{row[c]:+.1f}" if pd.notna(row[c]) else ""
            for c in ("gain over untrained (pts)", "gain over supervised (pts)")
        ]
        cells.append(str(row["sweep s"]))
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
