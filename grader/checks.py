"""The check vocabulary: kinds that specs combine, each from a call adapter and cases.

Every kind takes the task name, a ``cases(rng) -> [Case]`` builder and optionally
``call(fns, i)``: how to call the task on one case's :class:`~grader.execute.Inputs`
(default: ``fns.<task>(*i.args, **i.kwargs, **i.static)``). ``fns`` holds the learner's
functions in the worker and dlcore's in the parent, by task name; ``fns.data`` the
exercise's data files. The jit, vmap and grad kinds transform ``call`` itself, tracing
``i.args``, ``i.kwargs`` and ``i.extras`` and keeping ``i.static`` static.

Ids: ``id="jit"`` becomes ``"<task>/jit"``; each kind has a default. Judges compare
through :func:`grader.judge.compare_trees` / ``compare_arrays`` only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from grader.judge import compare_arrays, compare_trees, match
from grader.spec import Case, Check, Failure, case
from grader.wire import Key

__all__ = [
    "Case", "Key", "keys", "raw_key", "case", "normal", "uniform", "bf16", "cases_of", "call",
    "default_call",
    "equivalence", "jit", "vmap", "grad", "prng", "retrace", "invariant", "metamorphic",
    "oracle", "training", "forbidden", "suite",
]

# ---- building inputs --------------------------------------------------------------------


def normal(rng: np.random.Generator, shape, scale: float = 1.0, dtype="float32") -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(dtype)


def uniform(rng, shape, low=-1.0, high=1.0, dtype="float32") -> np.ndarray:
    return rng.uniform(low, high, shape).astype(dtype)


def bf16(x: np.ndarray) -> np.ndarray:
    import ml_dtypes

    return np.asarray(x).astype(ml_dtypes.bfloat16)


def keys(*seeds) -> Key:
    """A batch of keys (leading axis), e.g. for a vmap over keys."""
    return Key(np.stack([Key(int(s)).data for s in seeds]))


def raw_key(rng: np.random.Generator) -> Key:
    """Arbitrary key data, as ``jax.random.split`` produces."""
    return Key(rng.integers(0, 2**32, size=2, dtype=np.uint64).astype(np.uint32))


def cases_of(*builders: Callable[[np.random.Generator], Case]):
    """Case builders -> the ``cases`` callable a Check holds."""
    return lambda rng: [b(rng) for b in builders]


# ---- calling a task ---------------------------------------------------------------------


def default_call(task: str):
    """The default call adapter: ``fns.<task>(*args, **kwargs, **static)``; statics whose
    name starts with ``_`` are the probe's own and are not passed."""

    def call(fns, i):
        static = {k: v for k, v in i.static.items() if not k.startswith("_")}
        return getattr(fns, task)(*i.args, **i.kwargs, **static)

    return call


call = default_call


def _check(kind, task, id, default_id, title, probe, cases, judge, *, reference, batched,
           description="", hint="", uses=(), weight=1.0, timeout=None):
    cid = id or default_id
    return Check(
        id=cid if "/" in cid else f"{task}/{cid}",
        task=task,
        kind=kind,
        title=title,
        probe=probe,
        cases=cases,
        judge=judge,
        description=description or title,
        uses=tuple(uses),
        weight=weight,
        timeout=timeout,
        reference=reference,
        hint=hint,
        batched=batched,
    )


def _halves(first: str, second: str, what: str, *, tol_scale: float = 10.0, **tol):
    """A judge: the probe returned ``{first: ..., second: ...}``; the two must agree."""

    def judge(case, got, ref):
        if not isinstance(got, dict) or first not in got or second not in got:
            return Failure(f"on {case.describe()}: the worker sent no {first} or {second} output")
        msg = compare_trees(got[second], got[first], tol_scale=tol_scale, **tol)
        return Failure(f"on {case.describe()}: {what}: {msg}") if msg else None

    return judge


# ---- kinds ------------------------------------------------------------------------------


def equivalence(task, cases, *, call=None, output=None, id=None, title=None, tol_scale=1.0,
                kind="equivalence", judge=None, **kw):
    """The output (or ``output(out)``) equals the reference's on seeded inputs; ``judge``
    replaces the comparison (``judge(case, got, ref) -> Failure | None``)."""
    f = call or default_call(task)
    probe = f if output is None else (lambda fns, i: output(f(fns, i)))
    tol = {k: kw.pop(k) for k in ("rtol", "atol", "exact") if k in kw}
    return _check(kind, task, id, "matches", title or "matches the reference", probe, cases,
                  judge or match(tol_scale, **tol), reference=True,
                  batched=kw.pop("batched", True), **kw)


