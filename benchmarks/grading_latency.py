"""What a learner and an instructor wait for, against the floor, measured in one run.

The floor is what any JAX grader pays before checking anything: start Python, import JAX,
compile and run one jitted function. For each exercise, a copy of its solution is graded in
a fresh process three ways, with a fresh cache folder each repeat:
- cold: an empty cache (references computed, everything compiled);
- edit: the learner changed one task's file and grades again (references and the other
  programs cached; the edited code is not) -- the learner's loop;
- warm: the same files again.
The learner's fork-server daemon is started by the cold grading and serves the other two,
as on a learner's machine; ``--spawned`` also times edit and warm with a fresh
``python -I`` worker per grading (no fork server, no daemon), the baseline it replaces.
Then the course (``python -m grader solutions/``, every exercise in one command, warm
references) and a class: N different submissions of q10 (each with a distinct harmless
edit) graded with ``--jobs 2`` and ``--instructor``. With ``--class-mutants`` each student
of the class has a different known mistake instead (a mutant of tests/mutants/q10.py spliced
into a copy of the solution), so the class is graded as a real one is: failures, errors
under jit, forbidden calls; ``--class-only`` times only the class, once per ``--jobs`` value.

Targets (issue 13): edit <= 2 s and <= 2x the floor for exercises without a training check,
cold <= 6 s, a class of 30 q10 submissions <= 45 s on 2 cores.

    python benchmarks/grading_latency.py [q05 q10 ...] [--repeat 3] [--class-size 30]
        [--spawned] [--no-course]
    python benchmarks/grading_latency.py --class-only --class-mutants --jobs 1 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FLOOR = (
    "import jax, jax.numpy as jnp; jax.jit(lambda x: x * 2 + 1)(jnp.ones(3)).block_until_ready()"
)


def _timed(cmd: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, **kw)
    return time.perf_counter() - t0, proc


def floor(repeat: int) -> float:
    return statistics.median(_timed([sys.executable, "-c", FLOOR])[0] for _ in range(repeat))


def _grade(target: str, cache: str, *extra: str, failing: bool = False,
           env: dict | None = None) -> float:
    seconds, proc = _timed([sys.executable, "-m", "grader", target, "--cache-dir", cache, *extra],
                           env=env)
    if proc.returncode != (1 if failing else 0):
        raise SystemExit(f"{target}: did not pass:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    return seconds


def _edit(folder: Path, n: int = 1) -> None:
    """A harmless change to the first task's body: the learner's next try."""
    from grader.spec import load_spec

    spec = load_spec(folder.name)
    fname, fs = next(iter(spec.files.items()))
    task = fs.tasks[0].rsplit(":", 1)[1]
    path = folder / fname
    text = path.read_text()
    head = f"def {task}("
    start = text.index(head)
    body = text.index(":\n", text.index(")", start)) + 2
    doc_end = text.index('"""', text.index('"""', body) + 3) + 3 if '"""' in text[body:body + 12] \
        else body
    path.write_text(text[:doc_end] + f"\n    _edit = {n}  # a learner's edit\n" + text[doc_end:])


SPAWNED = {"DLCORE_GRADER_FORKSERVER": "0", "DLCORE_GRADER_DAEMON": "0"}


def exercise_times(ex: str, repeat: int, spawned: bool = False) -> dict[str, float]:
    """Median seconds of the three gradings. The learner's fork-server daemon (keyed by the
    cache folder, so a fresh one per repeat) is started by the cold grading and serves the
    edit and warm ones, as on a learner's machine; ``spawned`` also times edit and warm
    with a fresh ``python -I`` worker each (no fork server): the baseline it replaces."""
    from grader.sandbox import daemon_name

    env = {k: v for k, v in os.environ.items() if k not in SPAWNED}
    out: dict[str, list[float]] = {"cold": [], "edit": [], "warm": []}
    if spawned:
        out.update({"edit-spawned": [], "warm-spawned": []})
    for r in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "work" / ex
            shutil.copytree(ROOT / "solutions" / ex, folder)
            cache = str(Path(tmp) / "cache")
            try:
                out["cold"].append(_grade(str(folder), cache, env=env))
                if spawned:
                    _edit(folder, 100 + r)
                    out["edit-spawned"].append(_grade(str(folder), cache,
                                                      env={**env, **SPAWNED}))
                    out["warm-spawned"].append(_grade(str(folder), cache,
                                                      env={**env, **SPAWNED}))
                _edit(folder, r + 1)
                out["edit"].append(_grade(str(folder), cache, env=env))
                out["warm"].append(_grade(str(folder), cache, env=env))
            finally:
                _stop(daemon_name(cache))
    return {k: statistics.median(v) for k, v in out.items()}


