"""Reports rebuilt from recorded runs: the builder and page (``builder``), the tables (``tables``), the
figures (``figures``) and the escaping of what is rendered as Markdown (``markdown``). May import
``tracking`` and ``records``."""
