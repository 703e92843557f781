"""Report figures (trainables.figures) on small synthetic frames: labels, styles, markers, the
deterministic PNG/SVG files, t-SNE coordinates, Optuna figures without leaked pyplot state, shape checks."""

import warnings

import matplotlib
import matplotlib.image as mpimg
import numpy as np
import optuna
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.markers import MarkerStyle
from matplotlib.patches import Rectangle

from trainables import figures as rf
from trainables.report.builder import label_fraction_caption

FRACTIONS = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0]


def _scores() -> pd.DataFrame:
    rows = []
    for k, base in ((12, 0.60), (16, 0.62)):
        for f in FRACTIONS:
            rows.append(
                {
                    "series": f"lfr K={k}",
                    "group": f"K={k}",
                    "kind": "pretrained",
                    "fraction": f,
                    "value": base + 0.05 * np.log10(f),
                    "std": 0.01,
                }
            )
            rows.append(
                {
                    "series": f"lfr K={k} random init",
                    "group": f"K={k}",
                    "kind": "random_init",
                    "fraction": f,
                    "value": base - 0.1 + 0.05 * np.log10(f),
                    "std": 0.02,
                }
            )
    for f in FRACTIONS:
        rows.append(
            {
                "series": "supervised",
                "group": "supervised",
                "kind": "supervised",
                "fraction": f,
                "value": 0.4 + 0.1 * f,
                "std": np.nan,
            }
        )
    return pd.DataFrame(rows)


def _legend_texts(legend: Legend) -> list[str]:
    return [t.get_text() for t in legend.get_texts()]


def _marker_path(marker: str):
    style = MarkerStyle(marker)
    return style.get_path().transformed(style.get_transform())


# ---------------------------------------------------------------------------------- label fractions


def test_label_fraction_figure_axes_styles_and_legend():
    fig = rf.label_fraction_figure(_scores(), "test mIoU", "LFR on F3")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert ax.get_ylabel() == "test mIoU"
    assert "%" in ax.get_xlabel()
    assert ax.get_title() == "LFR on F3"
    assert len(ax.lines) == 5
    styles = {line.get_label(): line.get_linestyle() for line in ax.lines}
    assert styles["lfr K=12"] == "-" and styles["lfr K=16"] == "-"
    assert styles["lfr K=12 random init"] == "--"
    assert styles["supervised"] == ":"
    # One colour per group: K=12 pretrained and K=12 random init share it, K=16 differs.
    colour = {line.get_label(): line.get_color() for line in ax.lines}
    assert colour["lfr K=12"] == colour["lfr K=12 random init"] != colour["lfr K=16"]
    assert set(_legend_texts(fig.legends[0])) == set(styles)
    # Percent tick labels at the evaluated fractions.
    fig.canvas.draw()
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["1 %", "5 %", "10 %", "25 %", "50 %", "100 %"]
    # std bands for the series that have a std (4 of 5).
    assert len(ax.collections) == 4


def test_label_fraction_figure_single_series_has_no_legend_and_kind_is_optional():
    scores = pd.DataFrame({"series": "simclr", "fraction": [0.01, 0.25, 1.0], "value": [0.52, 0.63, 0.64]})
    fig = rf.label_fraction_figure(scores, "test mIoU", "SimCLR")
    ax = fig.axes[0]
    assert len(ax.lines) == 1 and ax.lines[0].get_linestyle() == "-"
    assert ax.get_legend() is None and not fig.legends


def _backbone_scores() -> pd.DataFrame:
    """Two techniques on conv1d and one on gru, each backbone untrained, conv1d also trained supervised; series
    and groups as ``figure_data.label_fraction_scores`` names them, with the backbone the builder adds."""
    lines = [
        ("barlow_twins / conv1d", "pretrained", "conv1d", 0.60),
        ("vicreg / conv1d", "pretrained", "conv1d", 0.62),
        ("barlow_twins / gru", "pretrained", "gru", 0.55),
        ("untrained conv1d", "random_init", "conv1d", 0.40),
        ("untrained gru", "random_init", "gru", 0.38),
        ("supervised conv1d", "supervised", "conv1d", 0.50),
    ]
    return pd.DataFrame(
        [
            {"series": series, "group": series, "kind": kind, "backbone": backbone, "fraction": f, "value": v + 0.1 * f}
            for series, kind, backbone, v in lines
            for f in (0.01, 0.1, 1.0)
        ]
    )


