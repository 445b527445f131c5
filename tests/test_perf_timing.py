"""q03 timing: scripted sleeps instead of absolute times, and trace counts from jax.jit."""

import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dlcore.perf import benchmark, count_traces, eager_vs_jit

S = 0.05  # the scripted delay; every bound below is a fraction or multiple of it


class _Future:
    """A non-Array output leaf whose result takes S to arrive, like an async computation."""

    def __init__(self, delay):
        self.delay = delay

    def block_until_ready(self):
        time.sleep(self.delay)
        return self

    def __array__(self, dtype=None, copy=None):
        time.sleep(self.delay)
        return np.zeros((), dtype)


def _scripted(schedule, log=None):
    """fn whose i-th call sleeps schedule[i] seconds in Python (and records i in log)."""
    calls = iter(range(len(schedule)))

    def fn(x):
        i = next(calls)  # StopIteration (an error) if called more often than scheduled
        if log is not None:
            log.append(i)
        time.sleep(schedule[i])
        return x

    return fn


@pytest.mark.parametrize("warmup, iters", [(2, 5), (0, 3), (3, 1)])
def test_benchmark_makes_exactly_warmup_plus_iters_calls(warmup, iters):
    log = []
    # Warm-ups take 2S and timed calls none: if warm-ups were timed, the median would show it.
    fn = _scripted([2 * S] * warmup + [0.0] * iters, log)
    t = benchmark(fn, jnp.ones(3), warmup=warmup, iters=iters)
    assert log == list(range(warmup + iters))
    assert isinstance(t, float) and 0 <= t < S / 2


def test_benchmark_defaults_and_warmups_excluded():
    log = []
    t = benchmark(_scripted([5 * S] * 2 + [0.0] * 20, log), jnp.ones(3))
    assert len(log) == 22 and t < S / 2


@pytest.mark.parametrize("position", [0, 1, 2])
def test_benchmark_blocks_on_every_leaf(position):
    def fn(x):
        leaves = [x, x + 1, x * 2]
        leaves[position] = _Future(S)
        return tuple(leaves)

    assert benchmark(fn, jnp.ones(3), warmup=1, iters=3) >= S


def test_benchmark_returns_the_median():
    # mean 0.8S, max 2S, median 0
    assert benchmark(_scripted([0, 0, 0, 2 * S, 2 * S]), 0.0, warmup=0, iters=5) < S / 2
    # min 0, median S
    assert benchmark(_scripted([0, 0, S, S, S]), 0.0, warmup=0, iters=5) >= S


def test_benchmark_times_each_call_by_itself():
    # One slow call in five: whole-loop time / iters would be >= 0.6S; the median is ~0.
    assert benchmark(_scripted([0, 0, 3 * S, 0, 0]), 0.0, warmup=0, iters=5) < S / 2


def test_count_traces():
    f32 = jnp.ones(3, jnp.float32)
    assert count_traces(jnp.sin, [(f32,), (f32 + 1,), (jnp.zeros(3),)]) == 1
    assert count_traces(jnp.sin, [(f32,), (jnp.ones(4),), (f32,), (jnp.ones(4),)]) == 2
    assert count_traces(jnp.sin, [(f32,), (jnp.ones(3, jnp.int32),)]) == 2
    assert count_traces(jnp.sin, [(1.0,), (jnp.float32(1.0),)]) == 2  # weak vs strong type
    tree = lambda d: sum(d.values())  # noqa: E731
    assert count_traces(tree, [({"a": f32},), ({"a": f32, "b": f32},), ({"a": f32 * 2},)]) == 2
    scale = lambda x, k: x * k  # noqa: E731
    assert count_traces(scale, [(f32, 2), (f32, 2), (f32, 3)], static_argnums=(1,)) == 2
    assert count_traces(scale, [(f32, 2), (f32, 3)]) == 1  # traced k: one trace
    helper = jax.jit(lambda x: x * 2)
    assert count_traces(lambda x: helper(x) + helper(x * 3), [(f32,), (f32,)]) == 1
    assert count_traces(jnp.sin, []) == 0


def test_count_traces_is_not_len_of_arg_list():
    args = [(jnp.ones(3) * i,) for i in range(5)]
    assert count_traces(lambda x: x + 1, args) == 1


def test_eager_vs_jit_keys_and_diff():
    x = jnp.linspace(-3, 3, 101)

    def fn(x):
        return {"a": jnp.tanh(x) * 3, "b": (jnp.exp(x) / (1 + jnp.exp(x)), x.sum())}

    r = eager_vs_jit(fn, x, warmup=1, iters=3)
    assert sorted(r) == ["eager_s", "jit_s", "max_abs_diff"]
    assert all(isinstance(v, float) for v in r.values())
    leaves = zip(jax.tree.leaves(fn(x)), jax.tree.leaves(jax.jit(fn)(x)), strict=True)
    expected = max(float(np.max(np.abs(np.float64(a) - np.float64(b)))) for a, b in leaves)
    assert r["max_abs_diff"] == expected
    assert r["max_abs_diff"] < 1e-5  # float32, a few ulps from fusion at most


def test_eager_vs_jit_diff_covers_every_leaf():
    def fn(x):  # the second leaf differs by exactly 1: Python sees a Tracer only under jit
        return x * 2, x + (1.0 if isinstance(x, jax.core.Tracer) else 0.0)

    r = eager_vs_jit(fn, jnp.arange(3.0), warmup=0, iters=1)
    assert r["max_abs_diff"] == 1.0


def test_eager_vs_jit_python_runs_only_at_trace_time():
    def fn(x):
        time.sleep(S)  # a Python side effect: every eager call pays it, jit only while tracing
        return x * 2

    r = eager_vs_jit(fn, jnp.ones(3), warmup=1, iters=3)
    assert r["eager_s"] >= S and r["jit_s"] < r["eager_s"] / 2
    assert r["max_abs_diff"] == 0.0
