"""Local resolution where the atoms are: per-atom and per-residue values of local-resolution
maps at a fitted model, per-chain summaries, and the files that carry them (mmCIF, ChimeraX
attribute file and script, CSV). See docs/atoms.md."""
