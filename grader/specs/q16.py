"""q16 Dropout: inverted dropout bitwise equal to flax.nnx.Dropout, and Monte-Carlo dropout."""

from __future__ import annotations

import numpy as np

from grader import checks as ck
from grader import props
from grader.spec import Exercise, FileSpec, case

_N, _X = 100_000, 1.5  # the statistics check: x = 1.5 everywhere, 100000 entries


def _bitwise_cases(rng):
    shapes = [((4, 7, 3), 0.5), ((1000,), 0.1), ((2, 5), 0.9), ((3, 64), 0.25)]
    out = [case(ck.Key(seed), ck.normal(rng, shape), static={"rate": rate})
           for seed, (shape, rate) in enumerate(shapes)]
    out.append(case(ck.raw_key(rng), ck.normal(rng, (6, 9)), static={"rate": 0.3},
                    label="key from jax.random.split"))
    return out


def _identity_cases(rng):
    return [
        case(ck.Key(1), ck.normal(rng, (5, 6)), static={"rate": 0.5, "deterministic": True},
             label="deterministic=True"),
        case(ck.Key(2), ck.normal(rng, (40,)), static={"rate": 0.0}, label="rate=0"),
        case(ck.Key(3), ck.normal(rng, (2, 3, 4)), static={"rate": 1.0, "deterministic": True},
             label="deterministic=True, rate=1"),
    ]


def _rate_one_cases(rng):
    x = ck.normal(rng, (4, 6))
    x[0, :2] = 0.0  # 0 / 0 = NaN in a naive x / (1 - rate)
    return [case(ck.Key(4), x, extras={"cot": ck.normal(rng, (4, 6))}, label="rate=1")]


def _rate_one(fns, i):
    import jax
    import jax.numpy as jnp

    key, x = i.args
    f = lambda x: fns.dropout(key, x, 1.0)  # noqa: E731
    return {"y": f(x), "grad": jax.grad(lambda x: jnp.sum(f(x) * i.extras["cot"]))(x)}


def _mean_is_x(case, out):
    y = np.asarray(out, np.float64)
    rate = case.static["rate"]
    mean, sigma = float(np.mean(y)), _X * np.sqrt(rate / (1 - rate) / y.size)
    if abs(mean - _X) <= 6 * sigma:
        return None
    kept = y[y != 0]
    scale = float(kept.mean() / _X) if kept.size else 0.0
    return (f"mean of dropout(x) is {mean:.5g}, expected E[dropout(x)] = x = {_X} +- "
            f"{6 * sigma:.2g} (6 sigma); kept entries are scaled by {scale:.4g}, expected "
            f"1 / (1 - rate) = {1 / (1 - rate):.4g}")


def _mc_apply(key, params, x):  # dropout written here, so only mc_dropout_predict is tested
    import jax
    import jax.numpy as jnp

    h = jnp.where(jax.random.bernoulli(key, 0.5, x.shape), x / 0.5, 0.0)
    return jnp.tanh(h @ params["w"] + params["b"][None, :])


def _pure_dropout(key, params, x):
    import jax
    import jax.numpy as jnp

    return jnp.where(jax.random.bernoulli(key, 0.5, x.shape), x / 0.5, 0.0)


def _mc(apply_fn):
    def call(fns, i):
        mean, std = fns.mc_dropout_predict(i.args[0], apply_fn, i.kwargs.get("params"),
                                           i.args[1], **i.static)
        return {"mean": mean, "std": std}

    return call


def _mc_case(rng, key, b, d, o, m, **kw):
    params = {"w": ck.normal(rng, (d, o), 0.5), "b": ck.normal(rng, (o,), 0.1)}
    return case(key, ck.normal(rng, (b, d)), params=params, static={"num_samples": m}, **kw)


def _mc_cases(rng):
    return [_mc_case(rng, ck.Key(30), 4, 5, 3, 8),
            _mc_case(rng, ck.raw_key(rng), 2, 6, 4, 32, label="key from jax.random.split")]


def _mc_grad_cases(rng):
    return [_mc_case(rng, ck.Key(31), 4, 5, 3, 16, extras={"cot": {
        "mean": ck.normal(rng, (4, 3)), "std": ck.normal(rng, (4, 3))}})]


def _std_not_zero(case, out):
    zero = int(np.sum(out["std"] == 0))
    if zero > out["std"].size // 2:
        return (f"std is exactly 0 at {zero} of {out['std'].size} entries: the 16 samples of a "
                "pure dropout model all saw the same mask, so one key served every sample")
    return None


