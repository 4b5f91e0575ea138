"""MRC/CCP4 map input and output with the geometry that makes outputs overlay inputs.

Arrays are always returned in canonical order ``data[z, y, x]`` (sections along Z, rows along
Y, columns along X), whatever MAPC/MAPR/MAPS the file used. Voxel sizes, origins and start
indices are kept per physical axis in (x, y, z) order, in Å and voxels respectively.
"""

from __future__ import annotations

import gzip
import hashlib
import mmap as _mmap
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import mrcfile
import numpy as np

from resmap_core.errors import InputError
from resmap_core.io.atomic import atomic_path

# MRC data modes that hold real-valued voxels (complex modes 3 and 4 are Fourier transforms).
_REAL_MODES = {0, 1, 2, 6, 12, 101}


@dataclass(frozen=True)
class MapGeometry:
    """Where a map sits in space.

    ``shape`` is (nz, ny, nx) in voxels; ``voxel_size_A``, ``origin_A`` and ``start_vox``
    are (x, y, z). ``origin_A`` is the MRC ORIGIN field and ``start_vox`` the NXSTART-style
    indices, both as the input file had them (mapped from file axes to X, Y, Z).
    """

    shape: tuple[int, int, int]
    voxel_size_A: tuple[float, float, float]
    origin_A: tuple[float, float, float] = (0.0, 0.0, 0.0)
    start_vox: tuple[int, int, int] = (0, 0, 0)

    @property
    def spacing_zyx_A(self) -> tuple[float, float, float]:
        """Voxel size along the array axes (z, y, x), in Å."""
        x, y, z = self.voxel_size_A
        return (z, y, x)

    def same_grid(self, other: MapGeometry, rtol: float = 1e-4) -> bool:
        """True when both maps have the same shape and voxel size (to ``rtol``)."""
        return self.shape == other.shape and bool(
            np.allclose(self.voxel_size_A, other.voxel_size_A, rtol=rtol, atol=0.0)
        )

    def to_record(self) -> dict[str, list[float] | list[int]]:
        """JSON-serialisable form."""
        return {
            "shape_zyx": list(self.shape),
            "voxel_size_A": [float(v) for v in self.voxel_size_A],
            "origin_A": [float(v) for v in self.origin_A],
            "start_vox": [int(v) for v in self.start_vox],
        }

    @classmethod
    def from_record(cls, record: dict) -> MapGeometry:
        """Inverse of :meth:`to_record`."""
        return cls(
            shape=tuple(int(v) for v in record["shape_zyx"]),  # type: ignore[arg-type]
            voxel_size_A=tuple(float(v) for v in record["voxel_size_A"]),  # type: ignore[arg-type]
            origin_A=tuple(float(v) for v in record["origin_A"]),  # type: ignore[arg-type]
            start_vox=tuple(int(v) for v in record["start_vox"]),  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class MapData:
    """A density map: float32 voxels ``data[z, y, x]`` plus its geometry and source path."""

    data: np.ndarray
    geometry: MapGeometry
    path: str = ""

    @property
    def voxel_size_A(self) -> tuple[float, float, float]:
        """Voxel size (x, y, z) in Å."""
        return self.geometry.voxel_size_A


def _open(path: Path, memory_map: bool = False):
    """Open an MRC file (plain or gzip) read-only, turning library failures into InputError;
    ``memory_map`` maps a plain file's data instead of reading it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if memory_map:
                return mrcfile.mmap(path, mode="r", permissive=True)
            return mrcfile.open(path, mode="r", permissive=True)
    except (ValueError, OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(f"{path}: not a readable MRC map ({exc}).") from None


def _release_pages(data: np.ndarray) -> None:
    """Drop the resident pages of a memory-mapped file array from this process (Linux).

    The pages stay in the page cache; only the process's resident set shrinks, so reading a
    large map slab by slab keeps at most one slab of it resident.
    """
    mapping = getattr(data, "_mmap", None)
    if mapping is not None and hasattr(mapping, "madvise"):
        mapping.madvise(_mmap.MADV_DONTNEED)


def planes(data: np.ndarray, count: int = 16) -> Iterator[tuple[int, np.ndarray]]:
    """(z0, float32 copy of ``data[z0 : z0 + count]``) through the whole map [z, y, x].

    For a memory-mapped map (:func:`read_map` with ``memory_map``) each slab's pages are
    released after use, so a pass over a map larger than memory holds one slab of it.
    """
    whole_file = isinstance(data, np.memmap) and data.flags.c_contiguous and data.filename
    plane_bytes = data.dtype.itemsize * data.shape[1] * data.shape[2]
    for z0 in range(0, data.shape[0], count):
        if whole_file:  # plain reads: faster than faulting in the mapping's pages one by one
            planes = min(count, data.shape[0] - z0)
            raw = np.fromfile(
                data.filename, dtype=data.dtype, count=planes * plane_bytes // data.dtype.itemsize,
                offset=data.offset + z0 * plane_bytes,
            ).reshape(planes, *data.shape[1:])  # fmt: skip
            yield z0, raw.astype(np.float32, copy=False)
            continue
        slab = np.array(data[z0 : z0 + count], dtype=np.float32)
        _release_pages(data)
        yield z0, slab


def _all_finite(data: np.ndarray, allow_nan: bool) -> bool:
    """Whether every voxel is finite (or NaN, with ``allow_nan``), a few planes at a time."""
    for _, slab in planes(data):
        if not (np.isfinite(slab) | (allow_nan & np.isnan(slab))).all():
            return False
    return True


def read_map(
    path: str | os.PathLike[str],
    voxel_size_A: float | None = None,
    allow_nan: bool = False,
    memory_map: bool = False,
) -> MapData:
    """Read an MRC/CCP4 map (``.mrc``, ``.map``, ``.ccp4``, optionally ``.gz``).

    Honours MAPC/MAPR/MAPS, every real data mode, non-cubic boxes and per-axis voxel sizes.
    ``voxel_size_A`` overrides the header (isotropic). ``allow_nan`` accepts NaN voxels (for
    result maps written with ``--outside nan``; infinities are still refused). ``memory_map``
    (large maps): a plain file stored in axis order 1, 2, 3 comes back as a read-only
    memory map in the file's data type, read later slab by slab (:func:`planes`) by a reader
    that refuses NaN/Inf itself; gzip files and permuted axes are read as usual. Raises
    :class:`InputError` for files that are missing, not MRC, truncated, complex-valued, hold
    NaN/Inf, or have no voxel size.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file.")
    mapped = memory_map and p.suffix != ".gz"
    mrc = _open(p, mapped)
    with mrc:
        header = mrc.header
        if mrc.data is None:
            if bytes(header.map) != b"MAP ":
                raise InputError(f"{p}: not a readable MRC map (no valid MRC header).")
            raise InputError(f"{p}: the file holds a header but no map data (truncated?).")
        mode = int(header.mode)
        if mode not in _REAL_MODES:
            raise InputError(f"{p}: MRC mode {mode} is not a real-valued map.")
        nsec, nrow, ncol = int(header.nz), int(header.ny), int(header.nx)
        raw = mrc.data if mapped else np.asarray(mrc.data)  # a memmap keeps its mapping
        if raw.ndim != 3 or raw.shape != (nsec, nrow, ncol):
            raise InputError(
                f"{p}: expected a 3-D map of {ncol}x{nrow}x{nsec} voxels, found data of shape "
                f"{raw.shape[::-1]} (truncated file or an image stack?)."
            )
        expected = nsec * nrow * ncol * raw.dtype.itemsize
        if raw.nbytes < expected:
            raise InputError(f"{p}: the file is truncated.")
        axes = (int(header.mapc), int(header.mapr), int(header.maps))
        if sorted(axes) != [1, 2, 3]:
            raise InputError(f"{p}: MAPC/MAPR/MAPS = {axes} is not a permutation of 1, 2, 3.")
        # file array axes are (sections, rows, columns) = physical axes (maps, mapr, mapc);
        # canonical array axes are (Z, Y, X) = physical axes 3, 2, 1.
        file_axes_phys = (axes[2], axes[1], axes[0])
        order = [file_axes_phys.index(a) for a in (3, 2, 1)]
        if mapped and order == [0, 1, 2] and mode != 101:
            data = raw  # the file's own array, read slab by slab by the caller
        else:
            data = np.ascontiguousarray(np.transpose(raw, order), dtype=np.float32)
        header_voxel = _header_voxel_size(header)
        starts_file = (int(header.nxstart), int(header.nystart), int(header.nzstart))
        start_phys = [0, 0, 0]
        for file_axis, phys in enumerate(axes):  # columns, rows, sections
            start_phys[phys - 1] = starts_file[file_axis]
        origin = (float(header.origin.x), float(header.origin.y), float(header.origin.z))
    vox = _voxel_size(p, voxel_size_A, header_voxel)
    # Result maps written with --outside nan hold NaN by design; inputs never may.
    # a memory map is checked by its reader, slab by slab (one pass over a large file, not two)
    if not isinstance(data, np.memmap) and not _all_finite(data, allow_nan):
        raise InputError(f"{p}: the map contains NaN or infinite values.")
    geometry = MapGeometry(
        shape=tuple(int(s) for s in data.shape),  # type: ignore[arg-type]
        voxel_size_A=vox,  # type: ignore[arg-type]
        origin_A=origin,
        start_vox=tuple(start_phys),  # type: ignore[arg-type]
    )
    return MapData(data=data, geometry=geometry, path=str(p))


def write_map(
    path: str | os.PathLike[str], data: np.ndarray, geometry: MapGeometry, label: str = ""
) -> None:
    """Write ``data[z, y, x]`` as a float32 MRC2014 map (MAPC/MAPR/MAPS = 1, 2, 3), atomically.

    The voxel size, ORIGIN and start indices come from ``geometry`` so the output overlays
    the map it was computed from. The header carries no time stamp, so equal inputs give
    byte-identical files. A ``.gz`` suffix writes a gzip-compressed map.
    """
    arr = np.ascontiguousarray(data, dtype=np.float32)
    if arr.shape != tuple(geometry.shape):
        raise ValueError(f"data shape {arr.shape} does not match geometry {geometry.shape}")
    dest = Path(path)
    with atomic_path(dest) as tmp:
        plain = tmp.with_name(tmp.name + ".raw.mrc") if dest.suffix == ".gz" else tmp
        with mrcfile.new(plain, overwrite=True) as mrc:
            mrc.set_data(arr)
            mrc.voxel_size = tuple(float(v) for v in geometry.voxel_size_A)
            mrc.header.origin.x, mrc.header.origin.y, mrc.header.origin.z = geometry.origin_A
            mrc.header.nxstart, mrc.header.nystart, mrc.header.nzstart = geometry.start_vox
            mrc.header.label[0] = f"resmap_core {label}".strip()[:80].encode()
            mrc.header.nlabl = 1
        if plain != tmp:
            with open(plain, "rb") as src, open(tmp, "wb") as raw:
                # mtime=0 keeps gzip output byte-identical between runs.
                with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
                    gz.write(src.read())
            plain.unlink()


def read_mask(
    path: str | os.PathLike[str], like: MapGeometry, check_voxel_size: bool = True
) -> np.ndarray:
    """Read a mask that must lie on the grid of ``like``; voxels > 0.5 are inside.

    Soft masks (values in [0, 1]) are binarised at 0.5. With ``check_voxel_size`` a mask whose
    header voxel size differs from the map's is refused (pass False when the user overrode the
    map's voxel size). Raises :class:`InputError` when the mask is on another grid, empty, or
    covers the whole box.
    """
    p = Path(path)
    header_has_size = _has_voxel_size(p)
    mask_map = read_map(
        p, voxel_size_A=None if header_has_size else like.voxel_size_A[0], memory_map=True
    )
    if mask_map.geometry.shape != like.shape:
        raise InputError(
            f"{p}: the mask is {mask_map.geometry.shape[::-1]} voxels but the map is "
            f"{like.shape[::-1]}; resample the mask onto the map's grid."
        )
    vox = mask_map.geometry.voxel_size_A
    if check_voxel_size and header_has_size and not np.allclose(vox, like.voxel_size_A, rtol=1e-3):
        raise InputError(
            f"{p}: the mask's voxel size {tuple(round(v, 4) for v in vox)} Å differs from the "
            f"map's {tuple(round(v, 4) for v in like.voxel_size_A)} Å; "
            "use a mask on the map's grid."
        )
    mask = np.empty(like.shape, dtype=bool)
    for z0, slab in planes(mask_map.data):  # a large mask is never resident as float32
        if not np.isfinite(slab).all():
            raise InputError(f"{p}: the mask contains NaN or infinite values.")
        np.greater(slab, 0.5, out=mask[z0 : z0 + len(slab)])
    if not mask.any():
        raise InputError(f"{p}: the mask is empty (no voxel above 0.5).")
    if mask.all():
        raise InputError(
            f"{p}: the mask covers the whole box, leaving no background; give a particle mask."
        )
    return mask


def _has_voxel_size(path: Path) -> bool:
    """True when the header of ``path`` defines a voxel size (the data are not read)."""
    with _open(path, memory_map=path.suffix != ".gz") as mrc:
        return _header_voxel_size(mrc.header) is not None


def _header_voxel_size(header) -> tuple[float, float, float] | None:
    """(x, y, z) Å from CELLA / MX,MY,MZ (both per physical axis), None when either is zero."""
    cella = (float(header.cella.x), float(header.cella.y), float(header.cella.z))
    msamp = (int(header.mx), int(header.my), int(header.mz))
    if any(m <= 0 for m in msamp) or any(not (c > 0) for c in cella):
        return None
    return tuple(c / m for c, m in zip(cella, msamp, strict=True))  # type: ignore[return-value]


def _voxel_size(
    path: Path, override_A: float | None, header_A: tuple[float, float, float] | None
) -> tuple[float, float, float]:
    """The voxel size of a map: ``override_A`` (--voxel-size, isotropic) or the header's."""
    if override_A is not None:
        if not (override_A > 0 and np.isfinite(override_A)):
            raise InputError(f"{path}: --voxel-size must be a positive number, got {override_A}.")
        return (float(override_A),) * 3
    if header_A is None:
        raise InputError(
            f"{path}: the header has no voxel size (CELLA or MX/MY/MZ is zero); "
            "pass --voxel-size in Å."
        )
    return header_A


def check_half_maps(a: MapData, b: MapData) -> None:
    """Refuse half maps on different grids (shape or voxel size) with an :class:`InputError`."""
    if a.geometry.shape != b.geometry.shape:
        raise InputError(
            f"{b.path}: half maps differ in shape ({a.geometry.shape[::-1]} vs "
            f"{b.geometry.shape[::-1]} voxels); both halves must be on the same grid."
        )
    if not np.allclose(a.voxel_size_A, b.voxel_size_A, rtol=1e-4):
        raise InputError(
            f"{b.path}: half maps differ in voxel size ({a.voxel_size_A} vs {b.voxel_size_A} Å); "
            "pass --voxel-size if a header is wrong."
        )


def read_half_maps(
    path1: str, path2: str, voxel_size_A: float | None = None
) -> tuple[MapData, MapData]:
    """Read two half maps and check that they share shape and voxel size."""
    a = read_map(path1, voxel_size_A=voxel_size_A)
    b = read_map(path2, voxel_size_A=voxel_size_A)
    check_half_maps(a, b)
    return a, b


def with_voxel_size(m: MapData, voxel_size_A: tuple[float, float, float]) -> MapData:
    """Return ``m`` with its voxel size replaced."""
    return replace(m, geometry=replace(m.geometry, voxel_size_A=voxel_size_A))


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes (as stored, i.e. of the .gz if compressed)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
