"""Cross-sweep report tables, in the shape of the reference reports, from sweeps read back from MLflow.

- ``technique_by_backbone``: per technique (method) and backbone, the finished trial selected on validation,
  with its test scores, the same backbone untrained and supervised (reference Table 3).
- ``ssl_vs_supervised``: the same selection at every label fraction: supervised, untrained, SSL, gains
  (reference Table 4).
- ``search_grid``: one sweep's validation objective pivoted over chosen searched dimensions, the best cell
  marked (reference Table 5, the Barlow Twins grid).
- ``segmentation_by_fraction``, ``per_class_iou``, ``pretext_configurations``: the seismic reports' mIoU by
  label fraction, per-class IoU of the best trial, and the pretext configurations tried.

Selection is always on validation: each sweep's own objective (tag ``sslsweep.objective``) in its own mode
(``report_runs``), with selection.py's rule (finished search trials only, ties by creation); test scores only
report. Every caption names the metric that chose. A cell whose configuration was re-run with other training
seeds (``final.repeats``: role ``repeat``, ``sslsweep.repeat_of``) shows ``mean ± std (n=k)`` over the trial
and its finished repeats; otherwise the caption says there is one run per cell.

A ``Table`` keeps the numbers (``frame``, for CSV and figures) apart from their text: scores with 3
decimals, gains as signed percentage points with 1 decimal (``+4.2``), missing values as empty cells (never
0), the best value of each column (as displayed) in bold. The same store gives byte-identical Markdown.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from selfsup.evaluation.metric_names import (
    ALL_PROTOCOLS,
    RANDOM_INIT_PREFIX,
    SEGMENTATION_PROTOCOLS,
    eval_metric_name,
    parse_eval_metric_name,
)
from trainables.records.results import FINISHED
from trainables.records.selection import best_first, best_per_backbone
from trainables.records.tags import BASELINE_OF_TAG, TRIAL_ID_TAG, tag_column
from trainables.report.markdown import markdown_text
from trainables.tracking.runs import ReportError, SweepRuns

SCORE_DECIMALS = 3
GAIN_DECIMALS = 1
HEADLINE_METRICS = {"classification": ("acc", "f1"), "segmentation": ("miou", "mf1")}
METRIC_LABELS = {
    "acc": "acc",
    "f1": "F1",
    "top5": "top-5",
    "miou": "mIoU",
    "mf1": "mF1",
    "pixel_acc": "pixel acc",
    "fwiou": "fwIoU",
}
# Where the objective names no protocol (train/loss, health/...), the probe reported: the reference reports'.
PROTOCOL_PREFERENCE = ("linear", "seg_frozen") + ALL_PROTOCOLS


# ------------------------------------------------------------------------------------------------ Table


@dataclass
class Table:
    """A report table: numbers in ``frame`` (row labels in its index), their text derived on output.

    ``counts`` holds how many runs each cell averages and ``spread`` their std (cells over repeats);
    ``best`` marks the cells shown in bold; ``gain_columns`` are percentage points, not scores;
    ``sources`` names the runs behind each row (sweep, trial, run id), for the HTML page's links.
    """

    name: str
    caption: str
    frame: pd.DataFrame
    counts: pd.DataFrame
    spread: pd.DataFrame
    best: pd.DataFrame
    gain_columns: tuple[str, ...] = ()
    sources: pd.DataFrame | None = None

    def cell_text(self, row: int, column: str) -> str:
        mean = self.frame[column].iloc[row]
        if pd.isna(mean):
            return ""
        if column in self.gain_columns:
            # + 0.0 turns a rounded -0.0 into 0.0: "+0.0", never "-0.0".
            return f"{round(float(mean), GAIN_DECIMALS) + 0.0:+.{GAIN_DECIMALS}f}"
        text = f"{mean:.{SCORE_DECIMALS}f}"
        count = int(self.counts[column].iloc[row])
        if count > 1:
            text += f" ± {self.spread[column].iloc[row]:.{SCORE_DECIMALS}f} (n={count})"
        return text

    def display(self, mark, escape=lambda text: text) -> pd.DataFrame:
        """The table as text: index levels as leading columns, best cells wrapped by ``mark``."""
        labels = self.frame.index.to_frame(index=False).astype("object")
        labels = labels.map(lambda value: "" if _missing(value) else escape(str(value)))
        labels.columns = [escape(str(name)) for name in labels.columns]
        values = {}
        for column in self.frame.columns:
            texts = [escape(self.cell_text(row, column)) for row in range(len(self.frame))]
            values[escape(str(column))] = [
                mark(text) if text and best else text for text, best in zip(texts, self.best[column])
            ]
        return pd.concat([labels, pd.DataFrame(values)], axis=1)

    def to_markdown(self, caption: bool = True) -> str:
        """A GitHub pipe table (caption above it), values right-aligned, best cells in ``**bold**``; the caption,
        labels and column names escaped (``markdown_text``: a sweep name or parameter value is text, never markup).

        Written here rather than with ``DataFrame.to_markdown``, which needs ``tabulate`` (not a dependency)."""
        table = self.display(mark=lambda text: f"**{text}**", escape=markdown_text)
        label_count = self.frame.index.nlevels
        header = "| " + " | ".join(table.columns) + " |"
        rule = "|" + "|".join("---" if i < label_count else "---:" for i in range(len(table.columns))) + "|"
        body = ["| " + " | ".join(row) + " |" for row in table.itertuples(index=False)]
        text = "\n".join([header, rule, *body])
        return f"{markdown_text(self.caption)}\n\n{text}\n" if caption else f"{text}\n"

    def to_html(self) -> str:
        """A plain ``<table>`` (the caption stays with the page), best cells in ``<strong>``."""
        table = self.display(mark=lambda text: f"<strong>{text}</strong>", escape=html.escape)
        return table.to_html(index=False, escape=False, border=0)

    def to_csv(self, path: str | Path) -> Path:
        """The numbers: means, and for columns with repeated cells their std and run count beside them."""
        out = self.frame.copy()
        for column in self.frame.columns:
            if (self.counts[column] > 1).any():
                out[f"{column} std"] = self.spread[column]
                out[f"{column} n"] = self.counts[column]
        path = Path(path)
        out.to_csv(path)
        return path


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


@dataclass(frozen=True)
class Cell:
    """What one cell summarises: the mean, std and number of the runs' values."""

    mean: float
    std: float
    n: int


