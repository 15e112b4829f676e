"""Farm speed, as ratios against baselines measured in the same run.

1. per-task overhead of the farm (claim, lease, temp cleanup, file checks, commit) vs the
   render time of the same characters (real Blender renders when bpy works, else skipped);
2. throughput of 2 workers vs 1 on this machine (real renders, embedded SQLite catalog);
3. enqueue of preset IV at full size (1,500 x 10) vs planning alone (no database);
4. `status` latency on a catalog with 1,000,000 image rows vs one naive COUNT over images;
5. planning + insert of ``--plan-characters`` characters x 10 images (default 100,000): rate in
   characters/s and peak RSS of the streaming enqueue (batches, COPY, a planning pool) vs the
   previous path (the whole plan in memory, one transaction), each in its own process, on
   SQLite and on Postgres.

Usage: python perf/farm.py [--pg postgresql://postgres@127.0.0.1/postgres] [--skip-render]
                           [--plan-characters N] [--plan-processes P]
Writes perf/farm.png (bar chart of the measured times) next to the printed table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from synthreid.render.spec import DatasetSpec  # noqa: E402
from synthreid.workers.catalog import open_catalog  # noqa: E402
from synthreid.workers.config import FarmConfig  # noqa: E402
from synthreid.workers.tasks import RenderBackend, enqueue_dataset, run_render_task  # noqa: E402

# The presets' image settings (64x128 crops, 16 spp + denoise), one Cycles thread per worker.
TINY = {
    "name": "perf",
    "seed": 3,
    "characters": 4,
    "images_per_character": 3,
    "output": {"size": [64, 128]},
    "render": {"samples": 16, "denoise": True, "max_bounces": 4, "threads": 1},
    "splits": {"test": 1, "val": 1},
}


class TimedBackend(RenderBackend):
    """Real backend that adds up the time spent inside RenderSession.render (the render itself)."""

    render_seconds = 0.0

    def session(self, spec):
        s = super().session(spec)
        if not getattr(s, "_timed", False):
            inner = s.render

            def timed(plan):
                t0 = time.perf_counter()
                try:
                    return inner(plan)
                finally:
                    TimedBackend.render_seconds += time.perf_counter() - t0

            s.render, s._timed = timed, True
        return s


def task_overhead(tmp: Path) -> dict:
    cfg = FarmConfig(data_dir=tmp / "overhead", lease_seconds=60)
    cat = open_catalog(cfg)
    spec = DatasetSpec.from_dict(TINY)
    enqueue_dataset(cat, spec, progress=False)
    backend = TimedBackend()
    backend.session(spec).render(backend.plan_image(spec, 0, 0, backend.plan_character(spec, 0)))  # bpy, room
    TimedBackend.render_seconds = 0.0
    t0 = time.perf_counter()
    while (task := cat.claim("perf", 60)) is not None:
        run_render_task(cat, task, worker="perf", data_root=cfg.dataset_root, backend=backend)
    wall = time.perf_counter() - t0
    cat.close()
    return {
        "wall": wall,
        "render": TimedBackend.render_seconds,
        "overhead": wall - TimedBackend.render_seconds,
    }


def throughput(tmp: Path, workers: int, characters: int = 8, images: int = 4) -> float:
    data = tmp / f"tp{workers}"
    env = {**os.environ, "SYNTHREID_DATA_DIR": str(data)}
    for k in ("SYNTHREID_DATABASE_URL", "SYNTHREID_REDIS_URL"):
        env.pop(k, None)
    spec = tmp / f"tp{workers}.toml"
    spec.write_text(
        f'name = "tp"\nseed = 5\ncharacters = {characters}\nimages_per_character = {images}\n'
        "[output]\nsize = [64, 128]\n"
        "[render]\nsamples = 16\ndenoise = true\nmax_bounces = 4\nthreads = 1\n"
        "[splits]\ntest = 1\nval = 1\n"
    )
    cli = [sys.executable, "-m", "synthreid.cli"]
    subprocess.run([*cli, "enqueue", str(spec), "-q"], env=env, check=True, capture_output=True)
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(
            [*cli, "worker", "--burst"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(workers)
    ]
    for p in procs:
        p.wait()
    return characters * images / (time.perf_counter() - t0)


def enqueue_iv(cfg: FarmConfig) -> dict:
    spec = DatasetSpec.preset("IV")
    backend = RenderBackend()
    t0 = time.perf_counter()
    for ci in range(spec.characters):
        char = backend.plan_character(spec, ci)
        for ii in range(spec.images_per_character):
            backend.plan_image(spec, ci, ii, char)
    plan = time.perf_counter() - t0
    cat = open_catalog(cfg)
    res = enqueue_dataset(cat, spec, name=f"iv-{uuid.uuid4().hex[:6]}", progress=False)
    cat.close()
    return {"plan": plan, "enqueue": res.seconds, "images": res.images}


def status_latency(pg_admin: str) -> dict:
    import psycopg2

    from synthreid.workers.status import farm_status

    name = f"synthreid_perf_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(pg_admin)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    url = pg_admin.rsplit("/", 1)[0] + "/" + name
    try:
        cat = open_catalog(FarmConfig(database_url=url))

        def fill(cur):
            # 100,000 characters x 10 images in one dataset, 60 % of them done.
            cur.execute(
                "INSERT INTO datasets (name, spec, characters, images_per_character, created_at) "
                "VALUES ('big', '{}', 100000, 10, extract(epoch from now()) - 3600)"
            )
            cur.execute(
                "INSERT INTO characters (dataset_id, idx, seed, attributes) "
                "SELECT 1, g, 0, '{}' FROM generate_series(0, 99999) g"
            )
            cur.execute(
                "INSERT INTO images (dataset_id, character_id, idx, camid, stem, params, state) "
                "SELECT 1, c.id, i, 1, c.idx || '_' || i, '{}', CASE WHEN c.idx < 60000 THEN 'done' "
                "ELSE 'pending' END FROM characters c CROSS JOIN generate_series(0, 9) i"
            )
            cur.execute(
                "INSERT INTO tasks (kind, payload, dataset_id, character_id, n_images, state, created_at, "
                "finished_at) SELECT 'render_character', '{}', 1, id, 10, CASE WHEN idx < 60000 THEN 'done' "
                "ELSE 'pending' END, 0, extract(epoch from now()) - (idx % 3600) FROM characters"
            )

        t0 = time.perf_counter()
        cat.run(fill)
        conn = cat.conn
        conn.autocommit = True
        conn.cursor().execute("VACUUM ANALYZE")
        conn.autocommit = False
        fill_s = time.perf_counter() - t0
        farm_status(cat)  # warm caches
        reps = 20
        t0 = time.perf_counter()
        for _ in range(reps):
            st = farm_status(cat, "big")
        status_s = (time.perf_counter() - t0) / reps
        assert st["datasets"][0].done == 600_000
        t0 = time.perf_counter()
        for _ in range(reps):
            cat.run(lambda cur: cat.q(cur, "SELECT state, COUNT(*) FROM images GROUP BY state").fetchall())
        naive_s = (time.perf_counter() - t0) / reps
        cat.close()
        return {"fill": fill_s, "status": status_s, "naive_count": naive_s}
    finally:
        admin.cursor().execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


PLAN_CHILD = r"""
import json, re, resource, sys, time
# Peak RSS of this process's own memory (VmHWM): ru_maxrss would also count the RSS of the
# process that forked us (Linux keeps it across exec), e.g. a 1.6 GB pytest.
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from synthreid.render.spec import DatasetSpec
from synthreid.workers.catalog import open_catalog
from synthreid.workers.config import FarmConfig
from synthreid.workers.tasks import enqueue_dataset
_, _, data, url, path, characters, processes = sys.argv
cfg = FarmConfig(data_dir=Path(data), database_url=url or None)
cat = open_catalog(cfg)
spec = DatasetSpec.preset("I").replace(name="plan", characters=int(characters), images_per_character=10)
t0 = time.perf_counter()
if path == "new":
    enqueue_dataset(cat, spec, progress=False, processes=int(processes))
