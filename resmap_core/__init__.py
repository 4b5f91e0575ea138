"""resmap_core: local resolution of cryo-EM density maps (ResMap-H2), FSC and windowed FSC.

Layers: ``io`` (maps, records, downloads), ``localres`` (the ResMap-H2 scan), ``fsc``
(gold-standard and windowed FSC), ``report`` (HTML), ``cli`` (the ``resmap`` command),
``pipeline`` (what the Snakemake workflow needs), ``testing`` (phantoms); ``defaults`` holds
the default of every setting. Importing the package imports none of them, so that the command
line starts at once.
"""

__version__ = "0.1.0"
