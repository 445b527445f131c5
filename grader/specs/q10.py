"""q10 Activation functions: match jax.nn on wide ranges, with finite gradients."""

from __future__ import annotations

import numpy as np

from grader import checks as ck
from grader.spec import Case, Exercise, FileSpec

ELEMENTWISE = ("sigmoid", "relu", "leaky_relu", "tanh", "softplus", "gelu")
KINKED = {"relu", "leaky_relu"}  # derivative at exactly 0 is not graded


def _away_from_zero(x):
    return np.where(np.abs(x) < 0.05, np.sign(x) * 0.05 + (x == 0) * 0.05, x).astype(x.dtype)


def _values(rng, task, statics=()):
    out = []
    for shape in [(7,), (3, 5), (2, 3, 4)]:
        x = ck.normal(rng, shape, 3.0)
        out.append(Case({"x": x}, dict(statics), label="normal(0, 3)"))
    wide = np.concatenate([-np.logspace(-3, 4, 12), [0.0], np.logspace(-3, 4, 12)])
    out.append(Case({"x": wide.astype(np.float32)}, dict(statics), label="-1e4 .. 1e4"))
    out.append(Case({"x": ck.bf16(ck.normal(rng, (4, 6), 2.0))}, dict(statics), label="bfloat16"))
    return out


def _grad_cases(rng, task, statics=(), extreme=False):
    if extreme:
        x = np.array([-1e4, -300.0, -40.0, -9.0, 9.0, 40.0, 300.0, 1e4], np.float32)
        return [Case({"x": x}, dict(statics), label="extreme values")]
    out = []
    for shape in [(9,), (3, 4)]:
        x = ck.normal(rng, shape, 3.0)
        if task in KINKED:
            x = _away_from_zero(x)
        out.append(Case({"x": x, "_cot": ck.normal(rng, shape)}, dict(statics)))
    return out


def _elementwise_checks(task, statics=()):
    st = dict(statics)
    name_sfx = "".join(f" ({k}={v})" for k, v in st.items())
    return [
        ck.equivalence(
            task,
            lambda rng: _values(rng, task, st),
            name=f"{task}{name_sfx}: matches jax.nn.{task}",
            description=f"{task} equals jax.nn.{task} on normal, +-1e4 and "
            "bfloat16 inputs (shape, dtype, finiteness, values)",
            hint="compute with the max shifted out or with exp of non-positive "
            "arguments only, so nothing overflows",
        ),
        ck.grad_matches(
            task, lambda rng: _grad_cases(rng, task, st), name=f"{task}{name_sfx}: gradient matches"
        ),
        ck.grad_matches(
            task,
            lambda rng: _grad_cases(rng, task, st, extreme=True),
            name=f"{task}{name_sfx}: finite gradient at +-1e4",
            kind="stability",
            description=f"the gradient of {task} is finite and right at +-1e4",
            hint="a formula can be finite forward and still give inf/inf = NaN "
            "backward; branch with jnp.where so exp never overflows",
        ),
    ]


def _jit(task, static_argnames=()):
    return ck.jit_matches_eager(
        task,
        lambda rng: [Case({"x": ck.normal(rng, (5, 4), 3.0)})],
        static_argnames=static_argnames,
    )


def _sigmoid_symmetry(case, out):
    s, r = out["['pos']"].astype(np.float64), out["['neg']"].astype(np.float64)
    err = np.max(np.abs(r - (1 - s)))
    return None if err <= 1e-6 else f"sigmoid(-x) differs from 1 - sigmoid(x) by {err:.3g}"


def _rows_sum_to_one(case, out):
    p = out["['p']"].astype(np.float64)
    axis = case.static.get("axis", -1)
    tol = 1e-5 if out["['p']"].dtype == np.float32 else 2e-2
    err = np.max(np.abs(p.sum(axis=axis) - 1))
    if not np.isfinite(err) or err > tol:
        return f"softmax along axis {axis} sums to 1 +- {err:.3g}, not within {tol:g}"
    if (p < 0).any():
        return "softmax has negative entries"
    return None


def _shift_invariant(case, out):
    a, b = out["['p']"].astype(np.float64), out["['shifted']"].astype(np.float64)
    err = np.max(np.abs(a - b))
    if not np.isfinite(err) or err > 2e-5:
        return f"softmax(x + 100) differs from softmax(x) by {err:.3g}"
    return None


def _nonpositive(case, out):
    y = out["['y']"].astype(np.float64)
    if not np.isfinite(y).all():
        return "log_softmax has non-finite entries"
    if (y > 0).any():
        return f"log_softmax has positive entries (max {y.max():.3g}); it must be <= 0"
    err = np.max(np.abs(np.exp(y).sum(axis=-1) - 1))
    return None if err <= 1e-5 else f"exp(log_softmax) rows sum to 1 +- {err:.3g}"


def _sym_probe(fns, c):
    return {"pos": fns.sigmoid(c.x), "neg": fns.sigmoid(-c.x)}


def _softmax_probe(fns, c):
    return {
        "p": fns.softmax(c.x, **ck.kwargs_of(c)),
        "shifted": fns.softmax(c.x + 100.0, **ck.kwargs_of(c)),
    }


