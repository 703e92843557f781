"""The data domain decides what fits: a sweep that mixes a backbone, augmentation, method or evaluation of
another domain fails validation (and tune.py exits 2) with a message naming both sides."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from before_ray import refused, tune_cli  # noqa: F401  (fixtures; refused uses tune_cli)

from selfsup.domains import DOMAINS, domain_named, domain_of_source
from trainables.searchspace import SearchSpaceError, SweepSpec, load_sweep, split_trial_params

ROOT = Path(__file__).resolve().parents[1]
DIGITS = {"source": "digits"}
BASIC = {"source": "aeon", "name": "BasicMotions"}


def _spec(data=DIGITS, method="simclr", **fields) -> dict:
    return {"name": "t", "method": method, "data": {"pretext": dict(data), "downstream": dict(data)}, **fields}


def _refusal(**kwargs) -> str:
    with pytest.raises(ValueError) as error:
        SweepSpec.model_validate(_spec(**kwargs))
    return str(error.value)


def test_the_data_source_picks_the_domain_and_its_defaults():
    assert domain_of_source("aeon").name == "timeseries" and domain_of_source("digits").name == "images"
    images = SweepSpec.model_validate(_spec())
    assert images.domain is domain_named("images")
    assert images.objective.metric == "val/linear/acc/frac_1.0" and images.evaluation.protocols == ["linear", "knn"]
    series = SweepSpec.model_validate(_spec(BASIC))
    assert series.objective.metric == "cv/linear/f1/frac_0.1" and series.evaluation.protocols == [
        "linear",
        "knn",
        "mlp",
    ]
    # Defaults are filled per spec: one sweep's domain never leaks into another's.
    assert SweepSpec.model_validate(_spec()).evaluation.protocols == ["linear", "knn"]
    # Each domain's own hyperparameters, with its own default backbone.
    shared, _ = split_trial_params("simclr", {"input_size": 16, "aug_hflip": 0.3}, "images")
    assert (shared.input_size, shared.aug_hflip, shared.backbone) == (16, 0.3, "resnet18_small")
    assert images.default_params()["input_size"] == 32 and "aug_jitter" not in images.default_params()


def test_a_time_series_backbone_on_images_is_refused_naming_both():
    message = _refusal(fixed={"backbone": "conv1d"})
    assert "backbone 'conv1d' reads time series" in message and "data digits is images" in message
    assert "cnn5" in message  # what would fit
    # Searched choices are checked too, and image backbones on time series likewise.
    assert "backbone 'gru'" in _refusal(search={"backbone": {"type": "categorical", "choices": ["cnn5", "gru"]}})
    message = _refusal(data=BASIC, fixed={"backbone": "resnet18"})
    assert "backbone 'resnet18' reads images and seismic sections" in message and "data aeon is time series" in message


def test_an_augmentation_of_another_domain_is_refused_naming_both():
    message = _refusal(fixed={"aug_jitter": 0.2})
    assert "'aug_jitter' is a hyperparameter of time series, but data digits is images" in message
    assert "aug_brightness" in message and "input_size" in message  # lists what images do have
    message = _refusal(data=BASIC, search={"aug_hue": {"type": "float", "low": 0.0, "high": 0.2}})
    assert "'aug_hue' is a hyperparameter of images" in message and "time series" in message


def test_a_time_series_method_on_images_is_refused():
    message = _refusal(method="cpc")
    assert "method 'cpc' trains on time series, but data digits is images" in message


def test_an_evaluation_of_another_task_is_refused_naming_both():
    message = _refusal(evaluation={"protocols": ["linear", "seg_frozen"]})
    assert "'seg_frozen' does not apply to data digits, which is images (classification)" in message
    message = _refusal(evaluation={"protocols": ["linear"]}, objective={"metric": "val/linear/miou/frac_1.0"})
    assert "'val/linear/miou/frac_1.0' does not apply to data digits" in message and "classification" in message
    # top-5 accuracy is an image metric; time series (few classes) do not record it.
    SweepSpec.model_validate(_spec(objective={"metric": "val/knn/top5/frac_1.0"}))
    assert "does not apply to data aeon" in _refusal(data=BASIC, objective={"metric": "val/knn/top5/frac_1.0"})


def test_pretext_and_downstream_data_must_share_a_domain_and_windows_are_for_time_series():
    with pytest.raises(ValueError, match="pretext data aeon is time series but downstream data digits is images"):
        SweepSpec.model_validate({"name": "t", "method": "simclr", "data": {"pretext": BASIC, "downstream": DIGITS}})
    with pytest.raises(ValueError, match="'window' cuts time series into windows, but data digits is images"):
        SweepSpec.model_validate(
            {
                "name": "t",
                "method": "simclr",
                "data": {"pretext": DIGITS, "downstream": DIGITS, "window": {"length": 8, "overlap": 0.5}},
            }
        )
    with pytest.raises(
        ValueError,
        match="evaluation.refit_on_validation refits the frozen-feature readouts; the "
        "finetune protocol trains on training units only",
    ):
        SweepSpec.model_validate(
            _spec(data=BASIC, evaluation={"protocols": ["linear", "finetune"], "refit_on_validation": True})
        )
    SweepSpec.model_validate(_spec(data=BASIC, evaluation={"protocols": ["linear"], "refit_on_validation": True}))
    with pytest.raises(
        ValueError, match="'evaluation_window' cuts time series into windows, but data digits is images; remove it"
    ):
        SweepSpec.model_validate(
            {
                "name": "t",
                "method": "simclr",
                "data": {"pretext": DIGITS, "downstream": DIGITS, "evaluation_window": {"length": 8, "overlap": 0.0}},
            }
        )
    with pytest.raises(ValueError, match="'series_length' resizes time series, but data digits is images; remove it"):
        SweepSpec.model_validate(
            {"name": "t", "method": "simclr", "data": {"pretext": DIGITS, "downstream": DIGITS, "series_length": 64}}
        )
    with pytest.raises(ValueError, match=r"source 'cifar10' needs a 'path' \(the root holding cifar-10-batches-py/\)"):
        SweepSpec.model_validate(_spec({"source": "cifar10"}))


def test_tune_exits_2_with_one_line_naming_both_sides(tmp_path):
    path = tmp_path / "mixed.yaml"
    path.write_text(yaml.safe_dump(_spec(fixed={"backbone": "gru"})))
    run = subprocess.run(
        [sys.executable, "tune.py", str(path), "--dry-run"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "backbone 'gru' reads time series" in lines[0] and "digits is images" in lines[0]
    with pytest.raises(SearchSpaceError, match="mixed.yaml"):
        load_sweep(path)


SYNTHETIC = {"source": "synthetic_seismic"}


def test_colour_and_blur_are_refused_for_seismic_with_the_reason():
    message = _refusal(data=SYNTHETIC, fixed={"backbone": "cnn5", "aug_brightness": 0.4})
    assert "'aug_brightness' is refused for seismic sections (data synthetic_seismic)" in message
    assert "amplitudes" in message  # says why
    message = _refusal(
        data=SYNTHETIC, search={"aug_blur_p": {"type": "float", "low": 0.0, "high": 0.5}}, fixed={"backbone": "cnn5"}
    )
    assert "'aug_blur_p' is refused for seismic sections" in message and "reflectors" in message


def test_seismic_sweeps_segment_and_check_their_crops_and_sources():
    spec = SweepSpec.model_validate(_spec(SYNTHETIC, fixed={"backbone": "cnn5"}))
    assert spec.domain.task == "segmentation" and spec.evaluation.protocols == ["seg_frozen"]
    assert spec.objective.metric == "val/seg_frozen/miou/frac_0.05"
    assert spec.evaluation.label_fractions == [0.01, 0.05, 0.1, 0.25, 0.5, 1.0]
    # mIoU only where something is segmented, accuracy only where something is classified.
    assert "does not apply to data synthetic_seismic" in _refusal(
        data=SYNTHETIC, fixed={"backbone": "cnn5"}, objective={"metric": "val/linear/acc/frac_1.0"}
    )
    assert "'linear' does not apply to data synthetic_seismic" in _refusal(
        data=SYNTHETIC, fixed={"backbone": "cnn5"}, evaluation={"protocols": ["linear"]}
    )
    assert "'seg_frozen' does not apply to data aeon" in _refusal(data=BASIC, evaluation={"protocols": ["seg_frozen"]})
    # A crop larger than the patches it is cut from, and unlabelled data downstream.
    assert "input_size 96 is larger than data.sections.patch_size 80" in _refusal(
        data=SYNTHETIC, search={"input_size": {"type": "categorical", "choices": [64, 96]}}, fixed={"backbone": "cnn5"}
    )
    assert "has no facies labels" in _refusal(
        data={"source": "seismic_volume", "path": "x.npy"}, fixed={"backbone": "cnn5"}
    )
    # The generator's options are validated by name.
    assert "options of source 'synthetic_seismic'" in _refusal(
        data={**SYNTHETIC, "options": {"n_inlines": 3}}, fixed={"backbone": "cnn5"}
    )
    assert "source 'digits' takes no 'options'" in _refusal(data={"source": "digits", "options": {"a": 1}})


def test_importing_the_domains_loads_no_data_library():
    """Every source's loader is named in its domain's table, yet aeon, torchvision, scipy, scikit-learn and pandas
    are imported only when a loader runs."""
    heavy = ("aeon", "torchvision", "scipy", "sklearn", "pandas")
    code = f"import sys, selfsup.domains; print([m for m in {heavy!r} if m in sys.modules])"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_generator_options_tell_two_synthetic_volumes_apart():
    from selfsup.data.dataset_specs import same_dataset

    assert same_dataset(SYNTHETIC, dict(SYNTHETIC))
    assert not same_dataset(SYNTHETIC, {**SYNTHETIC, "options": {"seed": 1}})


def test_image_evaluation_shows_the_encoder_images_at_its_training_view_size():
    """Views are input_size crops resized from the image, so evaluation resizes stored images to input_size too
    (digits trained as 16 x 16 views are embedded at 16 x 16, not at their stored 8 x 8)."""
    import torch
    from torchvision.transforms.v2 import functional as TF

    from selfsup.backbones import build_backbone

    backbone = build_backbone("cnn5", 1).eval()
    images = domain_named("images")
    scored = images.evaluation_model(backbone, images.Params(input_size=16))
    seen = []
    backbone.register_forward_pre_hook(lambda module, inputs: seen.append(tuple(inputs[0].shape)))
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        features = scored(x)
        expected = backbone(TF.resize(x, [16, 16], antialias=True))
        unchanged = scored(torch.rand(2, 1, 16, 16))
    assert seen[0] == (4, 1, 16, 16) and unchanged.shape == (2, backbone.output_dim)
    torch.testing.assert_close(features, expected)
    assert scored.output_dim == backbone.output_dim
    assert list(scored.parameters()) == list(backbone.parameters())  # the same module, not a copy
    series = domain_named("timeseries")
    assert series.evaluation_model(backbone, series.Params()) is backbone


def _small_seismic_spec(objective: str | None = None, **evaluation) -> SweepSpec:
    data = {**SYNTHETIC, "options": {"n_inline": 48, "n_crossline": 64, "n_depth": 96}}
    evaluation = {
        "protocols": ["seg_frozen"],
        "label_fractions": [0.05, 1.0],
        "segmentation_epochs": 2,
        "segmentation_head_channels": 16,
        **evaluation,
    }
    objective = objective or f"val/{evaluation['protocols'][0]}/miou/frac_{evaluation['label_fractions'][0]}"
    return SweepSpec.model_validate(
        {
            "name": "t",
            "method": "simclr",
            "seed": 3,
            "objective": {"metric": objective, "mode": "max"},
            "data": {
                "pretext": data,
                "downstream": dict(data),
                "sections": {"patch_size": 64, "patch_stride": 32, "gap": 3},
            },
            "fixed": {"backbone": "cnn5", "input_size": 64},
            "evaluation": evaluation,
        }
    )


def _evaluation_and_objective(*args, **evaluation):
    spec = _small_seismic_spec(*args, **evaluation)
    return spec.evaluation, spec.objective.metric


def test_the_report_head_and_fraction_of_the_stored_example():
    from selfsup.evaluation.segmentation import example_protocol

    assert example_protocol(*_evaluation_and_objective()) == ("seg_frozen", 1.0)
    both = {"protocols": ["seg_frozen", "seg_finetune"], "label_fractions": [0.05, 0.5]}
    assert example_protocol(*_evaluation_and_objective(**both)) == ("seg_frozen", 0.5)
    # The objective's protocol is the report's; a label-free objective: seg_frozen where evaluated.
    assert example_protocol(*_evaluation_and_objective("val/seg_finetune/miou/frac_0.05", **both)) == (
        "seg_finetune",
        0.5,
    )
    assert example_protocol(*_evaluation_and_objective("health/rankme", **both)) == ("seg_frozen", 0.5)
    assert example_protocol(*_evaluation_and_objective("health/rankme", protocols=["seg_finetune"])) == (
        "seg_finetune",
        1.0,
    )
    # Classification domains store no example.
    assert domain_named("images").example_prediction(None, None, None, 0, None, "") is None


@pytest.mark.parametrize("protocol", ["seg_frozen", "seg_finetune"])
def test_seismic_example_prediction_is_the_evaluations_head_on_the_first_test_section(protocol):
    """The stored example (report figure "section | truth | prediction") is the first test section and the
    prediction of the head the evaluation trains at 100 % labels: scored alone, it gives exactly the
    evaluation's scores on a test split of that one section."""
    import dataclasses

    import numpy as np
    import torch

    from selfsup.backbones import build_backbone
    from selfsup.evaluation.metric_names import eval_metric_name
    from selfsup.evaluation.segmentation import evaluate_segmentation
    from selfsup.evaluation.segmentation_metrics import confusion_matrix, segmentation_scores

    spec = _small_seismic_spec(protocols=[protocol])
    data = spec.domain.prepare_data(**spec.domain.data_arguments(spec.data, spec.seed, spec.default_params()))
    torch.manual_seed(0)
    backbone = build_backbone("cnn5", 1)
    cpu = torch.device("cpu")
    state = torch.random.get_rng_state()
    example = spec.domain.example_prediction(backbone, data, spec.evaluation, spec.seed, cpu, spec.objective.metric)
    assert torch.equal(torch.random.get_rng_state(), state)  # seeded on its own, like the evaluation

    assert set(example) == {"section", "truth", "prediction", "class_names", "protocol", "fraction", "index"}
    height, width = data.test.x.shape[-2:]
    assert example["section"].shape == example["truth"].shape == example["prediction"].shape == (height, width)
    assert example["section"].dtype == np.float32 and example["truth"].dtype == example["prediction"].dtype == np.int64
    np.testing.assert_array_equal(example["section"], data.test.x[0, 0])
    np.testing.assert_array_equal(example["truth"], data.test.y[0])
    assert example["class_names"].tolist() == data.class_names and example["class_names"].dtype.kind == "U"
    assert 0 <= example["prediction"].min() and example["prediction"].max() < data.n_classes
    assert (str(example["protocol"]), float(example["fraction"]), int(example["index"])) == (protocol, 1.0, 0)

    one_section = dataclasses.replace(data, test=data.test.subset([0]))
    evaluated = evaluate_segmentation(
        backbone, one_section, spec.evaluation, spec.seed, cpu, protocols=[protocol], fractions=[1.0], splits=["test"]
    )
    own = segmentation_scores(
        confusion_matrix(example["truth"], example["prediction"], data.n_classes),
        [f"facies_{i}" for i in range(data.n_classes)],
    )
    for metric in ("pixel_acc", "miou", "iou_facies_0"):
        assert own[metric] == pytest.approx(evaluated[eval_metric_name("test", protocol, metric, 1.0)], abs=1e-9), (
            metric
        )


