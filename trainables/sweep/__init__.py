"""The sweep and its operations: every check before Ray starts (``prepare``, with ``drawn_configurations``: the
searched extremes against the data), the driver (``driver``: Ray Tune + Optuna + ASHA over the trials), the Optuna
searcher (``searcher``), ``resume``, ``resources``, the pre-flight of stores (``preflight``), the model registry
(``registry``) and the nightly run (``nightly``). The top of ``trainables``: may import every part."""
