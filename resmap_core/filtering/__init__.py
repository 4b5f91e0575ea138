"""Filtering a map by its local resolution (``resmap locfilt``). See docs/atoms.md."""
