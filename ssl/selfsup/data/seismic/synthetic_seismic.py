"""Synthetic labelled seismic volumes: the offline default for facies segmentation, needing no download.

The earth model is a stack of ``n_facies`` layers whose layer ids ARE the facies labels. Per trace
(inline i, crossline j) and depth sample k (4 ms apart)::

    boundary_b(i, j) = (b + 1) T + 0.25 T s_b(i, j) + fold(i, j)        b = 0 .. n_facies - 2,  T = n_depth / n_facies
    label(i, j, z)   = #{b : z >= boundary_b(i, j)}                      (0 at the top, n_facies - 1 at the base)
    Z(i, j, z)       = Z_facies[label] (1 + l_label(i, j)) (1 + t_label(z - top_label(i, j)))

with s_b smooth random surfaces in [-1, 1] (so boundaries are >= T / 2 apart and never cross), ``fold`` a
smooth sinusoid plus a Gaussian dome of at most ``fold_amplitude`` samples shared by every boundary,
Z_facies = 2500 x 1.25^p for a seeded permutation p (distinct facies impedances, either polarity at a
boundary), l a smooth lateral variation of at most 1 %, and t a fine layering (beds of a few samples, at
most 2 %) that follows the top of its layer, so the seismic has texture parallel to the reflectors.

Faults: each of ``n_faults`` planar normal faults (random strike in the inline-crossline plane, dip 60-80
degrees with traces 25 m and samples 5 m apart, throw 3-10 samples) moves its hanging wall down by the
throw: the model is read at z = k - shift, undoing the youngest fault first, so labels and impedance move
together and a later fault offsets an earlier one. The seismic then follows the convolutional model
(e.g. Yilmaz, "Seismic Data Analysis", SEG 2001, ch. 2) with a Ricker wavelet (Ricker, "The form and laws
of propagation of seismic wavelets", Geophysics 18, 1953) of peak frequency f = ``peak_frequency``::

    r(k)      = (Z(k + 1) - Z(k)) / (Z(k + 1) + Z(k))       interface below sample k; r = 0 at the last sample
    w(t)      = (1 - 2 pi^2 f^2 t^2) exp(-pi^2 f^2 t^2)      t in 4 ms steps
    s         = r * w                                        convolution along depth
    amplitude = standardise(s + noise x std(s) x N(0, 1))    zero mean, unit std over the volume

By construction |r| >= 0.08 wherever the label changes along depth (any two facies differ by a factor
>= 1.25 in impedance, lateral and fine variations take at most 1 % and 2 % off that) and |r| <= 0.021
elsewhere (fine layering only), so a threshold of 0.05 separates facies boundaries from texture.

Three independent seeded streams draw the earth model, the faults and the noise, so changing ``n_faults``
or ``noise`` leaves the layered model as it was: a fault's effect can be isolated by regenerating with
``n_faults=0`` and the same seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from selfsup.data.seismic.seismic_volume import SeismicVolume

SAMPLE_INTERVAL_S = 0.004  # 4 ms between depth (two-way time) samples, as in F3
TOP_IMPEDANCE = 2500.0  # of the softest facies (m/s x g/cm^3)
IMPEDANCE_RATIO = 1.25  # between facies of consecutive impedance rank
LATERAL_VARIATION = 0.01  # max relative lateral change of a facies' impedance
TEXTURE_VARIATION = 0.02  # max relative change of impedance by the fine layering
MEAN_BED_SAMPLES = 2.5  # mean thickness of a fine bed
BOUNDARY_RELIEF = 0.25  # max undulation of a boundary, as a fraction of the mean layer thickness
THROW_RANGE = (3, 10)  # fault throw in samples, inclusive
DIP_RANGE_DEG = (60.0, 80.0)
# a fault's dip is an angle in metres: traces 25 m apart (the F3 bin) and depth samples 5 m apart (4 ms of
# two-way time at 2500 m/s), so a 70-degree plane descends about 14 samples per trace, not 3
TRACE_SPACING_M = 25.0
SAMPLE_DEPTH_M = 5.0


@dataclass(frozen=True)
class Fault:
    """A planar normal fault; its hanging wall moved down by ``throw`` samples."""

    strike_deg: float  # direction of the fault trace, from the inline axis
    dip_deg: float  # from horizontal, measured in metres (see TRACE_SPACING_M)
    dip_side: int  # +1 or -1: which side of the trace the plane dips towards
    centre: tuple[float, float, float]  # (inline, crossline, depth) of a point on the plane
    throw: int  # samples

    def hanging_wall(self, inline: np.ndarray, crossline: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """True where (inline, crossline, depth) lies above the plane (broadcasting arrays, in samples)."""
        strike = math.radians(self.strike_deg)
        # signed horizontal distance across the trace, positive on the side the plane dips towards
        across = self.dip_side * (
            (inline - self.centre[0]) * -math.sin(strike) + (crossline - self.centre[1]) * math.cos(strike)
        )
        # the plane lies `across x tan(dip)` (in metres) below the centre depth; above it is the hanging wall
        plane_below_centre = across * math.tan(math.radians(self.dip_deg)) * TRACE_SPACING_M / SAMPLE_DEPTH_M
        return depth - self.centre[2] < plane_below_centre


@dataclass
class SyntheticSeismic:
    """A synthetic volume and the earth model behind it (all arrays (n_inline, n_crossline, n_depth))."""

    volume: SeismicVolume  # standardised amplitudes and facies labels
    impedance: np.ndarray = field(repr=False)  # float32 acoustic impedance after faulting
    reflectivity: np.ndarray = field(repr=False)  # float32 r(k) between samples k and k + 1; 0 at the last sample
    depth_shift: np.ndarray = field(repr=False)  # int64 samples the model was moved down by faults at each voxel
    faults: list[Fault] = field(default_factory=list)
    wavelet: np.ndarray | None = field(default=None, repr=False)  # the Ricker wavelet used, centred, 4 ms samples


def ricker_wavelet(peak_frequency: float, sample_interval: float = SAMPLE_INTERVAL_S) -> np.ndarray:
    """Ricker (1953) wavelet sampled every ``sample_interval`` s, centred, out to |pi f t| = 3.5 (|w| < 1e-4)."""
    half = max(1, math.ceil(3.5 / (math.pi * peak_frequency * sample_interval)))
    t = np.arange(-half, half + 1) * sample_interval
    arg = (math.pi * peak_frequency * t) ** 2
    return (1.0 - 2.0 * arg) * np.exp(-arg)


def _smooth_surfaces(
    rng: np.random.Generator, count: int, x: np.ndarray, y: np.ndarray, n_waves: int = 3
) -> np.ndarray:
    """``count`` smooth random surfaces in [-1, 1], shape (count, n_inline, n_crossline): means of a few
    plane waves of at most 1.2 cycles across the volume."""
    frequency = rng.uniform(-1.2, 1.2, size=(count, n_waves, 2))
    phase = rng.uniform(0.0, 2 * np.pi, size=(count, n_waves))
    waves = np.cos(
        2 * np.pi * (frequency[..., 0, None, None] * x + frequency[..., 1, None, None] * y) + phase[..., None, None]
    )
    return waves.mean(axis=1)


def _fold_surface(rng: np.random.Generator, amplitude: float, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Depth shift (n_inline, n_crossline) in [-amplitude, amplitude]: a gentle sinusoidal fold plus a dome."""
    frequency = rng.uniform(0.3, 1.0, size=2) * rng.choice([-1, 1], size=2)
    phase = rng.uniform(0.0, 2 * np.pi)
    centre = rng.uniform(0.25, 0.75, size=2)
    width = rng.uniform(0.15, 0.3)
    sinusoid = np.sin(2 * np.pi * (frequency[0] * x + frequency[1] * y) + phase)
    dome = np.exp(-((x - centre[0]) ** 2 + (y - centre[1]) ** 2) / (2 * width**2))
    # the dome lifts the layers (negative shift), as the anticlines that trap hydrocarbons do
    return amplitude * (0.5 * sinusoid - (dome - 0.5))


