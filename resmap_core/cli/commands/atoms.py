"""``resmap atoms``: local resolution at a fitted model, per atom and per residue.

Parse, call :mod:`resmap_core.atoms` (read the maps and the model, sample, summarise), write the
mmCIF, ChimeraX attribute file and script, CSV and JSON record. The library is imported inside
:func:`run`, so that ``resmap --help`` does not load NumPy or gemmi.
"""

from __future__ import annotations

import argparse

from resmap_core import defaults
from resmap_core.cli.commands._common import bounded, positive_float, require_suffix

#: Largest --radius (Å): beyond a residue's neighbourhood the mean says nothing about it.
MAX_RADIUS_A = 20.0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``atoms`` sub-command."""
    radius = defaults.number("atoms.radius")
    parser = sub.add_parser(
        "atoms",
        help="local resolution at a fitted model: per atom, residue and chain",
        description="Samples one or more local-resolution maps at an atomic model. Give the "
        "maps first, each as PATH or LABEL=PATH (the label names its CSV column, ChimeraX "
        "attribute and JSON key; default: the file name), and the model (mmCIF or PDB, "
        "optionally gzipped) last, e.g. resmap atoms resmap=local.mrc wfsc_05=wfsc.mrc "
        "wfsc_0143=wfsc_0143.mrc model.cif --out model_locres.cif. Writes OUT.cif (the first "
        "map's per-residue values in B_iso_or_equiv), OUT.defattr, OUT.csv, OUT.cxc and "
        "OUT.json beside it (docs/atoms.md).",
    )
    parser.add_argument("maps", nargs="+", metavar="[LABEL=]MAP", help="local-resolution maps")
    parser.add_argument("model", metavar="MODEL", help="fitted model: .cif/.pdb (.gz too)")
    parser.add_argument("--out", required=True, help="output mmCIF, e.g. model_locres.cif")
    parser.add_argument(
        "--radius",
        type=bounded(positive_float, high=MAX_RADIUS_A),
        default=radius,
        metavar="A",
        help=f"per residue, average the voxels within this distance of its heavy atoms, Å, "
        f"at most {MAX_RADIUS_A:g} ({radius:g}, as the EMDB)",
    )
    parser.add_argument(
        "--mask",
        default=None,
        help="mask on the maps' grid (>0.5 in); atoms outside it get no value",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``resmap atoms``: read, sample, summarise, write."""
    require_suffix(args.out, (".cif", ".mmcif"), "--out")
    from resmap_core.atoms.analysis import sample_model
    from resmap_core.atoms.measures import read_measures
    from resmap_core.atoms.record import build_record
    from resmap_core.atoms.writers import output_paths, write_outputs
    from resmap_core.io.model import read_model
    from resmap_core.progress import Progress

    progress = Progress(args.quiet, prefix="resmap atoms")
    model = read_model(args.model)
    measures, mask = read_measures(args.maps, args.mask)
    progress.say(
        f"{model.atom_count} atoms, {len(model.residues)} residues; "
        f"measures {', '.join(m.label for m in measures)}"
    )
    values = sample_model(model, measures, mask, args.radius)
    paths = output_paths(args.out)
    record = build_record(model, measures, args.mask, values, paths)
    write_outputs(paths, model, values, record)
    _report(progress, record)
    return 0


def _report(progress, record) -> None:
    """Where the atoms lie and the per-chain medians, on stderr."""
    atoms = record.atoms
    progress.say(
        f"atoms: {atoms['inside']} inside, {atoms['outside_map']} outside the map, "
        f"{atoms['outside_mask']} outside the mask"
    )
    missing = {
        label: sum(r.values[label] is None for r in record.residues) for label in record.labels
    }
    if any(missing.values()):
        counts = ", ".join(f"{label} {n}" for label, n in missing.items())
        progress.say(f"residues without a value (outside the mask or unresolved): {counts}")
    for chain, row in record.chains.items():
        medians = ", ".join(
            f"{label} {value:.2f} Å" if value is not None else f"{label} —"
            for label, value in row["median_A"].items()
        )
        progress.say(
            f"chain {chain} ({row['residues']} residues, {row['summarised']} summarised): "
            f"median {medians}"
        )
    progress.say(f"-> {record.outputs['mmcif']} (+ .defattr, .csv, .cxc, .json)")
