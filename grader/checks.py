"""The check vocabulary: small constructors that specs combine.

Conventions for a :class:`~grader.spec.Case` used with the default call:
- arrays are passed positionally in insertion order, statics as keyword arguments;
- names starting with ``_`` are the probe's own (cotangents, loop counts) and not passed;
- arrays whose name starts with ``key`` hold raw key data (``uint32``, ``(..., 2)``) and
  reach the probe as typed ``jax.random`` keys.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from grader.judge import compare_arrays, compare_trees, match
from grader.spec import Case, Check, Failure

# ---- building inputs --------------------------------------------------------------------


def normal(rng: np.random.Generator, shape, scale: float = 1.0, dtype="float32") -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(dtype)


def uniform(rng, shape, low=-1.0, high=1.0, dtype="float32") -> np.ndarray:
    return rng.uniform(low, high, shape).astype(dtype)


def bf16(x: np.ndarray) -> np.ndarray:
    import ml_dtypes

    return np.asarray(x).astype(ml_dtypes.bfloat16)


def key_data(seed: int) -> np.ndarray:
    """Raw threefry key data equal to ``jax.random.key_data(jax.random.key(seed))``."""
    return np.array([0, seed & 0xFFFFFFFF], dtype=np.uint32)


def cases_of(*builders: Callable[[np.random.Generator], Case]):
    """Turns case builders into the ``cases`` callable a Check holds."""
    return lambda rng: [b(rng) for b in builders]


# ---- calling a task ---------------------------------------------------------------------


def args_of(c) -> list:
    return [v for k, v in c._arrays.items() if not k.startswith("_")]


def kwargs_of(c) -> dict:
    return {k: v for k, v in c.s.items() if not k.startswith("_")}


def call(task: str):
    """The default call: ``fns.<task>(*arrays, **statics)``."""

    def run(fns, c):
        return getattr(fns, task)(*args_of(c), **kwargs_of(c))

    return run


# ---- judging two outputs of one probe ---------------------------------------------------


def part(got: dict, key: str) -> dict:
    """The leaves under ``{key: ...}`` of a probe's dict output, paths relative to it."""
    prefix = f"['{key}']"
    return {k[len(prefix) :]: v for k, v in got.items() if k.startswith(prefix)}


def halves_agree(first: str, second: str, what: str, *, tol_scale: float = 10.0):
    """A judge: the probe returned ``{first: ..., second: ...}`` and the two must agree,
    e.g. ``jit`` vs ``eager``; ``what`` completes "on <case>: <what>: <difference>"."""

    def judge(case, got, ref):
        a, b = part(got, first), part(got, second)
        if not a or not b:  # an honest probe always returns both: a forged answer
            return Failure(
                f"on {case.describe()}: the worker sent no {first} or no {second} output"
            )
        msg = compare_trees(b, a, tol_scale=tol_scale)
        return Failure(f"on {case.describe()}: {what}: {msg}") if msg else None

    return judge


# ---- check kinds ------------------------------------------------------------------------


def equivalence(
    task,
    cases,
    *,
    name=None,
    description=None,
    probe=None,
    tol_scale=1.0,
    kind="equivalence",
    uses=(),
    weight=1.0,
    hint="",
    **tol,
):
    """The output equals the reference's on seeded inputs."""
    return Check(
        name=name or f"{task}: matches reference",
        task=task,
        kind=kind,
        probe=probe or call(task),
        cases=cases,
        judge=match(tol_scale, **tol),
        uses=uses,
        weight=weight,
        hint=hint,
        description=description or f"{task} equals the reference on seeded inputs",
    )


