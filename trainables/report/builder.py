"""Reports for any set of sweeps, rebuilt from what MLflow recorded: the builder reads the runs and chooses what goes
in; the document it fills (``document``) is then written (``files``) and logged (``mlflow_run``).

    python tune.py report barlow-har lfr-har                  two sweeps, by name
    python tune.py report "tags.sslsweep.method = 'lfr'"      every sweep a filter matches
    python tune.py report --nightly 2026-11-23                the sweeps of one nightly run

``build_report`` reads every number back from the tracking store (``tracking.runs``: metrics, params, tags,
artifacts; never a sweep's memory, so a report can be rebuilt later, elsewhere, from a remote server), makes the
tables (``tables``) and figures (``figures``, from the frames of ``figure_data``) and writes ``reports/<name>/``
(``files``: ``index.html``, ``report.md``, ``tables/``, ``figures/``).

What it holds: the sweeps covered; technique x backbone and SSL against supervised by label fraction (the
reference reports' Tables 3 and 4) with metric-against-label-fraction figures; per sweep its search grid
(Table 5) with a heatmap, the pretext configurations tried and Optuna's views of its study; pretext loss and
collapse monitors against epoch; t-SNE maps of each selected trial's frozen embeddings; for segmentation,
mIoU by label fraction, per-class IoU and a section with its ground truth and prediction. What cannot be
drawn (no embeddings recorded, a study not in the Optuna storage) is listed under "Notes", never silently
left out.

Every sweep writes its own report at its end (``write_sweep_report``, also logged under ``report/`` of its
parent run); ``tune.py report`` logs its report to a run of its own in experiment ``sslsweep/reports``,
tagged with the sweeps it covers. The same store gives byte-identical files: no clock, no run order.
"""

from __future__ import annotations

import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from selfsup.evaluation.metric_names import HEALTH_METRICS
from trainables import figures
from trainables.records.results import EMBEDDINGS_FILE, SEGMENTATION_EXAMPLE_FILE, TRIAL_ARTIFACTS, Outcome
from trainables.records.tags import DOWNSTREAM_DATA_TAG, OPTUNA_STUDY_TAG
from trainables.report.document import Report, ReportFigure, Section, safe_name
from trainables.report.figure_data import label_fraction_scores, scores_by_setting
from trainables.report.files import check_replaceable, write_report
from trainables.report.mlflow_run import log_report_run, log_to_parent_run
from trainables.report.sweep_answer import verdict
from trainables.report.tables import (
    HEADLINE_METRICS,
    METRIC_LABELS,
    Selected,
    per_class_iou,
    pretext_configurations,
    report_protocol,
    report_task,
    search_grid,
    segmentation_by_fraction,
    select,
    ssl_vs_supervised,
    sweeps_covered,
    technique_by_backbone,
)
from trainables.tracking.runs import ReportError, SweepRuns, download_artifact, metric_histories, resolve_sweeps
from trainables.tracking.stores import redact

EMBEDDINGS_ARTIFACT = f"{TRIAL_ARTIFACTS[EMBEDDINGS_FILE]}/{EMBEDDINGS_FILE}"
SEGMENTATION_EXAMPLE_ARTIFACT = f"{TRIAL_ARTIFACTS[SEGMENTATION_EXAMPLE_FILE]}/{SEGMENTATION_EXAMPLE_FILE}"
# A searched dimension with at most this many values among the finished runs can be a grid axis.
GRID_MAX_VALUES = 8
# t-SNE on at most this many units per split (drawn with a fixed seed): the map stays readable and the report
# over three sweeps within a minute on 2 cores.
TSNE_MAX_PER_SPLIT = 400
CURVE_KEYS = ("train/loss", *HEALTH_METRICS)


@dataclass(frozen=True)
class ReportOptions:
    """What the command line can choose: ``grid`` (rows, columns) for every sweep that recorded those
    parameters (otherwise chosen per sweep, ``grid_dimensions``); ``lines_by``: a searched parameter whose
    values get one line each in a label-fraction figure per sweep; the Optuna storage the studies are in."""

    grid: tuple[tuple[str, ...], tuple[str, ...]] | None = None
    lines_by: str | None = None
    optuna_storage: str | None = None


# ------------------------------------------------------------------------------------------------ entry points