def jit(task, cases, *, call=None, id=None, title=None, tol_scale=10.0, **kw):
    """Works under ``jax.jit`` (statics static, everything else traced) and equals eager."""
    f = call or default_call(task)

    def probe(fns, i):
        import jax

        jitted = jax.jit(lambda traced: f(fns, i.with_traced(traced)))
        return {"eager": f(fns, i), "jit": jitted(i.traced)}

    kw.setdefault("hint", "avoid Python control flow on array values; mark shape-like "
                  "arguments static")
    return _check("jit", task, id, "jit", title or "works under jit", probe, cases,
                  _halves("eager", "jit", "jax.jit result differs from eager",
                          tol_scale=tol_scale),
                  reference=False, batched=False, **kw)


def _axes_like(axes, tree):
    """Broadcasts a vmap ``in_axes`` prefix over ``tree``: one axis (or None) per leaf."""
    import jax

    return jax.tree.map(lambda ax, sub: jax.tree.map(lambda _: ax, sub), axes, tree,
                        is_leaf=lambda x: x is None)


def vmap(task, cases, *, in_axes=0, kw_axes=0, call=None, id=None, title=None,
         tol_scale=10.0, **kw):
    """``jax.vmap`` over ``in_axes`` (a prefix of the args) and ``kw_axes`` (of the kwargs)
    equals a Python loop over the mapped axis."""
    f = call or default_call(task)

    def probe(fns, i):
        import jax
        import jax.numpy as jnp

        g = lambda a, k: f(fns, i.replace(args=tuple(a), kwargs=dict(k)))  # noqa: E731
        axes = (tuple(in_axes) if isinstance(in_axes, (tuple, list)) else in_axes, kw_axes)
        tree = (tuple(i.args), dict(i.kwargs))
        full = _axes_like(axes, tree)
        pairs = [(x, a) for x, a in zip(jax.tree.leaves(tree),
                                        jax.tree.leaves(full, is_leaf=lambda x: x is None),
                                        strict=False)]
        n = next(x.shape[a] for x, a in pairs if a is not None)
        loop = []
        for j in range(n):
            sliced = jax.tree.map(lambda a, x, j=j: x if a is None else jnp.take(x, j, axis=a),
                                  full, tree, is_leaf=lambda x: x is None)
            loop.append(g(*sliced))
        return {"vmap": jax.vmap(g, in_axes=axes)(*tree),
                "loop": jax.tree.map(lambda *ys: jnp.stack(ys), *loop)}

    kw.setdefault("hint", "write the function for one example or any leading shape; avoid "
                  "hard-coded axis sizes")
    return _check("vmap", task, id, "vmap", title or "works under vmap", probe, cases,
                  _halves("loop", "vmap", "jax.vmap result differs from a loop",
                          tol_scale=tol_scale),
                  reference=False, batched=False, **kw)


def _select(i, wrt):
    return [i.args[w] if isinstance(w, int) else i.kwargs[w] for w in wrt]


def _put(i, wrt, values):
    args, kwargs = list(i.args), dict(i.kwargs)
    for w, v in zip(wrt, values, strict=False):
        if isinstance(w, int):
            args[w] = v
        else:
            kwargs[w] = v
    return i.replace(args=tuple(args), kwargs=kwargs)


class OutputMismatch(Exception):
    """The learner's output cannot even enter a probe (a wrong shape or structure): the
    check reports ``wrong`` with this message, never a grader error as the learner's."""


def scalarize(y, cot=None):
    """``sum(cot * y)`` over the floating leaves of ``y`` (cot: ones when None)."""
    import jax
    import jax.numpy as jnp

    ys = [v for v in jax.tree.leaves(y) if jnp.issubdtype(jnp.result_type(v), jnp.inexact)]
    if cot is None:
        return sum(jnp.sum(v) for v in ys)
    cs = jax.tree.leaves(cot)
    if len(cs) != len(ys):
        raise OutputMismatch(f"the output has {len(ys)} floating arrays where the reference has "
                             f"{len(cs)}: fix the output's structure first")
    for v, c in zip(ys, cs, strict=False):
        if jnp.shape(v) != jnp.shape(c):
            raise OutputMismatch(f"the output has shape {tuple(jnp.shape(v))} where the reference "
                                 f"has {tuple(jnp.shape(c))}: fix the shape first (the "
                                 "equivalence check says more)")
    return sum(jnp.sum(v * c) for v, c in zip(ys, cs, strict=False))


