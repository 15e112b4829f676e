"""Planning speed of this checkout against another one (e.g. main before a change), as
ratios measured in one run.

1. planning alone: characters/s of ``tasks._plan_range`` (the typed plans and their JSON
   rows, what enqueue inserts; 10 images per character) of presets I, IV-realistic and real;
2. planning + insert: characters/s of ``enqueue_dataset`` of preset I (x 10 images) into a
   fresh SQLite catalog and a fresh Postgres database, with ``--processes`` planning processes,
   and the CPU each process spends per character (planning processes, the enqueue process and,
   for a Postgres server on this machine, its backend): how many cores the 5,000 characters/s
   goal would take, and the rate one enqueue process or one server backend allows at most;
3. storing alone: characters/s of batches planned beforehand, stored into Postgres by
   ``--writers`` connections (``ordered_writes``) vs one, both in this checkout.

Every measurement runs in a fresh process per checkout, alternating (A B, A B, ...) so that a
busy machine slows both alike. Printed: the median over rounds and the ratio this / other.

Usage: .venv/bin/python perf/planning.py --other /path/to/old/checkout [--rounds 3]
         [--characters 1000] [--insert-characters 20000] [--processes 2]
         [--pg postgresql://postgres@127.0.0.1:5432/postgres] ('' skips Postgres) [--writers 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PLAN_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from synthreid.render.spec import DatasetSpec
from synthreid.workers.tasks import _plan_range
preset, n = sys.argv[2], int(sys.argv[3])
spec = DatasetSpec.preset(preset).replace(characters=n, images_per_character=10)
_plan_range(spec, 0, 2)  # imports, asset caches
t0 = time.perf_counter()
_plan_range(spec, 0, n)
print(json.dumps({"rate": n / (time.perf_counter() - t0)}))
"""

ENQUEUE_CHILD = r"""
import json, os, re, resource, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from synthreid.render.spec import DatasetSpec
from synthreid.workers.catalog import open_catalog
from synthreid.workers.config import FarmConfig
from synthreid.workers.tasks import enqueue_dataset
_, _, data, url, n, processes, writers = sys.argv
import inspect
extra = {"writers": int(writers)} if "writers" in inspect.signature(enqueue_dataset).parameters else {}
cat = open_catalog(FarmConfig(data_dir=Path(data), database_url=url or None))
spec = DatasetSpec.preset("I").replace(name="plan", characters=int(n), images_per_character=10)

def cpu(who):
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime

def stat(pid):
    return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()

def server_cpu():
    # Every process of a Postgres server on this machine: the postmaster's live children
    # (backends, writer connections still open, WAL writer, checkpointer) plus the ones that
    # exited (reaped by the postmaster: their time is in its cutime/cstime).
    pid = cat.backend_pid() if hasattr(cat, "backend_pid") else None
    try:
        master_pid = int(stat(pid)[1])
        master = stat(master_pid)
    except (OSError, TypeError, ValueError):
        return None
    ticks = int(master[11]) + int(master[12]) + int(master[13]) + int(master[14])
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                st = stat(entry)
            except OSError:
                continue
            if int(st[1]) == master_pid:
                ticks += int(st[11]) + int(st[12])
    return ticks / os.sysconf("SC_CLK_TCK")

s0, c0, k0 = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN), server_cpu()
t0 = time.perf_counter()
enqueue_dataset(cat, spec, progress=False, processes=int(processes), **extra)
seconds = time.perf_counter() - t0
s1, c1, k1 = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN), server_cpu()
rows = cat.run(lambda cur: cat.q(cur, "SELECT COUNT(*) FROM images").fetchone()[0])
# VmHWM: this process's own peak (ru_maxrss would count the process that forked it)
print(json.dumps({"rate": int(n) / seconds, "rows": rows,
                  "rss_mb": int(re.search(r"VmHWM:\s+(\d+)", open("/proc/self/status").read())[1]) / 1024,
                  "children_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                  "us_enqueue": 1e6 * (s1 - s0) / int(n), "us_planning": 1e6 * (c1 - c0) / int(n),
                  "writers": extra.get("writers", 1) if url else 1,
                  "us_server": None if k0 is None or k1 is None else 1e6 * (k1 - k0) / int(n)}))
"""


STORE_CHILD = r"""
import json, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from synthreid.render.spec import DatasetSpec
from synthreid.workers.catalog import open_catalog
from synthreid.workers.config import FarmConfig
from synthreid.workers.ordered_writes import write_in_order
from synthreid.workers.tasks import RENDER_QUEUE, _plan_range
_, _, url, n, writers = sys.argv
n, writers, per = int(n), int(writers), 1000
spec = DatasetSpec.preset("I").replace(name="store", characters=n, images_per_character=10)
batches = [_plan_range(spec, a, min(a + per, n)) for a in range(0, n, per)]
cat = open_catalog(FarmConfig(data_dir=Path(tempfile.mkdtemp()), database_url=url))
dsid = cat.run(lambda cur: cat._insert_dataset(cur, "store", spec.to_dict(), n, 10))
store = lambda c, b, before: c.add_planned_batch(dsid, "store", b, RENDER_QUEUE, 3, n, before)
t0 = time.perf_counter()
if writers == 1:
    for b in batches:
        cat.add_planned_batch(dsid, "store", b, RENDER_QUEUE, 3, n)
else:
    write_in_order(cat, batches, store, writers=writers, start=0)
print(json.dumps({"rate": n / (time.perf_counter() - t0)}))
"""