EMPTY = Cell(math.nan, math.nan, 0)


def _summary(runs: pd.DataFrame, column: str) -> Cell:
    if column not in runs:
        return EMPTY
    values = pd.to_numeric(runs[column], errors="coerce").dropna()
    return Cell(values.mean(), values.std(ddof=1), len(values)) if len(values) else EMPTY


def _points(a: Cell, b: Cell) -> Cell:
    """a - b in percentage points (scores are fractions in [0, 1])."""
    if not (a.n and b.n):
        return EMPTY
    return Cell(100 * (a.mean - b.mean), math.nan, 1)


def _table(
    name: str,
    caption: str,
    frame: pd.DataFrame,
    counts: pd.DataFrame,
    spread: pd.DataFrame,
    directions: dict[str, str],
    gain_columns=(),
    within: str | None = None,
    sources: pd.DataFrame | None = None,
) -> Table:
    """A Table with columns no run measured dropped, the best cells of each column marked (within each group
    of index level ``within`` if given) and the caption told whether cells average repeats."""
    measured = [column for column in frame.columns if frame[column].notna().any()]
    frame, counts, spread = frame[measured], counts[measured], spread[measured]
    directions = {column: mode for column, mode in directions.items() if column in measured}
    best = _best_cells(frame, directions, gain_columns, within)
    repeats_note = (
        " Cells over repeated configurations: mean ± std over training seeds (n runs)."
        if (counts > 1).any().any()
        else " One run per cell."
    )
    return Table(
        name,
        caption + repeats_note,
        frame,
        counts,
        spread,
        best,
        tuple(column for column in gain_columns if column in measured),
        sources,
    )


