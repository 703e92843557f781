"""The seismic data sources by name (``SeismicDomain.sources``): the synthetic generator, the F3 facies
benchmark, and unlabelled volumes (.npy or SEG-Y, pretext only). A loader returns ``{"volume"[, "test"]:
SeismicVolume}``: the volume whose inline blocks are split, and a test volume of its own where the data has one."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from selfsup.data.seismic.f3_facies import f3_class_names, load_f3_volumes
from selfsup.data.seismic.seismic_volume import load_seismic_volume
from selfsup.data.seismic.synthetic_seismic import load_synthetic_seismic, synthetic_class_names
from selfsup.data.sources import DataSource


class SyntheticSeismicOptions(BaseModel):
    """``options`` of the ``synthetic_seismic`` source: the generator's arguments
    (``selfsup.data.seismic.synthetic_seismic.synthetic_seismic``)."""

    model_config = ConfigDict(extra="forbid")

    n_inline: int = Field(96, ge=8)
    n_crossline: int = Field(96, ge=8)
    n_depth: int = Field(128, ge=24)
    n_facies: int = Field(6, ge=2)
    n_faults: int = Field(2, ge=0)
    fold_amplitude: float = Field(6.0, ge=0)
    noise: float = Field(0.1, ge=0)
    peak_frequency: float = Field(25.0, gt=0, lt=125)
    seed: int = 0

    @model_validator(mode="after")
    def _layers_fit_the_depth(self) -> "SyntheticSeismicOptions":
        if self.n_depth < 4 * self.n_facies:  # the generator's own limit, refused when the file is read
            raise ValueError(
                f"n_depth {self.n_depth} is too small for n_facies {self.n_facies} (at least 4 samples "
                f"per layer); expected n_depth >= {4 * self.n_facies}"
            )
        return self


def synthetic_shape(n_inline: int, n_crossline: int, n_depth: int, **options: Any) -> tuple[int, int, int]:
    """(inline, crossline, depth) of the synthetic volume made with ``options`` (``SyntheticSeismicOptions``)."""
    return n_inline, n_crossline, n_depth


SEISMIC_SOURCES = {
    "synthetic_seismic": DataSource(
        loader=load_synthetic_seismic,
        options=SyntheticSeismicOptions,
        class_names=synthetic_class_names,
        shape=synthetic_shape,
        bundled=True,
    ),
    "f3": DataSource(
        loader=load_f3_volumes,
        needs_path=True,
        path_hint="the F3 facies benchmark directory with train/ and test_once/",
        class_names=f3_class_names,
    ),
    "seismic_volume": DataSource(
        loader=load_seismic_volume, needs_path=True, path_hint="an unlabelled .npy or SEG-Y volume", labelled=False
    ),
}