@contextlib.contextmanager
def scratch_database(pg_admin: str) -> Iterator[str]:
    """The URL of a fresh Postgres database, dropped afterwards."""
    import psycopg2

    name = f"synthreid_perf_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(pg_admin)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_admin.rsplit("/", 1)[0] + "/" + name
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


def store_once(pg_admin: str, n: int, writers: int) -> float:
    with scratch_database(pg_admin) as url:
        return child(REPO, STORE_CHILD, url, str(n), str(writers))["rate"]


def child(checkout: Path, script: str, *args: str) -> dict:
    res = subprocess.run(
        [sys.executable, "-c", script, str(checkout), *args], capture_output=True, text=True, check=False
    )
    if res.returncode != 0:
        raise RuntimeError(f"{checkout}: child failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def enqueue_once(
    checkout: Path, tmp: Path, pg_admin: str, db: str, n: int, processes: int, writers: int = 1
) -> dict:
    data = tmp / f"enq-{uuid.uuid4().hex[:8]}"
    if db == "SQLite":
        out = child(checkout, ENQUEUE_CHILD, str(data), "", str(n), str(processes), str(writers))
    else:
        with scratch_database(pg_admin) as url:
            out = child(checkout, ENQUEUE_CHILD, str(data), url, str(n), str(processes), str(writers))
    if out["rows"] != n * 10:
        raise RuntimeError(f"{checkout} {db}: {out['rows']} image rows, expected {n * 10}")
    return out


def report(label: str, rates: dict[str, list[float]], names: tuple[str, str] = ("this", "other")) -> None:
    this, other = statistics.median(rates["this"]), statistics.median(rates["other"])
    print(
        f"[{label}] {names[0]} {this:,.0f} characters/s, {names[1]} {other:,.0f} characters/s "
        f"-> {this / other:.2f}x (medians of {len(rates['this'])})",
        flush=True,
    )


GOAL = 5_000  # characters/s planned + inserted (issue 15)


def cpu_report(label: str, key: str, runs: list[dict]) -> None:
    """CPU per character by process (medians): what the rate would be with more cores. The
    planning processes' share includes their start-up (imports, ~1 s each)."""
    if "us_planning" not in runs[0]:
        return  # a checkout from before this report
    med = {k: statistics.median(r[k] for r in runs) for k in ("us_planning", "us_enqueue")}
    server = [r["us_server"] for r in runs if r["us_server"] is not None]
    total = med["us_planning"] + med["us_enqueue"] + (statistics.median(server) if server else 0.0)
    line = (
        f"[{label}] {key}: CPU per character {med['us_planning']:.0f} us planning processes, "
        f"{med['us_enqueue']:.0f} us enqueue process"
    )
    if server:
        line += f", {statistics.median(server):.0f} us database server"
    line += (
        f"; {GOAL:,} characters/s would take {GOAL * total / 1e6:.1f} cores; the enqueue process "
        f"caps it at {1e6 / med['us_enqueue']:,.0f} characters/s"
    )
    if server and runs[0].get("writers", 1) == 1:
        line += f", its one database backend at {1e6 / statistics.median(server):,.0f}"
    print(line, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--other", type=Path, required=True, help="the checkout to compare against")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--characters", type=int, default=1000, help="characters of planning alone")
    ap.add_argument("--presets", default="I,IV-realistic,real")
    ap.add_argument("--insert-characters", type=int, default=20_000, help="0 skips planning + insert")
    ap.add_argument("--processes", type=int, default=2, help="planning processes of enqueue")
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--writers", type=int, default=2, help="Postgres writer connections (where supported)")
    args = ap.parse_args()
    checkouts = {"this": REPO, "other": args.other.resolve()}
    print(f"this = {checkouts['this']}, other = {checkouts['other']}", flush=True)
    for preset in args.presets.split(","):
        rates: dict[str, list[float]] = {"this": [], "other": []}
        for _ in range(args.rounds):
            for key, path in checkouts.items():
                rates[key].append(child(path, PLAN_CHILD, preset, str(args.characters))["rate"])
        report(f"planning alone, preset {preset}, {args.characters:,} x 10 images", rates)
    if args.pg and args.writers > 1:
        rates: dict[str, list[float]] = {"this": [], "other": []}
        for _ in range(args.rounds):
            rates["this"].append(store_once(args.pg, 12_000, args.writers))
            rates["other"].append(store_once(args.pg, 12_000, 1))
        report(
            "storing 12,000 planned characters x 10 images into Postgres (this checkout)",
            rates,
            (f"{args.writers} writers", "1 writer"),
        )
    if args.insert_characters:
        dbs = ["SQLite"] + (["Postgres"] if args.pg else [])
        with tempfile.TemporaryDirectory() as d:
            for db in dbs:
                runs: dict[str, list[dict]] = {"this": [], "other": []}
                for _ in range(args.rounds):
                    for key, path in checkouts.items():
                        runs[key].append(
                            enqueue_once(
                                path,
                                Path(d),
                                args.pg,
                                db,
                                args.insert_characters,
                                args.processes,
                                args.writers,
                            )
                        )
                label = (
                    f"planning + insert, {db}, preset I, {args.insert_characters:,} x 10 images, "
                    f"{args.processes} planning processes"
                )
                report(label, {k: [r["rate"] for r in v] for k, v in runs.items()})
                for key, rs in runs.items():
                    print(
                        f"[{label}] {key}: peak RSS {max(r['rss_mb'] for r in rs):.0f} MB enqueue process, "
                        f"{max(r['children_rss_mb'] for r in rs):.0f} MB largest planning process",
                        flush=True,
                    )
                    cpu_report(label, key, rs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
