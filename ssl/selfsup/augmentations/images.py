"""Image augmentations for self-supervised views: the SimCLR and BYOL recipes built from torchvision's
transforms v2, with every strength and probability overridable by name from a search space.

Presets (view ``i`` of a batch follows recipe ``i % len(recipes)``, so BYOL's two views alternate):

- ``"simclr"`` (Chen, Kornblith, Norouzi & Hinton, "A Simple Framework for Contrastive Learning of Visual
  Representations", ICML 2020, appendix A): RandomResizedCrop with scale in [0.08, 1], horizontal flip
  with p 0.5, ColorJitter(brightness 0.8, contrast 0.8, saturation 0.8, hue 0.2) applied with p 0.8,
  grayscale with p 0.2, Gaussian blur with p 0.5, sigma in [0.1, 2] and a kernel of about 10 % of the view's
  side. SimCLR's own CIFAR-10 recipe (appendix B.9) leaves the blur out because of the low resolution; the
  preset keeps it, and ``aug_blur_p: 0`` drops it.
- ``"byol"`` (Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020, table 6): two asymmetric views, both
  with RandomResizedCrop scale [0.08, 1], flip p 0.5, ColorJitter(0.4, 0.4, 0.2, 0.1) with p 0.8 and
  grayscale p 0.2; the first is always blurred (p 1.0) and never solarized, the second is blurred with p 0.1
  and solarized with p 0.2 (threshold 0.5 for images in [0, 1]). BYOL resizes with bicubic interpolation;
  here both presets use bilinear (with antialiasing), which cannot overshoot [0, 1].
- ``"none"``: the whole image resized to ``input_size`` (crop scale 1..1), nothing else; deterministic.

The ``aug_*`` override fields default to None ("the preset's value"); a value replaces the preset's in every
view. Overrides only replace numbers: under ``"none"`` a jitter strength needs ``aug_color_jitter_p`` too.

Randomness: torchvision's v2 transforms draw their parameters from torch's global generator (``torch.rand(1)``,
``torch.randint`` on the default device). :class:`ImageAugmenter` keeps its own ``torch.Generator``, draws one
seed per view from it, and runs the transforms with the global generator forked and seeded with that seed, so
views are reproducible given the augmenter's seed and the caller's global RNG state is neither read nor changed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch
from pydantic import BaseModel, ConfigDict, field_validator

from selfsup.backbones.base import FeatureMapBackbone, VectorBackbone

if TYPE_CHECKING:
    from torchvision.transforms import v2

#: Threshold of BYOL's solarization for images in [0, 1] (pixels >= 0.5 are inverted; 128 of 255 in the paper).
SOLARIZE_THRESHOLD = 0.5
#: Range of the Gaussian blur's standard deviation in pixels (SimCLR appendix A, BYOL table 6).
BLUR_SIGMA = (0.1, 2.0)


@dataclass(frozen=True)
class ViewRecipe:
    """The strengths and probabilities of one view's pipeline; a probability or strength of 0 leaves its step
    out. Fields mirror the ``aug_*`` fields of :class:`ImageAugmentationParams`."""

    crop_scale_min: float  # RandomResizedCrop keeps a fraction in [crop_scale_min, 1] of the image's area
    hflip: float  # probability of a horizontal flip
    rotation: float  # RandomRotation by an angle uniform in [-rotation, rotation] degrees
    brightness: float  # ColorJitter's strengths ...
    contrast: float
    saturation: float
    hue: float
    color_jitter_p: float  # ... applied with this probability
    grayscale_p: float
    blur_p: float
    solarize_p: float


_SIMCLR = ViewRecipe(
    crop_scale_min=0.08,
    hflip=0.5,
    rotation=0.0,
    brightness=0.8,
    contrast=0.8,
    saturation=0.8,
    hue=0.2,
    color_jitter_p=0.8,
    grayscale_p=0.2,
    blur_p=0.5,
    solarize_p=0.0,
)
_BYOL_FIRST = ViewRecipe(
    crop_scale_min=0.08,
    hflip=0.5,
    rotation=0.0,
    brightness=0.4,
    contrast=0.4,
    saturation=0.2,
    hue=0.1,
    color_jitter_p=0.8,
    grayscale_p=0.2,
    blur_p=1.0,
    solarize_p=0.0,
)
_BYOL_SECOND = dataclasses.replace(_BYOL_FIRST, blur_p=0.1, solarize_p=0.2)
_NONE = ViewRecipe(
    crop_scale_min=1.0,
    hflip=0.0,
    rotation=0.0,
    brightness=0.0,
    contrast=0.0,
    saturation=0.0,
    hue=0.0,
    color_jitter_p=0.0,
    grayscale_p=0.0,
    blur_p=0.0,
    solarize_p=0.0,
)

#: Each preset's view recipes; view ``i`` follows ``PRESETS[preset][i % len(PRESETS[preset])]``.
PRESETS: dict[str, tuple[ViewRecipe, ...]] = {
    "simclr": (_SIMCLR,),
    "byol": (_BYOL_FIRST, _BYOL_SECOND),
    "none": (_NONE,),
}

#: Override field of ImageAugmentationParams -> the ViewRecipe field it replaces.
OVERRIDE_FIELDS: dict[str, str] = {f"aug_{field.name}": field.name for field in dataclasses.fields(ViewRecipe)}

_PROBABILITY_FIELDS = ("aug_hflip", "aug_color_jitter_p", "aug_grayscale_p", "aug_blur_p", "aug_solarize_p")


class ImageAugmentationParams(BaseModel):
    """Image augmentation hyperparameters: a preset, the view size, and optional per-field overrides.

    Every field is a flat scalar, so a search space can name and sample each one. An ``aug_*`` field left at
    None takes the preset's value (see the module docstring); a value replaces it in every view.
    """

    model_config = ConfigDict(extra="forbid")

    augmentation_preset: Literal["simclr", "byol", "none"] = "simclr"
    #: Side of the square views (RandomResizedCrop's output size), whatever the stored image size.
    input_size: int = 32
    aug_crop_scale_min: float | None = None
    aug_hflip: float | None = None
    aug_rotation: float | None = None
    aug_brightness: float | None = None
    aug_contrast: float | None = None
    aug_saturation: float | None = None
    aug_hue: float | None = None
    aug_color_jitter_p: float | None = None
    aug_grayscale_p: float | None = None
    aug_blur_p: float | None = None
    aug_solarize_p: float | None = None

    @field_validator("input_size")
    @classmethod
    def _check_input_size(cls, value: int) -> int:
        if value < 4:
            raise ValueError(f"input_size must be >= 4 (the side of the square views in pixels), got {value}")
        return value

    @field_validator("aug_crop_scale_min")
    @classmethod
    def _check_crop_scale(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value <= 1:  # also refuses NaN
            raise ValueError(f"aug_crop_scale_min must be in (0, 1] (a fraction of the image's area), got {value}")
        return value

    @field_validator(*_PROBABILITY_FIELDS)
    @classmethod
    def _check_probability(cls, value: float | None, info) -> float | None:
        if value is not None and not 0 <= value <= 1:
            raise ValueError(f"{info.field_name} must be a probability in [0, 1], got {value}")
        return value

    @field_validator("aug_rotation")
    @classmethod
    def _check_rotation(cls, value: float | None) -> float | None:
        # Angles beyond +-180 degrees repeat ones already in the range.
        if value is not None and not 0 <= value <= 180:
            raise ValueError(f"aug_rotation must be in [0, 180] degrees, got {value}")
        return value

    @field_validator("aug_brightness", "aug_contrast", "aug_saturation")
    @classmethod
    def _check_jitter_strength(cls, value: float | None, info) -> float | None:
        if value is not None and not 0 <= value < math.inf:
            raise ValueError(
                f"{info.field_name} must be a finite strength >= 0 (ColorJitter scales by a factor "
                f"in [max(0, 1 - s), 1 + s]), got {value}"
            )
        return value

    @field_validator("aug_hue")
    @classmethod
    def _check_hue(cls, value: float | None) -> float | None:
        if value is not None and not 0 <= value <= 0.5:
            raise ValueError(f"aug_hue must be in [0, 0.5] (a hue shift of up to half the colour wheel), got {value}")
        return value

    def recipes(self) -> tuple[ViewRecipe, ...]:
        """The preset's view recipes with the overrides that are set applied to each."""
        overrides = {
            recipe_field: getattr(self, name)
            for name, recipe_field in OVERRIDE_FIELDS.items()
            if getattr(self, name) is not None
        }
        return tuple(dataclasses.replace(recipe, **overrides) for recipe in PRESETS[self.augmentation_preset])