def _from_cells(
    name: str,
    caption: str,
    index_names: list[str],
    rows: list[tuple[tuple, dict[str, Cell]]],
    columns: list[str],
    directions: dict[str, str],
    gain_columns=(),
    within: str | None = None,
    sources: pd.DataFrame | None = None,
) -> Table:
    index = pd.MultiIndex.from_tuples([key for key, _ in rows], names=index_names)

    def part(attribute: str) -> pd.DataFrame:
        return pd.DataFrame(
            [[getattr(cells.get(column, EMPTY), attribute) for column in columns] for _, cells in rows],
            index=index,
            columns=columns,
            dtype=float,
        )

    return _table(
        name,
        caption,
        part("mean"),
        part("n").fillna(0).astype(int),
        part("std"),
        directions,
        gain_columns,
        within,
        sources,
    )


def _best_cells(
    frame: pd.DataFrame,
    directions: dict[str, str],
    gain_columns=(),
    within: str | None = None,
) -> pd.DataFrame:
    """Per column, the cells whose displayed value is the best (all of them on a displayed tie)."""
    best = pd.DataFrame(False, index=frame.index, columns=frame.columns)
    for column, mode in directions.items():
        shown = frame[column].round(GAIN_DECIMALS if column in gain_columns else SCORE_DECIMALS)
        target = (
            shown.groupby(level=within, sort=False).transform(mode)
            if within
            else pd.Series(shown.agg(mode), index=shown.index)
        )
        best[column] = shown.eq(target)
    return best


# ------------------------------------------------------------------------------------------------ selection


@dataclass(frozen=True)
class Selected:
    """The trial a technique x backbone row reports: selected on validation, with its finished repeats."""

    sweep: SweepRuns
    run: pd.Series
    members: pd.DataFrame  # the trial and its finished repeats: what the row's test cells average
    protocol: str
    task: str  # "classification" | "segmentation"

    @property
    def method(self) -> str:
        return self.sweep.method

    @property
    def backbone(self) -> str:
        return str(self.run["backbone"])

    @property
    def metrics(self) -> tuple[str, ...]:
        return HEADLINE_METRICS[self.task]

    def test_fractions(self, prefix: str = "") -> list[float]:
        """Label fractions at which the trial has a test score of its protocol's headline metric."""
        return _fractions(self.members, "test", self.protocol, self.metrics[0], prefix)

    @property
    def headline_fraction(self) -> float | None:
        """100 % of the labels, or the largest fraction evaluated where 100 % was not."""
        fractions = self.test_fractions()
        return 1.0 if 1.0 in fractions else (max(fractions) if fractions else None)

    def test(self, metric: str, fraction: float, prefix: str = "") -> Cell:
        return _summary(self.members, f"metrics.{eval_metric_name('test', self.protocol, metric, fraction, prefix)}")

    @property
    def baselines(self) -> pd.DataFrame:
        """This trial's finished supervised baselines (``sslsweep.baseline_of`` = its run id), one per fraction."""
        baselines = self.sweep.baselines
        if tag_column(BASELINE_OF_TAG) not in baselines or "params.label_fraction" not in baselines:
            return baselines.iloc[0:0]
        return baselines[
            (baselines[tag_column(BASELINE_OF_TAG)] == self.run["run_id"]) & (baselines["outcome"] == FINISHED)
        ]

    def supervised_fractions(self) -> list[float]:
        return sorted(
            pd.to_numeric(self.baselines.get("params.label_fraction", pd.Series(dtype=float)), errors="coerce")
            .dropna()
            .unique()
        )

    def supervised(self, metric: str, fraction: float) -> Cell:
        """The supervised baseline trained on ``fraction`` of the labels, scored with the probe at that fraction
        (as ``report.pretraining_gain_table`` reads it)."""
        baselines = self.baselines
        if baselines.empty:
            return EMPTY
        trained_on = pd.to_numeric(baselines["params.label_fraction"], errors="coerce")
        return _summary(
            baselines[(trained_on - fraction).abs() < 1e-9],
            f"metrics.{eval_metric_name('test', self.protocol, metric, fraction)}",
        )

    def source(self) -> dict[str, str]:
        return {"sweep": self.sweep.name, "trial": self.run.get(tag_column(TRIAL_ID_TAG)), "run_id": self.run["run_id"]}


