"""The photo library: images, their sources, ingest (validate, deduplicate, store), renditions and splits."""
