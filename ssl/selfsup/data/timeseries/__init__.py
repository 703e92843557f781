"""Time-series data: labelled multichannel series (``SeriesSet``) from aeon's bundled sets, UCR/UEA files and
CSV sensor logs, cleaned, split, standardised and cut into windows (``prepare.prepare_data``)."""
