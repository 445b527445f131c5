"""The learner's tools as a learner meets them: status, watch, hints in tiers, reset, the
summary and solution diff at 100%, colours and the progress line on a terminal.

Every command runs as a subprocess in a scratch copy of the exercises (a folder named
``exercises``, as in a learner's clone), with its own cache folder, so the learner's real
progress is never touched.
"""

from __future__ import annotations

import ast
import json
import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from grader.spec import available_exercises, load_spec
from tests.grading import ROOT, live_processes, splice

HINTS = """# q10 hints

## softmax
### 1
Look at what exp does to a large input.
### 2
A shift of every entry of a row leaves softmax unchanged.

```python
# a comment in code, not a heading
m = x.max(axis, keepdims=True)
```
### 3
Subtract the row's max before exp, then divide by the sum.

## relu
### 1
Zero for negative inputs, the input itself otherwise.
"""


def _run(*args, cwd, env=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "grader", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def _clean_env(tmp_path) -> dict:
    """The grader's environment for a test: its own cache, hints and temporary folders."""
    hints = tmp_path / "hints"
    hints.mkdir(exist_ok=True)
    (hints / "q10.md").write_text(HINTS)
    return {
        "DLCORE_GRADER_CACHE": str(tmp_path / "cache"),
        "DLCORE_HINTS_DIR": str(hints),
        "PYTHONPATH": str(ROOT),
    }


def _learner_copy(tmp_path) -> Path:
    """A learner's checkout: every exercise folder with its stubs, under ``exercises/``."""
    home = tmp_path / "home"
    shutil.copytree(ROOT / "exercises", home / "exercises")
    return home


def _function(path: Path, name: str) -> str:
    source = path.read_text()
    node = next(
        n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == name
    )
    return ast.get_source_segment(source, node)


def _one_line_error(proc, *words):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("grader: "), err
    assert "Traceback" not in proc.stdout + proc.stderr
    for w in words:
        assert w in err, err


# ---- the course map and status ------------------------------------------------------------


def _course_rows() -> list[list[str]]:
    rows = []
    for line in (ROOT / "COURSE.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and re.fullmatch(r"q\d\d", cells[0]):
            rows.append(cells)
    return rows


def test_course_map_lists_all_28_exercises_with_their_spec_titles():
    rows = _course_rows()
    assert [r[0] for r in rows] == [f"q{n:02d}" for n in range(1, 29)]
    have = set(available_exercises())
    for ex, title, teaches, state in rows:
        assert teaches, ex
        assert state == ("available" if ex in have else "coming"), ex
        if ex in have:
            assert title == load_spec(ex).title, ex


def test_status_with_no_grading_yet_lists_the_course_and_points_to_the_first(tmp_path):
    home = _learner_copy(tmp_path)
    env = _clean_env(tmp_path)
    status = _run("status", cwd=home, env=env)
    bare = _run(cwd=home, env=env)  # no argument at all: the same page
    assert status.returncode == 0 and bare.returncode == 0, status.stderr + bare.stderr
    assert status.stdout == bare.stdout
    listed = [line.split() for line in status.stdout.splitlines() if re.match(r"  q\d\d ", line)]
    assert [w[0] for w in listed] == [r[0] for r in _course_rows()]
    have = available_exercises()
    for words in listed:
        assert (words[-1] == "coming") == (words[0] not in have), words
        if words[0] in have:
            assert " ".join(words[-2:]) == "not started"
            assert " ".join(words[1:-2]) == load_spec(words[0]).title
    assert status.stdout.strip().splitlines()[-1] == f"next: python -m grader exercises/{have[0]}"
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.json"))


# ---- hints ----------------------------------------------------------------------------------


def test_hints_come_one_tier_at_a_time_and_are_remembered(tmp_path):
    home = _learner_copy(tmp_path)
    env = _clean_env(tmp_path)
    tiers = ["Look at what exp does", "A shift of every entry", "Subtract the row's max"]
    for n, start in enumerate(tiers, 1):
        proc = _run("hint", "q10", "softmax", cwd=home, env=env)
        assert proc.returncode == 0, proc.stderr
        assert f"q10 softmax: hint {n} of 3" in proc.stdout
        assert start in proc.stdout and all(t not in proc.stdout for t in tiers if t != start)
        state = json.loads((tmp_path / "cache" / "progress" / "hints.json").read_text())
        assert state["q10/softmax"] == n
    assert (
        "# a comment in code, not a heading"
        in _run("hint", "q10", "softmax", "--tier", "2", cwd=home, env=env).stdout
    )
    more = _run("hint", "q10", "softmax", cwd=home, env=env)
    assert more.returncode == 0 and "no more hints for q10 softmax" in more.stdout
    again = _run("hint", "q10", "softmax", "--all", cwd=home, env=env)
    assert all(t in again.stdout for t in tiers)
    listing = _run("hint", "q10", cwd=home, env=env).stdout
    assert "softmax: 3 of 3 shown" in listing and "relu: 0 of 1 shown" in listing
    _one_line_error(_run("hint", "q10", "softmaxx", cwd=home, env=env), "softmaxx", "softmax")
    _one_line_error(_run("hint", "q77", "relu", cwd=home, env=env), "q77")
    none = _run("hint", "q10", "sigmoid", cwd=home, env=env)
    assert none.returncode == 1 and "no hints for q10 sigmoid" in none.stderr


# ---- reset ----------------------------------------------------------------------------------


def test_reset_backs_up_then_restores_one_task_or_the_whole_file(tmp_path):
    home = _learner_copy(tmp_path)
    env = _clean_env(tmp_path)
    mine = home / "exercises" / "q10" / "activations.py"
    solved = (ROOT / "solutions" / "q10" / "activations.py").read_text() + "# my own note\n"
    mine.write_text(solved)
    # backups already there for the next seconds are never overwritten
    now = time.time()
    taken = {}
    for k in range(-1, 8):
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now + k))
        taken[mine.with_name(f"activations.py.bak-{stamp}")] = f"older backup {k}\n"
    for path, text in taken.items():
        path.write_text(text)

    proc = _run("reset", "q10", "--task", "relu", cwd=home, env=env)
    assert proc.returncode == 0, proc.stderr
    saved = re.search(r"saved your activations.py as (\S+)", proc.stdout)
    assert saved, proc.stdout
    backup = home / saved.group(1)
    assert backup.read_text() == solved
    assert all(p.read_text() == t for p, t in taken.items())
    stub = ROOT / "exercises" / "q10" / "activations.py"
    text = mine.read_text()
    assert _function(mine, "relu") == _function(stub, "relu")
    for other in ("softmax", "gelu"):  # the learner's other work stays
        assert _function(mine, other) == _function(
            ROOT / "solutions" / "q10" / "activations.py", other
        )
    assert text.endswith("# my own note\n")

    whole = _run("reset", "exercises/q10", cwd=home, env=env)
    assert whole.returncode == 0, whole.stderr
    assert mine.read_text() == stub.read_text()
    second = home / re.search(r"saved your activations.py as (\S+)", whole.stdout).group(1)
    assert second != backup and second.read_text() == text and backup.read_text() == solved


