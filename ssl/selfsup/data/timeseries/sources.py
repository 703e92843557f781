"""The time-series data sources by name (``TimeSeriesDomain.sources``): aeon's bundled UCR/UEA sets, UCR/UEA .ts
files, sensor-log CSVs. A loader returns ``{"train", "test"[, "validation"]: SeriesSet}``."""

from __future__ import annotations

from selfsup.data.sources import DataSource
from selfsup.data.timeseries.aeon_sets import bundled_aeon_datasets, load_aeon
from selfsup.data.timeseries.csv_logs import load_csv_logs
from selfsup.data.timeseries.ucr_files import load_ucr_files

TIME_SERIES_SOURCES = {
    "aeon": DataSource(loader=load_aeon, needs_name=True, known_names=bundled_aeon_datasets, bundled=True),
    "ucr_files": DataSource(loader=load_ucr_files, needs_name=True, needs_path=True),
    "csv": DataSource(loader=load_csv_logs, needs_path=True),
}
