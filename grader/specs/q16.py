"""q16 Dropout: inverted dropout bitwise equal to flax.nnx.Dropout, and Monte-Carlo dropout."""

from __future__ import annotations

import numpy as np

from grader import checks as ck
from grader.judge import compare_trees
from grader.spec import Case, Check, Exercise, Failure, FileSpec

_TRACE_EVENT = "/jax/core/compile/jaxpr_trace_duration"


def _custom(
    name, task, kind, probe, cases, judge, description, *, reference=False, hint="", batched=True
):
    return Check(
        name=name,
        task=task,
        kind=kind,
        probe=probe,
        cases=cases,
        judge=judge,
        description=description,
        reference=reference,
        hint=hint,
        batched=batched,
    )


def _raw_key(rng) -> np.ndarray:
    """Arbitrary raw threefry key data, as jax.random.split produces."""
    return rng.integers(0, 2**32, size=2, dtype=np.uint64).astype(np.uint32)


def _halves(got, a, b):
    pa, pb = f"['{a}']", f"['{b}']"
    return (
        {k[len(pa) :]: v for k, v in got.items() if k.startswith(pa)},
        {k[len(pb) :]: v for k, v in got.items() if k.startswith(pb)},
    )


# ---- dropout ----------------------------------------------------------------------------


def _bitwise_cases(rng):
    out = []
    for seed, (shape, rate) in enumerate(
        [((4, 7, 3), 0.5), ((1000,), 0.1), ((2, 5), 0.9), ((3, 64), 0.25)]
    ):
        out.append(Case({"key": ck.key_data(seed), "x": ck.normal(rng, shape)}, {"rate": rate}))
    out.append(
        Case(
            {"key": _raw_key(rng), "x": ck.normal(rng, (6, 9))},
            {"rate": 0.3},
            label="key from jax.random.split",
        )
    )
    return out


def _identity_cases(rng):
    return [
        Case(
            {"key": ck.key_data(1), "x": ck.normal(rng, (5, 6))},
            {"rate": 0.5, "deterministic": True},
            label="deterministic=True",
        ),
        Case({"key": ck.key_data(2), "x": ck.normal(rng, (40,))}, {"rate": 0.0}, label="rate=0"),
        Case(
            {"key": ck.key_data(3), "x": ck.normal(rng, (2, 3, 4))},
            {"rate": 1.0, "deterministic": True},
            label="deterministic=True, rate=1",
        ),
    ]


def _identity(case, out):
    y, x = out[""], case.arrays["x"]
    if y.shape != x.shape or y.dtype != x.dtype:
        return f"expected x back, shape {x.shape} {x.dtype}; got shape {y.shape} {y.dtype}"
    bad = y != x
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        return (
            f"expected x unchanged; {int(bad.sum())} of {x.size} entries differ, first at "
            f"{list(idx)}: x is {x[idx]:.6g}, got {y[idx]:.6g}"
        )
    return None


def _rate_one_probe(fns, c):
    import jax
    import jax.numpy as jnp

    def f(x):
        return fns.dropout(c.key, x, 1.0)

    return {"y": f(c.x), "grad": jax.grad(lambda x: jnp.sum(f(x) * c._cot))(c.x)}


def _rate_one_cases(rng):
    x = ck.normal(rng, (4, 6))
    x[0, :2] = 0.0  # 0 / 0 = NaN in a naive x / (1 - rate)
    return [Case({"key": ck.key_data(4), "x": x, "_cot": ck.normal(rng, (4, 6))}, label="rate=1")]


def _all_zero(case, out):
    x = case.arrays["x"]
    for name in ("y", "grad"):
        a = out[f"['{name}']"]
        what = "dropout(key, x, 1.0)" if name == "y" else "the gradient of dropout at rate=1"
        if a.shape != x.shape or a.dtype != x.dtype:
            return f"{what} has shape {a.shape} {a.dtype}; expected {x.shape} {x.dtype}"
        if not np.all(np.isfinite(a)):
            return (
                f"{what} has {int((~np.isfinite(a)).sum())} non-finite entries (NaN/inf), "
                "expected all zeros"
            )
        if np.any(a):
            return f"{what} has {int((a != 0).sum())} non-zero entries, expected all zeros"
    return None


def _all_zero_judge(case, got, ref):
    msg = _all_zero(case, {k: v for k, (v, _) in got.items()})
    return Failure(f"on {case.describe()}: {msg}") if msg else None


_STAT_N = 100_000
_STAT_X = 1.5


def _stats_cases(rng):
    return [
        Case(
            {"key": ck.key_data(10 + i), "x": np.full((_STAT_N,), _STAT_X, np.float32)},
            {"rate": rate},
            label=f"x = {_STAT_X} everywhere, {_STAT_N} entries",
        )
        for i, rate in enumerate((0.1, 0.3, 0.5, 0.8))
    ]


