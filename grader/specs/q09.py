"""q09 Regularization: L1/L2 penalties, soft-thresholding, SGD with weight decay, AdamW.

Masks and schedules are not arrays: a case names them in its statics (``mask="tree"``,
``learning_rate="linear"``) and the call looks them up in :data:`MASKS` / :data:`SCHEDULES`.
The optimizer checks reuse :mod:`grader.optim_checks`, whose single-transformation runs call
``update(g, state)`` without params; weight decay must refuse that, so :class:`_Fns` wraps
the task's factory to keep the params in its state and hand them to ``update`` (the
reference, dlcore, runs through the same wrapper).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from grader import checks as ck
from grader import optim_checks as oc
from grader import props
from grader.judge import compare_arrays
from grader.spec import Exercise, FileSpec, case

OPTIMIZERS = ("sgd_weight_decay", "adamw")


def _kernels(p):
    import jax

    return jax.tree.map(lambda x: x.ndim >= 2, p)


MASKS = {"none": None, "kernels": _kernels,
         "tree": {"layer": {"kernel": True, "bias": False}, "head": ({"kernel": True},
                                                                     {"bias": False})},
         "opt_tree": {"a": (True, True), "b": {"c": False}}}  # the harness's params
SCHEDULES = {"linear": (0.02, 0.002), "linear_adamw": (0.05, 0.005)}  # over 100 steps


def mask_tree(name, params):
    """The named mask as a pytree of bools shaped like ``params``."""
    import jax

    mask = MASKS[name]
    return jax.tree.map(lambda _: True, params) if mask is None else (
        mask(params) if callable(mask) else mask)


def _resolve(kw):
    import optax

    kw = dict(kw)
    if "mask" in kw:
        kw["mask"] = MASKS[kw["mask"]]
    if isinstance(kw.get("learning_rate"), str):
        kw["learning_rate"] = optax.linear_schedule(*SCHEDULES[kw["learning_rate"]], 100)
    return kw


def _carry_params(tx):
    import optax

    def update(u, state, params=None):
        inner, p = state
        u, inner = tx.update(u, inner, p if params is None else params)
        return u, (inner, optax.apply_updates(p, u))

    return optax.GradientTransformation(lambda p: (tx.init(p), p), update)


class _Fns:
    """The functions, with the optimizer factories resolving names (and carrying params)."""

    def __init__(self, fns, carry=True):
        self._fns, self._carry = fns, carry

    def __getattr__(self, name):
        f = getattr(self._fns, name)
        if name not in OPTIMIZERS:
            return f
        return lambda *a, **kw: (_carry_params if self._carry else lambda t: t)(
            f(*a, **_resolve(kw)))


def _wrapped(check, carry=True):
    probe = check.probe
    return dataclasses.replace(check, probe=lambda fns, i: probe(_Fns(fns, carry), i))


# ---- penalties (l2_penalty's checks are shared with q04) ---------------------------------


def _penalty_cases(rng):
    def params():
        return {"layer": {"kernel": ck.normal(rng, (5, 4)), "bias": ck.normal(rng, (4,))},
                "head": ({"kernel": ck.normal(rng, (4, 3))}, {"bias": ck.normal(rng, (3,))})}

    return [case(params(), np.float32(lam), static={"_mask": m}, label=f"mask {m}")
            for m, lam in (("none", 0.1), ("tree", 0.3), ("kernels", 2.0))]


def _penalty(task, grad=False):
    def call(fns, i):
        import jax

        name, f = i.static["_mask"], getattr(fns, task)
        value = lambda p: f(p, i.args[1], **({} if name == "none" else {"mask": MASKS[name]}))  # noqa: E731
        return jax.grad(value)(i.args[0]) if grad else value(i.args[0])

    return call


def _expected(fn, grad=False):
    """NumPy float64: the masked sum of ``fn(w, lam)``, or ``fn`` leafwise (a gradient)."""

    def expected(c):
        import jax

        p, lam = c.args
        terms = jax.tree.map(lambda w, f: fn(np.float64(w), float(lam)) * f, p,
                             mask_tree(c.static["_mask"], p))
        if grad:
            return jax.tree.map(lambda t: np.asarray(t, np.float32), terms)
        return np.asarray(sum(jax.tree.leaves(terms)), np.float32)

    return expected


def penalty_checks(task, formula, value, grad, grad_text, grad_id="grad"):
    """Value, gradient and jit of a penalty, with mask None, a pytree and a callable."""
    return [
        ck.oracle(task, _penalty_cases, _expected(value), call=_penalty(task), id="formula",
                  rtol=1e-6, title=f"equals {formula} over the masked leaves",
                  description=f"{formula} on nested dict/tuple params with mask None, a pytree "
                  "(kernels True, biases False) and a callable (leaf.ndim >= 2)",
                  hint="turn the mask into one bool per leaf first (None: all True; a "
                  "callable: call it on params), then skip the leaves whose flag is False"),
        ck.oracle(task, _penalty_cases, _expected(grad, True), call=_penalty(task, True),
                  id=grad_id, rtol=1e-6, atol=1e-7, title=grad_text,
                  hint="differentiable jnp operations; masked-out leaves get zero gradient"),
        ck.jit(task, lambda rng: _penalty_cases(rng)[1:], call=_penalty(task),
               title="works under jit with a traced lam",
               hint="lam may be a traced array: no float(lam), no Python if on it"),
    ]


L2_CHECKS = penalty_checks("l2_penalty", "0.5 * lam * sum(w**2)",  # q04 grades them too
                           lambda w, lam: 0.5 * lam * np.square(w).sum(),
                           lambda w, lam: lam * w, "gradient lam * w = optax.add_decayed_weights",
                           "grad_matches_decay")
_PENALTIES = [
    *penalty_checks("l1_penalty", "lam * sum(|w|)", lambda w, lam: lam * np.abs(w).sum(),
                    lambda w, lam: lam * np.sign(w), "gradient lam * sign(w)"),
    *L2_CHECKS,
]

# ---- prox_l1 -----------------------------------------------------------------------------


def _prox(c):
    w, t = (np.asarray(a, np.float64) for a in c.args)
    return (np.sign(w) * np.maximum(np.abs(w) - t, 0)).astype(np.float32)


def _argmin(c):
    w, t = (np.asarray(a, np.float64) for a in c.args)
    z = np.linspace(-3.0, 3.0, 60001)  # step 1e-4
    return z[np.argmin(0.5 * (z - w[:, None]) ** 2 + t * np.abs(z), axis=1)].astype(np.float32)


_ALPHAS = (0.1, 0.5, 1.0, 2.0)


def _lasso_cases(rng):
    from sklearn.datasets import make_regression
    from sklearn.linear_model import Lasso

    x, y = make_regression(100, 20, n_informative=5, noise=1, random_state=0)
    coef = [Lasso(alpha=a, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(x, y).coef_
            for a in _ALPHAS]
    return [case(x.astype(np.float32), y.astype(np.float32), np.asarray(_ALPHAS, np.float32),
                 extras={"lasso": np.asarray(coef, np.float32)}, label="make_regression(100, "
                 "20, n_informative=5, noise=1, random_state=0)")]


def _ista(fns, i):
    import jax
    import jax.numpy as jnp

    x, y, alphas = i.args
    n, lip = x.shape[0], jnp.linalg.eigvalsh(x.T @ x / x.shape[0])[-1]
    step = lambda alpha: lambda _, w: fns.prox_l1(w - x.T @ (x @ w - y) / n / lip, alpha / lip)  # noqa: E731
    return jax.vmap(lambda a: jax.lax.fori_loop(0, 5000, step(a), jnp.zeros(x.shape[1])))(alphas)


def _like_lasso(c, out):
    got, want = np.asarray(out), c.extras["lasso"]
    if got.shape != want.shape:
        return f"expected coefficients of shape {want.shape}, got {got.shape}"
    for a, g, w in zip(_ALPHAS, got, want, strict=True):
        if ((g == 0) != (w == 0)).any():
            return (f"alpha={a}: ISTA gave {int((g == 0).sum())} exact zeros, Lasso "
                    f"{int((w == 0).sum())}, not at the same coefficients")
        msg = compare_arrays(f"coefficients for alpha={a}", g, w, rtol=1e-5, atol=1e-4)
        if msg:
            return msg
    nnz = (got != 0).sum(axis=1)
    return f"nonzeros grow with alpha: {list(nnz)}" if (np.diff(nnz) > 0).any() else None


_PROX = [
    ck.oracle("prox_l1", lambda rng: [
        *(case(ck.normal(rng, (5, 7), 2.0), np.float32(t), label=f"t={t}") for t in (0, .5, 1.5)),
        case(np.array([-1.0, 1.0, -0.25, 0.25, 0.0], np.float32),
             np.array([1.0, 1.0, 0.25, 0.25, 0.0], np.float32), label="|w| = t")],
        _prox, id="closed_form",
        exact=True, title="sign(w) * max(|w| - t, 0), exact zeros where |w| <= t",
        hint="shrink the magnitude, clamp at 0, put the sign back: jnp.sign(w) * "
        "jnp.maximum(jnp.abs(w) - t, 0)"),
    ck.oracle("prox_l1", lambda rng: [case(np.linspace(-3, 3, 31).astype(np.float32),
                                           np.float32(t), label=f"t={t}") for t in (0.3, 1.0)],
              _argmin, id="argmin", atol=1.1e-4, rtol=0.0,
              title="the argmin of 0.5 * (z - w)**2 + t * |z| (brute force, step 1e-4)",
              hint="no overshoot past 0 and no hard threshold: soft-thresholding"),
    ck.invariant("prox_l1", _lasso_cases, _like_lasso, call=_ista, id="ista_lasso",
                 title="ISTA with prox_l1 reproduces scikit-learn's Lasso",
                 description="5000 ISTA steps (step 1/L, threshold alpha/L) for alpha 0.1, 0.5, "
                 "1, 2 equal Lasso(alpha, fit_intercept=False) within 1e-4 with the same exact "
                 "zeros; the nonzeros never grow with alpha",
                 hint="entries with |w| <= t must become exactly 0: that is where the zeros "
                 "of Lasso come from"),
    ck.jit("prox_l1", lambda rng: [case(ck.normal(rng, (4, 6), 2.0),
                                        np.asarray([0.0, 0.3, 1.0, 2.5], np.float32))],
           call=lambda fns, i: __import__("jax").vmap(fns.prox_l1)(*i.args), id="jit_vmap",
           title="works under jit(vmap) with a traced t",
           hint="t is traced: no Python if on it; jnp.maximum, not max()"),
    ck.forbidden("prox_l1"),
]

# ---- optimizers --------------------------------------------------------------------------

run = oc.run


def raised(thunk):
    """What ``thunk()`` raises: "ValueError", another exception's name, or "nothing" (the
    stub's NotImplementedError goes through)."""
    try:
        thunk()
    except NotImplementedError:
        raise
    except Exception as e:  # noqa: BLE001 - the learner's exception is what is graded
        return "ValueError" if isinstance(e, ValueError) else type(e).__name__
    return "nothing"