def report_sweeps(
    tracking_uri: str,
    selectors: list[str],
    reports_dir: Path,
    *,
    name: str | None = None,
    options: ReportOptions = ReportOptions(),
    artifact_root: str | None = None,
    leading: list[Section] = (),
) -> tuple[Report, str]:
    """``tune.py report``: resolve the selectors (``tracking.runs.resolve_sweeps``), build the report into
    ``reports_dir/<name>`` (``leading`` sections first: the nightly regression table) and log it to a run of its
    own; the report and that run's id."""
    sweeps = resolve_sweeps(tracking_uri, selectors)
    name = name or default_report_name(sweeps)
    report = build_report(
        tracking_uri,
        sweeps,
        reports_dir / safe_name(name),
        title=f"sslsweep report {name}",
        options=options,
        leading=leading,
    )
    return report, log_report_run(tracking_uri, report, artifact_root)


def write_sweep_report(
    tracking_uri: str, parent_run_id: str, reports_dir: Path, optuna_storage: str | None = None
) -> tuple[SweepRuns | None, Report | None]:
    """A sweep's own report at its end, read back from MLflow like any other, into ``reports_dir/<sweep>`` and
    under ``report/`` of its parent run. Without a finished trial there is nothing to report: (sweep, None)."""
    try:
        (sweep,) = resolve_sweeps(tracking_uri, [parent_run_id])
    except ReportError:
        return None, None
    try:
        report = build_report(
            tracking_uri,
            [sweep],
            reports_dir / safe_name(sweep.name),
            title=f"sweep {sweep.name}",
            options=ReportOptions(optuna_storage=optuna_storage),
        )
    except Exception:  # noqa: BLE001 - the trials are recorded; a report that fails must not fail the sweep
        traceback.print_exc()
        print(
            f"warning: the report of sweep {sweep.name} could not be built (above); its runs are all in MLflow: "
            f"python tune.py report {parent_run_id}",
            file=sys.stderr,
        )
        return sweep, None
    log_to_parent_run(tracking_uri, parent_run_id, report)
    return sweep, report


def default_report_name(sweeps: list[SweepRuns]) -> str:
    names = sorted(sweep.name for sweep in sweeps)
    return names[0] if len(names) == 1 else "+".join(names) if len(names) <= 4 else f"{names[0]}+{len(names) - 1}-more"


def build_report(
    tracking_uri: str,
    sweeps: list[SweepRuns],
    directory: Path,
    *,
    title: str,
    options: ReportOptions = ReportOptions(),
    leading: list[Section] = (),
) -> Report:
    """Build every table and figure for ``sweeps`` and write them to ``directory`` (replaced as a whole, so no
    file of an earlier build survives)."""
    directory = Path(directory)
    check_replaceable(directory)
    builder = _Builder(tracking_uri, sweeps, options)  # refuses a request it cannot build before writing anything
    directory.parent.mkdir(parents=True, exist_ok=True)
    report = Report(directory.name, title, directory, sweeps, [*leading, *builder.sections()], builder.notes)
    return write_report(report)


# ------------------------------------------------------------------------------------------------ sections


