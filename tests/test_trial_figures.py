"""A finished trial's own figures (trainables/trial/trial_figures.py), drawn from what its last epoch holds: PNGs
MLflow previews, skipped where there is nothing to draw."""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image

from trainables.trial.trial_figures import draw_trial_figures, label_fraction_rows

METRICS = {
    "test/linear/acc/frac_0.1": 0.60,
    "test/linear/acc/frac_1.0": 0.80,
    "random_init/test/linear/acc/frac_0.1": 0.45,
    "random_init/test/linear/acc/frac_1.0": 0.70,
    "test/knn/acc/frac_0.1": 0.55,
    "test/knn/acc/frac_1.0": 0.75,
    "test/linear/f1/frac_1.0": 0.5,  # another metric: not drawn
    "val/linear/acc/frac_1.0": 0.9,  # validation: not drawn
    "health/rankme": 3.0,
}


def _embeddings(per_split: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = 3 * per_split
    frame = pd.DataFrame(rng.normal(size=(rows, 8))).add_prefix("f")
    frame["split"] = ["train"] * per_split + ["validation"] * per_split + ["test"] * per_split
    frame["label"] = rng.integers(0, 3, rows)
    return frame


def test_the_label_fraction_rows_are_the_test_metric_pretrained_and_untrained_per_protocol():
    rows = label_fraction_rows(METRICS, "acc")
    assert sorted(rows["series"].unique()) == ["knn", "linear", "linear untrained"]
    linear = rows[rows["series"] == "linear untrained"].sort_values("fraction")
    assert linear["value"].tolist() == [0.45, 0.70] and set(linear["kind"]) == {"random_init"}
    assert set(rows["group"]) == {"linear", "knn"}  # a protocol's lines share a colour
    assert label_fraction_rows(METRICS, "miou").empty


def test_a_trial_draws_its_tsne_map_and_label_fraction_curve_as_png(tmp_path):
    written = draw_trial_figures(tmp_path, "gru lr1e-3 #4", _embeddings(150), METRICS, "acc")
    assert sorted(path.name for path in written) == ["label_fraction.png", "tsne.png"]
    for path in written:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width > 300


def test_nothing_to_draw_draws_nothing(tmp_path):
    one_fraction = {"test/linear/acc/frac_1.0": 0.8, "random_init/test/linear/acc/frac_1.0": 0.7}
    assert draw_trial_figures(tmp_path, "t", None, one_fraction, "acc") == []  # seismic: no embeddings
    assert [p.name for p in draw_trial_figures(tmp_path, "t", _embeddings(5), one_fraction, "acc")] == ["tsne.png"]
    assert not (tmp_path / "label_fraction.png").exists()
