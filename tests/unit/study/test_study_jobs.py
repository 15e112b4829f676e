"""`synthreid study --jobs N`: steps side by side in worker processes, in dependency order,
with the same numbers, the same cache and the same resume as one after another."""

import dataclasses
import io
import multiprocessing
import os
import shutil
import time

import pytest

from synthreid.study.cache import DONE, StepCache
from synthreid.study.pool import Done, Failed, WorkerError, WorkerPool
from synthreid.study.runner import run_study, step_demand
from synthreid.study.schedule import Demand, ScheduleError, Scheduler, estimate
from synthreid.study.spec import StudySpecError, load_study
from synthreid.study.steps import StudyError, plan

from .study_fixtures import ARMS, study_text, write_study
from .test_study_reuse import ARM as RENDER_ARM
from .test_study_reuse import arm_spec, fake_render

TESTS = '\n[[test_sets]]\nname = "real"\npath = "real"\n'
NO_BASELINES = "[baselines]\nchance = false\nuntrained = false\nhandcrafted = false\nreal_anchor = false\n"


def load(folder, arms=ARMS, extra=NO_BASELINES, name="study.toml"):
    return load_study(write_study(folder, study_text(arms, TESTS, extra=extra), name=name))


def ids(steps):
    return sorted((s.stage, s.arm, s.seed, s.test) for s in steps)


class Watch:
    """A hook that checks, at every step start, that the step's inputs are done, and records
    which steps were running side by side (the study calls it in its own process)."""

    def __init__(self, out):
        self.cache = StepCache(out / "cache")
        self.running: dict = {}
        self.most = 0
        self.renders_alone = True
        self.order: list = []

    def __call__(self, step, phase):
        sid = (step.stage, step.key)
        if phase == "start":
            for stage, key in step.after:
                assert self.cache.record(stage, key) is not None, f"{step.label} started before {stage}"
            if step.stage == "evaluate":
                assert os.path.isdir(os.path.join(step.params["run_dir"], "checkpoints"))
            if step.stage == "render" and self.running:
                self.renders_alone = False
            if any(s.stage == "render" for s in self.running.values()):
                self.renders_alone = False
            self.running[sid] = step
            self.most = max(self.most, len(self.running))
            self.order.append(("start", step.stage, step.arm))
        else:
            del self.running[sid]
            self.order.append(("finished", step.stage, step.arm))


# ---- the schedule (pure logic) -------------------------------------------------------------------


def test_a_step_starts_only_after_its_inputs_and_within_the_cores():
    order = ["r", "t1", "t2", "e1", "e2", "b"]
    deps = {"t1": ["r"], "t2": ["r"], "e1": ["t1"], "e2": ["t2"]}
    demand = {"r": Demand(2, exclusive=True)}
    s = Scheduler(order, deps, demand, jobs=2)
    assert s.startable() == ["r"]  # the render is ready and runs alone, before the baseline "b"
    s.start("r")
    assert s.startable() == []
    s.finish("r")
    assert s.startable() == ["t1", "t2"]
    s.start("t1")
    s.start("t2")
    assert s.startable() == []  # both cores busy; e1 waits for t1 anyway
    s.finish("t2")
    assert s.startable() == ["e2"]
    s.start("e2")
    s.finish("t1")
    assert s.startable() == ["e1"]


def test_exclusive_steps_wait_for_the_running_ones_and_nothing_starts_beside_them():
    s = Scheduler(["a", "b", "r"], {}, {"r": Demand(2, exclusive=True)}, jobs=4)
    assert s.startable() == ["r"]
    s = Scheduler(["a", "r2", "b"], {"r2": ["a"]}, {"r2": Demand(1, exclusive=True)}, jobs=4)
    assert s.startable() == ["a", "b"]
    s.start("a")
    s.start("b")
    s.finish("a")
    assert s.startable() == []  # r2 is ready: it waits until b has finished
    s.finish("b")
    assert s.startable() == ["r2"]


