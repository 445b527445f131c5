"""q03 Eager vs jit: an honest benchmark, a trace counter, and eager against jit.

No check reads an absolute time: every bound is a fraction of S, a delay the grader scripts
itself (a time.sleep inside fn, or inside a future object's block_until_ready).
"""

from __future__ import annotations

import time

import numpy as np

from grader import checks as ck
from grader.spec import Exercise, FileSpec, case

S = 0.1  # seconds


class _Future:
    """An output leaf that is not ready yet: blocking on it (or reading it) takes S."""

    def block_until_ready(self):
        time.sleep(S)
        return self

    def __array__(self, dtype=None, copy=None):
        time.sleep(S)
        return np.zeros((), dtype or np.float32)


def _scripted(delays):
    """fn whose n-th call sleeps delays[n] (0 past the end) and logs the call."""
    calls = []

    def fn(x):
        calls.append(len(calls))
        time.sleep(delays[len(calls) - 1] if len(calls) <= len(delays) else 0.0)
        return x * 2

    return fn, calls


def _calls(fns, i):
    fn, calls = _scripted([])
    out = fns.benchmark(fn, *i.args, **i.static)
    return {"calls": len(calls), "seconds": out}


def _count_prop(case, out):
    want = case.static["warmup"] + case.static["iters"]
    if out["calls"] != want:
        return (f"fn was called {out['calls']} times, expected warmup + iters = {want} "
                "(call fn as given, never jax.jit(fn); one call per warm-up and per timing)")
    if type(out["seconds"]) is not float:
        return f"benchmark returned a {type(out['seconds']).__name__}, expected a Python float"
    return None


def _schedule(fns, i):
    fn, _ = _scripted([d * S for d in i.static["delays"]])
    return fns.benchmark(fn, *i.args, warmup=i.static["warmup"], iters=i.static["iters"])


def _bound(case, out):
    lo, hi = case.static["at_least"], case.static["below"]
    t = float(out)
    if lo is not None and t < lo * S:
        return f"got {t:.3f} s, expected at least {lo * S:.3f} s"
    if hi is not None and t >= hi * S:
        return f"got {t:.3f} s, expected below {hi * S:.3f} s"
    return None


def _timed(delays, warmup, iters, *, at_least=None, below=None, what=""):
    return case(ck.normal(np.random.default_rng(0), (4,)), label=what,
                static={"delays": tuple(delays), "warmup": warmup, "iters": iters,
                        "at_least": at_least, "below": below})


def _blocking(fns, i):
    import jax.numpy as jnp

    pos = i.static["position"]

    def fn(x):
        leaves = [x * 2, jnp.sum(x)]
        leaves.insert(pos, _Future())
        return tuple(leaves)

    return fns.benchmark(fn, *i.args, warmup=0, iters=3)


_SCENARIOS = ("same shapes", "new shape, then old shapes again", "new dtype",
              "Python float vs float32 scalar", "extra dict key", "new static value",
              "same values traced", "jitted inner helper", "empty list")
_EXPECTED = (1, 2, 2, 2, 2, 2, 1, 1, 0)


def _count(fns, i):
    import jax
    import jax.numpy as jnp

    n = i.static["scenario"]
    ones = lambda *s: jnp.ones(s, jnp.float32)  # noqa: E731
    fn, st = (lambda x: jnp.sin(x) * 2), ()
    arg_list = {
        0: [(ones(3),), (ones(3) * 2,), (ones(3) * 3,)],
        1: [(ones(3),), (ones(4),), (ones(3),), (ones(4),)],
        2: [(ones(3),), (jnp.ones(3, jnp.int32),)],
        3: [(1.0,), (jnp.float32(1.0),)],
        4: [({"a": ones(3)},), ({"a": ones(3), "b": ones(3)},)],
        5: [(ones(3), 2), (ones(3), 2), (ones(3), 3)],
        6: [(ones(3), 2), (ones(3), 2), (ones(3), 3)],
        7: [(ones(3),), (ones(3) * 2,)],
        8: [],
    }[n]
    if n in (4,):
        fn = lambda d: sum(jnp.sum(v) for v in d.values())  # noqa: E731
    if n in (5, 6):
        fn, st = (lambda x, k: x * k), ((1,) if n == 5 else ())
    if n == 7:
        inner = jax.jit(lambda x: jnp.cos(x) + 1)
        fn = lambda x: inner(x) * 2  # noqa: E731
    return fns.count_traces(fn, arg_list, static_argnums=st)


def _tracer_offset(x):
    """Agrees with jit on its first leaf; its later leaf differs by exactly 1 under jit."""
    import jax

    bump = 1.0 if isinstance(x, jax.core.Tracer) else 0.0
    return {"first": x * 3, "later": [x * 0, x + bump]}


def _sleepy(x):
    time.sleep(S)  # Python: runs on every eager call, and only at trace time under jit
    return x * 2


