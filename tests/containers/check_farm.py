"""Run inside a farm container (`podman exec -i C python - DATASET N < check_farm.py`): every
image of DATASET is done exactly once in the catalog and on the data volume. Prints one line
and exits 0, or prints each shortfall and exits 1. Uses only the container's own settings."""

import json
import sys
from pathlib import Path

from synthreid.fsutil import sha256_file
from synthreid.workers.catalog import open_catalog
from synthreid.workers.config import FarmConfig

name, expected = sys.argv[1], int(sys.argv[2])
config = FarmConfig.from_env()
cat = open_catalog(config, auto_upgrade=False)
ds = cat.get_dataset(name)
rows = cat.dataset_images(ds["id"]) if ds else []
cat.close()
root = config.dataset_root(name)
bad = []
if ds is None:
    bad.append(f"dataset {name} not in the catalog")
elif ds["finalized_at"] is None:
    bad.append("dataset not finalized")
if len(rows) != expected or len({r["stem"] for r in rows}) != expected:
    bad.append(f"{len(rows)} image rows ({len({r['stem'] for r in rows})} stems), expected {expected}")
for r in rows:
    if r["state"] != "done":
        bad.append(f"{r['stem']}: state {r['state']}")
    elif not (root / r["path"]).is_file() or sha256_file(root / r["path"]) != r["checksum"]:
        bad.append(f"{r['stem']}: image missing or checksum differs from the catalog")
    elif not (root / r["mask_path"]).is_file():
        bad.append(f"{r['stem']}: mask missing")
stems = sorted(r["stem"] for r in rows)
for folder in ("images", "masks", "meta"):
    found = sorted(p.stem for p in (root / folder).glob("*") if not p.name.startswith("."))
    if found != stems:
        bad.append(f"{folder}/ holds {len(found)} files, expected one per image ({len(stems)})")
temps = [str(p.relative_to(root)) for p in Path(root).rglob("*.tmp")]
if temps:
    bad.append(f"temp files left: {temps[:5]}")
labels = root / "labels.jsonl"
lines = labels.read_text().splitlines() if labels.is_file() else []
if sorted(json.loads(x)["stem"] for x in lines) != stems:
    bad.append(f"labels.jsonl has {len(lines)} rows, expected one per image ({len(stems)})")
workers = sorted({r["worker"] for r in rows if r["worker"]})
if bad:
    print("\n".join(bad))
    sys.exit(1)
print(f"{len(rows)} images done once, checksums match, no temp files, rendered by {len(workers)} workers")
