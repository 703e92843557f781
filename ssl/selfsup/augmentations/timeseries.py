"""Batched time-series augmentations as pure torch ops.

Every augmentation has the signature ``fn(x, strength, generator) -> Tensor`` where ``x`` is a float tensor
of shape (batch, channels, length). The output has the shape, dtype and device of ``x``; all randomness is
drawn from ``generator``, which must live on ``x``'s device, so a seeded generator gives reproducible views.
``strength == 0`` returns an unchanged copy of ``x``. The ops are vectorised over the batch (no Python loop
over samples), so they run on the accelerator next to the model.

float16 / bfloat16 inputs are processed in float32 and cast back, because interpolation weights, cumulative
sums and standard deviations lose too much precision in half precision; float32 and float64 are processed
as they are.

The jitter, scaling, magnitude-warp and time-warp families follow Um et al., "Data augmentation of wearable
sensor data for Parkinson's disease monitoring using convolutional neural networks", ICMI 2017, and the
survey of Iwana & Uchida, "An empirical survey of data augmentation for time series classification with
neural networks", PLOS ONE 2021.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F

Augmentation = Callable[[torch.Tensor, float, torch.Generator], torch.Tensor]

#: Upper bound of each augmentation's strength as (bound, bound_is_allowed); the lower bound is always 0.
#: Augmentations not listed accept any finite non-negative strength.
_STRENGTH_UPPER_BOUNDS: dict[str, tuple[float, bool]] = {
    "crop_resize": (1.0, False),  # a crop of length L * (1 - strength) must keep at least part of the series
    "blockout": (1.0, False),  # blocking out the whole series leaves nothing to learn from
    "flip": (1.0, True),  # probability
    "negate": (1.0, True),  # probability
}


def strength_range(name: str) -> str:
    """The allowed strengths of augmentation ``name`` in interval notation, e.g. ``"[0, 1)"``."""
    upper, upper_allowed = _STRENGTH_UPPER_BOUNDS.get(name, (math.inf, False))
    return f"[0, {upper:g}{']' if upper_allowed else ')'}"


def check_strength(name: str, strength: float) -> float:
    """Return ``strength`` as a float, or raise ``ValueError`` naming ``name`` and its allowed range."""
    upper, upper_allowed = _STRENGTH_UPPER_BOUNDS.get(name, (math.inf, False))
    value = float(strength)
    in_range = 0.0 <= value and (value <= upper if upper_allowed else value < upper)  # False for NaN
    if not in_range:
        raise ValueError(f"strength of augmentation '{name}' must be in {strength_range(name)}, got {strength!r}")
    return value


def _is_identity(name: str, x: torch.Tensor, strength: float) -> bool:
    """Validate the arguments shared by all augmentations; True when the output is simply ``x``."""
    if x.dim() != 3:
        raise ValueError(f"{name} expects a (batch, channels, length) tensor, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} expects a floating-point tensor, got {x.dtype}")
    return check_strength(name, strength) == 0.0 or x.numel() == 0


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    """float32 / float64 as they are; reduced-precision floats are processed in float32."""
    return x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32


def _random_integers(upper: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One uniform integer in ``[0, upper[i]]`` per entry of the integer tensor ``upper``."""
    uniform = torch.rand(upper.shape, generator=generator, device=upper.device)
    # rand * (upper + 1) may round up to upper + 1 in float32, hence the clamp.
    return torch.minimum((uniform * (upper + 1)).floor().long(), upper)