def blur_kernel_size(input_size: int) -> int:
    """Gaussian blur kernel side: about 10 % of the view's side, odd, at least 3 (SimCLR appendix A: 23 for
    224-pixel views)."""
    return max(3, round(0.1 * input_size) // 2 * 2 + 1)


def build_pipeline(recipe: ViewRecipe, input_size: int, channels: int) -> v2.Compose:
    """The v2 pipeline of one view recipe for (C, H, W) float images in [0, 1] with ``channels`` in (1, 3).

    Steps with probability or strength 0 are left out. On 1-channel images saturation, hue and grayscale do
    nothing (torchvision returns the image unchanged), so they are left out too.
    """
    # Imported here, not at the top: torchvision costs a process about a second (it pulls in torch._dynamo),
    # and the parameter models above are validated by every process that reads a search space.
    from torchvision.transforms import v2

    if channels not in (1, 3):
        raise ValueError(f"image augmentations need 1- or 3-channel images, got {channels} channels")
    colour = channels == 3
    steps: list[torch.nn.Module] = [
        v2.RandomResizedCrop(input_size, scale=(recipe.crop_scale_min, 1.0), antialias=True)
    ]
    if recipe.hflip > 0:
        steps.append(v2.RandomHorizontalFlip(p=recipe.hflip))
    if recipe.rotation > 0:
        # Bilinear rather than the default nearest, so rotated edges are not jagged; the corners are filled with 0.
        steps.append(v2.RandomRotation(recipe.rotation, interpolation=v2.InterpolationMode.BILINEAR))
    jitter = {
        "brightness": recipe.brightness,
        "contrast": recipe.contrast,
        "saturation": recipe.saturation if colour else 0.0,
        "hue": recipe.hue if colour else 0.0,
    }
    if recipe.color_jitter_p > 0 and any(strength > 0 for strength in jitter.values()):
        steps.append(v2.RandomApply([v2.ColorJitter(**jitter)], p=recipe.color_jitter_p))
    if colour and recipe.grayscale_p > 0:
        steps.append(v2.RandomGrayscale(p=recipe.grayscale_p))
    if recipe.blur_p > 0:
        blur = v2.GaussianBlur(blur_kernel_size(input_size), sigma=BLUR_SIGMA)
        steps.append(v2.RandomApply([blur], p=recipe.blur_p))
    if recipe.solarize_p > 0:
        steps.append(v2.RandomSolarize(threshold=SOLARIZE_THRESHOLD, p=recipe.solarize_p))
    return v2.Compose(steps)


def describe_recipe(recipe: ViewRecipe, input_size: int) -> str:
    """One view's pipeline in one line, e.g. ``crop(scale 0.08-1) > hflip(p 0.5) > ...``."""
    steps = [f"crop(scale {recipe.crop_scale_min:g}-1)"]
    if recipe.hflip > 0:
        steps.append(f"hflip(p {recipe.hflip:g})")
    if recipe.rotation > 0:
        steps.append(f"rotate(+-{recipe.rotation:g} deg)")
    strengths = (recipe.brightness, recipe.contrast, recipe.saturation, recipe.hue)
    if recipe.color_jitter_p > 0 and any(strength > 0 for strength in strengths):
        steps.append("jitter(b {:g}, c {:g}, s {:g}, h {:g}; p {:g})".format(*strengths, recipe.color_jitter_p))
    if recipe.grayscale_p > 0:
        steps.append(f"grayscale(p {recipe.grayscale_p:g})")
    if recipe.blur_p > 0:
        steps.append(
            f"blur(k {blur_kernel_size(input_size)}, sigma {BLUR_SIGMA[0]:g}-{BLUR_SIGMA[1]:g}; p {recipe.blur_p:g})"
        )
    if recipe.solarize_p > 0:
        steps.append(f"solarize(>= {SOLARIZE_THRESHOLD:g}; p {recipe.solarize_p:g})")
    return " > ".join(steps)


class ResizedInput(torch.nn.Module):
    """``backbone`` behind a resize of every (B, C, H, W) input to ``size`` x ``size`` (bilinear with
    antialiasing, as the views' RandomResizedCrop): how evaluation shows stored images to an encoder trained
    on ``size`` x ``size`` views. Inputs already of that size pass unchanged. ``output_dim`` and
    ``forward_features`` are the backbone's."""

    def __init__(self, backbone: torch.nn.Module, size: int) -> None:
        super().__init__()
        if not isinstance(backbone, VectorBackbone):
            raise AttributeError(f"backbone {type(backbone).__name__} has no output_dim")
        self.backbone = backbone
        self.size = size
        self.output_dim = backbone.output_dim

    def resize(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) == (self.size, self.size):
            return x
        from torchvision.transforms.v2.functional import resize  # see build_pipeline

        return resize(x, [self.size, self.size], antialias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.resize(x))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        backbone = self.backbone
        if not isinstance(backbone, FeatureMapBackbone):
            raise AttributeError(f"backbone {type(backbone).__name__} has no forward_features")
        return backbone.forward_features(self.resize(x))


@contextlib.contextmanager
def _private_global_rng(device: torch.device, seed: int) -> Iterator[None]:
    """Run the block with torch's global generators of the CPU and of ``device`` seeded with ``seed``, and
    restore their states afterwards.

    v2 draws on the default device (the CPU unless ``torch.set_default_device`` says otherwise); ``device``'s
    generator is forked and seeded as well for the case of an accelerator default device. Only these generators
    are seeded, not via ``torch.manual_seed``: that seeds every accelerator, and on a machine whose CUDA is not
    initialised yet it queues the seed for later, which would leak past the fork into the caller's stream.
    """
    accelerator = device.type != "cpu"
    with torch.random.fork_rng(
        devices=[device] if accelerator else [], device_type=device.type if accelerator else None
    ):
        torch.random.default_generator.manual_seed(seed)
        if accelerator:
            module = torch.get_device_module(device.type)
            generators = getattr(module, "default_generators", None)
            if generators is None:  # e.g. MPS: a single device, seeded through its module
                module.manual_seed(seed)
            else:
                generators[device.index if device.index is not None else module.current_device()].manual_seed(seed)
        yield


class ImageAugmenter:
    """Views of image batches following a preset's recipes (:class:`ImageAugmentationParams`).

    ``views(x, n)`` takes a (B, C, H, W) float batch in [0, 1] with C in (1, 3), on any device, and returns ``n``
    (B, C, input_size, input_size) tensors of ``x``'s dtype and device; view ``i`` follows recipe
    ``i % len(recipes)``. Every image gets its own random crop, flip, jitter, ... . The transforms run on ``x``'s
    device; float16 / bfloat16 batches are processed in float32 (colour conversions lose too much precision in
    half precision) and cast back.

    On 1-channel images (digits, grayscale sections) ColorJitter's saturation and hue and RandomGrayscale have
    nothing to act on and are skipped; brightness, contrast, blur and solarize apply as usual.

    Randomness: the augmenter's own ``torch.Generator`` (on the CPU, so a seed gives the same crops on every
    device) draws a seed per view, and the v2 transforms run under :func:`_private_global_rng` with it; the
    caller's global RNG state is unchanged. Each call advances the generator, so repeated calls give new
    views; ``reseed(seed)`` restarts the stream (the trainer reseeds every epoch).

    Args:
        params: the preset, view size and overrides.
        seed: seed of the augmenter's generator.
    """

    def __init__(self, params: ImageAugmentationParams, seed: int) -> None:
        self.params = params
        self.recipes: tuple[ViewRecipe, ...] = params.recipes()
        self.input_size = params.input_size
        self.seed = seed
        self._generator = torch.Generator().manual_seed(seed)
        self._pipelines: dict[tuple[int, int], v2.Compose] = {}

    def reseed(self, seed: int) -> None:
        """Restart the stream from ``seed``."""
        self.seed = seed
        self._generator = torch.Generator().manual_seed(seed)

    def pipeline(self, view_index: int, channels: int) -> v2.Compose:
        """The v2 pipeline of view ``view_index`` for ``channels``-channel images (built once, then cached)."""
        key = (view_index % len(self.recipes), channels)
        if key not in self._pipelines:
            self._pipelines[key] = build_pipeline(self.recipes[key[0]], self.input_size, channels)
        return self._pipelines[key]

    def views(self, x: torch.Tensor, n: int = 2) -> list[torch.Tensor]:
        """``n`` augmented views of the (B, C, H, W) batch ``x`` in [0, 1]."""
        if n < 1:
            raise ValueError(f"views needs n >= 1, got {n}")
        if x.dim() != 4:
            raise ValueError(
                f"ImageAugmenter expects a (batch, channels, height, width) tensor, got shape {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise ValueError(f"ImageAugmenter expects a floating-point tensor in [0, 1], got {x.dtype}")
        batch, channels = x.shape[:2]
        if channels not in (1, 3):
            raise ValueError(f"ImageAugmenter expects 1- or 3-channel images, got {channels} channels")
        compute_dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
        # v2's colour transforms assume values in [0, 1] (hue goes through HSV, brightness clamps to 1).
        images = x.to(compute_dtype).clamp(0, 1)
        size = (batch, channels, self.input_size, self.input_size)
        out = []
        for view_index in range(n):
            pipeline = self.pipeline(view_index, channels)
            seed = int(torch.randint(0, 2**62, (1,), generator=self._generator))
            if batch == 0:
                out.append(x.new_empty(size))
                continue
            with _private_global_rng(x.device, seed):
                # A v2 transform draws one set of parameters per call and applies it to everything it is
                # given, so a batched call would crop, flip and jitter all images alike. Calling the pipeline
                # per image gives each its own parameters, at the cost of a Python loop over the batch (about
                # 0.5 ms per 32 x 32 image on one CPU core for the SimCLR recipe).
                view = torch.stack([pipeline(image) for image in images])
            # Interpolation and blurring are convex combinations, but may round a hair past 1.
            out.append(view.clamp(0, 1).to(x.dtype))
        return out

    def describe(self) -> str:
        """Each view's pipeline in one line, for dry runs."""
        head = f"{self.params.augmentation_preset} {self.input_size}x{self.input_size}"
        lines = [describe_recipe(recipe, self.input_size) for recipe in self.recipes]
        if len(lines) == 1:
            body = f"every view = {lines[0]}"
        else:
            step = len(lines)
            body = "; ".join(f"views {index}, {index + step}, ... = {line}" for index, line in enumerate(lines))
        colour_only = any(
            recipe.grayscale_p > 0 or (recipe.color_jitter_p > 0 and recipe.saturation + recipe.hue > 0)
            for recipe in self.recipes
        )
        note = " (1-channel input skips saturation, hue and grayscale)" if colour_only else ""
        return f"{head}: {body}{note}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r}, seed={self.seed})"
