#!/usr/bin/env python3
"""The farm's reliability and security battery (issue 15), run as an adversary against the real code.

Every attack runs the real ``synthreid`` CLI in subprocesses against its own scratch world: a
data directory under a temp folder, a Postgres database it creates and drops on
127.0.0.1:5432, and one Redis db number (14 by default) that it flushes only for itself. Each
attack sets up, attacks, then checks the outcome in five categories (an image or task *lost*,
*duplicated*, *stuck*, anything *executed* from data, an *orphan* process or temp folder) and
prints one line, PASS/FAIL/SKIP with its evidence; a table follows, and the exit status is 1
on any FAIL. Renders are the smallest possible (preset I, a few characters x 1-3 images of
32x64 pixels, 2 samples). Every process an attack starts carries ``SYNTHREID_BATTERY_TAG`` in
its environment, which is how orphans are found (and then killed, by pid).

    .venv/bin/python scripts/battery.py                 # all attacks, a few minutes
    .venv/bin/python scripts/battery.py --only render_sigterm,malformed_messages
    .venv/bin/python scripts/battery.py --list

With ``--lock FILE`` it holds an flock on FILE for the whole run, so it never stacks on other
Blender or integration runs that take the same lock (timings of the kill windows suffer on a
busy machine). Full-disk attacks mount small tmpfs folders (root only) and
are skipped with a printed reason elsewhere. Not part of CI (it takes minutes): see docs/farm.md,
"Battery re-run".
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import uuid
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # the project's own modules, from this checkout

PG_ADMIN = os.environ.get("SYNTHREID_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("SYNTHREID_TEST_REDIS", "redis://127.0.0.1:6379")
TAG_VAR = "SYNTHREID_BATTERY_TAG"
LEASE = 3.0  # SYNTHREID_LEASE_SECONDS of every attack (s)
REAPER = 0.5  # SYNTHREID_REAPER_INTERVAL (s)
STATE_TIMEOUT = 240.0  # s for a state to be reached at all (bpy start-up on busy cores)
EXIT_BOUND = 20.0  # s from a stop signal to the exit of `render` (the blender tests' bound)
ORPHAN_GRACE = 10.0  # s for processes of a stopped command to be gone
CATEGORIES = ("lost", "duplicated", "stuck", "executed", "orphan")


# ---- pure helpers (tests/unit/test_battery.py) --------------------------------------------------
def toml_dumps(data: dict) -> str:
    """TOML text of a spec dict: scalars, lists of scalars and tables of those, nested tables
    as ``[a.b]``; enough for dataset specs (tomllib reads it back equal)."""

    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(f"toml_dumps: cannot write a {type(v).__name__}")

    def table(prefix: str, d: dict) -> list[str]:
        lines = [f"{k} = {value(v)}" for k, v in d.items() if v is not None and not isinstance(v, dict)]
        out = ([f"[{prefix}]"] if prefix else []) + lines
        for k, v in d.items():
            if isinstance(v, dict):
                out += ["", *table(f"{prefix}.{k}" if prefix else k, v)]
        return out

    return "\n".join(table("", data)) + "\n"


def tiny_spec(name: str, characters: int, images: int, seed: int = 21) -> dict:
    """Preset I at the smallest cost: 32x64 crops, 2 samples, no denoiser, 1 thread."""
    from synthreid.render.spec import PRESET_DIR

    d = tomllib.loads((PRESET_DIR / "I.toml").read_text())
    d.update(name=name, seed=seed, characters=characters, images_per_character=images)
    d.setdefault("output", {})["size"] = [32, 64]
    d["render"] = {**d.get("render", {}), "samples": 2, "denoise": False, "max_bounces": 1, "threads": 1}
    d["camera"] = {**d.get("camera", {}), "resolution": [480, 270]}
    return d


def duplicates(items: Iterable[str]) -> list[str]:
    """Values seen more than once, sorted."""
    seen: set[str] = set()
    dup: set[str] = set()
    for x in items:
        (dup if x in seen else seen).add(x)
    return sorted(dup)


def format_table(rows: list[list[str]], header: list[str]) -> str:
    """A plain-text table, columns padded to their widest cell."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


# ---- checks ---------------------------------------------------------------------------------------
class Skip(Exception):
    """The attack cannot run here; the message says why (it is printed, never silent)."""


@dataclass
class Check:
    """What one attack found: evidence lines and failures by category."""

    evidence: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)

    def expect(self, cond: bool, category: str, msg: str) -> bool:
        if category not in (*CATEGORIES, "other"):
            raise ValueError(f"unknown category {category!r}")
        if not cond:
            self.failures.append((category, msg))
        return cond

    def note(self, msg: str) -> None:
        self.evidence.append(msg)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tagged_pids(tag: str) -> list[tuple[int, str]]:
    """(pid, command line) of live processes whose environment carries ``tag``."""
    needle = f"{TAG_VAR}={tag}\0".encode()
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if needle in (d / "environ").read_bytes() + b"\0":
                state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    out.append((int(d.name), cmd.strip()[:120]))
        except (OSError, IndexError):
            continue
    return out


def wait_for(cond: Callable[[], object], timeout: float, what: str, poll: float = 0.05):
    """cond()'s first truthy value; TimeoutError naming ``what`` after ``timeout`` s."""
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise TimeoutError(f"no {what} after {timeout:.0f} s")
        time.sleep(poll)


class Db:
    """A catalog, read directly: Postgres (psycopg2) or the SQLite file. ``?`` placeholders."""

    def __init__(self, url: str):
        self.url = url
        if url.startswith("sqlite:///"):
            self.conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)
            self.pg = False
        else:
            import psycopg2

            self.conn = psycopg2.connect(url)
            self.conn.autocommit = True
            self.pg = True

    def q(self, sql: str, params: tuple = ()) -> list[tuple]:
        if self.pg:
            with self.conn.cursor() as cur:
                cur.execute(sql.replace("?", "%s"), params)
                return cur.fetchall() if cur.description else []
        cur = self.conn.execute(sql, params)
        rows = cur.fetchall()
        self.conn.commit()
        return rows

    def one(self, sql: str, params: tuple = ()):
        rows = self.q(sql, params)
        return rows[0][0] if rows else None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()


