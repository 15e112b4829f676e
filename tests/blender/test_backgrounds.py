"""User backgrounds: photos behind the person ('images') and panoramas around it ('panorama')."""

import numpy as np
import pytest
from PIL import Image

from synthreid.errors import DatasetError
from synthreid.render.output import init_dataset
from tests.blender.conftest import render_one, small_spec

pytestmark = pytest.mark.blender


def _solid(path, color, size=(96, 64)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


def _background_pixels(root, row):
    rgb = np.asarray(Image.open(root / row["image"]).convert("RGB")).astype(float)
    mask = np.asarray(Image.open(root / row["mask"]))
    return rgb[mask < 8], rgb[mask > 200]


def test_photo_background_is_behind_the_person(tmp_path, session_factory):
    photos = tmp_path / "photos"
    _solid(photos / "street" / "a.jpg", (20, 200, 40))
    _solid(photos / ".hidden.png", (255, 0, 0))
    spec = small_spec(background={"mode": "images", "images_dir": str(photos)}, characters=2)
    init_dataset(spec, tmp_path / "ds")
    row = render_one(session_factory(spec), spec, 0, 0, tmp_path / "ds")
    assert row["character"]["background"]["image"] == "street/a.jpg"
    bg, person = _background_pixels(tmp_path / "ds", row)
    assert len(bg) > 50 and len(person) > 50
    # The photo's green shows around the person (shadows may darken part of it).
    assert np.median(bg[:, 1]) > 120 and np.median(bg[:, 0]) < 80
    assert np.abs(person.mean(axis=0) - bg.mean(axis=0)).sum() > 30


def test_panorama_surrounds_and_lights_the_person(tmp_path, session_factory):
    panos = tmp_path / "panos"
    pano = np.zeros((64, 128, 3), np.uint8)
    pano[:32] = (60, 90, 230)  # blue sky
    pano[32:] = (200, 120, 30)  # orange ground
    panos.mkdir()
    Image.fromarray(pano).save(panos / "site.png")
    spec = small_spec(
        background={"mode": "panorama", "panoramas_dir": str(panos)},
        lighting={"sun_strength": [0.0, 0.0]},
        characters=2,
    )
    init_dataset(spec, tmp_path / "ds")
    row = render_one(session_factory(spec), spec, 1, 0, tmp_path / "ds")
    bg, person = _background_pixels(tmp_path / "ds", row)
    assert len(bg) > 50
    # Cameras look down at the person: the orange ground fills the background.
    r, g, b = np.median(bg, axis=0)
    assert r > b + 40, (r, g, b)


def test_missing_or_empty_background_folder_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    spec = small_spec(background={"mode": "images", "images_dir": str(tmp_path / "empty")})
    with pytest.raises(DatasetError, match="background.images_dir .*no .*files"):
        init_dataset(spec, tmp_path / "ds")
    assert not (tmp_path / "ds").exists()
    spec = small_spec(background={"mode": "panorama", "panoramas_dir": str(tmp_path / "nope")})
    with pytest.raises(DatasetError, match="background.panoramas_dir .*no such folder"):
        init_dataset(spec, tmp_path / "ds2")
