"""Keys a trial's result and config carry beyond metrics and hyperparameters, and how a trial is classified.

A trial is
- finished: its last result carries ``evaluation_done`` (it ran every epoch and the downstream evaluation);
- pruned: it ended without error but without that flag (ASHA stopped it early);
- failed: sslsweep stopped it (NaN loss, collapse: the reason in its last result's ``failure_reason``) or it
  raised (a crash, after ``resources.max_failures`` restarts).
"""

from __future__ import annotations

import re
from typing import Any

from trainables.records.tags import TagValue

EPOCH = "epoch"
EVALUATION_DONE = "evaluation_done"
FAILURE_REASON = "failure_reason"
# The Ray node that ran the trial's rank 0 (``ray.get_runtime_context().get_node_id()``); MLflow tag
# ``sslsweep.node_id`` of the trial's run, so a multi-node sweep shows where each trial trained.
NODE_ID = "node_id"
# The frozen embeddings of the evaluation units, in a finished trial's last checkpoint (Parquet), logged to
# the trial's MLflow run under embeddings/ for the report's t-SNE maps.
EMBEDDINGS_FILE = "embeddings.parquet"
# A segmentation trial's example prediction (``Domain.example_prediction``: one test section, its facies and the
# report head's prediction, ``numpy.savez_compressed``), in a finished trial's last checkpoint, logged to the
# trial's MLflow run under examples/ for the report's "section | truth | prediction" figure.
SEGMENTATION_EXAMPLE_FILE = "segmentation_example.npz"
# The per-trial files of a finished trial's last checkpoint that go with its MLflow run: file -> artifact path.
TRIAL_ARTIFACTS = {EMBEDDINGS_FILE: "embeddings", SEGMENTATION_EXAMPLE_FILE: "examples"}


class Outcome(TagValue):
    """How a trial ended, the value of ``OUTCOME_TAG`` (see the module docstring)."""

    FINISHED = "finished"
    PRUNED = "pruned"
    FAILED = "failed"
    # A trial a Ctrl-C (or a killed driver) left unfinished: its run is KILLED with this outcome until
    # ``tune.py --resume`` carries the trial on.
    INTERRUPTED = "interrupted"
    # A run a dead driver left open whose trial a resumed sweep did not carry on (Tune had not saved it): KILLED.
    ABANDONED = "abandoned"


# Keys sslsweep adds to a trial's config; they are not hyperparameters (``split_bookkeeping``).
TRIAL_NUMBER_KEY = "sslsweep_trial_number"  # Optuna's trial number: the tie-break (selection.py)
TRAINING_SEED_KEY = "sslsweep_training_seed"  # seeds initialisation, views and shuffling (final repeats)
REPEAT_OF_KEY = "sslsweep_repeat_of"  # the MLflow run id of the trial a final repeat re-runs
BASELINE_OF_KEY = "sslsweep_baseline_of"  # the MLflow run id of the trial a supervised baseline matches
BOOKKEEPING_KEYS = (TRIAL_NUMBER_KEY, TRAINING_SEED_KEY, REPEAT_OF_KEY, BASELINE_OF_KEY)


def split_bookkeeping(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A trial config -> (hyperparameters, sslsweep's own keys)."""
    return (
        {k: v for k, v in config.items() if k not in BOOKKEEPING_KEYS},
        {k: v for k, v in config.items() if k in BOOKKEEPING_KEYS},
    )


def outcome(last_result: dict[str, Any] | None, errored: bool) -> Outcome:
    if errored or (last_result and last_result.get(FAILURE_REASON)):
        return Outcome.FAILED
    if last_result and last_result.get(EVALUATION_DONE):
        return Outcome.FINISHED
    return Outcome.PRUNED


_REASON = re.compile(r"sslsweep trial stopped: (.+)|((?:NonFiniteLossError|CollapseError|DataError): .+)")


def failure_reason(error_text: str | None, last_result: dict[str, Any] | None = None) -> str:
    """The one line that says why a trial failed, from its last result or its error traceback."""
    if last_result and last_result.get(FAILURE_REASON):
        return str(last_result[FAILURE_REASON])
    if not error_text:
        return "unknown error (no traceback recorded)"
    for line in reversed(error_text.strip().splitlines()):
        match = _REASON.search(line)
        if match:
            return (match.group(1) or match.group(2)).strip()
    lines = [line.strip() for line in error_text.strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else "unknown error"