class _Builder:
    """One report's content; a part that cannot be drawn adds a line to ``notes`` instead."""

    def __init__(self, tracking_uri: str, sweeps: list[SweepRuns], options: ReportOptions) -> None:
        self.tracking_uri, self.options = tracking_uri, options
        self.sweeps = sorted(sweeps, key=lambda sweep: sweep.name)
        self.notes: list[str] = []
        self.check_options()
        self.selections = select(self.sweeps)

    def sections(self) -> list[Section]:
        selections = self.selections
        verdicts = [text for text in (verdict(sweep, selections) for sweep in self.sweeps) if text]
        sections = [Section("Verdict", verdicts), Section("Sweeps", [sweeps_covered(self.sweeps)])]
        sections.append(self.techniques(selections))
        sections += [self.sweep_section(sweep) for sweep in self.sweeps]
        sections.append(self.training_curves())
        sections.append(self.embeddings(selections))
        if any(selection.task == "segmentation" for selection in selections):
            sections.append(self.segmentation(selections))
        return [section for section in sections if section.blocks]

    def check_options(self) -> None:
        """A requested grid or line parameter that no sweep recorded is a mistyped name, not a silent default."""
        recorded = {
            column.removeprefix("params.")
            for sweep in self.sweeps
            for column in sweep.runs
            if column.startswith("params.")
        }
        asked = [
            *(self.options.grid[0] + self.options.grid[1] if self.options.grid else ()),
            *([self.options.lines_by] if self.options.lines_by else []),
        ]
        unknown = [name for name in asked if name not in recorded]
        if unknown:
            raise ReportError(
                f"no sweep recorded parameter(s) {', '.join(unknown)}; recorded: {', '.join(sorted(recorded))}"
            )

    def techniques(self, selections: list[Selected]) -> Section:
        """Tables 3 and 4 (one pair per task where a report mixes classification and segmentation, so no row
        carries the other task's empty columns) and a label-fraction figure per task and data set."""
        section = Section("Techniques and backbones")
        tasks = sorted({selection.task for selection in selections})
        for task in tasks:
            sweeps = [sweep for sweep in self.sweeps if any(s.sweep is sweep and s.task == task for s in selections)]
            for table in (technique_by_backbone(sweeps), ssl_vs_supervised(sweeps)):
                if len(tasks) > 1:
                    table.name = f"{table.name}_{task}"
                section.blocks.append(table)
        for (task, data), group in _by_task_and_data(selections).items():
            metric = HEADLINE_METRICS[task][0]
            scores = _scores_by_backbone(group, metric)
            if scores["fraction"].nunique() < 2:
                continue
            label = f"test {METRIC_LABELS[metric]} ({', '.join(sorted({s.protocol for s in group}))})"
            section.blocks.append(
                ReportFigure.drawn(
                    figures.label_fraction_figure(scores, label, f"{data}: {METRIC_LABELS[metric]} against labels"),
                    f"label_fraction_{task}_{data}",
                    label_fraction_caption(scores, METRIC_LABELS[metric], data),
                )
            )
        return section

    def sweep_section(self, sweep: SweepRuns) -> Section:
        section = Section(f"Sweep {sweep.name}")
        dimensions = grid_dimensions(sweep, self.options.grid)
        if dimensions is not None:
            grid = search_grid(sweep, list(dimensions[0]), list(dimensions[1]))
            grid.name = f"{sweep.name}_search_grid"
            section.blocks.append(grid)
            if grid.frame.notna().any().any():
                section.blocks.append(
                    ReportFigure.drawn(
                        figures.grid_heatmap(
                            grid.frame, f"validation {sweep.objective}", f"{sweep.name}: search grid", sweep.mode
                        ),
                        f"{sweep.name}_search_grid",
                        f"{sweep.name}: the search grid of the table above as a heatmap; best cell outlined.",
                    )
                )
        configurations = pretext_configurations(sweep)
        configurations.name = f"{sweep.name}_configurations"
        section.blocks.append(configurations)
        lines_by = self.options.lines_by or _single_dimension(sweep)
        if lines_by and f"params.{lines_by}" in sweep.trials:
            block = self.lines_by_setting(sweep, lines_by)
            if block is not None:
                section.blocks.append(block)
        section.blocks += self.optuna(sweep)
        return section

    def lines_by_setting(self, sweep: SweepRuns, parameter: str) -> ReportFigure | None:
        protocol = report_protocol(sweep)
        metric = HEADLINE_METRICS[report_task(sweep, protocol)][0]
        scores = scores_by_setting(sweep, parameter, protocol, metric)
        if scores.empty or scores["fraction"].nunique() < 2:
            return None
        return ReportFigure.drawn(
            figures.label_fraction_figure(
                scores, f"test {METRIC_LABELS[metric]} ({protocol})", f"{sweep.name}: by {parameter}"
            ),
            f"{sweep.name}_by_{parameter}",
            f"{sweep.name}: test {METRIC_LABELS[metric]} against label fraction, one line per value of {parameter} "
            f"(the best finished trial with that value on validation {sweep.objective}), and the best trial's backbone "
            f"randomly initialised (dashed).",
        )

    def optuna(self, sweep: SweepRuns) -> list[ReportFigure]:
        study_name = sweep.tags.get(OPTUNA_STUDY_TAG)
        storage = self.options.optuna_storage
        if not study_name or not storage or not sweep.searched:
            if sweep.searched:
                why = "no study recorded on the parent run" if not study_name else "no Optuna storage given"
                self.notes.append(f"{sweep.name}: no Optuna views ({why})")
            return []
        study = _load_study(study_name, storage)
        if study is None:
            self.notes.append(f"{sweep.name}: no Optuna views (study {study_name} is not in {redact(storage)})")
            return []
        import optuna

        completed = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
        caveat = figures.importance_caveat(completed)
        captions = {
            "optimization_history": "the objective of each completed trial in order, and the best so far",
            "param_importances": "fANOVA importance of each searched parameter for the objective",
            "parallel_coordinate": "each completed trial's parameters and objective",
        }
        return [
            ReportFigure.drawn(
                fig,
                f"{sweep.name}_optuna_{key}",
                f"{sweep.name}: Optuna's {key.replace('_', ' ')}: {captions[key]} (study {study_name})."
                + (f" {caveat}" if key == "param_importances" and caveat else ""),
            )
            for key, fig in figures.optuna_figures(study, target_name=sweep.objective).items()
        ]

    def training_curves(self) -> Section:
        """Pretext loss and the collapse monitors against epoch: the best finished trial of each sweep (solid)
        and the trials ASHA stopped (faint)."""
        runs = []
        for sweep in self.sweeps:
            best = sweep.finished_trials.iloc[0]
            runs.append(
                (best["run_id"], f"{sweep.name} {best.get('trial')}", best.get("method") or sweep.method, False)
            )
            pruned = sweep.trials[sweep.trials["outcome"] == Outcome.PRUNED]
            runs += [
                (run["run_id"], f"{sweep.name} {run.get('trial')}", run.get("method") or sweep.method, True)
                for _, run in pruned.iterrows()
            ]
        history = metric_histories(self.tracking_uri, [run_id for run_id, *_ in runs], list(CURVE_KEYS))
        if history.empty:
            self.notes.append("no per-epoch metrics recorded: no training curves")
            return Section("Training curves")
        labels = {run_id: (label, group, pruned) for run_id, label, group, pruned in runs}
        history = history.assign(
            run=history["run_id"].map(lambda r: labels[r][0]),
            group=history["run_id"].map(lambda r: labels[r][1]),
            pruned=history["run_id"].map(lambda r: labels[r][2]),
        )
        return Section(
            "Training curves",
            [
                ReportFigure.drawn(
                    figures.training_curves(history, "pretext loss and collapse monitors"),
                    "training_curves",
                    "Pretext loss, embedding std (x sqrt(D); 0 = collapsed) and RankMe against epoch for the best finished "
                    "trial of each sweep (solid), coloured by method; trials stopped early by ASHA faint.",
                )
            ],
        )

    def selected_artifacts(self, selections: list[Selected], task: str, artifact: str, scratch: str, missing: str):
        """(selection, trial id, local path) of each selected trial of ``task`` that stored ``artifact``; a trial
        that did not is a note ending in ``missing`` (what the report goes without)."""
        for selection in selections:
            if selection.task != task:
                continue
            trial = selection.run.get("trial")
            path = download_artifact(self.tracking_uri, selection.run["run_id"], artifact, scratch)
            if path is None:
                self.notes.append(
                    f"{selection.method} / {selection.backbone}: trial {trial} of "
                    f"{selection.sweep.name} recorded no {artifact}: {missing}"
                )
                continue
            yield selection, trial, path

    def embeddings(self, selections: list[Selected]) -> Section:
        section = Section("Embeddings")
        with tempfile.TemporaryDirectory() as scratch:
            for selection, trial, path in self.selected_artifacts(
                selections, "classification", EMBEDDINGS_ARTIFACT, scratch, "no t-SNE"
            ):
                table = figures.subsample_splits(pd.read_parquet(path), TSNE_MAX_PER_SPLIT)
                section.blocks.append(
                    ReportFigure.drawn(
                        figures.tsne_figure(table, f"{selection.method} / {selection.backbone} ({trial})"),
                        f"tsne_{selection.method}_{selection.backbone}",
                        f"t-SNE of the frozen embeddings of {selection.method} / {selection.backbone} (trial {trial} of "
                        f"{selection.sweep.name}, selected on validation): train, validation and test units mapped "
                        f"together, coloured by class; test as diamonds with bold edges; at most {TSNE_MAX_PER_SPLIT} "
                        f"units per split.",
                    )
                )
        return section

    def segmentation(self, selections: list[Selected]) -> Section:
        section = Section("Segmentation", [segmentation_by_fraction(self.sweeps)])
        for sweep in self.sweeps:
            if not any(s.sweep is sweep and s.task == "segmentation" for s in selections):
                continue
            try:
                table = per_class_iou(sweep)
                table.name = f"{sweep.name}_per_class_iou"
                section.blocks.append(table)
            except ReportError as error:
                self.notes.append(str(error))
        with tempfile.TemporaryDirectory() as scratch:
            for selection, trial, path in self.selected_artifacts(
                selections, "segmentation", SEGMENTATION_EXAMPLE_ARTIFACT, scratch, "no example section"
            ):
                with np.load(path, allow_pickle=False) as example:
                    names = [str(name) for name in example["class_names"]]
                    fig = figures.segmentation_panel(
                        example["section"],
                        example["truth"],
                        example["prediction"],
                        names,
                        f"{selection.method} / {selection.backbone} ({trial})",
                    )
                section.blocks.append(
                    ReportFigure.drawn(
                        fig,
                        f"segmentation_{selection.method}_{selection.backbone}",
                        f"A test section, its ground-truth facies and the prediction of {selection.method} / "
                        f"{selection.backbone} (trial {trial}, selected on validation).",
                    )
                )
        return section