def test_gpu_locks_and_large_steps():
    gpu = Demand(1, gpu=True)
    s = Scheduler(["g1", "g2", "c"], {}, {"g1": gpu, "g2": gpu}, jobs=4)
    assert s.startable() == ["g1", "c"]  # one step on the GPU at a time
    lock = Demand(1, lock="run")
    s = Scheduler(["e1", "e2", "e3"], {}, {"e1": lock, "e2": lock}, jobs=4)
    assert s.startable() == ["e1", "e3"]  # two evaluations of one run never overlap
    s = Scheduler(["big", "small"], {}, {"big": Demand(2)}, jobs=3)
    s.start("small")
    s.start("big")
    s = Scheduler(["x", "big", "small"], {}, {"big": Demand(2)}, jobs=3)
    s.start("x")
    s.start("small")
    assert s.startable() == []  # 2 cores needed, 1 free
    with pytest.raises(ScheduleError, match="neither planned nor done"):
        Scheduler(["a"], {"a": ["ghost"]}, {}, jobs=1)
    assert Scheduler(["a"], {"a": ["old"]}, {}, jobs=1, done={"old"}).startable() == ["a"]


def test_the_eta_plays_the_schedule_forward():
    order = ["r", "t1", "t2", "t3", "e1"]
    deps = {"t1": ["r"], "t2": ["r"], "t3": ["r"], "e1": ["t1"]}
    seconds = {"r": 5, "t1": 10, "t2": 10, "t3": 10, "e1": 1}
    demand = {"r": Demand(2, exclusive=True)}
    assert estimate(Scheduler(order, deps, demand, jobs=1), seconds) == 36  # one after another
    # render alone, then t1 t2 | t3 e1 on two cores
    assert estimate(Scheduler(order, deps, demand, jobs=2), seconds) == 5 + 10 + 10
    s = Scheduler(order, deps, demand, jobs=2, done={"r"})
    s.start("t1")
    assert estimate(s, seconds, {"t1": 4}) == 4 + 10  # t1 ends at 4, t2 runs 0-10, t3 4-14
    assert s.running == {"t1": Demand()}  # the scheduler itself is untouched


def test_what_each_step_keeps_busy(data):
    arms = ARMS + '\n[[arms]]\nname = "C"\nkind = "dataset"\npath = "c"\nrecipe = { threads = 2 }\n'
    steps = plan(load(data, arms=arms, extra=""), StepCache(data / "out" / "cache"), _memo(data))
    d = {(s.stage, s.arm): step_demand(s, 2) for s in steps}
    assert d["train", "A"] == Demand(1)  # the fixture recipe: one thread, no loader processes
    assert d["evaluate", "A"].cpus == 1 and d["evaluate", "A"].lock.endswith("run")
    assert d["train", "C"] == Demand(2, exclusive=True)  # two threads: both cores, alone
    assert d["chance", "chance"] == Demand(1) and d["untrained", "untrained tiny"] == Demand(1)
    train_a = next(s for s in steps if s.stage == "train" and s.arm == "A")
    assert not step_demand(train_a, 2, lambda: True).gpu  # device = "cpu"
    auto = dataclasses.replace(
        train_a, params={**train_a.params, "config": {**train_a.params["config"], "device": "auto"}}
    )
    assert step_demand(auto, 2, lambda: True).gpu and not step_demand(auto, 2, lambda: False).gpu
    assert step_demand(train_a, 1) == Demand(1, exclusive=True)  # --jobs 1: all in one process


# ---- worker processes ------------------------------------------------------------------------------


def _fail():
    raise StudySpecError("recipe.lr", "expected a number")  # needs two arguments to unpickle


def _die():
    os._exit(3)


def _block(started, cleaned):
    open(started, "w").close()
    try:
        while True:
            time.sleep(0.01)
    finally:
        open(cleaned, "w").close()


def _threads():
    return os.environ.get("OMP_NUM_THREADS"), os.getpid(), multiprocessing.current_process().daemon


