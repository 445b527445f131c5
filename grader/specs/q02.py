"""q02 Computational graphs: list a jaxpr's nodes, interpret it, and differentiate it."""

from __future__ import annotations

from functools import partial

import numpy as np

from grader import checks as ck
from grader.judge import compare_trees
from grader.spec import Exercise, Failure, FileSpec, case

TRACE, EVAL, GRAD = "trace_graph", "eval_graph", "grad_graph"
SHAPES = ((3,), (), (2, 3), (1, 3), (3, 4))  # the inputs x, s, m, r, w of a generated program
_CONST = {s: np.linspace(0.5, 1.5, int(np.prod(s))).reshape(s).astype(np.float32)
          for s in [(3,), (2, 3), (1, 3), (3, 4), (4,), (2, 4), (1, 4)]}
_WIDER = {(): (3,), (3,): (2, 3), (1, 3): (2, 3), (4,): (2, 4), (1, 4): (2, 4)}


def _inner(t):  # called through jax.jit: one nested "jit" node
    import jax.numpy as jnp

    return jnp.tanh(t) * 0.5 + t


def _step(r, pool, nested):
    """One random eqn or a few (a straight-line program of the required primitives)."""
    import jax
    import jax.numpy as jnp

    j = int(r.integers(len(pool)))
    v = pool[j]
    ops = ["unary", "exp", "log", "lit", "bin", "pow", "const", "convert", "dot"]
    ops += ["sum"] * (v.ndim > 0) + ["bcast"] * (v.shape in _WIDER) + ["jit"] * nested
    op = ops[int(r.integers(len(ops)))]
    if op == "unary":
        return getattr(jnp, ("negative", "sin", "cos", "tanh")[int(r.integers(4))])(v)
    if op == "exp":
        return jnp.exp(jnp.tanh(v))
    if op == "log":
        return jnp.log(v * v + 1.0)
    if op == "lit":
        c = float(np.round(r.uniform(-2, 2), 2))
        return (v * c, v + c, c - v)[int(r.integers(3))]
    if op == "bin":
        others = [u for k, u in enumerate(pool) if k != j and _fits(u.shape, v.shape)]
        if not others:
            return v * v + v  # fan-out
        u = others[int(r.integers(len(others)))]
        k = int(r.integers(5))
        return (v + u, v - u, v * u, jnp.maximum(v, u), v / (u * u + 1.0))[k]
    if op == "pow":
        return jnp.tanh(v) ** int(r.integers(2, 4))
    if op == "const":
        c = _CONST.get(v.shape, np.float32(1.25))
        return v * c if r.integers(2) else v + c
    if op == "convert":
        low = jnp.float32 if v.dtype == jnp.float64 else jnp.bfloat16
        return v.astype(low).astype(v.dtype)
    if op == "dot":
        w = pool[4] if r.integers(2) else _CONST[(3, 4)]
        return v @ w if v.shape[-1:] == (3,) else jnp.sum(v) * 0.5
    if op == "sum":
        return jnp.sum(v, axis=0)
    if op == "bcast":
        return jnp.broadcast_to(v, _WIDER[v.shape])
    return jax.jit(_inner)(v)


def _fits(a, b):
    try:
        return np.broadcast_shapes(a, b) == b
    except ValueError:
        return False


def _generated(seed, nested=True, scalar=False):
    def fn(*xs):
        import jax.numpy as jnp

        r = np.random.default_rng(seed)
        pool = list(xs)
        for _ in range(int(r.integers(5, 10))):
            pool.append(_step(r, pool, nested))
        return jnp.sum(pool[-1]) if scalar else (pool[-1], pool[-2])

    return fn


def _pow_sum(x, y):
    import jax

    return jax.numpy.sum(jax.lax.integer_pow(x, y))


def _named():
    import jax
    import jax.numpy as jnp

    lax = jax.lax
    out = {
        "article": lambda x: (x + 2) * 3,
        "mixed shapes": lambda x, s, m, r, w: (x * s, m + r, (m + r) @ w),
        "x*x+x": lambda x: x * x + x,
        "sum(x*s)": lambda x, s: jnp.sum(x * s),
        "broadcast_in_dim": lambda x, m: jnp.sum(jnp.broadcast_to(x, (2, 3)) * m),
        "reduce_sum": lambda m, x: jnp.sum(jnp.sum(m, axis=0) * x),
        "dot (2,3)@(3,4)": lambda m, w: jnp.sum(jnp.tanh(m @ w)),
        "dot (3,).(3,)": lambda x, y: jnp.dot(x, y) * 1.5,
        "max (2,3),(1,3)": lambda m, r: jnp.sum(jnp.maximum(m, r) ** 2),
        "convert_element_type": lambda x: jnp.sum(x.astype(jnp.float32) * x),
        "unused input": lambda x, s, m: jnp.sum(x * s),
        "erf_inv": lambda x: lax.erf_inv(x) * 2.0,
        "cumsum": lambda x: jnp.cumsum(x) * 2.0,
    }
    out.update({f"integer_pow y={y}": partial(_pow_sum, y=y) for y in (2, 3, -2, 0)})
    return out