def grad(task, cases, *, wrt=0, call=None, output=None, id=None, title=None, tol_scale=20.0,
         kind="grad", **kw):
    """``jax.grad`` of ``sum(cot * output)`` w.r.t. the ``wrt`` args (index or kwarg name,
    or a tuple of them) equals the reference's. ``extras["cot"]`` is the cotangent."""
    f = call or default_call(task)
    sel = wrt if isinstance(wrt, tuple) else (wrt,)

    def probe(fns, i):
        import jax

        def scalar(values):
            y = f(fns, _put(i, sel, values))
            return scalarize(y if output is None else output(y), i.extras.get("cot"))

        g = jax.grad(scalar)(_select(i, sel))
        return tuple(g) if isinstance(wrt, tuple) else g[0]

    kw.setdefault("hint", "use differentiable jnp operations; avoid stop_gradient on the output")
    return _check(kind, task, id, "grad", title or "gradient matches", probe, cases,
                  match(tol_scale), reference=True, batched=kw.pop("batched", True), **kw)


def prng(task, cases, *, key=0, call=None, id=None, title=None, **kw):
    """Same key, same output (bitwise); the case's ``extras["other_key"]``, another output.
    ``key`` is where the key goes: a positional index or a keyword name."""
    f = call or default_call(task)

    def probe(fns, i):
        other = _put(i, (key,), [i.extras["other_key"]])
        return {"first": f(fns, i), "again": f(fns, i), "other": f(fns, other)}

    def judge(case, got, ref):
        msg = compare_trees(got["again"], got["first"], exact=True)
        if msg:
            return Failure(f"on {case.describe()}: the same key gave different results: {msg}",
                           hint="derive all randomness from the key argument only")
        if compare_trees(got["other"], got["first"], exact=True) is None:
            return Failure(f"on {case.describe()}: a different key gave exactly the same result",
                           hint="use the key you are given (split it; never a fixed key)")
        return None

    return _check("prng", task, id, "prng", title or "same key same output, new key new output",
                  probe, cases, judge, reference=False, batched=False, **kw)


_TRACE_EVENT = "/jax/core/compile/jaxpr_trace_duration"


def retrace(task, cases, *, call=None, feed=None, steps=3, max_traces=1, eager=False, id=None,
            title=None, **kw):
    """Counts traces of a jitted call repeated ``steps`` times on same-shape inputs.

    The counter sits inside the traced function, so it counts real traces even when a
    compilation cache skips compiles. ``feed(i, out, step) -> Inputs`` gives the next call's
    inputs (e.g. an optimizer's new state); by default the same inputs again. With
    ``eager``, the call is also repeated without jit, and any tracing JAX does inside it
    after the first call (a fresh ``jax.jit`` of an inner function each time) counts too.
    """
    f = call or default_call(task)

    def probe(fns, i):
        import jax

        count = [0]

        def counted(traced):
            count[0] += 1
            return f(fns, i.with_traced(traced))

        jitted = jax.jit(counted)
        cur = i
        for step in range(steps):
            out = jitted(cur.traced)
            if feed is not None:
                cur = feed(cur, out, step)
        if not eager:
            return {"traces": count[0]}
        jax.block_until_ready(f(fns, i))  # the first eager call may trace what it caches
        events = []

        def listener(event, seconds, **kw):
            if event == _TRACE_EVENT:
                events.append(event)

        jax.monitoring.register_event_duration_secs_listener(listener)
        try:
            cur = i
            for step in range(steps):
                out = jax.block_until_ready(f(fns, cur))
                if feed is not None:
                    cur = feed(cur, out, step)
        finally:
            jax.monitoring.unregister_event_duration_listener(listener)
        return {"traces": count[0], "eager_traces": len(events)}

    def judge(case, got, ref):
        n = got["traces"]
        if n > max_traces:
            return Failure(f"on {case.describe()}: under jit, traced {n} times for {steps} "
                           f"same-shape calls (at most {max_traces} expected)")
        if got.get("eager_traces"):
            return Failure(f"on {case.describe()}: after a first call, {steps} more eager calls "
                           f"traced {got['eager_traces']} new functions (expected 0): something "
                           "is rebuilt and retraced on every call, such as jax.jit applied to "
                           "a fresh inner function or lambda")
        return None

    kw.setdefault("hint", "keep every output's dtype, shape and structure the same from call "
                  "to call (weak types and Python scalars change the signature); create jitted "
                  "helpers once, never jax.jit a fresh inner function on every call")
    return _check("retrace", task, id, "retrace", title or "no retracing", probe, cases, judge,
                  reference=False, batched=False, **kw)