def test_a_sweeps_evaluation_window_reaches_the_prepared_data():
    """``data.evaluation_window`` travels with the sweep's data request (the per-sweep cache key) into
    ``prepare_data``: BasicMotions' 100-step recordings scored whole, the method training on 50-step windows."""
    from trainables.trial.data_cache import data_request, prepare_requested

    spec = SweepSpec.model_validate(
        _spec(data=BASIC, method="barlow_twins")
        | {
            "data": {
                "pretext": BASIC,
                "downstream": BASIC,
                "window": {"length": 50, "overlap": 0.5},
                "evaluation_window": {"length": 100, "overlap": 0.0},
            }
        }
    )
    data = prepare_requested(data_request(spec))
    assert data.train.x.shape[1:] == data.test.x.shape[1:] == (6, 100)
    assert len(data.test) == 40 and data.pretext.x.shape[1:] == (6, 50)
    assert len(data.pretext) == 3 * len(data.train)  # starts 0, 25, 50 of every training recording
    plain = spec.model_copy(update={"data": spec.data.model_copy(update={"evaluation_window": None})})
    assert data_request(plain) != data_request(spec)


def test_each_domain_counts_the_test_units_its_scores_are_over():
    """A test score over 40 series moves in steps of 2.5 points: the count recorded with it is of the units scored
    (whole series pooled from their windows, or the windows themselves; every image)."""
    from trainables.trial.data_cache import data_request, prepare_requested

    windows = {"pretext": BASIC, "downstream": BASIC, "window": {"length": 50, "overlap": 0.5}}
    for unit, count, noun in (("series", 40, "series"), ("window", 120, "windows")):
        spec = SweepSpec.model_validate(_spec(method="barlow_twins") | {"data": windows, "evaluation": {"unit": unit}})
        data = prepare_requested(data_request(spec))
        assert len(data.test_series_labels) == 40 and len(data.test) == 120  # 3 windows of each test recording
        assert spec.domain.test_units(data, spec.evaluation) == count
        assert spec.domain.evaluation_unit(spec.evaluation) == noun
    digits = SweepSpec.model_validate(_spec())
    data = prepare_requested(data_request(digits))
    assert digits.domain.test_units(data, digits.evaluation) == len(data.test.x) > 0
    assert digits.domain.evaluation_unit(digits.evaluation) == "images"


