"""The reference report's HAR protocol, on CSV sensor logs written in its format: Table 3 and Table 4.

    python benchmarks/har_protocol.py [--methods tnc barlow_twins cpc lfr] [--backbones gru conv1d]
                                      [--trials 4] [--epochs 12] [--data-dir DIR]
                                      [--pretext CSV_DIR --downstream CSV_DIR]   (your own logs instead)

1. Writes two CSV data sets (``source: csv``, the format of ``selfsup/data/timeseries/csv_logs.py``) from aeon's
   bundled BasicMotions (accelerometer + gyroscope, 6 channels, 4 activities):
   - pretext: the 40 training recordings, chained into 8 unlabelled sessions of 5 recordings each (one
     long log per session, activities switching inside it, a constant ``label`` column: the pretext task
     never sees activities; TNC's neighbourhoods span the switches as in the report's RealWorld logs);
   - downstream, the report's "lab" set: the 40 test recordings as train.csv / validation.csv / test.csv
     (20 / 8 / 12 recordings, stratified; the report's lab test set had 4 per class).
2. For each technique and backbone: the technique's ``searchspaces/<method>.yaml`` with the data swapped to
   these sets, the backbone fixed, the report's 3-layer MLP head and a linear probe at 1 / 50 / 100 % labels,
   the untrained backbone and the supervised baseline beside it; a real sweep (Ray Tune + Optuna + ASHA +
   MLflow) in a temporary home, selected on the YAML's objective (validation data only).
3. Prints Table 3 (technique x backbone: test accuracy and macro-F1 of the MLP head, 100 % labels) and
   Table 4 (supervised vs SSL at 1, 50, 100 % labels), both read from each sweep's report tables, which the
   platform generates from MLflow. It prints figures; nothing is asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "ssl"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

YAML_NAME = {"barlow_twins": "barlow"}
CHANNELS = ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]
LABEL_FRACTIONS = [0.01, 0.5, 1.0]


def _frame(recordings, labels, sessions) -> pd.DataFrame:
    parts = []
    for recording, label, session in zip(recordings, labels, sessions):
        part = pd.DataFrame(recording.T, columns=CHANNELS)
        part["label"], part["session"] = label, session
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def write_csv_sets(directory: Path, seed: int = 0) -> tuple[Path, Path]:
    """The pretext and downstream CSV directories (see the module docstring)."""
    from aeon.datasets import load_classification

    rng = np.random.default_rng(seed)
    pretext, downstream = directory / "pretext", directory / "lab"
    pretext.mkdir(parents=True, exist_ok=True)
    downstream.mkdir(parents=True, exist_ok=True)

    x_train, _ = load_classification("BasicMotions", split="train")
    order = rng.permutation(len(x_train))
    sessions = [f"log{i // 5}" for i in range(len(order))]
    logs = _frame([x_train[i] for i in order], ["unlabelled"] * len(order), sessions)
    logs.to_csv(pretext / "train.csv", index=False)
    logs.head(0).to_csv(pretext / "test.csv", index=False)  # the format wants the file; pretext reads train only

    x_test, y_test = load_classification("BasicMotions", split="test")
    splits = {"train": [], "validation": [], "test": []}
    for label in sorted(set(y_test)):
        members = rng.permutation(np.flatnonzero(y_test == label))
        splits["train"] += list(members[:5])
        splits["validation"] += list(members[5:7])
        splits["test"] += list(members[7:])
    for split, members in splits.items():
        _frame([x_test[i] for i in members], [y_test[i] for i in members], [f"{split}{i}" for i in members]).to_csv(
            downstream / f"{split}.csv", index=False
        )
    return pretext, downstream


def run(method: str, backbone: str, pretext: Path, downstream: Path, trials: int, epochs: int) -> dict:
    from trial_overhead import _sweep

    from trainables.report.tables import select

    raw = yaml.safe_load((ROOT / "searchspaces" / f"{YAML_NAME.get(method, method)}.yaml").read_text())
    raw["name"] = f"har-{method}-{backbone}"
    raw["data"]["pretext"] = {"source": "csv", "name": "BasicMotions-logs", "path": str(pretext)}
    raw["data"]["downstream"] = {"source": "csv", "name": "BasicMotions-lab", "path": str(downstream)}
    raw["search"].pop("backbone", None)
    raw["fixed"] = {**raw.get("fixed", {}), "backbone": backbone}
    raw["evaluation"] = {
        **raw.get("evaluation", {}),
        "protocols": ["mlp", "linear"],
        "label_fractions": LABEL_FRACTIONS,
        "compare_random_init": True,
        "supervised_baseline": True,
    }
    raw["budget"].update(trials=trials, epochs=epochs)
    with tempfile.TemporaryDirectory() as home:
        elapsed, outcome = _sweep(raw, Path(home))  # seconds inside run_sweep
    # The report's selection (best on validation), read with the mlp probe and, for the supervised baseline, the
    # linear probe the baseline table uses.
    (selection,) = select([outcome.sweep])
    mlp, linear = dataclasses.replace(selection, protocol="mlp"), dataclasses.replace(selection, protocol="linear")
    row = {"technique": method, "backbone": backbone, "sweep s": round(elapsed)}
    for fraction in LABEL_FRACTIONS:
        percent = f"{fraction:.0%}"
        row[f"acc {percent}"], row[f"f1 {percent}"] = mlp.test("acc", fraction).mean, mlp.test("f1", fraction).mean
        row[f"untrained acc {percent}"] = mlp.test("acc", fraction, "random_init/").mean
        supervised = linear.supervised("acc", fraction)
        row[f"supervised (linear) acc {percent}"] = supervised.mean if supervised.n else None
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=["tnc", "barlow_twins", "cpc", "lfr"])
    parser.add_argument("--backbones", nargs="+", default=["gru", "conv1d"])
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--data-dir", type=Path, help="where to write the CSV sets (default: a temporary one)")
    parser.add_argument("--pretext", type=Path, help="a CSV log directory to pretrain on instead (csv_logs.py)")
    parser.add_argument("--downstream", type=Path, help="a CSV directory with train/validation/test.csv instead")
    args = parser.parse_args()
    if (args.pretext is None) != (args.downstream is None):
        parser.error("give both --pretext and --downstream, or neither")

    with tempfile.TemporaryDirectory() as scratch:
        if args.pretext is not None:
            pretext, downstream = args.pretext.resolve(), args.downstream.resolve()
        else:
            pretext, downstream = write_csv_sets(args.data_dir or Path(scratch))
        rows = []
        for method in args.methods:
            for backbone in args.backbones:
                rows.append(run(method, backbone, pretext, downstream, args.trials, args.epochs))
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    print("\nTable 3 (HAR test, technique x backbone): MLP head on the frozen backbone, 100 % labels")
    print("| technique | backbone | accuracy | F1 | untrained accuracy | sweep s |")
    print("|---|---|---|---|---|---|")
    for _, r in table.iterrows():
        print(
            f"| {r['technique']} | {r['backbone']} | {r['acc 100%']:.3f} | {r['f1 100%']:.3f} | "
            f"{r['untrained acc 100%']:.3f} | {r['sweep s']} |"
        )
    print(
        "\nTable 4 (supervised vs SSL by label fraction: test accuracy / F1, MLP head; supervised = the same "
        "backbone trained with those labels, linear probe)"
    )
    print(
        "| technique | backbone | "
        + " | ".join(f"n = {f:.0%}" for f in LABEL_FRACTIONS)
        + " | "
        + " | ".join(f"supervised {f:.0%}" for f in LABEL_FRACTIONS)
        + " |"
    )
    print("|---|---|" + "---|" * (2 * len(LABEL_FRACTIONS)))
    for _, r in table.iterrows():
        ssl = [f"{r[f'acc {f:.0%}']:.3f} / {r[f'f1 {f:.0%}']:.3f}" for f in LABEL_FRACTIONS]
        sup = [
            f"{r[f'supervised (linear) acc {f:.0%}']:.3f}" if pd.notna(r[f"supervised (linear) acc {f:.0%}"]) else ""
            for f in LABEL_FRACTIONS
        ]
        print(f"| {r['technique']} | {r['backbone']} | " + " | ".join(ssl + sup) + " |")


if __name__ == "__main__":
    main()