def test_label_fraction_figure_colours_each_backbone_once_and_styles_by_kind():
    ax = rf.label_fraction_figure(_backbone_scores(), "test acc", "HAR").axes[0]
    colour = {line.get_label(): matplotlib.colors.to_rgba(line.get_color()) for line in ax.lines}
    style = {line.get_label(): line.get_linestyle() for line in ax.lines}
    conv1d = {colour[s] for s in ("barlow_twins / conv1d", "vicreg / conv1d", "untrained conv1d", "supervised conv1d")}
    gru = {colour[s] for s in ("barlow_twins / gru", "untrained gru")}
    # tab10 by backbone, in sorted order: conv1d the first colour, gru the second.
    tab10 = [matplotlib.colors.to_rgba(c) for c in matplotlib.colormaps["tab10"].colors[:2]]
    assert conv1d == {tab10[0]} and gru == {tab10[1]}
    assert (style["barlow_twins / conv1d"], style["untrained conv1d"], style["supervised conv1d"]) == ("-", "--", ":")
    assert style["untrained gru"] == "--"
    # Two techniques on one backbone: same colour and style, told apart by marker.
    marker = {line.get_label(): line.get_marker() for line in ax.lines}
    assert marker["barlow_twins / conv1d"] != marker["vicreg / conv1d"]


def test_label_fraction_legend_is_outside_the_axes():
    fig = rf.label_fraction_figure(_backbone_scores(), "test acc", "HAR")
    ax = fig.axes[0]
    fig.canvas.draw()
    (legend,) = fig.legends
    assert ax.get_legend() is None and len(legend.get_texts()) == len(ax.lines)
    extent, axes = legend.get_window_extent(), ax.get_window_extent()
    assert extent.x0 >= axes.x1  # right of the plot: it covers no line
    assert extent.x1 <= fig.bbox.x1 + 1 and extent.y0 >= fig.bbox.y0 - 1  # and within the figure


def test_label_fraction_caption_names_only_the_lines_drawn():
    scores = _backbone_scores()
    caption = label_fraction_caption(scores, "acc", "HAR")
    assert "untrained dashed" in caption and "supervised from scratch dotted" in caption
    assert "one colour per backbone" in caption
    without = label_fraction_caption(scores[scores["kind"] != "supervised"], "acc", "HAR")
    assert "supervised" not in without and "untrained dashed" in without


def test_label_fraction_figure_rejects_bad_fraction_and_kind():
    with pytest.raises(ValueError, match="outside|\\(0, 1\\]"):
        rf.label_fraction_figure(pd.DataFrame({"series": "a", "fraction": [0.0, 1.0], "value": [1, 2]}), "m", "t")
    with pytest.raises(ValueError, match="unknown kind"):
        rf.label_fraction_figure(pd.DataFrame({"series": "a", "fraction": [1.0], "value": [1], "kind": "x"}), "m", "t")


# ------------------------------------------------------------------------------------------- heatmap


def _grid() -> pd.DataFrame:
    index = pd.MultiIndex.from_product([["Conv", "GRU"], [256, 1024]], names=["backbone", "projector_dim"])
    columns = pd.Index([0.001, 0.005, 0.01], name="lambda")
    values = np.array([[0.50, 0.52, 0.51], [0.583, 0.55, np.nan], [0.45, 0.47, 0.46], [0.49, 0.48, 0.44]])
    return pd.DataFrame(values, index=index, columns=columns)


def test_grid_heatmap_annotations_best_cell_and_colorbar():
    fig = rf.grid_heatmap(_grid(), "validation accuracy", "Barlow Twins grid")
    ax = fig.axes[0]
    assert ax.get_title() == "Barlow Twins grid"
    assert ax.get_xlabel() == "lambda"
    assert ax.get_ylabel() == "backbone / projector_dim"
    assert [t.get_text() for t in ax.get_yticklabels()][:2] == ["Conv / 256", "Conv / 1024"]
    texts = {tuple(np.round(t.get_position(), 6)): t.get_text() for t in ax.texts}
    assert len(texts) == 11  # 12 cells, one NaN
    assert (2.0, 1.0) not in texts  # the NaN cell (row 1, column 2) is blank
    assert texts[(0.0, 1.0)] == "0.583"
    best = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_gid() == rf.BEST_CELL_GID]
    assert len(best) == 1 and best[0].get_xy() == (-0.5, 0.5)  # row 1, column 0
    assert best[0].get_linewidth() >= 2
    colorbar_axes = fig.axes[1]
    assert colorbar_axes.get_ylabel() == "validation accuracy"


