"""sslsweep: hyperparameter sweeps of self-supervised learning methods on Ray Tune + Optuna + MLflow.

    python tune.py searchspaces/barlow.yaml             run the sweep (local Ray, or RAY_ADDRESS)
    python tune.py searchspaces/barlow.yaml --dry-run   validate and show the plan, start nothing
    python tune.py report <sweep> [<sweep> ...]         tables, figures and an HTML page for recorded sweeps
    python tune.py nightly schedules/nightly.yaml    the nightly list of sweeps, compared with the last night
    python tune.py ui [--port 5000]                     the MLflow UI on the store the sweeps use (127.0.0.1)

    python tune.py searchspaces/barlow.yaml --resume    carry on an interrupted sweep (Ctrl-C, a killed driver)

Exit codes: 0 success, 1 the sweep ran but no trial finished, or Ray stopped it (out of memory, a node lost; the
command to resume is printed) (nightly: a sweep failed or a score regressed), 2 bad search-space file, data or
report request (or nothing to resume), 130 interrupted (Ctrl-C; the command to resume is printed).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from trainables.records.tags import METHOD_TAG, NIGHTLY_TAG, RUN_NAME_TAG, tag_column

EXIT_NO_TRIAL_FINISHED = 1
EXIT_STOPPED_BY_RAY = 1  # resume.SweepStopped: Ray lost processes under the sweep; it can be resumed
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # the shell's code for a command ended by SIGINT (Ctrl-C)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="tune.py",
        description=__doc__.split("\n\n")[0],
        epilog="Reports over recorded sweeps: python tune.py report --help. Stores: SSLSWEEP_HOME (default ~/.sslsweep) holds the MLflow sqlite store, the Optuna study "
        "and Ray results; MLFLOW_TRACKING_URI, SSLSWEEP_OPTUNA_STORAGE, SSLSWEEP_RAY_STORAGE and "
        "SSLSWEEP_REPORTS_DIR override each. RAY_ADDRESS selects a running cluster.",
    )
    parser.add_argument("searchspace", type=Path, help="a search-space YAML file, e.g. searchspaces/barlow.yaml")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="validate the file and print the resolved search space, budget and resources",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="print every trial's configuration and results as Tune reports them"
    )
    parser.add_argument("--trials", type=int, help="override budget.trials")
    parser.add_argument("--epochs", type=int, help="override budget.epochs")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="carry on the sweep's latest run that did not finish (Ctrl-C, a killed driver): finished "
        "trials kept, unfinished ones continued from their last checkpoint in their own MLflow "
        "runs, the Optuna study continued; same file and --trials/--epochs as that run",
    )
    return parser.parse_args(argv)


def parse_report_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="tune.py report",
        description="Tables, figures and one HTML page for any set of recorded sweeps, rebuilt from MLflow "
        "(MLFLOW_TRACKING_URI or SSLSWEEP_HOME), written to reports/<name>/ and logged to a run of its "
        "own in MLflow experiment sslsweep/reports.",
    )
    parser.add_argument(
        "sweeps",
        nargs="*",
        metavar="sweep",
        help="a sweep name (its latest run), a parent run id, or an MLflow filter string over parent "
        f"runs, e.g. \"{tag_column(METHOD_TAG)} = 'lfr'\"",
    )
    parser.add_argument(
        "--nightly",
        metavar="DATE",
        help=f"the sweeps of the nightly run of DATE (YYYY-MM-DD; parent runs tagged {NIGHTLY_TAG})",
    )
    parser.add_argument("--name", help="the report's name and directory (default: the sweep names)")
    parser.add_argument(
        "--grid",
        metavar="ROWS/COLUMNS",
        help="search-grid dimensions for every sweep that searched them, e.g. "
        "backbone,projector_dim/lambda_offdiag (default: chosen per sweep)",
    )
    parser.add_argument(
        "--lines-by",
        metavar="PARAM",
        help="a searched parameter: one line per value in a label-fraction figure per sweep",
    )
    return parser.parse_args(argv)


def parse_nightly_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="tune.py nightly",
        description=f"Run the nightly list of sweeps (each its own MLflow parent run tagged {NIGHTLY_TAG} = DATE), "
        "compare each sweep's best validation and test scores with its previous nightly run, write "
        "reports/nightly-DATE/ and log it to MLflow. Exit 1 when a sweep failed or a score regressed "
        "beyond the file's tolerance.",
    )
    parser.add_argument("file", type=Path, help="a nightly file, e.g. schedules/nightly.yaml")
    parser.add_argument("--date", help="the night's date, YYYY-MM-DD (default: today, UTC)")
    return parser.parse_args(argv)


def parse_ui_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="tune.py ui",
        description="Start the MLflow UI (mlflow server) on 127.0.0.1 over the tracking store the "
        "sweeps use (MLFLOW_TRACKING_URI or SSLSWEEP_HOME); Ctrl-C stops it.",
    )
    parser.add_argument("--port", type=int, default=5000, help="port on 127.0.0.1 (default 5000)")
    return parser.parse_args(argv)


def ui(args: argparse.Namespace) -> int:
    """Loopback only: the store holds every run's parameters and artifacts, so it is not served to the network
    (put an authenticating proxy in front of ``mlflow server`` for that; cluster/README.md)."""
    import subprocess

    from trainables.tracking.stores import redact, resolve_stores

    if not 0 < args.port < 65536:
        return fail(f"--port {args.port}: expected 1-65535")
    stores = resolve_stores()
    if stores.mlflow_uri.startswith(("http://", "https://")):
        print(f"the sweeps use the tracking server {redact(stores.mlflow_uri)}: open it in a browser")
        return 0
    # The store goes to the server through its environment (mlflow server's own variables), not its command
    # line, which every local user can read in `ps`.
    environment = {
        **os.environ,
        "MLFLOW_BACKEND_STORE_URI": stores.mlflow_uri,
        "MLFLOW_DEFAULT_ARTIFACT_ROOT": stores.mlflow_artifacts,
        # MLflow's job runner (GenAI scorers and prompt optimisation, which sweeps never use): 8 more processes
        # and about 2 GiB at idle; without it the server is 3 processes and the runs pages work the same.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(args.port),
        "--workers",
        "1",
    ]
    print(f"MLflow UI on http://127.0.0.1:{args.port} over {redact(stores.mlflow_uri)} (Ctrl-C stops it)")
    try:
        views = latest_decision_views(stores.mlflow_uri, args.port)
    except Exception as error:  # noqa: BLE001 - the links are a convenience; the UI still starts
        print(f"  (no decision views listed: {type(error).__name__}: {error})")
        views = []
    for name, link in views:
        print(f"  {name}: {link}")
    sys.stdout.flush()
    try:
        return subprocess.run(command, env=environment).returncode
    except KeyboardInterrupt:
        return 0


def latest_decision_views(tracking_uri: str, port: int, count: int = 10) -> list[tuple[str, str]]:
    """(sweep, link) for the latest parent run of up to ``count`` sweeps, newest first: each sweep's finished
    trials, best first, in the UI ``tune.py ui`` serves (``tracking.ui_links``)."""
    from mlflow.tracking import MlflowClient

    from trainables.records.results import OBJECTIVE_METRIC
    from trainables.records.tags import OBJECTIVE_MODE_TAG, OBJECTIVE_TAG, ROLE_TAG, SWEEP_TAG, Role
    from trainables.tracking.ui_links import (
        decision_view_key,
        has_shared_view,
        runs_view_link,
        shared_view_link,
        ui_base_url,
    )

    client = MlflowClient(tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments(max_results=1000)]
    if not experiments:
        return []
    parents = client.search_runs(
        experiments, f"tags.`{ROLE_TAG}` = '{Role.SWEEP}'", order_by=["attributes.start_time DESC"], max_results=200
    )
    links, seen = [], set()
    for parent in parents:
        sweep = parent.data.tags.get(SWEEP_TAG, parent.info.run_name)
        if sweep in seen:
            continue
        seen.add(sweep)
        mode = parent.data.tags.get(OBJECTIVE_MODE_TAG, "max")
        base, experiment = ui_base_url(tracking_uri, port), parent.info.experiment_id
        key = decision_view_key(parent.info.run_id)
        if has_shared_view(client.get_experiment(experiment).tags, key):
            links.append((sweep, shared_view_link(base, experiment, key)))
        else:  # a sweep recorded before decision views: filter, sort by its objective, MLflow's default columns
            objective = parent.data.tags.get(OBJECTIVE_TAG, OBJECTIVE_METRIC)
            links.append((sweep, runs_view_link(base, experiment, parent.info.run_id, mode, objective)))
    return links[:count]


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def describe(spec, stores) -> str:
    from trainables.searchspace import METHOD_PARAM
    from trainables.sweep.resources import ray_target
    from trainables.sweep.searcher import method_rotation, startup_trial_count
    from trainables.tracking.stores import redact

    methods = f"method {spec.method}" if spec.methods is None else f"methods {', '.join(spec.methods)}"
    lines = [
        f"sweep      {spec.name}: {methods}, seed {spec.seed}",
        f"data       {spec.domain.description}: pretext {spec.data.pretext.source}:{spec.data.pretext.label()} -> "
        f"downstream {spec.data.downstream.source}:{spec.data.downstream.label()}"
        + "".join(f"; {text}" for text in [spec.domain.describe_data(spec.data)] if text),
        f"evaluate   {', '.join(spec.evaluation.protocols)} at label fractions "
        f"{', '.join(f'{f:g}' for f in spec.evaluation.label_fractions)}"
        + "".join(f" ({text})" for text in [spec.domain.describe_evaluation(spec.evaluation)] if text),
        f"objective  {spec.objective.mode} {spec.objective.metric}",
        f"search     Optuna {spec.sampler.describe(startup_trial_count(spec.sampler))} sampler over",
    ]
    if spec.methods is not None:  # a conditional space: the method first, then its own parameters
        lines.append(f"  {'method':<22} categorical {list(spec.methods)}, drawn first; then that method's own")
        rotation = [
            point[METHOD_PARAM]
            for point in method_rotation(list(spec.methods), spec.sampler, spec.seed, spec.budget.trials)
        ]
        if rotation:
            lines.append(f"  {'':<22} (the start-up trials take each in turn: {', '.join(rotation)})")
        for name, choice in spec.methods.items():
            own = [f"{key} {dimension.describe()}" for key, dimension in choice.search.items()]
            own += [f"{key} = {value!r} (fixed)" for key, value in choice.fixed.items()]
            lines.append(f"    {name:<20} {'; '.join(own) or '(its defaults)'}")
        lines.append("  and, for every method")
    lines += [f"  {key:<22} {dimension.describe()}" for key, dimension in spec.search.items()] or [
        "  (nothing)" if spec.methods is None else "  (nothing more)"
    ]
    lines.append("fixed")
    # None for an image augmentation means "the preset's value" (selfsup.augmentations.images).
    lines += [
        f"  {key:<22} {'(preset)' if value is None and key.startswith('aug_') else repr(value)}"
        for key, value in sorted(spec.default_params().items())
    ]
    lines += [
        f"budget     {spec.budget.trials} trials x up to {spec.budget.epochs} epochs, concurrency "
        f"{spec.budget.max_concurrent or 'from cluster resources'}"
        + (
            f"; about {spec.budget.trials / len(spec.methods):.3g} trials per method if the search favoured none "
            f"(TPE moves trials to the methods that score better)"
            if spec.methods is not None
            else ""
        ),
        f"resources  {spec.resources.workers} worker(s) per trial x {spec.resources.cpus_per_worker:g} CPU, "
        f"{spec.resources.gpus_per_worker:g} GPU, "
        + (f"{spec.resources.memory_gib_per_worker:.3g} GiB, " if spec.resources.memory_gib_per_worker else "")
        + f"{'in a Ray Train worker group' if spec.resources.uses_ray_train else 'in the Tune trial process'}"
        f"; {spec.resources.precision}{', channels-last' if spec.resources.channels_last else ''}",
        f"scheduler  {spec.scheduler.type}"
        + (
            f" (grace {spec.scheduler.grace_period} epochs, reduction {spec.scheduler.reduction_factor:g})"
            if spec.scheduler.type == "asha"
            else ""
        ),
        *(
            [
                f"final      the best {spec.final.top_k} configuration(s) re-run with {spec.final.repeats} more "
                f"training seed(s)"
            ]
            if spec.final.repeats
            else []
        ),
        *(
            ["baseline   the best trial of each backbone trained supervised from scratch at each label fraction"]
            if spec.evaluation.supervised_baseline
            else []
        ),
        f"mlflow     {redact(stores.mlflow_uri)}",
        f"optuna     {redact(stores.optuna_url)}",
        f"ray        {ray_target()}",
    ]
    return "\n".join(lines)


def keep_local_ray_on_loopback() -> None:
    """A sweep without ``RAY_ADDRESS`` starts a Ray of its own, which nobody else should reach: its GCS, raylet
    and workers listen on the node address Ray picks, every interface by default. Ray's single-machine mode
    (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``) picks the loopback; Ray reads it when first imported, hence here.
    Not when ``ray start`` runs on this machine: ``ray.init()`` joins that cluster, on its node address. A
    cluster's own exposure is the cluster's (docs/security.md). Called by ``run`` (the command), so that a
    process that only calls ``main`` (tests) keeps its environment."""
    from trainables.sweep.resources import running_local_cluster

    if os.environ.get("RAY_ADDRESS", "") in ("", "local") and not running_local_cluster():
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from trainables.tracking.stores import StoresError

    try:
        return _command(argv)
    except StoresError as error:  # SSLSWEEP_HOME that cannot be created, a password missing on --resume
        return fail(str(error))


def _command(argv: list[str]) -> int:
    if argv[:1] == ["report"]:
        return report(parse_report_args(argv[1:]))
    if argv[:1] == ["nightly"]:
        return nightly(parse_nightly_args(argv[1:]))
    if argv[:1] == ["ui"]:
        return ui(parse_ui_args(argv[1:]))
    args = parse_args(argv)
    from trainables.searchspace import SearchSpaceError
    from trainables.sweep.prepare import prepare_sweep

    try:  # the dry run reads no data files
        spec = prepare_sweep(args.searchspace, trials=args.trials, epochs=args.epochs, read_data=not args.dry_run)
    except SearchSpaceError as error:
        return fail(str(error))

    from trainables.tracking.stores import resolve_stores

    stores = resolve_stores()
    if args.dry_run:
        from trainables.sweep.preflight import UnreachableError, check_reports_writable

        try:  # local, so the dry run can: a sweep that cannot write its report would lose it after training
            check_reports_writable(stores)
        except UnreachableError as error:
            return fail(str(error))
        print(describe(spec, stores))
        return 0

    from trainables.sweep.preflight import UnreachableError, check_stores_reachable

    try:  # a store or Ray address that cannot be reached: one line within seconds, before MLflow is read
        check_stores_reachable(stores, os.environ.get("RAY_ADDRESS"))
    except UnreachableError as error:
        return fail(str(error))

    from trainables.sweep.driver import run_sweep
    from trainables.sweep.resume import ResumeError, SweepInterrupted, SweepStopped, find_interrupted_sweep

    try:
        resume_from = find_interrupted_sweep(spec, args.searchspace, stores) if args.resume else None
    except ResumeError as error:
        return fail(str(error))

    from trainables.sweep.resources import ResourceError

    try:
        outcome = run_sweep(spec, args.searchspace, stores, resume_from=resume_from, verbose=args.verbose)
    except ResourceError as error:  # the cluster Ray joined cannot hold one trial; checked before any recording
        return fail(f"{args.searchspace}: {error}")
    except SweepInterrupted as interrupted:
        print(f"\n{interrupted}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SweepStopped as stopped:
        print(f"\nerror: {args.searchspace}: {stopped}", file=sys.stderr)
        return EXIT_STOPPED_BY_RAY
    print(summary(spec, outcome, stores))
    return 0 if outcome.sweep is not None else EXIT_NO_TRIAL_FINISHED


def report(args: argparse.Namespace) -> int:
    """``tune.py report``: every number read back from MLflow; a request that names nothing reportable is one line
    and exit 2 (no Ray is started)."""
    import datetime

    from trainables.report.builder import ReportOptions, report_sweeps
    from trainables.tracking.runs import ReportError
    from trainables.tracking.stores import resolve_stores

    selectors = list(args.sweeps)
    if args.nightly:
        try:
            datetime.date.fromisoformat(args.nightly)
        except ValueError:
            return fail(f"--nightly {args.nightly!r}: not a date (YYYY-MM-DD)")
        selectors.append(f"{tag_column(NIGHTLY_TAG)} = '{args.nightly}'")
    grid = None
    if args.grid:
        rows, _, columns = args.grid.partition("/")
        grid = (tuple(filter(None, rows.split(","))), tuple(filter(None, columns.split(","))))
        if not grid[0] or not grid[1]:
            return fail(f"--grid {args.grid!r}: expected ROWS/COLUMNS, e.g. backbone,projector_dim/lambda_offdiag")
    stores = resolve_stores()
    from trainables.sweep.preflight import UnreachableError, check_records_reachable

    try:  # an unreachable tracking server: one line within seconds, not MLflow's minutes of retries
        check_records_reachable(stores)
    except UnreachableError as error:
        return fail(str(error))
    options = ReportOptions(grid=grid, lines_by=args.lines_by, optuna_storage=stores.optuna_url)
    try:
        built, run_id = report_sweeps(
            stores.mlflow_uri,
            selectors,
            stores.reports_dir,
            name=args.name or (f"nightly-{args.nightly}" if args.nightly and not args.sweeps else None),
            options=options,
            artifact_root=stores.mlflow_artifacts,
        )
    except ReportError as error:
        return fail(str(error))
    for name, table in built.tables.items():
        if name.startswith("technique_by_backbone"):
            print(table.to_markdown())
    for note in built.notes:
        print(f"note: {note}")
    print(f"report     {built.directory}/index.html ({len(built.tables)} tables, {len(built.figures)} figures)")
    print(f"mlflow     experiment 'sslsweep/reports', run {run_id}")
    return 0


def nightly(args: argparse.Namespace) -> int:
    """``tune.py nightly``: every sweep of the file validated (data included) before Ray starts, then run in turn;
    a sweep that fails does not stop the night."""
    import datetime
    import traceback

    from trainables.report.builder import ReportOptions, report_sweeps
    from trainables.report.document import Section
    from trainables.report.tables import text_table
    from trainables.searchspace import SearchSpaceError
    from trainables.sweep.nightly import (
        NightlyError,
        load_nightly,
        night_failed,
        regression_markdown_frame,
        regression_table,
    )
    from trainables.sweep.prepare import prepare_sweep
    from trainables.sweep.resources import ResourceError
    from trainables.tracking.runs import ReportError
    from trainables.tracking.stores import resolve_stores

    date = args.date or datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    try:
        datetime.date.fromisoformat(date)
        plan = load_nightly(args.file)
    except ValueError as error:  # NightlyError, or the date
        return fail(str(error) if isinstance(error, NightlyError) else f"--date {date!r}: not a date (YYYY-MM-DD)")
    specs = []
    for path in plan.sweep_files:
        try:
            spec = prepare_sweep(
                path,
                trials=plan.spec.budget.trials,
                epochs=plan.spec.budget.epochs,
                flags={"trials": "nightly budget.trials", "epochs": "nightly budget.epochs"},
            )
        except SearchSpaceError as error:
            return fail(f"{args.file}: {error}")
        specs.append((spec, path))
    names = [spec.name for spec, _ in specs]
    if len(set(names)) < len(names):
        return fail(f"{args.file}: sweeps: two files share a sweep name ({', '.join(names)}); nights compare by name")

    from trainables.sweep.driver import run_sweep
    from trainables.sweep.preflight import UnreachableError, check_stores_reachable
    from trainables.sweep.resume import SweepInterrupted, SweepStopped

    stores = resolve_stores()
    try:
        check_stores_reachable(stores, os.environ.get("RAY_ADDRESS"))
    except UnreachableError as error:
        return fail(str(error))
    tonight = {}
    for spec, path in specs:
        try:
            outcome = run_sweep(spec, path, stores, parent_tags={NIGHTLY_TAG: date})
            tonight[spec.name] = outcome.sweep
            print(summary(spec, outcome, stores))
        except ResourceError as error:  # the cluster cannot run this sweep: one line, a failed sweep tonight
            print(f"error: {path}: {error}", file=sys.stderr)
            tonight[spec.name] = None
        except SweepStopped as stopped:  # Ray lost processes under it: a failed sweep tonight, resumable
            print(f"error: {path}: {stopped}", file=sys.stderr)
            tonight[spec.name] = None
        except SweepInterrupted as interrupted:  # Ctrl-C ends the night, not just this sweep
            print(f"\n{interrupted}\nthe night {date} stopped at {path}", file=sys.stderr)
            return EXIT_INTERRUPTED
        except Exception:  # noqa: BLE001 - one broken sweep is a failed night, not a lost one
            traceback.print_exc()
            tonight[spec.name] = None
    table = regression_table(stores.mlflow_uri, tonight, date, plan.spec.tolerance)
    regression = text_table(
        regression_markdown_frame(table),
        "regression",
        f"Night {date} against each sweep's previous nightly run: the best validation objective "
        f"and the selected trial's test score; regressed = worse by more than "
        f"{plan.spec.tolerance:g}; failed = no finished trial tonight.",
    )
    print("\n" + regression.to_markdown())
    finished = [sweep.parent_run_id for sweep in tonight.values() if sweep is not None]
    if finished:
        try:
            built, run_id = report_sweeps(
                stores.mlflow_uri,
                finished,
                stores.reports_dir,
                name=f"nightly-{date}",
                options=ReportOptions(optuna_storage=stores.optuna_url),
                artifact_root=stores.mlflow_artifacts,
                leading=[Section("Regression against the previous night", [regression])],
            )
            print(f"report     {built.directory}/index.html\nmlflow     experiment 'sslsweep/reports', run {run_id}")
        except ReportError as error:
            print(f"warning: no nightly report: {error}", file=sys.stderr)
    return EXIT_NO_TRIAL_FINISHED if night_failed(table) else 0


def summary(spec, outcome, stores) -> str:
    from selfsup.evaluation.metric_names import TEST_UNITS_METRIC
    from trainables.records.names import test_units_text
    from trainables.records.results import Outcome
    from trainables.tracking.stores import redact

    ended = list(outcome.outcomes.values())
    finished, pruned, failed = (ended.count(kind) for kind in (Outcome.FINISHED, Outcome.PRUNED, Outcome.FAILED))
    lines = [
        "",
        f"sweep {spec.name}: {finished} finished, {pruned} pruned, {failed} failed",
    ]
    if outcome.sweep is not None:
        best = outcome.sweep.finished_trials.iloc[0]
        params = {k.removeprefix("params."): v for k, v in best.items() if k.startswith("params.")}
        lines.append(
            f"best trial {best.get(tag_column(RUN_NAME_TAG))} (run {best['run_id']}): "
            # A sweep across methods: the other methods' own parameters are empty (NaN) in this trial's row.
            + ", ".join(f"{k}={params[k]}" for k in sorted(spec.searched_names()) if isinstance(params.get(k), str))
        )
        lines.append(f"  validation {spec.objective.metric} = {best.get('metrics.' + spec.objective.metric):.4f}")
        headline = f"/{spec.domain.report_metrics[0]}/"  # acc, or miou for segmentation
        test_cols = sorted(c for c in best.index if c.startswith("metrics.test/") and headline in c)
        for column in test_cols:
            lines.append(f"  {column.removeprefix('metrics.')} = {best[column]:.4f}" + _gain(best, column))
        units = best.get(f"metrics.{TEST_UNITS_METRIC}")
        if test_cols and units == units and units:  # recorded (not NaN) and not zero
            noun = spec.domain.evaluation_unit(spec.evaluation)
            lines.append(f"  (test scores over {test_units_text(int(units), noun, spec.domain.task)})")
    if outcome.report is not None:
        lines.append(f"report     {outcome.report.directory}/index.html (tables/, figures/, report.md)")
    lines += [f"registry   {registration.uri}: {registration.decision}" for registration in outcome.registrations]
    lines += [
        f"mlflow     experiment '{outcome.experiment_name}', parent run {outcome.parent_run_id}",
        f"optuna     study '{outcome.study_name}' in {redact(stores.optuna_url)}",
        f"open the MLflow UI:  {stores.ui_command()}",
    ]
    if outcome.decision_view:
        lines.append(f"decision view:       {outcome.decision_view}")
    return "\n".join(lines)


def _gain(best, column: str) -> str:
    from selfsup.evaluation.metric_names import RANDOM_INIT_PREFIX

    baseline = best.get(column.replace("metrics.", f"metrics.{RANDOM_INIT_PREFIX}", 1))
    if baseline is None or baseline != baseline:
        return ""
    return f"   (untrained backbone {baseline:.4f}, gain {best[column] - baseline:+.4f})"


def run(argv: list[str] | None = None) -> int:
    """``main``, with a Ctrl-C that came before a sweep recorded anything (imports, data checks, Ray's start) as
    one line; once a sweep has its parent run, ``run_sweep`` closes its records itself (``SweepInterrupted``)."""
    keep_local_ray_on_loopback()
    try:
        return main(argv)
    except KeyboardInterrupt:
        print("\ninterrupted (Ctrl-C) before a sweep began: nothing was recorded", file=sys.stderr)
        return EXIT_INTERRUPTED


def console() -> int:
    """The ``sslsweep`` command that ``pip install`` puts on the PATH (pyproject.toml): ``sslsweep run FILE ...``
    is ``python tune.py FILE ...``; ``sslsweep report|nightly|ui ...`` as in tune.py."""
    argv = sys.argv[1:]
    if argv[:1] == ["run"]:
        return run(argv[1:])
    if argv[:1] in (["report"], ["nightly"], ["ui"]):
        return run(argv)
    print(
        "usage: sslsweep run FILE [--dry-run] [--trials N] [--epochs N] [--resume] | sslsweep report ... | "
        "sslsweep nightly FILE | sslsweep ui [--port N]",
        file=sys.stderr,
    )
    return 0 if argv[:1] in (["-h"], ["--help"]) else EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(run())