def _needs_params(task):
    def call(fns, i):
        import jax.numpy as jnp

        tx = getattr(fns, task)(learning_rate=0.1, weight_decay=0.1)
        return raised(lambda: tx.update(jnp.ones(3), tx.init(jnp.ones(3))))

    return ck.oracle(task, lambda rng: [case(label="update(g, state)")], lambda c: "ValueError",
                     call=call, id="needs_params", batched=False, exact=True,
                     title="update without params raises ValueError",
                     hint="if params is None: raise ValueError(...), as optax does")


def _plain(fns, i, task, tx, loss):
    """The trajectory of the learner's task (wrapped) and of ``tx`` on ``loss``."""
    import jax
    import optax

    def step(carry, _):
        p, s = carry
        u, s = tx.update(jax.grad(loss)(p), s)
        return (optax.apply_updates(p, u), s), {"updates": u, "params": optax.apply_updates(p, u)}

    ours = oc.trajectory_call(task)(_Fns(fns), i)
    return {"task": ours, "plain": jax.lax.scan(step, (i.args[0], tx.init(i.args[0])),
                                                length=i.static["steps"])[1]}


def _l2_sgd(fns, i):
    import jax
    import jax.numpy as jnp
    import optax

    wd, mask = i.static["weight_decay"], mask_tree(i.static["mask"], i.args[0])
    loss = lambda p: oc.quadratic(p) + 0.5 * wd * sum(jax.tree.leaves(jax.tree.map(  # noqa: E731
        lambda w, f: jnp.sum(w * w) * f, p, mask)))
    return _plain(fns, i, "sgd_weight_decay", optax.sgd(i.static["learning_rate"]), loss)