def _statistics(case, out):
    y = out[""].astype(np.float64)
    rate, n = case.static["rate"], y.size
    if y.shape != case.arrays["x"].shape:
        return f"expected shape {case.arrays['x'].shape}, got {y.shape}"
    dropped = float(np.mean(y == 0))
    band = 6 * np.sqrt(rate * (1 - rate) / n)
    if not abs(dropped - rate) <= band:
        return (
            f"dropped fraction {dropped:.4f} (share of exact zeros), expected rate = {rate} "
            f"+- {band:.4f} (6 sigma); rate is the probability of DROPPING an entry"
        )
    mean = float(np.mean(y))
    sigma = _STAT_X * np.sqrt(rate / (1 - rate) / n)
    if not abs(mean - _STAT_X) <= 6 * sigma:
        kept = y[y != 0]
        scale = float(kept.mean() / _STAT_X) if kept.size else 0.0
        return (
            f"mean of dropout(x) is {mean:.5g}, expected E[dropout(x)] = x = {_STAT_X} "
            f"+- {6 * sigma:.2g} (6 sigma); kept entries are scaled by {scale:.4g}, "
            f"expected 1 / (1 - rate) = {1 / (1 - rate):.4g}"
        )
    return None


def _grad_cases(rng):
    return [
        Case(
            {"key": ck.key_data(20), "x": ck.normal(rng, (50,)), "_cot": ck.normal(rng, (50,))},
            {"rate": 0.3},
        ),
        Case(
            {"key": ck.key_data(21), "x": ck.normal(rng, (4, 8)), "_cot": ck.normal(rng, (4, 8))},
            {"rate": 0.6},
        ),
    ]


def _retrace_probe(fns, c):
    import jax
    import jax.numpy as jnp

    rate = c.s["rate"]
    keys = [jax.random.fold_in(c.key, i) for i in range(4)]
    xs = [c.x * (i + 1) for i in range(4)]
    jax.block_until_ready((jax.random.key_data(keys[-1]), xs[-1]))
    jax.block_until_ready(fns.dropout(keys[0], xs[0], rate))  # the first call may trace
    events = []

    def listener(event, seconds, **kw):
        if event == _TRACE_EVENT:
            events.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        for i in range(1, 4):
            jax.block_until_ready(fns.dropout(keys[i], xs[i], rate))
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    calls = [0]

    def counted(key, x, rate, deterministic=False):
        calls[0] += 1
        return fns.dropout(key, x, rate, deterministic=deterministic)

    jitted = jax.jit(counted, static_argnames=("rate", "deterministic"))
    for i in range(4):
        jax.block_until_ready(jitted(keys[i], xs[i], rate=rate))
    return {"jit_traces": jnp.asarray(calls[0]), "eager_retraces": jnp.asarray(len(events))}


def _retrace_judge(case, got, ref):
    jit, eager = int(got["['jit_traces']"][0]), int(got["['eager_retraces']"][0])
    rate = case.static["rate"]
    if jit != 1:
        return Failure(
            f"on {case.describe()}: jax.jit(dropout, static_argnames=('rate', "
            f"'deterministic')) traced {jit} times for 4 same-shape calls with "
            f"rate={rate} (expected 1)"
        )
    if eager:
        return Failure(
            f"on {case.describe()}: after a first call, 3 more calls of dropout with "
            f"the same rate and shapes traced {eager} new functions (expected 0): "
            "something in dropout is rebuilt and retraced on every call, such as "
            "jax.jit applied to a fresh inner function or lambda"
        )
    return None


# ---- mc_dropout_predict -----------------------------------------------------------------

# The model the probes hand to mc_dropout_predict: a fixed dropout (written here, so these
# checks test mc_dropout_predict and not the learner's dropout) then a dense layer and tanh.


def _mc_apply(key, params, x):
    import jax
    import jax.numpy as jnp

    keep = jax.random.bernoulli(key, 0.5, x.shape)
    h = jnp.where(keep, x / 0.5, 0.0)
    return jnp.tanh(h @ params["w"] + params["b"][None, :])


def _mc_cases(rng):
    return [
        Case(
            {
                "key": ck.key_data(30),
                "x": ck.normal(rng, (4, 5)),
                "w": ck.normal(rng, (5, 3), 0.5),
                "b": ck.normal(rng, (3,), 0.1),
            },
            {"num_samples": 8},
        ),
        Case(
            {
                "key": _raw_key(rng),
                "x": ck.normal(rng, (2, 6)),
                "w": ck.normal(rng, (6, 4), 0.5),
                "b": ck.normal(rng, (4,), 0.1),
            },
            {"num_samples": 32},
            label="key from jax.random.split",
        ),
    ]


