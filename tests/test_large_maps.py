"""Large-box machinery: memory-mapped inputs read slab by slab, one noise transform for the
low-pass test and the whitening, bounded σ² reads, and a scan that stops when nothing is left
that a longer wavelength could resolve. Each must leave the answers unchanged."""

from __future__ import annotations

import subprocess
import sys

import mrcfile
import numpy as np
import pytest
from _mrc_helpers import to_file_order, write_raw_mrc

from resmap_core.io.mrc import MapData, MapGeometry, planes, read_map
from resmap_core.localres.basis import local_model
from resmap_core.localres.noise import MAX_NOISE_VOXELS, block_starts, estimate_sigma2
from resmap_core.localres.scan import Params, compute_local
from resmap_core.localres.spectra import noise_spectrum
from resmap_core.localres.whitening import prewhiten_shells
from resmap_core.testing.phantoms import compact_particle, noisy_half_maps

SPACING = (1.0, 1.0, 1.0)


def _pair(shape=(56, 48, 64), seed=3):
    density, mask = compact_particle(shape, SPACING, 4.0, 0.05, seed=seed)
    sd = float(density[mask].std())
    return noisy_half_maps(density, SPACING, sd, seed=seed + 1), mask


def _write(path, data, mode=2):
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data.astype({2: np.float32, 1: np.int16}[mode]))
        mrc.voxel_size = 1.0
    return str(path)


def test_memory_mapped_maps_hold_the_same_numbers_as_read_ones(tmp_path):
    data = np.random.default_rng(0).standard_normal((20, 24, 28)).astype(np.float32)
    path = _write(tmp_path / "a.mrc", data)
    mapped = read_map(path, memory_map=True)
    assert isinstance(mapped.data, np.memmap)
    read = read_map(path)
    assert mapped.geometry == read.geometry
    slabs = np.concatenate([s for _, s in planes(mapped.data, count=7)])
    assert slabs.dtype == np.float32 and np.array_equal(slabs, read.data)


@pytest.mark.parametrize("case", ["int16", "permuted axes", "gzip"])
def test_maps_that_cannot_be_mapped_as_they_are_fall_back_to_reading(tmp_path, case):
    data = np.random.default_rng(1).integers(-50, 50, (12, 14, 16)).astype(np.float32)
    if case == "int16":
        path = _write(tmp_path / "a.mrc", data, mode=1)
    elif case == "permuted axes":
        path = str(tmp_path / "a.mrc")
        write_raw_mrc(tmp_path / "a.mrc", to_file_order(data, (3, 1, 2)), axes=(3, 1, 2))
    else:
        plain = _write(tmp_path / "a.mrc", data)
        subprocess.run(["gzip", "-k", plain], check=True)
        path = plain + ".gz"
    got = read_map(path, memory_map=True)
    slabs = np.concatenate([s for _, s in planes(got.data, count=5)])
    assert np.array_equal(slabs, data)


def test_scan_of_memory_mapped_half_maps_equals_the_scan_of_read_ones(tmp_path):
    (h1, h2), mask = _pair()
    paths = [_write(tmp_path / f"h{i}.mrc", h) for i, h in enumerate((h1, h2))]
    params = Params(min_res_A=2.2, max_res_A=9.2)
    results = []
    for memory_map in (False, True):
        maps = [read_map(p, memory_map=memory_map) for p in paths]
        volume, record = compute_local(maps, mask, params)
        results.append((volume, record.to_json()["wavelengths"]))
    assert np.array_equal(results[0][0], results[1][0])
    assert results[0][1] == results[1][1]


