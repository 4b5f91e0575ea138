"""Tests of resmap_core.localres.prepare: mask, low-pass detection and resampling, whitening."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.fft as sfft
from scipy import ndimage

from resmap_core.io.mrc import read_map
from resmap_core.localres.lowpass import detect_lowpass, lowpass_grid
from resmap_core.localres.mask import auto_mask, background_weight, dilate_ball
from resmap_core.localres.resample import fourier_resample, resample_labels_to_grid
from resmap_core.localres.spectra import noise_spectrum
from resmap_core.localres.whitening import apply_prewhitening, fit_prewhitening
from resmap_core.spectrum import frequency_magnitude, make_shells, rfft_weights


def _ball(shape, spacing, centre_A, radius_A):
    axes = [np.arange(n) * d for n, d in zip(shape, spacing, strict=True)]
    r2 = sum(
        (a - c)[tuple(slice(None) if i == j else None for j in range(3))] ** 2
        for i, (a, c) in enumerate(zip(axes, centre_A, strict=True))
    )
    return r2 <= radius_A**2


def _dice(a, b):
    return 2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


def _radial_filtered(rng, shape, spacing, amp_fn):
    white = rng.standard_normal(shape)
    ft = sfft.rfftn(white)
    ft *= amp_fn(frequency_magnitude(shape, spacing))
    return sfft.irfftn(ft, shape)


# --- auto_mask ---------------------------------------------------------------------------------


def test_auto_mask_matches_noisy_blob_and_excludes_background():
    rng = np.random.default_rng(1)
    shape, spacing = (64, 64, 64), (1.0, 1.0, 1.0)
    # The blur (σ = 1.5 voxels) grows the thresholded mask by ~1 voxel: radius 18 → Dice ≈ 0.93.
    blob = _ball(shape, spacing, (32, 32, 32), 18.0)
    data = blob.astype(float) + 0.5 * rng.standard_normal(shape)
    mask = auto_mask(data, spacing)
    assert _dice(mask, blob) > 0.9
    far = ~_ball(shape, spacing, (32, 32, 32), 23.0)
    assert not mask[far].any()


def test_auto_mask_on_non_cubic_anisotropic_box_covers_blob_within_blur_margin():
    rng = np.random.default_rng(2)
    shape, spacing = (48, 72, 60), (1.6, 1.0, 1.3)
    centre = tuple(n * d / 2 for n, d in zip(shape, spacing, strict=True))
    blob = _ball(shape, spacing, centre, 24.0)
    data = 2.0 * blob + 0.7 * rng.standard_normal(shape)
    mask = auto_mask(data, spacing)
    # The blur is σ = 1.5 voxels = 2.4 Å along z: the mask may extend up to 2σ beyond the ball.
    assert mask[blob].all()
    assert not mask[~_ball(shape, spacing, centre, 24.0 + 2 * 2.4)].any()
    assert _dice(mask, blob) > 0.85
    assert not mask[:3].any() and not mask[-3:].any()


def test_auto_mask_of_pure_noise_is_empty_or_tiny():
    rng = np.random.default_rng(3)
    mask = auto_mask(rng.standard_normal((48, 48, 48)), (1.0, 1.0, 1.0))
    assert mask.sum() < 0.01 * mask.size


def test_auto_mask_keeps_edge_margin():
    data = np.ones((32, 32, 32))
    mask = auto_mask(data + _ball((32,) * 3, (1.0,) * 3, (16, 16, 16), 15), (1, 1, 1), 5)
    assert not mask[:5].any() and not mask[:, :, -5:].any() and mask[16, 16, 16]


# --- low-pass ----------------------------------------------------------------------------------


def _bfactor_map(seed, shape=(64, 64, 64), spacing=(1.0, 1.0, 1.0), bfac=60.0):
    rng = np.random.default_rng(seed)
    return _radial_filtered(rng, shape, spacing, lambda k: np.exp(-bfac * k * k / 4.0))


def test_hard_lowpass_at_4A_is_detected_within_a_shell():
    shape, spacing = (64, 64, 64), (1.0, 1.0, 1.0)
    data = _bfactor_map(4)
    ft = sfft.rfftn(data)
    ft[frequency_magnitude(shape, spacing) > 0.25] = 0
    filtered = sfft.irfftn(ft, shape).astype(np.float32)
    res = detect_lowpass(filtered, spacing)
    assert res.detected
    step = make_shells(shape, spacing).step_invA
    assert abs(res.cutoff_invA - 0.25) <= step
    rec = res.record()
    assert (
        rec["detected"] and abs(rec["cutoff_A"] - 4.0) < 0.3 and 0.4 < rec["resample_factor"] < 0.6
    )


def test_unfiltered_bfactor_map_with_white_noise_is_not_flagged():
    rng = np.random.default_rng(5)
    data = _bfactor_map(5, bfac=150.0)
    data = data + 0.05 * data.std() * rng.standard_normal(data.shape)
    assert not detect_lowpass(data, (1.0, 1.0, 1.0)).detected
    assert detect_lowpass(data, (1.0, 1.0, 1.0)).record()["cutoff_A"] is None


def test_steep_bfactor_signal_over_faint_noise_floor_is_not_flagged():
    """Three decades of particle fall-off over a white floor (real maps in large boxes): the
    half-map difference holds only the floor, so nothing is called filtered."""
    rng = np.random.default_rng(6)
    signal = _bfactor_map(6, bfac=300.0)
    h1 = signal + 0.005 * signal.std() * rng.standard_normal(signal.shape)
    h2 = signal + 0.005 * signal.std() * rng.standard_normal(signal.shape)
    assert not detect_lowpass((h1 - h2) / 2, (1.0, 1.0, 1.0)).detected


def test_soft_edged_lowpass_is_detected_at_start_of_collapse():
    shape, spacing = (64, 64, 64), (1.0, 1.0, 1.0)
    k = frequency_magnitude(shape, spacing)
    # Gaussian roll-off beyond 0.3 Å⁻¹ (the kind of filter EMDB maps carry).
    ft = sfft.rfftn(_bfactor_map(9)) * np.exp(-0.5 * (np.maximum(k - 0.3, 0) / 0.02) ** 2)
    res = detect_lowpass(sfft.irfftn(ft, shape), spacing)
    assert res.detected and 0.3 <= res.cutoff_invA <= 0.3 + 0.1


def test_real_map_noise_filtered_like_a_deposition_is_detected_and_background_is_not():
    """Surrogate halves of EMD-3488 (map + white noise) low-passed at 3.2 Å with a 3-shell
    raised-cosine edge, as postprocessing does: the difference map's collapse is found within a
    shell. EMD-5168's background (a real unfiltered map) is not flagged."""
    data_dir = Path(__file__).resolve().parent / "data"  # real EMDB maps, tests/data/README.md
    m = read_map(data_dir / "emd_3488/emd_3488.mrc.gz")
    spacing = m.geometry.spacing_zyx_A
    rng = np.random.default_rng(3)
    step = make_shells(m.data.shape, spacing).step_invA
    k = frequency_magnitude(m.data.shape, spacing)
    edge = np.clip((k - (1 / 3.2 - 1.5 * step)) / (3 * step), 0.0, 1.0)
    gain = 0.5 + 0.5 * np.cos(np.pi * edge)
    halves = []
    for _ in range(2):
        h = m.data + m.data.std() * rng.standard_normal(m.data.shape)
        halves.append(sfft.irfftn(sfft.rfftn(h) * gain, m.data.shape).astype(np.float32))
    found = detect_lowpass((halves[0] - halves[1]) / 2, spacing)
    # the half-power point of a raised cosine lies within its edge, ≤ 1.5 shells from the centre
    assert found.detected and abs(found.cutoff_invA - 1 / 3.2) <= 1.5 * step
    assert found.grid_cutoff_invA >= found.cutoff_invA
    actin = read_map(data_dir / "emd_5168/emd_5168.map.gz")
    a_spacing = actin.geometry.spacing_zyx_A
    mask = auto_mask(actin.data, a_spacing)
    weight = background_weight(mask, a_spacing)
    assert not detect_lowpass(actin.data, a_spacing, weight).detected


