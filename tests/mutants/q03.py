"""Known-wrong and correct-but-different timing code for the q03 grader.

Check ids (task/property) and what each one compares. S = 0.1 s is a delay the grader
scripts itself (time.sleep in a Python fn, or in a future object's block_until_ready);
no check compares with an absolute time.

- benchmark/call_count: with (warmup, iters) in (2,5), (0,3), (3,1) and a fn that logs
  each call, exactly warmup + iters calls are made, in order, and the result is a float.
- benchmark/warmups_untimed: warm-up calls sleep 5S, timed calls are instant; the result
  is < S/2, with warmup=3, iters=2 (warm-ups must outnumber timed calls, or a median that
  wrongly includes them still looks fast).
- benchmark/blocks_every_leaf: fn returns a tuple of three leaves, one of them (position
  0, 1 or 2) a future whose block_until_ready() and __array__ sleep S; the result is >= S.
- benchmark/median: per-call sleep schedules (warmup=0, iters=5): [0,0,0,2S,2S] gives
  < S/2 (mean 0.8S, max 2S); [0,0,S,S,S] gives >= S (min 0, whole loop / iters 0.6S);
  [0,0,3S,0,0] gives < S/2.
- count_traces/matches_jit_cache: same shapes -> 1; shapes (3,),(4,),(3,),(4,) -> 2; float32
  vs int32 -> 2; Python float vs float32 scalar -> 2; dict with an extra key -> 2; static
  arg 2,2,3 with static_argnums=(1,) -> 2; the same arg traced -> 1; a jitted inner helper
  -> 1; an empty list -> 0.
- count_traces/forbidden: no private jit cache counter (*._cache_size).
- eager_vs_jit/keys_and_diff: exactly the keys max_abs_diff, eager_s, jit_s with float
  values; max_abs_diff equals the largest |eager - jit| over all leaves, for a fn whose
  later leaf differs by exactly 1 (it adds 1.0 when its input is a Tracer) while the first
  leaf agrees.
- eager_vs_jit/python_at_trace_time: fn sleeps S in Python then returns x * 2 (warmup=1,
  iters=3): eager_s >= S and jit_s < eager_s / 2.
"""

from tests.grading import Alternative, Mutant

_BENCH_SIG = "fn, *args, warmup=2, iters=20"


def _bench(body: str) -> str:
    return f"""
def benchmark({_BENCH_SIG}):
{body}
"""