def _with_repeats(sweep: SweepRuns, run_id: str) -> pd.DataFrame:
    """A trial and its finished repeats: the runs one configuration's cells average."""
    return pd.concat([sweep.runs[sweep.runs["run_id"] == run_id], sweep.finished_repeats_of(run_id)])


def _eval_columns(runs: pd.DataFrame):
    """(column, parsed name) of every evaluation metric column with a value in ``runs``."""
    for column in runs.columns:
        if column.startswith("metrics.") and runs[column].notna().any():
            parsed = parse_eval_metric_name(column.removeprefix("metrics."))
            if parsed is not None:
                yield column, parsed


def _fractions(runs: pd.DataFrame, split: str, protocol: str, metric: str, prefix: str = "") -> list[float]:
    return sorted(
        {
            parsed.fraction
            for _, parsed in _eval_columns(runs)
            if (parsed.split, parsed.protocol, parsed.metric, parsed.prefix) == (split, protocol, metric, prefix)
        }
    )


def test_scores(runs: pd.DataFrame, protocol: str, metric: str, prefix: str = "") -> dict[float, float]:
    """Label fraction -> the mean test ``metric`` of ``runs`` with ``protocol``, at every fraction they evaluated."""
    return {
        fraction: _summary(runs, f"metrics.{eval_metric_name('test', protocol, metric, fraction, prefix)}").mean
        for fraction in _fractions(runs, "test", protocol, metric, prefix)
    }


def report_protocol(sweep: SweepRuns) -> str:
    """The objective's protocol; for objectives without one (train/loss, health/...), the preferred protocol
    the finished trials were tested with."""
    parsed = parse_eval_metric_name(sweep.objective)
    if parsed is not None:
        return parsed.protocol
    tested = {parsed.protocol for _, parsed in _eval_columns(sweep.finished_trials) if parsed.split == "test"}
    for protocol in PROTOCOL_PREFERENCE:
        if protocol in tested:
            return protocol
    raise ReportError(f"sweep '{sweep.name}': its finished trials record no test evaluation to report")


def _check_selects_on_validation(sweep: SweepRuns) -> None:
    parsed = parse_eval_metric_name(sweep.objective)
    if not sweep.objective or (parsed is not None and parsed.split == "test"):
        raise ReportError(
            f"sweep '{sweep.name}' records objective '{sweep.objective}': a report selects on validation only"
        )


def select(sweeps: list[SweepRuns]) -> list[Selected]:
    """Per (method, backbone) over all sweeps: the best finished search trial on validation, sorted by method and
    backbone. Sweeps of one method share a row per backbone only if they select on the same objective."""
    candidates: dict[tuple[str, str], list[tuple[SweepRuns, pd.Series]]] = defaultdict(list)
    for sweep in sweeps:
        _check_selects_on_validation(sweep)
        finished = sweep.finished_trials
        # selection.py groups by params.backbone; the frame's backbone also covers runs that only tagged it.
        finished = finished.assign(**{"params.backbone": finished["backbone"].fillna("")})
        for backbone, run in best_per_backbone(finished).items():
            candidates[(sweep.method, str(backbone))].append((sweep, run))
    selected = []
    for (method, backbone), entries in sorted(candidates.items()):
        objectives = sorted({(sweep.objective, sweep.mode) for sweep, _ in entries})
        if len(objectives) > 1:
            raise ReportError(
                f"{method} / {backbone}: sweeps {', '.join(sorted(s.name for s, _ in entries))} select "
                f"on different objectives ({', '.join(f'{o} {m}' for o, m in objectives)}); report "
                f"them in separate tables"
            )
        sweep0 = entries[0][0]
        pooled = pd.DataFrame([run for _, run in entries]).assign(_entry=range(len(entries)))
        sweep, run = entries[int(best_first(pooled, sweep0.objective_column, sweep0.mode).iloc[0]["_entry"])]
        protocol = report_protocol(sweep)
        members = _with_repeats(sweep, run["run_id"])
        task = "segmentation" if protocol in SEGMENTATION_PROTOCOLS else "classification"
        selected.append(Selected(sweep, run, members, protocol, task))
    return selected