# ------------------------------------------------ data-dependent refusals: one line, exit 2, before Ray starts
def _seismic_sweep(data=SYNTHETIC, pretext=None, sections=None, objective="val/seg_frozen/miou/frac_0.05") -> dict:
    return {
        "name": "s",
        "method": "simclr",
        "fixed": {"backbone": "cnn5"},
        "data": {
            "pretext": dict(pretext or data),
            "downstream": dict(data),
            **({"sections": sections} if sections else {}),
        },
        "objective": {"metric": objective},
    }


def test_a_patch_larger_than_the_sections_is_refused_in_the_dry_run_and_before_ray(refused):
    shallow = {**SYNTHETIC, "options": {"n_depth": 48}}
    for dry_run in (True, False):
        assert refused(_seismic_sweep(shallow), dry_run) == (
            "data.sections.patch_size 80 is larger than the inline sections of downstream data synthetic_seismic "
            "(48 deep x 96 wide); expected patch_size <= 48"
        )
    # Crossline patches are cut from the training block alone: 0.6 of the 96 - 2 x 5 usable inlines.
    message = refused(_seismic_sweep(sections={"orientation": "both"}), dry_run=True)
    assert message == (
        "data.sections.patch_size 80 is larger than the crossline sections of the 52-inline training "
        "block of downstream data synthetic_seismic (128 deep x 52 wide); expected patch_size <= 52"
    )
    narrow = {**SYNTHETIC, "options": {"n_crossline": 70}}
    assert "than the inline sections of pretext data synthetic_seismic (128 deep x 70 wide)" in refused(
        _seismic_sweep(pretext=narrow), dry_run=True
    )
    SweepSpec.model_validate(_seismic_sweep(sections={"orientation": "both", "patch_size": 64, "train": 0.8}))