def _resample_linear(values: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Read ``values`` (B, C, L) at fractional time ``positions`` (B, L_out) in ``[0, L - 1]``.

    ``out[b, c, t] = lerp(values[b, c, floor(p)], values[b, c, floor(p) + 1], p - floor(p))`` with
    ``p = positions[b, t]``; the same positions are used for every channel of a sample.
    """
    batch, channels, length = values.shape
    positions = positions.clamp(0, length - 1)
    left = positions.floor()
    left_index = left.long()
    right_index = (left_index + 1).clamp_max(length - 1)
    left_values = values.gather(-1, left_index.unsqueeze(1).expand(batch, channels, -1))
    right_values = values.gather(-1, right_index.unsqueeze(1).expand(batch, channels, -1))
    # lerp computes start + w * (end - start), which is exact for constant series (end - start == 0),
    # unlike start * (1 - w) + end * w.
    return torch.lerp(left_values, right_values, (positions - left).unsqueeze(1))


def jitter(x: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """Add Gaussian noise relative to each series' spread (Um et al. 2017; Iwana & Uchida 2021)::

        out[b, c, t] = x[b, c, t] + strength * std_t(x[b, c, :]) * eps[b, c, t],   eps ~ N(0, 1)

    ``strength`` is the noise-to-signal ratio of standard deviations, so it means the same for channels
    measured in different units; ``std_t`` is the population standard deviation over time, so a constant
    channel receives no noise. Any strength >= 0.
    """
    if _is_identity("jitter", x, strength):
        return x.clone()
    values = x.to(_compute_dtype(x))
    spread = values.std(dim=-1, keepdim=True, correction=0)  # correction=0: defined for length 1 too
    noise = torch.randn(values.shape, generator=generator, device=x.device, dtype=values.dtype)
    return (values + strength * spread * noise).to(x.dtype)


def scaling(x: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """Multiply each series by a random factor (Um et al. 2017; Iwana & Uchida 2021)::

        out[b, c, t] = a[b, c] * x[b, c, t],   a[b, c] ~ N(1, strength^2)

    ``strength`` is the standard deviation of the factor. Any strength >= 0.
    """
    if _is_identity("scaling", x, strength):
        return x.clone()
    values = x.to(_compute_dtype(x))
    batch, channels, _ = values.shape
    factors = 1 + strength * torch.randn(batch, channels, 1, generator=generator, device=x.device, dtype=values.dtype)
    return (factors * values).to(x.dtype)


def magnitude_warp(x: torch.Tensor, strength: float, generator: torch.Generator, *, num_knots: int = 4) -> torch.Tensor:
    """Multiply each series by a smooth random curve (Um et al. 2017; Iwana & Uchida 2021)::

        k[b, c, j] ~ N(1, strength^2)                          j = 0 .. num_knots - 1, evenly spaced over time
        m[b, c, t] = cubic interpolation of k[b, c, :] at t   (knots at t = 0 and t = L - 1 included)
        out[b, c, t] = m[b, c, t] * x[b, c, t]

    ``strength`` is the standard deviation of the curve at its knots. The interpolation is PyTorch's
    bicubic (cubic convolution) kernel, which passes through the knots and is smooth between them, in
    place of Um et al.'s cubic spline. Any strength >= 0.
    """
    if num_knots < 2:
        raise ValueError(f"magnitude_warp needs num_knots >= 2, got {num_knots}")
    if _is_identity("magnitude_warp", x, strength):
        return x.clone()
    values = x.to(_compute_dtype(x))
    batch, channels, length = values.shape
    knots = 1 + strength * torch.randn(
        batch * channels, 1, 1, num_knots, generator=generator, device=x.device, dtype=values.dtype
    )
    # 1-D cubic interpolation through a (N, 1, 1, K) image of height 1; align_corners puts the first and
    # last knot exactly on the first and last time step.
    curves = F.interpolate(knots, size=(1, length), mode="bicubic", align_corners=True)
    return (curves.reshape(batch, channels, length) * values).to(x.dtype)


def time_warp(x: torch.Tensor, strength: float, generator: torch.Generator, *, num_knots: int = 4) -> torch.Tensor:
    """Resample each series along a smooth random monotonic time axis (Um et al. 2017; Iwana & Uchida 2021)::

        v[b, j] = max(0.1, N(1, strength^2))                   knot speeds, j = 0 .. num_knots - 1
        v[b, t] = linear interpolation of v[b, :] at t         speed of the warped clock at step t
        tau[b, t] = (L - 1) * sum_{i=1..t} v[b, i] / sum_{i=1..L-1} v[b, i]
        out[b, c, t] = x[b, c, tau[b, t]]                      linear interpolation between neighbours

    ``strength`` is the standard deviation of the local speed-up of time. Speeds are kept >= 0.1, so
    ``tau`` is strictly increasing from 0 to L - 1: the series is stretched and compressed in places but
    keeps its first and last values, and a constant series stays exactly constant. All channels of a sample
    share the warp. Any strength >= 0.
    """
    if num_knots < 2:
        raise ValueError(f"time_warp needs num_knots >= 2, got {num_knots}")
    if _is_identity("time_warp", x, strength) or x.shape[-1] < 2:
        return x.clone()
    values = x.to(_compute_dtype(x))
    batch, _, length = values.shape
    knot_speeds = (
        1 + strength * torch.randn(batch, 1, num_knots, generator=generator, device=x.device, dtype=values.dtype)
    ).clamp_min(0.1)
    # Linear (not cubic) interpolation cannot undershoot the knots, so speeds stay >= 0.1 and tau monotonic;
    # tau, the integral of a piecewise-linear speed, is still smooth.
    speeds = F.interpolate(knot_speeds, size=length, mode="linear", align_corners=True).squeeze(1)
    cumulative = speeds.cumsum(dim=-1)
    elapsed = cumulative - cumulative[:, :1]
    positions = elapsed / elapsed[:, -1:] * (length - 1)
    return _resample_linear(values, positions).to(x.dtype)


def crop_resize(x: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """Crop a random segment and stretch it back to the full length (window slicing, Iwana & Uchida 2021)::

        n[b]     = round(L * (1 - u[b] * strength)),   u[b] ~ U(0, 1)        crop length
        s[b]     ~ uniform integer in [0, L - n[b]]                          crop start
        out[b, c, t] = x[b, c, s[b] + t * (n[b] - 1) / (L - 1)]             linear interpolation

    ``strength`` in [0, 1) is the largest fraction of the series that can be cut away: 0.5 keeps between
    50 % and 100 % of it. A constant series stays exactly constant.
    """
    if _is_identity("crop_resize", x, strength) or x.shape[-1] < 2:
        return x.clone()
    values = x.to(_compute_dtype(x))
    batch, _, length = values.shape
    uniform = torch.rand(batch, generator=generator, device=x.device, dtype=values.dtype)
    crop_lengths = torch.round(length * (1 - uniform * strength)).clamp(1, length)
    starts = _random_integers(length - crop_lengths.long(), generator).to(values.dtype)
    steps = torch.linspace(0, 1, length, device=x.device, dtype=values.dtype)
    positions = starts.unsqueeze(1) + steps * (crop_lengths.unsqueeze(1) - 1)
    return _resample_linear(values, positions).to(x.dtype)


def blockout(x: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """Zero one random contiguous block of time steps per sample, across all channels::

        n = round(L * strength),   s[b] ~ uniform integer in [0, L - n]
        out[b, c, t] = 0 if s[b] <= t < s[b] + n else x[b, c, t]

    ``strength`` in [0, 1) is the fraction of the series blocked out.
    """
    if _is_identity("blockout", x, strength):
        return x.clone()
    batch, _, length = x.shape
    block_length = round(length * strength)
    if block_length == 0:
        return x.clone()
    max_starts = torch.full((batch,), length - block_length, device=x.device, dtype=torch.long)
    starts = _random_integers(max_starts, generator).unsqueeze(1)
    steps = torch.arange(length, device=x.device)
    blocked = (steps >= starts) & (steps < starts + block_length)
    # masked_fill rather than multiplying by a 0/1 mask: 0 * inf would give NaN.
    return x.masked_fill(blocked.unsqueeze(1), 0)


def flip(x: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """Reverse the time axis of each sample with probability ``strength`` in [0, 1]::

    out[b] = x[b, :, ::-1] if u[b] < strength else x[b],   u[b] ~ U(0, 1)
    """
    if _is_identity("flip", x, strength):
        return x.clone()
    flipped = torch.rand(x.shape[0], generator=generator, device=x.device) < strength
    return torch.where(flipped[:, None, None], x.flip(-1), x)


def negate(x: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """Multiply each whole sample by -1 with probability ``strength`` in [0, 1]::

    out[b] = -x[b] if u[b] < strength else x[b],   u[b] ~ U(0, 1)
    """
    if _is_identity("negate", x, strength):
        return x.clone()
    negated = torch.rand(x.shape[0], generator=generator, device=x.device) < strength
    return torch.where(negated[:, None, None], -x, x)


def smooth(x: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """Moving-average smoothing of each channel; deterministic (``generator`` is unused)::

        h = round(strength * L / 20),   width = 2 * h + 1
        out[b, c, t] = mean(x[b, c, t - h .. t + h])   with the first / last value repeated past the ends

    ``strength`` 1 averages over windows of about a tenth of the series; any strength >= 0. Repeating the
    edge values (rather than zero padding) keeps the length and leaves a constant series constant.
    """
    del generator  # part of the common signature only
    if _is_identity("smooth", x, strength):
        return x.clone()
    values = x.to(_compute_dtype(x))
    half_width = round(strength * values.shape[-1] / 20)
    if half_width == 0:
        return x.clone()
    padded = F.pad(values, (half_width, half_width), mode="replicate")
    # avg_pool1d acts on each channel separately: the same as conv1d(groups=channels) with a 1 / width kernel.
    return F.avg_pool1d(padded, kernel_size=2 * half_width + 1, stride=1).to(x.dtype)


#: All augmentations by name, in the order :class:`TimeSeriesAugmenter` applies them.
AUGMENTATIONS: dict[str, Augmentation] = {
    "jitter": jitter,
    "scaling": scaling,
    "magnitude_warp": magnitude_warp,
    "time_warp": time_warp,
    "crop_resize": crop_resize,
    "blockout": blockout,
    "flip": flip,
    "negate": negate,
    "smooth": smooth,
}


class TimeSeriesAugmenter:
    """Apply a chosen set of augmentations, each with its strength, to a (batch, channels, length) tensor.

    Augmentations with strength > 0 are applied in the order of :data:`AUGMENTATIONS` (not in the order of
    ``strengths``), so a configuration means the same pipeline however it was written down.

    Randomness comes from a ``torch.Generator`` per device, created on first use on that device and seeded
    with ``seed``; with ``seed=None`` it is seeded non-deterministically. Two augmenters with the same seed
    produce the same views of the same input, and each call advances the generator, so repeated calls give
    new views.

    Args:
        strengths: augmentation name -> strength; names must be keys of :data:`AUGMENTATIONS`, strengths in
            the range each augmentation's docstring gives (0 switches an augmentation off).
        seed: seed of the generators, or None for a non-reproducible stream.

    Example::

        augmenter = TimeSeriesAugmenter({"jitter": 0.1, "time_warp": 0.2, "crop_resize": 0.3}, seed=0)
        view_a, view_b = augmenter.views(x)
    """

    def __init__(self, strengths: Mapping[str, float], seed: int | None = None) -> None:
        for name in strengths:
            if name not in AUGMENTATIONS:
                raise ValueError(f"unknown augmentation {name!r}; known: {', '.join(AUGMENTATIONS)}")
        self.strengths: dict[str, float] = {
            name: check_strength(name, strengths[name]) for name in AUGMENTATIONS if name in strengths
        }
        self.seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}

    @property
    def active(self) -> dict[str, float]:
        """The augmentations that are applied (strength > 0), in application order."""
        return {name: strength for name, strength in self.strengths.items() if strength > 0}

    def generator(self, device: torch.device | str) -> torch.Generator:
        """This augmenter's generator on ``device``, created and seeded on first use."""
        device = torch.device(device)
        if device not in self._generators:
            generator = torch.Generator(device=device)
            if self.seed is None:
                generator.seed()
            else:
                generator.manual_seed(self.seed)
            self._generators[device] = generator
        return self._generators[device]

    def reseed(self, seed: int) -> None:
        """Restart the stream from ``seed`` on every device (the trainer reseeds per epoch, so a trial resumed
        from a checkpoint draws the same views as one that never stopped)."""
        self.seed = seed
        self._generators.clear()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """One augmented view of the batch ``x`` (a new tensor, even when no augmentation is active)."""
        active = self.active
        if not active:
            return x.clone()
        generator = self.generator(x.device)
        for name, strength in active.items():
            x = AUGMENTATIONS[name](x, strength, generator)
        return x

    def views(self, x: torch.Tensor, n: int = 2) -> list[torch.Tensor]:
        """``n`` independently augmented views of the batch ``x``."""
        if n < 1:
            raise ValueError(f"views needs n >= 1, got {n}")
        return [self(x) for _ in range(n)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(strengths={self.strengths}, seed={self.seed})"