# ------------------------------------------------------------------------------------------------ choices


def grid_dimensions(sweep: SweepRuns, requested=None) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """Rows and columns of a sweep's search grid: ``requested`` where the sweep recorded all its parameters;
    otherwise up to three searched parameters with 2 to ``GRID_MAX_VALUES`` values among the finished runs
    (never a continuous one), backbone first, the last as columns. None when fewer than two qualify."""
    finished = pd.concat([sweep.trials, sweep.repeats])
    finished = finished[finished["outcome"] == Outcome.FINISHED]
    if requested is not None and all(f"params.{d}" in finished for d in (*requested[0], *requested[1])):
        return tuple(requested[0]), tuple(requested[1])
    space = (sweep.search_space or {}).get("search") or {}
    candidates = [
        d
        for d in sweep.searched
        if f"params.{d}" in finished
        and 2 <= finished[f"params.{d}"].nunique() <= GRID_MAX_VALUES
        and (not space or (space.get(d) or {}).get("type") in ("categorical", "int"))
    ]
    candidates.sort(key=lambda d: d != "backbone")  # stable: file order otherwise
    if len(candidates) < 2:
        return None
    chosen = candidates[:3]
    return tuple(chosen[:-1]), (chosen[-1],)


def _single_dimension(sweep: SweepRuns) -> str | None:
    """The parameter of a sweep that searched exactly one (lfr_seismic.yaml's number of projectors)."""
    searched = [d for d in sweep.searched if f"params.{d}" in sweep.trials]
    return searched[0] if len(searched) == 1 else None


