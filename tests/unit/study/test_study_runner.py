"""Running studies: cached steps, re-running only what changed, resuming after interruptions."""

import shutil

import pytest

from synthreid.errors import DatasetError
from synthreid.study.cache import DONE
from synthreid.study.runner import run_study
from synthreid.study.spec import load_study
from synthreid.study.steps import StudyError

from .study_fixtures import ARMS, study_text, write_study

TESTS = """
[[test_sets]]
name = "real"
path = "real"
"""
NO_BASELINES = "[baselines]\nchance = false\nuntrained = false\nhandcrafted = false\nreal_anchor = false\n"


def load(folder, arms=ARMS, tests=TESTS, extra=NO_BASELINES, seeds="[0]"):
    return load_study(write_study(folder, study_text(arms, tests, seeds=seeds, extra=extra)))


def executed(outcome):
    return sorted((s.stage, s.arm, s.seed, s.test) for s in outcome.executed)


def test_second_run_executes_nothing(data):
    spec = load(data, extra="")
    first = run_study(spec, data / "out", progress=False, stream=None)
    # A and B and the anchor real-real: train + evaluate each; chance, hand-crafted, untrained
    assert len(first.executed) == 9
    again = run_study(load(data, extra=""), data / "out", progress=False, stream=None)
    assert again.executed == []
    assert again.records.keys() == first.records.keys()


def test_changing_one_arm_reruns_only_that_arm(data):
    run_study(load(data), data / "out", progress=False, stream=None)
    changed = load(data, arms=ARMS.replace('path = "b"', 'path = "b"\nrecipe = { lr = 0.02 }'))
    assert executed(run_study(changed, data / "out", progress=False, stream=None)) == [
        ("evaluate", "B", 0, "real"),
        ("train", "B", 0, None),
    ]
    # another folder with the same content is the same input: nothing to do
    shutil.copytree(data / "a", data / "a-copy")
    moved = load(
        data,
        arms=ARMS.replace('path = "a"', 'path = "a-copy"').replace(
            'path = "b"', 'path = "b"\nrecipe = { lr = 0.02 }'
        ),
    )
    assert run_study(moved, data / "out", progress=False, stream=None).executed == []
    # one changed image of B's data re-runs B (its content key changed), not A
    img = sorted((data / "b" / "bounding_box_train").iterdir())[0]
    img.write_bytes(
        (
            data / "c" / "bounding_box_train" / sorted((data / "c" / "bounding_box_train").iterdir())[0].name
        ).read_bytes()
    )
    assert [a for _, a, _, _ in executed(run_study(moved, data / "out", progress=False, stream=None))] == [
        "B",
        "B",
    ]


def test_adding_a_seed_and_a_test_set_runs_only_the_new_steps(data):
    run_study(load(data), data / "out", progress=False, stream=None)
    more = load(data, seeds="[0, 1]", tests=TESTS + '\n[[test_sets]]\nname = "other"\npath = "c"\n')
    got = executed(run_study(more, data / "out", progress=False, stream=None))
    assert ("train", "A", 0, None) not in got and ("train", "B", 0, None) not in got
    assert sorted(got) == sorted(
        [
            ("train", "A", 1, None),
            ("train", "B", 1, None),
            ("evaluate", "A", 0, "other"),
            ("evaluate", "B", 0, "other"),
            ("evaluate", "A", 1, "real"),
            ("evaluate", "B", 1, "real"),
            ("evaluate", "A", 1, "other"),
            ("evaluate", "B", 1, "other"),
        ]
    )


def test_interrupted_after_its_work_a_step_is_not_marked_done_and_resumes(data):
    spec = load(data)

    def interrupt(step, phase):
        if step.stage == "train" and step.arm == "B" and phase == "finished":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study(spec, data / "out", progress=False, stream=None, hook=interrupt)
    train_b = next(
        p
        for p in (data / "out" / "cache" / "train").iterdir()
        if '"arm": "B"' in (p / "step.json").read_text()
    )
    assert (train_b / "run" / "checkpoints" / "last.pt").is_file()  # the work was done ...
    assert not (train_b / DONE).exists()  # ... but the step is not done
    # the data moved meanwhile: same content, same step, and the half-done run still resumes
    shutil.move(data / "b", data / "b-moved")
    spec = load(data, arms=ARMS.replace('path = "b"', 'path = "b-moved"'))
    resumed = run_study(spec, data / "out", progress=False, stream=None)
    assert executed(resumed) == [("evaluate", "B", 0, "real"), ("train", "B", 0, None)]
    assert (train_b / DONE).is_file()
    assert (data / "out" / "report.md").is_file()


def test_a_real_failure_mid_run_keeps_finished_steps(data):
    spec = load(data)

    def remove_test_set(step, phase):
        if step.stage == "evaluate" and step.arm == "B" and phase == "start":
            shutil.move(data / "real", data / "real-away")

    with pytest.raises(StudyError, match=r"^evaluate · arm B · seed 0 · on real failed: DatasetError") as exc:
        run_study(spec, data / "out", progress=False, stream=None, hook=remove_test_set)
    assert isinstance(exc.value.__cause__, DatasetError)
    assert not (data / "out" / "report.md").exists()
    shutil.move(data / "real-away", data / "real")
    assert executed(run_study(spec, data / "out", progress=False, stream=None)) == [
        ("evaluate", "B", 0, "real")
    ]


def test_one_study_at_a_time_per_output_folder(data):
    import os

    spec = load(data)
    (data / "out").mkdir()
    (data / "out" / "study.lock").write_text(str(os.getpid()))  # a live process holds it
    with pytest.raises(StudyError, match="another study"):
        run_study(spec, data / "out", progress=False, stream=None)
    assert not (data / "out" / "cache").exists()
    (data / "out" / "study.lock").write_text("999999999")  # left by a process that is gone
    assert len(run_study(spec, data / "out", progress=False, stream=None).executed) == 4
    assert not (data / "out" / "study.lock").exists()


def test_plan_lists_steps_and_runs_nothing(data, capsys):
    from synthreid.cli import main

    path = write_study(data, study_text(ARMS, TESTS, extra=NO_BASELINES))
    assert main(["study", str(path), "--out", str(data / "out"), "--plan"]) == 0
    text = capsys.readouterr().out
    assert text.count("todo") == 4 and "train · arm A · seed 0" in text and "4 steps to run" in text
    assert not list((data / "out").glob("cache/*/*/done.json"))


def test_a_mix_trains_on_its_parts_and_follows_their_changes(data):
    mix = ARMS + '\n[[arms]]\nname = "AB"\nkind = "mix"\narms = ["A", "B"]\nratio = [1, 3]\n'
    first = run_study(load(data, arms=mix), data / "out", progress=False, stream=None)
    (train_ab,) = [s for s in first.steps if s.stage == "train" and s.arm == "AB"]
    state = (data / "out" / "cache" / "train" / train_ab.key / "run" / "state.json").read_text()
    assert str(data / "a") in state and str(data / "b") in state  # both parts' data trained it
    changed = load(data, arms=mix.replace('path = "b"', 'path = "b"\nrecipe = { lr = 0.02 }'))
    assert executed(run_study(changed, data / "out", progress=False, stream=None)) == [
        ("evaluate", "B", 0, "real"),
        ("train", "B", 0, None),
    ]  # the mix's recipe did not change
    img = sorted((data / "b" / "bounding_box_train").iterdir())[0]
    img.write_bytes(img.read_bytes() + b"\0")
    assert {a for _, a, _, _ in executed(run_study(changed, data / "out", progress=False, stream=None))} == {
        "B",
        "AB",
    }
