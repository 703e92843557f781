"""Where a sweep's records go and how they are read back: store locations (``stores``), the MLflow callback
that records each trial (``mlflow_callback``) and the reading of runs into frames (``runs``). May import
``records``, ``searchspace`` and ``selfsup``."""
