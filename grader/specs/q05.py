"""q05 Backpropagation: a hand-written backward pass that equals jax.grad."""

from __future__ import annotations

import numpy as np

from grader import checks as ck
from grader.judge import compare_arrays
from grader.spec import Case, Exercise, Failure, FileSpec

_GRAD_FAMILY = (
    "jax.grad",
    "jax.vjp",
    "jax.value_and_grad",
    "jax.jacrev",
    "jax.jacfwd",
    "jax.jacobian",
    "jax.hessian",
    "jax.jvp",
    "jax.linearize",
    "jax.linear_transpose",
    "jax.custom_vjp",
    "jax.custom_jvp",
    "optax",
    "flax",
)

# (batch, inputs, hidden, classes)
_SHAPES = [(4, 5, 7, 3), (1, 3, 2, 2), (16, 8, 16, 10)]
_DIRECTIONS = 4


def _mlp_case(rng, b, d, h, c, label="", **static):
    arrays = {
        "w1": ck.normal(rng, (d, h), 1 / np.sqrt(d)),
        "b1": ck.normal(rng, (h,), 0.1),
        "w2": ck.normal(rng, (h, c), 1 / np.sqrt(h)),
        "b2": ck.normal(rng, (c,), 0.1),
        "x": ck.normal(rng, (b, d)),
        "labels": rng.integers(0, c, b).astype(np.int32),
    }
    return Case(arrays, static, label=label or f"B={b}, D={d}, H={h}, C={c}")


def _mlp_cases(rng):
    return [_mlp_case(rng, *s) for s in _SHAPES]


def _params(c):
    return {"w1": c.w1, "b1": c.b1, "w2": c.w2, "b2": c.b2}


def _forward_logits(fns, c):
    return fns.mlp_forward(_params(c), c.x)[0]


def _forward_logit_grads(fns, c):
    import jax
    import jax.numpy as jnp

    return jax.grad(lambda p: jnp.sum(jnp.sin(fns.mlp_forward(p, c.x)[0])))(_params(c))


def _backward(fns, c):
    _, cache = fns.mlp_forward(_params(c), c.x)
    return fns.mlp_backward(_params(c), cache, c.labels)


def _trusted_loss(p, x, labels):
    import jax.numpy as jnp

    z = jnp.maximum(x @ p["w1"] + p["b1"][None, :], 0) @ p["w2"] + p["b2"][None, :]
    z = z - jnp.max(z, axis=-1, keepdims=True)
    logp = z - jnp.log(jnp.sum(jnp.exp(z), axis=-1, keepdims=True))
    return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=-1))


def _directional(fns, c):
    """<backward grads, v> and the central difference of a trusted loss along v."""
    import jax.numpy as jnp

    grads = _backward(fns, c)
    p = _params(c)
    eps = 1e-2
    out = []
    for i in range(_DIRECTIONS):
        v = {k: c[f"_v{i}_{k}"] for k in p}
        plus = _trusted_loss({k: p[k] + eps * v[k] for k in p}, c.x, c.labels)
        minus = _trusted_loss({k: p[k] - eps * v[k] for k in p}, c.x, c.labels)
        out.append(
            jnp.stack([(plus - minus) / (2 * eps), sum(jnp.sum(grads[k] * v[k]) for k in p)])
        )
    return jnp.stack(out)


def _directional_cases(rng):
    case = _mlp_case(rng, 6, 4, 5, 3)
    extra = {
        f"_v{i}_{k}": ck.normal(rng, case.arrays[k].shape)
        for i in range(_DIRECTIONS)
        for k in ("w1", "b1", "w2", "b2")
    }
    return [Case({**case.arrays, **extra}, case.static, case.label)]


def _fd_agrees(case, out):
    pairs = out[""].astype(np.float64)
    fd, analytic = pairs[:, 0], pairs[:, 1]
    err = np.abs(fd - analytic)
    tol = 2e-3 + 2e-2 * np.abs(fd)
    if np.all(np.isfinite(analytic)) and np.all(err <= tol):
        return None
    i = int(np.argmax(err - tol))
    return (
        f"along random direction {i}, finite differences of the loss give "
        f"{fd[i]:.6g} but your gradients give {analytic[i]:.6g}"
    )