def _keys_prop(case, out):
    if not isinstance(out, dict) or set(out) != {"max_abs_diff", "eager_s", "jit_s"}:
        got = sorted(out) if isinstance(out, dict) else type(out).__name__
        return f"expected exactly the keys eager_s, jit_s, max_abs_diff; got {got}"
    bad = [k for k, v in out.items() if type(v) is not float]
    if bad:
        return f"{bad} are not Python floats (convert with float(...))"
    if abs(out["max_abs_diff"] - 1.0) > 1e-6:
        return (f"max_abs_diff is {out['max_abs_diff']:.6g}; the outputs differ by exactly 1 "
                "in a later leaf: take the largest difference over all leaves")
    return None


def _speed_prop(case, out):
    e, j = out["eager_s"], out["jit_s"]
    if e < S:
        return f"eager_s = {e:.3f} s, but each eager call sleeps {S} s: is fn timed eagerly?"
    if j >= e / 2:
        return (f"jit_s = {j:.3f} s is not below eager_s / 2 = {e / 2:.3f} s: the jitted fn "
                "runs Python (and its sleep) only while tracing; time jax.jit(fn) after it "
                "has compiled")
    return None


_X = lambda rng: ck.normal(rng, (8,))  # noqa: E731
_EVJ = dict(uses=("benchmark",), batched=False)

CHECKS = (
    ck.invariant("benchmark", lambda rng: [
        case(_X(rng), static={"warmup": w, "iters": n}, label=f"warmup={w}, iters={n}")
        for w, n in ((2, 5), (0, 3), (3, 1))], _count_prop, call=_calls, id="call_count",
        batched=False, title="exactly warmup + iters calls, a float back"),
    ck.invariant("benchmark", lambda rng: [_timed([5, 5, 5], 3, 2, below=0.5,
                                                  what="3 warm-ups of 5S, then instant")],
                 _bound, call=_schedule, id="warmups_untimed", batched=False,
                 title="warm-ups are not timed",
                 hint="run the warm-up calls first, outside the timed region"),
    ck.invariant("benchmark", lambda rng: [
        case(_X(rng), static={"position": p}, label=f"future at leaf {p}") for p in range(3)],
        lambda c, out: None if float(out) >= S else (
            f"got {float(out):.3f} s, but blocking on the output takes {S} s"),
        call=_blocking, id="blocks_every_leaf", batched=False,
        title="blocks on every output leaf",
        hint="jax.block_until_ready(out) on the whole output, inside the timed region"),
    ck.invariant("benchmark", lambda rng: [
        _timed([0, 0, 0, 2, 2], 0, 5, below=0.5, what="sleeps [0, 0, 0, 2S, 2S]"),
        _timed([0, 0, 1, 1, 1], 0, 5, at_least=1.0, what="sleeps [0, 0, S, S, S]"),
        _timed([0, 0, 3, 0, 0], 0, 5, below=0.5, what="sleeps [0, 0, 3S, 0, 0]")],
        _bound, call=_schedule, id="median", batched=False, title="returns the median",
        hint="time each call on its own and return the median (not mean, min, max or the "
        "whole loop divided by iters)"),
    ck.oracle("count_traces", lambda rng: [case(static={"scenario": n}, label=s)
                                           for n, s in enumerate(_SCENARIOS)],
              lambda c: _EXPECTED[c.static["scenario"]], call=_count, batched=False,
              id="matches_jit_cache", title="counts what the jit cache traces",
              hint="one jax.jit of a counting wrapper, made once outside the loop; the cache "
              "keys on shapes, dtypes, weak types, tree structure and static values"),
    ck.invariant("eager_vs_jit", lambda rng: [case(_X(rng))], _keys_prop,
                 call=lambda fns, i: fns.eager_vs_jit(_tracer_offset, *i.args, warmup=1,
                                                      iters=2),
                 id="keys_and_diff", title="three float keys; max_abs_diff over all leaves",
                 **_EVJ),
    ck.invariant("eager_vs_jit", lambda rng: [case(_X(rng), label=f"fn sleeps {S} s")],
                 _speed_prop, call=lambda fns, i: fns.eager_vs_jit(_sleepy, *i.args, warmup=1,
                                                                   iters=3),
                 id="python_at_trace_time", title="a Python sleep costs eager, not jit",
                 **_EVJ),
    ck.forbidden("count_traces"),
)

EXERCISE = Exercise(
    id="q03",
    title="Eager vs jit",
    files={"timing.py": FileSpec(
        tasks=("dlcore.perf.timing:benchmark", "dlcore.perf.timing:count_traces",
               "dlcore.perf.timing:eager_vs_jit"),
        summary="timing JAX code honestly and counting traces")},
    checks=CHECKS,
    forbidden={"count_traces": ("*._cache_size",)},
)