def test_a_patch_larger_than_the_sections_of_f3_files_is_refused_before_ray(tmp_path, refused):
    import numpy as np

    rng = np.random.default_rng(0)
    for prefix, shape in (("train", (40, 72, 70)), ("test1", (10, 72, 70))):
        np.save(tmp_path / f"{prefix}_seismic.npy", rng.normal(size=shape).astype(np.float32))
        np.save(tmp_path / f"{prefix}_labels.npy", rng.integers(0, 6, size=shape))
    f3 = {"source": "f3", "path": str(tmp_path)}
    assert refused(_seismic_sweep(f3)) == (
        f"data.sections.patch_size 80 is larger than the inline sections of downstream data f3:{tmp_path} (70 deep x "
        f"72 wide); expected patch_size <= 70"
    )
    spec = load_sweep_from(tmp_path, _seismic_sweep(f3, sections={"patch_size": 64}))
    spec.domain.check_data(spec.data)  # fits


def load_sweep_from(tmp_path, spec: dict):
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump(spec))
    return load_sweep(path)


def test_an_objective_naming_a_facies_the_data_lacks_is_refused_in_the_dry_run(refused):
    message = refused(_seismic_sweep(objective="val/seg_frozen/iou_facies_6/frac_0.05"), dry_run=True)
    assert message == (
        "objective.metric 'val/seg_frozen/iou_facies_6/frac_0.05' names class 'facies_6', which data "
        "synthetic_seismic does not have; its classes: facies_0, facies_1, facies_2, facies_3, "
        "facies_4, facies_5 (per-class metrics are iou_<class>)"
    )
    f3 = {"source": "f3", "path": "/nowhere/f3"}  # F3's six units are known without its files
    assert "names class 'chalk', which data f3:/nowhere/f3 does not have; its classes: upper_ns, middle_ns" in refused(
        _seismic_sweep(f3, objective="val/seg_frozen/iou_chalk/frac_0.05"), dry_run=True
    )
    more = {**SYNTHETIC, "options": {"n_facies": 8}}
    spec = SweepSpec.model_validate(_seismic_sweep(more, objective="val/seg_frozen/iou_facies_7/frac_0.05"))
    spec.check_input_sizes(bundled_only=True)
    assert "n_depth 24 is too small for n_facies 8" in _refusal(
        data={**SYNTHETIC, "options": {"n_depth": 24, "n_facies": 8}}, fixed={"backbone": "cnn5"}
    )