def _softmax_cases(rng):
    return [
        Case({"x": ck.normal(rng, (4, 6), 3.0)}, {"axis": -1}),
        Case({"x": ck.normal(rng, (5, 3), 3.0)}, {"axis": 0}),
        Case({"x": ck.normal(rng, (2, 3, 4), 3.0)}, {"axis": 1}),
        Case(
            {"x": np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], np.float32)},
            {"axis": -1},
            label="logits +-1e4",
        ),
        Case({"x": ck.bf16(ck.normal(rng, (3, 5), 2.0))}, {"axis": -1}, label="bfloat16"),
    ]


def _softmax_grad_cases(rng):
    return [
        Case({"x": ck.normal(rng, (4, 6), 3.0), "_cot": ck.normal(rng, (4, 6))}, {"axis": -1}),
        Case({"x": ck.normal(rng, (5, 3), 3.0), "_cot": ck.normal(rng, (5, 3))}, {"axis": 0}),
        Case(
            {
                "x": np.array([[1e4, -1e4, 0.0]], np.float32),
                "_cot": np.array([[1.0, -2.0, 0.5]], np.float32),
            },
            {"axis": -1},
            label="logits +-1e4",
        ),
    ]


def _normalizer_checks(task):
    return [
        ck.equivalence(
            task,
            _softmax_cases,
            name=f"{task}: matches jax.nn.{task}",
            description=f"{task} equals jax.nn.{task} along several axes, at "
            "logit scale 1e4 and in bfloat16",
            hint="subtract the max along the axis (keepdims=True) before exp",
        ),
        ck.grad_matches(task, _softmax_grad_cases, name=f"{task}: gradient matches"),
        ck.jit_matches_eager(
            task,
            lambda rng: [Case({"x": ck.normal(rng, (3, 7))}, {"axis": -1})],
            static_argnames=("axis",),
        ),
        ck.vmap_matches_loop(
            task, lambda rng: [Case({"x": ck.normal(rng, (4, 3, 5))}, {"axis": -1})]
        ),
    ]


CHECKS = (
    *_elementwise_checks("sigmoid"),
    _jit("sigmoid"),
    ck.invariant(
        "sigmoid",
        lambda rng: [Case({"x": ck.normal(rng, (50,), 5.0)})],
        _sigmoid_symmetry,
        probe=_sym_probe,
        description="sigmoid(-x) = 1 - sigmoid(x)",
    ),
    *_elementwise_checks("relu"),
    _jit("relu"),
    *_elementwise_checks("leaky_relu"),
    ck.equivalence(
        "leaky_relu",
        lambda rng: _values(rng, "leaky_relu", {"negative_slope": 0.2}),
        name="leaky_relu: respects negative_slope",
        description="leaky_relu(x, negative_slope=0.2) equals jax.nn.leaky_relu",
    ),
    _jit("leaky_relu"),
    *_elementwise_checks("tanh"),
    _jit("tanh"),
    *_elementwise_checks("softplus"),
    _jit("softplus"),
    *_elementwise_checks("gelu"),
    *_elementwise_checks("gelu", {"approximate": False}),
    _jit("gelu", static_argnames=("approximate",)),
    *_normalizer_checks("softmax"),
    ck.invariant(
        "softmax",
        _softmax_cases,
        _rows_sum_to_one,
        probe=lambda fns, c: {"p": fns.softmax(c.x, **ck.kwargs_of(c))},
        description="rows sum to 1 along the axis",
    ),
    ck.invariant(
        "softmax",
        lambda rng: [Case({"x": ck.normal(rng, (4, 6), 3.0)}, {"axis": -1})],
        _shift_invariant,
        probe=_softmax_probe,
        description="shift invariance: softmax(x + c) = softmax(x)",
    ),
    *_normalizer_checks("log_softmax"),
    ck.invariant(
        "log_softmax",
        lambda rng: [
            Case({"x": ck.normal(rng, (4, 6), 3.0)}, {"axis": -1}),
            Case({"x": np.array([[1e4, -1e4, 0.0]], np.float32)}, {"axis": -1}),
        ],
        _nonpositive,
        probe=lambda fns, c: {"y": fns.log_softmax(c.x, **ck.kwargs_of(c))},
        description="log_softmax <= 0 and exp(log_softmax) sums to 1",
    ),
    *[ck.forbidden(t) for t in (*ELEMENTWISE, "softmax", "log_softmax")],
)

_FORBIDDEN = (
    "jax.nn",
    "jax.scipy.special",
    "jax.scipy",
    "flax",
    "optax",
    "jax.lax.logistic",
    "jax.numpy.logaddexp",
)

EXERCISE = Exercise(
    id="q10",
    title="Activation functions",
    files={
        "activations.py": FileSpec(
            tasks=tuple(
                f"dlcore.nn.activations:{t}" for t in (*ELEMENTWISE, "softmax", "log_softmax")
            ),
            summary="activation functions written from jax.numpy primitives",
        )
    },
    checks=CHECKS,
    forbidden={t: _FORBIDDEN for t in (*ELEMENTWISE, "softmax", "log_softmax")},
)
