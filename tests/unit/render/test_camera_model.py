"""The camera model: determinism per seed, per-camera consistency, geometry, each effect, validation."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
from PIL import Image

from synthreid.errors import SpecError
from synthreid.render import camera_model as cm
from synthreid.render.camera_model import CameraModelSpec, camera_params, degrade, image_params

PERSON = np.array([200, 30, 220], np.uint8)  # magenta: far from the grey background in every channel


def person_crop(h=128, w=64, top=12, bottom=120, left=18, right=46):
    """Textured grey background with a flat magenta person rectangle; its mask; joints inside it."""
    rng = np.random.default_rng(5)
    img = (90 + rng.integers(-20, 21, (h, w, 1))).repeat(3, axis=2).astype(np.uint8)
    img[top:bottom, left:right] = PERSON
    mask = np.zeros((h, w), np.uint8)
    mask[top:bottom, left:right] = 255
    joints = {"head": [32.0, 16.0], "pelvis": [32.0, 64.0], "l_ankle": [24.0, 116.0], "r_hand": [44.5, 70.0]}
    return img, mask, joints


def geometry_only(**kw) -> CameraModelSpec:
    """No photometric effect at all: only the detector box (and no downscaling)."""
    base = dict(
        person_height_px=(4000, 4000),
        blur_sigma=(0, 0),
        motion_blur_px=(0, 0),
        noise_sigma=(0, 0),
        jpeg_quality=(100, 100),
        colour_cast=0.0,
        exposure_ev=(0, 0),
        gamma=(1, 1),
        vignetting=(0, 0),
    )
    base.update(kw)
    return CameraModelSpec(**base)


def test_same_input_and_seed_give_identical_bytes():
    img, mask, joints = person_crop()
    spec = CameraModelSpec()
    a = degrade(img, mask, joints, spec, 3, 2, "00001_c2_0003")
    b = degrade(img.copy(), mask.copy(), dict(joints), spec, 3, 2, "00001_c2_0003")
    assert a.image.tobytes() == b.image.tobytes() and a.mask.tobytes() == b.mask.tobytes()
    assert a.joints == b.joints and a.params == b.params
    c = degrade(img, mask, joints, spec, 4, 2, "00001_c2_0003")
    assert c.image.tobytes() != a.image.tobytes()


def test_inputs_are_not_modified():
    img, mask, joints = person_crop()
    keep = img.copy(), mask.copy(), {k: list(v) for k, v in joints.items()}
    degrade(img, mask, joints, CameraModelSpec(box_cut_prob=1.0), 0, 1, "00000_c1_0000")
    assert np.array_equal(img, keep[0]) and np.array_equal(mask, keep[1]) and joints == keep[2]


def test_cameras_differ_but_each_is_consistent():
    spec = CameraModelSpec()
    cams = {c: camera_params(spec, 7, c) for c in range(1, 7)}
    assert len({(p.exposure_ev, p.wb_gains, p.jpeg_quality, p.noise_sigma) for p in cams.values()}) == 6
    # Images of one camera stay within image_jitter of their camera's values; other cameras do not.
    for c, cam in cams.items():
        for i in range(20):
            p = image_params(spec, 7, c, f"{i:05d}_c{c}_0000", (64, 128))
            assert p.wb_gains == cam.wb_gains and p.vignetting == cam.vignetting
            assert abs(p.exposure_ev - cam.exposure_ev) <= spec.image_jitter * 1.0 + 1e-9
            assert abs(p.jpeg_quality - cam.jpeg_quality) <= round(spec.image_jitter * 50) + 1
            assert abs(p.noise_sigma - cam.noise_sigma) <= spec.image_jitter * 4.0 + 1e-9
    # ... and per-image choices vary within a camera
    assert len({image_params(spec, 7, 1, f"{i:05d}_c1_0000", (64, 128)).box for i in range(20)}) > 5


def _colour_mask(img: np.ndarray, tol: int = 40) -> np.ndarray:
    return np.abs(img.astype(int) - PERSON.astype(int)).max(axis=2) <= tol


@pytest.mark.parametrize("seed", range(12))
def test_box_jitter_keeps_mask_image_and_joints_aligned(seed):
    img, mask, joints = person_crop()
    spec = geometry_only(box_shift=0.2, box_scale=(0.7, 1.4), box_cut_prob=0.5, box_cut_fraction=(0.1, 0.4))
    d = degrade(img, mask, joints, spec, seed, 1, f"00000_c1_{seed:04d}")
    assert d.image.shape == img.shape and d.mask.shape == mask.shape
    coloured, masked = _colour_mask(d.image), d.mask >= 128
    # Bilinear resampling blends a one-pixel seam at the rectangle's border; elsewhere they agree.
    disagree = (coloured != masked).sum()
    seam = 2 * (masked.sum(axis=0) > 0).sum() + 2 * (masked.sum(axis=1) > 0).sum()
    assert masked.any() and disagree <= seam, (disagree, seam, d.params.box)
    h, w = mask.shape
    for name, (u, v) in d.joints.items():
        # a joint maps to where its pixel went: inside the (moved) person unless the box cut it off
        src_u, src_v = joints[name]
        x0, y0, x1, y1 = d.params.box
        if x0 <= src_u < x1 and y0 <= src_v < y1:
            assert 0 <= u < w and 0 <= v < h
            assert masked[int(v), int(u)], (name, u, v, d.params.box)
        else:
            assert not (0 <= u < w and 0 <= v < h)


def test_cut_box_removes_part_of_the_person():
    img, mask, joints = person_crop()
    spec = geometry_only(box_shift=0.0, box_scale=(1, 1), box_cut_prob=1.0, box_cut_fraction=(0.3, 0.3))
    cuts = {}
    for i in range(40):
        d = degrade(img, mask, joints, spec, 0, 1, f"00000_c1_{i:04d}")
        cuts.setdefault(d.params.cut, d)
    assert "bottom" in cuts
    d = cuts["bottom"]
    rows = np.flatnonzero((d.mask >= 128).any(axis=1))
    assert rows[-1] == mask.shape[0] - 1  # the person now runs off the bottom edge
    person_h = 120 - 12
    visible = rows[-1] - rows[0] + 1
    assert abs(visible - 0.7 * person_h) <= 2  # 30 % of the person is gone


def test_crop_pads_with_edge_replication_and_joint_transform_is_exact():
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = cm.crop_mask(arr, (-1, -1, 5, 4), (6, 5))
    assert out[0, 0] == arr[0, 0] and out[-1, -1] == arr[-1, -1] and np.array_equal(out[1:4, 1:5], arr)
    pts = cm.transform_points(np.array([[0.0, 0.0], [10.0, 20.0]]), (5, 10, 15, 30), (20, 40))
    assert np.allclose(pts, [[-10.0, -20.0], [10.0, 20.0]])


# -- each effect changes the image measurably ---------------------------------------------------


def _params(**kw) -> cm.ImageParams:
    base = dict(
        camid=1,
        exposure_ev=0.0,
        gamma=1.0,
        wb_gains=(1.0, 1.0, 1.0),
        vignetting=0.0,
        vignette_centre=(0.0, 0.0),
        vignette_extent=0.2,
        blur_sigma=0.0,
        motion_blur_px=0.0,
        motion_angle_deg=0.0,
        noise_sigma=0.0,
        jpeg_quality=100,
        person_height_px=1000.0,
        box=(0.0, 0.0, 64.0, 128.0),
        cut=None,
        out_size=(64, 128),
    )
    base.update(kw)
    return cm.ImageParams(**base)


def _textured(seed=0):
    """Per-pixel luminance texture with a constant tint (JPEG's 4:2:0 chroma keeps a tint, not noise)."""
    rng = np.random.default_rng(seed)
    luma = rng.integers(40, 200, (128, 64, 1))
    return np.clip(luma + np.array([20, 0, -15]), 0, 255).astype(np.uint8)


def _hf_energy(img):
    g = img.astype(float).mean(axis=2)
    return float((np.diff(g, axis=0) ** 2).mean() + (np.diff(g, axis=1) ** 2).mean())


def _run(img, **kw):
    return cm.degrade_pixels(img, _params(**kw), person_px=128.0, seed=0, stem="x")


def test_identity_parameters_change_little():
    img = _textured()
    assert np.abs(_run(img).astype(int) - img.astype(int)).mean() < 2.0  # only JPEG at quality 100


@pytest.mark.parametrize(
    "kw", [dict(blur_sigma=1.0), dict(motion_blur_px=4.0, motion_angle_deg=30.0), dict(person_height_px=50.0)]
)
def test_blur_and_downscaling_lower_high_frequencies(kw):
    img = _textured()
    assert _hf_energy(_run(img, **kw)) < 0.6 * _hf_energy(_run(img))


def test_noise_raises_the_variance_of_a_flat_patch():
    flat = np.full((128, 64, 3), 120, np.uint8)
    quiet, noisy = _run(flat), _run(flat, noise_sigma=6.0)
    assert quiet.astype(float).var() < 0.5
    # 6**2 = 36 per channel before JPEG; its 4:2:0 chroma averages part of the colour noise away
    assert 10 < noisy.astype(float).var() < 45


def test_lower_jpeg_quality_gives_a_smaller_file_and_a_larger_error():
    img = _textured()
    sizes, errors = [], []
    for q in (95, 70, 40, 10):
        dec, n = cm.jpeg_roundtrip(img, q)
        sizes.append(n)
        errors.append(np.abs(dec.astype(int) - img.astype(int)).mean())
    assert sizes == sorted(sizes, reverse=True) and errors == sorted(errors)
    assert (
        np.abs(_run(img, jpeg_quality=10).astype(int) - img).mean()
        > 2 * np.abs(_run(img).astype(int) - img).mean()
    )


def test_exposure_gamma_cast_and_vignetting_shift_the_values():
    grey = np.full((128, 64, 3), 100, np.uint8)
    base = _run(grey).astype(float)
    assert _run(grey, exposure_ev=1.0).mean() > base.mean() + 60  # twice the light: ~200
    assert _run(grey, exposure_ev=-1.0).mean() < base.mean() - 30
    assert _run(grey, gamma=1.5).mean() > base.mean() + 20
    cast = _run(grey, wb_gains=(1.2, 1.0, 0.8)).astype(float)
    assert cast[..., 0].mean() > base[..., 0].mean() + 10 and cast[..., 2].mean() < base[..., 2].mean() - 10
    # a crop in the frame's corner region is darker, and darker towards the corner
    vig = _run(grey, vignetting=0.5, vignette_centre=(0.8, 0.7), vignette_extent=0.3).astype(float)
    assert vig.mean() < base.mean() - 10
    assert vig[-10:, -10:].mean() < vig[:10, :10].mean()


def test_sampled_person_height_sets_the_sensor_resolution():
    img = _textured()
    spec = dataclasses.replace(geometry_only(), person_height_px=(32.0, 32.0))
    d = degrade(img, None, None, spec, 0, 1, "00000_c1_0000")
    # 128 rows seen as 32: the image is (nearly) constant over 4x4 blocks after bilinear upscaling
    assert _hf_energy(d.image) < 0.25 * _hf_energy(img)


# -- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("blur_sigma", (-1.0, 1.0)),
        ("jpeg_quality", (0, 90)),
        ("jpeg_quality", (40, 101)),
        ("noise_sigma", (5.0, 1.0)),
        ("person_height_px", (130, 40)),
        ("exposure_ev", (float("nan"), 0.0)),
        ("motion_blur_px", (1.0,)),
        ("jpeg_quality", (40.5, 90)),
        ("colour_cast", -0.1),
        ("box_cut_prob", 1.5),
        ("gamma", (0.0, 1.0)),
        ("vignetting", "strong"),
    ],
)
def test_bad_values_are_errors_naming_the_field(field, value):
    with pytest.raises(SpecError) as err:
        CameraModelSpec(**{field: value})
    assert err.value.field == field and str(err.value).startswith(field)


