"""End to end on the other two domains: real sweeps through `python tune.py` (Ray Tune + Optuna + MLflow) on
scikit-learn's digits (image classification) and on synthetic seismic (facies segmentation)."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from sweeps import ROOT, RanSweep, run_in_one_driver, sweep_parent

pytestmark = pytest.mark.slow


def _shrunk(tmp_path, searchspace: str, name: str, **overrides):
    spec = yaml.safe_load((ROOT / "searchspaces" / searchspace).read_text())
    spec.update(
        name=name,
        budget={"trials": 2, "epochs": 2, "checkpoint_every": 2, "max_concurrent": 1},
        scheduler={"type": "fifo"},
        final={"registry": False},  # the Model Registry is tested on its own (tests/test_registry.py)
        **overrides,
    )
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _child_runs(home, parent):
    mlflow.set_tracking_uri(f"sqlite:///{home / 'mlflow.db'}")
    return mlflow.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )


@pytest.fixture(scope="module")
def domain_sweeps(tmp_path_factory) -> RanSweep:
    """Both sweeps, one after the other in one driver process that keeps its Ray (``run_in_one_driver``), in one
    SSLSWEEP_HOME: digits, two temperatures of one configuration that stays healthy in two epochs (others may
    collapse that fast and are then ended by the health check, as they should be); synthetic seismic, small
    sections at two label fractions."""
    directory = tmp_path_factory.mktemp("domains")
    spec = yaml.safe_load((ROOT / "searchspaces" / "simclr_digits.yaml").read_text())
    digits = _shrunk(
        directory,
        "simclr_digits.yaml",
        "e2e-digits",
        fixed={**spec["fixed"], "input_size": 8, "batch_size": 64, "aug_crop_scale_min": 0.5},
        search={"temperature": {"type": "float", "low": 0.3, "high": 0.6}},
    )
    seismic = _shrunk(
        directory,
        "simclr_seismic.yaml",
        "e2e-seismic",
        data={
            "pretext": {"source": "synthetic_seismic", "options": {"n_inline": 48, "n_crossline": 64}},
            "downstream": {"source": "synthetic_seismic", "options": {"n_inline": 48, "n_crossline": 64}},
            "sections": {"patch_size": 64, "patch_stride": 32, "gap": 3},
        },
        evaluation={
            "protocols": ["seg_frozen"],
            "label_fractions": [0.05, 1.0],
            "segmentation_epochs": 2,
            "segmentation_head_channels": 16,
        },
    )
    home = directory / "home"
    return RanSweep(directory, home, run_in_one_driver([digits, seismic], home))


def test_digits_sweep_reports_top1_top5_and_the_untrained_encoder(domain_sweeps):
    _, home, run = domain_sweeps
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    _, parent = sweep_parent(home, "e2e-digits")
    runs = _child_runs(home, parent)
    assert len(runs) == 2 and set(runs["tags.sslsweep.outcome"]) == {"finished"}
    for prefix in ("", "random_init/"):
        for metric in ("acc", "top5", "f1"):
            values = runs[f"metrics.{prefix}test/linear/{metric}/frac_0.1"]
            assert values.between(0, 1).all()
    # Ten classes: top-5 accuracy is at least top-1, and the images really were learned from (chance is 0.1).
    assert (runs["metrics.test/linear/top5/frac_1.0"] >= runs["metrics.test/linear/acc/frac_1.0"]).all()
    assert (runs["metrics.test/linear/acc/frac_1.0"] > 0.5).all()
    assert set(runs["params.input_size"]) == {"8"}


def test_synthetic_seismic_sweep_records_segmentation_scores_and_the_split(domain_sweeps, tmp_path):
    _, home, run = domain_sweeps
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    client, parent = sweep_parent(home, "e2e-seismic")
    runs = _child_runs(home, parent)
    assert len(runs) == 2 and set(runs["tags.sslsweep.outcome"]) == {"finished"}
    for prefix in ("", "random_init/"):
        for metric in ("miou", "mf1", "pixel_acc", "fwiou", "iou_facies_0"):
            assert runs[f"metrics.{prefix}test/seg_frozen/{metric}/frac_0.05"].between(0, 1).all()
    # The objective was measured every epoch (ASHA and Optuna read it) and equals the final evaluation's.
    history = client.get_metric_history(runs.iloc[0]["run_id"], "val/seg_frozen/miou/frac_0.05")
    assert len(history) >= 2
    # Each finished trial stores its example section with the prediction of its head at 100 % labels, for the
    # report's "section | truth | prediction" figure (and no embeddings: sections have no per-unit label).
    for run_id in runs["run_id"]:
        assert [a.path for a in client.list_artifacts(run_id, "examples")] == ["examples/segmentation_example.npz"]
        assert client.list_artifacts(run_id, "embeddings") == []
        local = client.download_artifacts(run_id, "examples/segmentation_example.npz", str(tmp_path / run_id))
        with np.load(local, allow_pickle=False) as example:
            assert set(example.files) == {
                "section",
                "truth",
                "prediction",
                "class_names",
                "protocol",
                "fraction",
                "index",
            }
            assert example["section"].shape == example["truth"].shape == example["prediction"].shape == (128, 64)
            assert example["class_names"].tolist() == [f"facies_{i}" for i in range(6)]
            assert 0 <= example["prediction"].min() and example["prediction"].max() < 6
            assert (str(example["protocol"]), float(example["fraction"])) == ("seg_frozen", 1.0)
    # The inline blocks are recorded with the sweep: validation and test never touch, with the gap between.
    split = client.download_artifacts(parent.info.run_id, "data/split.json", str(tmp_path))
    blocks = json.loads(open(split).read())["inline_blocks"]
    spans = sorted((first, last) for first, last, _ in blocks.values())
    assert all(later[0] - earlier[1] > 3 for earlier, later in zip(spans, spans[1:]))
    # The sweep's report: mIoU by label fraction pretrained and random init, and the example section drawn.
    report = home / "reports" / "e2e-seismic"
    by_fraction = pd.read_csv(report / "tables" / "segmentation_by_fraction.csv")
    assert set(by_fraction["encoder"]) == {"pretrained", "random init"}
    assert by_fraction[["5 %", "100 %"]].notna().all().all()
    assert {f"segmentation_simclr_{backbone}.png" for backbone in by_fraction["backbone"]} <= {
        path.name for path in (report / "figures").iterdir()
    }
