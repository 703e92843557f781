"""Keys a trial's result and config carry beyond metrics and hyperparameters, and how a trial is classified.

A trial is
- finished: its last result carries ``evaluation_done`` (it ran every epoch and the downstream evaluation);
- pruned: it ended without error but without that flag (ASHA stopped it early);
- failed: sslsweep stopped it (NaN loss, collapse: the reason in its last result's ``failure_reason``) or it
  raised (a crash, after ``resources.max_failures`` restarts).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from selfsup.data.errors import DataError
from selfsup.evaluation.metric_names import RANDOM_INIT_PREFIX
from selfsup.failures import TrainingFailure
from trainables.records.tags import TagValue

EPOCH = "epoch"
EVALUATION_DONE = "evaluation_done"
FAILURE_REASON = "failure_reason"
# The objective as Tune, ASHA and Optuna compare trials: the objective metric's value at every epoch, and on a
# finished trial's last epoch that value with the tie-break of ``selection.py``. Only they read it: MLflow records
# the objective metric under its own name, unchanged, and ``OBJECTIVE_METRIC``.
RANKED_OBJECTIVE = "ranked_objective"

# A result's metrics as Tune receives them: the trial's namespaced metrics other than the objective, as one JSON text.
# Tune keeps, for every number of a result, its min, max, mean, last value and last 5 and 10 values in its experiment
# state, which it saves every few seconds; with every metric a number that was tens of KB per trial. Tune, ASHA,
# Optuna and the console use only the keys left as they are (``for_tune``); MLflow records them all (``unpacked``).
PACKED_METRICS = "metrics_json"

# -------------------------------------------------------------------------------------- MLflow metrics
# A finished trial's objective value, logged once when it ends (a pruned trial's low-fidelity values stay in the
# objective metric's per-epoch history): one column, whatever the sweep optimises, that ranks finished trials only.
OBJECTIVE_METRIC = "objective"
# A test score's gain over the same backbone untrained (``RANDOM_INIT_PREFIX``): ``gain/test/linear/acc/frac_1.0``.
GAIN_PREFIX = "gain/"
TEST_PREFIX = "test/"
# On a sweep's parent run: the selected trial's objective and test scores (``best/objective``,
# ``best/test/...``); its gains keep their own name (``gain/test/...``).
BEST_PREFIX = "best/"
# The Ray node that ran the trial's rank 0 (``ray.get_runtime_context().get_node_id()``); MLflow tag
# ``sslsweep.node_id`` of the trial's run, so a multi-node sweep shows where each trial trained.
NODE_ID = "node_id"
# When rank 0 handed the result to Ray (its ``time.time()``, after the epoch's checkpoint was written): the driver's
# MLflow timestamp of the result minus this is how far result processing lags behind the trials, on one machine's
# clock or synchronised ones (benchmarks/sweep_scale.py). A flag like ``epoch``: MLflow does not record it.
REPORTED_AT = "reported_at"
# The frozen embeddings of the evaluation units, in a finished trial's last checkpoint (Parquet), logged to
# the trial's MLflow run under embeddings/ for the report's t-SNE maps.
EMBEDDINGS_FILE = "embeddings.parquet"
# A segmentation trial's example prediction (``Domain.example_prediction``: one test section, its facies and the
# report head's prediction, ``numpy.savez_compressed``), in a finished trial's last checkpoint, logged to the
# trial's MLflow run under examples/ for the report's "section | truth | prediction" figure.
SEGMENTATION_EXAMPLE_FILE = "segmentation_example.npz"
# A finished trial's own figures (``trainables.trial.trial_figures``), in its last checkpoint, logged to its MLflow
# run under figures/ so MLflow previews them: the t-SNE map of its embeddings, its test score by label fraction.
TSNE_FIGURE_FILE = "tsne.png"
LABEL_FRACTION_FIGURE_FILE = "label_fraction.png"
# The per-trial files of a finished trial's last checkpoint that go with its MLflow run: file -> artifact path.
TRIAL_ARTIFACTS = {
    EMBEDDINGS_FILE: "embeddings",
    SEGMENTATION_EXAMPLE_FILE: "examples",
    TSNE_FIGURE_FILE: "figures",
    LABEL_FRACTION_FIGURE_FILE: "figures",
}


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


def gains(metrics: dict[str, Any]) -> dict[str, float]:
    """``gain/<test metric>`` = the test score minus the same backbone's untrained score, for every test score that
    has its untrained counterpart in ``metrics``."""
    # Rounded to 1e-9: scores are fractions of a few thousand units at most, and 0.7 - 0.65 would otherwise read
    # 0.04999999999999993 in the MLflow UI.
    return {
        f"{GAIN_PREFIX}{key}": round(float(value) - float(metrics[RANDOM_INIT_PREFIX + key]), 9)
        for key, value in metrics.items()
        if key.startswith(TEST_PREFIX) and isinstance(metrics.get(RANDOM_INIT_PREFIX + key), (int, float))
    }


def for_tune(metrics: dict[str, Any], objective_metric: str) -> dict[str, Any]:
    """``metrics`` as a trial reports them to Tune: sslsweep's keys (``epoch``, ``ranked_objective``, flags) and the
    objective metric as they are, every other namespaced metric packed into ``PACKED_METRICS``."""
    packed = {key: value for key, value in metrics.items() if is_namespaced(key) and key != objective_metric}
    if not packed:
        return dict(metrics)
    kept = {key: value for key, value in metrics.items() if key not in packed}
    return {**kept, PACKED_METRICS: json.dumps(packed, default=float)}


def unpacked(result: dict[str, Any]) -> dict[str, Any]:
    """A Tune result with its ``PACKED_METRICS`` back among the other keys (a result without any as it is)."""
    if PACKED_METRICS not in result:
        return result
    return {
        **{key: value for key, value in result.items() if key != PACKED_METRICS},
        **json.loads(result[PACKED_METRICS]),
    }


def is_recorded_metric(key: str, value: Any) -> bool:
    """Whether a result's entry is a metric MLflow records: sslsweep's metrics are namespaced (``train/``, ``val/``,
    ``test/``, ``health/``, ``random_init/``); Tune's counters and timings (``training_iteration``,
    ``time_this_iter_s``, ...) and sslsweep's flags (``epoch``, the step; ``evaluation_done``) are not; nor is a
    value MLflow cannot record (``is_finite_number``)."""
    return is_namespaced(key) and is_finite_number(value)


def is_namespaced(key: str) -> bool:
    """An sslsweep metric (``train/loss``, ``val/...``), not one of Tune's counters or sslsweep's flags."""
    return "/" in key


def is_finite_number(value: Any) -> bool:
    """A number MLflow can record as a metric value (a flag's True/False is not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


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


# The line of a traceback that says why: a training failure's or a data error's message.
_REASON = re.compile(
    r"sslsweep trial stopped: (.+)|((?:"
    + "|".join(sorted(error.__name__ for error in (*TrainingFailure.__subclasses__(), DataError)))
    + r"): .+)"
)


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
