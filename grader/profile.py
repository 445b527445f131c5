"""Where a grading's time goes, for developers: ``DLCORE_GRADER_PROFILE=1 python -m grader
...`` prints a timeline to stderr after the report.

The parent marks its own phases; the worker reports its phases (start, confinement, JAX
import, learner import) in its ready frame and, with each result, how many XLA programs it
compiled or took from the persistent cache and the seconds that cost. The worker's numbers
come from a process running learner code, so they are shown, never trusted for a verdict.
"""

from __future__ import annotations

import os
import sys
import time

ENABLED = bool(os.environ.get("DLCORE_GRADER_PROFILE"))


class Timeline:
    def __init__(self, label: str):
        self.label = label
        self.t0 = time.monotonic()
        self.marks: list[tuple[float, str]] = []

    def mark(self, what: str, at: float | None = None) -> None:
        self.marks.append(((time.monotonic() if at is None else at) - self.t0, what))

    def worker(self, ready: dict | None, results: list[dict]) -> None:
        """The worker's phases (monotonic clock, shared by processes on one machine)."""
        for what, at in ((ready or {}).get("profile") or {}).items():
            if isinstance(at, (int, float)):
                self.mark(f"worker: {what}", at)
        compiles = sum(int(r.get("compiles", 0) or 0) for r in results)
        seconds = sum(float(r.get("compile_seconds", 0.0) or 0.0) for r in results)
        hits = sum(int(r.get("cache_hits", 0) or 0) for r in results)
        run = sum(float(r.get("seconds", 0.0) or 0.0) for r in results)
        self.mark(f"worker: {len(results)} results in {run:.2f} s; {compiles} XLA compiles "
                  f"({seconds:.2f} s), {hits} from the persistent cache")

    def print(self) -> None:
        print(f"profile of {self.label} (seconds since the grading began):", file=sys.stderr)
        for at, what in sorted(self.marks):
            print(f"  {at:7.2f}  {what}", file=sys.stderr)


class CompileCounter:
    """In the worker: XLA compiles and persistent-cache hits since the last ``take``."""

    def __init__(self):
        self.compiles = self.hits = 0
        self.seconds = 0.0

    def install(self, jax) -> None:
        from jax import monitoring

        def duration(event: str, secs: float, **_) -> None:
            if event == "/jax/core/compile/backend_compile_duration":
                self.compiles += 1
                self.seconds += secs
            elif event == "/jax/compilation_cache/cache_retrieval_time_sec":
                self.seconds += secs

        def count(event: str, **_) -> None:
            if event == "/jax/compilation_cache/cache_hits":
                self.hits += 1

        monitoring.register_event_duration_secs_listener(duration)
        monitoring.register_event_listener(count)

    def take(self) -> dict:
        out = {"compiles": self.compiles, "compile_seconds": self.seconds,
               "cache_hits": self.hits}
        self.compiles = self.hits = 0
        self.seconds = 0.0
        return out
