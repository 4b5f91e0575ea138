"""The HTML report of one dataset and the run index (docs/report.md).

Modules, in the order a report is built: ``load`` (inputs) → ``statistics``, ``crossings``,
``spectra``, ``diagnostics`` (numbers) → ``plots`` (figures) → ``build`` (the context, in named
steps) → ``render`` (Jinja2) and ``chimerax`` (scripts); ``index`` writes the run index.
Nothing is imported here, so importing the package loads neither Matplotlib nor Jinja2.
"""