def _selection_note(sweeps: list[SweepRuns]) -> str:
    """Which metric chose, per sweep: 'selected on validation cv/linear/f1/frac_0.1 (max; barlow-har)'."""
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for sweep in sweeps:
        groups[(sweep.objective, sweep.mode, sweep.mode_source)].append(sweep.name)
    parts = [
        f"{objective} ({'higher' if mode == 'max' else 'lower'} is better"
        f"{', mode assumed: no searchspace.yaml logged' if source == 'assumed' else ''}; "
        f"{', '.join(sorted(names))})"
        for (objective, mode, source), names in sorted(groups.items())
    ]
    refitted = sorted(
        sweep.name
        for sweep in sweeps
        if ((sweep.search_space or {}).get("evaluation") or {}).get("refit_on_validation")
    )
    refit = (
        f" Test readouts fitted on training + validation units after selection "
        f"(evaluation.refit_on_validation; {', '.join(refitted)})."
        if refitted
        else ""
    )
    return "Selected on validation: " + "; ".join(parts) + "; test scores only report." + refit


def _percent(fraction: float) -> str:
    return f"{fraction * 100:g} %"


def _labels(metrics) -> list[str]:
    order = [metric for metrics_ in HEADLINE_METRICS.values() for metric in metrics_]
    return [METRIC_LABELS[metric] for metric in order if metric in set(metrics)]


def _sources(index_names: list[str], keys: list[tuple], selections: list[Selected]) -> pd.DataFrame:
    return pd.DataFrame(
        [s.source() for s in selections], index=pd.MultiIndex.from_tuples(keys, names=index_names) if keys else None
    )


# ------------------------------------------------------------------------------------------------ tables


def technique_by_backbone(sweeps: list[SweepRuns]) -> Table:
    """Reference Table 3: rows method x backbone; test headline scores (acc and macro-F1, or mIoU and mF1) of
    the trial selected on validation, the same backbone untrained, trained supervised on the same labels
    where a baseline ran, and the gain over untrained in points."""
    selections = select(sweeps)
    rows, keys, off_full = [], [], []
    metrics = _labels({m for s in selections for m in s.metrics})
    for selection in selections:
        fraction, cells = selection.headline_fraction, {}
        if fraction is not None:
            if fraction != 1.0:
                off_full.append(f"{selection.method} / {selection.backbone} at {_percent(fraction)}")
            for metric in selection.metrics:
                label = METRIC_LABELS[metric]
                ssl, untrained = selection.test(metric, fraction), selection.test(metric, fraction, RANDOM_INIT_PREFIX)
                cells.update(
                    {
                        f"SSL {label}": ssl,
                        f"untrained {label}": untrained,
                        f"supervised {label}": selection.supervised(metric, fraction),
                        f"gain {label} (pts)": _points(ssl, untrained),
                    }
                )
        keys.append((selection.method, selection.backbone))
        rows.append((keys[-1], cells))
    groups = ("SSL", "untrained", "supervised", "gain")
    columns = [
        f"{group} {label} (pts)" if group == "gain" else f"{group} {label}" for group in groups for label in metrics
    ]
    gains = [column for column in columns if column.startswith("gain ")]
    fractions_note = "100 % of the labels" + (
        f" (where not evaluated, the largest fraction: {'; '.join(off_full)})" if off_full else ""
    )
    caption = (
        f"Test scores per technique and backbone ({', '.join(sorted({s.protocol for s in selections}))} "
        f"protocol, {fractions_note}) of the best finished trial. {_selection_note(sweeps)} Untrained: the "
        f"same backbone randomly initialised; supervised: trained from scratch on the same labels; gain: SSL "
        f"minus untrained, in percentage points. Best per column in bold."
    )
    return _from_cells(
        "technique_by_backbone",
        caption,
        ["method", "backbone"],
        rows,
        columns,
        {column: "max" for column in columns},
        gains,
        sources=_sources(["method", "backbone"], keys, selections),
    )