def _vs_adam(fns, i):
    import optax

    out = _plain(fns, i, "adamw", optax.adam(i.static["learning_rate"]), oc.quadratic)
    return {k: v["params"] for k, v in out.items()}


def _plain_where_unmasked(c, out):
    import jax

    flags = jax.tree.leaves(mask_tree(c.static["mask"], c.args[0]))
    for k, (f, g, a) in enumerate(zip(flags, jax.tree.leaves(out["task"]),
                                      jax.tree.leaves(out["plain"]), strict=True)):
        msg = compare_arrays(f"params leaf {k}", g, a, rtol=1e-6, atol=1e-7)
        if not f and msg:
            return f"a leaf the mask leaves out must follow plain Adam: {msg}"
        if f and np.max(np.abs(np.asarray(g, np.float64) - a)) <= 1e-2:
            return f"decayed params leaf {k} stays within 1e-2 of plain Adam: no decay?"
    return None


_SGDWD = [
    _wrapped(oc.trajectory("sgd_weight_decay", ck.cases_of(
        run("quadratic", 100, learning_rate=0.01, weight_decay=0.3, mask="opt_tree"),
        run("quadratic", 100, learning_rate="linear", weight_decay=0.3, mask="kernels"),
        run("rosenbrock", 100, low=-1.2, high=1.2, learning_rate=5e-4, weight_decay=0.3)),
        id="matches_optax", title="trajectory matches optax add_decayed_weights + sgd",
        description="100 steps equal optax.chain(optax.add_decayed_weights(0.3, mask), "
        "optax.sgd(lr)) for lr 0.01 and linear_schedule(0.02, 0.002, 100), masks None, a "
        "pytree and a callable", hint="-lr * (g + wd * p) on masked leaves, -lr * g elsewhere; "
        "lr is the schedule at the 0-based step")),
    ck.invariant("sgd_weight_decay", ck.cases_of(
        run("quadratic", 100, learning_rate=0.01, weight_decay=0.3, mask="opt_tree"),
        run("quadratic", 100, learning_rate=0.02, weight_decay=0.5, mask="kernels")),
        props.equal_parts("plain", "task", what="differs from SGD on loss + 0.5 * wd * "
                          "sum(w**2)", rtol=1e-5, atol=1e-6), call=_l2_sgd, batched=False,
        id="equals_l2_sgd", title="equals plain SGD on loss + l2_penalty(p, wd)",
        hint="the decay term is wd * p (the gradient of 0.5 * wd * w**2), not 2 * wd * p"),
    _needs_params("sgd_weight_decay"),
    _wrapped(oc.update_jits("sgd_weight_decay", ck.cases_of(
        run("quadratic", 3, learning_rate="linear", weight_decay=0.3, mask="kernels")),
        title="update works under jit")),
    oc.trajectory("sgd_weight_decay", ck.cases_of(run("steep", 100, low=-3.0, high=-2.0,
                                                      learning_rate=2e-3, weight_decay=0.3)),
                  chain=True, id="chain", title="composes after optax.clip_by_global_norm",
                  hint="transform the updates you are given, with the params update receives"),
    ck.forbidden("sgd_weight_decay"),
]