def check_dataset(chk: Check, db: Db, root: Path, name: str, expected: int) -> None:
    """Every image of dataset ``name`` done exactly once: catalog rows, files, checksums, labels,
    no temp file, every task done and the dataset finalized."""
    rows = db.q(
        "SELECT i.stem, i.state, i.checksum FROM images i JOIN datasets d ON d.id = i.dataset_id "
        "WHERE d.name = ?",
        (name,),
    )
    stems = [r[0] for r in rows]
    done = [r for r in rows if r[1] == "done"]
    chk.expect(len(rows) == expected, "lost", f"{name}: {len(rows)} image rows, expected {expected}")
    chk.expect(len(done) == expected, "lost", f"{name}: {len(done)}/{expected} images done")
    chk.expect(not duplicates(stems), "duplicated", f"{name}: duplicate rows {duplicates(stems)[:3]}")
    files = {p.stem for p in (root / "images").glob("*.png")} if (root / "images").is_dir() else set()
    chk.expect(
        files == set(stems),
        "lost" if set(stems) - files else "duplicated",
        f"{name}: image files {len(files)} vs rows {len(stems)} "
        f"(missing {sorted(set(stems) - files)[:3]}, extra {sorted(files - set(stems))[:3]})",
    )
    bad = [
        s
        for s, _, c in done
        if (root / "images" / f"{s}.png").is_file() and sha256(root / "images" / f"{s}.png") != c
    ]
    chk.expect(not bad, "lost", f"{name}: sha256 differs from the catalog for {bad[:3]}")
    for sub in ("masks", "meta"):
        n = len(list((root / sub).glob("*.*"))) if (root / sub).is_dir() else 0
        chk.expect(n == expected, "lost" if n < expected else "duplicated", f"{name}: {n} files in {sub}/")
    labels = root / "labels.jsonl"
    lab = (
        [json.loads(x)["stem"] for x in labels.read_text().splitlines() if x.strip()]
        if labels.is_file()
        else []
    )
    chk.expect(len(lab) == expected, "lost", f"{name}: {len(lab)} rows in labels.jsonl, expected {expected}")
    chk.expect(not duplicates(lab), "duplicated", f"{name}: labels.jsonl repeats {duplicates(lab)[:3]}")
    temps = [str(p.relative_to(root)) for p in root.rglob("*.tmp")]
    chk.expect(not temps, "orphan", f"{name}: temp files left {temps[:3]}")
    tasks = db.q(
        "SELECT t.state, COUNT(*) FROM tasks t JOIN datasets d ON d.id = t.dataset_id WHERE d.name = ? "
        "GROUP BY t.state",
        (name,),
    )
    unfinished = {s: n for s, n in tasks if s != "done"}
    chk.expect(not unfinished, "stuck", f"{name}: tasks not done {unfinished}")
    fin = db.one("SELECT finalized_at FROM datasets WHERE name = ?", (name,))
    chk.expect(fin is not None, "stuck", f"{name}: dataset not finalized")
    chk.note(f"{name}: {len(done)}/{expected} done once, checksums ok={not bad}, labels {len(lab)}")


# ---- the scratch world of one attack ------------------------------------------------------------
class Lab:
    """One attack's data dir, TMPDIR, Postgres database (on demand), Redis db and tagged processes."""

    def __init__(self, root: Path, name: str, redis_db: int):
        self.name = name
        self.dir = root / name
        self.dir.mkdir(parents=True)
        self.data = self.dir / "data"
        self.tmp = self.dir / "tmp"
        self.tmp.mkdir()
        self.tag = f"{uuid.uuid4().hex[:8]}-{name}"
        self.redis_url = f"{REDIS_BASE}/{redis_db}"
        self.pg_url: str | None = None
        self.procs: list[subprocess.Popen] = []
        self.mounts: list[Path] = []
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SYNTHREID_")},
            TAG_VAR: self.tag,
            "SYNTHREID_DATA_DIR": str(self.data),
            "SYNTHREID_LEASE_SECONDS": str(LEASE),
            "SYNTHREID_REAPER_INTERVAL": str(REAPER),
            "SYNTHREID_RETRY_BACKOFF": "0.2",
            "SYNTHREID_MAX_ATTEMPTS": "3",
            "SYNTHREID_PLAN_PROCESSES": "2",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(REPO),
            "TMPDIR": str(self.tmp),
        }

    # servers
    def farm(self) -> None:
        """Use a fresh Postgres database and this attack's Redis db (flushed)."""
        import psycopg2
        import redis

        dbname = f"battery_{self.tag.replace('-', '_')}"[:60]
        admin = psycopg2.connect(PG_ADMIN, connect_timeout=5)
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{dbname}"')
        admin.close()
        self.pg_url = PG_ADMIN.rsplit("/", 1)[0] + "/" + dbname
        r = redis.Redis.from_url(self.redis_url)
        r.flushdb()  # our own db number only
        r.close()
        self.env["SYNTHREID_DATABASE_URL"] = self.pg_url
        self.env["SYNTHREID_REDIS_URL"] = self.redis_url
        self.cli("db", "upgrade")

    def redis(self):
        import redis

        return redis.Redis.from_url(self.redis_url)

    def db(self) -> Db:
        data = Path(self.env["SYNTHREID_DATA_DIR"])
        url = self.env.get("SYNTHREID_DATABASE_URL") or f"sqlite:///{data / 'catalog.sqlite3'}"
        return Db(url)

    # commands
    def spec(self, name: str, characters: int, images: int, seed: int = 21) -> Path:
        path = self.dir / f"{name}.toml"
        path.write_text(toml_dumps(tiny_spec(name, characters, images, seed)))
        return path

    def cmd(self, *args) -> list[str]:
        return [sys.executable, "-m", "synthreid.cli", *map(str, args)]

    def cli(
        self, *args, env: dict | None = None, timeout: float = 600, stdin=None
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.cmd(*args),
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.dir,
            stdin=stdin,
        )

    def ok(self, *args, env: dict | None = None, timeout: float = 600) -> str:
        res = self.cli(*args, env=env, timeout=timeout)
        if res.returncode != 0:
            raise RuntimeError(
                f"`synthreid {' '.join(map(str, args))}` exited {res.returncode}: "
                f"{(res.stderr or res.stdout).strip()[-500:]}"
            )
        return res.stdout

    def spawn(self, *args, env: dict | None = None, log: str | None = None) -> subprocess.Popen:
        """`synthreid ARGS` in its own session (like a terminal's job), output to a log file."""
        path = self.dir / f"{log or args[0]}-{len(self.procs)}.log"
        with open(path, "wb") as fh:
            p = subprocess.Popen(
                self.cmd(*args),
                env={**self.env, **(env or {})},
                stdout=fh,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                start_new_session=True,
            )
        p.log_path = path  # type: ignore[attr-defined]
        self.procs.append(p)
        return p

    def worker(self, *extra, env: dict | None = None) -> subprocess.Popen:
        return self.spawn("worker", *extra, env=env, log="worker")

    @staticmethod
    def log(p: subprocess.Popen) -> str:
        return Path(p.log_path).read_text(errors="replace")  # type: ignore[attr-defined]

    def wait(self, p: subprocess.Popen, timeout: float = STATE_TIMEOUT) -> int:
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(
                f"{' '.join(p.args[3:5])} still running after {timeout:.0f} s: "  # type: ignore[index]
                f"{self.log(p)[-400:]}"
            ) from None

    def mount_tmpfs(self, path: Path, size: str) -> Path:
        if os.geteuid() != 0 or not shutil.which("mount"):
            raise Skip("full disk: needs root to mount a small tmpfs")
        path.mkdir(parents=True, exist_ok=True)
        res = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
        )
        if res.returncode:
            raise Skip(f"full disk: cannot mount a tmpfs ({res.stderr.strip()[:100]})")
        self.mounts.append(path)
        return path

    def close(self, chk: Check | None) -> None:
        """Check for orphans (then kill them), unmount, drop the database."""
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
                if chk:
                    chk.expect(False, "orphan", f"attack left {p.args[3:5]} running (pid {p.pid})")  # type: ignore[index]
        with contextlib.suppress(TimeoutError):
            wait_for(lambda: not tagged_pids(self.tag), ORPHAN_GRACE, "orphans gone", 0.2)
        left = tagged_pids(self.tag)
        if chk:
            chk.expect(not left, "orphan", f"processes alive after the attack: {left[:3]}")
            left_tmp = sorted(p.name for p in self.tmp.iterdir())  # stage folders, blender_*, ...
            chk.expect(not left_tmp, "orphan", f"temp folders left in TMPDIR: {left_tmp[:4]}")
        for pid, _ in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for m in reversed(self.mounts):
            subprocess.run(["umount", "-l", str(m)], capture_output=True)
        if self.pg_url:
            import psycopg2

            dbname = self.pg_url.rsplit("/", 1)[1]
            admin = psycopg2.connect(PG_ADMIN, connect_timeout=5)
            admin.autocommit = True
            with admin.cursor() as cur:
                cur.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (dbname,)
                )
                cur.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
            admin.close()
        if self.pg_url:  # farm() flushed our Redis db: leave it empty (also when an attack unset the URL)
            with contextlib.suppress(Exception):
                r = self.redis()
                r.flushdb()
                r.close()


