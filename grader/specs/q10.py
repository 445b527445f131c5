"""q10 Activation functions: match jax.nn on wide ranges, with finite gradients."""

from __future__ import annotations

import numpy as np

from grader import checks as ck
from grader import props
from grader.spec import Exercise, FileSpec, case

ELEMENTWISE = ("sigmoid", "relu", "leaky_relu", "tanh", "softplus", "gelu")
NORMALIZERS = ("softmax", "log_softmax")
KINKED = {"relu", "leaky_relu"}  # derivative at exactly 0 is not graded
WIDE = np.concatenate([-np.logspace(-3, 4, 12), [0.0], np.logspace(-3, 4, 12)])
EXTREME = np.array([-1e4, -300.0, -40.0, -9.0, 9.0, 40.0, 300.0, 1e4], np.float32)


def _away_from_zero(x):
    return np.where(np.abs(x) < 0.05, np.sign(x) * 0.05 + (x == 0) * 0.05, x).astype(x.dtype)


def _values(st):
    def cases(rng):
        out = [case(ck.normal(rng, s, 3.0), static=st, label="normal(0, 3)")
               for s in [(7,), (3, 5), (2, 3, 4)]]
        out.append(case(WIDE.astype(np.float32), static=st, label="-1e4 .. 1e4"))
        out.append(case(ck.bf16(ck.normal(rng, (4, 6), 2.0)), static=st, label="bfloat16"))
        return out

    return cases


def _grad_cases(task, st):
    def cases(rng):
        xs = [ck.normal(rng, s, 3.0) for s in [(9,), (3, 4)]]
        xs = [_away_from_zero(x) if task in KINKED else x for x in xs]
        return [case(x, static=st, extras={"cot": ck.normal(rng, x.shape)}) for x in xs]

    return cases


def _elementwise(task, st=None, sfx=""):
    st = dict(st or {})
    label = "".join(f" ({k}={v})" for k, v in st.items())
    return [
        ck.equivalence(task, _values(st), id=f"matches{sfx}", title=f"matches jax.nn.{task}{label}",
                       description=f"{task} equals jax.nn.{task} on normal, +-1e4 and bfloat16 "
                       "inputs (shape, dtype, finiteness, values)",
                       hint="compute with the max shifted out or with exp of non-positive "
                       "arguments only, so nothing overflows"),
        ck.grad(task, _grad_cases(task, st), id=f"grad{sfx}", title=f"gradient matches{label}"),
        ck.grad(task, lambda rng: [case(EXTREME, static=st, label="extreme values")],
                id=f"grad_extreme{sfx}", kind="stability", title=f"finite gradient at +-1e4{label}",
                hint="a formula can be finite forward and still give inf/inf = NaN backward; "
                "branch with jnp.where so exp never overflows"),
    ]


def _jit(task, st=None):
    return ck.jit(task, lambda rng: [case(ck.normal(rng, (5, 4), 3.0), static=dict(st or {}))])


def _axis_cases(rng):
    return [
        case(ck.normal(rng, (4, 6), 3.0), static={"axis": -1}),
        case(ck.normal(rng, (5, 3), 3.0), static={"axis": 0}),
        case(ck.normal(rng, (2, 3, 4), 3.0), static={"axis": 1}),
        case(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], np.float32), static={"axis": -1},
             label="logits +-1e4"),
        case(ck.bf16(ck.normal(rng, (3, 5), 2.0)), static={"axis": -1}, label="bfloat16"),
    ]


def _axis_grad_cases(rng):
    big = np.array([[1e4, -1e4, 0.0]], np.float32)
    return [
        case(ck.normal(rng, (4, 6), 3.0), static={"axis": -1},
             extras={"cot": ck.normal(rng, (4, 6))}),
        case(ck.normal(rng, (5, 3), 3.0), static={"axis": 0},
             extras={"cot": ck.normal(rng, (5, 3))}),
        case(big, static={"axis": -1}, extras={"cot": np.array([[1.0, -2.0, 0.5]], np.float32)},
             label="logits +-1e4"),
    ]


def _normalizer(task):
    return [
        ck.equivalence(task, _axis_cases, title=f"matches jax.nn.{task}",
                       description=f"{task} equals jax.nn.{task} along several axes, at logit "
                       "scale 1e4 and in bfloat16",
                       hint="subtract the max along the axis (keepdims=True) before exp"),
        ck.grad(task, _axis_grad_cases),
        _jit(task, {"axis": -1}),
        ck.vmap(task, lambda rng: [case(ck.normal(rng, (4, 3, 5)), static={"axis": -1})]),
    ]


def _negate(i):
    return i.replace(args=(-i.args[0],))


CHECKS = (
    *_elementwise("sigmoid"),
    _jit("sigmoid"),
    ck.metamorphic("sigmoid", lambda rng: [case(ck.normal(rng, (50,), 5.0))], id="symmetry",
                   title="sigmoid(-x) = 1 - sigmoid(x)", transform=_negate,
                   relation=lambda y, i: 1 - y, tol_scale=0.5),
    *_elementwise("relu"),
    _jit("relu"),
    *_elementwise("leaky_relu"),
    ck.equivalence("leaky_relu", _values({"negative_slope": 0.2}), id="negative_slope",
                   title="respects negative_slope",
                   description="leaky_relu(x, negative_slope=0.2) equals jax.nn.leaky_relu"),
    _jit("leaky_relu"),
    *_elementwise("tanh"),
    _jit("tanh"),
    *_elementwise("softplus"),
    _jit("softplus"),
    *_elementwise("gelu"),
    *_elementwise("gelu", {"approximate": False}, "_exact"),
    _jit("gelu", {"approximate": False}),
    *_normalizer("softmax"),
    ck.invariant("softmax", _axis_cases, props.sums_to_one(axis="axis"), id="rows_sum_to_one",
                 title="rows sum to 1 along the axis"),
    ck.metamorphic("softmax", lambda rng: [case(ck.normal(rng, (4, 6), 3.0), static={"axis": -1})],
                   id="shift_invariant", title="shift invariance: softmax(x + 100) = softmax(x)",
                   transform=lambda i: i.replace(args=(i.args[0] + 100.0,)),
                   relation=lambda y, i: y, tol_scale=1.0, atol=2e-5),
    *_normalizer("log_softmax"),
    ck.invariant("log_softmax", lambda rng: [
        case(ck.normal(rng, (4, 6), 3.0), static={"axis": -1}),
        case(np.array([[1e4, -1e4, 0.0]], np.float32), static={"axis": -1})],
        props.all_of(props.finite(), props.at_most(0.0), props.sums_to_one(log=True)),
        id="nonpositive", title="log_softmax <= 0 and exp(log_softmax) sums to 1"),
    *[ck.forbidden(t) for t in (*ELEMENTWISE, *NORMALIZERS)],
)

_FORBIDDEN = ("jax.nn", "jax.scipy.special", "jax.scipy", "flax", "optax", "jax.lax.logistic",
              "jax.numpy.logaddexp")

EXERCISE = Exercise(
    id="q10",
    title="Activation functions",
    files={"activations.py": FileSpec(
        tasks=tuple(f"dlcore.nn.activations:{t}" for t in (*ELEMENTWISE, *NORMALIZERS)),
        summary="activation functions written from jax.numpy primitives")},
    checks=CHECKS,
    forbidden={t: _FORBIDDEN for t in (*ELEMENTWISE, *NORMALIZERS)},
)