_ADAMW = [
    _wrapped(oc.trajectory("adamw", ck.cases_of(
        run("quadratic", 100, learning_rate=0.03, weight_decay=0.1),
        run("quadratic", 100, learning_rate=0.03, weight_decay=0.1, mask="opt_tree"),
        run("quadratic", 100, learning_rate="linear_adamw", weight_decay=0.1, mask="kernels"),
        run("rosenbrock", 100, low=-1.2, high=1.2, learning_rate=0.01, weight_decay=0.5)),
        id="matches_optax", title="trajectory matches optax.adamw",
        description="100 steps equal optax.adamw for lr 0.03 and linear_schedule(0.05, 0.005, "
        "100), masks None, a pytree and a callable, on a quadratic and Rosenbrock",
        hint="chain(scale_by_adam(b1, b2, eps=eps), + wd * p on masked leaves, "
        "scale_by_learning_rate(lr)): the decay skips Adam's preconditioner and is "
        "multiplied by the current learning rate")),
    _wrapped(oc.trajectory("adamw", ck.cases_of(run(
        "tiny", 100, learning_rate=0.01, b1=0.8, b2=0.99, eps=1e-6, weight_decay=0.5,
        mask="opt_tree")), id="tiny_gradients", kind="stability",
        title="tiny gradients (eps placement)", hint="pass eps on to scale_by_adam",
        description="b1=0.8, b2=0.99, eps=1e-6, wd=0.5 and gradients ~1e-6 follow "
        "optax.adamw")),
    ck.invariant("adamw", ck.cases_of(run("quadratic", 100, learning_rate=0.03,
                                          weight_decay=0.5, mask="opt_tree")),
                 _plain_where_unmasked, call=_vs_adam, id="masked_leaves_plain_adam",
                 batched=False, title="masked-out leaves follow plain Adam",
                 description="the leaf the mask leaves out follows optax.adam exactly; the "
                 "decayed ones end more than 1e-2 away from it",
                 hint="True in the mask means decay this leaf; False leaves get Adam alone"),
    _needs_params("adamw"),
    *(_wrapped(c, carry=c.id != "adamw/chain") for c in oc.common(
        "adamw", hyper={"learning_rate": 0.03, "weight_decay": 0.1, "mask": "kernels"},
        chain={"learning_rate": 0.01, "weight_decay": 0.2}, label="mask ndim >= 2")
      if c.id != "adamw/bfloat16"),
]