def worker_stats(log: str) -> dict:
    m = re.findall(r"stopped: (\{.*\})", log)
    return json.loads(m[-1].replace("'", '"')) if m else {}


def images_stored(root: Path) -> int:
    return len(list((root / "meta").glob("*.json"))) if (root / "meta").is_dir() else 0


class TcpProxy:
    """127.0.0.1:PORT forwarded to Postgres; ``close()`` is the database becoming unreachable
    (connections cut, new ones refused), without touching the server."""

    def __init__(self, target=("127.0.0.1", 5432)):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.socks: list[socket.socket] = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        for s in self.socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
                s.close()


# ---- attacks ------------------------------------------------------------------------------------
ATTACKS: dict[str, Callable[[Lab, Check], None]] = {}


def attack(fn: Callable[[Lab, Check], None]) -> Callable[[Lab, Check], None]:
    ATTACKS[fn.__name__] = fn
    return fn


EVIL_CHILD = r"""
import os, pickle, sys
import torch
class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + sys.argv[1],))
for path in sys.argv[2:]:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if path.endswith(".pkl.pt"):
        with open(path, "wb") as fh:
            pickle.dump({"model": Evil()}, fh)  # a plain pickle, not torch's zip layout
    else:
        torch.save({"model": Evil(), "arch": "resnet50"}, path)
"""


@attack
def malicious_checkpoint(lab: Lab, chk: Check) -> None:
    """Checkpoints and weight files whose unpickling runs `touch MARKER`, executed by a gpu worker."""
    lab.farm()
    marker = lab.dir / "MARKER"
    ds = lab.data / "datasets" / "ds"
    spec = lab.dir / "ds.toml"  # 6 people: 2 to train on, 2 to validate on, 2 to test on
    spec.write_text(toml_dumps({**tiny_spec("ds", 6, 2), "splits": {"test": 2, "val": 2}}))
    lab.ok("render", spec, "--out", ds, "--workers", "1", "--quiet")
    evil = [
        lab.data / "runs" / "evil" / "best.pt",
        lab.data / "runs" / "evil2" / "checkpoints" / "best.pt",
        lab.data / "weights" / "evil.pt",
        lab.data / "weights" / "evil.pkl.pt",
        lab.data / "runs" / "evilref" / "checkpoints" / "last.pt",
    ]
    subprocess.run([sys.executable, "-c", EVIL_CHILD, str(marker), *map(str, evil)], check=True, env=lab.env)
    jobs = [
        ("benchmark-eval", "evil", ["--test", "ds", "--protocol", "market", "--device", "cpu"]),
        ("benchmark-eval", "evil2", ["--test", "ds", "--protocol", "market", "--device", "cpu"]),
        (
            "benchmark-train",
            "wtrain",
            [
                "--train",
                "ds",
                "--val",
                "ds",
                "--arch",
                "resnet50",
                "--weights",
                "evil.pt",
                "--epochs",
                "1",
                "--device",
                "cpu",
            ],
        ),
        (
            "benchmark-train",
            "wtrain2",
            [
                "--train",
                "ds",
                "--val",
                "ds",
                "--arch",
                "resnet50",
                "--weights",
                "evil.pkl.pt",
                "--epochs",
                "1",
                "--device",
                "cpu",
            ],
        ),
        ("refine-apply", "evilref", ["--source", "ds", "--name", "refined", "--device", "cpu"]),
    ]
    for job, run, args in jobs:
        lab.ok("submit", job, "--name", run, "--", *args)
    w = lab.worker("--queues", "gpu", "--burst", env={"SYNTHREID_MAX_ATTEMPTS": "1"})
    lab.wait(w, 600)
    db = lab.db()
    rows = db.q("SELECT id, state, last_error FROM tasks ORDER BY id")
    db.close()
    chk.expect(not marker.exists(), "executed", "MARKER exists: a checkpoint's code ran")
    for (tid, state, err), (job, run, _) in zip(rows, jobs, strict=True):
        err = err or ""
        refused = "refused" in err or "not a pure-weights" in err
        chk.expect(
            state == "failed" and refused, "other", f"task {tid} {job} {run}: {state}, error {err[-200:]!r}"
        )
        line = next((x for x in err.splitlines() if "refused" in x), err[-120:]).strip()
        why = re.search(r"(refused|corrupt).*", line)
        chk.note(f"{job} {run}: {state}: {(why[0] if why else line)[:90]}")
    direct_tmp = lab.dir / "direct-tmp"  # torch keeps a cache folder in TMPDIR: not the farm's
    direct_tmp.mkdir()
    direct = lab.cli(
        "benchmark",
        "eval",
        lab.data / "runs" / "evil",
        "--test",
        ds,
        "--device",
        "cpu",
        env={"TMPDIR": str(direct_tmp)},
    )
    err_lines = [x for x in direct.stderr.splitlines() if x.strip()]
    chk.expect(
        direct.returncode == 2 and len(err_lines) == 1 and "refused" in direct.stderr,
        "other",
        f"direct `benchmark eval`: exit {direct.returncode}, stderr {direct.stderr[-300:]!r}",
    )
    chk.expect(not marker.exists(), "executed", "MARKER exists after the direct `benchmark eval`")
    chk.note(f"direct eval: exit {direct.returncode}, one line; MARKER absent: {not marker.exists()}")


def _render_stop(lab: Lab, chk: Check, signals: list[signal.Signals], gap: float = 0.0) -> None:
    out = lab.dir / "ds"
    spec = lab.spec("ds", 6, 2)
    p = lab.spawn("render", spec, "--out", out, "--workers", "2", "--quiet", log="render")
    wait_for(lambda: images_stored(out) >= 1 or p.poll() is not None, STATE_TIMEOUT, "first image")
    before = images_stored(out)
    t0 = time.monotonic()
    for i, sig in enumerate(signals):
        if i:
            time.sleep(gap)
        os.kill(p.pid, sig)
    try:
        rc = p.wait(EXIT_BOUND)
    except subprocess.TimeoutExpired:
        rc = None
    took = time.monotonic() - t0
    chk.expect(rc is not None, "stuck", f"render alive {EXIT_BOUND:.0f} s after {[s.name for s in signals]}")
    try:
        wait_for(lambda: not tagged_pids(lab.tag), ORPHAN_GRACE, "workers gone", 0.05)
        gone = time.monotonic() - t0
    except TimeoutError:
        gone = None
    chk.expect(
        gone is not None,
        "orphan",
        f"processes alive {ORPHAN_GRACE:.0f} s after exit: {tagged_pids(lab.tag)[:3]}",
    )
    expected_rc = None if signals[-1] == signal.SIGKILL else 128 + signals[0]
    chk.expect(expected_rc is None or rc == expected_rc, "other", f"exit status {rc}, expected {expected_rc}")
    chk.note(
        f"{'+'.join(s.name for s in signals)} after {before} images: exit {rc} in {took:.2f} s, "
        f"all processes gone in {gone if gone is None else round(gone, 2)} s"
    )
    if "Traceback" in lab.log(p):
        chk.expect(False, "other", f"traceback in render's output: {lab.log(p)[-300:]}")
    res = lab.cli("render", "--out", out, "--workers", "2", "--quiet")
    chk.expect(res.returncode == 0, "stuck", f"resume exited {res.returncode}: {res.stderr[-300:]}")
    chk.note(f"resume: {res.stdout.strip()[-90:]}")
    db = Db(f"sqlite:///{out / '.synthreid' / 'catalog.sqlite3'}")
    check_dataset(chk, db, out, "ds", 12)
    db.close()
    v = lab.cli("verify", out, "--quiet")
    chk.expect(v.returncode == 0, "lost", f"verify: {v.stdout[-200:]} {v.stderr[-200:]}")