def jit_matches_eager(
    task, cases, *, static_argnames: Sequence[str] = (), name=None, uses=(), hint="", tol_scale=10.0
):
    """Works under ``jax.jit`` (statics named static) and equals the eager call."""

    def probe(fns, c):
        import jax

        f = getattr(fns, task)
        a, kw = args_of(c), kwargs_of(c)
        static = {k: v for k, v in kw.items() if k in static_argnames}
        closed = {k: v for k, v in kw.items() if k not in static_argnames}
        jitted = jax.jit(lambda *xs, **st: f(*xs, **closed, **st), static_argnames=tuple(static))
        return {"eager": f(*a, **kw), "jit": jitted(*a, **static)}

    judge = halves_agree("eager", "jit", "jax.jit result differs from eager", tol_scale=tol_scale)

    return Check(
        name=name or f"{task}: works under jit",
        task=task,
        kind="jit",
        batched=False,
        probe=probe,
        cases=cases,
        judge=judge,
        reference=False,
        uses=uses,
        hint=hint or "avoid Python control flow on array values; mark shape-like arguments static",
        description=f"jax.jit({task}) runs and equals the eager call",
    )


def vmap_matches_loop(task, cases, *, in_axes=0, name=None, uses=(), hint="", tol_scale=10.0):
    """``jax.vmap`` over a leading batch axis equals a Python loop over examples."""

    def probe(fns, c):
        import jax
        import jax.numpy as jnp

        f = getattr(fns, task)
        a, kw = args_of(c), kwargs_of(c)
        axes = in_axes if isinstance(in_axes, (tuple, list)) else (in_axes,) * len(a)
        n = next(x.shape[ax] for x, ax in zip(a, axes, strict=True) if ax is not None)
        g = lambda *xs: f(*xs, **kw)
        loop = [
            g(
                *[
                    x if ax is None else jnp.take(x, i, axis=ax)
                    for x, ax in zip(a, axes, strict=True)
                ]
            )
            for i in range(n)
        ]
        return {
            "vmap": jax.vmap(g, in_axes=tuple(axes))(*a),
            "loop": jax.tree.map(lambda *ys: jnp.stack(ys), *loop),
        }

    judge = halves_agree("loop", "vmap", "jax.vmap result differs from a loop", tol_scale=tol_scale)

    return Check(
        name=name or f"{task}: works under vmap",
        task=task,
        kind="vmap",
        batched=False,
        probe=probe,
        cases=cases,
        judge=judge,
        reference=False,
        uses=uses,
        hint=hint or "write the function for any leading shape; avoid hard-coded axis sizes",
        description=f"jax.vmap({task}) equals a loop over the batch",
    )


def grad_matches(
    task,
    cases,
    *,
    argnums=(0,),
    name=None,
    tol_scale=20.0,
    uses=(),
    hint="",
    kind="grad",
    description=None,
    output=None,
):
    """Gradients of ``sum(cot * f(...))`` w.r.t. ``argnums`` equal the reference's.

    The cotangent is the case array ``_cot`` (ones when absent); ``output`` picks one output
    of a tuple-returning function.
    """

    def probe(fns, c):
        import jax
        import jax.numpy as jnp

        f = getattr(fns, task)
        a, kw = args_of(c), kwargs_of(c)

        def scalar(*xs):
            y = f(*xs, **kw)
            if output is not None:
                y = y[output]
            cot = c._arrays.get("_cot", jnp.ones_like(y))
            return jnp.sum(y * cot)

        return jax.grad(scalar, argnums=tuple(argnums))(*a)

    return Check(
        name=name or f"{task}: gradient matches",
        task=task,
        kind=kind,
        probe=probe,
        cases=cases,
        judge=match(tol_scale),
        uses=uses,
        hint=hint or "use differentiable jnp operations; avoid stop_gradient on the output",
        description=description or f"jax.grad through {task} equals the reference gradient",
    )


