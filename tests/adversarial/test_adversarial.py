"""The grader against hostile submissions (tests/adversarial/cases.py).

For every case one grader process grades the hostile submission and then an honest copy of
the solution, and the test asserts GRADER.md's promises: the grader exits normally with the
expected code and prints no traceback of its own, the hostile checks have the expected
status and the score is not higher than deserved, the honest submission graded right after
scores 100%, no process is left behind, the grader's files (and its caches) are unchanged,
and nothing the learner printed reaches the report unescaped.

Limits are short (``--task``, ``--check-timeout``, ``--import-timeout``), and the grader
runs of the selected cases are started up front, ``$DLCORE_ADVERSARIAL_JOBS`` (default 2)
at a time, so that the suite takes a few minutes on two cores; each test then waits for its
own run. A case marked ``exclusive`` runs alone. Each run has its own ``TMPDIR``, which its
workers (and whatever they start) carry in their environment: that is how a leftover
process is traced back to its case.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.adversarial.cases import CASES, ITEMS, ROOT, SOLUTION, Case
from tests.grading import splice

# every test here starts grader and worker processes; all in one xdist worker, which runs
# them two at a time itself
pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("adversarial")]
WORKER = str(ROOT / "grader" / "worker.py")
TREES = ("grader", "dlcore", "solutions", "exercises")
SALT = "adversarial-suite-salt"
GRADER_LIMIT_S = 150  # one grader run (a hostile and an honest submission), at most
JOBS = max(1, int(os.environ.get("DLCORE_ADVERSARIAL_JOBS", "2")))


def _grader(args: list[str], tmpdir: Path | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DLCORE_GRADER_SALT"}
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "grader", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    hung = False
    try:
        out, err = proc.communicate(timeout=GRADER_LIMIT_S)
    except subprocess.TimeoutExpired:
        hung = True
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    return {
        "returncode": proc.returncode,
        "stdout": out.decode("utf-8", "replace"),
        "stderr": err.decode("utf-8", "replace"),
        "hung": hung,
        "seconds": time.monotonic() - t0,
    }


# ---- the grader's files and processes -----------------------------------------------------


def _snapshot(cache: Path) -> dict[str, tuple[str, int]]:
    """sha256 and owner of every file of the grader, the library, the solutions and the
    exercises, and of the caches (references, the parent's and the published worker's
    compiled programs)."""
    roots = [ROOT / t for t in TREES] + [cache / d for d in ("refs", "xla-parent", "xla-worker")]
    out = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            try:
                st = path.lstat()
                if path.is_symlink():
                    data = os.readlink(path).encode()
                elif path.is_file():
                    data = path.read_bytes()
                else:
                    continue
            except OSError:  # a cache entry being replaced right now
                continue
            out[str(path)] = (hashlib.sha256(data).hexdigest(), st.st_uid)
    return out


def _changes(before: dict, after: dict) -> list[str]:
    bad = [f"changed: {p}" for p in before if p in after and after[p] != before[p]]
    bad += [f"removed: {p}" for p in before if p not in after]
    for p in sorted(set(after) - set(before)):
        owner = after[p][1]
        in_cache = any(f"/{d}/" in p for d in ("refs", "xla-parent", "xla-worker"))
        # the parent (this user) may add bytecode and cache entries; nothing else may appear
        if owner != os.geteuid() or not (in_cache or "/__pycache__/" in p):
            bad.append(f"new: {p} (owner uid {owner})")
    return bad


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def _processes(tags: list[str]) -> list[tuple[int, str]]:
    """Processes whose command line, environment or working directory mention a tag."""
    found, btags = [], [t.encode() for t in tags]
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        cmd = _read(f"/proc/{name}/cmdline").replace(b"\0", b" ").strip()
        if not cmd:  # a zombie or a kernel thread
            continue
        try:
            cwd = os.readlink(f"/proc/{name}/cwd").encode()
        except OSError:
            cwd = b""
        env = _read(f"/proc/{name}/environ")
        if any(t in cmd or t in env or t in cwd for t in btags):
            found.append((int(name), cmd.decode("utf-8", "replace")))
    return found


def _left_behind(tags: list[str], grace: float = 5.0):
    deadline = time.monotonic() + grace
    while True:
        left = _processes(tags)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def _kill(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


# ---- running the cases --------------------------------------------------------------------


def _build(case: Case, dest: Path) -> None:
    hostile = dest / "a_case" / "q10"
    hostile.mkdir(parents=True)
    target = hostile / SOLUTION.name
    if case.symlink_to is not None:
        target.symlink_to(case.symlink_to)
    elif case.raw is not None:
        target.write_bytes(case.raw)
    elif case.whole_file:
        target.write_text(case.code)
    else:
        target.write_text(splice(SOLUTION.read_text(), case.code))
    for name, text in case.files:
        (hostile / name).write_text(text)
    shutil.copytree(SOLUTION.parent, dest / "b_honest" / "q10")


def _args(case: Case, subs: Path, report: Path, cache: Path) -> list[str]:
    args = [
        str(subs),
        "--format",
        "text",
        "--output",
        str(report),  # a .json --output next to the text report: both are checked
        "--task",
        case.task,
        "--check-timeout",
        f"{case.check_timeout:g}",
        "--import-timeout",
        f"{case.import_timeout:g}",
        "--cache-dir",
        str(cache),
    ]
    return args + (["--instructor", "--salt", SALT] if case.instructor else [])


class _Gate:
    """Up to JOBS runs at once; an exclusive run waits for the others and blocks new ones."""

    def __init__(self):
        self._cond = threading.Condition()
        self._active = 0
        self._waiting_exclusive = 0

    def __call__(self, exclusive: bool):
        gate = self

        class _Hold:
            def __enter__(self):
                with gate._cond:
                    if exclusive:
                        gate._waiting_exclusive += 1
                        gate._cond.wait_for(lambda: gate._active == 0)
                        gate._waiting_exclusive -= 1
                        gate._active = JOBS  # nobody else gets in
                    else:
                        gate._cond.wait_for(
                            lambda: gate._waiting_exclusive == 0 and gate._active < JOBS
                        )
                        gate._active += 1

            def __exit__(self, *exc):
                with gate._cond:
                    gate._active = 0 if exclusive else gate._active - 1
                    gate._cond.notify_all()

        return _Hold()


@dataclasses.dataclass
class Outcome:
    run: dict
    report: dict | None
    left: list
    changes: list
    concurrent: bool

    def where(self) -> str:
        r = self.run
        return (
            f"\n--- stdout ({r['seconds']:.1f} s, exit {r['returncode']})\n{r['stdout'][-4000:]}"
            f"\n--- stderr\n{r['stderr'][-4000:]}"
        )


class _Runs:
    def __init__(self, cache: Path, baseline: dict, base: Path, cases: list[Case]):
        self.cache, self.baseline, self.base = cache, baseline, base
        self.gate = _Gate()
        self.pool = ThreadPoolExecutor(JOBS, thread_name_prefix="adversarial")
        self.futures = {}
        for i, case in enumerate(cases):
            job = base / f"{i:02d}-{case.name}"
            (job / "tmp").mkdir(parents=True)
            os.chmod(job / "tmp", 0o755)
            _build(case, job / "subs")
            self.futures[case.name] = self.pool.submit(self._run, case, job)

    def _run(self, case: Case, job: Path) -> Outcome:
        tags = [str(job)] + ([case.marker] if case.marker else [])
        with self.gate(case.exclusive):
            report = job / "report.json"
            run = _grader(_args(case, job / "subs", report, self.cache), tmpdir=job / "tmp")
            # checked first, before anything else can fail: no process is left behind ...
            left = _left_behind(tags)
            _kill(pid for pid, _ in left)
            # ... and the grader's files and caches are what they were
            changes = _changes(self.baseline, _snapshot(self.cache))
        doc = json.loads(report.read_text()) if report.exists() else None
        return Outcome(run, doc, left, changes, concurrent=JOBS > 1 and not case.exclusive)

    def outcome(self, case: Case) -> Outcome:
        return self.futures[case.name].result()

    def close(self):
        for f in self.futures.values():
            f.cancel()
        self.pool.shutdown(wait=True)


def _selected(session) -> list[Case]:
    out = []
    for item in session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        case = params.get("case")
        if isinstance(case, Case) and not (case.needs_root and os.geteuid() != 0):
            out.append(case)
    return out


@pytest.fixture(scope="session")
def cache(tmp_path_factory) -> Path:
    """A grader cache shared by the suite, warmed by grading the solution once (and once in
    instructor mode, which compiles its references afresh)."""
    path = tmp_path_factory.mktemp("adversarial-cache")
    for extra in ([], ["--instructor", "--salt", SALT]):
        warm = _grader(["solutions/q10", "--task", "relu", "--cache-dir", str(path), *extra])
        assert warm["returncode"] == 0, warm["stdout"][-3000:] + warm["stderr"][-3000:]
    return path


@pytest.fixture(scope="session")
def runs(request, cache, tmp_path_factory):
    runner = _Runs(
        cache, _snapshot(cache), tmp_path_factory.mktemp("adversarial"), _selected(request.session)
    )
    yield runner
    runner.close()


# ---- the suite ----------------------------------------------------------------------------


def test_every_case_of_grader_md_has_a_fixture():
    covered = {c.item for c in CASES}
    assert set(ITEMS) - covered == set()
    assert covered - set(ITEMS) == set()
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)


def _param(case: Case):
    marks = []
    if case.needs_root:
        marks.append(
            pytest.mark.skipif(os.geteuid() != 0, reason="needs root (the worker drops to nobody)")
        )
    return pytest.param(case, id=case.name, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_hostile_submission(case: Case, runs):
    out = runs.outcome(case)
    run, where = out.run, out.where()
    also = " (during this case or one run alongside it)" if out.concurrent else ""

    # no process left behind, the grader's files and caches unchanged
    assert not out.left, f"processes left behind: {out.left}" + where
    assert not out.changes, f"files changed{also}:\n" + "\n".join(out.changes) + where

    # the grader exited normally, with the expected code, and did not crash
    assert not run["hung"], "the grader hung" + where
    assert run["returncode"] == case.exit_code, where
    assert "Traceback" not in run["stderr"], where
    # what the learner printed reaches the report only escaped, and only inside the block
    # that quotes it ("relu printed:" then "| " lines): it can never pass for a report line
    text = run["stdout"]
    for raw in ("\x1b", "\r", "\x07"):
        assert raw not in text, f"raw {raw!r} in the report" + where
    quoted = "            | "
    forged = [ln for ln in text.splitlines() if "48/48" in ln and not ln.startswith(quoted)]
    assert not forged, f"a line the learner printed passes for the report's: {forged}" + where

    doc = out.report
    assert doc is not None, "no JSON report" + where
    subs_by = {("a_case" if "a_case" in s["path"] else "b_honest"): s for s in doc["submissions"]}
    assert set(subs_by) == {"a_case", "b_honest"}, where
    hostile = [t for t in doc["tests"] if "a_case" in t["submission"]]
    honest = [t for t in doc["tests"] if "b_honest" in t["submission"]]
    assert hostile and {t["task"] for t in hostile} == {case.task}, where

    # the verdict: the expected statuses, a clear message, and no more than deserved
    statuses = [t["grader_status"] for t in hostile]
    assert set(statuses) <= set(case.status), f"statuses {statuses}, expected {case.status}" + where
    assert case.status[0] in statuses, f"no {case.status[0]!r} among {statuses}" + where
    failing = [t for t in hostile if t["grader_status"] != "pass"]
    if case.message:
        first = failing[0]["output"] if failing else None
        assert first and re.search(case.message, first), (
            f"message {first!r} does not match {case.message!r}" + where
        )
    for t in failing:
        assert t["output"].strip(), f"{t['name']}: a failing check must say why" + where
    if case.note:
        notes = subs_by["a_case"]["notes"]
        assert any(re.search(case.note, n) for n in notes), f"notes {notes}" + where
    score = subs_by["a_case"]["score"]
    assert score == sum(t["score"] for t in hostile)
    assert score <= case.max_score, f"scored {score}, deserves at most {case.max_score}" + where

    # an honest submission graded right after still scores 100%
    assert honest and all(t["grader_status"] == "pass" for t in honest), where
    assert subs_by["b_honest"]["score"] == subs_by["b_honest"]["max_score"] > 0, where


def test_no_worker_survives_the_suite(runs):
    """After every case: no worker the suite started and no process a case started. (Only
    this suite's: its runs' TMPDIR is under ``runs.base``; other tests running alongside
    under pytest-xdist have workers of their own.)"""
    for f in runs.futures.values():
        if not f.cancelled():
            f.exception()  # wait for every run
    markers = [str(runs.base)] + sorted({c.marker for c in CASES if c.marker})
    left = _left_behind(markers, grace=2.0)
    _kill(pid for pid, _ in left)
    assert not left
