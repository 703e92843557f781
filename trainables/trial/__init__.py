"""One trial's process: the Tune trainable (``trainable``), the trial's run (``launch``), the Ray Train worker
loop (``worker``) behind one small context for both runtimes (``context``), and the actor that prepares each data
set once (``data_cache``). May import ``tracking``, ``records``, ``searchspace`` and ``selfsup``."""