def test_an_image_input_size_is_bounded(refused):
    message = refused(_spec(fixed={"backbone": "cnn5", "input_size": 40000}), dry_run=True)
    assert "input_size 40000 is larger than 1024" in message and "17.9 GiB" in message
    message = refused(
        _spec(fixed={"backbone": "cnn5"}, search={"input_size": {"type": "int", "low": 8, "high": 100000}}),
        dry_run=True,
    )
    assert message.startswith("search.input_size: ") and "input_size 100000 is larger than 1024" in message
    SweepSpec.model_validate(_spec(fixed={"backbone": "cnn5", "input_size": 1024}))


def test_more_cv_folds_than_the_smallest_class_has_labelled_units_are_refused(refused):
    """cross_validated_metric would lower the folds to the smallest class's count without a word."""
    objective = {"metric": "cv/linear/f1/frac_0.1"}
    message = refused(
        _spec(BASIC, method="barlow_twins", evaluation={"cv_folds": 11}, objective=objective), dry_run=True
    )
    assert message == (
        "evaluation.cv_folds 11 is more than objective cv/linear/f1/frac_0.1 can use: the 40 labelled "
        "series of aeon:BasicMotions (training + validation) hold 10 of their smallest class, and every "
        "stratified fold needs one of each class; expected cv_folds <= 10"
    )
    assert refused(_spec(BASIC, method="barlow_twins", evaluation={"cv_folds": 11}, objective=objective)) == message
    # Per window: 100-step recordings in 50-step windows overlapping by 0.5 give 3 windows each.
    windows = _spec(BASIC, method="barlow_twins", evaluation={"cv_folds": 31, "unit": "window"}, objective=objective)
    assert (
        "the 120 labelled windows of aeon:BasicMotions (training + validation) hold 30 of their smallest class"
        in refused(windows, dry_run=True)
    )
    message = refused(
        _spec(evaluation={"cv_folds": 200}, objective={"metric": "cv/linear/acc/frac_0.1"}, fixed={"backbone": "cnn5"}),
        dry_run=True,
    )
    assert "the 1347 labelled images of digits (training + validation) hold 131 of their smallest class" in message
    # A val/ objective never folds: cv_folds is not read.
    spec = SweepSpec.model_validate(
        _spec(BASIC, method="barlow_twins", evaluation={"cv_folds": 11}, objective={"metric": "val/linear/f1/frac_1.0"})
    )
    spec.check_input_sizes(bundled_only=True)