def test_reset_refuses_solutions_unknown_names_and_unparsable_files(tmp_path):
    home = _learner_copy(tmp_path)
    env = _clean_env(tmp_path)
    shutil.copytree(ROOT / "solutions" / "q10", home / "solutions" / "q10")
    reference = (home / "solutions" / "q10" / "activations.py").read_text()
    _one_line_error(_run("reset", "solutions/q10", cwd=home, env=env), "solution")
    assert (home / "solutions" / "q10" / "activations.py").read_text() == reference
    _one_line_error(_run("reset", "q10", "--task", "relux", cwd=home, env=env), "relux")
    _one_line_error(_run("reset", "q55", cwd=home, env=env), "q55")
    mine = home / "exercises" / "q10" / "activations.py"
    broken = mine.read_text().replace("def relu(x", "def relu(x,,", 1)
    mine.write_text(broken)
    _one_line_error(_run("reset", "q10", "--task", "softmax", cwd=home, env=env), "line")
    assert mine.read_text() == broken and sorted(p.name for p in mine.parent.iterdir()) == [
        "README.md",
        "activations.py",
    ]


# ---- the text report ------------------------------------------------------------------------


def _pty_run(args, cwd, env, timeout=60):
    """Runs the grader with stdout and stderr on two terminals; returns (rc, out, err)."""
    out_m, out_s = pty.openpty()
    err_m, err_s = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "grader", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=out_s,
        stderr=err_s,
    )
    os.close(out_s)
    os.close(err_s)
    readers = [_Reader(out_m), _Reader(err_m)]
    rc = proc.wait(timeout=timeout)
    for r in readers:
        r.done.wait(5)
    return rc, readers[0].text(), readers[1].text()


class _Reader:
    """Collects what a terminal's master side receives, on a thread."""

    def __init__(self, fd):
        self.fd, self.data, self.done = fd, bytearray(), threading.Event()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            self.data += chunk
        os.close(self.fd)
        self.done.set()

    def text(self) -> str:
        return bytes(self.data).decode("utf-8", "replace").replace("\r\n", "\n")

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while len(re.findall(pattern, self.text())) < count:
            assert time.monotonic() < deadline, f"no {pattern!r} after {timeout} s:\n{self.text()}"
            assert not self.done.is_set() or len(re.findall(pattern, self.text())) >= count, (
                self.text()
            )
            time.sleep(0.1)
        return self.text()


