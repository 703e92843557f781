"""The sweep side of sslsweep: everything that needs Ray, Optuna or MLflow. The SSL library itself is
``selfsup`` (in ssl/selfsup/), which never imports them.

One concern per subpackage, each importing only those listed below it (checked by import-linter, pyproject.toml):

- ``sweep/``    the sweep driver and its operations: Tune + Optuna search, resume, resources, pre-flight, the
                model registry, the nightly run;
- ``report/``   tables, figures and the HTML/Markdown page built from recorded runs;
- ``trial/``    one trial's process: the Tune trainable, the Ray Train worker loop, its context, the data cache;
- ``tracking/`` where records go and how they are read back: store locations, the MLflow callback, runs;
- ``records/``  the record schema: result keys, outcomes and the best-trial rule, named once.
"""