def _fine_layering(rng: np.random.Generator, n_facies: int, length: int) -> np.ndarray:
    """(n_facies, length) relative impedance changes in [-TEXTURE_VARIATION, TEXTURE_VARIATION], constant over
    beds of random thickness (a new bed starts at each sample with probability 1 / MEAN_BED_SAMPLES)."""
    # dtype: what the cumulative sum of booleans gives anyway (numpy's stubs type it as bool).
    bed_of_sample = np.cumsum(rng.random((n_facies, length)) < 1.0 / MEAN_BED_SAMPLES, axis=1, dtype=np.int_)
    bed_values = rng.uniform(-TEXTURE_VARIATION, TEXTURE_VARIATION, size=(n_facies, length + 1))
    return np.take_along_axis(bed_values, bed_of_sample, axis=1)


def _draw_faults(rng: np.random.Generator, n_faults: int, n_inline: int, n_crossline: int, n_depth: int) -> list[Fault]:
    faults = []
    for _ in range(n_faults):  # one fault after another, so the first faults do not depend on n_faults
        faults.append(
            Fault(
                strike_deg=float(rng.uniform(0.0, 180.0)),
                dip_deg=float(rng.uniform(*DIP_RANGE_DEG)),
                dip_side=int(rng.choice([-1, 1])),
                centre=(
                    float(rng.uniform(0.3, 0.7) * (n_inline - 1)),
                    float(rng.uniform(0.3, 0.7) * (n_crossline - 1)),
                    float(rng.uniform(0.3, 0.7) * (n_depth - 1)),
                ),
                throw=int(rng.integers(THROW_RANGE[0], THROW_RANGE[1] + 1)),
            )
        )
    return faults


