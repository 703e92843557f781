"""The record schema, named once: every MLflow tag sslsweep writes or reads and what a run is (``tags.py``:
``Role``), the keys a trial's results and config carry and how a trial ended (``results.py``: ``Outcome``), and
the rule that picks the best trial (``selection.py``) and what a trial is called (``names.py``). Imports only
``selfsup``'s metric names: every other part of ``trainables`` reads it."""
