"""Dataset integrity without Blender: checksum-checked resume, `verify` (and --fix), preview
skipping damaged files. Images are written the way RenderSession writes them."""

import hashlib
import io
import json
import logging

import pytest
from PIL import Image

from synthreid.cli import build_parser, main
from synthreid.errors import DatasetError, SpecError
from synthreid.fsutil import atomic_path, write_json
from synthreid.render.cli import load_spec, preset_description
from synthreid.render.output import finalize_dataset, init_dataset, missing_images
from synthreid.render.plan import plan_images
from synthreid.render.preview import contact_sheet
from synthreid.render.spec import DatasetSpec, preset_names
from synthreid.render.verify import fix_dataset, verify_dataset
from synthreid.render.writer import DatasetWriter, RenderResult

SIZE = (8, 16)


def tiny_spec(fmt="png") -> DatasetSpec:
    return DatasetSpec.from_dict(
        {
            "name": "tiny",
            "seed": 3,
            "characters": 2,
            "images_per_character": 2,
            "splits": {"test": 1, "val": 1},
            "output": {"size": list(SIZE), "format": fmt},
        }
    )


def _save(img: Image.Image, path) -> str:
    buf = io.BytesIO()
    img.save(buf, "JPEG" if path.suffix == ".jpg" else "PNG")
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue())
    return hashlib.sha256(buf.getvalue()).hexdigest()


def fake_result(plan) -> RenderResult:
    """What a RenderSession returns, with flat pixels instead of a person."""
    eye = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    return RenderResult(
        rgb=Image.new("RGB", SIZE, (plan.pid * 90 % 256, plan.index * 60 % 256, 30)),
        mask=Image.new("L", SIZE, 255),
        bbox=(0, 0, SIZE[0], SIZE[1]),
        frame_size=SIZE,
        K=eye,
        Rt=tuple((*r, 0.0) for r in eye),
        joints2d={"nose": (1.0, 2.0)},
        joints2d_crop={"nose": (1.0, 2.0)},
        render_seconds=0.0,
        total_seconds=0.0,
    )


def fake_render(root, spec, plan) -> dict:
    """Image, mask and meta row of one planned image, written by the DatasetWriter."""
    return DatasetWriter(root, spec.output.format).write(plan, fake_result(plan))


def finished_row(root, stem):
    return DatasetWriter(root).finished_row(stem)


@pytest.fixture(params=["png", "jpg"])
def dataset(tmp_path, request):
    spec = tiny_spec(request.param)
    root = tmp_path / "ds"
    init_dataset(spec, root)
    rows = [fake_render(root, spec, r) for r in plan_images(spec)]
    finalize_dataset(root)
    return spec, root, rows