def test_colours_only_on_a_terminal_and_never_with_no_color(tmp_path):
    home = _learner_copy(tmp_path)
    env = {**os.environ, **_clean_env(tmp_path)}
    mine = home / "exercises" / "q10" / "activations.py"
    mine.write_text(mine.read_text().replace("def relu(x", "def relu(x,,", 1))  # no worker needed
    rc, out, _ = _pty_run(["exercises/q10"], home, {**env, "NO_COLOR": ""})
    assert rc == 1 and "\x1b[1mq10" in out and "syntax error" in out
    rc, out, _ = _pty_run(["exercises/q10"], home, {**env, "NO_COLOR": "1"})
    assert rc == 1 and "\x1b" not in out and "syntax error" in out
    piped = _run("exercises/q10", cwd=home, env={**_clean_env(tmp_path), "NO_COLOR": ""})
    assert piped.returncode == 1 and "\x1b" not in piped.stdout + piped.stderr


def test_more_help_names_the_hint_command_once_per_failing_task(tmp_path, monkeypatch):
    from grader.report import terminal
    from grader.results import CheckResult, ExerciseResult

    monkeypatch.setenv("DLCORE_HINTS_DIR", _clean_env(tmp_path)["DLCORE_HINTS_DIR"])

    def check(task, prop, status):
        return CheckResult(
            f"{task}: {prop}",
            f"{task}/{prop}",
            task,
            "k",
            "d",
            status,
            1.0,
            "" if status == "pass" else f"{prop} differs",
        )

    checks = [
        check("softmax", "a", "wrong"),
        check("softmax", "b", "error"),
        check("relu", "a", "pass"),
        check("sigmoid", "a", "wrong"),
        check("log_softmax", "a", "not_implemented"),
    ]
    text = terminal(
        [ExerciseResult("q10", "Activation functions", "exercises/q10", checks)], color=False
    )
    assert text.count("more help: python -m grader hint q10 softmax") == 1
    assert "hint q10 relu" not in text and "hint q10 sigmoid" not in text
    passing = ExerciseResult(
        "q10", "Activation functions", "exercises/q10", [check("relu", p, "pass") for p in "abc"]
    )
    assert [ln for ln in terminal([passing], color=False).splitlines() if "PASS" in ln] == [
        "  PASS      all 3 checks of relu pass (-v lists them)"
    ]
    listed = terminal([passing], color=False, verbose=True)
    assert [ln.split()[1] for ln in listed.splitlines() if "PASS" in ln] == ["relu:"] * 3


def test_the_solution_is_never_shown_in_instructor_mode_or_for_solutions(tmp_path):
    import types

    from grader import course
    from grader.results import CheckResult, ExerciseResult

    spec = load_spec("q03")
    checks = [
        CheckResult(c.name, c.id, c.task, c.kind, "", "pass", float(c.weight)) for c in spec.checks
    ]
    mine = _learner_copy(tmp_path) / "exercises" / "q03"
    opts = types.SimpleNamespace(cache_dir=str(tmp_path / "cache"), instructor=False)
    result = ExerciseResult("q03", spec.title, str(mine), checks)
    course.record([result], opts)
    shown = course.after_report([result], opts)[0]
    assert any(line.startswith("reference solution: ") for line in shown)
    teacher = types.SimpleNamespace(cache_dir=str(tmp_path / "cache"), instructor=True)
    assert course.after_report([result], teacher) == [[]]
    reference = ExerciseResult("q03", spec.title, str(ROOT / "solutions" / "q03"), checks)
    assert course.after_report([reference], opts) == [[]]


# ---- gradings with a worker -----------------------------------------------------------------


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("learner-cache"))


def _workers_under(tmp: Path) -> list[int]:
    """Live grader workers whose scratch folder (their working folder) is under ``tmp``:
    spawned (grader/worker.py) or forked by the fork server (its command line)."""
    return [p.pid for p in live_processes() if p.cwd.startswith(str(tmp))
            and (b"grader/worker.py" in p.cmdline or b"grader/forkserver.py" in p.cmdline)]


