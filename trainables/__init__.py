"""The sweep side of sslsweep: everything that needs Ray, Optuna or MLflow. The SSL library itself is
``selfsup`` (in ssl/selfsup/), which never imports them.

One concern per subpackage; the layers, top to bottom, are checked by import-linter (pyproject.toml): a
package imports only those on lower lines, never one beside it on its own line.

- ``sweep/``          the sweep and its operations: every check before Ray, the driver (Tune + Optuna + ASHA),
                      the searcher, resume, resources, pre-flight, the model registry, the nightly run;
- ``report/``, ``trial/``
                      the report built from recorded runs (a document of tables and figures); one trial's
                      process (the Tune trainable, the training loop for both runtimes, the data cache, the
                      trial's own figures);
- ``tracking/``       where records go and how they are read back: store locations, the MLflow callback, runs;
- ``records/``, ``searchspace/``, ``figures/``
                      the record schema (every tag, ``Role``, ``Outcome``, result keys, the best-trial rule);
                      the search-space file's schema (YAML -> ``SweepSpec``); every figure, drawn from plain
                      data frames (the report's, and each trial's in its run);
- ``selfsup``         the library.
"""
