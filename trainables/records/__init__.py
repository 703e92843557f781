"""The record schema, named once: every MLflow tag sslsweep writes or reads and what a run is (``tags.py``:
``Role``), the keys a trial's results and config carry and how a trial ended (``results.py``: ``Outcome``), and
the rule that picks the best trial (``selection.py``). Imports nothing of sslsweep's: every other part of
``trainables`` reads it."""