@attack
def render_sigterm(lab: Lab, chk: Check) -> None:
    """SIGTERM to `synthreid render`: prompt exit, no worker left, a rerun finishes the dataset."""
    _render_stop(lab, chk, [signal.SIGTERM])


@attack
def render_sigkill(lab: Lab, chk: Check) -> None:
    """SIGKILL to `synthreid render` alone: its Blender workers die with it (parent-death signal)."""
    _render_stop(lab, chk, [signal.SIGKILL])


@attack
def render_second_ctrl_c(lab: Lab, chk: Check) -> None:
    """Two SIGINTs (Ctrl-C twice): the second stops at once."""
    _render_stop(lab, chk, [signal.SIGINT, signal.SIGINT], gap=0.1)


@attack
def interrupted_init(lab: Lab, chk: Check) -> None:
    """A farm worker SIGKILLed while it creates the dataset folder (before manifest.json), then
    a new worker completes the dataset. If the kill misses the window (it lasts milliseconds),
    the state it leaves is staged for a second dataset (empty layout folders, no manifest)."""
    lab.farm()
    lab.ok("enqueue", lab.spec("ds", 2, 2), "-q")
    root = lab.data / "datasets" / "ds"
    w = lab.worker()
    wait_for(lambda: root.is_dir() or w.poll() is not None, STATE_TIMEOUT, "the folder", poll=0.0002)
    w.kill()
    w.wait()
    caught = root.is_dir() and not (root / "manifest.json").exists()
    left = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
    chk.note(f"ds: killed inside creation: {caught} (folder held {left})")
    names = {"ds": 4}
    if not caught:
        lab.ok("enqueue", lab.spec("ds2", 2, 2), "-q")
        for sub in ("images", "masks", "meta"):
            (lab.data / "datasets" / "ds2" / sub).mkdir(parents=True)
        names["ds2"] = 4
        chk.note("ds2: staged a folder with empty images/ masks/ meta/ and no manifest")
    w = lab.worker("--burst")
    rc = lab.wait(w)
    chk.expect(rc == 0, "stuck", f"resuming worker exited {rc}: {lab.log(w)[-300:]}")
    chk.expect("creation was interrupted" in lab.log(w), "other", "no 'creation was interrupted' log line")
    db = lab.db()
    for name, n in names.items():
        check_dataset(chk, db, lab.data / "datasets" / name, name, n)
    db.close()


@attack
def render_interrupted_init(lab: Lab, chk: Check) -> None:
    """Ctrl-C to `synthreid render` while it creates the dataset folder (planning a larger
    dataset, before manifest.json): a clean exit, and the same command resumes past creation."""
    out = lab.dir / "ds"
    spec = lab.spec("ds", 1500, 1)
    p = lab.spawn("render", spec, "--out", out, "--workers", "1", "--quiet", log="render")
    wait_for(lambda: (out / "meta").is_dir() or p.poll() is not None, STATE_TIMEOUT, "the folder", poll=0.001)
    os.kill(p.pid, signal.SIGINT)
    rc = p.wait(EXIT_BOUND)
    left = sorted(x.name for x in out.iterdir()) if out.is_dir() else []
    caught = "manifest.json" not in left
    chk.expect("Traceback" not in lab.log(p), "other", f"traceback: {lab.log(p)[-300:]}")
    chk.note(f"SIGINT inside creation: {caught}, exit {rc}, folder left {left}")
    p = lab.spawn("render", spec, "--out", out, "--workers", "1", "--quiet", log="render")
    try:
        wait_for(lambda: images_stored(out) >= 1 or p.poll() is not None, STATE_TIMEOUT, "a first image")
    except TimeoutError as exc:
        chk.expect(False, "stuck", str(exc))
    alive = p.poll() is None
    chk.expect(
        alive and images_stored(out) >= 1, "stuck", f"rerun exited {p.returncode}: {lab.log(p)[-300:]}"
    )
    os.kill(p.pid, signal.SIGTERM)
    rc = p.wait(EXIT_BOUND)
    chk.expect(rc == 128 + signal.SIGTERM, "other", f"rerun stopped with exit {rc}")
    chk.note(
        f"rerun: manifest {(out / 'manifest.json').is_file()}, {images_stored(out)} images, then SIGTERM: exit {rc}"
    )


@attack
def interrupted_finalize(lab: Lab, chk: Check) -> None:
    """A worker SIGKILLed inside finalize (its claim taken, labels.jsonl not written): another
    worker finalizes the dataset once the claim expires."""
    lab.farm()
    lab.ok("enqueue", lab.spec("ds", 2, 3), "-q")
    db = lab.db()
    w = lab.worker("--burst")
    seen: dict[str, object] = {}

    def claimed():
        row = db.q("SELECT finalizing_at, finalized_at FROM datasets WHERE name = 'ds'")[0]
        if row[0] is not None or row[1] is not None or w.poll() is not None:
            seen["row"] = row
            return True
        return False

    wait_for(claimed, STATE_TIMEOUT, "the finalize claim", poll=0.0005)
    w.kill()
    w.wait()
    fin = db.one("SELECT finalized_at FROM datasets WHERE name = 'ds'")
    caught = fin is None and seen["row"][0] is not None  # type: ignore[index]
    if not caught:  # missed (finalize takes milliseconds): stage what a killed finalizer leaves
        db.q("UPDATE datasets SET finalized_at = NULL, finalizing_at = ? WHERE name = 'ds'", (time.time(),))
        (lab.data / "datasets" / "ds" / "labels.jsonl").unlink(missing_ok=True)
    chk.note(f"killed inside finalize: {caught} (else staged: claim taken now, no labels.jsonl)")
    t0 = time.monotonic()
    w2 = lab.worker()
    try:
        wait_for(
            lambda: db.one("SELECT finalized_at FROM datasets WHERE name = 'ds'"), 4 * LEASE + 30, "finalize"
        )
        took = time.monotonic() - t0
    except TimeoutError:
        took = None
    chk.expect(took is not None, "stuck", "not finalized by another worker")
    chk.note(
        f"finalized by another worker {took if took is None else round(took, 1)} s later "
        f"(claim expires after a lease, {LEASE:.0f} s)"
    )
    w2.send_signal(signal.SIGTERM)
    lab.wait(w2, 60)
    check_dataset(chk, db, lab.data / "datasets" / "ds", "ds", 6)
    db.close()