def ssl_vs_supervised(sweeps: list[SweepRuns]) -> Table:
    """Reference Table 4: rows method x backbone x label fraction; supervised, untrained and SSL test scores of
    the trial selected on validation and the SSL gains in points. Every fraction any row of the same task
    evaluated gets a row; a fraction a trial did not evaluate stays empty."""
    selections = select(sweeps)
    fractions_by_task: dict[str, set[float]] = defaultdict(set)
    for selection in selections:
        fractions_by_task[selection.task].update(
            selection.test_fractions(), selection.test_fractions(RANDOM_INIT_PREFIX), selection.supervised_fractions()
        )
    metrics = _labels({m for s in selections for m in s.metrics})
    rows, keys, row_selections = [], [], []
    for selection in selections:
        for fraction in sorted(fractions_by_task[selection.task]):
            cells = {}
            for metric in selection.metrics:
                label = METRIC_LABELS[metric]
                ssl = selection.test(metric, fraction)
                untrained = selection.test(metric, fraction, RANDOM_INIT_PREFIX)
                supervised = selection.supervised(metric, fraction)
                cells.update(
                    {
                        f"supervised {label}": supervised,
                        f"untrained {label}": untrained,
                        f"SSL {label}": ssl,
                        f"gain over supervised {label} (pts)": _points(ssl, supervised),
                        f"gain over untrained {label} (pts)": _points(ssl, untrained),
                    }
                )
            keys.append((selection.method, selection.backbone, _percent(fraction)))
            rows.append((keys[-1], cells))
            row_selections.append(selection)
    columns = [f"{group} {label}" for group in ("supervised", "untrained", "SSL") for label in metrics] + [
        f"gain over {base} {label} (pts)" for base in ("supervised", "untrained") for label in metrics
    ]
    gains = [column for column in columns if column.startswith("gain ")]
    caption = (
        f"Supervised vs self-supervised by label fraction: test scores "
        f"({', '.join(sorted({s.protocol for s in selections}))} protocol) of the best finished trial per "
        f"technique and backbone, the same backbone untrained, and trained supervised from scratch on the "
        f"same labels; gains of SSL in percentage points. {_selection_note(sweeps)} Best per column and label "
        f"fraction in bold; empty: not evaluated."
    )
    names = ["method", "backbone", "labels"]
    return _from_cells(
        "ssl_vs_supervised",
        caption,
        names,
        rows,
        columns,
        {column: "max" for column in columns},
        gains,
        within="labels",
        sources=_sources(names, keys, row_selections),
    )