def test_lowpass_grid_puts_nyquist_at_cutoff_and_never_upsamples():
    shape, sp = lowpass_grid((64, 50, 40), (1.0, 1.2, 3.0), 0.25)
    assert shape == (32, 30, 40)
    assert np.allclose(sp, (2.0, 2.0, 3.0))
    assert all(0.5 / d >= 0.25 - 1e-12 for d in sp[:2])


def _bandlimited(shape, kmax_cycles):
    """Sum of cosines with integer frequencies ≤ kmax_cycles per box on each axis; analytic."""
    rng = np.random.default_rng(7)
    terms = [
        (rng.integers(-kmax_cycles, kmax_cycles + 1, 3), rng.uniform(0, 2 * np.pi), rng.normal())
        for _ in range(12)
    ]

    def evaluate(grid_shape):
        pos = [np.arange(m) / m for m in grid_shape]
        z, y, x = np.meshgrid(*pos, indexing="ij")
        out = np.full(grid_shape, 0.3)
        for (fz, fy, fx), ph, a in terms:
            out += a * np.cos(2 * np.pi * (fz * z + fy * y + fx * x) + ph)
        return out

    return evaluate


def test_fourier_resample_round_trips_bandlimited_signal_even_and_odd():
    f = _bandlimited((40, 36, 33), 6)
    fine = f((40, 36, 33))
    for coarse_shape in [(16, 15, 14), (13, 20, 17)]:
        coarse = fourier_resample(fine, coarse_shape)
        np.testing.assert_allclose(coarse, f(coarse_shape), atol=1e-12)
        back = fourier_resample(coarse, fine.shape)
        np.testing.assert_allclose(back, fine, atol=1e-12)
        assert abs(coarse.mean() - fine.mean()) < 1e-13


