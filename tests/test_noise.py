"""Noise variance from blocks: unbiased on white noise, blocks wholly inside the region."""

from __future__ import annotations

import numpy as np
import pytest

from resmap_core.localres.basis import local_model
from resmap_core.localres.noise import MIN_BLOCKS, block_residuals, block_starts, estimate_sigma2


def test_blocks_lie_wholly_inside_the_region_on_a_grid_anchored_at_zero():
    region = np.zeros((20, 21, 22), dtype=bool)
    region[0:10, 0:14, 0:22] = True
    region[3, 3, 3] = False
    starts = block_starts(region, (5, 7, 11))
    brute = [
        (z, y, x)
        for z in range(0, 16, 5)
        for y in range(0, 15, 7)
        for x in range(0, 12, 11)
        if region[z : z + 5, y : y + 7, x : x + 11].all()
    ]
    assert sorted(map(tuple, starts.tolist())) == sorted(brute)


def test_block_residual_equals_direct_weighted_least_squares():
    rng = np.random.default_rng(2)
    model = local_model(3.2, (1.0, 1.1, 0.9))
    edge = tuple(2 * r + 1 for r in model.radius_vox)
    blocks = rng.standard_normal((5, *edge))
    # direct: weighted residual of fitting the mean-removed block by the 16 non-constant columns
    w = model.window_weight().ravel()
    tz, ty, tx = (ax.offsets_A for ax in model.axes)
    z, y, x = np.meshgrid(tz, ty, tx, indexing="ij")
    u = np.stack([x.ravel(), y.ravel(), z.ravel()], 1) * model.alpha_invA
    from resmap_core.localres.basis import H2_LINEAR_COEFFICIENT, icosahedral_axes

    vertices, faces = icosahedral_axes()
    cols = [4.0 * (u @ n) ** 2 - 2.0 for n in vertices]
    cols += [(u @ m) ** 3 - H2_LINEAR_COEFFICIENT * (u @ m) for m in faces]
    a = np.stack(cols, 1)
    expected = []
    for b in blocks:
        c = b.ravel() - b.mean()
        beta = np.linalg.lstsq(np.sqrt(w)[:, None] * a, np.sqrt(w) * c, rcond=None)[0]
        r = c - a @ beta
        expected.append(np.sum(w * r * r))
    np.testing.assert_allclose(block_residuals(blocks, model), expected, rtol=1e-10)


@pytest.mark.parametrize("wavelength", [2.2, 4.2, 7.2])
def test_sigma2_is_unbiased_on_white_noise(wavelength):
    rng = np.random.default_rng(int(wavelength * 10))
    sigma = 1.7
    model = local_model(wavelength, (1.0, 1.0, 1.0))
    region = np.ones((90, 90, 90), dtype=bool)
    estimates = []
    for _ in range(4):
        noise = rng.standard_normal(region.shape) * sigma
        estimates.append(estimate_sigma2(noise, region, model).sigma2)
    # standard error of the mean over all blocks is well below 1 %
    assert abs(np.mean(estimates) / sigma**2 - 1.0) < 0.015


def test_too_few_blocks_give_no_estimate():
    model = local_model(6.2, (1.0, 1.0, 1.0))
    region = np.zeros((40, 40, 40), dtype=bool)
    region[:18, :9, :9] = True  # room for 2 blocks of 9³ (r = 4)
    est = estimate_sigma2(np.ones(region.shape), region, model)
    assert est.blocks == 2 < MIN_BLOCKS
    assert np.isnan(est.sigma2)