CHECKS = (*_PENALTIES, *_PROX, *_SGDWD, *_ADAMW)

_FORBIDDEN = ("optax.adamw", "optax.adam", "optax.sgd", "optax.add_decayed_weights",
              "optax.masked", "optax.scale_by_adam", "optax.scale_by_learning_rate",
              "optax.scale_by_schedule", "optax.partition", "optax.multi_transform",
              "optax.contrib", "optax.projections", "optax.transforms", "optax._src", "sklearn")

EXERCISE = Exercise(
    id="q09",
    title="Regularization",
    files={"regularization.py": FileSpec(
        helpers=("dlcore.optim.base:ScaleByScheduleState",
                 "dlcore.optim.base:scale_by_learning_rate",
                 "dlcore.optim.adam:ScaleByAdamState", "dlcore.optim.adam:scale_by_adam"),
        parts=("dlcore.nn.regularizers:expand_mask",
               "dlcore.optim.weight_decay:add_decayed_weights"),
        tasks=("dlcore.nn.regularizers:l1_penalty", "dlcore.nn.regularizers:l2_penalty",
               "dlcore.nn.regularizers:prox_l1", "dlcore.optim.weight_decay:sgd_weight_decay",
               "dlcore.optim.adamw:adamw"),
        summary="L1/L2 penalties, soft-thresholding, SGD with weight decay and AdamW")},
    checks=CHECKS,
    forbidden={"prox_l1": ("sklearn",), **{t: _FORBIDDEN for t in OPTIMIZERS}},
)
