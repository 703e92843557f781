"""A written report's files logged to MLflow: a run of its own in experiment ``sslsweep/reports`` (``tune.py
report``), tagged with the sweeps it covers, or under ``report/`` of a sweep's parent run (the sweep's own
report)."""

from __future__ import annotations

from mlflow.tracking import MlflowClient

from trainables.records.tags import NOTE_TAG, REPORT_PARENT_RUNS_TAG, REPORT_SWEEPS_TAG, ROLE_TAG, Role, as_written
from trainables.report.document import Report
from trainables.report.markdown import markdown_text

REPORTS_EXPERIMENT = "sslsweep/reports"
PARENT_RUN_FOLDER = "report"


def log_report_run(tracking_uri: str, report: Report, artifact_root: str | None = None) -> str:
    """Log the report's files to a new run in experiment ``sslsweep/reports``, tagged with the sweeps (names and
    parent run ids) it covers; its run id. ``artifact_root`` places a new experiment's artifacts (``tune.py``
    passes ``Stores.mlflow_artifacts``); without it MLflow's default applies (a server's own artifact store;
    ``./mlruns`` for a local database)."""
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(REPORTS_EXPERIMENT)
    experiment_id = (
        experiment.experiment_id
        if experiment is not None
        else client.create_experiment(
            REPORTS_EXPERIMENT, artifact_location=f"{artifact_root}/{REPORTS_EXPERIMENT}" if artifact_root else None
        )
    )
    sweeps = sorted(report.sweeps, key=lambda sweep: sweep.name)
    run = client.create_run(
        experiment_id,
        run_name=report.name,
        tags=as_written(
            {
                ROLE_TAG: Role.REPORT,
                REPORT_SWEEPS_TAG: ",".join(sweep.name for sweep in sweeps),
                REPORT_PARENT_RUNS_TAG: ",".join(sweep.parent_run_id for sweep in sweeps),
                # The run's description, which MLflow's UI renders as Markdown: sweep names are text there.
                NOTE_TAG: markdown_text(
                    f"{report.title}: " + ", ".join(f"{s.name} ({s.parent_run_id})" for s in sweeps)
                ),
            }
        ),
    )
    client.log_artifacts(run.info.run_id, str(report.directory))
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def log_to_parent_run(tracking_uri: str, parent_run_id: str, report: Report) -> None:
    """Log the report's files under ``report/`` of a sweep's parent run."""
    MlflowClient(tracking_uri).log_artifacts(parent_run_id, str(report.directory), PARENT_RUN_FOLDER)