def test_fourier_resample_up_then_down_is_identity_with_nyquist():
    rng = np.random.default_rng(8)
    coarse = rng.standard_normal((16, 12, 10))
    up = fourier_resample(coarse, (32, 25, 20))
    np.testing.assert_allclose(fourier_resample(up, coarse.shape), coarse, atol=1e-12)
    np.testing.assert_allclose(up[::2, :, ::2][:, :0], up[::2, :, ::2][:, :0])
    np.testing.assert_allclose(up[::2, ::1, ::2][:, :1].shape, (16, 1, 10))
    np.testing.assert_allclose(
        fourier_resample(coarse, (32, 12, 20))[::2, :, ::2], coarse, atol=1e-12
    )


def test_label_resampling_overlays_coarse_voxel_centres():
    fine_shape, fine_sp = (20, 21, 22), (1.0, 1.0, 1.0)
    coarse_shape, coarse_sp = (10, 7, 11), (2.0, 3.0, 2.0)
    labels = np.arange(np.prod(coarse_shape), dtype=float).reshape(coarse_shape)
    labels[0, 0, 0] = np.nan
    labels[1, 1, 1] = 100.0
    fine = resample_labels_to_grid(labels, coarse_shape, coarse_sp, fine_shape, fine_sp)
    assert fine.shape == fine_shape
    # Coarse voxel (j, k, l) sits at fine voxel (2j, 3k, 2l): exact overlay.
    np.testing.assert_array_equal(fine[2::2, 3::3, 2::2][:9, :6, :10], labels[1:, 1:, 1:])
    assert np.isnan(fine[0, 0, 0]) and fine[2, 3, 2] == 100.0 and fine[1, 4, 2] == 100.0
    assert set(np.unique(fine[~np.isnan(fine)])) <= set(labels[~np.isnan(labels)].tolist())
    # Round trip fine→coarse picks the voxels at the coarse centres.
    back = resample_labels_to_grid(fine, fine_shape, fine_sp, coarse_shape, coarse_sp)
    np.testing.assert_array_equal(np.isnan(back), np.isnan(labels))
    np.testing.assert_array_equal(back[1:], labels[1:])


# --- pre-whitening -----------------------------------------------------------------------------


def _shell_counts(shape, spacing):
    shells = make_shells(shape, spacing)
    return shells.sum(np.broadcast_to(rfft_weights(shape), shells.index.shape))


def _assert_flat_beyond_elbow(pw, shape, spacing):
    k = np.asarray(pw.frequency_invA)
    after = np.asarray(pw.spectrum_after)
    counts = _shell_counts(shape, spacing)
    use = k >= 1.0 / pw.elbow_A
    p, n = after[use], counts[use]
    mean = np.average(p, weights=n)
    # |F|² of Gaussian noise is exponential-like: relative SE of a shell mean ≈ 1/sqrt(n/2)
    # (rfft coefficients are counted twice by their conjugates).
    se = mean / np.sqrt(n / 2.0)
    assert np.all(np.abs(p - mean) < 5.0 * se)
    slope = np.polyfit(k[use], np.log(p), 1, w=np.sqrt(n))[0]
    assert abs(slope) < 0.3  # ln-power change over the whole band (≤ 0.4 Å⁻¹) below ~0.12


def test_coloured_noise_is_flat_after_whitening():
    shape, spacing = (64, 64, 64), (1.0, 1.0, 1.0)
    rng = np.random.default_rng(11)
    noise = _radial_filtered(rng, shape, spacing, lambda k: np.exp(-(3.0 * k + 8.0 * k * k)))
    pw = fit_prewhitening(noise, spacing)
    before = np.asarray(pw.spectrum_before)
    assert before[30] < 0.05 * before[7]  # really coloured
    np.testing.assert_allclose(pw.coefficients[1:], (-3.0, -8.0), atol=0.4)
    _assert_flat_beyond_elbow(pw, shape, spacing)


