"""Data domains (time series, images, seismic sections), registered by name; see ``domains/base.py``.

A sweep's domain is the one whose ``sources`` include the data source its YAML names. One import line per
domain below.
"""

from selfsup.domains import images, seismic, timeseries  # noqa: F401  (registration)
from selfsup.domains.base import DOMAINS, DataSource, Domain, SearchedDimension, domain_named


def all_sources() -> dict[str, str]:
    """Every data source name -> the name of its domain."""
    return {source: name for name in DOMAINS for source in DOMAINS.get(name).sources}


def domain_of_source(source: str) -> Domain:
    """The domain whose data sources include ``source`` (``UnknownNameError``-like ValueError otherwise)."""
    owners = all_sources()
    if source not in owners:
        raise ValueError(f"unknown data source '{source}'; known: {', '.join(sorted(owners))}")
    return domain_named(owners[source])


# Every registered domain built once here, so a domain that leaves a hook abstract fails at import.
for _name in DOMAINS:
    domain_named(_name)

__all__ = ["DOMAINS", "Domain", "SearchedDimension", "DataSource", "all_sources", "domain_named", "domain_of_source"]