def _mc_probe(fns, c):
    mean, std = fns.mc_dropout_predict(
        c.key, _mc_apply, {"w": c.w, "b": c.b}, c.x, num_samples=c.s["num_samples"]
    )
    return {"mean": mean, "std": std}


def _mc_jit_probe(fns, c):
    import jax

    m = c.s["num_samples"]

    def run(key, params, x):
        mean, std = fns.mc_dropout_predict(key, _mc_apply, params, x, num_samples=m)
        return {"mean": mean, "std": std}

    params = {"w": c.w, "b": c.b}
    return {"eager": run(c.key, params, c.x), "jit": jax.jit(run)(c.key, params, c.x)}


def _mc_jit_judge(case, got, ref):
    eager, jit = _halves(got, "eager", "jit")
    msg = compare_trees(jit, eager, tol_scale=10)
    return (
        Failure(f"on {case.describe()}: mc_dropout_predict under jax.jit differs from eager: {msg}")
        if msg
        else None
    )


def _mc_grad_probe(fns, c):
    import jax
    import jax.numpy as jnp

    def loss(params):
        mean, std = fns.mc_dropout_predict(
            c.key, _mc_apply, params, c.x, num_samples=c.s["num_samples"]
        )
        return jnp.sum(mean * c._cot_mean) + jnp.sum(std * c._cot_std)

    return jax.grad(loss)({"w": c.w, "b": c.b})


def _mc_grad_cases(rng):
    return [
        Case(
            {
                "key": ck.key_data(31),
                "x": ck.normal(rng, (4, 5)),
                "w": ck.normal(rng, (5, 3), 0.5),
                "b": ck.normal(rng, (3,), 0.1),
                "_cot_mean": ck.normal(rng, (4, 3)),
                "_cot_std": ck.normal(rng, (4, 3)),
            },
            {"num_samples": 16},
        )
    ]


def _fresh_probe(fns, c):
    import jax
    import jax.numpy as jnp

    def apply_fn(key, params, x):  # pure dropout of x: the spread comes from the masks alone
        return jnp.where(jax.random.bernoulli(key, 0.5, x.shape), x / 0.5, 0.0)

    mean, std = fns.mc_dropout_predict(c.key, apply_fn, None, c.x, num_samples=16)
    return {"mean": mean, "std": std}


def _fresh_masks(case, out):
    std = out["['std']"]
    if std.shape != case.arrays["x"].shape:
        return f"std has shape {std.shape}, expected {case.arrays['x'].shape}"
    zero = int(np.sum(std == 0))
    if zero > std.size // 2:
        return (
            f"std is exactly 0 at {zero} of {std.size} entries: the 16 samples of a pure "
            "dropout model all saw the same mask, so the same key was used for every "
            "sample"
        )
    if not np.all(np.isfinite(std)):
        return "std has non-finite entries"
    return None


