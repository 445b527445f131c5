"""q05 Backpropagation: a hand-written backward pass that equals jax.grad."""

from __future__ import annotations

import numpy as np

from grader import checks as ck
from grader import props
from grader.spec import Exercise, FileSpec, case

_GRAD_FAMILY = ("jax.grad", "jax.vjp", "jax.value_and_grad", "jax.jacrev", "jax.jacfwd",
                "jax.jacobian", "jax.hessian", "jax.jvp", "jax.linearize", "jax.linear_transpose",
                "jax.custom_vjp", "jax.custom_jvp", "optax", "flax")
_SHAPES = [(4, 5, 7, 3), (1, 3, 2, 2), (16, 8, 16, 10)]  # (batch, inputs, hidden, classes)
_DIRECTIONS = 4


def _mlp_case(rng, b, d, h, c, **kw):
    params = {"w1": ck.normal(rng, (d, h), 1 / np.sqrt(d)), "b1": ck.normal(rng, (h,), 0.1),
              "w2": ck.normal(rng, (h, c), 1 / np.sqrt(h)), "b2": ck.normal(rng, (c,), 0.1)}
    labels = rng.integers(0, c, b).astype(np.int32)
    return case(params, ck.normal(rng, (b, d)), labels=labels,
                label=f"B={b}, D={d}, H={h}, C={c}", **kw)


def _mlp_cases(rng):
    return [_mlp_case(rng, *s, extras={"cot": ck.normal(rng, (s[0], s[3]))}) for s in _SHAPES]


def _logits(fns, i):
    return fns.mlp_forward(i.args[0], i.args[1])[0]


def _backward(fns, i):
    params, x = i.args
    return fns.mlp_backward(params, fns.mlp_forward(params, x)[1], i.kwargs["labels"])


def _one_example(fns, i):  # vmap maps x and labels to single examples
    params, x = i.args
    return fns.mlp_backward(params, fns.mlp_forward(params, x[None])[1], i.kwargs["labels"][None])


def _trusted_loss(p, x, labels):
    import jax.numpy as jnp

    z = jnp.maximum(x @ p["w1"] + p["b1"][None, :], 0) @ p["w2"] + p["b2"][None, :]
    z = z - jnp.max(z, axis=-1, keepdims=True)
    logp = z - jnp.log(jnp.sum(jnp.exp(z), axis=-1, keepdims=True))
    return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=-1))


def _directional(fns, i):
    """Per direction v: central differences of a trusted loss along v, and <grads, v>."""
    grads, (p, x), eps = _backward(fns, i), i.args, 1e-2
    out = {"fd": [], "analytic": []}
    for v in i.extras["directions"]:
        plus = _trusted_loss({k: p[k] + eps * v[k] for k in p}, x, i.kwargs["labels"])
        minus = _trusted_loss({k: p[k] - eps * v[k] for k in p}, x, i.kwargs["labels"])
        out["fd"].append((plus - minus) / (2 * eps))
        out["analytic"].append(sum((grads[k] * v[k]).sum() for k in p))
    return out


def _directional_cases(rng):
    base = _mlp_case(rng, 6, 4, 5, 3)
    dirs = [{k: ck.normal(rng, v.shape) for k, v in base.args[0].items()}
            for _ in range(_DIRECTIONS)]
    return [case(*base.args, labels=base.kwargs["labels"], extras={"directions": dirs},
                 label=base.label)]


def _ce_cases(rng):
    out = [case(ck.normal(rng, (b, c), 3.0), rng.integers(0, c, b).astype(np.int32),
                extras={"cot": np.float32(rng.standard_normal())})
           for b, c in [(5, 3), (1, 2), (32, 10)]]
    big = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]], np.float32)
    return out + [case(big, np.array([1, 1], np.int32), label="logits 1e4")]


def _smooth_f(p):
    import jax.numpy as jnp

    return jnp.sum(jnp.tanh(p["a"] @ p["nested"]["b"])) + jnp.sum(p["nested"]["c"] ** 2) * 0.5


def _numgrad_cases(rng):
    def one(**st):
        return case({"a": ck.normal(rng, (3, 4), 0.5), "nested": {
            "b": ck.normal(rng, (4, 2), 0.5), "c": ck.normal(rng, (5,))}}, static=st)

    return [one(), one(eps=1e-2)]


def _numgrad(fns, i):
    return fns.numerical_grad(_smooth_f, i.args[0], **i.static)


def _numgrad_vs_autodiff(fns, i):
    import jax

    return {"fd": _numgrad(fns, i), "ad": jax.grad(_smooth_f)(i.args[0])}


def _sgd_cases(rng):
    def one(shape, lr):
        params = {"layer": {"w": ck.normal(rng, shape)}, "b": (ck.normal(rng, (2,)),)}
        grads = {"layer": {"w": ck.normal(rng, shape)}, "b": (ck.normal(rng, (2,)),)}
        return case(params, grads, lr)

    return [one((3, 2), 0.1), one((4,), 0.003)]


