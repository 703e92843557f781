"""Data domains (time series, images, seismic sections), registered by name; see ``domains/base.py``.

A sweep's domain is the one whose ``sources`` include the data source its YAML names (``domain_of_source``); its
``data`` section is a ``DataSpec`` (``base.py``). One import line per domain below.
"""

from selfsup.domains import images, seismic, timeseries  # noqa: F401  (registration)
from selfsup.domains.base import (
    DOMAINS,
    DataSource,
    Domain,
    SearchedDimension,
    all_sources,
    domain_named,
    domain_of_source,
)

# Every registered domain built once here, so a domain that leaves a hook abstract fails at import.
for _name in DOMAINS:
    domain_named(_name)

__all__ = ["DOMAINS", "Domain", "SearchedDimension", "DataSource", "all_sources", "domain_named", "domain_of_source"]
