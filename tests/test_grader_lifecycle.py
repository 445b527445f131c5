"""The grader as a learner and a CI runner meet it: a hang costs one task, no worker outlives
the grader, what the learner prints is shown, one mistake reads as one message, and the
command line takes what newcomers type."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.grading import ROOT, make_submission

pytestmark = pytest.mark.worker

HANG_SOFTMAX = """
import time

def softmax(x, axis=-1):
    time.sleep(10**6)
"""
ENDLESS_RELU = """
def relu(x):
    while True:
        pass
"""
IGNORES_SIGTERM = """
import signal

def relu(x):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    n = 0
    while True:
        n += 1
"""
FORK_BOMB = """
import os

def relu(x):
    while True:
        os.fork()
"""
PRINTS = """
def relu(x):
    print("relu sees shape", x.shape)
    return _original_relu(x)
"""


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("lifecycle-cache"))


def _grader(*args, tmp=None, cwd=ROOT, **kw):
    env = dict(os.environ)
    if tmp is not None:
        env["TMPDIR"] = str(tmp)  # the worker's scratch home lives here: we can find it
    return subprocess.Popen(
        [sys.executable, "-m", "grader", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _workers_under(tmp: Path) -> list[int]:
    """Live processes whose working folder is under ``tmp`` (the worker and its children)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
            with open(f"/proc/{pid}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if cwd.startswith(str(tmp)) and state != "Z":
            found.append(int(pid))
    return found


@pytest.mark.parametrize(
    "code, task", [(HANG_SOFTMAX, "softmax"), (ENDLESS_RELU, "relu"), (IGNORES_SIGTERM, "relu")]
)
def test_a_hanging_task_costs_its_own_checks_once(code, task, tmp_path, cache):
    folder = make_submission(tmp_path, "q10", [code])
    t0 = time.monotonic()
    proc = _grader(str(folder), "--format", "json", "--cache-dir", cache, tmp=tmp_path)
    out, err = proc.communicate(timeout=240)
    seconds = time.monotonic() - t0
    doc = json.loads(out)
    mine = [t for t in doc["tests"] if t["task"] == task]
    others = [t for t in doc["tests"] if t["task"] != task]
    assert {t["grader_status"] for t in mine} == {"timeout"}
    assert sum("no result within" in t["output"] for t in mine) == 1  # detected once
    assert all(t["grader_status"] == "pass" for t in others), [
        (t["name"], t["output"]) for t in others if t["grader_status"] != "pass"
    ]
    assert doc["score"] == sum(t["max_score"] for t in others) > 0
    assert seconds < 90, f"one hanging task took {seconds:.0f} s"
    assert _workers_under(tmp_path) == []


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_no_worker_outlives_the_grader(how, tmp_path, cache):
    folder = make_submission(tmp_path, "q10", [ENDLESS_RELU])
    proc = _grader(str(folder), "--cache-dir", cache, tmp=tmp_path)
    deadline = time.monotonic() + 60
    while not _workers_under(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _workers_under(tmp_path), "the worker never started"
    time.sleep(3)  # well inside grading: the worker is busy in the endless loop
    proc.send_signal(how)
    out, _ = proc.communicate(timeout=30)
    deadline = time.monotonic() + 5
    while _workers_under(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _workers_under(tmp_path) == []
    if how == signal.SIGTERM:  # the results found so far, marked incomplete
        assert "INCOMPLETE" in out and "score" in out
        assert proc.returncode == 1


def test_a_fork_bomb_costs_its_own_checks_and_starves_no_one(tmp_path, cache):
    """Graded beside an honest submission (as an instructor's --jobs would): the bomb's checks
    fail with the error the learner caused (not a crash of the grader's own threads), its
    processes are killed, the other grading loses nothing, and nothing is left behind."""
    bomb = make_submission(tmp_path / "bomb", "q10", [FORK_BOMB])
    args = ("--task", "relu", "--format", "json", "--cache-dir", cache)
    honest = _grader(str(ROOT / "solutions" / "q10"), *args, tmp=tmp_path)
    attack = _grader(str(bomb), *args, tmp=tmp_path)
    docs = [json.loads(p.communicate(timeout=180)[0]) for p in (honest, attack)]
    assert docs[0]["score"] == docs[0]["max_score"] > 0
    statuses = [t["grader_status"] for t in docs[1]["tests"]]
    assert "error" in statuses and set(statuses) <= {"error"}, statuses
    assert any("too many processes" in t["output"] for t in docs[1]["tests"])
    assert any("killed" in n for n in docs[1]["submissions"][0]["notes"])
    assert _workers_under(tmp_path) == []


def test_what_a_task_prints_is_shown_under_it(tmp_path, cache):
    folder = make_submission(tmp_path, "q10", [PRINTS])
    proc = _grader(str(folder), "--task", "relu", "--cache-dir", cache)
    out, _ = proc.communicate(timeout=120)
    assert "relu printed:" in out and "| relu sees shape" in out
    proc = _grader(str(folder), "--task", "relu", "--format", "json", "--cache-dir", cache)
    doc = json.loads(proc.communicate(timeout=120)[0])
    assert "[relu printed]" in doc["output"] and "relu sees shape" in doc["output"]


def test_a_syntax_error_is_reported_once(tmp_path, cache):
    folder = make_submission(tmp_path, "q10", [])
    path = folder / "activations.py"
    path.write_text(path.read_text().replace("def relu(x", "def relu(x,,", 1))
    out, _ = _grader(str(folder), "--cache-dir", cache).communicate(timeout=120)
    assert out.count("syntax error") == 1, out
    assert "all 48 checks" in out


def test_newcomer_targets_and_options(tmp_path, cache):
    folder = make_submission(tmp_path, "q10", [])
    for args, cwd in [((".",), folder), (("activations.py",), folder)]:
        proc = _grader(*args, "--task", "relu", "--cache-dir", cache, cwd=cwd)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
    other = tmp_path / "my-work"
    folder.rename(other)
    proc = _grader(str(other), "--exercise", "q10", "--task", "relu", "--cache-dir", cache)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    proc = _grader("q10", "--salt", "s3cret")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "--salt only applies with --instructor" in err
    import jax

    if not any(d.platform == "gpu" for d in jax.devices()):
        proc = _grader("q10", "--device", "gpu")
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 2 and len(err.strip().splitlines()) == 1
        assert "jax[cuda12]" in err and "Traceback" not in err