def _program(static):
    p = static["program"]
    if isinstance(p, str):
        return _named()[p]
    return _generated(p, static.get("nested", True), static.get("scalar", False))


def _closed(i, args):
    import jax

    structs = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in args]
    return jax.make_jaxpr(_program(i.static))(*structs)


def _eval(fns, i):
    return fns.eval_graph(_closed(i, i.args), *i.args)


def _grad(fns, i):
    return fns.grad_graph(_closed(i, i.args), *i.args)


def _x64(task):
    def probe(fns, i):
        import jax
        import jax.numpy as jnp

        with jax.enable_x64(True):
            args = [jnp.asarray(np.asarray(a), jnp.float64) for a in i.args]
            return getattr(fns, task)(_closed(i, args), *args)

    return probe


def _gen_cases(seeds, batch=None, **gen):
    def cases(rng):
        lead = () if batch is None else (batch,)
        return [case(*[ck.normal(rng, lead + s) for s in SHAPES], label=f"program {n}",
                     static={"program": n, **gen})
                for n in seeds]

    return cases


def _named_case(rng, name, *shapes, away=False):
    args = [ck.normal(rng, s) for s in shapes]
    args = [np.sign(a) * (0.5 + np.abs(a)) if away else a for a in args]
    return case(*args, static={"program": name}, label=name)


def _grad_cases(rng):
    out = [_named_case(rng, "x*x+x", ()), _named_case(rng, "sum(x*s)", (3,), ()),
           _named_case(rng, "broadcast_in_dim", (3,), (2, 3)),
           _named_case(rng, "reduce_sum", (2, 3), (3,)),
           _named_case(rng, "dot (2,3)@(3,4)", (2, 3), (3, 4)),
           _named_case(rng, "dot (3,).(3,)", (3,), (3,)),
           _named_case(rng, "max (2,3),(1,3)", (2, 3), (1, 3)),
           _named_case(rng, "convert_element_type", (2, 3))]
    out += [_named_case(rng, f"integer_pow y={y}", (3,), away=True) for y in (2, 3, -2, 0)]
    return out + _gen_cases(range(300, 315), nested=False, scalar=True)(rng)


def _canon(nodes):
    """Nodes with variables renamed v0, v1, ... in order of first appearance."""
    names = {}

    def one(v):
        if isinstance(v, str):
            return f"v{names.setdefault(v, len(names))}"
        if type(v) not in (int, float, bool):
            raise TypeError(f"an input or output is a {type(v).__name__}: expected a str "
                            "(a variable) or a Python scalar (a literal)")
        return v

    return [(p, tuple(one(v) for v in ins), tuple(one(v) for v in outs))
            for p, ins, outs in nodes]


def _same_graph(case, got, ref):
    if not isinstance(got, (list, tuple)) or not all(
            isinstance(n, (list, tuple)) and len(n) == 3 for n in got):
        return Failure(f"on {case.describe()}: expected a list of (prim, inputs, outputs)")
    try:
        mine = _canon(got)
    except TypeError as e:
        return Failure(f"on {case.describe()}: {e}")
    want = _canon(ref)
    if len(mine) != len(want):
        return Failure(f"on {case.describe()}: {len(mine)} nodes, expected {len(want)}",
                       hint="one node per top-level eqn; a nested jit is one node named "
                       "'jit' (do not flatten it)")
    for k, (m, w) in enumerate(zip(mine, want, strict=True)):
        if compare_trees(list(m), list(w), exact=True):
            return Failure(f"on {case.describe()}: node {k} is {m}, expected {w} (names "
                           "renamed in order of first appearance)",
                           hint="a Literal appears as v.val.item(); the same Var always gets "
                           "the same name, different Vars different names")
    return None


def _raises(fns, i):
    """How eval_graph failed on a graph with a primitive outside the required table."""
    prim = i.static["program"]
    try:
        _eval(fns, i)
    except Exception as e:  # noqa: BLE001 - the learner's exception is what is graded
        if isinstance(e, NotImplementedError) and prim not in str(e):
            raise  # still the stub
        return {"raised": ",".join(c.__name__ for c in type(e).__mro__), "message": str(e)}
    return {"raised": "", "message": ""}


def _names_primitive(case, out):
    prim = case.static["program"]
    if not out["raised"]:
        return (f"eval_graph ran a graph containing {prim!r} without error: a fallback such "
                "as eqn.primitive.bind runs primitives the table does not have")
    mro = out["raised"].split(",")
    if "UnknownPrimitiveError" not in mro:
        why = (" (the grader reads NotImplementedError as unfinished code)"
               if "NotImplementedError" in mro else "")
        return (f"raised {mro[0]} ({out['message'][:80]!r}); raise the file's "
                f"UnknownPrimitiveError naming the primitive{why}")
    return None if prim in out["message"] else f"the message {out['message']!r} omits {prim!r}"


