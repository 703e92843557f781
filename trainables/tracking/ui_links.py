"""Links into the MLflow UI (3.x) that open a sweep the way a decision needs it: the decision view.

The decision view is the experiment's runs page in MLflow's machine-learning view (``workflowType``: without it
the page follows the browser's last choice, by default the GenAI overview), as a table, filtered to the sweep's
finished search trials, sorted by ``records.results.OBJECTIVE_METRIC`` (best first for the sweep's mode), with the
backbone, the objective, test scores and their gains as columns. The URL's fragment query carries the filter and
the sort (``runs_view_link``: ``searchFilter``, ``orderByKey``, ``orderByAsc``) but no columns; a shared view
carries all of it (``save_decision_view``): an experiment tag ``mlflow.sharedViewState.<share key>`` holding the
page's state as JSON (its search facets and ``selectedColumns`` / ``columnOrder``, column ids such as
``metrics.`objective```), opened by ``viewStateShareKey=<share key>`` (``shared_view_link``); MLflow ignores the
shared view when the URL also names a filter or a sort, so that link names neither.

``run_link``: one run's page. ``ui_base_url``: where ``tune.py ui`` serves a local store, or the tracking server;
given an empty base, a link is relative (``#/experiments/...``), for Markdown the UI itself shows.
"""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

from mlflow.tracking import MlflowClient

from trainables.records.results import OBJECTIVE_METRIC, Outcome
from trainables.records.tags import OUTCOME_TAG, PARENT_RUN_ID_TAG, ROLE_TAG, SHARED_VIEW_TAG_PREFIX, Role
from trainables.tracking.stores import redact

DEFAULT_UI_PORT = 5000  # ``tune.py ui``'s default port
BACKBONE_PARAM = "backbone"  # the shared hyperparameter every trial has
RUN_NAME_COLUMN = "attributes.`Run Name`"  # the runs table's name column


def ui_base_url(tracking_uri: str, port: int = DEFAULT_UI_PORT) -> str:
    """The tracking server itself (credentials removed), else ``tune.py ui`` on 127.0.0.1:``port``."""
    if tracking_uri.startswith(("http://", "https://")):
        return redact(tracking_uri).rstrip("/")
    return f"http://127.0.0.1:{port}"


def finished_trials_filter(parent_run_id: str) -> str:
    """MLflow's search filter for a sweep's finished search trials."""
    return (
        f"tags.`{PARENT_RUN_ID_TAG}` = '{parent_run_id}' and tags.`{ROLE_TAG}` = '{Role.TRIAL}' "
        f"and tags.`{OUTCOME_TAG}` = '{Outcome.FINISHED}'"
    )


def runs_view_link(
    base_url: str, experiment_id: str, parent_run_id: str, mode: str, sort_metric: str = OBJECTIVE_METRIC
) -> str:
    """Filter and sort by URL (``sort_metric``: a sweep recorded before ``OBJECTIVE_METRIC`` sorts by its objective
    metric's last value, pruned trials being filtered out)."""
    query = urlencode(
        {
            "workflowType": "machine_learning",
            "compareRunsMode": "TABLE",
            "searchFilter": finished_trials_filter(parent_run_id),
            "orderByKey": f"metrics.`{sort_metric}`",
            "orderByAsc": "true" if mode == "min" else "false",
        },
        quote_via=quote,
    )
    return f"{_root(base_url)}#/experiments/{experiment_id}/runs?{query}"


def decision_view_key(parent_run_id: str) -> str:
    """The share key of a sweep's decision view: one per parent run, so an older sweep's link keeps its view."""
    return f"sslsweep-{parent_run_id}"


def save_decision_view(
    tracking_uri: str,
    experiment_id: str,
    parent_run_id: str,
    mode: str,
    metric_columns: list[str],
    param_columns: tuple[str, ...] = (BACKBONE_PARAM,),
) -> str:
    """Store the sweep's decision view as a shared view of its experiment (columns: ``param_columns``, the backbone
    by default (a sweep across methods: the method too), the objective, then ``metric_columns``); its share key."""
    leading = [f"params.`{param}`" for param in param_columns] + [f"metrics.`{OBJECTIVE_METRIC}`"]
    columns = leading + [f"metrics.`{metric}`" for metric in metric_columns]
    state = {
        "searchFilter": finished_trials_filter(parent_run_id),
        "orderByKey": f"metrics.`{OBJECTIVE_METRIC}`",
        "orderByAsc": mode == "min",
        "selectedColumns": columns,
        "columnOrder": [RUN_NAME_COLUMN, *columns],
        # Wide enough for a trial's name and a metric's whole name (MLflow cuts both at its default width).
        "columnWidths": {RUN_NAME_COLUMN: 280, **{column: 190 for column in columns[len(leading) :]}},
    }
    key = decision_view_key(parent_run_id)
    MlflowClient(tracking_uri).set_experiment_tag(experiment_id, SHARED_VIEW_TAG_PREFIX + key, json.dumps(state))
    return key


def has_shared_view(experiment_tags: dict[str, str], key: str) -> bool:
    return SHARED_VIEW_TAG_PREFIX + key in experiment_tags


def shared_view_link(base_url: str, experiment_id: str, key: str) -> str:
    query = urlencode(
        {"viewStateShareKey": key, "compareRunsMode": "TABLE", "workflowType": "machine_learning"}, quote_via=quote
    )
    return f"{_root(base_url)}#/experiments/{experiment_id}/runs?{query}"


def run_link(base_url: str, experiment_id: str, run_id: str) -> str:
    return f"{_root(base_url)}#/experiments/{experiment_id}/runs/{run_id}"


def _root(base_url: str) -> str:
    """``base_url/``, or nothing: a link relative to the UI page it is shown in (a run's description)."""
    return f"{base_url.rstrip('/')}/" if base_url else ""
