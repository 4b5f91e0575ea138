"""resmap_core: local resolution of cryo-EM density maps (ResMap-H2), FSC and windowed FSC."""

__version__ = "0.1.0"