def test_whitening_works_on_anisotropic_non_cubic_box():
    shape, spacing = (48, 64, 40), (1.5, 1.0, 1.2)
    rng = np.random.default_rng(12)
    noise = _radial_filtered(rng, shape, spacing, lambda k: np.exp(-(2.0 * k + 10.0 * k * k)))
    pw = fit_prewhitening(noise, spacing)
    _assert_flat_beyond_elbow(pw, shape, spacing)
    out = apply_prewhitening(noise, pw)
    assert out.shape == shape and out.dtype == np.float32


def test_white_noise_gives_nearly_constant_filter():
    shape, spacing = (64, 64, 64), (1.0, 1.0, 1.0)
    noise = np.random.default_rng(13).standard_normal(shape)
    pw = fit_prewhitening(noise, spacing)
    k = np.linspace(0.0, 0.5, 50)
    gain = pw.gain(k)
    assert np.all(np.abs(gain - 1.0) < 0.03)
    before = np.asarray(pw.spectrum_before)[1:]
    n = _shell_counts(shape, spacing)[1:]
    assert np.all(np.abs(before - 1.0) < 5.0 / np.sqrt(n / 2.0))


def test_prewhitening_is_deterministic_and_record_has_spectra():
    shape, spacing = (32, 32, 32), (2.0, 2.0, 2.0)
    noise = _radial_filtered(np.random.default_rng(14), shape, spacing, lambda k: np.exp(-4.0 * k))
    a = fit_prewhitening(noise, spacing, threads=1)
    b = fit_prewhitening(noise, spacing, threads=2)
    assert a == b
    rec = a.record()
    assert rec["elbow_A"] == 10.0 and len(rec["coefficients"]) == 3
    assert len(rec["frequency_invA"]) == len(rec["spectrum_before"]) == len(rec["spectrum_after"])
    assert np.array_equal(apply_prewhitening(noise, a, 1), apply_prewhitening(noise, a, 2))


def test_background_weight_is_zero_on_particle_and_one_far_away():
    shape, spacing = (48, 48, 48), (1.0, 1.0, 1.0)
    mask = _ball(shape, spacing, (24, 24, 24), 8.0)
    w = background_weight(mask, spacing)
    assert w[24, 24, 24] < 1e-6 and w[2, 2, 2] > 0.99 and w.min() >= 0 and w.max() <= 1


def test_single_mode_noise_spectrum_from_background_weight_is_white_level():
    shape, spacing = (48, 48, 48), (1.0, 1.0, 1.0)
    rng = np.random.default_rng(15)
    mask = _ball(shape, spacing, (24, 24, 24), 8.0)
    data = 5.0 * mask + 2.0 * rng.standard_normal(shape)
    spec = noise_spectrum(data, spacing, background_weight(mask, spacing))
    p = np.asarray(spec["power"])[6:]
    assert np.all(np.abs(p / 4.0 - 1.0) < 0.35)


@pytest.mark.parametrize(
    ("shape", "spacing", "radius"),
    [
        ((30, 34, 28), (1.0, 1.0, 1.0), 6.0),
        ((25, 30, 33), (1.3, 0.9, 1.1), 5.0),
        ((40, 36, 30), (0.8, 1.2, 1.0), 7.3),
        ((12, 40, 40), (1.0, 1.0, 1.0), 20.0),  # ball wider than the box along z
    ],
)
def test_ball_dilation_equals_euclidean_distance_threshold(shape, spacing, radius):
    mask = np.random.default_rng(4).random(shape) < 0.003
    mask[0, 0, 0] = mask[-1, -1, -1] = True  # corners: no wrap-around
    expected = ndimage.distance_transform_edt(~mask, sampling=spacing) <= radius
    np.testing.assert_array_equal(dilate_ball(mask, spacing, radius), expected)


def test_fourier_resample_in_single_precision_matches_double():
    f = _bandlimited((40, 36, 33), 6)
    fine = f((40, 36, 33))
    for shape in [(16, 15, 14), (13, 20, 17), (48, 40, 35)]:
        single = fourier_resample(fine.astype(np.float32), shape)
        assert single.dtype == np.float32
        np.testing.assert_allclose(single, fourier_resample(fine, shape), atol=1e-5)


