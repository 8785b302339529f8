"""The two-CNN recogniser (body stream + context stream) as a Django app.

The recogniser itself lives in ``training/core/`` (``training.core``) and
imports no Django: it runs from an exported snapshot alone
(``python -m training``, whose entry point ``__main__.py`` only calls
``training.core.cli.main``). The modules directly in this folder
(``models.py``, ``admin.py``, ``services.py``, ``tasks.py``, ...) are the thin
Django part that launches runs and shows their results.
"""
