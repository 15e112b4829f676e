"""How planning + insert into Postgres scales with cores: characters/s of ``enqueue_dataset``
(preset I x 10 images) for several (planning processes, writer connections) arms, each as a
ratio to the first arm measured in the same run, with the CPU per character by process.

Every run is a fresh process and a fresh database; arms alternate round by round (A B C, A B C,
...) so that a machine busy with something else slows all arms alike. Printed per arm: the
median rate over rounds, its spread (min-max), the ratio to the first arm, and the medians of
CPU per character of the planning processes, the enqueue process and the server's backends
(the last only for a server on this machine).

Usage: .venv/bin/python perf/planning_scale.py [--arms 2:1,4:2,8:2,12:3] [--characters 50000]
         [--rounds 3] [--pg postgresql://postgres@127.0.0.1:5432/postgres]
An arm is PROCESSES:WRITERS (planning processes as SYNTHREID_PLAN_PROCESSES, and
SYNTHREID_PLAN_WRITERS connections).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from planning import GOAL, REPO, enqueue_once  # noqa: E402

from synthreid.cliutil import available_cores  # noqa: E402


def parse_arms(text: str) -> list[tuple[int, int]]:
    """'2:1,8:2' -> [(2, 1), (8, 2)]; a clear error for anything else."""
    arms = []
    for part in text.split(","):
        try:
            p, w = (int(x) for x in part.split(":"))
        except ValueError:
            raise SystemExit(f"--arms: expected PROCESSES:WRITERS pairs like 2:1,8:2, got {part!r}") from None
        if p < 1 or w < 1:
            raise SystemExit(f"--arms: processes and writers must be >= 1, got {part!r}")
        arms.append((p, w))
    return arms


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arms", default="2:1,4:2,8:2,12:3", help="PROCESSES:WRITERS,... (first = baseline)")
    ap.add_argument("--characters", type=int, default=50_000, help="characters per run (x 10 images)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    arms = parse_arms(args.arms)
    print(
        f"{available_cores()} usable cores; {args.characters:,} characters x 10 images per run; "
        f"{args.rounds} rounds; arms (processes:writers) {args.arms}",
        flush=True,
    )
    runs: dict[tuple[int, int], list[dict]] = {a: [] for a in arms}
    with tempfile.TemporaryDirectory() as d:
        for r in range(args.rounds):
            for p, w in arms:
                out = enqueue_once(REPO, Path(d), args.pg, "Postgres", args.characters, p, w)
                runs[(p, w)].append(out)
                print(f"  round {r + 1}, {p}:{w}: {out['rate']:,.0f} characters/s", flush=True)
    base = statistics.median(x["rate"] for x in runs[arms[0]])
    print(f"{'arm':>7} {'chars/s':>9} {'min-max':>15} {'vs first':>8}  CPU us/char: planning enqueue server")
    for (p, w), rs in runs.items():
        rates = [x["rate"] for x in rs]
        med = statistics.median(rates)
        server = [x["us_server"] for x in rs if x["us_server"] is not None]
        cpu = (
            f"{statistics.median(x['us_planning'] for x in rs):8.0f} "
            f"{statistics.median(x['us_enqueue'] for x in rs):7.0f} "
            + (f"{statistics.median(server):6.0f}" if server else "     -")
        )
        goal = "  >= goal" if med >= GOAL else ""
        print(
            f"{p:>3}:{w:<3} {med:9,.0f} {min(rates):7,.0f}-{max(rates):<7,.0f} {med / base:7.2f}x  {cpu}{goal}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