def facies_names(n_facies: int) -> list[str]:
    """The class names of a synthetic volume's ``n_facies`` layers (known without generating it)."""
    return [f"facies_{c}" for c in range(n_facies)]


def synthetic_seismic(
    n_inline: int = 64,
    n_crossline: int = 64,
    n_depth: int = 128,
    n_facies: int = 6,
    n_faults: int = 2,
    fold_amplitude: float = 6.0,
    noise: float = 0.1,
    peak_frequency: float = 25.0,
    seed: int = 0,
) -> SyntheticSeismic:
    """A seeded synthetic volume with its impedance, reflectivity, fault shifts and faults (see the module doc)."""
    from scipy.ndimage import convolve1d  # here, not at the top: the seismic domain imports this module's loader

    if min(n_inline, n_crossline) < 1:
        raise ValueError(f"need at least one inline and crossline, got {n_inline} x {n_crossline}")
    if n_facies < 2:
        raise ValueError(f"need at least 2 facies, got {n_facies}")
    if n_depth < 4 * n_facies:
        raise ValueError(f"n_depth {n_depth} is too small for {n_facies} facies (at least 4 samples per layer)")
    if n_faults < 0 or fold_amplitude < 0 or noise < 0:
        raise ValueError(f"n_faults, fold_amplitude and noise must be >= 0, got {n_faults}, {fold_amplitude}, {noise}")
    nyquist = 0.5 / SAMPLE_INTERVAL_S
    if not 0 < peak_frequency < nyquist:
        raise ValueError(f"peak_frequency {peak_frequency} Hz must be in (0, {nyquist:g}) for 4 ms samples")
    model_rng, fault_rng, noise_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))

    # --- layered earth model (depends on model_rng only) ---
    x = (np.arange(n_inline) / n_inline)[:, None]  # lateral coordinates in [0, 1)
    y = (np.arange(n_crossline) / n_crossline)[None, :]
    thickness = n_depth / n_facies
    relief = _smooth_surfaces(model_rng, n_facies - 1, x, y)
    fold = _fold_surface(model_rng, fold_amplitude, x, y)
    boundaries = (
        thickness * np.arange(1, n_facies)[:, None, None] + BOUNDARY_RELIEF * thickness * relief + fold
    )  # (n_facies - 1, n_inline, n_crossline)
    # the top of each layer, from which its fine layering is counted; layer 0 gets a notional top T above
    tops = np.concatenate([boundaries[:1] - thickness, boundaries])  # (n_facies, n_inline, n_crossline)
    facies_impedance = TOP_IMPEDANCE * IMPEDANCE_RATIO ** model_rng.permutation(n_facies)
    lateral = 1.0 + LATERAL_VARIATION * _smooth_surfaces(model_rng, n_facies, x, y)
    # read periodically (below) so its length, and so every draw of model_rng, is the same for any faults
    fine = _fine_layering(model_rng, n_facies, 2 * n_depth)

    # --- faults: the depth at which the unfaulted model is read at each voxel ---
    faults = _draw_faults(fault_rng, n_faults, n_inline, n_crossline, n_depth)
    inline_index = np.arange(n_inline, dtype=np.float64)[:, None, None]
    crossline_index = np.arange(n_crossline, dtype=np.float64)[None, :, None]
    depth_index = np.arange(n_depth, dtype=np.int64)
    model_depth = np.broadcast_to(depth_index.astype(np.float64), (n_inline, n_crossline, n_depth))
    for fault in reversed(faults):  # undo the youngest fault first: its plane is where we see it today
        moved = fault.hanging_wall(inline_index, crossline_index, model_depth)
        model_depth = model_depth - fault.throw * moved
    depth_shift = np.rint(depth_index - model_depth).astype(np.int64)

    # --- labels and impedance at the (fault-shifted) model depths ---
    labels = np.zeros((n_inline, n_crossline, n_depth), dtype=np.int64)
    for boundary in boundaries:  # loop over layers only; each step is one vectorised comparison
        labels += model_depth >= boundary[:, :, None]
    ii, jj = np.arange(n_inline)[:, None, None], np.arange(n_crossline)[None, :, None]
    # depth below the layer's top, wrapped onto the fine-layering record: no layer is 2 x n_depth thick, but
    # the top layer reaches above its notional top (negative) where faults lift it or the fold domes
    bed_index = np.floor(model_depth - tops[labels, ii, jj]).astype(np.int64) % fine.shape[1]
    impedance = facies_impedance[labels] * lateral[labels, ii, jj] * (1.0 + fine[labels, bed_index])

    # --- convolutional model ---
    reflectivity = np.zeros_like(impedance)
    reflectivity[..., :-1] = (impedance[..., 1:] - impedance[..., :-1]) / (impedance[..., 1:] + impedance[..., :-1])
    wavelet = ricker_wavelet(peak_frequency)
    seismic = convolve1d(reflectivity, wavelet, axis=2, mode="constant")  # symmetric wavelet: same as correlation
    if noise > 0:
        seismic = seismic + noise * seismic.std() * noise_rng.standard_normal(seismic.shape)
    amplitude = (seismic - seismic.mean()) / seismic.std()

    volume = SeismicVolume(
        amplitude.astype(np.float32), labels, facies_names(n_facies), name=f"synthetic seismic (seed {seed})"
    )
    return SyntheticSeismic(
        volume, impedance.astype(np.float32), reflectivity.astype(np.float32), depth_shift, faults, wavelet
    )