def _per_example(fns, c):
    """Per-example gradients: vmap of forward+backward over single examples, and a loop."""
    import jax
    import jax.numpy as jnp

    p = _params(c)

    def one(x, y):
        _, cache = fns.mlp_forward(p, x[None, :])
        return fns.mlp_backward(p, cache, y[None])

    looped = [one(c.x[i], c.labels[i]) for i in range(c.x.shape[0])]
    return {
        "vmap": jax.vmap(one)(c.x, c.labels),
        "loop": jax.tree.map(lambda *g: jnp.stack(g), *looped),
    }


_same_halves = ck.halves_agree(
    "loop", "vmap", "per-example gradients with jax.vmap differ from a loop", tol_scale=20
)


def _ce_cases(rng):
    out = []
    for b, c in [(5, 3), (1, 2), (32, 10)]:
        out.append(
            Case(
                {
                    "logits": ck.normal(rng, (b, c), 3.0),
                    "labels": rng.integers(0, c, b).astype(np.int32),
                }
            )
        )
    big = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]], np.float32)
    out.append(Case({"logits": big, "labels": np.array([1, 1], np.int32)}, label="logits 1e4"))
    return out


def _ce_grad_cases(rng):
    return [
        Case(
            {
                "logits": ck.normal(rng, (6, 4), 3.0),
                "labels": rng.integers(0, 4, 6).astype(np.int32),
            }
        ),
        Case(
            {"logits": np.array([[1e4, -1e4, 0.0]], np.float32), "labels": np.array([2], np.int32)},
            label="logits 1e4",
        ),
    ]


def _smooth_f(p):
    import jax.numpy as jnp

    return jnp.sum(jnp.tanh(p["a"] @ p["nested"]["b"])) + jnp.sum(p["nested"]["c"] ** 2) * 0.5


def _numgrad_cases(rng):
    def case(**static):
        return Case(
            {
                "a": ck.normal(rng, (3, 4), 0.5),
                "b": ck.normal(rng, (4, 2), 0.5),
                "c": ck.normal(rng, (5,)),
            },
            static,
        )

    return [case(), case(eps=1e-2)]


def _numgrad(fns, c):
    p = {"a": c.a, "nested": {"b": c.b, "c": c.c}}
    return fns.numerical_grad(_smooth_f, p, **ck.kwargs_of(c))


def _numgrad_vs_autodiff(fns, c):
    import jax

    p = {"a": c.a, "nested": {"b": c.b, "c": c.c}}
    return {"fd": fns.numerical_grad(_smooth_f, p), "ad": jax.grad(_smooth_f)(p)}


def _close_to_autodiff(case, out):
    fd = {k[len("['fd']") :]: v for k, v in out.items() if k.startswith("['fd']")}
    ad = {k[len("['ad']") :]: v for k, v in out.items() if k.startswith("['ad']")}
    for k in ad:
        if k not in fd:
            return f"numerical_grad's result has no leaf {k} (same structure as params expected)"
        msg = compare_arrays(k, fd[k], ad[k], rtol=1e-2, atol=1e-3)
        if msg:
            return f"numerical_grad is not within finite-difference accuracy of jax.grad: {msg}"
    return None


def _sgd_cases(rng):
    return [
        Case(
            {
                "w": ck.normal(rng, (3, 2)),
                "b": ck.normal(rng, (2,)),
                "gw": ck.normal(rng, (3, 2)),
                "gb": ck.normal(rng, (2,)),
            },
            {"lr": 0.1},
        ),
        Case(
            {
                "w": ck.normal(rng, (4,)),
                "b": ck.normal(rng, (1,)),
                "gw": ck.normal(rng, (4,)),
                "gb": ck.normal(rng, (1,)),
            },
            {"lr": 0.003},
        ),
    ]


def _sgd(fns, c):
    params = {"layer": {"w": c.w}, "b": (c.b,)}
    grads = {"layer": {"w": c.gw}, "b": (c.gb,)}
    return fns.sgd_step(params, grads, c.s["lr"])


def _sgd_jit(fns, c):
    import jax

    params = {"layer": {"w": c.w}, "b": (c.b,)}
    grads = {"layer": {"w": c.gw}, "b": (c.gb,)}
    return {
        "eager": fns.sgd_step(params, grads, 0.1),
        "jit": jax.jit(fns.sgd_step)(params, grads, 0.1),
    }


