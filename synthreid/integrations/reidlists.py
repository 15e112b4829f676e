"""A dataset folder as the three (path, pid, camid) lists that re-ID libraries consume.

torchreid and fast-reid both describe a dataset by ``train``, ``query`` and ``gallery`` lists of
``(image path, person id, camera id)``. :func:`load_lists` builds them from any folder that
:func:`synthreid.benchmark.datasets.read_dataset` reads:

- train: our train + val identities (a library carves its own validation if it wants one); for
  real datasets the whole training folder. Person ids are relabelled 0..N-1 in sorted order of
  the original ids, as both libraries expect for the classifier.
- query / gallery: our test split's query/gallery (every query has a gallery image of its
  identity on another camera), original person ids (distractors keep their id, e.g. Market's 0).
- cameras: every camera id seen anywhere is mapped to 0..C-1 in sorted order (the same mapping
  in the three lists), so any number of cameras works.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from synthreid.benchmark.datasets import detect_format, read_dataset
from synthreid.errors import DatasetError

Item = tuple[str, int, int]


@dataclass(frozen=True)
class ReidLists:
    """``train``/``query``/``gallery`` item lists of one dataset folder (see module doc)."""

    name: str
    root: Path
    format: str
    train: tuple[Item, ...]
    query: tuple[Item, ...]
    gallery: tuple[Item, ...]
    cameras: tuple[int, ...]  # original camera ids; index = camera id in the lists
    train_pids: tuple[int, ...]  # original ids of the train identities; index = relabelled id
    distractor_pid: int | None = None

    @property
    def num_train_pids(self) -> int:
        return len(self.train_pids)

    @property
    def num_cameras(self) -> int:
        return len(self.cameras)

    def summary(self) -> str:
        def ids(items):
            return len({pid for _, pid, _ in items})

        return (
            f"{self.name} ({self.format}): train {len(self.train)} images / {ids(self.train)} ids, "
            f"query {len(self.query)} / {ids(self.query)}, gallery {len(self.gallery)} / "
            f"{ids(self.gallery)}, {self.num_cameras} cameras"
        )


def resolve_root(root: str | Path, subdir: str) -> Path:
    """The dataset folder a library's ``root`` argument names: ``root`` itself when it holds a
    dataset we read, else ``root/subdir`` (the libraries' ``root/<dataset>`` convention)."""
    root = Path(root).expanduser()
    for cand in (root, root / subdir):
        try:
            detect_format(cand)
            return cand
        except DatasetError:
            continue
    raise DatasetError(
        f"{root}: neither it nor {root / subdir} holds a dataset synthreid reads "
        "(manifest.json, bounding_box_train/, labeled|detected/, or meta.json+splits.json)"
    )


def load_lists(
    root: str | Path,
    format: str | None = None,
    split_id: int = 0,
    skip_bad: bool = False,
    verify: bool = False,
) -> ReidLists:
    """Read ``root`` (format detected unless given) into :class:`ReidLists`.

    ``split_id`` picks the split of an Open-ReID dataset; ``skip_bad`` skips unreadable or
    mis-named files (counted), ``verify`` decodes every image first. DatasetError if a list
    would be empty (the libraries cannot use such a dataset).
    """
    root = Path(root)
    ds = read_dataset(root, format=format, num_val=0, split_id=split_id, skip_bad=skip_bad, verify=verify)
    train_recs = ds.train + ds.val
    cameras = sorted({r.camid for r in train_recs + ds.query + ds.gallery})
    cam_index = {c: i for i, c in enumerate(cameras)}
    train_pids = sorted({r.pid for r in train_recs})
    pid_index = {p: i for i, p in enumerate(train_pids)}
    seen, train = set(), []
    for r in train_recs:  # our splits may share identities between train and val: list each image once
        if r.path not in seen:
            seen.add(r.path)
            train.append((r.path, pid_index[r.pid], cam_index[r.camid]))
    query = tuple((r.path, r.pid, cam_index[r.camid]) for r in ds.query)
    gallery = tuple((r.path, r.pid, cam_index[r.camid]) for r in ds.gallery)
    for label, items in (("train", train), ("query", query), ("gallery", gallery)):
        if not items:
            raise DatasetError(
                f"{root}: the {label} list is empty ({ds.format} dataset); re-ID libraries "
                "need train, query and gallery images"
            )
    return ReidLists(
        ds.name,
        root,
        ds.format,
        tuple(train),
        query,
        gallery,
        tuple(cameras),
        tuple(train_pids),
        ds.distractor_pid,
    )