def _stop(name: str) -> None:
    from grader.sandbox import stop_daemon

    if not stop_daemon(name):
        print(f"(the daemon {name} did not answer a stop: it leaves when idle)",
              file=sys.stderr)


def course_time(cache: str) -> float:
    from grader.sandbox import daemon_name

    try:
        _grade("solutions", cache)  # references and programs of every exercise in the cache
        return _grade("solutions", cache)
    finally:
        _stop(daemon_name(cache))


def _mutants() -> list:
    import importlib.util

    path = ROOT / "tests" / "mutants" / "q10.py"
    spec = importlib.util.spec_from_file_location("q10_mutants", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MUTANTS


def class_time(size: int, jobs: int, mutants: bool = False) -> float:
    """Seconds to grade a class of ``size`` different q10 submissions, fresh caches."""
    with tempfile.TemporaryDirectory() as tmp:
        pool = _mutants() if mutants else []
        for n in range(size):
            folder = Path(tmp) / "class" / f"student{n:02d}" / "q10"
            shutil.copytree(ROOT / "solutions" / "q10", folder)
            if pool:  # spread over the mutants: every student makes a different mistake
                from tests.grading import splice

                path = folder / "activations.py"
                path.write_text(splice(path.read_text(), pool[n * len(pool) // size].code))
            else:
                _edit(folder, n + 1)
        cache = str(Path(tmp) / "cache")
        out = Path(tmp) / "out"
        env_salt = ["--instructor", "--salt", "benchmark-salt"]
        seconds = _grade(str(Path(tmp) / "class"), cache, "--jobs", str(jobs), *env_salt,
                         "--output-dir", str(out), failing=bool(pool))
        rows = (out / "gradebook.csv").read_text().splitlines()[1:]
        if len(rows) != size:
            raise SystemExit(f"class: {len(rows)} gradebook rows for {size} students")
        return seconds


def main() -> None:
    from grader.spec import available_exercises

    p = argparse.ArgumentParser()
    p.add_argument("exercises", nargs="*")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--class-size", type=int, default=30)
    p.add_argument("--jobs", type=int, nargs="+", default=[2])
    p.add_argument("--class-mutants", action="store_true",
                   help="each student of the class has a different mutant of q10")
    p.add_argument("--class-only", action="store_true", help="time only the class")
    p.add_argument("--spawned", action="store_true",
                   help="also time edit and warm with spawned workers (no fork server)")
    p.add_argument("--no-course", action="store_true", help="skip the course and the class")
    args = p.parse_args()
    if args.class_only:
        return _classes(args)
    names = args.exercises or available_exercises()
    base = floor(args.repeat)
    print(f"floor (python + import jax + one jit): {base:.2f} s\n")
    extra = f" {'edit/spawned':>13} {'warm/spawned':>13}" if args.spawned else ""
    print(f"{'exercise':<9} {'cold':>7} {'edit':>7} {'warm':>7} {'cold/fl':>8} {'edit/fl':>8} "
          f"{'warm/fl':>8}{extra}")
    for ex in names:
        t = exercise_times(ex, args.repeat, args.spawned)
        more = (f" {t['edit-spawned']:>12.2f}s {t['warm-spawned']:>12.2f}s" if args.spawned
                else "")
        print(f"{ex:<9} {t['cold']:>6.2f}s {t['edit']:>6.2f}s {t['warm']:>6.2f}s "
              f"{t['cold'] / base:>7.1f}x {t['edit'] / base:>7.1f}x {t['warm'] / base:>7.1f}x"
              f"{more}", flush=True)
    if args.no_course:
        return
    with tempfile.TemporaryDirectory() as cache:
        course = course_time(cache)
    n = len(available_exercises())
    print(f"\ncourse: python -m grader solutions/ ({n} exercises, warm): {course:.1f} s; "
          f"projected to 28: {course / n * 28:.0f} s")
    _classes(args)


def _classes(args) -> None:
    import os

    what = "mutants of" if args.class_mutants else "edits of"
    for jobs in args.jobs:
        load = os.getloadavg()[0]
        klass = class_time(args.class_size, jobs, args.class_mutants)
        print(f"class: {args.class_size} different q10 submissions ({what} the solution), "
              f"--jobs {jobs}, instructor mode: {klass:.1f} s ({klass / args.class_size:.2f} s "
              f"each; load average {load:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
              "cores)", flush=True)


if __name__ == "__main__":
    main()