def test_grid_heatmap_min_mode_outlines_lowest():
    ax = rf.grid_heatmap(_grid(), "loss", "t", mode="min").axes[0]
    (best,) = [p for p in ax.patches if p.get_gid() == rf.BEST_CELL_GID]
    assert best.get_xy() == (1.5, 2.5)  # 0.44 at row 3, column 2
    with pytest.raises(ValueError, match="mode"):
        rf.grid_heatmap(_grid(), "loss", "t", mode="best")


# ---------------------------------------------------------------------------------- training curves


def _history() -> pd.DataFrame:
    rows = []
    runs = [
        ("bt-1", "barlow_twins", False, 10),
        ("bt-2", "barlow_twins", True, 3),
        ("simclr-1", "simclr", False, 10),
        ("simclr-2", "simclr", True, 4),
    ]
    for run, group, pruned, epochs in runs:
        for step in range(epochs):
            for key, value in (
                ("train/loss", 2.0 / (step + 1)),
                ("health/embedding_std", 0.9),
                ("health/rankme", 20.0 + step),
            ):
                rows.append({"run": run, "group": group, "key": key, "step": step, "value": value, "pruned": pruned})
    return pd.DataFrame(rows)


def test_training_curves_panels_lines_and_pruned_alpha():
    fig = rf.training_curves(_history(), "Pretext training")
    assert fig.get_suptitle() == "Pretext training"
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["train/loss", "health/embedding_std", "health/rankme"]
    assert axes[-1].get_xlabel() == "epoch"
    assert all(ax.get_ylabel() for ax in axes)
    for ax in axes:
        assert len(ax.lines) == 4
        alpha = {line.get_label(): line.get_alpha() for line in ax.lines}
        width = {line.get_label(): line.get_linewidth() for line in ax.lines}
        assert alpha["bt-2"] < alpha["bt-1"] and alpha["simclr-2"] < alpha["simclr-1"]
        assert width["bt-2"] < width["bt-1"]
        colour = {line.get_label(): line.get_color() for line in ax.lines}
        assert colour["bt-1"] == colour["bt-2"] != colour["simclr-1"]
    assert set(_legend_texts(axes[0].get_legend())) == {"barlow_twins", "simclr", "pruned"}
    # Shared x axis: the panels show the same epochs.
    assert axes[0].get_xlim() == axes[-1].get_xlim()


def test_training_curves_without_pruned_column():
    history = _history().drop(columns="pruned")
    ax = rf.training_curves(history, "t").axes[0]
    assert {line.get_alpha() for line in ax.lines} == {rf.FINISHED_ALPHA}
    assert "pruned" not in _legend_texts(ax.get_legend())


# ------------------------------------------------------------------------------------------- t-SNE


def _embeddings(n_per_split=(30, 12, 6), n_classes=3, dim=8, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=5.0, size=(n_classes, dim))
    frames = []
    for split, n in zip(("train", "validation", "test"), n_per_split):
        labels = np.arange(n) % n_classes
        features = centres[labels] + rng.normal(size=(n, dim))
        frame = pd.DataFrame(features).add_prefix("f")
        frame.insert(0, "label", [f"class{k}" for k in labels])
        frame.insert(0, "split", split)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def test_tsne_coordinates_rows_kept_and_deterministic():
    emb = _embeddings()
    a = rf.tsne_coordinates(emb, seed=3)
    b = rf.tsne_coordinates(emb, seed=3)
    assert len(a) == len(emb) and list(a.index) == list(emb.index)
    assert list(a["split"]) == list(emb["split"]) and list(a["label"]) == list(emb["label"])
    assert {"tsne_x", "tsne_y"} <= set(a.columns) and not any(c.startswith("f") for c in a.columns)
    np.testing.assert_allclose(a[["tsne_x", "tsne_y"]], b[["tsne_x", "tsne_y"]], rtol=0, atol=1e-8)