def _scores_by_backbone(selections: list[Selected], metric: str) -> pd.DataFrame:
    """``label_fraction_scores`` with a ``backbone`` column, so the figure colours a technique's line, the backbone
    untrained and trained supervised alike. Built per backbone: the untrained and supervised lines are per
    backbone already, so the rows are the same."""
    backbones = sorted({selection.backbone for selection in selections})
    frames = [
        label_fraction_scores([s for s in selections if s.backbone == backbone], metric).assign(backbone=backbone)
        for backbone in backbones
    ]
    return pd.concat(frames, ignore_index=True)


def label_fraction_caption(scores: pd.DataFrame, metric_label: str, data: str) -> str:
    """The caption of a label-fraction figure: the line styles of the kinds it draws, and only those (no
    supervised line named where no baseline ran)."""
    kinds = set(scores["kind"])
    styles = ["pretrained solid"]
    if "random_init" in kinds:
        styles.append("the same backbone untrained dashed")
    if "supervised" in kinds:
        styles.append("trained supervised from scratch dotted")
    return (
        f"Test {metric_label} on {data} against the fraction of labelled training data (log axis), per technique "
        f"and backbone (the trial selected on validation), one colour per backbone: {', '.join(styles)}."
    )


def _by_task_and_data(selections: list[Selected]) -> dict[tuple[str, str], list[Selected]]:
    groups: dict[tuple[str, str], list[Selected]] = {}
    for selection in selections:
        data = selection.sweep.tags.get(DOWNSTREAM_DATA_TAG, "data")
        groups.setdefault((selection.task, data), []).append(selection)
    return dict(sorted(groups.items()))


def _load_study(study_name: str, storage: str):
    """The study, or None where it is not in the storage. A sqlite file that does not exist is not opened
    (opening creates it)."""
    import optuna

    if storage.startswith("sqlite:///") and not Path(storage.removeprefix("sqlite:///")).exists():
        return None
    try:
        return optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        return None
