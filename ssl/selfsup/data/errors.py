"""Errors raised while loading data; each message is one line naming the data set, file or column."""


class DataError(ValueError):
    """Data that cannot be used: a missing file, an unknown data set, a missing column, bad shapes."""