def invariant(task, cases, prop, *, id, call=None, title=None, kind="invariant", **kw):
    """A property of the learner's output alone: ``prop(case, out) -> message | None``
    (see :mod:`grader.props` for the named ones)."""

    def judge(case, got, ref):
        msg = prop(case, got)
        return Failure(f"on {case.describe()}: {msg}") if msg else None

    return _check(kind, task, id, id, title or getattr(prop, "title", id), call or
                  default_call(task), cases, judge, reference=False,
                  batched=kw.pop("batched", True), **kw)


def metamorphic(task, cases, *, transform, relation, id, title, call=None, tol_scale=10.0,
                **kw):
    """``f(transform(i))`` equals ``relation(f(i), i)``: e.g. shifting softmax's input
    changes nothing, permuting attention's inputs permutes its output."""
    f = call or default_call(task)
    tol = {k: kw.pop(k) for k in ("rtol", "atol") if k in kw}

    def probe(fns, i):
        return {"lhs": f(fns, transform(i)), "rhs": relation(f(fns, i), i)}

    return _check(kw.pop("kind", "metamorphic"), task, id, id, title, probe, cases,
                  _halves("rhs", "lhs", title, tol_scale=tol_scale, **tol), reference=False,
                  batched=kw.pop("batched", True), **kw)


def oracle(task, cases, expected, *, id, title, call=None, tol_scale=1.0, exact=False,
           rtol=None, atol=None, **kw):
    """The output equals a closed form the parent computes: ``expected(case)``."""

    def judge(case, got, ref):
        msg = compare_trees(got, expected(case), tol_scale=tol_scale, exact=exact, rtol=rtol,
                            atol=atol)
        return Failure(f"on {case.describe()}: {msg}") if msg else None

    kind = kw.pop("kind", "oracle")
    return _check(kind, task, id, id, title, call or default_call(task), cases, judge,
                  reference=False, batched=kw.pop("batched", True), **kw)


def training(task, cases, probe, *, metric: str, threshold: float, id="train", title=None,
             timeout=60.0, weight=2.0, **kw):
    """The probe trains with a fixed recipe and returns ``{metric: value}``; pass when the
    value reaches ``threshold``."""

    def judge(case, got, ref):
        value = float(np.asarray(got[metric]))
        if not np.isfinite(value) or value < threshold:
            return Failure(f"{metric} {value:.4f} is below the required {threshold:.4f}")
        return None

    return _check("training", task, id, "train",
                  title or f"training reaches {metric} >= {threshold:g}", probe, cases, judge,
                  reference=False, batched=False, timeout=timeout, weight=weight, **kw)


def forbidden(task: str) -> Check:
    """Static: the task's code calls none of the exercise's forbidden names."""
    return _check("forbidden", task, None, "forbidden", "implemented without forbidden calls",
                  None, lambda rng: [], lambda case, got, ref: None, reference=False,
                  batched=False, description="does not call the upstream function it is "
                  "asked to implement")


def suite(task, cases, *, call=None, jit_cases=None, vmap_cases=None, grad_cases=None,
          wrt=0, in_axes=0, kw_axes=0, upstream=None, hint="", uses=()):
    """The usual four from one case builder: equivalence, grad, jit, vmap. Pass
    ``*_cases=False`` to leave one out, or other cases for it."""
    common = dict(call=call, uses=uses)
    out = [equivalence(task, cases, title=f"matches {upstream}" if upstream else None,
                       hint=hint, **common)]
    if grad_cases is not False:
        out.append(grad(task, grad_cases or cases, wrt=wrt, **common))
    if jit_cases is not False:
        out.append(jit(task, jit_cases or cases, **common))
    if vmap_cases is not False:
        out.append(vmap(task, vmap_cases or cases, in_axes=in_axes, kw_axes=kw_axes, **common))
    return out


def exact_equal(name: str, got, ref) -> str | None:
    """``compare_arrays`` with exact equality, for props."""
    return compare_arrays(name, np.asarray(got), np.asarray(ref), exact=True)


Cases = Callable[[np.random.Generator], Sequence[Case]]
