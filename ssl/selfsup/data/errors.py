"""``DataError``: raised while loading or preparing data; each message is one line naming the culprit."""


class DataError(ValueError):
    """Data that cannot be used: a missing file, an unknown data set, a missing column, mismatched channels."""
