"""Data loading and preparation, one subpackage per domain (``selfsup.domains``) and the pieces they share.

- ``timeseries/``: aeon's bundled sets (``aeon_sets``), UCR/UEA ``.ts`` files (``ucr_files``), CSV sensor logs
  (``csv_logs``) as ``SeriesSet`` splits (``series``), cleaned and standardised (``cleaning``), cut into windows
  (``sliding_windows``); ``prepare`` is the time-series domain's entry point (``prepare_data``);
- ``images/``: scikit-learn's digits (``digits``), CIFAR-10/100 (``cifar``), ImageFolder trees and
  Tiny-ImageNet (``image_folder``), all returning ``ImageSet`` splits (``image_sets``);
- ``seismic/``: the synthetic generator (``synthetic_seismic``), the F3 facies benchmark (``f3_facies``),
  volumes, sections and patches and unlabelled .npy / SEG-Y volumes (``seismic_volume``), inline-block splits
  (``inline_blocks``);
- shared: ``DataError`` (``errors``), the ``Windows`` every domain hands the methods (``windows``),
  ``PreparedData`` (``prepared``), label-fraction subsets (``splits``), reading a data set spec
  (``dataset_specs``: ``describe``, ``same_dataset``).

Which source loads with which function is each domain's ``sources`` table (``selfsup.domains``). Nothing is
re-exported here: import from the module, so that loading one domain's data imports nothing of another's.
"""