CHECKS = (
    ck.equivalence(
        "dropout", _bitwise_cases, id="bitwise", exact=True, title="bitwise equal to "
        "flax.nnx.Dropout", description="for the same key, dropout equals flax.nnx.Dropout(rate)"
        "(x, deterministic=False, rngs=key) bit for bit, at several rates and shapes",
        hint="keep = jax.random.bernoulli(key, 1 - rate, x.shape) with exactly these arguments "
        "(not uniform < p, not a split key), then jnp.where(keep, x / (1 - rate), 0)"),
    ck.oracle("dropout", _identity_cases, lambda c: c.args[1], id="identity", exact=True,
              title="identity when deterministic=True or rate == 0",
              hint="if deterministic or rate == 0: return x  (Python if: both are static)"),
    ck.oracle("dropout", _rate_one_cases, lambda c: {"y": np.zeros_like(c.args[1]),
                                                     "grad": np.zeros_like(c.args[1])},
              call=_rate_one, id="rate_one", exact=True, kind="stability", batched=False,
              title="zeros with zero gradient at rate == 1",
              hint="return jnp.zeros_like(x) when rate == 1, before any division: the backward "
              "pass of where(keep, x / 0, 0) is 0 * inf = NaN"),
    ck.invariant(
        "dropout", lambda rng: [case(ck.Key(10 + n), np.full((_N,), _X, np.float32),
                                     static={"rate": r}, label=f"x = {_X} everywhere, {_N} entries")
                                for n, r in enumerate((0.1, 0.3, 0.5, 0.8))],
        props.all_of(props.bernoulli_rate(lambda c: c.static["rate"]), _mean_is_x),
        id="statistics", title="E[dropout(x)] = x and the dropped fraction is rate",
        hint="inverted dropout: drop with probability rate, scale what is kept by 1 / (1 - rate)"),
    ck.grad("dropout", lambda rng: [
        case(ck.Key(20 + n), ck.normal(rng, s), static={"rate": r},
             extras={"cot": ck.normal(rng, s)}) for n, (s, r) in enumerate([((50,), 0.3),
                                                                            ((4, 8), 0.6)])],
        wrt=1, title="gradient is mask / (1 - rate)",
        hint="the gradient of where(keep, x / (1 - rate), 0) is keep / (1 - rate); the scale "
        "must be the constant 1 / (1 - rate), not a statistic of the mask"),
    ck.prng("dropout", lambda rng: [case(ck.Key(40), ck.normal(rng, (64,)), static={"rate": 0.5},
                                         extras={"other_key": ck.Key(41)})],
            hint="draw the mask from the key argument; never from a fixed key or NumPy"),
    ck.jit("dropout", lambda rng: [
        case(ck.Key(50), ck.normal(rng, (6, 7)), static={"rate": 0.5}),
        case(ck.Key(51), ck.normal(rng, (6, 7)), static={"rate": 1.0}),
        case(ck.Key(52), ck.normal(rng, (6, 7)), static={"rate": 0.5, "deterministic": True})],
        title="works under jit, rate static",
        hint="rate and deterministic are static Python values: branch on them with Python if, "
        "but never on array values; use jax.random, not NumPy"),
    ck.vmap("dropout", lambda rng: [case(ck.keys(*range(60, 65)), ck.normal(rng, (3, 8)),
                                         static={"rate": 0.4})],
            in_axes=(0, None), title="vmap over a batch of keys",
            hint="use the key only through jax.random functions; never convert it to Python ints"),
    ck.retrace("dropout", lambda rng: [case(ck.Key(70), ck.normal(rng, (16, 8)),
                                            static={"rate": 0.3})], eager=True),
    ck.forbidden("dropout"),
    ck.equivalence(
        "mc_dropout_predict", _mc_cases, call=_mc(_mc_apply),
        description="for a dropout + dense + tanh model, the mean and population std (ddof=0) "
        "of num_samples passes with the keys jax.random.split(key, num_samples)",
        hint="keys = jax.random.split(key, num_samples); samples = jax.vmap(lambda k: "
        "apply_fn(k, params, x))(keys); return samples.mean(0), samples.std(0)"),
    ck.invariant("mc_dropout_predict", lambda rng: [case(ck.Key(80), ck.normal(rng, (256,)),
                                                         static={"num_samples": 16})],
                 _std_not_zero, call=_mc(_pure_dropout), id="fresh_keys",
                 title="a fresh key per sample",
                 hint="pass each sample its own subkey from jax.random.split(key, num_samples), "
                 "never key itself"),
    ck.jit("mc_dropout_predict", lambda rng: _mc_cases(rng)[:1], call=_mc(_mc_apply),
           title="works under jit, num_samples static",
           hint="num_samples is a Python int; keep the samples as jax arrays (jnp, not NumPy)"),
    ck.grad("mc_dropout_predict", _mc_grad_cases, call=_mc(_mc_apply), wrt="params",
            hint="build mean and std from the samples with jnp operations (no stop_gradient)"),
)

# CURRICULUM.md names no forbidden function for q16; the reference, flax.nnx.Dropout (and
# every other flax dropout), is forbidden for dropout because the task is to write it.
EXERCISE = Exercise(
    id="q16",
    title="Dropout",
    files={"dropout.py": FileSpec(
        tasks=("dlcore.nn.dropout:dropout", "dlcore.nn.dropout:mc_dropout_predict"),
        summary="inverted dropout and Monte-Carlo dropout")},
    checks=CHECKS,
    forbidden={"dropout": ("flax",)},
)