def test_nan_in_a_memory_mapped_half_map_is_refused_in_one_line(tmp_path):
    (h1, h2), _ = _pair()
    h2[5, 6, 7] = np.nan
    paths = [_write(tmp_path / f"h{i}.mrc", h) for i, h in enumerate((h1, h2))]
    out = subprocess.run(
        [sys.executable, "-m", "resmap_core.cli.main", "local", *paths, "--out",
         str(tmp_path / "o.mrc")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "NaN" in out.stderr
    assert not (tmp_path / "o.mrc").exists()


def test_whitened_spectrum_recorded_from_the_transform_matches_the_whitened_map():
    rng = np.random.default_rng(5)
    noise = rng.standard_normal((48, 40, 44)).astype(np.float32)
    pw, whitened = prewhiten_shells(noise, SPACING)
    measured = np.array(noise_spectrum(whitened, SPACING)["power"])
    recorded = np.array(pw.spectrum_after)
    assert np.allclose(recorded, measured, rtol=1e-4)


def test_sigma2_from_a_spread_subset_of_blocks_agrees_with_all_blocks():
    rng = np.random.default_rng(7)
    noise = rng.standard_normal((96, 96, 96))
    model = local_model(3.2, SPACING, "paper")  # 5³ blocks: 7077 of them, 884 k voxels
    region = np.ones(noise.shape, dtype=bool)
    starts = block_starts(region, (5, 5, 5))
    assert len(starts) * 125 < MAX_NOISE_VOXELS  # all read here
    full = estimate_sigma2(noise, starts, model).sigma2
    half = estimate_sigma2(noise, starts[::2], model).sigma2
    assert abs(full - 1.0) < 0.01 and abs(half - full) < 0.01


def test_scan_stops_when_no_voxel_left_could_be_tested(capsys):
    from resmap_core.progress import Progress
    from resmap_core.testing.phantoms import band_limited_noise

    rng = np.random.default_rng(11)
    shape = (40, 40, 40)
    signal = band_limited_noise(shape, SPACING, 4.0, rng)  # strong: the interior resolves early
    mask = np.zeros(shape, dtype=bool)
    mask[1:39, 1:39, 1:39] = True  # the outer layer lies one voxel from the faces: never tested
    geometry = MapGeometry(shape, SPACING)
    maps = [MapData(signal + 0.1 * rng.standard_normal(shape), geometry, "") for _ in range(2)]
    params = Params(min_res_A=2.2, prewhiten=False)
    _, record = compute_local(maps, mask, params, progress=Progress(quiet=False))
    rows = record.to_json()["wavelengths"]
    assert rows[-1]["tested"] == 0 and all(w["tested"] > 0 for w in rows[:-1])
    assert rows[-1]["lambda_A"] < 9.2  # the window limit (edge ≤ 10 voxels) was not reached
    assert "scan stopped" in capsys.readouterr().err


@pytest.mark.parametrize("shape", [(20, 22, 24), (19, 21, 23), (8, 9, 7)])
def test_in_place_transforms_are_scipys_in_the_volumes_own_memory(shape):
    import scipy.fft as sfft

    from resmap_core.spectrum import irfftn_in_place, padded_empty, rfftn_in_place

    data = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    volume = padded_empty(shape)
    volume[...] = data
    spectrum = rfftn_in_place(volume)
    assert np.shares_memory(spectrum, volume)
    assert np.array_equal(spectrum, sfft.rfftn(data))  # bit for bit
    reference = sfft.irfft(sfft.ifftn(spectrum, axes=(0, 1)), n=shape[2], axis=2)
    back = irfftn_in_place(spectrum, shape)
    assert np.shares_memory(back, volume) and np.array_equal(back, reference)
    assert np.abs(back - data).max() < 1e-5


def test_in_place_transform_pair_of_a_large_volume_needs_no_second_copy():
    code = (
        "import resource, numpy as np\n"
        "from resmap_core.spectrum import padded_empty, rfftn_in_place, irfftn_in_place\n"
        "shape = (256, 256, 256)\n"
        "v = padded_empty(shape)\n"
        "for z in range(0, 256, 16): v[z:z+16] = 1.0 + z\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "irfftn_in_place(rfftn_in_place(v, 2), shape, 2)\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print((after - before) / (v.nbytes / 1024))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(out.stdout) < 0.2  # an out-of-place pair would add the whole volume (≥ 1)
