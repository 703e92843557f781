"""Links into the MLflow UI (3.x) that open a sweep the way a decision needs it.

``runs_view_link``: the experiment's runs page in MLflow's machine-learning view (``workflowType``: without it the
page follows the browser's last choice, by default the GenAI overview), as a table, filtered to the sweep's
finished search trials and sorted by ``records.results.OBJECTIVE_METRIC`` (best first for the sweep's mode).
MLflow reads these from the URL's fragment query (``searchFilter``, ``orderByKey``, ``orderByAsc``,
``compareRunsMode``); columns cannot be chosen by URL.

``run_link``: one run's page. ``ui_base_url``: where ``tune.py ui`` serves a local store, or the tracking server;
given an empty base, a link is relative (``#/experiments/...``), for Markdown the UI itself shows.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from trainables.records.results import OBJECTIVE_METRIC, Outcome
from trainables.records.tags import OUTCOME_TAG, PARENT_RUN_ID_TAG, ROLE_TAG, Role
from trainables.tracking.stores import redact

DEFAULT_UI_PORT = 5000  # ``tune.py ui``'s default port


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


def runs_view_link(base_url: str, experiment_id: str, parent_run_id: str, mode: str) -> str:
    query = urlencode(
        {
            "workflowType": "machine_learning",
            "compareRunsMode": "TABLE",
            "searchFilter": finished_trials_filter(parent_run_id),
            "orderByKey": f"metrics.`{OBJECTIVE_METRIC}`",
            "orderByAsc": "true" if mode == "min" else "false",
        },
        quote_via=quote,
    )
    return f"{_root(base_url)}#/experiments/{experiment_id}/runs?{query}"


def run_link(base_url: str, experiment_id: str, run_id: str) -> str:
    return f"{_root(base_url)}#/experiments/{experiment_id}/runs/{run_id}"


def _root(base_url: str) -> str:
    """``base_url/``, or nothing: a link relative to the UI page it is shown in (a run's description)."""
    return f"{base_url.rstrip('/')}/" if base_url else ""
