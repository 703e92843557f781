"""Data domains (time series, images, seismic sections), registered by name; see ``domains/base.py``.

A sweep's domain is the one whose ``sources`` include the data source its YAML names.
"""

from selfsup.registry import Registry

DOMAINS: Registry = Registry("domain")

from selfsup.domains import images, seismic, timeseries  # noqa: E402,F401  (registration side effect)
from selfsup.domains.base import Domain, SourceFields  # noqa: E402


def all_sources() -> dict[str, str]:
    """Every data source name -> the name of its domain."""
    return {source: name for name in DOMAINS for source in DOMAINS.get(name).sources}


def domain_of_source(source: str) -> Domain:
    """The domain whose data sources include ``source`` (``UnknownNameError``-like ValueError otherwise)."""
    owners = all_sources()
    if source not in owners:
        raise ValueError(f"unknown data source '{source}'; known: {', '.join(sorted(owners))}")
    return DOMAINS.get(owners[source])


__all__ = ["DOMAINS", "Domain", "SourceFields", "all_sources", "domain_of_source"]
