"""The recogniser core: model, data, losses, metrics, training loop, checkpoints and command line.

It runs from an exported snapshot alone (``python -m training``, or
``python -m training.core``), on a machine with only requirements-training.txt,
so no module of this package may ever import Django, DRF or Celery, not even
indirectly; tests/training/test_hyperparameters.py checks this.
"""