def test_the_domain_registry_takes_domain_classes_under_their_own_name():
    from selfsup.domains.base import check_domain_class

    check_domain_class("images", DOMAINS.get("images"))
    with pytest.raises(TypeError, match="domain 'x': <class 'object'> is not a Domain subclass"):
        check_domain_class("x", object)
    with pytest.raises(TypeError, match=r"ImageDomain\.name is 'images'; expected 'x'"):
        check_domain_class("x", DOMAINS.get("images"))


def test_data_given_as_a_plain_data_spec_is_validated_as_its_domains_data():
    """A DataSpec built in code (not a domain's Data) gets its domain's options, as a YAML mapping would."""
    from selfsup.domains.base import DataSpec
    from selfsup.domains.timeseries import TimeSeriesData

    spec = SweepSpec.model_validate(_spec(BASIC))
    plain = DataSpec(pretext=spec.data.pretext, downstream=spec.data.downstream)
    again = SweepSpec.model_validate({**spec.model_dump(), "data": plain})
    assert type(again.data) is TimeSeriesData and again.data.window.length == 60


def test_a_data_option_a_domain_refuses_says_why():
    raw = _spec(SYNTHETIC)
    raw["data"]["validation_fraction"] = 0.2
    with pytest.raises(
        ValueError,
        match=r"'validation_fraction' does not apply to seismic sections: validation is an "
        r"inline block \(data.sections.validation\); remove it",
    ):
        SweepSpec.model_validate(raw)