CHECKS = (
    ck.equivalence(
        "dropout",
        _bitwise_cases,
        exact=True,
        name="dropout: bitwise equal to flax.nnx.Dropout",
        description="for the same key, dropout equals flax.nnx.Dropout(rate)(x, "
        "deterministic=False, rngs=key) bit for bit, at several rates and shapes",
        hint="keep = jax.random.bernoulli(key, 1 - rate, x.shape) with exactly these "
        "arguments (not uniform < p, not a split key), then jnp.where(keep, x / (1 - rate), "
        "0)",
    ),
    ck.invariant(
        "dropout",
        _identity_cases,
        _identity,
        name="dropout: identity when deterministic=True or rate == 0",
        description="deterministic=True (at any rate) and rate == 0 return x unchanged",
        hint="if deterministic or rate == 0: return x  (Python if: both are static)",
    ),
    _custom(
        "dropout: zeros with zero gradient at rate == 1",
        "dropout",
        "stability",
        _rate_one_probe,
        _rate_one_cases,
        _all_zero_judge,
        "rate == 1 returns zeros, and its gradient is zeros, not NaN (x / 0 must never be "
        "computed, even in a branch jnp.where discards)",
        hint="return jnp.zeros_like(x) when rate == 1, before any division: the backward pass "
        "of where(keep, x / 0, 0) is 0 * inf = NaN",
    ),
    ck.invariant(
        "dropout",
        _stats_cases,
        _statistics,
        name="dropout: E[dropout(x)] = x and the dropped fraction is rate",
        description="on 100000 entries at rates 0.1, 0.3, 0.5, 0.8: the share of zeros is rate "
        "and the mean is x, each within 6 standard deviations",
        hint="inverted dropout: drop with probability rate, scale what is kept by 1 / (1 - rate)",
    ),
    ck.grad_matches(
        "dropout",
        _grad_cases,
        argnums=(1,),
        name="dropout: gradient is mask / (1 - rate)",
        description="the gradient w.r.t. x equals the reference's: keep / (1 - rate)",
        hint="the gradient of where(keep, x / (1 - rate), 0) is keep / (1 - rate); the scale "
        "must be the constant 1 / (1 - rate), not a statistic of the mask",
    ),
    ck.prng_discipline(
        "dropout",
        lambda rng: [
            Case(
                {"key": ck.key_data(40), "_other_key": ck.key_data(41), "x": ck.normal(rng, (64,))},
                {"rate": 0.5},
            )
        ],
        hint="draw the mask from the key argument; never from a fixed key or NumPy",
    ),
    ck.jit_matches_eager(
        "dropout",
        lambda rng: [
            Case({"key": ck.key_data(50), "x": ck.normal(rng, (6, 7))}, {"rate": 0.5}),
            Case({"key": ck.key_data(51), "x": ck.normal(rng, (6, 7))}, {"rate": 1.0}),
            Case(
                {"key": ck.key_data(52), "x": ck.normal(rng, (6, 7))},
                {"rate": 0.5, "deterministic": True},
            ),
        ],
        static_argnames=("rate", "deterministic"),
        name="dropout: works under jit, rate static",
        hint="rate and deterministic are static Python values: branch on them with Python if, "
        "but never on array values; use jax.random, not NumPy",
    ),
    ck.vmap_matches_loop(
        "dropout",
        lambda rng: [
            Case(
                {
                    "keys": np.stack([ck.key_data(60 + i) for i in range(5)]),
                    "x": ck.normal(rng, (3, 8)),
                },
                {"rate": 0.4},
            )
        ],
        in_axes=(0, None),
        name="dropout: vmap over a batch of keys",
        hint="use the key only through jax.random functions; never convert it to Python ints",
    ),
    _custom(
        "dropout: no retracing",
        "dropout",
        "retrace",
        _retrace_probe,
        lambda rng: [Case({"key": ck.key_data(70), "x": ck.normal(rng, (16, 8))}, {"rate": 0.3})],
        _retrace_judge,
        "jitted with rate static, 4 same-shape calls trace once; called "
        "eagerly, later same-rate calls trace nothing new",
        batched=False,
        hint="create jitted helpers once at module level (or not at all), never jax.jit a "
        "fresh inner function on every call",
    ),
    ck.forbidden("dropout"),
    ck.equivalence(
        "mc_dropout_predict",
        _mc_cases,
        probe=_mc_probe,
        name="mc_dropout_predict: matches the reference",
        description="for a dropout + dense + tanh model, the mean and population std (ddof=0) "
        "of num_samples passes with the keys jax.random.split(key, num_samples)",
        hint="keys = jax.random.split(key, num_samples); samples = jax.vmap(lambda k: "
        "apply_fn(k, params, x))(keys); return samples.mean(0), samples.std(0)",
    ),
    ck.invariant(
        "mc_dropout_predict",
        lambda rng: [Case({"key": ck.key_data(80), "x": ck.normal(rng, (256,))})],
        _fresh_masks,
        probe=_fresh_probe,
        name="mc_dropout_predict: a fresh key per sample",
        description="with a pure dropout model, 16 samples have std > 0: each sample gets its "
        "own key",
        hint="pass each sample its own subkey from jax.random.split(key, num_samples), never "
        "key itself",
    ),
    _custom(
        "mc_dropout_predict: works under jit, num_samples static",
        "mc_dropout_predict",
        "jit",
        _mc_jit_probe,
        lambda rng: _mc_cases(rng)[:1],
        _mc_jit_judge,
        "jax.jit of mc_dropout_predict with num_samples static (closed over) runs and equals "
        "the eager call",
        batched=False,
        hint="num_samples is a Python int; keep the samples as jax arrays (jnp, not NumPy)",
    ),
    _custom(
        "mc_dropout_predict: gradient matches",
        "mc_dropout_predict",
        "grad",
        _mc_grad_probe,
        _mc_grad_cases,
        ck.match(20),
        "the gradient of sum(c1 * mean + c2 * std) w.r.t. params equals the reference's",
        reference=True,
        hint="build mean and std from the samples with jnp operations (no stop_gradient)",
    ),
)

# CURRICULUM.md names no forbidden function for q16; the reference, flax.nnx.Dropout (and
# every other flax dropout), is forbidden for dropout because the task is to write it.
EXERCISE = Exercise(
    id="q16",
    title="Dropout",
    files={
        "dropout.py": FileSpec(
            tasks=("dlcore.nn.dropout:dropout", "dlcore.nn.dropout:mc_dropout_predict"),
            summary="inverted dropout and Monte-Carlo dropout",
        )
    },
    checks=CHECKS,
    forbidden={"dropout": ("flax",)},
)
