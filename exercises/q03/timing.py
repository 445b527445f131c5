"""q03 Eager vs jit: timing JAX code honestly and counting traces.

Graded tasks: benchmark, count_traces, eager_vs_jit.
Replace each `raise NotImplementedError(...)` with your code; read README.md first.
Check your work with: python -m grader exercises/q03
"""

import time
from collections.abc import Callable, Sequence

import jax
import numpy as np


# Task: graded.
def benchmark(fn: Callable, *args, warmup: int = 2, iters: int = 20) -> float:
    """Median wall time of one blocked call ``fn(*args)``, in seconds.

    JAX dispatches work asynchronously: ``fn(*args)`` returns as soon as the computation is
    queued, so a timer stopped there measures dispatch, not compute. Each timed call is
    ``out = fn(*args); jax.block_until_ready(out)``, which waits for every leaf of ``out``.
    ``warmup`` untimed (but blocked) calls come first, so that compilation and cache filling
    stay out of the result. Each of the ``iters`` calls is timed on its own with
    ``time.perf_counter`` and the median is returned: unlike the mean, it ignores a few slow
    outliers (a GC pause, another process); unlike the min, it is a typical call. Exactly
    ``warmup + iters`` calls; ``fn`` is called as given, never wrapped in ``jax.jit``.
    Not jitted.

    Args:
      fn: the function to time (eager, or already jitted by the caller).
      *args: its positional arguments.
      warmup: untimed calls before timing; at least 0.
      iters: timed calls; at least 1.

    Returns:
      The median of the ``iters`` per-call times, a Python float in seconds.

    Example:
      >>> t = benchmark(jnp.sin, jnp.ones(1000), warmup=1, iters=5)
      >>> isinstance(t, float) and t > 0
      True

    References:
      JAX FAQ, benchmarking JAX code:
      https://docs.jax.dev/en/latest/faq.html#benchmarking-jax-code
    """
    raise NotImplementedError('q03 benchmark: write this function (see README.md)')


# Task: graded.
def count_traces(fn: Callable, arg_list: Sequence[tuple], *, static_argnums=()) -> int:
    """How many times ``jax.jit(fn)`` traces ``fn`` when called on each tuple in ``arg_list``.

    One ``jax.jit`` of a wrapper that adds 1 to a Python counter and calls ``fn``. Python code
    runs only while tracing, so the counter counts traces. ``jit`` caches one trace per
    *signature* of its arguments: the shape, dtype and weak type of each array leaf, the tree
    structure (dict keys included), and the value of each static argument. A new signature
    retraces, and a signature seen before reuses its trace. A jitted helper inside ``fn``
    does not run ``fn``'s body again, so it adds nothing. Not jitted.

    Args:
      fn: the function to jit.
      arg_list: a sequence of positional-argument tuples, called in order.
      static_argnums: positions that ``jax.jit`` treats as static (hashable Python values).

    Returns:
      The number of traces, a Python int between 1 and ``len(arg_list)`` (0 if empty).

    Example:
      >>> count_traces(jnp.sin, [(jnp.ones(3),), (jnp.zeros(3),), (jnp.ones(4),)])
      2

    References:
      ``chex.assert_max_traces``; JAX docs, "Just-in-time compilation":
      https://docs.jax.dev/en/latest/jit-compilation.html
    """
    raise NotImplementedError('q03 count_traces: write this function (see README.md)')


# Task: graded.
def eager_vs_jit(fn: Callable, *args, warmup: int = 2, iters: int = 20) -> dict[str, float]:
    """Compares ``fn`` run eagerly with ``jax.jit(fn)``: same result, and how much faster.

    Eager JAX dispatches every op from Python, one at a time, with no fusion; ``jax.jit``
    traces ``fn`` once into a graph that XLA compiles and fuses, and later calls skip Python
    entirely. So the gap is large for many small ops and small for a few big ones (a large
    matmul spends its time in the same kernel either way). Python side effects inside
    ``fn`` (a ``print``, a ``time.sleep``) run at trace time only, so a jitted call does not
    pay for them. One call of each gives the outputs; both are then timed with
    :func:`benchmark` (the jitted one has compiled by then). Not jitted.

    Args:
      fn: a jittable function.
      *args: its positional arguments.
      warmup: passed to :func:`benchmark`.
      iters: passed to :func:`benchmark`.

    Returns:
      ``{"max_abs_diff": float, "eager_s": float, "jit_s": float}``: the largest absolute
      difference over all output leaves, and the two median times in seconds.

    Example:
      >>> r = eager_vs_jit(lambda x: jnp.tanh(x) * 2 + 1, jnp.ones(100), warmup=1, iters=3)
      >>> sorted(r), r["max_abs_diff"] < 1e-6
      (['eager_s', 'jit_s', 'max_abs_diff'], True)

    Warning:
      Results differ slightly because XLA fuses and reorders floating-point operations
      under ``jit``; expect differences of a few ulps, not zero.

    References:
      JAX docs, "Just-in-time compilation": https://docs.jax.dev/en/latest/jit-compilation.html
    """
    raise NotImplementedError('q03 eager_vs_jit: write this function (see README.md)')