def test_tsne_coordinates_refuses_embedding_column_and_unknown_split():
    emb = _embeddings()
    arrays = pd.DataFrame(
        {"split": emb["split"], "label": emb["label"], "embedding": list(emb.filter(like="f").to_numpy())}
    )
    with pytest.raises(ValueError, match="f0"):
        rf.tsne_coordinates(arrays)
    with pytest.raises(ValueError, match="unknown split"):
        rf.tsne_coordinates(emb.assign(split="holdout"))


def test_tsne_figure_markers_legends_and_bold_test_diamonds():
    fig = rf.tsne_figure(_embeddings(), "HAR t-SNE", seed=0)
    ax = fig.axes[0]
    assert ax.get_title() == "HAR t-SNE"
    assert "t-SNE" in ax.get_xlabel() and "t-SNE" in ax.get_ylabel()
    scatters = {c.get_label(): c for c in ax.collections if isinstance(c, PathCollection)}
    assert set(scatters) == {"train", "validation", "test"}
    assert len(scatters["test"].get_offsets()) == 6 and len(scatters["train"].get_offsets()) == 30
    for split, marker in (("train", "o"), ("validation", "s"), ("test", "D")):
        np.testing.assert_allclose(scatters[split].get_paths()[0].vertices, _marker_path(marker).vertices)
    test_width = max(scatters["test"].get_linewidths())
    assert test_width >= 1.5
    assert all(test_width > max(scatters[s].get_linewidths()) for s in ("train", "validation"))
    assert np.allclose(scatters["test"].get_edgecolors()[0][:3], 0)  # black edges
    legends = [a for a in ax.get_children() if isinstance(a, Legend)]
    texts = sorted(sorted(_legend_texts(leg)) for leg in legends)
    assert texts == [["class0", "class1", "class2"], ["test", "train", "validation"]]


# ------------------------------------------------------------------------------------------ saving


def test_save_figure_png_svg_and_byte_identical(tmp_path):
    fig = rf.label_fraction_figure(_scores(), "test mIoU", "LFR on F3")
    paths = rf.save_figure(fig, tmp_path / "figs", "label_fractions")
    png, svg = paths
    assert [p.name for p in paths] == ["label_fractions.png", "label_fractions.svg"]
    png_bytes, svg_bytes = png.read_bytes(), svg.read_bytes()
    assert png_bytes[:8] == b"\x89PNG\r\n\x1a\n"
    height, width = mpimg.imread(png).shape[:2]
    assert 400 < width < 3000 and 300 < height < 3000
    assert svg_bytes.lstrip().startswith(b"<?xml") and b"<svg" in svg_bytes
    assert b"<dc:date>" not in svg_bytes
    again = rf.save_figure(fig, tmp_path / "again", "label_fractions")
    assert again[0].read_bytes() == png_bytes and again[1].read_bytes() == svg_bytes
    with pytest.raises(ValueError, match="plain file name"):
        rf.save_figure(fig, tmp_path, "sub/name")


def test_save_figure_leaves_rcparams_alone(tmp_path):
    salt = matplotlib.rcParams["svg.hashsalt"]
    rf.save_figure(rf.grid_heatmap(_grid(), "acc", "grid"), tmp_path, "grid")
    assert matplotlib.rcParams["svg.hashsalt"] == salt


# ------------------------------------------------------------------------------------------ Optuna


def _study(n_trials=6) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(
        lambda t: (t.suggest_float("x", -3, 3) - 1) ** 2 + (t.suggest_float("y", -3, 3)) ** 2, n_trials=n_trials
    )
    return study


