"""`synthreid demo --target DIR`: a folder of real crops as the refiner's target domain."""

from PIL import Image

from synthreid.cli import build_parser, main


def test_demo_target_option_and_refusal_before_any_work(tmp_path, capsys):
    args = build_parser().parse_args(["demo", "--target", str(tmp_path / "crops")])
    assert args.target == str(tmp_path / "crops")
    assert build_parser().parse_args(["demo"]).target is None  # the stand-in stays the default
    (tmp_path / "crops" / "cam1").mkdir(parents=True)
    (tmp_path / "crops" / "cam1" / "notes.txt").write_text("no images here")
    out = tmp_path / "demo"
    assert main(["demo", "--target", str(tmp_path / "crops"), "--out", str(out)]) == 2
    assert "no images found" in capsys.readouterr().err
    assert not out.exists()  # refused before rendering anything


def test_flat_target_of_nested_crops_is_what_the_refiner_reads(tmp_path):
    from synthreid.refine.data import target_pairs
    from synthreid.study.targets import flat_image_folder

    for cam in ("cam1", "cam2"):
        (tmp_path / "crops" / cam).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (32, 64), (40 * i, 0, 0)).save(tmp_path / "crops" / cam / f"{i}.jpg")
    flat = flat_image_folder(tmp_path / "crops", tmp_path / "flat")
    assert len(target_pairs(flat)) == 6