def search_grid(sweep: SweepRuns, rows: list[str], columns: list[str]) -> Table:
    """Reference Table 5: one sweep's validation objective over chosen searched dimensions (``rows`` as the row
    index, ``columns`` across), each cell the mean over its finished runs (trials and repeats), the best cell
    in bold."""
    _check_selects_on_validation(sweep)
    runs = pd.concat([sweep.trials, sweep.repeats])
    runs = runs[runs["outcome"] == FINISHED]
    dimensions = list(rows) + list(columns)
    missing = [d for d in dimensions if f"params.{d}" not in runs]
    if missing or not rows or not columns or len(set(dimensions)) < len(dimensions):
        raise ReportError(
            f"sweep '{sweep.name}': search grid rows {rows} x columns {columns} needs distinct "
            f"recorded parameters{f' (not recorded: {missing})' if missing else ''}; searched: "
            f"{', '.join(sweep.searched) or 'none'}"
        )
    if sweep.objective_column not in runs:
        raise ReportError(f"sweep '{sweep.name}': no finished run recorded its objective {sweep.objective}")
    values = pd.DataFrame({d: parameter_values(runs[f"params.{d}"]) for d in dimensions})
    values["objective"] = pd.to_numeric(runs[sweep.objective_column], errors="coerce")
    grouped = values.groupby(dimensions, sort=True, dropna=False)["objective"]

    def pivot(statistic: str) -> pd.DataFrame:
        table = grouped.agg(statistic)
        return table.unstack(columns) if len(rows) else table

    mean, spread, counts = pivot("mean"), pivot("std"), pivot("count").fillna(0).astype(int)
    labels = [
        ", ".join(f"{d}={parameter_label(v)}" for d, v in zip(columns, key if isinstance(key, tuple) else (key,)))
        for key in mean.columns
    ]
    index = pd.MultiIndex.from_tuples(
        [tuple(parameter_label(v) for v in (key if isinstance(key, tuple) else (key,))) for key in mean.index],
        names=rows,
    )
    for frame in (mean, spread, counts):
        frame.columns, frame.index = labels, index
    shown = mean.round(SCORE_DECIMALS)
    target = shown.max().max() if sweep.mode == "max" else shown.min().min()
    caption = (
        f"{sweep.name}: validation {sweep.objective} ({'higher' if sweep.mode == 'max' else 'lower'} is "
        f"better) of the finished runs by {' x '.join(rows)} (rows) and {' x '.join(columns)} (columns); "
        f"mean over the runs in a cell where several; empty: not tried. Best cell in bold."
    )
    table = _table("search_grid", caption, mean, counts, spread, {})
    table.best = shown.eq(target)[table.frame.columns]
    return table


def parameter_values(values: pd.Series) -> pd.Series:
    """Searched values as MLflow stores them (strings), as numbers where all are, so 256 sorts before 1024."""
    numbers = pd.to_numeric(values, errors="coerce")
    return numbers if numbers.notna().sum() == values.notna().sum() else values.astype("object")


def parameter_label(value) -> str:
    """A searched value as a row or column label: 1024, 0.001, 0.004425 (4 significant digits), conv1d."""
    if _missing(value):
        return "(unset)"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.4g}"
    return str(value)


def segmentation_by_fraction(sweeps: list[SweepRuns]) -> Table:
    """Test mIoU by label fraction of each segmentation technique x backbone's selected trial, pretrained and the
    same backbone randomly initialised (the seismic reports' label-fraction study)."""
    selections = [s for s in select(sweeps) if s.task == "segmentation"]
    if not selections:
        raise ReportError(f"no segmentation sweep among {', '.join(sorted(s.name for s in sweeps))}")
    fractions = sorted({f for s in selections for f in s.test_fractions() + s.test_fractions(RANDOM_INIT_PREFIX)})
    columns = [_percent(f) for f in fractions]
    rows, keys, row_selections = [], [], []
    for selection in selections:
        for encoder, prefix in (("pretrained", ""), ("random init", RANDOM_INIT_PREFIX)):
            keys.append((selection.method, selection.backbone, encoder))
            rows.append((keys[-1], {_percent(f): selection.test("miou", f, prefix) for f in fractions}))
            row_selections.append(selection)
    caption = (
        f"Test mIoU ({', '.join(sorted({s.protocol for s in selections}))}) by label fraction of the best "
        f"finished trial per technique and backbone, pretrained and randomly initialised. "
        f"{_selection_note(sweeps)} Best per label fraction in bold; empty: not evaluated."
    )
    names = ["method", "backbone", "encoder"]
    return _from_cells(
        "segmentation_by_fraction",
        caption,
        names,
        rows,
        columns,
        {c: "max" for c in columns},
        sources=_sources(names, keys, row_selections),
    )