def test_optuna_figures_three_figures_no_open_pyplot_figures_no_global_changes(tmp_path):
    import matplotlib.pyplot as plt

    study = _study()
    before = set(plt.get_fignums())
    style_before = dict(matplotlib.rcParams)
    with warnings.catch_warnings():
        warnings.simplefilter("error", optuna.exceptions.ExperimentalWarning)
        for _ in range(2):  # repeated calls do not accumulate figures
            figures = rf.optuna_figures(study)
            assert set(figures) == {"optimization_history", "param_importances", "parallel_coordinate"}
            assert all(isinstance(f, Figure) for f in figures.values())
            assert set(plt.get_fignums()) == before
    assert dict(matplotlib.rcParams) == style_before  # Optuna's ggplot style did not leak
    png, _ = rf.save_figure(figures["param_importances"], tmp_path, "importances")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_optuna_figures_target_name_and_multi_objective():
    figures = rf.optuna_figures(_study(), target_name="val/linear/acc/frac_1.0")
    assert figures["optimization_history"].axes[0].get_ylabel() == "val/linear/acc/frac_1.0"
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)), n_trials=4)
    assert set(rf.optuna_figures(study)) == {"optimization_history", "param_importances", "parallel_coordinate"}


def test_importances_from_few_trials_say_they_are_a_hint():
    """Below RELIABLE_IMPORTANCE_TRIALS completed trials the importance figure is still drawn, and says how many
    trials it rests on and that it is unreliable."""
    assert rf.RELIABLE_IMPORTANCE_TRIALS == 20
    caveat = rf.importance_caveat(6)
    assert "6 finished trials" in caveat and "unreliable" in caveat and "hint" in caveat
    assert rf.importance_caveat(19) and rf.importance_caveat(20) == ""
    few = rf.optuna_figures(_study(n_trials=6))["param_importances"].axes[0].get_title(loc="left")
    assert "Hyperparameter Importances" in few and "6 finished trials" in few
    assert "Importances from 6 finished trials are unreliable" in few.replace("\n", " ")
    enough = rf.optuna_figures(_study(n_trials=20))["param_importances"].axes[0].get_title(loc="left")
    assert enough == "Hyperparameter Importances"


def test_optuna_figures_skips_importances_with_one_trial():
    figures = rf.optuna_figures(_study(n_trials=1))
    assert set(figures) == {"optimization_history"}


def test_optuna_figures_skips_importances_when_every_trial_scored_the_same():
    # Two trials at different points with one score (a short sweep whose probes agree): fANOVA would raise
    # "zero total variance" and end `tune.py report` in a traceback.
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    # The scores differ by the selection tie-break only (a hair per trial number), as in a real sweep.
    study.optimize(lambda t: 0.5 - 1e-12 * t.number + 0 * t.suggest_categorical("projector_dim", [64, 128]), n_trials=4)
    assert len({t.params["projector_dim"] for t in study.trials}) == 2
    assert set(rf.optuna_figures(study)) == {"optimization_history", "parallel_coordinate"}


# ------------------------------------------------------------------------------------ segmentation


def test_segmentation_panel_layout_and_shape_check():
    rng = np.random.default_rng(0)
    section = rng.normal(size=(40, 60))
    truth = np.repeat(np.arange(4), 10)[:, None].repeat(60, axis=1)
    prediction = truth.copy()
    prediction[:5] = 1
    names = ["upper ns", "middle ns", "lower ns", "rijnland"]
    fig = rf.segmentation_panel(section, truth, prediction, names, "F3 inline 100")
    assert fig.get_suptitle() == "F3 inline 100"
    image_axes = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in image_axes] == ["input section", "ground truth", "prediction"]
    assert all(ax.get_xlabel() for ax in image_axes) and image_axes[0].get_ylabel()
    low, high = image_axes[0].images[0].get_clim()
    assert low == -high and high > 0
    assert image_axes[1].images[0].get_cmap() is image_axes[2].images[0].get_cmap()
    assert _legend_texts(fig.legends[0]) == names

    with pytest.raises(ValueError) as error:
        rf.segmentation_panel(section, truth[:30], prediction, names, "t")
    assert "(40, 60)" in str(error.value) and "(30, 60)" in str(error.value)
    with pytest.raises(ValueError, match="outside"):
        rf.segmentation_panel(section, truth + 1, prediction, names, "t")


def test_class_labels_that_are_numbers_sort_as_numbers():
    from trainables.figures._common import sorted_unique

    assert sorted_unique(["10", "2", "1", "2"]) == ["1", "2", "10"]
    assert sorted_unique(["walk", "run", "10"]) == ["10", "run", "walk"]
