"""The two-CNN recogniser (body stream + context stream).

The core modules of this package import no Django: they run from an exported
snapshot alone (``python -m training``). ``models.py``, ``admin.py`` and
``tasks.py`` are the thin Django part.
"""
