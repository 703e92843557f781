"""Which trial is the sweep's best: one rule, seen the same way by Ray Tune, by Optuna and by the report.

The best trial is the FINISHED trial (it ran every epoch and the downstream evaluation) with the best
objective value; among trials with the same value, the one with the lowest trial number (Optuna's, the one in its
run's name) wins, and without trial numbers (a sweep without a searcher) the one Tune created first.
Trials ASHA stopped early never count for the report or Optuna: their values are low-fidelity.

Neither library breaks ties that way by itself: Optuna's RDB storage picks among equal best values in no
set order, and Tune's ``ExperimentAnalysis`` walks trials in the order of a set. So for them the tie-break is put
into the value they compare, once, where the trial reports its final result (``trainables/trial/worker.py``):
``results.RANKED_OBJECTIVE`` on the last epoch is ``tie_broken(value, trial_number)``, a millionth of the
objective's resolution worse per trial number (accuracies and cross-validated scores differ by 1e-5 or more; the
offset stays below 1e-9 for the first thousand trials), and Tune, ASHA and Optuna are told to compare that key.
MLflow records the objective metric as evaluated; ``best_first`` applies the same rule to MLflow's runs (value,
then the trial-number tag, then Tune's creation counter). The trial number is Optuna's, handed to the trial in its
config (``trainables.records.results.TRIAL_NUMBER_KEY``) by the searcher.
"""

from __future__ import annotations

import pandas as pd

from trainables.records.tags import TRIAL_INDEX_TAG, TRIAL_NUMBER_TAG, tag_column

# Size of the per-trial-number offset (see the module docstring).
TIE_BREAK_STEP = 1e-12


def tie_broken(value: float, trial_number: int | None, mode: str) -> float:
    """The objective value with the tie-break: later trials a hair worse, so equal values rank by creation."""
    if trial_number is None:
        return value
    offset = TIE_BREAK_STEP * trial_number
    return value - offset if mode == "max" else value + offset


def creation_index(experiment_tag: str) -> int:
    """Tune's creation counter of a trial: its experiment tag starts with it ("3_backbone=gru,...")."""
    return int(str(experiment_tag).split("_", 1)[0])


def best_first(runs: pd.DataFrame, objective_column: str, mode: str) -> pd.DataFrame:
    """MLflow child runs sorted best first: objective (missing last), then trial number, then creation (earlier
    first)."""
    if runs.empty or objective_column not in runs:
        return runs

    def numbers(tag: str) -> pd.Series:
        column = tag_column(tag)
        return pd.to_numeric(runs[column], errors="coerce") if column in runs else pd.Series(float("nan"), runs.index)

    ordered = runs.assign(_number=numbers(TRIAL_NUMBER_TAG), _created=numbers(TRIAL_INDEX_TAG)).sort_values(
        [objective_column, "_number", "_created"],
        ascending=[mode == "min", True, True],
        na_position="last",
        kind="stable",
    )
    return ordered.drop(columns=["_number", "_created"]).reset_index(drop=True)


def best_per_backbone(finished: pd.DataFrame) -> dict[str, pd.Series]:
    """Backbone -> its best run, from finished runs already sorted by ``best_first`` (the report's tables and
    the supervised baselines all mean this run by "the best trial of a backbone")."""
    return {backbone: group.iloc[0] for backbone, group in finished.groupby("params.backbone", sort=True)}