def invariant(
    task,
    cases,
    predicate,
    *,
    description,
    name=None,
    probe=None,
    uses=(),
    hint="",
    kind="invariant",
    weight=1.0,
):
    """A property of the learner's output alone: ``predicate(case, out) -> message | None``."""

    def judge(case, got, ref):
        out = {k: v for k, (v, _) in got.items()}
        msg = predicate(case, out)
        return Failure(f"on {case.describe()}: {msg}") if msg else None

    return Check(
        name=name or f"{task}: {description}",
        task=task,
        kind=kind,
        probe=probe or call(task),
        cases=cases,
        judge=judge,
        reference=False,
        uses=uses,
        hint=hint,
        description=description,
        weight=weight,
    )


def prng_discipline(task, cases, *, name=None, uses=(), hint=""):
    """Same key, same output (bitwise); a different key, a different output.

    Cases hold arrays ``key`` (used) and ``_other_key`` (the different one).
    """

    def probe(fns, c):
        f = getattr(fns, task)
        a, kw = args_of(c), kwargs_of(c)
        other = c._arrays["_other_key"]
        return {"first": f(*a, **kw), "again": f(*a, **kw), "other": f(other, *a[1:], **kw)}

    def judge(case, got, ref):
        out = {k: v for k, (v, _) in got.items()}
        first, again = part(out, "first"), part(out, "again")
        other = part(out, "other")
        for p in first:
            msg = compare_arrays(p, again[p], first[p], exact=True)
            if msg:
                return Failure(
                    f"on {case.describe()}: the same key gave different results: {msg}",
                    hint="derive all randomness from the key argument only",
                )
        if all(np.array_equal(first[p], other[p]) for p in first):
            return Failure(
                f"on {case.describe()}: a different key gave exactly the same result",
                hint="use the key you are given (split it, never a fixed key)",
            )
        return None

    return Check(
        name=name or f"{task}: PRNG discipline",
        task=task,
        kind="prng",
        probe=probe,
        cases=cases,
        judge=judge,
        reference=False,
        uses=uses,
        hint=hint,
        description="same key gives the same output, a new key a new output",
    )


def no_retrace(task, cases, probe, *, name=None, uses=(), hint="", description=None):
    """The probe returns ``{"traces": n}``; a jitted call repeated on same-shape inputs
    must trace exactly once."""

    def judge(case, got, ref):
        n = int(got["['traces']"][0])
        if n != 1:
            return Failure(
                f"on {case.describe()}: traced {n} times for same-shape calls (expected 1)",
                hint=hint,
            )
        return None

    return Check(
        name=name or f"{task}: no retracing",
        task=task,
        kind="retrace",
        batched=False,
        probe=probe,
        cases=cases,
        judge=judge,
        reference=False,
        uses=uses,
        hint=hint,
        description=description or "repeated same-shape calls under jit trace once",
    )


def training(
    task,
    cases,
    probe,
    *,
    metric: str,
    threshold: float,
    name=None,
    uses=(),
    hint="",
    timeout=60.0,
    weight=2.0,
    description=None,
):
    """The probe trains with a fixed recipe and returns ``{metric: value}``; pass when the
    value reaches ``threshold``."""

    def judge(case, got, ref):
        value = float(got[f"['{metric}']"][0])
        if not np.isfinite(value) or value < threshold:
            return Failure(f"{metric} {value:.4f} is below the required {threshold:.4f}", hint=hint)
        return None

    return Check(
        name=name or f"{task}: training reaches {metric} >= {threshold:g}",
        task=task,
        kind="training",
        batched=False,
        probe=probe,
        cases=cases,
        judge=judge,
        reference=False,
        uses=uses,
        hint=hint,
        timeout=timeout,
        weight=weight,
        description=description or f"a fixed training recipe reaches {metric} >= {threshold:g}",
    )


def forbidden(task: str) -> Check:
    """Static check that the task's code calls none of the exercise's forbidden names."""
    return Check(
        name=f"{task}: implemented without forbidden calls",
        task=task,
        kind="forbidden",
        batched=False,
        probe=None,
        cases=lambda rng: [],
        judge=lambda case, got, ref: None,
        reference=False,
        description="does not call the upstream function it is asked to implement",
    )