def _article_cases(rng):
    return [case(5.0, static={"program": "article"}, label="x = 5.0"),
            case(np.array(5, np.int32), static={"program": "article"}, label="x = int32 5")]


_TRACE_CALL = lambda fns, i: fns.trace_graph(_program(i.static), *i.args)  # noqa: E731
_GRAD_TOL = {"rtol": 1e-10, "atol": 1e-12}
_TABLE_HINT = ("the table needs add sub mul div neg exp log sin cos tanh max integer_pow "
               "dot_general reduce_sum broadcast_in_dim convert_element_type, and jit")

CHECKS = (
    ck.equivalence(TRACE, _article_cases, call=_TRACE_CALL, judge=_same_graph, batched=False,
                   id="article_example", title="(x + 2) * 3 is add then mul, with literals"),
    ck.equivalence(TRACE, _gen_cases(range(200, 230)), call=_TRACE_CALL, judge=_same_graph,
                   batched=False, id="matches_make_jaxpr",
                   title="matches make_jaxpr up to renaming on 30 programs",
                   description="consts, literals, fan-out, broadcasting and a nested jit"),
    ck.oracle(EVAL, lambda rng: [case(np.array(5, np.int32), static={"program": "article"}),
                                 case(np.array(5.0, np.float32), static={"program": "article"})],
              lambda c: [np.asarray((c.args[0] + 2) * 3)], call=_eval, exact=True,
              batched=False, id="article_example", title="(x + 2) * 3 at 5 gives [21]",
              hint="read a Literal's value from .val; only Vars live in the environment"),
    ck.equivalence(EVAL, lambda rng: [_named_case(rng, "mixed shapes", *SHAPES)]
                   + _gen_cases(range(100))(rng), call=_eval, batched=False, rtol=1e-6,
                   atol=1e-6, id="matches_eval_jaxpr", title="equals eval_jaxpr on 100 programs",
                   description="shapes (), (3,), (2,3), (1,3), (3,4); scalar broadcasting, "
                   "consts, literals, nested jit", hint=_TABLE_HINT),
    ck.equivalence(EVAL, _gen_cases(range(100, 120)), call=_x64(EVAL), batched=False,
                   rtol=1e-12, atol=1e-12, id="x64", title="equals eval_jaxpr in float64",
                   hint="keep each value's dtype: no float32 constants or casts of your own"),
    ck.jit(EVAL, _gen_cases(range(120, 124)), call=_eval),
    ck.vmap(EVAL, _gen_cases(range(124, 127), batch=4), call=_eval),
    ck.invariant(EVAL, lambda rng: [case(ck.uniform(rng, (3,), -0.9, 0.9), label=p,
                                         static={"program": p}) for p in ("erf_inv", "cumsum")],
                 _names_primitive, call=_raises, batched=False, id="unknown_primitive_raises",
                 title="an unknown primitive raises UnknownPrimitiveError naming it"),
    ck.equivalence(GRAD, _grad_cases, call=_x64(GRAD), batched=False, **_GRAD_TOL,
                   id="matches_jax_grad", title="equals jax.grad in float64",
                   description="x*x+x, a broadcast scalar, broadcast_in_dim, reduce_sum, "
                   "dot_general, max, integer_pow, convert_element_type and 15 programs",
                   hint="add cotangents at fan-out; sum each back to its operand's shape; "
                   "x @ w gives g @ w.T and x.T @ g"),
    ck.equivalence(GRAD, lambda rng: [_named_case(rng, "unused input", (3,), (), (2, 3))],
                   call=_x64(GRAD), batched=False, **_GRAD_TOL, id="unused_input",
                   title="zeros of its shape for an unused input"),
    ck.jit(GRAD, _gen_cases(range(315, 318), nested=False, scalar=True), call=_grad),
    ck.forbidden(EVAL),
    ck.forbidden(GRAD),
)

_NO_SHORTCUT = ("jax.core.eval_jaxpr", "jax.extend.core.jaxpr_as_fun", "*.bind", "jax.grad",
                "jax.vjp", "jax.jvp", "jax.linearize", "jax.linear_transpose",
                "jax.value_and_grad", "jax.jacrev", "jax.jacfwd", "jax.interpreters", "jax._src")

EXERCISE = Exercise(
    id="q02",
    title="Computational graphs",
    files={"interpreter.py": FileSpec(
        tasks=("dlcore.graphs.interpreter:trace_graph", "dlcore.graphs.interpreter:eval_graph",
               "dlcore.graphs.reverse_mode:grad_graph"),
        helpers=("dlcore.graphs.interpreter:UnknownPrimitiveError",),
        summary="a jaxpr's nodes, an interpreter for it, and reverse mode over it")},
    checks=CHECKS,
    forbidden={EVAL: _NO_SHORTCUT, GRAD: _NO_SHORTCUT},
)
