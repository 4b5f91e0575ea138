"""The HTML report of one dataset and the run index (docs/report.md).

Modules, in the order a report is built: ``load`` (inputs) → ``statistics``, ``crossings``,
``spectra``, ``diagnostics`` (numbers) → ``plots`` (figures) and ``volumes`` (the maps the page
embeds for its 3D view and slice browser) → ``build`` (the context, in named steps) →
``render`` (Jinja2), ``chimerax`` (scripts) and ``viewer`` (the Mol* files beside the page);
``index`` writes the run index. Nothing is imported here, so importing the package loads
neither Matplotlib nor Jinja2.
"""
