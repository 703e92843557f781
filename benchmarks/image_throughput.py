"""Image training throughput (BYOL + ResNet-50 on 224 x 224 views by default), per precision and layout.

    python benchmarks/image_throughput.py [--method byol] [--backbone resnet50] [--input-size 224]
        [--stored-size 256] [--batch 128] [--images 1280] [--device cuda] [--peak-tflops 989]

One epoch over ``--images`` random images (content does not change the work) through the trainer's own
loop (``selfsup.pretrain.train_one_epoch``: pinned-memory loader, augmentation of two views on the device,
forward under each precision, loss, backward, optimiser step, target update), for fp32 and bf16 autocast,
each in NCHW and channels-last layout. Printed per combination: images/s, seconds per epoch, the share of a
step spent making the views, and the fraction of the device's bf16 dense peak the step reaches (the step's
floating-point operations counted once by ``torch.utils.flop_counter.FlopCounterMode``, views excluded,
divided by the step's measured time). The peak comes from ``--peak-tflops`` or a table of known GPUs; on a
CPU the fraction is not printed. It prints figures; nothing is asserted.

On a 2-core CPU, a quick check of the script: ``--backbone resnet18_small --input-size 32 --stored-size 32
--batch 32 --images 128``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "ssl"))

from selfsup.backbones import build_backbone  # noqa: E402
from selfsup.data.windows import Windows  # noqa: E402
from selfsup.domains import DOMAINS, domain_named  # noqa: E402
from selfsup.methods import METHODS, DataShape, PretextBatch, ProjectorSpec  # noqa: E402
from selfsup.mixed_precision import autocast  # noqa: E402
from selfsup.pretrain import build_optimizer, to_channels_last, train_one_epoch, training_loader  # noqa: E402

# Dense bf16 tensor-core peaks (TFLOP/s, without sparsity) from the vendors' data sheets, by device name.
BF16_PEAK_TFLOPS = {
    "H200": 989.0,
    "H100 SXM": 989.0,
    "H100 80GB HBM3": 989.0,
    "H100 PCIe": 756.0,
    "H100 NVL": 835.0,
    "A100": 312.0,
    "L40S": 362.0,
    "A10": 125.0,
}


def device_peak_tflops(device: torch.device, override: float | None) -> float | None:
    if override is not None:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    matches = [peak for key, peak in BF16_PEAK_TFLOPS.items() if key in name]
    return matches[0] if matches else None


def build(args, device: torch.device, channels_last: bool):
    torch.manual_seed(0)
    cls = METHODS.get(args.method)
    params = DOMAINS.get("images").Params(
        backbone=args.backbone,
        input_size=args.input_size,
        augmentation_preset="byol",
        batch_size=args.batch,
        optimizer="adamw",
        lr=1e-3,
    )
    model = cls(
        build_backbone(args.backbone, 3), ProjectorSpec(256, 2, 4096), cls.Params(), DataShape(3, args.stored_size, 10)
    )
    if channels_last:
        to_channels_last(model)
    model = model.to(device)
    return model, build_optimizer(params, model), domain_named("images").build_augmenter(params, seed=0)


def step_flops(model, augmenter, x: torch.Tensor, windows: Windows, device, precision: str) -> float:
    """Floating-point operations of one training step on ``x`` (forward and backward), views excluded."""
    from torch.utils.flop_counter import FlopCounterMode

    views = augmenter.views(x, 2)
    counter = FlopCounterMode(display=False)
    with counter, autocast(device, precision):
        output = model(PretextBatch(x, lambda _x, n=2: views[:n], None, torch.arange(len(x)), windows))
        output.loss.backward()
    model.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="byol")
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--stored-size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--images", type=int, default=1280)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--peak-tflops", type=float, default=None)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels once
    peak = device_peak_tflops(device, args.peak_tflops)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"{args.method} + {args.backbone}, {args.input_size}x{args.input_size} views of {args.stored_size}x"
        f"{args.stored_size} images, batch {args.batch}, epoch of {args.images} images, on {name}"
        + (f" (bf16 peak {peak:g} TFLOP/s)" if peak else "")
    )
    rng = np.random.default_rng(0)
    images = Windows(
        x=rng.random((args.images, 3, args.stored_size, args.stored_size), dtype=np.float32),
        y=None,
        series_index=np.arange(args.images),
        name="random images",
    )
    print(
        f"{'precision':<9} {'layout':<13} {'images/s':>9} {'s/epoch':>8} {'views %':>8} {'TFLOP/s':>8} {'of peak':>8}"
    )
    for precision in args.precisions:
        for channels_last in (False, True):
            model, optimizer, augmenter = build(args, device, channels_last)
            loader = training_loader(images, args.batch)
            x = torch.as_tensor(images.x[: args.batch]).to(device)
            flops = step_flops(model, augmenter, x, images, device, precision)
            train_one_epoch(
                model, loader, images, augmenter, optimizer, device, 0, 2, precision, channels_last
            )  # warm-up epoch: allocator, cuDNN autotuning
            _synchronize(device)
            start = time.perf_counter()
            train_one_epoch(model, loader, images, augmenter, optimizer, device, 1, 2, precision, channels_last)
            _synchronize(device)
            seconds = time.perf_counter() - start
            steps = args.images // args.batch
            view_seconds = _time_views(augmenter, x, device) * steps
            achieved = flops * steps / seconds / 1e12
            fraction = f"{achieved / peak:8.1%}" if peak else f"{'n/a':>8}"
            layout = "channels-last" if channels_last else "NCHW"
            print(
                f"{precision:<9} {layout:<13} {steps * args.batch / seconds:9.1f} {seconds:8.2f} "
                f"{view_seconds / seconds:8.0%} {achieved:8.2f} {fraction}",
                flush=True,
            )
    print(
        "(views %: time making the two views of each batch, over the epoch; TFLOP/s and of peak: the step's "
        "counted FLOPs over its measured time)"
    )


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_views(augmenter, x: torch.Tensor, device: torch.device, repeats: int = 3) -> float:
    augmenter.views(x, 2)
    _synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        augmenter.views(x, 2)
    _synchronize(device)
    return (time.perf_counter() - start) / repeats


if __name__ == "__main__":
    main()