MUTANTS = [
    Mutant("benchmark_no_blocking", "benchmark", "benchmark/blocks_every_leaf", _bench("""
    for _ in range(warmup):
        fn(*args)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return float(np.median(times))""")),
    Mutant("benchmark_blocks_first_leaf", "benchmark", "benchmark/blocks_every_leaf", _bench("""
    for _ in range(warmup):
        jax.block_until_ready(jax.tree.leaves(fn(*args))[0])
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        out = fn(*args)
        jax.block_until_ready(jax.tree.leaves(out)[0])
        times.append(time.perf_counter() - start)
    return float(np.median(times))""")),
    *[
        Mutant(f"benchmark_{stat}", "benchmark", "benchmark/median", _bench(f"""
    for _ in range(warmup):
        jax.block_until_ready(fn(*args))
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return float(np.{stat}(times))"""))
        for stat in ("mean", "min", "max")
    ],
    Mutant("benchmark_skips_warmup", "benchmark", "benchmark/call_count", _bench("""
    return _original_benchmark(fn, *args, warmup=0, iters=iters)""")),
    Mutant("benchmark_times_warmups", "benchmark", "benchmark/warmups_untimed", _bench("""
    return _original_benchmark(fn, *args, warmup=0, iters=warmup + iters)""")),
    Mutant("benchmark_whole_loop_over_iters", "benchmark", "benchmark/median", _bench("""
    for _ in range(warmup):
        jax.block_until_ready(fn(*args))
    start = time.perf_counter()
    for _ in range(iters):
        jax.block_until_ready(fn(*args))
    return (time.perf_counter() - start) / iters""")),
    Mutant("benchmark_jits_fn", "benchmark", "benchmark/call_count", _bench("""
    return _original_benchmark(jax.jit(fn), *args, warmup=warmup, iters=iters)""")),
    # count_traces
    Mutant("count_traces_len", "count_traces", "count_traces/matches_jit_cache", """
def count_traces(fn, arg_list, *, static_argnums=()):
    return len(arg_list)
"""),
    Mutant("count_traces_by_shape", "count_traces", "count_traces/matches_jit_cache", """
def count_traces(fn, arg_list, *, static_argnums=()):
    seen = set()
    for args in arg_list:
        seen.add(tuple((np.shape(a), np.result_type(a)) for a in jax.tree.leaves(args)))
    return len(seen)
"""),
    Mutant("count_traces_fresh_jit_per_call", "count_traces", "count_traces/matches_jit_cache",
           """
def count_traces(fn, arg_list, *, static_argnums=()):
    n = 0
    for args in arg_list:
        n += _original_count_traces(fn, [args], static_argnums=static_argnums)
    return n
"""),
    Mutant("count_traces_cache_size", "count_traces", "count_traces/forbidden", """
def count_traces(fn, arg_list, *, static_argnums=()):
    jitted = jax.jit(fn, static_argnums=static_argnums)
    for args in arg_list:
        jitted(*args)
    return jitted._cache_size()
""", status="forbidden"),
    # eager_vs_jit
    Mutant("eager_vs_jit_first_leaf_only", "eager_vs_jit", "eager_vs_jit/keys_and_diff", """
def eager_vs_jit(fn, *args, warmup=2, iters=20):
    out = _original_eager_vs_jit(fn, *args, warmup=warmup, iters=iters)
    a, b = jax.tree.leaves(fn(*args))[0], jax.tree.leaves(jax.jit(fn)(*args))[0]
    out["max_abs_diff"] = float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
    return out
"""),
    Mutant("eager_vs_jit_times_eager_twice", "eager_vs_jit", "eager_vs_jit/python_at_trace_time",
           """
def eager_vs_jit(fn, *args, warmup=2, iters=20):
    out = _original_eager_vs_jit(fn, *args, warmup=warmup, iters=iters)
    out["jit_s"] = benchmark(fn, *args, warmup=warmup, iters=iters)  # times eager twice
    return out
"""),
]

ALTERNATIVES = [
    Alternative("benchmark_statistics_median", "benchmark", _bench("""
    import statistics

    for _ in range(warmup):
        out = fn(*args)
        jax.tree.map(lambda leaf: leaf.block_until_ready()
                     if hasattr(leaf, "block_until_ready") else leaf, out)
    samples = []
    for _ in range(iters):
        t0 = time.perf_counter_ns()
        out = fn(*args)
        jax.block_until_ready(out)
        samples.append((time.perf_counter_ns() - t0) * 1e-9)
    return float(statistics.median(samples))""")),
    Alternative("count_traces_list_counter", "count_traces", """
def count_traces(fn, arg_list, *, static_argnums=()):
    calls = []

    def wrapped(*a):
        calls.append(None)
        return fn(*a)

    f = jax.jit(wrapped, static_argnums=static_argnums)
    for a in arg_list:
        f(*a)
    return len(calls)
"""),
    Alternative("eager_vs_jit_tree_map_diff", "eager_vs_jit", """
def eager_vs_jit(fn, *args, warmup=2, iters=20):
    fast = jax.jit(fn)
    diffs = jax.tree.map(
        lambda a, b: float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)),
                                  initial=0.0)), fn(*args), fast(*args))
    return {"max_abs_diff": max(jax.tree.leaves(diffs), default=0.0),
            "eager_s": benchmark(fn, *args, warmup=warmup, iters=iters),
            "jit_s": benchmark(fast, *args, warmup=warmup, iters=iters)}
"""),
]
