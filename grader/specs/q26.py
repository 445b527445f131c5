"""q26 BatchNorm vs LayerNorm: batch, layer and RMS normalization equal to flax.nnx's layers
(``use_fast_variance=False``), stable at large offsets, and batch norm synchronized over a
named axis (``vmap``) and over 4 devices (``shard_map``).

Features are on the last axis; params ``{"scale", "bias"}`` (RMS: ``{"scale"}``), stats
``{"mean", "var"}``. The reference is dlcore, which tests/test_normalization.py pins to
flax 0.12.8's nnx.BatchNorm / LayerNorm / RMSNorm.
"""

from __future__ import annotations

import numpy as np

from grader import checks as ck
from grader import props
from grader.spec import Exercise, FileSpec, case

BN, LN, RMS = "batch_norm", "layer_norm", "rms_norm"
_GROUPS = 4  # synced checks: 4 groups (vmap) or 4 devices (shard_map), one mean each


def _params(rng, c, bias=True):
    p = {"scale": (1 + 0.3 * rng.standard_normal(c)).astype(np.float32)}
    return p | ({"bias": ck.normal(rng, (c,), 0.3)} if bias else {})


def _stats(c, mean=0.0, var=1.0):
    return {"mean": np.full(c, mean, np.float32), "var": np.full(c, var, np.float32)}


def _bn(fns, i, x=None, **over):
    """One batch_norm call on the case's x (or ``x``), params and stats; statics as given."""
    kw = {"deterministic": False} | dict(i.static) | over
    return fns.batch_norm(i.args[0] if x is None else x, i.args[1], i.args[2], **kw)


def _y(fns, i):
    return _bn(fns, i)[0]


# ---- batch norm: cases and probes ---------------------------------------------------------


def _train_cases(rng):
    """x holds three successive batches (leading axis 3); stats start at mean 0, var 1."""
    return [case(2 + ck.normal(rng, (3, *s), 3.0), _params(rng, s[-1]), _stats(s[-1]), static=st,
                 label="3 train steps" + ("" if st else ", default momentum"))
            for s, st in [((8, 5), {"momentum": 0.9}), ((4, 3, 3, 6), {"momentum": 0.99}),
                          ((6, 4), {})]]


def _three_steps(fns, i):
    stats, out = i.args[2], []
    for x in i.args[0]:
        y, stats = _bn(fns, i.replace(args=(x, i.args[1], stats)))
        out.append({"y": y, "stats": stats})
    return out


def _low_variance(fns, i):
    """A train step on x, and an eval step with running var 1e-4 around x's mean."""
    x, p, _ = i.args
    stats = {"mean": x.mean(axis=0), "var": i.extras["eval_var"]}
    return {"train": _bn(fns, i), "eval": fns.batch_norm(x, p, stats, deterministic=True)}


def _eval_cases(rng):
    return [case(ck.normal(rng, s, 2.0), _params(rng, s[-1]),
                 {"mean": ck.normal(rng, (s[-1],)), "var": ck.uniform(rng, (s[-1],), 0.5, 3.0)},
                 static={"deterministic": True}) for s in [(8, 5), (2, 3, 3, 6)]]


def _grad_cases(rng):
    return [case(ck.normal(rng, s, 2.0), _params(rng, s[-1]), _stats(s[-1]),
                 extras={"cot": ck.normal(rng, s)}) for s in [(8, 5), (2, 3, 2, 4)]]


def _spread_is_one(case, out):
    std = np.asarray(out, np.float64).std(axis=0)
    if not np.isfinite(std).all() or np.abs(std - 1).max() > 1e-2:
        return (f"with inputs 1e4 + N(0, 1) the per-feature std of y is {np.round(std, 3)}, not "
                "1 +- 1e-2: the variance lost its precision (E[x^2] - E[x]^2 cancels)")
    return None


def _gives_bias(case, out):
    y, stats = out
    msg = ck.exact_equal("y", y, np.broadcast_to(case.args[1]["bias"], np.shape(y)))
    if msg:
        return f"x - mean is exactly 0 for every entry, so y must be exactly bias: {msg}"
    if not all(np.isfinite(v).all() for v in stats.values()):
        return "the updated running stats are not finite"
    return None


def _degenerate_cases(rng):
    const = np.broadcast_to(np.array([2.5, -1.0, 0.375, 96.0], np.float32), (16, 4)).copy()
    return [case(const, _params(rng, 4), _stats(4), label="every feature constant"),
            case(ck.normal(rng, (1, 4), 3.0), _params(rng, 4), _stats(4),
                 label="one example per feature")]


def _synced_cases(rng):
    x = ck.normal(rng, (_GROUPS, 3, 5)) + np.arange(_GROUPS, dtype=np.float32)[:, None, None]
    return [case(x, _params(rng, 5), _stats(5), static={"momentum": 0.9},
                 label="4 groups of 3 examples with means 0, 1, 2, 3")]


def _synced_vmap(fns, i):
    import jax

    f = lambda x: _bn(fns, i, x, axis_name="batch")  # noqa: E731
    return jax.vmap(f, axis_name="batch")(i.args[0])