def _three_steps(fns, i):
    import jax.numpy as jnp

    (p, x), labels, losses = i.args, i.kwargs["labels"], []
    for _ in range(3):
        logits, cache = fns.mlp_forward(p, x)
        losses.append(fns.softmax_cross_entropy(logits, labels))
        p = fns.sgd_step(p, fns.mlp_backward(p, cache, labels), 0.5)
    return jnp.stack(losses + [fns.softmax_cross_entropy(fns.mlp_forward(p, x)[0], labels)])


def _falls(case, out):
    losses = np.asarray(out, np.float64)
    if not np.all(np.isfinite(losses)) or not np.all(np.diff(losses) < 0):
        return f"the loss did not fall at every step: {np.round(losses, 5).tolist()}"
    return None


_ONE = lambda rng: [_mlp_case(rng, 4, 5, 6, 3)]  # noqa: E731
_BACK = dict(call=_backward, uses=("mlp_forward",))

CHECKS = (
    ck.equivalence("mlp_forward", _mlp_cases, call=_logits, title="logits match",
                   description="the logits of mlp_forward equal relu(x @ w1 + b1) @ w2 + b2"),
    ck.grad("mlp_forward", _mlp_cases, call=_logits, title="differentiable",
            hint="build the logits from jnp operations only"),
    ck.jit("mlp_forward", _ONE, call=_logits),
    ck.equivalence("softmax_cross_entropy", _ce_cases, title="matches optax",
                   description="mean softmax cross-entropy with integer labels, at logits 1e4",
                   hint="log_softmax = x - max - log(sum(exp(x - max))); never log(softmax)"),
    ck.grad("softmax_cross_entropy", lambda rng: _ce_cases(rng)[:1] + _ce_cases(rng)[-1:],
            description="d loss / d logits equals the reference, also at logits 1e4"),
    ck.jit("softmax_cross_entropy", lambda rng: _ce_cases(rng)[:1]),
    ck.equivalence("mlp_backward", _mlp_cases, id="equals_grad", title="equals jax.grad",
                   tol_scale=20, hint="dlogits = (softmax(logits) - one_hot) / B; the bias "
                   "gradient sums over the batch; relu passes gradient where z1 > 0", **_BACK),
    ck.invariant("mlp_backward", _directional_cases, props.equal_parts(
        "fd", "analytic", what="<your gradients, v> against central differences along v",
        rtol=2e-2, atol=2e-3), id="finite_diff", kind="finite_diff",
        title="agrees with finite differences", call=_directional, uses=("mlp_forward",)),
    ck.vmap("mlp_backward", lambda rng: [_mlp_case(rng, 5, 4, 6, 3)], in_axes=(None, 0),
            kw_axes={"labels": 0}, call=_one_example, uses=("mlp_forward",), tol_scale=20,
            title="per-example gradients under vmap"),
    ck.jit("mlp_backward", _ONE, **_BACK),
    ck.equivalence("numerical_grad", _numgrad_cases, call=_numgrad, tol_scale=50,
                   title="central differences",
                   hint="perturb one element at a time by +eps and -eps; keep the pytree "
                   "structure (jax.tree.flatten / unflatten)"),
    ck.invariant("numerical_grad", lambda rng: _numgrad_cases(rng)[:1], props.equal_parts(
        "ad", "fd", what="numerical_grad against jax.grad", rtol=1e-2, atol=1e-3),
        call=_numgrad_vs_autodiff, id="close_to_grad",
        title="equals jax.grad to finite-difference accuracy"),
    ck.jit("numerical_grad", lambda rng: _numgrad_cases(rng)[:1], call=_numgrad, tol_scale=50),
    ck.equivalence("sgd_step", _sgd_cases, title="params - lr * grads"),
    ck.jit("sgd_step", lambda rng: _sgd_cases(rng)[:1]),
    ck.invariant("sgd_step", lambda rng: [_mlp_case(rng, 32, 6, 16, 4)], _falls,
                 call=_three_steps, id="loss_falls", title="training loss falls",
                 uses=("mlp_forward", "mlp_backward", "softmax_cross_entropy"), batched=False),
    *[ck.forbidden(t) for t in ("mlp_backward", "numerical_grad", "softmax_cross_entropy",
                                "sgd_step")],
)

EXERCISE = Exercise(
    id="q05",
    title="Backpropagation",
    files={"backprop.py": FileSpec(
        helpers=("dlcore.nn.activations:relu", "dlcore.nn.activations:softmax"),
        parts=("dlcore.nn.activations:log_softmax",),
        tasks=("dlcore.autodiff.backprop:mlp_forward", "dlcore.nn.losses:softmax_cross_entropy",
               "dlcore.autodiff.backprop:mlp_backward", "dlcore.autodiff.numerical:numerical_grad",
               "dlcore.optim.sgd:sgd_step"),
        summary="an MLP's forward and backward pass, by hand")},
    checks=CHECKS,
    forbidden={
        "mlp_backward": _GRAD_FAMILY,
        "numerical_grad": _GRAD_FAMILY,
        # the loss and the step are what the exercise asks for, not upstream's versions
        "softmax_cross_entropy": ("optax", "flax", "jax.nn", "jax.scipy"),
        "sgd_step": ("optax", "flax"),
    },
)