def test_from_dict_and_toml(tmp_path):
    spec = CameraModelSpec.from_dict({"jpeg_quality": [20, 30], "colour_cast": 0.0})
    assert spec.jpeg_quality == (20, 30) and spec.blur_sigma == CameraModelSpec().blur_sigma
    assert CameraModelSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(SpecError, match="blurr"):
        CameraModelSpec.from_dict({"blurr": [0, 1]})
    path = tmp_path / "cam.toml"
    path.write_text("[camera_model]\nnoise_sigma = [2, 3]\n")
    assert CameraModelSpec.from_toml(path).noise_sigma == (2.0, 3.0)
    path.write_text("noise_sigma = [3, 2]\n")
    with pytest.raises(SpecError, match="noise_sigma"):
        CameraModelSpec.from_toml(path)
    with pytest.raises(SpecError, match="preset"):
        CameraModelSpec.preset("nope")
    assert CameraModelSpec.preset("surveillance").jpeg_quality == (40, 90)


def test_bad_image_shapes_are_errors():
    img, mask, _ = person_crop()
    with pytest.raises(SpecError, match="mask"):
        degrade(img, mask[:10], None, CameraModelSpec(), 0, 1, "x")
    with pytest.raises(SpecError, match="image"):
        degrade(img[..., 0], None, None, CameraModelSpec(), 0, 1, "x")


def test_png_of_output_is_deterministic():
    img, mask, joints = person_crop()
    outs = []
    for _ in range(2):
        d = degrade(img, mask, joints, CameraModelSpec(), 1, 3, "00002_c3_0001")
        buf = io.BytesIO()
        Image.fromarray(d.image).save(buf, format="PNG")
        outs.append(buf.getvalue())
    assert outs[0] == outs[1]