def _synced_shard_map(fns, i):
    import jax
    from jax.sharding import AxisType
    from jax.sharding import PartitionSpec as P

    n = jax.device_count()  # 4 in the grader's worker
    mesh = jax.make_mesh((n,), ("data",), axis_types=(AxisType.Auto,))
    f = jax.shard_map(lambda x: _bn(fns, i, x, axis_name="data"), mesh=mesh,
                      in_specs=P("data"), out_specs=(P("data"), P()))
    return f(i.args[0].reshape(-1, i.args[0].shape[-1]))


def _finite_grad(fns, i):
    import jax

    return jax.grad(lambda x: (_bn(fns, i, x)[0] ** 3).sum())(i.args[0])


def _jacobians(fns, i):
    import jax

    jac = lambda **kw: jax.jacfwd(lambda x: _bn(fns, i, x, **kw)[0])(i.args[0])  # noqa: E731
    return {"train": jac(), "eval": jac(deterministic=True)}


def _across(j):
    """Masks of an (n, c, n, c) Jacobian's entries: across examples, across features."""
    n, c = j.shape[:2]
    return (np.broadcast_to(~np.eye(n, dtype=bool)[:, None, :, None], j.shape),
            np.broadcast_to(~np.eye(c, dtype=bool)[None, :, None, :], j.shape))


def _bn_structure(case, out):
    (train_n, train_c), (eval_n, eval_c) = _across(out["train"]), _across(out["eval"])
    if not np.any(out["train"][train_n]):
        return ("in training, dy_i/dx_j is 0 for examples i != j: the batch mean and variance "
                "must stay in the graph (no stop_gradient), as in nnx")
    if np.any(out["train"][train_c]) or np.any(out["eval"][eval_c]):
        return "an output feature depends on another input feature: reduce per feature"
    if np.any(out["eval"][eval_n]):
        return ("with deterministic=True, examples still influence each other: eval must use "
                "the running stats, not the batch's")
    return None


def _rows_independent(case, out):
    return ("dy_i/dx_j is nonzero for rows i != j: layer norm reduces over the last axis of "
            "each row only") if np.any(out[_across(out)[0]]) else None


def _ln_jacobian(fns, i):
    import jax

    x = i.args[0].reshape(-1, i.args[0].shape[-1])
    return jax.jacfwd(lambda x: fns.layer_norm(x, i.args[1]))(x)


def _shift(i):
    return i.replace(args=(i.args[0] + i.extras["shift"], *i.args[1:]))


def _ln_cases(rng, scale=2.0, offset=1.0, shapes=((4, 3, 6), (5, 7)), bias=True):
    return [case(offset + ck.normal(rng, s, scale), _params(rng, s[-1], bias)) for s in shapes]