@attack
def redis_flushed(lab: Lab, chk: Check) -> None:
    """Redis flushed mid-render: lost jobs are re-sent within two leases, without `reconcile`."""
    from synthreid.workers.dispatch import JOB_ID_PREFIX

    lab.farm()
    lab.ok("enqueue", lab.spec("ds", 4, 2), "-q")
    db = lab.db()
    r = lab.redis()
    w = lab.worker("--burst")
    wait_for(lambda: db.one("SELECT COUNT(*) FROM tasks WHERE state = 'done'"), STATE_TIMEOUT, "a done task")
    r.flushdb()
    t0 = time.monotonic()
    pending = db.q("SELECT id FROM tasks WHERE state = 'pending'")
    chk.note(f"flushed with {len(pending)} tasks pending")

    def healed():
        rows = db.q("SELECT id FROM tasks WHERE state = 'pending'")
        return all(r.exists(f"rq:job:{JOB_ID_PREFIX}{i}") for (i,) in rows)

    try:
        wait_for(healed, 2 * LEASE + 30, "the jobs re-sent", 0.05)
        took = time.monotonic() - t0
    except TimeoutError:
        took = None
    chk.expect(
        took is not None and took <= 2 * LEASE,
        "stuck",
        f"jobs re-sent after {took} s (bound: 2 leases = {2 * LEASE:.0f} s)",
    )
    rc = lab.wait(w)
    chk.expect(rc == 0, "stuck", f"worker exited {rc}")
    chk.note(
        f"re-sent within {took if took is None else round(took, 2)} s (2 leases = {2 * LEASE:.0f} s); "
        f"worker log says 'had lost their job': {'had lost their job' in lab.log(w)}"
    )
    check_dataset(chk, db, lab.data / "datasets" / "ds", "ds", 8)
    db.close()


def _raw_job(r, job_id: str, queue: str, fields: dict) -> None:
    r.hset(f"rq:job:{job_id}", mapping=fields)
    r.rpush(f"rq:queue:{queue}", job_id)


def _json_job(r, job_id: str, queue: str, body: object, origin: str | None = None) -> None:
    _raw_job(
        r,
        job_id,
        queue,
        {
            "data": zlib.compress(json.dumps(body).encode()),
            "origin": origin or queue,
            "status": "queued",
            "created_at": "2026-01-01T00:00:00.000000Z",
        },
    )


@attack
def malformed_messages(lab: Lab, chk: Check) -> None:
    """Hostile messages on the render queue: the worker lives, each goes to the dead-letter list,
    nothing in them runs, and a real task sent after them is rendered."""
    from rq import Queue

    from synthreid.workers.dispatch import DEAD_LETTER, JOB_FUNC

    lab.farm()
    r = lab.redis()
    marker = lab.dir / "MARKER"
    q = "synthreid-render"
    Queue(q, connection=r).enqueue("os.system", f"touch {marker}")  # pickled (RQ's default)
    _raw_job(r, "garbage", q, {"foo": b"\x00\xffbar"})
    _json_job(r, "jsonstr", q, "hello")
    _json_job(r, "noargs", q, [JOB_FUNC, None, [], {}])
    _json_job(r, "oscall", q, ["os.system", None, [f"touch {marker}"], {}])
    _json_job(r, "twoargs", q, [JOB_FUNC, None, [1, 2], {}])
    _json_job(r, "strarg", q, [JOB_FUNC, None, ["1; touch x"], {}])
    _raw_job(
        r,
        "notzlib",
        q,
        {
            "data": b"\x80\x04not zlib",
            "origin": q,
            "status": "queued",
            "created_at": "2026-01-01T00:00:00.000000Z",
        },
    )
    r.rpush(f"rq:queue:{q}", b"\xff\xfe binary id")
    r.set("rq:job:astring", "not a hash")
    r.rpush(f"rq:queue:{q}", "astring")
    n = r.llen(f"rq:queue:{q}")
    w = lab.worker()
    try:
        wait_for(lambda: r.llen(f"rq:queue:{q}") == 0, 60, "the queue drained")
    except TimeoutError as exc:
        chk.expect(False, "stuck", f"{exc}: {r.llen(f'rq:queue:{q}')} left")
    with contextlib.suppress(TimeoutError):  # each dead-letter push follows its pop
        wait_for(lambda: r.llen(DEAD_LETTER) >= n - 1, 10, "dead letters")
    dead = [json.loads(e) for e in r.lrange(DEAD_LETTER, 0, -1)]
    chk.note(f"{n} messages pushed, {len(dead)} dead-lettered: {sorted(e['job_id'][:10] for e in dead)}")
    chk.expect(len(dead) >= n - 1, "lost", f"only {len(dead)} of {n} messages dead-lettered")
    chk.expect(w.poll() is None, "other", f"worker died: {lab.log(w)[-300:]}")
    chk.expect(not marker.exists(), "executed", "MARKER exists: a message's payload ran")
    lab.ok("enqueue", lab.spec("ds", 1, 1), "-q")
    db = lab.db()
    try:
        wait_for(
            lambda: db.one("SELECT finalized_at FROM datasets WHERE name = 'ds'"), STATE_TIMEOUT, "real task"
        )
    except TimeoutError as exc:
        chk.expect(False, "stuck", str(exc))
    w.send_signal(signal.SIGTERM)
    rc = lab.wait(w, 60)
    chk.expect(rc == 0 and "Traceback" not in lab.log(w), "other", f"worker exit {rc} / traceback in log")
    check_dataset(chk, db, lab.data / "datasets" / "ds", "ds", 1)
    db.close()


@attack
def gpu_task_on_render_queue(lab: Lab, chk: Check) -> None:
    """A gpu task's job id pushed onto the render queue (and a forged render job naming it):
    a render worker executes neither."""
    from synthreid.workers.dispatch import DEAD_LETTER, JOB_FUNC, JOB_ID_PREFIX

    lab.farm()
    (lab.data / "runs" / "r1").mkdir(parents=True)
    (lab.data / "datasets" / "x").mkdir(parents=True)
    lab.ok("submit", "benchmark-eval", "--name", "r1", "--", "--test", "x")
    db = lab.db()
    tid = db.one("SELECT id FROM tasks")
    r = lab.redis()
    r.rpush("rq:queue:synthreid-render", f"{JOB_ID_PREFIX}{tid}")
    _json_job(r, "forged", "synthreid-render", [JOB_FUNC, None, [tid], {}])
    w = lab.worker()
    try:
        wait_for(
            lambda: r.llen("rq:queue:synthreid-render") == 0 and r.llen(DEAD_LETTER) >= 2, 60, "refusals"
        )
    except TimeoutError as exc:
        chk.expect(False, "stuck", str(exc))
    state = db.q("SELECT state, attempts, worker FROM tasks WHERE id = ?", (tid,))[0]
    chk.expect(
        tuple(state) == ("pending", 0, None), "executed", f"gpu task touched by a render worker: {state}"
    )
    chk.expect(
        r.exists(f"rq:job:{JOB_ID_PREFIX}{tid}") and r.llen("rq:queue:synthreid-gpu") == 1,
        "lost",
        "the gpu queue lost its job",
    )
    chk.expect(not (lab.data / "runs" / "r1" / "worker.log").exists(), "executed", "the job's child ran")
    chk.note(f"task {tid}: {tuple(state)}; dead-lettered {r.llen(DEAD_LETTER)}; gpu queue keeps its job")
    w.send_signal(signal.SIGTERM)
    lab.wait(w, 60)
    db.close()


