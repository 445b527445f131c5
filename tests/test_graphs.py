"""q01 power iteration (dynamic vs static) and q02 jaxpr interpreter, against jax itself."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend.core import Literal

from dlcore.graphs import (
    UnknownPrimitiveError,
    dynamic_power_iteration,
    eval_graph,
    grad_graph,
    static_power_iteration,
    to_stablehlo,
    trace_graph,
)

# ---------------------------------------------------------------- q01 power iteration


def _spd(rng, n):
    """A random SPD matrix with eigenvalue ratio lambda1 / lambda2 in [2, 4]."""
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    rest = rng.uniform(0.1, 1.0, size=n - 1)
    lam = np.concatenate([[rest.max() * rng.uniform(2.0, 4.0)], rest])
    return jnp.asarray((q * lam) @ q.T, jnp.float32), jnp.asarray(rng.normal(size=n), jnp.float32)


def _far_from_tol(a, x0, tol, max_iters):
    """True when every step size d of the run is more than 1% away from tol."""
    xs = []
    x0n = x0 / jnp.linalg.norm(x0)
    dynamic_power_iteration(a, x0, tol=tol, max_iters=max_iters, on_step=lambda k, x: xs.append(x))
    ds = [float(jnp.linalg.norm(b - a_)) for a_, b in zip([x0n, *xs], xs, strict=False)]
    return all(abs(d - tol) > 0.01 * tol for d in ds)


@pytest.mark.parametrize("n", [6, 16])
def test_dynamic_static_agree_and_find_top_eigenvector(n):
    rng = np.random.default_rng(n)
    mats = [_spd(rng, n) for _ in range(25)]
    a, x0 = jnp.stack([m[0] for m in mats]), jnp.stack([m[1] for m in mats])
    traces = []

    def static(a, x0):
        traces.append(1)
        return static_power_iteration(a, x0, tol=1e-4, max_iters=200)

    jitted = jax.jit(static)
    w, v = jnp.linalg.eigh(a)
    kept = 0
    for i in range(len(mats)):
        vec_d, it_d = dynamic_power_iteration(a[i], x0[i], tol=1e-4, max_iters=200)
        vec_s, it_s = jitted(a[i], x0[i])
        assert isinstance(it_d, int) and it_s.dtype == jnp.int32
        sign = jnp.sign(jnp.dot(vec_d, vec_s))
        np.testing.assert_allclose(vec_d, sign * vec_s, atol=1e-5)  # float32, same maths
        assert abs(float(jnp.linalg.norm(vec_d)) - 1) < 1e-6
        top = v[i][:, -1]
        assert abs(float(jnp.dot(vec_d, top))) > 1 - 1e-4  # lambda2/lambda1 <= 1/2: converged
        if _far_from_tol(a[i], x0[i], 1e-4, 200):
            kept += 1
            assert it_d == int(it_s)
    assert kept >= 15 and len(traces) == 1
    # vmap: each example stops at its own iteration, equal to the per-matrix call.
    vecs, its = jax.vmap(jitted)(a, x0)
    for i in range(len(mats)):
        vec_s, it_s = jitted(a[i], x0[i])
        assert int(its[i]) == int(it_s)
        np.testing.assert_allclose(vecs[i], vec_s, atol=1e-6)
    assert len(set(np.asarray(its).tolist())) > 1  # the loop really froze finished examples


def test_power_iteration_edge_cases():
    a, x0 = _spd(np.random.default_rng(0), 6)
    for fn in (dynamic_power_iteration, static_power_iteration):
        _, it = fn(a, x0, tol=0.0, max_iters=7)
        assert int(it) == 7
        vec, it = fn(a, x0, tol=1e-4, max_iters=0)
        assert int(it) == 0
        np.testing.assert_allclose(vec, x0 / jnp.linalg.norm(x0), rtol=1e-6)
        v1, i1 = fn(a, x0, tol=1e-4, max_iters=100)
        v2, i2 = fn(a, 1e3 * x0, tol=1e-4, max_iters=100)
        assert int(i1) == int(i2)
        np.testing.assert_allclose(v1, v2, atol=1e-6)


def test_dynamic_is_define_by_run():
    a, x0 = _spd(np.random.default_rng(1), 6)
    calls = []
    _, iters = dynamic_power_iteration(
        a, x0, tol=1e-4, max_iters=100, on_step=lambda k, x: calls.append((k, x))
    )
    assert [k for k, _ in calls] == list(range(1, iters + 1))
    assert not any(isinstance(x, jax.core.Tracer) for _, x in calls)
    np.testing.assert_allclose(jnp.linalg.norm(calls[-1][1]), 1.0, rtol=1e-6)
    with pytest.raises(jax.errors.ConcretizationTypeError):
        jax.make_jaxpr(lambda a, x: dynamic_power_iteration(a, x, tol=1e-4, max_iters=10))(a, x0)


def test_static_is_one_while_loop_and_takes_traced_tol():
    a, x0 = _spd(np.random.default_rng(2), 6)

    def jaxpr(max_iters):
        return jax.make_jaxpr(
            lambda a, x: static_power_iteration(a, x, tol=1e-4, max_iters=max_iters)
        )(a, x0).jaxpr

    j5, j500 = jaxpr(5), jaxpr(500)
    assert [e.primitive.name for e in j5.eqns].count("while") == 1
    assert len(j5.eqns) == len(j500.eqns)
    run = jax.jit(lambda a, x, tol, m: static_power_iteration(a, x, tol=tol, max_iters=m))
    for tol in (1e-2, 1e-4):
        vec, it = run(a, x0, tol, 100)
        ref_vec, ref_it = dynamic_power_iteration(a, x0, tol=tol, max_iters=100)
        assert int(it) == ref_it
        np.testing.assert_allclose(vec, ref_vec, atol=1e-5)


def test_to_stablehlo():
    a, x0 = _spd(np.random.default_rng(3), 6)
    static = lambda a, x: static_power_iteration(a, x, tol=1e-4, max_iters=50)  # noqa: E731

    def fixed_trip(a, x):
        for _ in range(3):
            x = a @ x
        return x

    text = to_stablehlo(static, a, x0)
    assert "func.func public @main(%arg0: tensor<6x6xf32>" in text
    assert "stablehlo.while" in text and "tensor<6xf32>" in text
    spec = (jax.ShapeDtypeStruct((6, 6), jnp.float32), jax.ShapeDtypeStruct((6,), jnp.float32))
    assert to_stablehlo(static, *spec) == text
    loop = to_stablehlo(fixed_trip, *spec)
    assert "stablehlo.dot_general" in loop and "stablehlo.while" not in loop
    fired = []
    to_stablehlo(lambda x: jax.debug.callback(lambda v: fired.append(v), x) or x * 2, x0)
    assert fired == []


# ---------------------------------------------------------------- q02 interpreter

_SHAPES = [(), (3,), (2, 3), (1, 3), (3, 4)]
# eval_jaxpr runs a nested jit compiled, where XLA may fuse and reorder; eval_graph interprets
# it op by op. That leaves 1-ulp differences (2e-6 at values near 20): hence rtol 1e-6.
_EVAL_TOL = dict(atol=1e-6, rtol=1e-6)


@jax.jit
def _jitted_helper(v):
    return jnp.sin(v) * v + 1.0


def _compatible(s, t):
    return s == t or s == () or t == () or {s, t} == {(1, 3), (2, 3)}


def _random_program(seed, *, nested=True, n_ops=8):
    """A random function of three inputs built from the q02 primitive set.

    Python choices are made here, once; the returned function replays them. It uses
    constants (constvars), Python scalars (literals), fan-out, broadcasting of rank-0 and
    size-1 operands, and (if ``nested``) a jitted helper (a nested ``jit`` eqn).
    """
    rng = np.random.default_rng(seed)
    in_shapes = [_SHAPES[i] for i in rng.choice(len(_SHAPES), size=3)]
    steps = []
    shapes = list(in_shapes)
    for _ in range(n_ops):
        kind = rng.choice(
            [
                "unary",
                "binary",
                "binary",
                "literal",
                "dot",
                "sum",
                "bcast",
                "convert",
                "pow",
                "const",
                "jit" if nested else "unary",
            ]
        )
        i = int(rng.integers(len(shapes)))
        s = shapes[i]
        pairs = [j for j in range(len(shapes)) if j != i and _compatible(s, shapes[j])]
        if kind == "binary" and pairs:
            j = int(rng.choice(pairs))
            op = str(rng.choice(["add", "sub", "mul", "div", "max"]))
            out = np.broadcast_shapes(s, shapes[j])
            steps.append(("binary", op, i, j))
        elif kind == "dot" and s in ((2, 3), (1, 3), (3,)):
            other = [j for j in range(len(shapes)) if shapes[j] in ((3, 4), (3,)) and j != i]
            if not other:
                steps.append(("unary", "tanh", i))
                out = s
            else:
                j = int(other[0])
                steps.append(("dot", None, i, j))
                out = s[:-1] + shapes[j][1:]
        elif kind == "sum" and s != ():
            steps.append(("sum", int(rng.integers(len(s))), i))
            out = tuple(d for k, d in enumerate(s) if k != steps[-1][1])
        elif kind == "bcast" and s in ((), (3,), (1, 3)):
            steps.append(("bcast", None, i))
            out = (2, 3)
        elif kind == "const":
            steps.append(("const", rng.normal(size=s), i))
            out = s
        elif kind in ("literal", "convert", "pow", "jit"):
            steps.append((kind, float(rng.uniform(0.5, 2.0)), i))
            out = s
        else:
            steps.append(("unary", str(rng.choice(["neg", "exp", "log", "sin", "cos", "tanh"])), i))
            out = s
        shapes.append(tuple(out))

    unary = {
        "neg": jnp.negative,
        "sin": jnp.sin,
        "cos": jnp.cos,
        "tanh": jnp.tanh,
        "exp": lambda v: jnp.exp(jnp.tanh(v)),
        "log": lambda v: jnp.log(1 + v * v),
    }
    binary = {
        "add": jnp.add,
        "sub": jnp.subtract,
        "mul": jnp.multiply,
        "max": jnp.maximum,
        "div": lambda u, v: u / (1 + v * v),
    }

    def fn(*xs):
        vals = list(xs)
        for kind, p, i, *rest in steps:
            v = vals[i]
            if kind == "binary":
                w = vals[rest[0]]
                v = binary[p](v, w) if p != "max" else jnp.maximum(v, w + 0.1)
            elif kind == "dot":
                v = v @ vals[rest[0]]
            elif kind == "sum":
                v = jnp.sum(v, axis=p)
            elif kind == "bcast":
                v = jnp.broadcast_to(v, (2, 3))
            elif kind == "literal":
                v = v * p + 0.5
            elif kind == "convert":
                v = v.astype(jnp.float16).astype(v.dtype)
            elif kind == "pow":
                v = v**2 + v**3
            elif kind == "const":
                v = v + jnp.asarray(p, v.dtype)
            elif kind == "jit":
                v = _jitted_helper(v)
            else:
                v = unary[p](v)
            vals.append(v)
        return vals[len(xs) :][-3:]

    return fn, in_shapes


def _args(seed, shapes, dtype=jnp.float32):
    rng = np.random.default_rng(seed + 1000)
    return [jnp.asarray(rng.normal(size=s), dtype) for s in shapes]


def _canonical(nodes):
    """Renames variables by first appearance, so two graphs compare up to renaming."""
    names = {}

    def rn(x):
        return names.setdefault(x, f"#{len(names)}") if isinstance(x, str) else x

    return [(p, tuple(map(rn, i)), tuple(map(rn, o))) for p, i, o in nodes]


def _reference_nodes(fn, *args):
    jaxpr = jax.make_jaxpr(fn)(*args).jaxpr
    ids = {}
    for v in [*jaxpr.constvars, *jaxpr.invars]:
        ids.setdefault(v, f"v{len(ids)}")
    nodes = []
    for e in jaxpr.eqns:
        ins = tuple(
            v.val.item() if isinstance(v, Literal) else ids.setdefault(v, f"v{len(ids)}")
            for v in e.invars
        )
        outs = tuple(ids.setdefault(v, f"v{len(ids)}") for v in e.outvars)
        nodes.append((e.primitive.name, ins, outs))
    return nodes


def test_trace_graph_article_example():
    nodes = trace_graph(lambda x: (x + 2) * 3, 5.0)
    assert [(p, len(i), len(o)) for p, i, o in nodes] == [("add", 2, 1), ("mul", 2, 1)]
    (_, (x, two), (t,)), (_, (t2, three), (y,)) = nodes
    assert (two, three) == (2.0, 3.0) and isinstance(two, float) and t2 == t
    assert len({x, t, y}) == 3 and all(isinstance(n, str) for n in (x, t, y))
    nodes = trace_graph(lambda x: (x + 2) * 3, jnp.int32(5))
    assert [i[1] for _, i, _ in nodes] == [2, 3] and isinstance(nodes[0][1][1], int)
    cj = jax.make_jaxpr(lambda x: (x + 2) * 3)(jnp.int32(5))
    assert int(eval_graph(cj, jnp.int32(5))[0]) == 21


def test_trace_graph_matches_make_jaxpr_up_to_renaming():
    n_jit = 0
    for seed in range(30):
        fn, shapes = _random_program(seed)
        args = _args(seed, shapes)
        nodes = trace_graph(fn, *args)
        assert _canonical(nodes) == _canonical(_reference_nodes(fn, *args))
        n_jit += sum(p == "jit" for p, _, _ in nodes)
        defined = set()
        for _, _ins, outs in nodes:
            assert not defined & set(outs)  # each variable is produced once
            defined |= set(outs)
    assert n_jit > 0
    # A nested jit stays one node; a constant array becomes an input variable.
    nodes = trace_graph(lambda x: jnp.linalg.norm(x) + jnp.array([1.0, 2.0]), jnp.ones(2))
    assert [p for p, _, _ in nodes] == ["jit", "add"]


def _programs(seeds, dtype, *, nested=True):
    out = []
    for seed in seeds:
        fn, shapes = _random_program(seed, nested=nested)
        args = _args(seed, shapes, dtype)
        out.append((fn, jax.make_jaxpr(fn)(*args), args))
    return out


def _both(cases):
    """eval_graph and eval_jaxpr of every program, all in one compiled call (one compile)."""

    def run(all_args):
        return [
            (eval_graph(cj, *a), jax.core.eval_jaxpr(cj.jaxpr, cj.consts, *a))
            for (_, cj, _), a in zip(cases, all_args, strict=True)
        ]

    return jax.jit(run)([a for _, _, a in cases])


def test_eval_graph_matches_eval_jaxpr():
    cases = _programs(range(40), jnp.float32)
    assert sum("jit" in str(cj) for _, cj, _ in cases) > 5
    assert sum(bool(cj.consts) for _, cj, _ in cases) > 5
    for _, cj, args in cases[:2]:  # eagerly, op by op (slow: each op compiles on first use)
        ref = jax.core.eval_jaxpr(cj.jaxpr, cj.consts, *args)
        for o, r in zip(eval_graph(cj, *args), ref, strict=True):
            assert o.shape == r.shape and o.dtype == r.dtype
            np.testing.assert_allclose(o, r, **_EVAL_TOL)
    for ours, ref in _both(cases):  # and the rest under jit
        assert len(ours) == len(ref)
        for o, r in zip(ours, ref, strict=True):
            assert o.shape == r.shape and o.dtype == r.dtype
            np.testing.assert_allclose(o, r, **_EVAL_TOL)


def test_eval_graph_x64_and_vmap():
    with jax.enable_x64(True):
        for ours, ref in _both(_programs(range(100, 115), jnp.float64)):
            for o, r in zip(ours, ref, strict=True):
                assert o.dtype == jnp.float64
                np.testing.assert_allclose(o, r, atol=1e-12, rtol=1e-12)
    fn, shapes = _random_program(7)
    batch = [jnp.stack([_args(s, shapes)[k] for s in range(4)]) for k in range(3)]
    cj = jax.make_jaxpr(fn)(*_args(0, shapes))
    batched = jax.vmap(lambda *a: eval_graph(cj, *a))(*batch)
    for b in range(4):
        single = jax.core.eval_jaxpr(cj.jaxpr, cj.consts, *[x[b] for x in batch])
        for o, s in zip(batched, single, strict=True):
            np.testing.assert_allclose(o[b], s, **_EVAL_TOL)


def test_eval_graph_broadcasts_mixed_shapes():
    for fn, args in [
        (lambda x, s: x * s, (jnp.arange(3.0), jnp.float32(2.0))),
        (lambda x, y: x + y, (jnp.ones((2, 3)), jnp.arange(3.0).reshape(1, 3))),
    ]:
        cj = jax.make_jaxpr(fn)(*args)
        assert len(cj.jaxpr.eqns) == 1  # no broadcast_in_dim: the op itself broadcasts
        np.testing.assert_array_equal(eval_graph(cj, *args)[0], fn(*args))


@pytest.mark.parametrize(
    "fn, name", [(jax.lax.erf_inv, "erf_inv"), (jnp.cumsum, "cumsum")], ids=["erf_inv", "cumsum"]
)
def test_unknown_primitive_raises_naming_it(fn, name):
    x = jnp.linspace(-0.5, 0.5, 3)
    cj = jax.make_jaxpr(fn)(x)
    with pytest.raises(UnknownPrimitiveError, match=name):
        eval_graph(cj, x)
    with pytest.raises(UnknownPrimitiveError, match=name):
        grad_graph(jax.make_jaxpr(lambda v: jnp.sum(fn(v)))(x), x)


_GRAD_CASES = [
    (lambda x: x * x + x, [()]),
    (lambda x, s: jnp.sum(x * s), [(3,), ()]),
    (lambda x: jnp.sum(jnp.broadcast_to(x, (2, 3)) ** 3), [(3,)]),
    (lambda a, b: jnp.sum(jnp.tanh(a @ b)), [(2, 3), (3, 4)]),
    (lambda v, w: jnp.dot(v, w) * jnp.sum(v), [(3,), (3,)]),
    (lambda x, y: jnp.sum(jnp.maximum(x, y) * jnp.exp(x)), [(2, 3), (1, 3)]),
    (lambda x: jnp.sum(x.astype(jnp.float32).astype(jnp.float64) ** 2), [(3, 4)]),
    (lambda x, unused: jnp.sum(jnp.log(1 + x**2) / (2 + jnp.cos(x))), [(2, 3), (3,)]),
    (lambda x: jnp.sum(jnp.sin(x) - x**-2 + x**0), [(3,)]),
]


def test_grad_graph_matches_jax_grad():
    with jax.enable_x64(True):
        cases = [(fn, _args(len(shapes), shapes, jnp.float64)) for fn, shapes in _GRAD_CASES]
        for fn, _cj, args in _programs(range(15), jnp.float64, nested=False):
            cases.append((lambda *a, fn=fn: sum(jnp.sum(v) for v in fn(*a)), args))
        cases = [(fn, jax.make_jaxpr(fn)(*args), args) for fn, args in cases]

        def run(all_args):  # one compile for all cases
            return [
                (grad_graph(cj, *a), jax.grad(fn, argnums=tuple(range(len(a))))(*a))
                for (fn, cj, _), a in zip(cases, all_args, strict=True)
            ]

        for (ours, ref), (_, _, args) in zip(
            jax.jit(run)([a for _, _, a in cases]), cases, strict=True
        ):
            for o, r, a in zip(ours, ref, args, strict=True):
                assert o.shape == a.shape and o.dtype == a.dtype
                np.testing.assert_allclose(o, r, rtol=1e-10, atol=1e-12)  # exact rules, x64
        fn, cj, args = cases[3]  # eagerly too
        for o, r in zip(grad_graph(cj, *args), jax.grad(fn, argnums=(0, 1))(*args), strict=True):
            np.testing.assert_allclose(o, r, rtol=1e-10)


def test_grad_graph_through_nested_jit_and_unused_input():
    fn = lambda x, y: jnp.linalg.norm(x) * 2.0  # noqa: E731
    x, y = jnp.arange(1.0, 4.0), jnp.ones((2, 2))
    gx, gy = grad_graph(jax.make_jaxpr(fn)(x, y), x, y)
    np.testing.assert_allclose(gx, jax.grad(fn)(x, y), rtol=1e-6)
    np.testing.assert_array_equal(gy, jnp.zeros((2, 2)))
