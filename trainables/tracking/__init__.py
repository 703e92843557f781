"""Where a sweep's records go and how they are read back: store locations (``stores``), the MLflow callback
that records each trial (``mlflow_callback``), the thread that writes its per-epoch records off Tune's event loop
(``writer``) and the reading of runs into frames (``runs``). May import ``records``, ``searchspace`` and
``selfsup``."""