def per_class_iou(sweep: SweepRuns) -> Table:
    """Per-class test IoU of the sweep's best trial (selected on validation) at 100 % of the labels (or the
    largest fraction evaluated), pretrained vs randomly initialised, and the gain in points."""
    _check_selects_on_validation(sweep)
    best = sweep.finished_trials.iloc[0]
    members = _with_repeats(sweep, best["run_id"])
    protocol = report_protocol(sweep)
    per_class = [
        parsed
        for _, parsed in _eval_columns(members)
        if parsed.split == "test"
        and parsed.protocol == protocol
        and not parsed.prefix
        and parsed.metric.startswith("iou_")
    ]
    if not per_class:
        raise ReportError(
            f"sweep '{sweep.name}': its best trial records no per-class test IoU (test/{protocol}/iou_<class>/frac_<f>)"
        )
    fractions = {parsed.fraction for parsed in per_class}
    fraction = 1.0 if 1.0 in fractions else max(fractions)
    classes = sorted({parsed.metric for parsed in per_class if parsed.fraction == fraction})
    rows = []
    for metric in classes:
        pretrained = _summary(members, f"metrics.{eval_metric_name('test', protocol, metric, fraction)}")
        untrained = _summary(
            members, f"metrics.{eval_metric_name('test', protocol, metric, fraction, RANDOM_INIT_PREFIX)}"
        )
        rows.append(
            (
                (metric.removeprefix("iou_"),),
                {
                    "pretrained IoU": pretrained,
                    "random init IoU": untrained,
                    "gain (pts)": _points(pretrained, untrained),
                },
            )
        )
    columns = ["pretrained IoU", "random init IoU", "gain (pts)"]
    caption = (
        f"{sweep.name}: test IoU per class ({protocol}, {_percent(fraction)} of the labels) of the best trial "
        f"{best.get(tag_column(TRIAL_ID_TAG))}, pretrained and randomly initialised; gain in percentage "
        f"points. {_selection_note([sweep])}"
    )
    return _from_cells("per_class_iou", caption, ["class"], rows, columns, {c: "max" for c in columns}, ["gain (pts)"])


def pretext_configurations(sweep: SweepRuns) -> Table:
    """Every finished search trial in creation order: its searched hyperparameters (row labels), final
    ``train/loss`` and validation score (the objective; for a train/... or health/... objective, the report
    protocol's headline metric at the largest validation fraction)."""
    trials = sweep.trials[sweep.trials["outcome"] == FINISHED]
    searched = [d for d in sweep.searched if f"params.{d}" in trials]
    parsed = parse_eval_metric_name(sweep.objective)
    if parsed is not None:
        validation, validation_mode = sweep.objective, sweep.mode
    else:
        protocol = report_protocol(sweep)
        metric = HEADLINE_METRICS["segmentation" if protocol in SEGMENTATION_PROTOCOLS else "classification"][0]
        fractions = _fractions(trials, "val", protocol, metric)
        validation = eval_metric_name("val", protocol, metric, max(fractions)) if fractions else None
        validation_mode = "max"
    loss_column, validation_column = "final train/loss", validation
    shown = pd.DataFrame(
        {d: parameter_values(trials[f"params.{d}"]).map(parameter_label) for d in searched}, index=trials.index
    )
    rows = []
    for position in range(len(trials)):
        trial = trials.iloc[[position]]
        key = (trial[tag_column(TRIAL_ID_TAG)].iloc[0],) + tuple(shown.iloc[position])
        cells = {loss_column: _summary(trial, "metrics.train/loss")}
        if validation_column:
            cells[validation_column] = _summary(trial, f"metrics.{validation}")
        rows.append((key, cells))
    columns = [loss_column] + ([validation_column] if validation_column else [])
    directions = {loss_column: "min", **({validation_column: validation_mode} if validation_column else {})}
    caption = (
        f"{sweep.name}: the pretext configurations tried (finished trials, creation order), final training "
        f"loss and validation score; best per column in bold (lowest loss). {_selection_note([sweep])}"
    )
    return _from_cells("pretext_configurations", caption, ["trial"] + searched, rows, columns, directions)
