"""Augmentations for seismic sections: random fixed-size crops, horizontal flips, amplitude scaling and noise.

A seismic section is a (1, H, W) image of signed reflection amplitudes, depth (two-way time) down the rows and
traces along the columns, standardised to zero mean and unit variance. The photo recipes of SimCLR and BYOL do
not carry over: colour changes alter the amplitudes that encode the geology, blur erases thin reflectors, and
rotations or resized crops distort the depth axis. The reference seismic report kept only random crops and
horizontal flips; this module adds a per-view amplitude scale and small Gaussian noise, both of which leave
reflector geometry intact. :data:`REFUSED_FOR_SEISMIC` gives the reason for each image-only parameter, so that a
seismic sweep can refuse it with an explanation.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, field_validator

#: Smallest crop side: the reference report found that smaller crops lose the geology.
MIN_SEISMIC_INPUT_SIZE = 64

_COLOUR_REASON = (
    "seismic amplitudes are signed physical reflection strengths, not colours; changing them "
    "changes the geology they encode"
)
_GEOMETRY_REASON = (
    "the reference report kept only random crops and horizontal flips: anything else distorts "
    "the depth axis, so dips and layer thicknesses become unphysical"
)

#: Image-only augmentation parameters (fields of ImageAugmentationParams) -> why a seismic sweep refuses them.
REFUSED_FOR_SEISMIC: dict[str, str] = {
    "aug_brightness": _COLOUR_REASON,
    "aug_contrast": _COLOUR_REASON,
    "aug_saturation": _COLOUR_REASON,
    "aug_hue": _COLOUR_REASON,
    "aug_color_jitter_p": _COLOUR_REASON,
    "aug_grayscale_p": _COLOUR_REASON,
    "aug_solarize_p": "solarizing inverts the strong amplitudes; " + _COLOUR_REASON,
    "aug_blur_p": "blurring erases the thin reflectors that separate facies",
    "aug_rotation": "rotating tilts the depth axis; " + _GEOMETRY_REASON,
    "aug_crop_scale_min": "a resized crop stretches the depth axis; seismic views are fixed-size crops without "
    "resizing (input_size); " + _GEOMETRY_REASON,
    "augmentation_preset": "the SimCLR / BYOL presets are recipes for colour photographs; seismic views are "
    "crops, flips, amplitude scaling and noise (aug_hflip, aug_amplitude_scale, aug_noise)",
}


class SeismicAugmentationParams(BaseModel):
    """Seismic augmentation hyperparameters; every field is a flat scalar a search space can name."""

    model_config = ConfigDict(extra="forbid")

    #: Side of the square random crops, in samples; the sections must be at least this large.
    input_size: int = 64
    #: Probability of mirroring a view along the trace (horizontal) axis.
    aug_hflip: float = 0.5
    #: Each view's amplitudes are multiplied by a factor uniform in [1 - s, 1 + s].
    aug_amplitude_scale: float = 0.2
    #: Standard deviation of additive Gaussian noise (the amplitudes are standardised, so relative to their std).
    aug_noise: float = 0.05

    @field_validator("input_size")
    @classmethod
    def _check_input_size(cls, value: int) -> int:
        if value < MIN_SEISMIC_INPUT_SIZE:
            raise ValueError(
                f"input_size must be >= {MIN_SEISMIC_INPUT_SIZE} for seismic sections: the reference "
                f"report found that smaller crops lose the geology, got {value}"
            )
        return value

    @field_validator("aug_hflip")
    @classmethod
    def _check_hflip(cls, value: float) -> float:
        if not 0 <= value <= 1:  # also refuses NaN
            raise ValueError(f"aug_hflip must be a probability in [0, 1], got {value}")
        return value

    @field_validator("aug_amplitude_scale")
    @classmethod
    def _check_amplitude_scale(cls, value: float) -> float:
        # At 1 a factor could reach 0 and wipe the section out.
        if not 0 <= value < 1:
            raise ValueError(
                f"aug_amplitude_scale must be in [0, 1) (factors in [1 - s, 1 + s] stay positive), got {value}"
            )
        return value

    @field_validator("aug_noise")
    @classmethod
    def _check_noise(cls, value: float) -> float:
        if not 0 <= value < float("inf"):
            raise ValueError(f"aug_noise must be a finite standard deviation >= 0, got {value}")
        return value


class SeismicAugmenter:
    """Views of seismic section batches (:class:`SeismicAugmentationParams`).

    ``views(x, n)`` takes a (B, 1, H, W) float batch with H, W >= input_size (more channels, e.g. stacked
    attributes, are cropped and flipped alike) and returns ``n`` (B, C, input_size, input_size) tensors of ``x``'s
    dtype and device. Each view of each section, independently::

        top ~ U{0 .. H - s},  left ~ U{0 .. W - s}                   s = input_size
        crop = x[b, :, top : top + s, left : left + s]               mirrored along the columns with p aug_hflip
        out = a * crop + sigma * eps,   a ~ U[1 - aug_amplitude_scale, 1 + aug_amplitude_scale],   eps ~ N(0, 1)

    with sigma = aug_noise. The crops are one gather with per-section offsets (no loop over the batch), and all
    randomness comes from the augmenter's own ``torch.Generator`` on ``x``'s device, created and seeded on first
    use there: views are reproducible given the seed, and the global RNG is untouched. float16 / bfloat16 batches
    are processed in float32 and cast back.

    Args:
        params: crop size and augmentation strengths.
        seed: seed of the generators.
    """

    def __init__(self, params: SeismicAugmentationParams, seed: int) -> None:
        self.params = params
        self.input_size = params.input_size
        self.seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}

    def generator(self, device: torch.device | str) -> torch.Generator:
        """This augmenter's generator on ``device``, created and seeded on first use."""
        device = torch.device(device)
        if device not in self._generators:
            self._generators[device] = torch.Generator(device=device).manual_seed(self.seed)
        return self._generators[device]

    def reseed(self, seed: int) -> None:
        """Restart the stream from ``seed`` on every device."""
        self.seed = seed
        self._generators.clear()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """One augmented view of the batch ``x``."""
        self._check_input(x)
        size = self.input_size
        batch, channels, height, width = x.shape
        device = x.device
        generator = self.generator(device)
        compute_dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32

        tops = torch.randint(0, height - size + 1, (batch,), generator=generator, device=device)
        lefts = torch.randint(0, width - size + 1, (batch,), generator=generator, device=device)
        flipped = torch.rand(batch, generator=generator, device=device) < self.params.aug_hflip
        offsets = torch.arange(size, device=device)
        rows = tops[:, None] + offsets  # (B, s)
        # Mirroring is folded into the gather: a flipped crop reads its columns right to left.
        columns = lefts[:, None] + torch.where(flipped[:, None], offsets.flip(0), offsets)  # (B, s)
        crops = x[
            torch.arange(batch, device=device)[:, None, None, None],
            torch.arange(channels, device=device)[None, :, None, None],
            rows[:, None, :, None],
            columns[:, None, None, :],
        ].to(compute_dtype)  # (B, C, s, s)

        strength = self.params.aug_amplitude_scale
        if strength > 0:
            uniform = torch.rand(batch, 1, 1, 1, generator=generator, device=device, dtype=compute_dtype)
            crops = crops * (1 + strength * (2 * uniform - 1))
        if self.params.aug_noise > 0:
            noise = torch.randn(crops.shape, generator=generator, device=device, dtype=compute_dtype)
            crops = crops + self.params.aug_noise * noise
        return crops.to(x.dtype)

    def views(self, x: torch.Tensor, n: int = 2) -> list[torch.Tensor]:
        """``n`` independently augmented views of the (B, C, H, W) batch ``x``."""
        if n < 1:
            raise ValueError(f"views needs n >= 1, got {n}")
        return [self(x) for _ in range(n)]

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4:
            raise ValueError(
                f"SeismicAugmenter expects a (batch, channels, height, width) tensor, got shape {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise ValueError(f"SeismicAugmenter expects a floating-point tensor, got {x.dtype}")
        height, width = x.shape[-2:]
        if height < self.input_size or width < self.input_size:
            raise ValueError(
                f"sections of {height} x {width} are smaller than the crops of input_size "
                f"{self.input_size} x {self.input_size}"
            )

    def describe(self) -> str:
        """Every view's pipeline in one line, for dry runs."""
        size = self.input_size
        scale = self.params.aug_amplitude_scale
        steps = [f"random crop {size}x{size}"]
        if self.params.aug_hflip > 0:
            steps.append(f"hflip(p {self.params.aug_hflip:g})")
        if scale > 0:
            steps.append(f"amplitude x U[{1 - scale:g}, {1 + scale:g}]")
        if self.params.aug_noise > 0:
            steps.append(f"noise(std {self.params.aug_noise:g})")
        return f"seismic {size}x{size}: every view = {' > '.join(steps)}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r}, seed={self.seed})"