def synthetic_seismic_volume(
    n_inline: int = 64,
    n_crossline: int = 64,
    n_depth: int = 128,
    n_facies: int = 6,
    n_faults: int = 2,
    fold_amplitude: float = 6.0,
    noise: float = 0.1,
    peak_frequency: float = 25.0,
    seed: int = 0,
) -> SeismicVolume:
    """Just the labelled volume of :func:`synthetic_seismic` (same arguments)."""
    return synthetic_seismic(
        n_inline, n_crossline, n_depth, n_facies, n_faults, fold_amplitude, noise, peak_frequency, seed
    ).volume


def load_synthetic_seismic(
    name: str | None = None, path: str | None = None, *, train_only: bool = False, **options
) -> dict[str, SeismicVolume]:
    """The ``synthetic_seismic`` source: ``{"volume": the generated volume}``, its train, validation and test
    blocks all cut from it. ``options``: the arguments of :func:`synthetic_seismic_volume` (validated by the
    seismic domain's ``SyntheticSeismicOptions``); ``name``, ``path`` and ``train_only`` change nothing."""
    return {"volume": synthetic_seismic_volume(**options)}


def synthetic_class_names(*, n_facies: int, **other_options) -> list[str]:
    """The ``synthetic_seismic`` source's class names from its options alone: ``facies_names(n_facies)`` (the
    other generator arguments do not change them)."""
    return facies_names(n_facies)