def _truncate(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_sound_dataset_verifies_clean(dataset, capsys):
    spec, root, rows = dataset
    report = verify_dataset(root)
    assert report.ok and report.sound == 4 and not report.problems
    assert missing_images(root) == {}
    assert main(["verify", str(root), "--quiet"]) == 0
    assert "4 of 4 images sound" in capsys.readouterr().out


def test_truncated_image_is_not_done_reported_fixed_and_rerendered(dataset, capsys):
    spec, root, rows = dataset
    victim = rows[1]
    _truncate(root / victim["image"])
    assert finished_row(root, victim["stem"]) is None
    assert missing_images(root) == {victim["pid"]: [victim["index"]]}

    assert main(["verify", str(root), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert f"{victim['image']}: sha256 differs" in out and "cannot be decoded" in out
    assert "1 damaged" in out and f"verify {root} --fix" in out

    assert main(["verify", str(root), "--quiet", "--fix"]) == 1
    out = capsys.readouterr().out
    assert "removed the files of 1 damaged image(s)" in out and f"synthreid render --out {root}" in out
    assert not (root / victim["image"]).exists() and not (root / "meta" / f"{victim['stem']}.json").exists()
    after = verify_dataset(root)
    assert after.not_rendered == (victim["stem"],) and not after.problems  # labels.jsonl rewritten too
    labels = {r["stem"]: r for r in map(json.loads, (root / "labels.jsonl").read_text().splitlines())}
    assert labels[victim["stem"]]["state"] == "planned"

    fake_render(root, spec, next(r for r in plan_images(spec) if r.stem == victim["stem"]))  # the resume
    finalize_dataset(root)
    assert verify_dataset(root).ok


@pytest.mark.parametrize(
    "damage, expected",
    [
        ("missing_mask", "masks/{stem}.png: missing"),
        ("changed_mask", "masks/{stem}.png: sha256 differs"),
        ("missing_image", "images/{stem}.{ext}: missing"),
        ("meta_garbage", "meta/{stem}.json: unreadable"),
        ("no_checksum", "records no checksum"),
        ("wrong_size", "image is 8x16 px, expected 9x16"),
        ("path_escape", "meta row's 'image' is '../x.png'"),
    ],
)
def test_each_kind_of_damage_is_reported_and_not_done(dataset, damage, expected):
    spec, root, rows = dataset
    row = rows[2]
    stem, meta = row["stem"], root / "meta" / f"{row['stem']}.json"
    if damage == "missing_mask":
        (root / row["mask"]).unlink()
    elif damage == "changed_mask":
        Image.new("L", SIZE, 0).save(root / row["mask"])
    elif damage == "missing_image":
        (root / row["image"]).unlink()
    elif damage == "meta_garbage":
        meta.write_text('{"stem": ')
    elif damage == "no_checksum":
        write_json(meta, {k: v for k, v in row.items() if k != "checksum"})
    elif damage == "wrong_size":
        write_json(meta, {**row, "size": [9, 16]})
    elif damage == "path_escape":
        write_json(meta, {**row, "image": "../x.png"})
    report = verify_dataset(root)
    messages = [p.message for p in report.problems]
    assert report.damaged == (stem,), messages
    assert any(expected.format(stem=stem, ext=spec.output.format) in m for m in messages), messages
    if damage != "wrong_size":  # a size the row misstates does not make the files untrustworthy
        assert finished_row(root, stem) is None
    fix_dataset(report)
    again = verify_dataset(root)
    assert not again.problems and again.not_rendered == (stem,)


def test_interrupted_writes_stale_labels_and_strangers(dataset):
    spec, root, rows = dataset
    (root / "meta" / f"{rows[0]['stem']}.json").unlink()  # killed before the meta row
    temp = root / "images" / f".{rows[3]['stem']}.png.4242.tmp"  # killed inside an atomic write
    temp.write_bytes(b"half")
    stranger = root / "images" / "notes.txt"
    stranger.write_text("mine")
    report = verify_dataset(root)
    text = "\n".join(p.message for p in report.problems)
    assert report.damaged == (rows[0]["stem"],) and "no meta row (interrupted render)" in text
    assert report.temps == (temp.relative_to(root).as_posix(),) and "leftover temp file" in text
    assert (
        "labels.jsonl: disagrees with the files for 1 image(s)" in text
        and "images/notes.txt: not an image" in text
    )
    fixed = fix_dataset(report)
    assert fixed.removed_images == (rows[0]["stem"],) and fixed.removed_temps == 1 and fixed.labels_rewritten
    assert [p.message for p in fixed.left] == [
        "images/notes.txt: not an image of this dataset's plan (left alone; remove it by hand)"
    ]
    assert stranger.exists() and not temp.exists()
    again = verify_dataset(root)
    assert [p.message for p in again.problems] == [p.message for p in fixed.left]


def test_labels_written_before_the_last_image_are_stale(tmp_path):
    spec = tiny_spec()
    root = tmp_path / "ds"
    init_dataset(spec, root)
    planned = list(plan_images(spec))
    for r in planned[:3]:
        fake_render(root, spec, r)
    finalize_dataset(root)
    fake_render(root, spec, planned[3])  # rendered after the last finalize
    report = verify_dataset(root)
    assert report.labels_stale and report.sound == 4 and not report.damaged
    fix_dataset(report)
    assert verify_dataset(root).ok


def test_finalize_keeps_damaged_images_out_of_labels(dataset):
    spec, root, rows = dataset
    _truncate(root / rows[0]["image"])
    assert finalize_dataset(root) == 3
    states = [json.loads(line)["state"] for line in (root / "labels.jsonl").read_text().splitlines()]
    assert states.count("done") == 3


def test_verify_refuses_a_folder_that_is_not_a_dataset(tmp_path, capsys):
    with pytest.raises(DatasetError, match="manifest.json"):
        verify_dataset(tmp_path)
    assert main(["verify", str(tmp_path)]) == 2
    assert "manifest.json" in capsys.readouterr().err


def test_preview_skips_and_lists_damaged_images(dataset, tmp_path, caplog):
    spec, root, rows = dataset
    _truncate(root / rows[0]["image"])
    (root / rows[3]["image"]).unlink()
    with caplog.at_level(logging.WARNING, logger="synthreid.render.preview"):
        out = contact_sheet(root, tmp_path / "sheet.png", one_per_person=False)
    assert Image.open(out).size[0] > 0
    text = caplog.text
    assert "skipped 2 damaged or missing image(s)" in text
    assert rows[0]["image"] in text and f"images/{rows[3]['stem']}.*: missing" in text
    for r in rows[1:3]:
        assert r["image"] not in text
    for r in rows[1:3]:
        _truncate(root / r["image"])
    with pytest.raises(DatasetError, match="no rendered images yet that are intact"):
        contact_sheet(root, tmp_path / "sheet2.png")


def test_refined_datasets_are_previewed_without_checksums_and_not_verified(dataset, tmp_path, caplog):
    spec, root, rows = dataset
    manifest = json.loads((root / "manifest.json").read_text())
    (root / "manifest.json").write_text(json.dumps({**manifest, "kind": "refined"}))
    for r in rows:  # new pixels under the source's meta rows, as `refine apply` writes them
        Image.new("RGB", SIZE, (1, 2, 3)).save(
            root / r["image"], "JPEG" if spec.output.format == "jpg" else "PNG"
        )
    with caplog.at_level(logging.WARNING, logger="synthreid.render.preview"):
        contact_sheet(root, tmp_path / "sheet.png")
    assert "skipped" not in caplog.text
    with pytest.raises(DatasetError, match="kind is 'refined'"):
        verify_dataset(root)


def test_render_resumes_from_the_manifest_when_only_out_is_given(dataset):
    spec, root, rows = dataset
    args = build_parser().parse_args(["render", "--out", str(root)])
    assert load_spec(args) == spec
    args = build_parser().parse_args(["render", "--out", str(root / "nothing-here")])
    with pytest.raises(SpecError, match="give exactly one of SPEC"):
        load_spec(args)


def test_every_preset_has_a_description(capsys):
    assert main(["spec", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == preset_names()
    for name in preset_names():
        assert preset_description(name) != "(no description)" and preset_description(name) in "\n".join(lines)


def test_every_render_option_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in ("render", "plan", "rerender", "preview", "verify", "spec"):
        for action in sub.choices[name]._actions:
            assert action.help, f"synthreid {name}: {action.option_strings or action.dest} has no help"