def _loss_falls(fns, c):
    import jax.numpy as jnp

    p = _params(c)
    losses = []
    for _ in range(3):
        logits, cache = fns.mlp_forward(p, c.x)
        losses.append(fns.softmax_cross_entropy(logits, c.labels))
        p = fns.sgd_step(p, fns.mlp_backward(p, cache, c.labels), 0.5)
    logits, _ = fns.mlp_forward(p, c.x)
    losses.append(fns.softmax_cross_entropy(logits, c.labels))
    return jnp.stack(losses)


def _decreasing(case, out):
    losses = out[""].astype(np.float64)
    if not np.all(np.isfinite(losses)):
        return f"losses over three sgd steps are not finite: {losses}"
    if not np.all(np.diff(losses) < 0):
        return f"the loss did not fall at every step: {np.round(losses, 5).tolist()}"
    return None


def _jit_case(rng):
    return [_mlp_case(rng, 4, 5, 6, 3)]


def _pipeline_jit(fns, c):
    import jax

    def step(p, x, y):
        _, cache = fns.mlp_forward(p, x)
        return fns.mlp_backward(p, cache, y)

    return {
        "eager": step(_params(c), c.x, c.labels),
        "jit": jax.jit(step)(_params(c), c.x, c.labels),
    }


def _forward_jit(fns, c):
    import jax

    return {
        "eager": _forward_logits(fns, c),
        "jit": jax.jit(lambda p, x: fns.mlp_forward(p, x)[0])(_params(c), c.x),
    }


def _numgrad_jit(fns, c):
    import jax

    def run(a, b, cc):
        return fns.numerical_grad(_smooth_f, {"a": a, "nested": {"b": b, "c": cc}})

    return {"eager": _numgrad(fns, c), "jit": jax.jit(run)(c.a, c.b, c.c)}


def _fd_judge(case, got, ref):
    msg = _fd_agrees(case, {k: v for k, (v, _) in got.items()})
    return Failure(f"on {case.describe()}: {msg}") if msg else None


def _jit_judge(what):
    return ck.halves_agree("eager", "jit", f"{what} under jax.jit differs from eager")


def _custom(
    name,
    task,
    kind,
    probe,
    cases,
    judge,
    description,
    uses=(),
    reference=False,
    hint="",
    batched=True,
):
    from grader.spec import Check

    return Check(
        name=name,
        task=task,
        kind=kind,
        probe=probe,
        cases=cases,
        judge=judge,
        description=description,
        uses=uses,
        reference=reference,
        hint=hint,
        batched=batched,
    )