@pytest.mark.parametrize("shape", [(32, 30, 28), (17, 19, 21)])
def test_irfftn_consuming_inverts_rfftn_like_irfftn(shape):
    from resmap_core.spectrum import irfftn_consuming

    data = np.random.default_rng(2).standard_normal(shape)
    expected = sfft.irfftn(sfft.rfftn(data), shape)
    spectrum = sfft.rfftn(data)
    np.testing.assert_allclose(irfftn_consuming(spectrum, shape), expected, atol=1e-13)
    np.testing.assert_allclose(expected, data, atol=1e-12)


# --- exact (shell-by-shell) whitening of the difference map ---------------------------------------


def _corner_power_ratio(vol, spacing):
    """Mean |F|² beyond the coarsest axis' Nyquist sphere over the mean inside (beyond 10 Å)."""
    k = frequency_magnitude(vol.shape, spacing)
    power = np.abs(sfft.rfftn(vol)) ** 2
    nyquist = min(0.5 / d for d in spacing)
    inside = (k > 0.1) & (k <= nyquist)
    return power[k > nyquist].mean() / power[inside].mean()


@pytest.mark.parametrize(
    ("shape", "spacing"), [((64, 64, 64), (1.0, 1.0, 1.0)), ((48, 64, 40), (1.5, 1.0, 1.2))]
)
@pytest.mark.parametrize("bfactor", [-50.0, 30.0, 0.0])
def test_shell_whitening_flattens_the_noise_through_the_corners(shape, spacing, bfactor):
    from resmap_core.localres.whitening import prewhiten_shells

    rng = np.random.default_rng(31)
    noise = _radial_filtered(rng, shape, spacing, lambda k: np.exp(-bfactor * k * k / 4.0))
    pw, whitened = prewhiten_shells(noise, spacing)
    assert pw.method == "shells" and pw.coefficients is None
    _assert_flat_beyond_elbow(pw, shape, spacing)
    # the corners beyond the Nyquist sphere carry the same white level (±10 %)
    assert abs(_corner_power_ratio(whitened, spacing) - 1.0) < 0.1


def test_shell_whitening_undoes_any_radial_filter_applied_to_the_noise():
    """One radial filter on the input changes the whitened map beyond the elbow only by a
    constant factor (signal and noise alike, so the signal-to-noise ratio is unchanged)."""
    from resmap_core.localres.whitening import apply_prewhitening, prewhiten_shells

    shape, spacing = (64, 64, 64), (1.0, 1.0, 1.0)
    rng = np.random.default_rng(32)
    white = rng.standard_normal(shape)
    k = frequency_magnitude(shape, spacing)
    sharpen = np.exp(50.0 * k * k / 4.0)
    plain_pw, _ = prewhiten_shells(white, spacing)
    sharp = sfft.irfftn(sfft.rfftn(white) * sharpen, shape)
    sharp_pw, _ = prewhiten_shells(sharp, spacing)
    signal = _radial_filtered(np.random.default_rng(33), shape, spacing, lambda q: 1.0 + 0 * q)
    a = sfft.rfftn(apply_prewhitening(signal, plain_pw))
    b = sfft.rfftn(apply_prewhitening(sfft.irfftn(sfft.rfftn(signal) * sharpen, shape), sharp_pw))
    beyond = k > 1.0 / plain_pw.elbow_A
    ratio = np.abs(b[beyond]) / np.abs(a[beyond])
    # unit gain at the elbow: what is left is the filter's gain there, the same at every k
    at_elbow = np.exp(50.0 / plain_pw.elbow_A**2 / 4.0)
    assert np.median(ratio) == pytest.approx(at_elbow, rel=0.03)
    # the gains are measured on noise: ~2 % smoothing error in amplitude per shell
    assert np.percentile(np.abs(ratio / at_elbow - 1.0), 95) < 0.08


def test_shell_whitening_record_has_the_gain_table():
    from resmap_core.localres.whitening import prewhiten_shells

    shape, spacing = (32, 32, 32), (2.0, 2.0, 2.0)
    noise = _radial_filtered(np.random.default_rng(14), shape, spacing, lambda k: np.exp(-4.0 * k))
    a, wa = prewhiten_shells(noise, spacing, threads=1)
    b, wb = prewhiten_shells(noise, spacing, threads=2)
    assert a == b and np.array_equal(wa, wb)
    rec = a.record()
    assert rec["method"] == "shells" and rec["coefficients"] is None
    freqs = np.asarray(rec["gain_frequency_invA"])
    assert freqs[-1] >= np.sqrt(3) * 0.25 - 1 / 64  # reaches the corner of the grid
    assert np.all(np.diff(freqs) > 0) and rec["gain"][0] == 1.0
