"""Time-series data: sources (aeon bundled sets, UCR/UEA files, CSV sensor logs) -> cleaning and
standardisation -> validation split -> sliding windows -> label-fraction subsets."""
from selfsup.data.errors import DataError
from selfsup.data.prepare import PreparedData, dataset_channels, prepare_data
from selfsup.data.series import SeriesSet
from selfsup.data.sources import DATA_SOURCES, load_splits
from selfsup.data.windows import Windows, sliding_windows

__all__ = ["DATA_SOURCES", "DataError", "PreparedData", "SeriesSet", "Windows", "dataset_channels", "load_splits",
           "prepare_data", "sliding_windows"]
