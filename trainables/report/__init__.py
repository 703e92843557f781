"""Reports rebuilt from recorded runs. May import ``tracking``, ``records``, ``figures`` and ``selfsup``; never
``sweep`` or ``trial`` (``[tool.importlinter]`` in pyproject.toml).

- ``builder``: reads the sweeps back from MLflow and chooses the sections (``report_sweeps``, ``write_sweep_report``).
- ``document``: what a report is made of (``Report``, ``Section``, ``ReportTable``, ``ReportFigure``), filled by the
  builder, read by every output.
- ``tables/``: one module per table (``technique_by_backbone``, ``ssl_vs_supervised``, ``search_grid``, ...).
- ``figure_data``: the frames the figures (``trainables.figures``, one module per figure) draw, made from the
  selections and runs.
- ``report_md``, ``index_html``: the document as ``report.md`` and as ``index.html``.
- ``files``: the report's directory (tables, figures, both pages); ``mlflow_run``: its MLflow run.
- ``markdown``: ``markdown_text``, the one escape of what is rendered as Markdown.
"""
