"""The real torchreid and fast-reid load our datasets and exports (2,000 identities, 8 cameras).

torchreid comes with the ``interop`` extra (part of ``.[all]``), so its tests always run.
fast-reid cannot be an extra: its PyPI package pins torch 1.13.1, and its ``fastreid.data``
does not import on Python >= 3.10 (``from collections import Mapping``); its test runs when a
fastreid is installed (``pip install --no-deps fastreid yacs tabulate termcolor``), with those
two imports made to work in a subprocess, and says why when it is skipped.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthreid.benchmark.export import export
from synthreid.dataset import image_stem, write_manifest
from synthreid.integrations.reidlists import load_lists

pytestmark = pytest.mark.interop

N_IDS, N_CAMS, PER_ID = 2000, 8, 3
TRAIN, VAL, TEST = range(0, 1200), range(1200, 1400), range(1400, 2000)


def cams_of(pid: int) -> list[int]:
    """Cameras of the 3 images of ``pid`` (1-based): two cameras per identity, all 8 in use;
    every 50th test identity is seen by one camera only (a gallery distractor)."""
    a = 1 + pid % N_CAMS
    b = 1 + (pid + 1 + pid // N_CAMS) % N_CAMS
    if b == a:
        b = 1 + a % N_CAMS
    if pid in TEST and pid % 50 == 0:
        return [a, a, a]
    return [a, b, b]


@pytest.fixture(scope="module")
def big_dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("interop") / "big"
    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for pid in range(N_IDS):
        for idx, cam in enumerate(cams_of(pid)):
            pixels = rng.integers(0, 256, (8, 4, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / "images" / f"{image_stem(pid, cam, idx)}.png")
    write_manifest(
        root,
        {
            "name": "big",
            "seed": 0,
            "counts": {"characters": N_IDS, "images": N_IDS * PER_ID},
            "splits": {"train": list(TRAIN), "val": list(VAL), "test": list(TEST)},
        },
    )
    return root


def expected_counts() -> dict:
    one_cam = [p for p in TEST if len(set(cams_of(p))) == 1]
    n_test_two = len(TEST) - len(one_cam)
    return {
        "train_ids": len(TRAIN) + len(VAL),
        "train_images": (len(TRAIN) + len(VAL)) * PER_ID,
        "cams": N_CAMS,
        "query_images": n_test_two,  # [a, b, b]: one query (camera a) per identity
        "gallery_images": 2 * n_test_two + PER_ID * len(one_cam),
        "query_ids": n_test_two,
        "gallery_ids": len(TEST),
    }


@pytest.fixture(scope="module")
def market_export(big_dataset) -> Path:
    return export(big_dataset, big_dataset.parent / "market", "market1501")


@pytest.fixture(scope="module")
def openreid_export(big_dataset) -> Path:
    return export(big_dataset, big_dataset.parent / "openreid", "openreid")


def test_fixture_uses_every_camera(big_dataset):
    lists = load_lists(big_dataset)
    assert lists.num_cameras == N_CAMS and lists.num_train_pids == 1400
    assert {c for _, _, c in lists.train} == set(range(N_CAMS))


# --- torchreid --------------------------------------------------------------------------------


def _torchreid_counts(name: str, root: str = "") -> dict:
    from synthreid.integrations import torchreid as sr_torchreid

    data = sr_torchreid.data_module()
    dm = data.ImageDataManager(
        root=root,
        sources=name,
        height=16,
        width=8,
        use_gpu=False,
        workers=0,
        batch_size_train=8,
        batch_size_test=8,
    )
    query, gallery = dm.test_dataset[name]["query"], dm.test_dataset[name]["gallery"]
    return {
        "train_ids": dm.num_train_pids,
        "train_images": len(dm.train_loader.dataset),
        "cams": dm.num_train_cams,
        "query_images": len(query),
        "gallery_images": len(gallery),
        "query_ids": len({q[1] for q in query}),
        "gallery_ids": len({g[1] for g in gallery}),
        "query": query,
        "gallery": gallery,
    }


@pytest.mark.parametrize("which", ["dataset", "market1501", "openreid"])
def test_torchreid_loads_2000_ids_8_cameras(which, big_dataset, market_export, openreid_export):
    pytest.importorskip("torchreid", reason="the interop extra installs torchreid")
    from synthreid.integrations import torchreid as sr_torchreid

    folder = {"dataset": big_dataset, "market1501": market_export, "openreid": openreid_export}[which]
    name = sr_torchreid.register(folder)
    assert name == f"synthreid:{folder}"
    assert sr_torchreid.register(folder) == name  # a repeated call is a no-op
    got = _torchreid_counts(name)
    want = expected_counts()
    assert {k: got[k] for k in want} == want
    for q_path, q_pid, q_cam, *_ in got["query"]:  # torchreid's evaluation needs a cross-camera match
        assert any(g[1] == q_pid and g[2] != q_cam for g in got["gallery"]), q_path
    if which == "market1501":
        assert all(p.endswith(".jpg") for p, *_ in got["query"])


def test_torchreid_root_convention_and_batch(big_dataset):
    pytest.importorskip("torchreid", reason="the interop extra installs torchreid")
    from synthreid.integrations import torchreid as sr_torchreid

    data = sr_torchreid.data_module()
    assert sr_torchreid.register(name="synthreid") == "synthreid"
    # torchreid's root/<name> convention: the dataset is the folder root/synthreid
    link = big_dataset.parent / "roots" / "synthreid"
    link.parent.mkdir(exist_ok=True)
    if not link.exists():
        link.symlink_to(big_dataset, target_is_directory=True)
    dm = data.ImageDataManager(
        root=str(link.parent),
        sources="synthreid",
        height=16,
        width=8,
        use_gpu=False,
        workers=0,
        batch_size_train=8,
        batch_size_test=8,
    )
    assert dm.num_train_pids == 1400 and dm.num_train_cams == N_CAMS
    batch = next(iter(dm.train_loader))
    imgs, pids = batch["img"], batch["pid"]
    assert tuple(imgs.shape) == (8, 3, 16, 8) and int(pids.max()) < 1400 and int(pids.min()) >= 0
    with pytest.raises(Exception, match="already registered"):
        sr_torchreid.register(big_dataset, name="synthreid")


def test_torchreid_trains_and_evaluates_one_epoch(tmp_path):
    """The documented example, end to end on CPU: torchreid's engine trains on our train split
    and evaluates on our query/gallery (it raises if no query has a valid gallery match)."""
    pytest.importorskip("torchreid", reason="the interop extra installs torchreid")
    from synthreid.integrations import torchreid as sr_torchreid

    cams = {pid: [1 + pid % 3, 1 + (pid + 1) % 3] * 2 for pid in range(48)}
    root = tmp_path / "small"
    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(1)
    for pid, cs in cams.items():
        for idx, cam in enumerate(cs):
            Image.fromarray(rng.integers(0, 256, (32, 16, 3), dtype=np.uint8)).save(
                root / "images" / f"{image_stem(pid, cam, idx)}.png"
            )
    write_manifest(
        root,
        {
            "name": "small",
            "seed": 1,
            "counts": {"characters": 48, "images": 192},
            "splits": {"train": list(range(20)), "val": [20, 21, 22, 23], "test": list(range(24, 48))},
        },
    )
    tr = sr_torchreid.api()
    name = sr_torchreid.register(export(root, tmp_path / "m", "market1501"))
    dm = tr.data.ImageDataManager(
        root="",
        sources=name,
        height=32,
        width=16,
        batch_size_train=8,
        batch_size_test=16,
        use_gpu=False,
        workers=0,
    )
    model = tr.models.build_model(
        "osnet_x0_25", num_classes=dm.num_train_pids, loss="softmax", pretrained=False
    )
    optimizer = tr.optim.build_optimizer(model, optim="adam", lr=3e-4)
    scheduler = tr.optim.build_lr_scheduler(optimizer, lr_scheduler="single_step", stepsize=20)
    engine = tr.engine.ImageSoftmaxEngine(dm, model, optimizer=optimizer, scheduler=scheduler, use_gpu=False)
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny batches: extra threads only contend with the rest of the suite
    try:
        engine.run(save_dir=str(tmp_path / "log"), max_epoch=1, eval_freq=1, print_freq=100)
    finally:
        torch.set_num_threads(threads)
    assert (
        dm.num_train_pids == 24 and len(dm.test_dataset[name]["query"]) == 48
    )  # torchreid needs >= 20 gallery images
    assert list((tmp_path / "log" / "model").glob("model.pth.tar-1"))


# --- fast-reid --------------------------------------------------------------------------------

_FASTREID_SCRIPT = textwrap.dedent("""
    import collections, collections.abc, json, sys, types
    # fast-reid (PyPI 1.4.0 and GitHub master) imports collections.Mapping, gone since Python 3.10,
    # and the PyPI package imports torch._six, gone since torch 2.0: give it both, here only
    if not hasattr(collections, "Mapping"):
        collections.Mapping = collections.abc.Mapping
    import torch
    if "torch._six" not in sys.modules:
        try:
            import torch._six  # noqa: F401
        except ImportError:
            six = types.ModuleType("torch._six")
            six.string_classes = (str,)
            sys.modules["torch._six"] = six
    from fastreid.data.common import CommDataset
    from fastreid.data.datasets import DATASET_REGISTRY
    from synthreid.integrations import fastreid as sr_fastreid

    out = {}
    for folder in sys.argv[1:]:
        name = sr_fastreid.register(folder)
        ds = DATASET_REGISTRY.get(name)(root="unused")
        train = CommDataset(ds.train, None, relabel=True)
        ds.show_train(); ds.show_test()
        out[folder] = {"name": name, "train_ids": train.num_classes, "train_images": len(train),
                       "cams": train.num_cameras, "query_images": len(ds.query),
                       "gallery_images": len(ds.gallery), "query_ids": len({q[1] for q in ds.query}),
                       "gallery_ids": len({g[1] for g in ds.gallery}),
                       "cross_camera": all(any(g[1] == q[1] and g[2] != q[2] for g in ds.gallery)
                                           for q in ds.query[:50])}
    print("RESULT " + json.dumps(out))
""")


def test_fastreid_loads_2000_ids_8_cameras(big_dataset, market_export, openreid_export):
    try:
        import importlib.util

        found = importlib.util.find_spec("fastreid") is not None
    except ImportError:
        found = False
    if not found:
        pytest.skip(
            "fastreid is not installed (not in the interop extra: it pins torch==1.13.1); "
            "pip install --no-deps fastreid yacs tabulate termcolor to run this test"
        )
    folders = [str(big_dataset), str(market_export), str(openreid_export)]
    proc = subprocess.run(
        [sys.executable, "-c", _FASTREID_SCRIPT, *folders], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    results = json.loads(line[len("RESULT ") :])
    want = expected_counts()
    for folder in folders:
        got = results[folder]
        assert got["name"] == f"synthreid:{folder}"
        assert {k: got[k] for k in want} == want, folder
        assert got["cross_camera"]