@attack
def planning_memory(lab: Lab, chk: Check) -> None:
    """`enqueue` of a huge dataset into Postgres: peak RSS of every process under 300 MB."""
    lab.farm()
    chars, images = ARGS.plan_characters, 10
    spec = lab.spec("big", chars, images)
    p = lab.spawn("enqueue", spec, "-q", log="enqueue")
    peak: dict[int, int] = {}
    while p.poll() is None:
        for pid, _ in tagged_pids(lab.tag):
            with contextlib.suppress(OSError, TypeError):
                m = re.search(r"VmHWM:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
                peak[pid] = max(peak.get(pid, 0), int(m[1]))  # type: ignore[index]
        time.sleep(0.1)
    chk.expect(p.returncode == 0, "other", f"enqueue exited {p.returncode}: {lab.log(p)[-300:]}")
    top = max(peak.values(), default=0) / 1024
    db = lab.db()
    n = db.one("SELECT COUNT(*) FROM images")
    db.close()
    chk.expect(n == chars * images, "lost", f"{n} image rows, expected {chars * images}")
    chk.expect(0 < top < 300, "other", f"peak RSS {top:.0f} MB (bound 300 MB)")
    chk.note(
        f"{chars} characters x {images} images: {n} rows; peak RSS {top:.0f} MB over {len(peak)} processes"
    )


@attack
def sigterm_catalog_unreachable(lab: Lab, chk: Check) -> None:
    """SIGTERM to an idle worker whose Postgres became unreachable (a proxy we close): it exits
    within the documented bound (lease + 60 s), with no traceback."""
    lab.farm()
    proxy = TcpProxy()
    url = lab.pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")  # type: ignore[union-attr]
    w = lab.worker(env={"SYNTHREID_DATABASE_URL": url})
    db = lab.db()
    wait_for(lambda: db.one("SELECT COUNT(*) FROM workers"), 60, "the worker registered")
    proxy.close()
    with contextlib.suppress(TimeoutError):
        wait_for(lambda: "unreachable" in lab.log(w) or "connection lost" in lab.log(w), 30, "noticed")
    t0 = time.monotonic()
    w.send_signal(signal.SIGTERM)
    try:
        w.wait(LEASE + 60)
        took = time.monotonic() - t0
    except subprocess.TimeoutExpired:
        took = None
    chk.expect(took is not None, "stuck", f"worker alive {LEASE + 60:.0f} s after SIGTERM")
    chk.expect("Traceback" not in lab.log(w), "other", f"traceback: {lab.log(w)[-300:]}")
    chk.note(
        f"exited {took if took is None else round(took, 1)} s after SIGTERM (bound lease + 60 = {LEASE + 60:.0f} s)"
    )
    db.close()


def _fill(path: Path, leave: int = 0) -> None:
    """Fill the filesystem of ``path`` up to ``leave`` free bytes."""
    st = os.statvfs(path)
    free = st.f_bavail * st.f_frsize - leave
    with open(path / ".filler", "wb") as fh, contextlib.suppress(OSError):
        while free > 0:
            n = min(free, 1 << 20)
            fh.write(b"\0" * n)
            free -= n


@attack
def full_disk_farm(lab: Lab, chk: Check) -> None:
    """Data dir on a full tmpfs, SQLite catalog elsewhere: the failure is recorded on the task,
    nothing is marked done, the worker exits cleanly; with space back, `enqueue --resume` finishes."""
    data = lab.mount_tmpfs(lab.dir / "small", "4m")
    lab.env["SYNTHREID_DATA_DIR"] = str(data)
    lab.env["SYNTHREID_DATABASE_URL"] = f"sqlite:///{lab.dir / 'catalog.sqlite3'}"
    spec = lab.spec("ds", 2, 2)
    lab.ok("enqueue", spec, "-q")
    _fill(data)
    w = lab.worker("--burst", env={"SYNTHREID_MAX_ATTEMPTS": "1"})
    rc = lab.wait(w)
    db = lab.db()
    rows = db.q("SELECT state, last_error FROM tasks ORDER BY id")
    done = db.one("SELECT COUNT(*) FROM images WHERE state = 'done'")
    err = next((e for _, e in rows if e), "") or ""
    chk.expect(
        all(s == "failed" for s, _ in rows) and "space" in err.lower(),
        "other",
        f"tasks {[s for s, _ in rows]}, error {err[-150:]!r}",
    )
    chk.expect(done == 0, "lost", f"{done} images marked done on a full disk")
    chk.expect("Traceback" not in lab.log(w) or rc in (0, 1), "other", f"worker exit {rc}")
    chk.note(
        f"full: tasks {[s for s, _ in rows]}, error '{err.strip().splitlines()[-1][:80] if err else ''}'"
    )
    (data / ".filler").unlink()
    lab.ok("enqueue", spec, "--resume", "-q")
    w = lab.worker("--burst")
    lab.wait(w)
    check_dataset(chk, db, data / "datasets" / "ds", "ds", 4)
    db.close()


@attack
def full_disk_catalog(lab: Lab, chk: Check) -> None:
    """Data dir and SQLite catalog on one full tmpfs: nothing is lost or marked done, the worker
    logs and leaves the task to its lease; with space back the dataset completes."""
    data = lab.mount_tmpfs(lab.dir / "small", "4m")
    lab.env["SYNTHREID_DATA_DIR"] = str(data)
    spec = lab.spec("ds", 2, 2)
    lab.ok("enqueue", spec, "-q")
    _fill(data)
    w = lab.worker("--burst", env={"SYNTHREID_MAX_ATTEMPTS": "1"})
    try:
        rc: int | None = lab.wait(w, 120)
    except TimeoutError:
        w.send_signal(signal.SIGTERM)
        rc = lab.wait(w, LEASE + 70)
    log = lab.log(w)
    chk.expect("Traceback" not in log, "other", f"traceback in the worker's log: {log[-300:]}")
    chk.note(
        f"full: worker exit {rc}; last line: {log.strip().splitlines()[-1][-100:] if log.strip() else ''}"
    )
    (data / ".filler").unlink()
    lab.ok("enqueue", spec, "--resume", "-q")
    w = lab.worker("--burst")
    lab.wait(w)
    db = lab.db()
    check_dataset(chk, db, data / "datasets" / "ds", "ds", 4)
    db.close()


@attack
def render_full_disk(lab: Lab, chk: Check) -> None:
    """`synthreid render` on a full disk: a one-line error, no traceback; on a disk filling up
    mid-render, failed persons are reported and a rerun with space completes."""
    small = lab.mount_tmpfs(lab.dir / "small", "2m")
    _fill(small, leave=8192)
    res = lab.cli("render", lab.spec("ds", 2, 2), "--out", small / "ds", "--workers", "1", "--quiet")
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    chk.expect(
        res.returncode != 0 and len(lines) == 1 and "Traceback" not in res.stderr,
        "other",
        f"exit {res.returncode}, stderr {res.stderr[-400:]!r}",
    )
    chk.note(f"exit {res.returncode}: ...{lines[-1][-100:] if lines else '(no message)'}")
    (small / ".filler").unlink()
    res = lab.cli("render", lab.spec("ds", 2, 2), "--out", small / "ds", "--workers", "1", "--quiet")
    chk.expect(
        res.returncode == 0, "stuck", f"render with space back: exit {res.returncode} {res.stderr[-300:]}"
    )
    db = Db(f"sqlite:///{small / 'ds' / '.synthreid' / 'catalog.sqlite3'}")
    check_dataset(chk, db, small / "ds", "ds", 4)
    db.close()


def _race(lab: Lab, chk: Check, n: int, extra_env: dict) -> None:
    spec = lab.spec("race", 2, 1)
    procs = [
        subprocess.Popen(
            lab.cmd("enqueue", spec, "-q"),
            env={**lab.env, **extra_env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=lab.dir,
        )
        for _ in range(n)
    ]
    results = [(p.wait(300), *p.communicate()) for p in procs]
    rcs = sorted(rc for rc, _, _ in results)
    chk.expect(rcs == [0] + [2] * (n - 1), "duplicated", f"exit statuses {rcs}")
    errs = [e for rc, _, e in results if rc]
    # The error is the last line; a loser on a new SQLite catalog may first log its migrations.
    unclean = [
        e
        for e in errs
        if "Traceback" in e
        or not (e.strip().splitlines() or [""])[-1].startswith(
            "synthreid: error: dataset 'race' already exists"
        )
    ]
    chk.expect(
        not unclean,
        "other",
        f"{len(unclean)} losers' errors unclean, e.g. {unclean[0][-600:] if unclean else ''!r}",
    )
    db = lab.db()
    nd, nc = db.one("SELECT COUNT(*) FROM datasets"), db.one("SELECT COUNT(*) FROM characters")
    db.close()
    chk.expect((nd, nc) == (1, 2), "duplicated", f"{nd} datasets, {nc} characters (expected 1, 2)")
    chk.note(
        f"{n} at once: exit statuses {rcs}; {nd} dataset, {nc} characters; "
        f"loser says: {errs[0].strip()[:80] if errs else ''}"
    )


@attack
def concurrent_enqueue(lab: Lab, chk: Check) -> None:
    """11 simultaneous `enqueue` of one name on Postgres, then on SQLite: one wins, ten get 'already exists'."""
    lab.farm()
    _race(lab, chk, 11, {})
    lab.env.pop("SYNTHREID_DATABASE_URL")
    lab.env.pop("SYNTHREID_REDIS_URL")
    _race(lab, chk, 11, {})


@attack
def hostile_names(lab: Lab, chk: Check) -> None:
    """Names with a trailing newline, a path or a dot-dot are refused by enqueue, submit and render."""
    lab.farm()
    spec = lab.spec("ds", 1, 1)
    (lab.data / "runs" / "r1").mkdir(parents=True)
    (lab.data / "datasets" / "x").mkdir(parents=True)
    cases = [
        ("enqueue --name 'ab\\n'", ["enqueue", spec, "--name", "ab\n", "-q"]),
        ("enqueue --name ../x", ["enqueue", spec, "--name", "../x", "-q"]),
        ("render --name 'ab\\n'", ["render", spec, "--name", "ab\n", "--quiet"]),
        ("submit --name 'r1\\n'", ["submit", "benchmark-eval", "--name", "r1\n", "--", "--test", "x"]),
        ("submit --test 'x\\n'", ["submit", "benchmark-eval", "--name", "r1", "--", "--test", "x\n"]),
        (
            "submit --weights ../../etc/passwd",
            [
                "submit",
                "benchmark-train",
                "--name",
                "r2",
                "--",
                "--train",
                "x",
                "--weights",
                "../../etc/passwd",
            ],
        ),
    ]
    for what, args in cases:
        res = lab.cli(*args)
        chk.expect(
            res.returncode == 2 and "Traceback" not in res.stderr,
            "other",
            f"{what}: exit {res.returncode} {res.stderr[-200:]!r}",
        )
        chk.note(f"{what}: exit {res.returncode}")
    db = lab.db()
    nd, nt = db.one("SELECT COUNT(*) FROM datasets"), db.one("SELECT COUNT(*) FROM tasks")
    db.close()
    chk.expect((nd, nt) == (0, 0), "other", f"{nd} datasets, {nt} tasks written")
    made = sorted(p.name for p in lab.dir.rglob("ab*"))
    chk.expect(not made, "other", f"folders made: {made}")


@attack
def password_never_printed(lab: Lab, chk: Check) -> None:
    """A database password with '@' (unencoded: refused; encoded: masked) never appears in any
    output of enqueue, status, worker, db upgrade, submit."""
    secret = "S3cr@tPw"
    urls = {
        "unencoded": f"postgresql://synthreid:{secret}@127.0.0.1:5432/battery",
        "encoded, down": "postgresql://synthreid:S3cr%40tPw@127.0.0.1:1/battery",
    }
    spec = lab.spec("ds", 1, 1)
    for label, url in urls.items():
        env = {
            "SYNTHREID_DATABASE_URL": url,
            "SYNTHREID_REDIS_URL": f"redis://:{secret.replace('@', '%40')}@127.0.0.1:1/0",
        }
        outs = []
        for args in (
            ["db", "upgrade"],
            ["enqueue", spec, "-q"],
            ["status"],
            ["reconcile"],
            ["submit", "benchmark-eval", "--name", "r", "--", "--test", "x"],
        ):
            res = lab.cli(*args, env=env, timeout=120)
            outs.append(res.stdout + res.stderr)
        w = lab.worker(env=env)
        with contextlib.suppress(TimeoutError):
            wait_for(
                lambda w=w: len(lab.log(w)) > 0 and ("unreachable" in lab.log(w) or w.poll() is not None),
                60,
                "a retry line",
            )
        w.send_signal(signal.SIGTERM)
        lab.wait(w, LEASE + 70)
        outs.append(lab.log(w))
        text = "\n".join(outs)
        leaks = [s for s in (secret, "S3cr%40tPw", "S3cr") if s in text]
        chk.expect(
            not leaks,
            "other",
            f"{label}: password printed ({leaks}): "
            f"{next((ln for ln in text.splitlines() if 'S3cr' in ln), '')[:200]}",
        )
        first = next((ln for ln in text.splitlines() if "error" in ln.lower() or "***" in ln), "")
        chk.note(f"{label}: no leak in {len(outs)} outputs; e.g. {first.strip()[:90]!r}")


@attack
def byte_identity(lab: Lab, chk: Check) -> None:
    """One spec rendered in separate processes (1 worker, then 2) and one image re-rendered alone:
    the same image and mask bytes."""
    spec = lab.spec("ds", 3, 2)
    a, b = lab.dir / "a", lab.dir / "b"
    lab.ok("render", spec, "--out", a, "--workers", "1", "--quiet")
    lab.ok("render", spec, "--out", b, "--workers", "2", "--quiet")
    diff = []
    for sub in ("images", "masks"):
        fa = {p.name: sha256(p) for p in (a / sub).glob("*.png")}
        fb = {p.name: sha256(p) for p in (b / sub).glob("*.png")}
        chk.expect(len(fa) == 6 and fa.keys() == fb.keys(), "lost", f"{sub}: {len(fa)} vs {len(fb)} files")
        diff += [f"{sub}/{k}" for k in fa if fa[k] != fb.get(k)]
    stem = sorted(p.stem for p in (a / "images").glob("*.png"))[-1]
    res = lab.cli("rerender", a, stem, "--out", lab.dir / "c")
    chk.expect(res.returncode == 0, "other", f"rerender {stem}: exit {res.returncode} {res.stdout[-200:]}")
    for sub in ("images", "masks"):
        c = lab.dir / "c" / sub / f"{stem}.png"
        if not c.is_file() or sha256(c) != sha256(a / sub / f"{stem}.png"):
            diff.append(f"rerender {sub}/{stem}")
    chk.expect(not diff, "other", f"bytes differ: {diff[:4]}")
    chk.note(f"12 files across 1 vs 2 workers and the re-render of {stem}: {len(diff)} differ")


def _kill_when(lab: Lab, db: Db, w: subprocess.Popen, moment: str, root: Path) -> str:
    """SIGKILL worker ``w`` at ``moment`` of its own work (worker names hold the pid); what the
    catalog said then."""
    me = f"%-{w.pid}-%"
    stored = images_stored(root)
    conds = {
        "claimed": lambda: db.one(
            "SELECT COUNT(*) FROM tasks WHERE state = 'running' AND worker LIKE ?", (me,)
        ),
        "mid-character": lambda: (
            images_stored(root) > stored
            and db.one("SELECT COUNT(*) FROM tasks WHERE state = 'running' AND worker LIKE ?", (me,))
        ),
        "after a commit": lambda: db.one(
            "SELECT COUNT(*) FROM tasks WHERE state = 'done' AND worker LIKE ?", (me,)
        ),
    }
    wait_for(lambda: conds[moment]() or w.poll() is not None, STATE_TIMEOUT, moment, poll=0.002)
    alive = w.poll() is None
    w.kill()
    w.wait()
    states = dict(db.q("SELECT state, COUNT(*) FROM tasks GROUP BY state"))
    return f"killed {moment} (alive until then: {alive}): tasks {states}, {images_stored(root)} images stored"


@attack
def worker_sigkill_moments(lab: Lab, chk: Check) -> None:
    """A farm worker SIGKILLed just after a claim, mid-character and after a commit; a new worker
    finishes: every image exactly once."""
    lab.farm()
    lab.ok("enqueue", lab.spec("ds", 4, 3), "-q")
    db = lab.db()
    root = lab.data / "datasets" / "ds"
    for moment in ("claimed", "mid-character", "after a commit"):
        w = lab.worker()
        chk.note(_kill_when(lab, db, w, moment, root))
    w = lab.worker("--burst")
    rc = lab.wait(w)
    chk.expect(rc == 0, "stuck", f"final worker exited {rc}")
    attempts = db.q("SELECT attempts FROM tasks ORDER BY id")
    chk.note(f"final worker: {worker_stats(lab.log(w))}; attempts per task {[a for (a,) in attempts]}")
    check_dataset(chk, db, root, "ds", 12)
    db.close()


@attack
def three_workers_race(lab: Lab, chk: Check) -> None:
    """3 workers racing on 2 characters (one SIGKILLed mid-way): nothing lost, nothing twice."""
    lab.farm()
    lab.ok("enqueue", lab.spec("ds", 2, 2), "-q")
    db = lab.db()
    root = lab.data / "datasets" / "ds"
    ws = [lab.worker("--burst") for _ in range(3)]
    wait_for(
        lambda: images_stored(root) >= 1 or all(w.poll() is not None for w in ws), STATE_TIMEOUT, "an image"
    )
    running = [r[0] for r in db.q("SELECT worker FROM tasks WHERE state = 'running'")]
    victim = next((w for w in ws if any(f"-{w.pid}-" in (r or "") for r in running)), ws[0])
    victim.kill()
    victim.wait()
    ws = [victim] + [w for w in ws if w is not victim]
    rcs = [lab.wait(w) for w in ws[1:]]
    chk.expect(rcs == [0, 0], "stuck", f"surviving workers exited {rcs}")
    stats = [worker_stats(lab.log(w)) for w in ws[1:]]
    held = any(f"-{ws[0].pid}-" in (r or "") for r in running)
    chk.note(f"killed one of 3 (holding a task: {held}); survivors: {stats}")
    check_dataset(chk, db, root, "ds", 4)
    stages = sorted(x.name for x in lab.tmp.glob("synthreid-render-*"))
    w = lab.worker("--burst")  # documented: the next worker on the host sweeps a dead one's stage folder
    lab.wait(w)
    chk.note(
        f"stage folders of the killed worker: {stages}; after the next worker: "
        f"{sorted(x.name for x in lab.tmp.glob('synthreid-render-*'))}"
    )
    done_by = db.q("SELECT COUNT(*), COUNT(DISTINCT id) FROM images WHERE state = 'done'")[0]
    chk.expect(done_by[0] == done_by[1], "duplicated", f"image rows {done_by}")
    db.close()


# ---- runner -------------------------------------------------------------------------------------
@dataclass
class Outcome:
    name: str
    status: str
    seconds: float
    check: Check
    reason: str = ""


def run_attack(name: str, root: Path, redis_db: int) -> Outcome:
    chk = Check()
    lab = Lab(root, name, redis_db)
    t0 = time.monotonic()
    status, reason = "PASS", ""
    try:
        ATTACKS[name](lab, chk)
    except Skip as exc:
        status, reason = "SKIP", str(exc)
    except TimeoutError as exc:  # a state never reached: something is stuck
        chk.expect(False, "stuck", f"attack timed out: {str(exc)[:400]}")
    except Exception as exc:  # noqa: BLE001 - an attack that crashes is a FAIL with its reason
        chk.expect(False, "other", f"attack crashed: {type(exc).__name__}: {str(exc)[:400]}")
    finally:
        lab.close(chk if status != "SKIP" else None)
    if chk.failures and status != "SKIP":
        status = "FAIL"
    return Outcome(name, status, time.monotonic() - t0, chk, reason)


def summary(outcomes: list[Outcome]) -> str:
    rows = []
    for o in outcomes:
        cats = {c for c, _ in o.check.failures}
        marks = ["-" if o.status == "SKIP" else ("FAIL" if c in cats else "ok") for c in CATEGORIES]
        rows.append(
            [
                o.name,
                o.status,
                *marks,
                "FAIL" if "other" in cats else ("-" if o.status == "SKIP" else "ok"),
                f"{o.seconds:.0f}",
            ]
        )
    return format_table(rows, ["attack", "result", *CATEGORIES, "other", "s"])


def main(argv: list[str] | None = None) -> int:
    global ARGS
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--only", help="comma-separated attacks to run (default: all)")
    p.add_argument("--list", action="store_true", help="list the attacks and exit")
    p.add_argument(
        "--redis-db", type=int, default=14, help="Redis db number flushed for the battery (default 14)"
    )
    p.add_argument(
        "--plan-characters",
        type=int,
        default=20_000,
        help="characters (x 10 images) of planning_memory (default 20,000; the test uses 100,000)",
    )
    p.add_argument("--lock", default="", help="a file flock'ed for the whole run (default: none)")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder")
    ARGS = p.parse_args(argv)
    if ARGS.list:
        for n, fn in ATTACKS.items():
            print(f"{n}: {(fn.__doc__ or '').split(chr(10))[0]}")
        return 0
    names = ARGS.only.split(",") if ARGS.only else list(ATTACKS)
    unknown = [n for n in names if n not in ATTACKS]
    if unknown:
        p.error(f"unknown attack(s) {unknown}; --list shows them")
    lock = open(ARGS.lock, "a") if ARGS.lock else None  # noqa: SIM115 - held for the whole run
    if lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
    root = Path(tempfile.mkdtemp(prefix="synthreid-battery-"))
    outcomes = []
    try:
        for name in names:
            o = run_attack(name, root, ARGS.redis_db)
            outcomes.append(o)
            detail = (
                "; ".join(o.check.evidence)
                if o.status == "PASS"
                else (
                    o.reason if o.status == "SKIP" else "; ".join(f"[{c}] {m}" for c, m in o.check.failures)
                )
            )
            print(f"{o.status} {name} ({o.seconds:.0f} s): {detail}", flush=True)
    finally:
        if not ARGS.keep:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print(summary(outcomes))
    n = {s: sum(o.status == s for o in outcomes) for s in ("PASS", "FAIL", "SKIP")}
    print(
        f"\n{n['PASS']} PASS, {n['FAIL']} FAIL, {n['SKIP']} SKIP ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})"
    )
    return 1 if n["FAIL"] else 0


ARGS = argparse.Namespace(plan_characters=20_000)

if __name__ == "__main__":
    sys.exit(main())