else:  # the previous enqueue: every row planned into lists, then one transaction
    from synthreid.render.plan import plan_character, plan_image
    chars, images = [], []
    for ci in range(spec.characters):
        char = plan_character(spec, ci)
        chars.append((ci, spec.seed, char.to_json()))
        for ii in range(spec.images_per_character):
            row = plan_image(spec, ci, ii, char)
            images.append((ci, ii, row.camid, row.stem, row.to_json(character=False)))
    tasks = cat.create_rendered_dataset("plan", spec.to_dict(), chars, images, "render", 3)
seconds = time.perf_counter() - t0
n = cat.run(lambda cur: cat.q(cur, "SELECT COUNT(*) FROM images").fetchone()[0])
print(json.dumps({"seconds": seconds, "images": n,
                  "rss_mb": int(re.search(r"VmHWM:\s+(\d+)", open("/proc/self/status").read())[1]) / 1024,
                  "children_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def plan_insert(tmp: Path, url: str, path: str, characters: int, processes: int) -> dict:
    """Enqueue ``characters`` x 10 images in a fresh process; rate and peak RSS (MB)."""
    data = tmp / f"plan-{path}-{uuid.uuid4().hex[:6]}"
    res = subprocess.run(
        [sys.executable, "-c", PLAN_CHILD, str(REPO), str(data), url, path, str(characters), str(processes)],
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["rate"] = characters / out["seconds"]
    if out["images"] != characters * 10:
        raise RuntimeError(f"{path}: {out['images']} image rows, expected {characters * 10}")
    return out


def insert_only(cat, characters: int = 4000) -> dict:
    """Characters/s of inserting pre-planned rows: COPY in committed batches (new) vs
    execute_values in one transaction (the previous path); planning excluded."""
    from synthreid.workers.tasks import _plan_range

    spec = DatasetSpec.preset("I").replace(characters=characters, images_per_character=10)
    batches = [_plan_range(spec, a, min(a + 2000, characters)) for a in range(0, characters, 2000)]
    out = {}
    t0 = time.perf_counter()
    dsid = cat.begin_rendered_dataset("ins-new", spec.to_dict(), characters, 10)
    for b in batches:
        cat.add_planned_batch(dsid, "ins-new", b, "render", 3, characters)
    out["new"] = characters / (time.perf_counter() - t0)

    def old(cur):
        import psycopg2.extras

        def ev(table, cols, rows):
            psycopg2.extras.execute_values(
                cur, f"INSERT INTO {table} ({', '.join(cols)}) VALUES %s", rows, page_size=2000
            )

        cur.execute(
            "INSERT INTO datasets (name, kind, spec, characters, images_per_character, created_at) "
            "VALUES ('ins-old', 'rendered', '{}', %s, 10, 0) RETURNING id",
            (characters,),
        )
        dsid = cur.fetchone()[0]
        ev(
            "characters",
            ("dataset_id", "idx", "seed", "attributes"),
            [(dsid, ci, seed, a) for b in batches for ci, seed, a in b.characters],
        )
        cur.execute("SELECT idx, id FROM characters WHERE dataset_id = %s", (dsid,))
        ids = dict(cur.fetchall())
        ev(
            "images",
            ("dataset_id", "character_id", "idx", "camid", "stem", "params"),
            [(dsid, ids[ci], ii, cam, stem, p) for b in batches for ci, ii, cam, stem, p in b.images],
        )
        ev(
            "tasks",
            (
                "kind",
                "queue",
                "payload",
                "dataset_id",
                "character_id",
                "n_images",
                "max_attempts",
                "created_at",
            ),
            [
                ("render_character", "render", "{}", dsid, ids[ci], 10, 3, 0)
                for b in batches
                for ci, _, _ in b.characters
            ],
        )

    t0 = time.perf_counter()
    cat.run(old)
    out["old"] = characters / (time.perf_counter() - t0)
    return out


def planning(tmp: Path, pg_admin: str, characters: int, processes: int) -> dict:
    import psycopg2

    results = {}
    dbs = [("SQLite", "", None)]
    if pg_admin:
        name = f"synthreid_perf_{uuid.uuid4().hex[:8]}"
        dbs.append(("Postgres", pg_admin.rsplit("/", 1)[0] + "/" + name, name))
    for label, url, dbname in dbs:
        for path in ("new", "old"):
            if dbname:
                admin = psycopg2.connect(pg_admin)
                admin.autocommit = True
                admin.cursor().execute(f'CREATE DATABASE "{dbname}"')
            try:
                results[(label, path)] = r = plan_insert(tmp, url, path, characters, processes)
            finally:
                if dbname:
                    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{dbname}"')
                    admin.close()
            print(
                f"[plan+insert, {label}, {path} path] {characters:,} characters x 10 images: "
                f"{r['rate']:,.0f} characters/s, peak RSS {r['rss_mb']:.0f} MB"
                + (
                    f" (planning processes: {r['children_rss_mb']:.0f} MB each at most)"
                    if path == "new" and processes > 1
                    else ""
                ),
                flush=True,
            )
        new, old = results[(label, "new")], results[(label, "old")]
        print(
            f"[plan+insert, {label}] new vs old: rate {new['rate'] / old['rate']:.2f}x, peak RSS "
            f"{new['rss_mb'] / old['rss_mb']:.2f}x",
            flush=True,
        )
    if pg_admin:
        name = f"synthreid_perf_{uuid.uuid4().hex[:8]}"
        admin = psycopg2.connect(pg_admin)
        admin.autocommit = True
        admin.cursor().execute(f'CREATE DATABASE "{name}"')
        try:
            cat = open_catalog(FarmConfig(database_url=pg_admin.rsplit("/", 1)[0] + "/" + name))
            r = insert_only(cat)
            cat.close()
        finally:
            admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.close()
        print(
            f"[insert only, Postgres] 4,000 pre-planned characters x 10 images: COPY batches {r['new']:,.0f} "
            f"characters/s, execute_values in one transaction {r['old']:,.0f} characters/s -> "
            f"{r['new'] / r['old']:.2f}x",
            flush=True,
        )
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--pg", default="postgresql://postgres@127.0.0.1:5432/postgres", help="admin URL ('' to skip)"
    )
    ap.add_argument("--skip-render", action="store_true", help="skip the parts that need bpy")
    ap.add_argument(
        "--plan-characters",
        type=int,
        default=100_000,
        help="characters (x 10 images) of the planning + insert comparison (0 skips it)",
    )
    ap.add_argument(
        "--plan-processes",
        type=int,
        default=min(os.cpu_count() or 1, 8),
        help="planning processes of the streaming enqueue",
    )
    ap.add_argument("--only-planning", action="store_true", help="run only the planning + insert comparison")
    args = ap.parse_args()
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.plan_characters:
            p = planning(tmp, args.pg, args.plan_characters, args.plan_processes)
            for (label, path), r in p.items():
                times[f"plan+insert {label} {path}"] = r["seconds"]
        if args.only_planning:
            return 0
        if not args.skip_render:
            o = task_overhead(tmp)
            print(
                f"[overhead] 4 characters x 3 images: render {o['render']:.2f} s, farm overhead "
                f"{o['overhead']:.3f} s -> overhead / render = {o['overhead'] / o['render']:.4f}"
            )
            times.update({"render (12 img)": o["render"], "farm overhead": o["overhead"]})
            one, two = throughput(tmp, 1), throughput(tmp, 2)
            print(
                f"[throughput] 1 worker {one:.2f} img/s, 2 workers {two:.2f} img/s -> 2 vs 1 = {two / one:.2f}x"
            )
        e = enqueue_iv(FarmConfig(data_dir=tmp / "sqlite"))
        print(
            f"[enqueue IV, SQLite] {e['images']} images: plan {e['plan']:.2f} s, enqueue total {e['enqueue']:.2f} s "
            f"-> enqueue / plan = {e['enqueue'] / e['plan']:.2f}"
        )
        times.update({"plan IV": e["plan"], "enqueue IV sqlite": e["enqueue"]})
        if args.pg:
            name = f"synthreid_perf_{uuid.uuid4().hex[:8]}"
            import psycopg2

            admin = psycopg2.connect(args.pg)
            admin.autocommit = True
            admin.cursor().execute(f'CREATE DATABASE "{name}"')
            try:
                e = enqueue_iv(FarmConfig(database_url=args.pg.rsplit("/", 1)[0] + "/" + name))
                print(
                    f"[enqueue IV, Postgres] enqueue total {e['enqueue']:.2f} s -> enqueue / plan = "
                    f"{e['enqueue'] / e['plan']:.2f}"
                )
                times["enqueue IV postgres"] = e["enqueue"]
            finally:
                admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}"')
                admin.close()
            s = status_latency(args.pg)
            print(
                f"[status] 1,000,000 image rows (filled in {s['fill']:.1f} s): status {1000 * s['status']:.1f} ms, "
                f"naive COUNT over images {1000 * s['naive_count']:.1f} ms -> status / naive = "
                f"{s['status'] / s['naive_count']:.3f}"
            )
            times.update({"status 1M": s["status"], "naive count 1M": s["naive_count"]})
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.barh(list(times), list(times.values()))
    ax.set_xscale("log")
    ax.set_xlabel("seconds (log)")
    ax.set_title("synthreid farm timings")
    fig.tight_layout()
    fig.savefig(REPO / "perf" / "farm.png", dpi=100)
    print(f"wrote {REPO / 'perf' / 'farm.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
