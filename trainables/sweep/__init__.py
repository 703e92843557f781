"""The sweep and its operations: the driver (``driver``: Ray Tune + Optuna + ASHA over the trials), the Optuna
searcher (``searcher``), ``resume``, ``resources``, the pre-flight of stores (``preflight``), the model
registry (``registry``) and the nightly run (``nightly``). The top of ``trainables``: may import every part."""
