"""Time-to-verdict of `python -m grader solutions/qNN`, against the floor, in one run.

The floor is what any JAX grader pays before checking anything: start Python, import JAX,
compile and run one jitted function. Each exercise is graded in a fresh process twice:
cold (an empty cache folder: references computed, everything compiled) and warm (the same
folder again: references and compiled programs come from disk). Prints seconds and ratios
to the floor; targets from the foundation issue are <= 4 s cold, <= 2 s warm and <= 5x the
floor per exercise, and the q11 training check within 15 s.

    python benchmarks/grading_latency.py [q05 q10 ...] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR = (
    "import jax, jax.numpy as jnp; jax.jit(lambda x: x * 2 + 1)(jnp.ones(3)).block_until_ready()"
)


def _timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    return time.perf_counter() - t0, proc


def floor(repeat: int) -> float:
    return statistics.median(_timed([sys.executable, "-c", FLOOR])[0] for _ in range(repeat))


def grade_times(ex: str, repeat: int) -> tuple[float, float, dict[str, float]]:
    colds, warms, checks = [], [], {}
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as cache:
            cmd = [
                sys.executable,
                "-m",
                "grader",
                f"solutions/{ex}",
                "--cache-dir",
                cache,
                "--format",
                "junit",
            ]
            cold, proc = _timed(cmd)
            if proc.returncode != 0:
                raise SystemExit(f"{ex}: the solution did not pass:\n{proc.stdout[-3000:]}")
            warm, proc = _timed(cmd)
            colds.append(cold)
            warms.append(warm)
            for case in ET.fromstring(proc.stdout).iter("testcase"):
                checks.setdefault(case.get("name"), []).append(float(case.get("time")))
    per_check = {k: statistics.median(v) for k, v in checks.items()}
    return statistics.median(colds), statistics.median(warms), per_check


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from grader.spec import available_exercises

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("exercises", nargs="*")
    p.add_argument("--repeat", type=int, default=1)
    args = p.parse_args()
    base = floor(max(args.repeat, 3))
    print(f"floor (python + import jax + one jit): {base:.2f} s\n")
    print(
        f"{'exercise':<9} {'cold s':>7} {'warm s':>7} {'cold/floor':>11} {'warm/floor':>11}"
        f"  slowest check (warm)"
    )
    for ex in args.exercises or available_exercises():
        cold, warm, per_check = grade_times(ex, args.repeat)
        name, secs = max(per_check.items(), key=lambda kv: kv[1])
        print(
            f"{ex:<9} {cold:7.2f} {warm:7.2f} {cold / base:10.1f}x {warm / base:10.1f}x"
            f"  {name} {secs:.2f} s"
        )
        training = {k: v for k, v in per_check.items() if "train" in k.lower()}
        for k, v in training.items():
            print(f"{'':<9} training check {k!r}: {v:.2f} s (warm)")


if __name__ == "__main__":
    main()
