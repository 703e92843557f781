"""What pretraining adds on the image and seismic domains (issue 12's targets), from real sweeps.

    python benchmarks/domain_targets.py [--domains digits seismic] [--trials N] [--epochs N]

- digits: `searchspaces/simclr_digits.yaml` as shipped (a real Ray Tune + Optuna + MLflow sweep in a temporary
  home); the selected trial's linear probe (test accuracy at each label fraction) beside the same encoder
  untrained and a linear probe on the raw pixels (the same split, label subsets and probe).
- seismic: `searchspaces/simclr_seismic.yaml` as shipped, on the synthetic volume; test mIoU of the
  segmentation head on the frozen backbone at each label fraction, pretrained against the same backbone
  from random initialisation.

The configuration is selected on each YAML's objective (validation data); test data only reports. It prints
figures; nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "ssl"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

SEARCHSPACES = {"digits": "simclr_digits.yaml", "seismic": "simclr_seismic.yaml"}


def sweep_gain(searchspace: str, trials: int | None, epochs: int | None) -> tuple[pd.DataFrame, float, dict]:
    from method_comparison import gains, sweep_tables

    raw = yaml.safe_load((ROOT / "searchspaces" / searchspace).read_text())
    raw["evaluation"] = {**raw.get("evaluation", {}), "compare_random_init": True}
    (table,), elapsed = sweep_tables(raw, trials, epochs, "ssl_vs_supervised")
    return gains(table, "acc" if "acc" in " ".join(table.columns) else "mIoU"), elapsed, raw


def raw_pixel_probe(raw: dict) -> dict[float, float]:
    """Test accuracy of the linear probe on flattened pixels, on the sweep's own split and label subsets."""
    from selfsup.evaluation.protocol import evaluate_embeddings
    from trainables.searchspace import SweepSpec
    from trainables.trial.data_cache import data_request, prepare_requested

    spec = SweepSpec.model_validate(raw)
    data = prepare_requested(data_request(spec, {}))

    def flat(examples):
        return examples.x.reshape(len(examples.x), -1), examples.y

    scores = evaluate_embeddings(
        flat(data.train), flat(data.validation), flat(data.test), ["linear"], spec.evaluation.label_fractions, spec.seed
    )
    return {f: scores[f"test/linear/acc/frac_{f!r}"] for f in spec.evaluation.label_fractions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domains", nargs="+", default=list(SEARCHSPACES), choices=list(SEARCHSPACES))
    parser.add_argument("--trials", type=int, help="override each YAML's budget.trials")
    parser.add_argument("--epochs", type=int, help="override each YAML's budget.epochs")
    args = parser.parse_args()
    for domain in args.domains:
        table, elapsed, raw = sweep_gain(SEARCHSPACES[domain], args.trials, args.epochs)
        metric = "test accuracy, linear probe" if domain == "digits" else "test mIoU, head on the frozen backbone"
        print(
            f"\n{SEARCHSPACES[domain]}: {metric}; sweep {elapsed:.0f} s "
            f"({raw['budget']['trials']} trials x up to {raw['budget']['epochs']} epochs)"
        )
        columns = ["labels", "untrained", "pretrained", "gain over untrained (pts)"]
        if domain == "digits":
            pixels = {f"{f * 100:g} %": score for f, score in raw_pixel_probe(raw).items()}  # the tables' labels
            table["raw pixels"] = table["labels"].map(pixels)
            table["gain over raw pixels (pts)"] = 100 * (table["pretrained"] - table["raw pixels"])
            columns[2:2] = ["raw pixels"]
            columns.append("gain over raw pixels (pts)")
        print("| backbone | " + " | ".join(columns) + " |")
        print("|---" * (len(columns) + 1) + "|")
        for _, row in table.iterrows():
            cells = [row["backbone"]] + [
                row[c]
                if isinstance(row[c], str)
                else ("" if pd.isna(row[c]) else f"{row[c]:+.1f}" if "gain" in c else f"{row[c]:.3f}")
                for c in columns
            ]
            print("| " + " | ".join(map(str, cells)) + " |", flush=True)


if __name__ == "__main__":
    main()