CHECKS = (
    ck.equivalence(BN, _train_cases, call=_three_steps, id="matches_nnx_train", tol_scale=5,
                   title="matches nnx.BatchNorm over 3 train steps",
                   description="y and the running mean and var after each of 3 train steps "
                   "equal nnx.BatchNorm(use_fast_variance=False); shapes (8, 5), (4, 3, 3, 6), "
                   "(6, 4); momentum 0.9, 0.99 and the default",
                   hint="reduce over every axis but the last; biased variance mean((x - mu)^2); "
                   "new = momentum * old + (1 - momentum) * batch"),
    ck.equivalence(BN, lambda rng: [case(1 + ck.normal(rng, (16, 4), 1e-2), _params(rng, 4),
                                         _stats(4), extras={"eval_var": np.full(4, 1e-4,
                                                                               np.float32)})],
                   call=_low_variance, id="matches_nnx_low_variance", tol_scale=10,
                   title="matches nnx at variance 1e-4 (train and eval)",
                   hint="eps goes inside the square root: (x - mu) / sqrt(var + eps)"),
    ck.equivalence(BN, _eval_cases, id="matches_nnx_eval", title="eval uses and keeps the stats",
                   description="deterministic=True equals nnx.BatchNorm(use_running_average="
                   "True) and returns the given stats unchanged",
                   hint="with deterministic=True normalize with stats['mean'] and stats['var'] "
                   "and return stats as given"),
    ck.grad(BN, _grad_cases, wrt=(0, 1), call=_y, id="gradient_matches_nnx",
            title="gradient through the batch statistics",
            hint="let gradients flow through mu and var (no stop_gradient), as nnx does"),
    ck.invariant(BN, lambda rng: [case(1e4 + ck.normal(rng, (64, 4)), _params(rng, 4) | {
        "scale": np.ones(4, np.float32), "bias": np.zeros(4, np.float32)}, _stats(4))],
        _spread_is_one, call=_y, id="large_offset_stable", kind="stability",
        title="per-feature std 1 at inputs 1e4 + N(0, 1)",
        hint="two passes: mu = mean(x), then var = mean((x - mu)^2); never E[x^2] - E[x]^2"),
    ck.invariant(BN, _degenerate_cases, _gives_bias, call=_bn, id="degenerate_gives_bias",
                 kind="stability", title="constant features and single examples give bias",
                 hint="x - mu is exactly 0 there; keep eps inside the square root"),
    ck.invariant(BN, lambda rng: [case(np.concatenate([ck.normal(rng, (8, 2)), np.full(
        (8, 1), 3.0, np.float32)], axis=1), _params(rng, 3), _stats(3))], props.finite(),
        call=_finite_grad, id="finite_grad", kind="stability",
        title="finite gradient with a constant feature",
        hint="use rsqrt(var + eps) or sqrt(var + eps); jnp.std's gradient at var = 0 is NaN"),
    ck.metamorphic(BN, lambda rng: [case(*_grad_cases(rng)[1].args, extras={
        "shift": ck.normal(rng, (4,), 10.0)})], transform=_shift, relation=lambda y, i: y,
        call=_y, id="shift_invariant", title="training output invariant to a per-feature shift"),
    ck.invariant(BN, lambda rng: [case(ck.normal(rng, (4, 3), 2.0), _params(rng, 3),
                                       _stats(3, 0.5, 2.0))], _bn_structure,
                 call=_jacobians, id="jacobian_structure",
                 title="train couples examples, never features; eval couples nothing"),
    ck.equivalence(BN, _synced_cases, call=_synced_vmap, id="synced_vmap",
                   title="synced under vmap(axis_name=) equals full-batch BN",
                   description="jax.vmap over 4 groups with different means, axis_name='batch': "
                   "y and the updated stats equal batch norm on the full 12 examples",
                   hint="mu = pmean(mean(x), axis_name); then var = pmean(mean((x - mu)^2)) "
                   "around the global mu (not the mean of the local variances)"),
    ck.equivalence(BN, _synced_cases, call=_synced_shard_map, id="synced_shard_map",
                   batched=False, title="synced over 4 devices with shard_map",
                   description="jax.shard_map over 4 CPU devices (x split along the batch, "
                   "stats replicated: out_specs=P()) equals batch norm on the full batch",
                   hint="pmean mu and var over axis_name and update the running stats with "
                   "these synchronized values: then they agree on every device, as "
                   "out_specs=P() requires"),
    ck.jit(BN, lambda rng: [case(*c.args, static=st) for c, st in zip(
        _grad_cases(rng), [{"deterministic": False}, {"deterministic": True}], strict=True)],
        title="works under jit, deterministic static"),
    ck.equivalence(LN, _ln_cases, tol_scale=5, id="matches_nnx", title="matches nnx.LayerNorm",
                   hint="mean and variance over the last axis only (keepdims=True)"),
    ck.equivalence(LN, lambda rng: _ln_cases(rng, 1e-3, 0.0, ((4, 8),)), tol_scale=50,
                   id="small_variance_eps", title="matches nnx at row std 1e-3 (eps = 1e-6)",
                   hint="the default eps is 1e-6 (flax), not PyTorch's 1e-5"),
    ck.metamorphic(LN, lambda rng: _ln_cases(rng, shapes=((4, 6),)), id="affine_invariant",
                   transform=lambda i: i.replace(args=(3.0 * i.args[0] + 2.0, i.args[1])),
                   relation=lambda y, i: y, title="LN(3x + 2) = LN(x)"),
    ck.invariant(LN, _ln_cases, _rows_independent, id="rows_independent",
                 call=_ln_jacobian,
                 title="rows never interact (zero Jacobian across rows)"),
    ck.equivalence(RMS, lambda rng: _ln_cases(rng, bias=False), tol_scale=5, id="matches_nnx",
                   title="matches nnx.RMSNorm", hint="no mean subtraction and no bias: "
                   "x / sqrt(mean(x^2) + eps) * scale"),
    ck.equivalence(RMS, lambda rng: _ln_cases(rng, 1e-3, 0.0, ((4, 8),), False), tol_scale=50,
                   id="small_scale_eps", title="matches nnx at rms 1e-3 (eps inside the root)",
                   hint="eps is added to mean(x^2) inside the square root"),
    ck.metamorphic(RMS, lambda rng: _ln_cases(rng, shapes=((4, 6),), bias=False),
                   transform=lambda i: i.replace(args=(2.5 * i.args[0], i.args[1])),
                   relation=lambda y, i: y, id="scale_invariant", title="RMS(2.5 x) = RMS(x)"),
    *[ck.forbidden(t) for t in (BN, LN, RMS)],
)

_FORBIDDEN = ("flax", "jax.nn.standardize", "keras", "torch")

EXERCISE = Exercise(
    id="q26",
    title="BatchNorm vs LayerNorm",
    files={"normalization.py": FileSpec(
        tasks=tuple(f"dlcore.nn.normalization:{t}" for t in (BN, LN, RMS)),
        summary="batch, layer and RMS normalization over a channels-last feature axis")},
    checks=CHECKS,
    forbidden={t: _FORBIDDEN for t in (BN, LN, RMS)},
    devices=_GROUPS,
)