def wait_for(cond, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "state not reached"
        time.sleep(0.02)


def test_workers_return_results_errors_and_deaths(tmp_path):
    pool = WorkerPool(2)
    try:
        pool.submit("a", _threads)
        pool.submit("b", _fail)
        with pytest.raises(WorkerError, match="busy"):
            pool.submit("c", _threads)
        got = {}
        while len(got) < 2:
            got.update({e.key: e for e in pool.wait(60)})
        assert isinstance(got["a"], Done) and got["a"].value[0] == "1"  # one BLAS/OpenMP thread
        assert got["a"].value[1] != os.getpid()
        assert got["a"].value[2] is False  # a step may start processes (DataLoader workers)
        err = got["b"]
        assert isinstance(err, Failed) and isinstance(err.error, WorkerError)
        assert err.error.kind == "StudySpecError" and "recipe.lr" in str(err.error)
        assert "_fail" in err.trace
        pool.submit("d", _die)
        events = []
        while not events:  # a spawned worker may take long to start on a loaded machine
            events = pool.wait(60)
        (dead,) = events
        assert isinstance(dead, Failed) and "died (exit code 3)" in str(dead.error)
    finally:
        pool.close()
    assert multiprocessing.active_children() == []


def test_stopping_interrupts_running_tasks_and_lets_them_clean_up(tmp_path):
    pool = WorkerPool(2)
    pool.submit("x", _block, str(tmp_path / "x.started"), str(tmp_path / "x.cleaned"))
    pool.submit("y", _block, str(tmp_path / "y.started"), str(tmp_path / "y.cleaned"))
    wait_for(lambda: (tmp_path / "x.started").exists() and (tmp_path / "y.started").exists())
    pool.stop()
    assert (tmp_path / "x.cleaned").exists() and (tmp_path / "y.cleaned").exists()
    assert multiprocessing.active_children() == []


# ---- whole studies ---------------------------------------------------------------------------------


def test_jobs_2_gives_the_numbers_of_jobs_1_in_dependency_order(data):
    spec = load(data, extra="[baselines]\nchance_draws = 2\n")
    one = run_study(spec, data / "one", progress=False, stream=None, jobs=1)
    watch = Watch(data / "two")
    lines = io.StringIO()
    two = run_study(spec, data / "two", progress=False, stream=lines, jobs=2, hook=watch)
    assert ids(one.executed) == ids(two.executed) and len(two.executed) == 9
    for name in ("report.csv", "seeds.csv"):
        assert (data / "one" / name).read_text() == (data / "two" / name).read_text()
    assert watch.most == 2  # two steps did run side by side ...
    assert not watch.running  # ... and every started step finished
    assert multiprocessing.active_children() == []  # no worker left behind
    assert two.jobs == 2 and 0 < two.busy_seconds <= two.wall_seconds
    assert two.busy_seconds < two.work_seconds  # time counted once when steps overlapped
    said = lines.getvalue()
    assert "study toy [9/9] " in said and "· 2 running · ETA study " in said  # stage, arm, ETA
    assert "  done train · arm A · seed 0 in " in said  # a worker's step is named when it ends
    text = (data / "two" / "report.md").read_text()
    assert "with up to 2 steps side by side" in text
    # the cache is the same cache: a sequential re-run of the parallel study does nothing
    assert run_study(spec, data / "two", progress=False, stream=None, jobs=1).executed == []


def test_a_render_runs_alone_and_its_readers_wait_for_it(data):
    fake_render(arm_spec(data).replace(name="I"), data / "renders" / "I")
    arms = RENDER_ARM + 'reuse = "renders/I"\n' + ARMS
    watch = Watch(data / "out")
    outcome = run_study(load(data, arms=arms), data / "out", progress=False, stream=None, jobs=2, hook=watch)
    assert {s.stage for s in outcome.executed} == {"render", "train", "evaluate"}
    assert watch.renders_alone
    assert watch.order[:2] == [("start", "render", "I"), ("finished", "render", "I")]
    assert watch.most == 2


def test_an_interrupted_parallel_study_resumes_without_redoing_anything(data):
    spec = load(data)

    trained = []

    def interrupt(step, phase):
        # the second training to end stops the study (the first one's evaluation may be running)
        if step.stage == "train" and phase == "finished":
            trained.append(step.arm)
            if len(trained) == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study(spec, data / "out", progress=False, stream=None, jobs=2, hook=interrupt)
    assert multiprocessing.active_children() == []  # every worker stopped
    cache = data / "out" / "cache"
    done = {p.parent.parent.name + "/" + p.parent.name for p in cache.glob("*/*/done.json")}
    for p in cache.glob("*/*/done.json"):
        assert StepCache(cache).record(p.parent.parent.name, p.parent.name) is not None  # whole
    assert not list(cache.rglob(".*.tmp"))  # no half-written file
    assert not (data / "out" / "report.md").exists()
    resumed = run_study(spec, data / "out", progress=False, stream=None, jobs=2)
    redone = {f"{s.stage}/{s.key}" for s in resumed.executed}
    assert not redone & done  # nothing done is done again ...
    assert redone | done == {f"{s.stage}/{s.key}" for s in resumed.steps}  # ... and the rest is
    assert [s.arm for s in resumed.executed if s.stage == "train"] == trained[1:]
    assert f"train/{next(s.key for s in resumed.steps if s.arm == trained[0])}" in done


def test_a_step_failing_in_a_worker_fails_the_study_and_keeps_the_others(data):
    spec = load(data)
    steps = plan(spec, StepCache(data / "out" / "cache"), _memo(data))
    train_a = next(s for s in steps if s.stage == "train" and s.arm == "A")

    def break_b(step, phase):
        if step.stage == "train" and step.arm == "B" and phase == "start":
            shutil.move(data / "b", data / "b-away")

    with pytest.raises(StudyError, match=r"^train · arm B · seed 0 failed: DatasetError: .*b") as exc:
        run_study(spec, data / "out", progress=False, stream=None, jobs=2, hook=break_b)
    assert exc.value.__cause__ is not None
    assert multiprocessing.active_children() == []
    assert (data / "out" / "cache" / "train" / train_a.key / DONE).is_file()  # ran beside B: kept
    shutil.move(data / "b-away", data / "b")
    again = run_study(spec, data / "out", progress=False, stream=None, jobs=2)
    assert ("train", "A", 0, None) not in ids(again.executed)
    assert ("train", "B", 0, None) in ids(again.executed)


def _memo(data):
    from synthreid.study.fingerprint import FingerprintMemo

    return FingerprintMemo(data / "memo.json")


def test_jobs_in_the_study_file_and_on_the_command_line(data, capsys):
    from synthreid.cli import main

    with pytest.raises(StudySpecError) as exc:
        load_study(write_study(data, "jobs = 0\n" + study_text(ARMS, TESTS)))
    assert exc.value.field == "jobs"
    assert load_study(write_study(data, "jobs = 3\n" + study_text(ARMS, TESTS))).jobs == 3
    path = write_study(data, "jobs = 3\n" + study_text(ARMS, TESTS, extra=NO_BASELINES))
    assert main(["study", str(path), "--out", str(data / "out"), "--plan"]) == 0
    assert "with 3 jobs" in capsys.readouterr().out
    assert main(["study", str(path), "--out", str(data / "out"), "--plan", "--jobs", "1"]) == 0
    assert "with 1 job" in capsys.readouterr().out


def test_ctrl_c_in_a_terminal_stops_the_study_and_every_worker(data):
    """Ctrl-C reaches the whole process group: the study and its workers (a real one, here)."""
    import signal
    import subprocess
    import sys

    path = write_study(data, study_text(ARMS, TESTS, extra=NO_BASELINES))
    code = "import sys; from synthreid.cli import main; sys.exit(main())"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "study", str(path), "--out", str(data / "out"), "--jobs", "2"],
        start_new_session=True,  # its own process group, as a terminal gives a command
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: any((data / "out" / "cache").glob("train/*/run")) or proc.poll() is not None)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)

    def group_gone():
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return True
        return False

    assert proc.returncode == 130, err
    assert "stopped (interrupted)" in err
    wait_for(group_gone)  # no worker outlives the study
    cache = StepCache(data / "out" / "cache")
    done = {f"{p.parent.parent.name}/{p.parent.name}" for p in cache.root.glob("*/*/done.json")}
    assert all(cache.record(*d.split("/")) is not None for d in done)
    assert not (data / "out" / "study.lock").exists()
    resumed = run_study(load(data), data / "out", progress=False, stream=None, jobs=2)
    assert not {f"{s.stage}/{s.key}" for s in resumed.executed} & done
    assert len(resumed.executed) + len(done) == 4