CHECKS = (
    ck.equivalence(
        "mlp_forward",
        _mlp_cases,
        probe=_forward_logits,
        name="mlp_forward: logits match",
        description="the logits of mlp_forward equal relu(x @ w1 + b1) @ w2 + b2",
    ),
    _custom(
        "mlp_forward: differentiable",
        "mlp_forward",
        "grad",
        _forward_logit_grads,
        _mlp_cases,
        ck.match(20),
        "jax.grad through mlp_forward's logits equals the reference",
        reference=True,
        hint="build the logits from jnp operations only",
    ),
    _custom(
        "mlp_forward: works under jit",
        "mlp_forward",
        "jit",
        _forward_jit,
        _jit_case,
        _jit_judge("mlp_forward"),
        "mlp_forward runs under jax.jit",
        batched=False,
    ),
    ck.equivalence(
        "softmax_cross_entropy",
        _ce_cases,
        name="softmax_cross_entropy: matches optax",
        description="mean softmax cross-entropy with integer labels, including logits of size 1e4",
        hint="log_softmax = x - max - log(sum(exp(x - max))); never log(softmax)",
    ),
    ck.grad_matches(
        "softmax_cross_entropy",
        _ce_grad_cases,
        argnums=(0,),
        name="softmax_cross_entropy: gradient matches",
        description="d loss / d logits equals the reference, also at logits 1e4",
    ),
    ck.jit_matches_eager("softmax_cross_entropy", lambda rng: _ce_cases(rng)[:1]),
    _custom(
        "mlp_backward: equals jax.grad",
        "mlp_backward",
        "equivalence",
        _backward,
        _mlp_cases,
        ck.match(20),
        "hand-written gradients equal jax.grad of the mean "
        "softmax cross-entropy, for every parameter",
        uses=("mlp_forward",),
        reference=True,
        hint="dlogits = (softmax(logits) - one_hot) / B; the bias "
        "gradient sums over the batch; relu passes gradient where z1 > 0",
    ),
    _custom(
        "mlp_backward: agrees with finite differences",
        "mlp_backward",
        "finite_diff",
        _directional,
        _directional_cases,
        _fd_judge,
        "directional derivatives of the loss match central finite differences",
        uses=("mlp_forward",),
    ),
    _custom(
        "mlp_backward: per-example gradients under vmap",
        "mlp_backward",
        "vmap",
        _per_example,
        lambda rng: [_mlp_case(rng, 5, 4, 6, 3)],
        _same_halves,
        "vmap of forward+backward over single examples equals a loop",
        uses=("mlp_forward",),
        batched=False,
    ),
    _custom(
        "mlp_backward: works under jit",
        "mlp_backward",
        "jit",
        _pipeline_jit,
        _jit_case,
        _jit_judge("forward+backward"),
        "forward+backward runs under jax.jit",
        uses=("mlp_forward",),
        batched=False,
    ),
    ck.equivalence(
        "numerical_grad",
        _numgrad_cases,
        probe=_numgrad,
        name="numerical_grad: central differences",
        tol_scale=50,
        description="central differences (f(p + eps) - f(p - eps)) / (2 eps) of every "
        "element of a nested params pytree, honouring eps",
        hint="perturb one element at a time by +eps and -eps; keep the pytree "
        "structure (jax.tree.flatten / unflatten)",
    ),
    ck.invariant(
        "numerical_grad",
        lambda rng: _numgrad_cases(rng)[:1],
        _close_to_autodiff,
        probe=_numgrad_vs_autodiff,
        description="equals jax.grad to finite-difference accuracy",
    ),
    _custom(
        "numerical_grad: works under jit",
        "numerical_grad",
        "jit",
        _numgrad_jit,
        lambda rng: _numgrad_cases(rng)[:1],
        _jit_judge("numerical_grad"),
        "numerical_grad runs under jax.jit",
        batched=False,
    ),
    ck.equivalence(
        "sgd_step",
        _sgd_cases,
        probe=_sgd,
        name="sgd_step: params - lr * grads",
        description="sgd_step on a nested pytree equals params - lr * grads",
    ),
    _custom(
        "sgd_step: works under jit",
        "sgd_step",
        "jit",
        _sgd_jit,
        lambda rng: _sgd_cases(rng)[:1],
        _jit_judge("sgd_step"),
        "sgd_step runs under jax.jit",
        batched=False,
    ),
    ck.invariant(
        "sgd_step",
        lambda rng: [_mlp_case(rng, 32, 6, 16, 4)],
        _decreasing,
        probe=_loss_falls,
        name="sgd_step: training loss falls",
        uses=("mlp_forward", "mlp_backward", "softmax_cross_entropy"),
        description="three steps of forward, backward, sgd_step lower the loss",
    ),
    *[
        ck.forbidden(t)
        for t in ("mlp_backward", "numerical_grad", "softmax_cross_entropy", "sgd_step")
    ],
)

EXERCISE = Exercise(
    id="q05",
    title="Backpropagation",
    files={
        "backprop.py": FileSpec(
            helpers=("dlcore.nn.activations:relu", "dlcore.nn.activations:softmax"),
            parts=("dlcore.nn.activations:log_softmax",),
            tasks=(
                "dlcore.autodiff.backprop:mlp_forward",
                "dlcore.nn.losses:softmax_cross_entropy",
                "dlcore.autodiff.backprop:mlp_backward",
                "dlcore.autodiff.numerical:numerical_grad",
                "dlcore.optim.sgd:sgd_step",
            ),
            summary="an MLP's forward and backward pass, by hand",
        )
    },
    checks=CHECKS,
    forbidden={
        "mlp_backward": _GRAD_FAMILY,
        "numerical_grad": _GRAD_FAMILY,
        # the loss and the step are what the exercise asks for, not upstream's versions
        "softmax_cross_entropy": ("optax", "flax", "jax.nn", "jax.scipy"),
        "sgd_step": ("optax", "flax"),
    },
)
