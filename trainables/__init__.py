"""Ray-side pieces of sslsweep: the Train worker loop, the Tune trainable, the Optuna searcher, the MLflow
callback, the report and the sweep driver. The SSL library itself is ``selfsup`` (in ssl/selfsup/)."""
