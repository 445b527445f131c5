"""What the worker model costs: grading an honest submission in a confined worker process
against running the very same checks in-process, in one run.

Both sides start a fresh Python process, run every check's probe on the submission's
functions with the same batching, and judge; the in-process side
(``grader.local.grade_local``) imports the submission into the grader's own process and
computes its references in memory. The worker side is measured warm (caches filled by a
first run). Target from the hardening issue: <= 1.3x.

    python benchmarks/isolation_overhead.py [q05 q10 ...] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def in_process(ex: str, cache: str) -> int:
    """Grades solutions/<ex> with every check run inside this process (no worker), through
    ``grader.local`` (the same cases, probes, wire and judges). Returns the failures."""
    sys.path.insert(0, str(ROOT))
    from grader.local import grade_local
    from grader.spec import load_spec

    result = grade_local(load_spec(ex), ROOT / "solutions" / ex)
    return sum(c.status != "pass" for c in result.checks)


def _timed(cmd) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("exercises", nargs="*")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--in-process", metavar="EX", help=argparse.SUPPRESS)
    p.add_argument("--cache", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.in_process:
        sys.exit(1 if in_process(args.in_process, args.cache) else 0)
    sys.path.insert(0, str(ROOT))
    from grader.spec import available_exercises

    print(f"{'exercise':<9} {'worker s':>9} {'in-process s':>13} {'ratio':>6}")
    for ex in args.exercises or available_exercises():
        with tempfile.TemporaryDirectory() as cache:
            worker = [sys.executable, "-m", "grader", f"solutions/{ex}", "--cache-dir", cache]
            inproc = [sys.executable, __file__, "--in-process", ex, "--cache", cache]
            _timed(worker), _timed(inproc)  # fill the caches
            w = statistics.median(_timed(worker) for _ in range(args.repeat))
            i = statistics.median(_timed(inproc) for _ in range(args.repeat))
        print(f"{ex:<9} {w:9.2f} {i:13.2f} {w / i:5.2f}x")


if __name__ == "__main__":
    main()
