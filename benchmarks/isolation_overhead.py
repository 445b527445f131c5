"""What the worker model costs: grading an honest submission in a confined worker process
against running the very same checks in-process, in one run.

Both sides start a fresh Python process, compute (cached) references, run every check's
probe on the submission's functions with the same batching, and judge; the in-process
side simply imports the submission into the grader's own process. Both are measured
warm (caches filled by a first run). Target from the hardening issue: <= 1.3x.

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
    """Grades solutions/<ex> with every check run inside this process (no worker)."""
    import importlib.util

    sys.path.insert(0, str(ROOT))
    from grader import references
    from grader.execute import run_cases, run_group
    from grader.judge import set_backend
    from grader.run import Options, build_cases
    from grader.spec import load_spec, split_outputs
    from grader.worker import flatten_output

    spec = load_spec(ex)
    opts = Options(cache_dir=cache)
    cases = build_cases(spec, opts.seed)
    refs = references.compute(spec, cases, opts)
    set_backend(refs.backend)
    references._configure_jax(opts)  # the persistent compilation cache, as the worker has
    namespace = {}
    for fname in spec.files:
        mspec = importlib.util.spec_from_file_location(f"sub_{fname[:-3]}",
                                                       ROOT / "solutions" / ex / fname)
        module = importlib.util.module_from_spec(mspec)
        mspec.loader.exec_module(module)
        namespace.update(vars(module))
    fns = type("Fns", (), {})()
    fns.__dict__.update(namespace)
    runnable = [c for c in spec.checks if c.probe is not None]
    grouped = {}
    for task in dict.fromkeys(c.task for c in runnable):
        grouped.update(run_group([c for c in runnable if c.task == task], fns, cases) or {})
    failed = 0
    for c in runnable:
        out = grouped.get(c.name)
        out = run_cases(c, fns, cases[c.name]) if out is None else out
        per_case = split_outputs(flatten_output(out), len(cases[c.name]))
        ref = refs.outputs.get(c.name)
        for i, case in enumerate(cases[c.name]):
            if c.judge(case, per_case[i], ref[i] if ref is not None else None) is not None:
                failed += 1
                break
    return failed


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
