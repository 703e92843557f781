"""Data loading and preparation. Each domain (``selfsup.domains``) prepares its own data from these modules:

- time series: sources (aeon bundled sets, UCR/UEA files, CSV sensor logs) -> cleaning and standardisation
  -> validation split -> sliding windows -> label-fraction subsets (``prepare_data``; the other names
  exported here are the steps it is made of);
- images: ``digits`` (scikit-learn's bundled set), ``cifar`` (CIFAR-10/100 from a local root),
  ``image_folder`` (ImageFolder trees, Tiny-ImageNet), all returning ``image_sets.ImageSet`` splits;
- seismic: ``synthetic_seismic`` (the offline generator), ``f3_facies`` (the F3 benchmark layout),
  ``seismic_volume`` (volumes, sections and patches; unlabelled .npy / SEG-Y), ``inline_blocks`` (splits).
"""

from selfsup.data.aeon_sets import bundled_aeon_datasets
from selfsup.data.cleaning import ChannelStandardizer, fill_missing, fill_missing_with_warning
from selfsup.data.errors import DataError
from selfsup.data.prepare import PreparedData, check_data, dataset_channels, prepare_data
from selfsup.data.series import SeriesSet
from selfsup.data.sources import DATA_SOURCES, load_splits
from selfsup.data.splits import carve_validation, label_fraction_indices
from selfsup.data.windows import Windows, sliding_windows

__all__ = [
    "ChannelStandardizer",
    "DATA_SOURCES",
    "DataError",
    "PreparedData",
    "SeriesSet",
    "Windows",
    "bundled_aeon_datasets",
    "carve_validation",
    "check_data",
    "dataset_channels",
    "fill_missing",
    "fill_missing_with_warning",
    "label_fraction_indices",
    "load_splits",
    "prepare_data",
    "sliding_windows",
]