@pytest.mark.worker
def test_watch_regrades_on_save_and_ctrl_c_leaves_no_worker(tmp_path, cache):
    home = _learner_copy(tmp_path)
    scratch = tmp_path / "scratch"  # the workers' homes: how we find them
    scratch.mkdir()
    env = {**os.environ, **_clean_env(tmp_path), "TMPDIR": str(scratch), "NO_COLOR": ""}
    mine = home / "exercises" / "q10" / "activations.py"
    stub = mine.read_text()
    mine.write_text(splice(stub, "def relu(x):\n    return x\n"))  # wrong for x < 0

    out_m, out_s = pty.openpty()
    err_m, err_s = pty.openpty()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "grader",
            "exercises/q10",
            "--watch",
            "--task",
            "relu",
            "--cache-dir",
            cache,
        ],
        cwd=home,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=out_s,
        stderr=err_s,
        start_new_session=True,
    )
    os.close(out_s)
    os.close(err_s)
    out, err = _Reader(out_m), _Reader(err_m)
    relu = [c for c in load_spec("q10").checks if c.task == "relu"]
    try:
        first = out.wait_for("save to grade again")
        assert "\x1b[H\x1b[2J" in first and "\x1b[" in first.replace("\x1b[H\x1b[2J", "")
        assert "WRONG" in first and "more help: python -m grader hint q10 relu" in first
        assert re.search(rf"q10: \d+/{len(relu)} checks", err.text()), err.text()
        passing = int(re.search(r"score \S+: (\d+) of", first).group(1))
        assert passing < len(relu)

        solved = _function(ROOT / "solutions" / "q10" / "activations.py", "relu")
        mine.write_text(splice(stub, "import jax\nimport jax.numpy as jnp\n" + solved))
        second = out.wait_for("save to grade again", 2).split("\x1b[H\x1b[2J")[-1]
        block = second.split("since the last verdict")[1].split("save to grade again")[0]
        assert f"newly passing\x1b[0m ({len(relu) - passing}):" in block, block
        assert "newly failing" not in block
        listed = [ln.strip() for ln in block.splitlines() if ln.startswith("    ")]
        assert len(listed) == len(relu) - passing and set(listed) <= {c.name for c in relu}

        # a third save, and Ctrl-C while that grading runs
        mine.write_text(mine.read_text() + "# saved once more\n")
        deadline = time.monotonic() + 60
        while not _workers_under(scratch):
            assert time.monotonic() < deadline, "the third grading never started a worker"
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)
        rc = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    out.done.wait(5)
    err.done.wait(5)
    assert rc == 0, out.text()[-2000:] + err.text()[-2000:]  # the last verdict passed
    assert "Traceback" not in out.text() + err.text()
    assert "stopped watching" in err.text()
    deadline = time.monotonic() + 5
    while _workers_under(scratch) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _workers_under(scratch) == []

    # the watch's gradings were kept: status shows q10's standing without grading
    status = _run("status", "--cache-dir", cache, cwd=home, env=_clean_env(tmp_path))
    row = next(ln for ln in status.stdout.splitlines() if ln.startswith("  q10 "))
    total = sum(c.weight for c in load_spec("q10").checks)
    assert row.split()[-1] == f"{sum(c.weight for c in relu):g}/{total:g}", row


@pytest.mark.worker
def test_at_100_percent_a_summary_the_solution_diff_and_the_next_exercise(tmp_path):
    home = _learner_copy(tmp_path)
    env = _clean_env(tmp_path)
    mine = home / "exercises" / "q03" / "timing.py"
    reference = ROOT / "solutions" / "q03" / "timing.py"
    ref_text = reference.read_text()
    changed = ref_text.replace(
        "    return float(np.median(times))\n",
        "    middle = np.median(times)\n    return float(middle)\n",
    )
    assert changed != ref_text
    mine.write_text(changed)
    proc = _run("exercises/q03", cwd=home, env=env, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    spec = load_spec("q03")
    out = proc.stdout
    assert [ln for ln in out.splitlines() if "PASS" in ln] == [
        f"  PASS      all {len(spec.checks)} checks of {len(spec.tasks)} tasks pass (-v lists them)"
    ]
    where = re.search(r"^reference solution: (\S+)$", out, re.M)
    assert where and (home / where.group(1)).resolve() == reference.resolve()
    assert "-    middle = np.median(times)" in out
    assert "+    return float(np.median(times))" in out
    order = [ex for ex in available_exercises()]
    assert out.strip().splitlines()[-1] == (
        f"next: python -m grader exercises/{order[order.index('q03') + 1]}"
    )
    assert "\x1b" not in out + proc.stderr and "checks" not in proc.stderr  # piped: plain

    stored = json.loads((tmp_path / "cache" / "progress" / "results" / "q03.json").read_text())
    assert Path(stored["folder"]) == mine.parent
    status = _run("status", cwd=home, env=env)
    row = next(ln for ln in status.stdout.splitlines() if ln.startswith("  q03 "))
    assert row.split()[-1] == "done"
    assert status.stdout.strip().splitlines()[-1] == f"next: python -m grader exercises/{order[0]}"
