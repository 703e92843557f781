"""Every MLflow tag sslsweep writes or reads, named once: writers and readers import the name, never spell it.

A sweep's MLflow record is one parent run (role ``sweep``) with one child run per trial (role ``trial``), per
final repeat (``repeat``) and per supervised baseline (``supervised_baseline``); ``tune.py report`` adds runs
of role ``report``; a champion backbone is a registered model version. ``tag_column(tag)`` is the tag's name in
MLflow's run frames and filter strings (``tags.<tag>``).
"""

from __future__ import annotations

import enum
from typing import Mapping

# ------------------------------------------------------------------------------- every run of a sweep
SWEEP_TAG = "sslsweep.sweep"  # the sweep's name (searchspace ``name``)
ROLE_TAG = "sslsweep.role"  # a Role
METHOD_TAG = "sslsweep.method"
BACKBONE_TAG = "sslsweep.backbone"
DOMAIN_TAG = "sslsweep.domain"  # timeseries, images, seismic
PRETEXT_DATA_TAG = "sslsweep.pretext_data"  # source:name of the data the method trains on
DOWNSTREAM_DATA_TAG = "sslsweep.downstream_data"
OBJECTIVE_TAG = "sslsweep.objective"  # the metric the search optimises
OBJECTIVE_MODE_TAG = "sslsweep.objective_mode"  # max or min

# ----------------------------------------------------------------------------------- the parent run
OPTUNA_STUDY_TAG = "sslsweep.optuna_study"  # the Optuna study (and Ray experiment) of the sweep
NIGHTLY_TAG = "sslsweep.nightly"  # YYYY-MM-DD of the nightly run the sweep belongs to
RESUMES_TAG = "sslsweep.resumes"  # how many times ``tune.py --resume`` carried it on
BEST_RUN_TAG = "sslsweep.best_run_id"  # the run of the selected trial
BEST_TRIAL_NUMBER_TAG = "sslsweep.best_trial_number"  # its trial number (TRIAL_NUMBER_TAG)
BEST_BACKBONE_TAG = "sslsweep.best_backbone"  # its backbone
# What one test unit is (``Domain.evaluation_unit``: series, windows, images, sections): what the count each
# finished trial records (``selfsup.evaluation.metric_names.TEST_UNITS_METRIC``) counts.
TEST_UNIT_TAG = "sslsweep.test_unit"

# ------------------------------------------------------------------------------------ a trial's run
TRIAL_ID_TAG = "sslsweep.trial_id"  # Tune's trial id
TRIAL_NUMBER_TAG = "sslsweep.trial_number"  # Optuna's trial number, the one in its run name (records.names)
TRIAL_INDEX_TAG = "sslsweep.trial_index"  # Tune's creation counter: the tie-break (records.selection)
TRAINING_SEED_TAG = "sslsweep.training_seed"  # the seed of initialisation, views and shuffling (final repeats)
OUTCOME_TAG = "sslsweep.outcome"  # one of the outcomes of records.results
FAILURE_REASON_TAG = "sslsweep.failure_reason"  # why a failed trial failed, one line
PRUNED_AT_EPOCH_TAG = "sslsweep.pruned_at_epoch"
NODE_ID_TAG = "sslsweep.node_id"  # the Ray node its rank 0 trained on
CHECKPOINT_TAG = "sslsweep.checkpoint_path"  # its latest checkpoint directory
RESUMED_TAG = "sslsweep.resumed"  # carried on by ``tune.py --resume``
REPEAT_OF_TAG = "sslsweep.repeat_of"  # a final repeat: the run of the trial it re-runs
BASELINE_OF_TAG = "sslsweep.baseline_of"  # a supervised baseline: the run of the trial it matches

# ------------------------------------------------------------------------- MLflow's own, which its UI shows
# The description of a run, or of an experiment (an experiment tag), in Markdown.
NOTE_TAG = "mlflow.note.content"
PARENT_RUN_ID_TAG = "mlflow.parentRunId"
RUN_NAME_TAG = "mlflow.runName"
# An experiment tag per shared view of its runs page, ``<prefix><share key>``: the view's filter, sort and columns
# as JSON, opened by ``#/experiments/<id>/runs?viewStateShareKey=<share key>`` (MLflow 3's "Views").
SHARED_VIEW_TAG_PREFIX = "mlflow.sharedViewState."

# ------------------------------------------------------------------------------------- a report run
REPORT_SWEEPS_TAG = "sslsweep.report.sweeps"
REPORT_PARENT_RUNS_TAG = "sslsweep.report.parent_runs"

# ------------------------------------------------------------------------ a registered model version
OBJECTIVE_VALUE_TAG = "sslsweep.objective_value"
DECISION_TAG = "sslsweep.champion_decision"  # why it became the champion, or why not
SCORES_TAG = "sslsweep.scores"  # its headline test score, gain over untrained and objective, one line
# On a registered model, its first tag (the Models page shows three): its champion version and that one's scores.
CHAMPION_TAG = "sslsweep.champion"
SUPERSEDED_TAG = "sslsweep.superseded_by_version"
PARENT_RUN_TAG = "sslsweep.parent_run_id"
TRIAL_RUN_TAG = "sslsweep.trial_run_id"
INPUT_SHAPE_TAG = "sslsweep.input_shape"
EMBEDDING_DIM_TAG = "sslsweep.embedding_dim"
INPUT_STANDARDISATION_TAG = "sslsweep.input_standardisation"
SERIES_LENGTH_TAG = "sslsweep.series_length"
PARAMS_TAG = "sslsweep.params"  # the trial's hyperparameters, as JSON


class TagValue(str, enum.Enum):
    """A value sslsweep writes into a tag: each member is its string wherever it is written or compared (a tag,
    a filter string, a data-frame column, a message)."""

    def __str__(self) -> str:
        return str(self.value)


class Role(TagValue):
    """What a run is, the value of ``ROLE_TAG``."""

    SWEEP = "sweep"  # the parent run of a sweep
    TRIAL = "trial"  # one configuration the search tried
    REPEAT = "repeat"  # a final re-run of a selected configuration with a new training seed
    BASELINE = "supervised_baseline"  # the same backbone trained supervised, matched with a trial
    REPORT = "report"  # a generated report


def as_written(tags: Mapping[str, object]) -> dict[str, str]:
    """``tags`` as MLflow stores them, every value a plain string (a ``Role`` written as its value)."""
    return {key: str(value) for key, value in tags.items()}


def tag_column(tag: str) -> str:
    """The tag's name in MLflow's run frames (``search_runs``) and filter strings: ``tags.<tag>``."""
    return f"tags.{tag}"
