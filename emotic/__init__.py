"""Django-free core: the EMOTIC taxonomy, file formats and agreement maths.

Nothing in this package may import Django; it runs on a GPU box or in a
notebook with only numpy, scipy and Pillow installed.
"""
