"""The fast LRS equals the direct quadratic form of method.md §3, and its null weights."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from threadpoolctl import threadpool_limits

from resmap_core.localres.basis import H2_LINEAR_COEFFICIENT, icosahedral_axes, local_model
from resmap_core.localres.lrs import lrs_at_mask


def interior_mask(shape: tuple[int, int, int], radius_vox: tuple[int, ...]) -> np.ndarray:
    """Voxels whose whole (2r+1) window lies inside the box, shape ``shape``."""
    inside = np.zeros(shape, dtype=bool)
    rz, ry, rx = radius_vox
    nz, ny, nx = shape
    if nz > 2 * rz and ny > 2 * ry and nx > 2 * rx:
        inside[rz : nz - rz, ry : ny - ry, rx : nx - rx] = True
    return inside


def direct_gamma(model, kernel: str, rotation=None) -> np.ndarray:
    """Γ0 − Γ = W A (AᵀWA)⁺ AᵀW − W1(1ᵀW1)⁻¹1ᵀW, formed explicitly over the window."""
    tz, ty, tx = (ax.offsets_A for ax in model.axes)
    z, y, x = np.meshgrid(tz, ty, tx, indexing="ij")
    u = np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1) * model.alpha_invA
    c = 0.5 if kernel == "paper" else 1.0
    w = np.exp(-c * np.sum(u * u, axis=1))
    vertices, faces = icosahedral_axes()
    if rotation is not None:
        vertices, faces = vertices @ rotation.T, faces @ rotation.T
    cols = [np.ones(len(w))]
    cols += [4.0 * (u @ n) ** 2 - 2.0 for n in vertices]
    cols += [(u @ m) ** 3 - H2_LINEAR_COEFFICIENT * (u @ m) for m in faces]
    a = np.stack(cols, axis=1)
    wa = w[:, None] * a
    return wa @ np.linalg.pinv(a.T @ wa) @ wa.T - np.outer(w, w) / w.sum()


def direct_lrs(volume, points, model, kernel, sigma2) -> np.ndarray:
    gamma = direct_gamma(model, kernel)
    rz, ry, rx = model.radius_vox
    out = []
    for z, y, x in points:
        s = volume[z - rz : z + rz + 1, y - ry : y + ry + 1, x - rx : x + rx + 1].ravel()
        out.append(s @ gamma @ s / sigma2)
    return np.array(out)


CASES = [
    (2.0, (1.0, 1.0, 1.0), (20, 22, 24)),  # λ at Nyquist: the window keeps its 5-voxel minimum
    (2.2, (1.0, 1.0, 1.0), (24, 24, 24)),
    (3.2, (1.0, 1.0, 1.0), (30, 32, 28)),
    (5.0, (1.3, 1.0, 0.8), (26, 30, 34)),  # anisotropic voxels, non-cubic box
    (7.5, (1.1, 1.1, 1.1), (40, 28, 36)),
]


@pytest.mark.parametrize("route", ["separable", "fft"])
@pytest.mark.parametrize("kernel", ["paper", "resmap-1.1"])
@pytest.mark.parametrize(("wavelength", "spacing", "shape"), CASES)
def test_fast_lrs_equals_direct_quadratic_form(wavelength, spacing, shape, kernel, route):
    rng = np.random.default_rng(7)
    volume = rng.standard_normal(shape)
    model = local_model(wavelength, spacing, kernel)
    mask = np.zeros(shape, dtype=bool)
    mask[3:-2, 2:-3, 4:-1] = True
    fast = lrs_at_mask(volume, mask, model, sigma2=1.7, route=route)
    valid = interior_mask(shape, model.radius_vox)[mask]
    assert np.isnan(fast[~valid]).all()
    points = np.argwhere(mask)
    pick = rng.choice(np.flatnonzero(valid), 25, replace=False)
    expected = direct_lrs(volume, points[pick], model, kernel, 1.7)
    np.testing.assert_allclose(fast[pick], expected, rtol=1e-11)


@pytest.mark.parametrize("kernel", ["paper", "resmap-1.1"])
def test_null_weights_are_the_nonzero_eigenvalues_of_the_big_matrix(kernel):
    model = local_model(4.2, (1.0, 0.9, 1.2), kernel)
    eig = np.sort(np.linalg.eigvalsh(direct_gamma(model, kernel)))[::-1]
    np.testing.assert_allclose(model.null_weights, eig[:16], rtol=1e-10)
    assert abs(eig[16]) < 1e-10 * eig[0]  # rank 16


def test_rotating_the_icosahedral_axes_changes_nothing():
    rng = np.random.default_rng(3)
    volume = rng.standard_normal((22, 22, 22))
    mask = np.ones(volume.shape, dtype=bool)
    rotation = Rotation.random(random_state=11).as_matrix()
    base = local_model(3.7, (1.0, 1.0, 1.0))
    turned = local_model(3.7, (1.0, 1.0, 1.0), rotation=rotation)
    np.testing.assert_allclose(turned.null_weights, base.null_weights, rtol=1e-10)
    np.testing.assert_allclose(
        lrs_at_mask(volume, mask, turned, 1.0), lrs_at_mask(volume, mask, base, 1.0), rtol=1e-10
    )
    # and the direct form agrees with a rotated design matrix
    gamma = direct_gamma(base, "paper", rotation)
    np.testing.assert_allclose(gamma, direct_gamma(base, "paper"), atol=1e-12)


def test_lrs_does_not_depend_on_thread_count_or_mask_extent():
    rng = np.random.default_rng(5)
    volume = rng.standard_normal((40, 36, 30)).astype(np.float32)
    model = local_model(4.2, (1.0, 1.0, 1.0))
    mask = np.zeros(volume.shape, dtype=bool)
    mask[10:30, 8:20, 5:25] = True
    one = lrs_at_mask(volume, mask, model, 1.0, threads=1)
    two = lrs_at_mask(volume, mask, model, 1.0, threads=2)
    assert one.tobytes() == two.tobytes()
    with threadpool_limits(4, user_api="blas"):  # the BLAS thread count the caller left set
        assert lrs_at_mask(volume, mask, model, 1.0, threads=3).tobytes() == one.tobytes()
    bigger = mask.copy()
    bigger[5:35, 5:30, 4:26] = True
    wide = lrs_at_mask(volume, bigger, model, 1.0)
    np.testing.assert_allclose(wide[mask[bigger]], one, rtol=1e-13)


def test_monte_carlo_lrs_on_white_noise_matches_null_weights():
    rng = np.random.default_rng(9)
    volume = rng.standard_normal((60, 60, 60)) * 2.0
    model = local_model(3.2, (1.0, 1.0, 1.0))
    mask = np.zeros(volume.shape, dtype=bool)
    mask[5:-5:3, 5:-5:3, 5:-5:3] = True  # spaced voxels: nearly independent
    lrs = lrs_at_mask(volume, mask, model, sigma2=4.0)
    w = model.null_weights
    mean, var = w.sum(), 2.0 * np.sum(w * w)
    assert abs(lrs.mean() - mean) < 4 * np.sqrt(var / lrs.size) * 2
    assert abs(lrs.var() / var - 1.0) < 0.15


def test_cost_model_prefers_fft_only_for_huge_windows_in_huge_slabs():
    from resmap_core.localres.lrs import choose_route

    assert choose_route((20, 260, 260), 1.0, (2, 2, 2)) == "separable"
    assert choose_route((40, 300, 300), 1.0, (15, 15, 15)) == "separable"
    # margins: a window this wide in a thin slab is still cheaper by banded products
    assert choose_route((400, 400, 400), 1.0, (150, 150, 150)) == "separable"
    assert choose_route((2000, 2000, 2000), 1.0, (200, 200, 200)) == "fft"
