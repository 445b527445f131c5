"""q01 Static vs dynamic graphs: power iteration define-by-run and staged, and StableHLO."""

from __future__ import annotations

import numpy as np

from grader import checks as ck
from grader.judge import compare_arrays, compare_trees
from grader.spec import Exercise, Failure, FileSpec, case

DYN, STA, HLO = "dynamic_power_iteration", "static_power_iteration", "to_stablehlo"
TOL, MAX_ITERS = 1e-4, 200
_ST = {"tol": TOL, "max_iters": MAX_ITERS}


def _spd(rng, n, tol=TOL):
    """A float32 SPD matrix with lambda1/lambda2 in [2, 4] and a start vector such that no
    step norm d (run in float64) is within 1% of tol: float32 rounding cannot move the stop."""
    while True:
        q, _ = np.linalg.qr(rng.standard_normal((n, n)))
        lam = np.concatenate([[rng.uniform(2.0, 4.0), 1.0], rng.uniform(0.0, 0.9, n - 2)])
        a = ((q * lam) @ q.T).astype(np.float32)
        a, x0 = (a + a.T) / 2, rng.standard_normal(n).astype(np.float32)
        x, ds = x0 / np.linalg.norm(x0.astype(np.float64)), []
        while len(ds) < MAX_ITERS and (not ds or ds[-1] >= tol):
            y = a.astype(np.float64) @ x
            ds.append(np.linalg.norm(y / np.linalg.norm(y) - x))
            x = y / np.linalg.norm(y)
        if ds[-1] < tol and np.all(np.abs(np.array(ds) - tol) > 0.01 * tol):
            return a, x0


def _matrices(count):
    return lambda rng: [case(*_spd(rng, n), static=dict(_ST), label=f"SPD {n}x{n}")
                        for n in [6, 16] * (count // 2)]


def _power_judge(case, got, ref):
    """Vector within 1e-5 up to sign, iters exactly (type included), a unit top eigenvector."""
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return Failure(f"on {case.describe()}: expected a pair (vec, iters)")
    msg = compare_trees(got[1], ref[1], path="iters")
    if msg:
        return Failure(f"on {case.describe()}: {msg}", hint="iters counts the steps: stop at "
                       "step k and return k; x0 is step 0")
    v, r = np.asarray(got[0], np.float64), np.asarray(ref[0], np.float64)
    if v.shape != r.shape:
        return Failure(f"on {case.describe()}: vec has shape {v.shape}, expected {r.shape}")
    sign = -1.0 if float(v @ r) < 0 else 1.0
    msg = compare_arrays("vec (up to sign)", sign * v, r, rtol=0.0, atol=1e-5)
    if msg:
        return Failure(f"on {case.describe()}: {msg}", hint="normalize every step: x = y / "
                       "||y||, and return the last normalized iterate")
    top = np.linalg.eigh(np.asarray(case.args[0], np.float64))[1][:, -1]
    cos, norm = abs(v @ top) / np.linalg.norm(v), np.linalg.norm(v)
    if cos <= 1 - 1e-4 or abs(norm - 1) > 1e-6:
        return Failure(f"on {case.describe()}: |cos(vec, top eigenvector)| = {cos:.6f}, "
                       f"||vec|| = {norm:.7f}; expected > 1 - 1e-4 and 1 +- 1e-6")
    return None


def _edges(task):
    def probe(fns, i):
        import jax.numpy as jnp

        f, (a, x0) = getattr(fns, task), i.args
        return {"tol0": f(a, x0, tol=0.0, max_iters=7), "zero": f(a, x0, tol=TOL, max_iters=0),
                "base": f(a, x0, tol=TOL, max_iters=MAX_ITERS),
                "scaled": f(a, x0 * jnp.float32(1e3), tol=TOL, max_iters=MAX_ITERS)}

    return probe


def _edge_prop(case, out):
    x0 = np.asarray(case.args[1], np.float64)
    if int(np.asarray(out["tol0"][1])) != 7:
        return f"tol=0, max_iters=7 took {out['tol0'][1]} steps, expected 7 (d < 0 never holds)"
    if int(np.asarray(out["zero"][1])) != 0:
        return f"max_iters=0 returned iters={out['zero'][1]}, expected 0 (no step taken)"
    msg = compare_arrays("vec for max_iters=0", np.asarray(out["zero"][0], np.float64),
                         x0 / np.linalg.norm(x0), rtol=1e-6, atol=1e-7)
    if msg:
        return msg + " (expected x0 / ||x0||)"
    if int(np.asarray(out["scaled"][1])) != int(np.asarray(out["base"][1])):
        return (f"1e3 * x0 took {out['scaled'][1]} steps, x0 took {out['base'][1]}: only the "
                "direction of x0 may matter")
    msg = compare_arrays("vec for 1e3 * x0", np.asarray(out["scaled"][0], np.float64),
                         np.asarray(out["base"][0], np.float64), rtol=0.0, atol=1e-6)
    return msg and msg + " (expected the vec that x0 gives)"


def _record_steps(fns, i):
    import jax
    import jax.numpy as jnp

    seen = []
    vec, iters = fns.dynamic_power_iteration(
        *i.args, tol=TOL, max_iters=MAX_ITERS,
        on_step=lambda k, x: seen.append((k, isinstance(x, jax.core.Tracer), x)))
    concrete = not any(t for _, t, _ in seen)
    xs = [x for _, _, x in seen] if concrete else []
    return {"iters": iters, "ks": [int(k) for k, _, _ in seen], "concrete": concrete,
            "norms": jnp.stack([jnp.linalg.norm(x) for x in xs]) if xs else jnp.zeros((0,)),
            "last_is_vec": bool(xs) and bool(jnp.all(xs[-1] == vec))}


def _define_by_run(case, out):
    n, ks = int(out["iters"]), list(out["ks"])
    if ks != list(range(1, n + 1)):
        return f"on_step saw k = {ks[:12]}{'...' if len(ks) > 12 else ''}; expected 1..{n}"
    if not out["concrete"]:
        return "on_step received tracers: the dynamic version must run op by op, not traced"
    if n and not out["last_is_vec"]:
        return "the last iterate passed to on_step is not the vec returned"
    err = float(np.max(np.abs(np.asarray(out["norms"], np.float64) - 1), initial=0.0))
    return None if err <= 1e-5 else f"on_step got iterates whose norm is 1 +- {err:.3g}"


def _traced(fns, i):
    import jax

    a, x0 = i.args
    return jax.jit(fns.static_power_iteration)(a, x0, **i.kwargs)


def _make_jaxpr_raises(fns, i):
    import jax

    try:
        jax.make_jaxpr(lambda a, x: fns.dynamic_power_iteration(a, x, tol=TOL, max_iters=50))(
            *i.args)
    except jax.errors.ConcretizationTypeError as e:
        return type(e).__name__
    return ""


def _eqn_counts(fns, i):
    import jax

    def walk(jaxpr, out):
        for eqn in jaxpr.eqns:
            out["eqns"] += 1
            out["whiles"] += eqn.primitive.name == "while"
            for p in eqn.params.values():
                for sub in p if isinstance(p, (tuple, list)) else [p]:
                    inner = getattr(sub, "jaxpr", sub)
                    if hasattr(inner, "eqns"):
                        walk(inner, out)
        return out

    res = {}
    for m in (5, 500):
        f = lambda a, x, m=m: fns.static_power_iteration(a, x, tol=TOL, max_iters=m)  # noqa
        res[m] = walk(jax.make_jaxpr(f)(*i.args).jaxpr, {"eqns": 0, "whiles": 0})
    return {"whiles": res[5]["whiles"], "eqns5": res[5]["eqns"], "eqns500": res[500]["eqns"]}


def _one_while(case, out):
    if out["whiles"] != 1:
        return (f"the jaxpr has {out['whiles']} while loops, expected exactly one (lax.while_loop"
                "; lax.fori_loop with fixed bounds is a scan and ignores tol)")
    return None if out["eqns5"] == out["eqns500"] else (
        f"the jaxpr has {out['eqns5']} equations for max_iters=5 and {out['eqns500']} for 500: "
        "the loop is unrolled by Python instead of staged")


def _retrace_feed(i, out, step):
    return i.replace(args=(i.extras["mats"][(step + 1) % 50], i.args[1]))


def _stacked(rng, n):
    a, x = zip(*[_spd(rng, 6) for _ in range(n)], strict=True)
    return np.stack(a), np.stack(x)


def _same_shape_cases(rng):
    mats, xs = _stacked(rng, 50)
    return [case(mats[0], xs[0], static=dict(_ST), extras={"mats": mats}, label="50 matrices")]


def _lowered(which):
    """The functions to_stablehlo lowers: grader-written, so only to_stablehlo is graded."""

    def while_fn(a, x):
        import jax
        import jax.numpy as jnp

        def body(c):
            y = a @ c[0]
            y = y / jnp.linalg.norm(y)
            return y, c[1] + 1, jnp.linalg.norm(y - c[0])

        x = x / jnp.linalg.norm(x)
        init = (x, jnp.int32(0), jnp.float32(jnp.inf))
        return jax.lax.while_loop(lambda c: (c[1] < 50) & (c[2] >= TOL), body, init)[:2]

    def loop_fn(a, x):
        for _ in range(3):
            x = a @ x
        return x

    return {"while": while_fn, "loop": loop_fn}[which]


def _hlo_cases(rng):
    a, x0 = _spd(rng, 6)
    return [case(a, x0, static={"fn": "while"}, label="the staged power iteration"),
            case(a, x0, static={"fn": "loop"}, label="a 3-step Python loop of a @ x")]


def _hlo_text(case, out):
    if not isinstance(out, str):
        return f"expected the module's text as a str, got {type(out).__name__}"
    need = ["func.func public @main(%arg0: tensor<6x6xf32>", "tensor<6xf32>", "stablehlo."]
    need += ["stablehlo.while"] if case.static["fn"] == "while" else ["stablehlo.dot_general"]
    missing = [s for s in need if s not in out]
    if missing or "HloModule" in out:
        return (f"the text lacks {missing} or is XLA's compiled HLO ('HloModule'); its start: "
                f"{out[:120]!r}")
    if case.static["fn"] == "loop" and "stablehlo.while" in out:
        return "a fixed 3-trip Python loop lowered to a stablehlo.while: it should be unrolled"
    return None


def _hlo_twice(fns, i):
    import jax

    fn, sds = _lowered(i.static["fn"]), [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in i.args]
    return {"arrays": fns.to_stablehlo(fn, *i.args), "structs": fns.to_stablehlo(fn, *sds)}


def _callback_fires(fns, i):
    import jax

    fired = []

    def fn(a, x):
        jax.debug.callback(lambda v: fired.append(1), x)
        return a @ x

    text = fns.to_stablehlo(fn, *i.args)
    jax.effects_barrier()
    return {"fired": len(fired), "text": text}


def _never_fires(case, out):
    if out["fired"]:
        return (f"a jax.debug.callback inside fn fired {out['fired']} time(s): to_stablehlo ran "
                "fn; lowering (jax.jit(fn).lower(*args)) traces but never executes")
    return None if "stablehlo." in out["text"] else "the text has no stablehlo ops"


_ONE = lambda rng: [case(*_spd(rng, 6), static=dict(_ST))]  # noqa: E731

CHECKS = (
    ck.equivalence(DYN, _matrices(50), id="matches_reference", judge=_power_judge,
                   batched=False, title="vec and iters match the reference",
                   description="on 50 SPD matrices, vec up to sign within 1e-5, iters exactly "
                   "(a Python int), and vec is a unit top eigenvector"),
    ck.invariant(DYN, _ONE, _edge_prop, call=_edges(DYN), id="edge_cases", batched=False,
                 title="tol=0, max_iters=0 and a scaled x0"),
    ck.invariant(DYN, _ONE, _define_by_run, call=_record_steps, id="define_by_run",
                 batched=False, title="on_step sees every step, with concrete arrays",
                 hint="call on_step(k, x) after computing x_k and d_k, before the stop test"),
    ck.invariant(DYN, _ONE, lambda c, out: None if out else "jax.make_jaxpr traced it without "
                 "error: a staged loop is not define-by-run", call=_make_jaxpr_raises,
                 id="not_traceable", batched=False,
                 title="tracing it raises ConcretizationTypeError",
                 hint="the loop and the stop test are plain Python: for/while and if d < tol"),
    ck.equivalence(STA, _matrices(50), id="matches_reference", judge=_power_judge,
                   title="vec and iters match the reference under jit",
                   description="under jax.jit on 50 SPD matrices: vec up to sign within 1e-5, "
                   "iters exactly (int32), a unit top eigenvector"),
    ck.invariant(STA, _ONE, _edge_prop, call=_edges(STA), id="edge_cases",
                 title="tol=0, max_iters=0 and a scaled x0"),
    ck.invariant(STA, _ONE, _one_while, call=_eqn_counts, id="one_while_loop", batched=False,
                 title="one while loop, whose size does not grow with max_iters"),
    ck.retrace(STA, _same_shape_cases, feed=_retrace_feed, steps=50, id="traces_once",
               title="traces once for 50 matrices of one shape"),
    ck.vmap(STA, lambda rng: [case(*_stacked(rng, 25), static=dict(_ST), label="25 matrices")],
            title="vmap gives each matrix its own iters",
            hint="keep every decision in the loop's cond as array operations (&, "
            "jnp.logical_not), never int()/float()/if on a traced value"),
    ck.equivalence(STA, lambda rng: [case(*_spd(rng, 6, t), tol=np.float32(t),
                                          max_iters=np.int32(MAX_ITERS), label=f"tol={t:g}")
                                     for t in (1e-2, 1e-4)],
                   call=_traced, judge=_power_judge, id="traced_tol",
                   title="works with tol and max_iters traced",
                   hint="compare k and d with max_iters and tol inside cond with array ops"),
    ck.invariant(HLO, _hlo_cases, _hlo_text,
                 call=lambda fns, i: fns.to_stablehlo(_lowered(i.static["fn"]), *i.args),
                 id="stablehlo_text", batched=False, title="StableHLO text of the lowered fn",
                 hint="jax.jit(fn).lower(*args).as_text(): not make_jaxpr, not .compile()"),
    ck.invariant(HLO, lambda rng: _hlo_cases(rng)[:1], lambda c, out: None if out["arrays"] ==
                 out["structs"] else "ShapeDtypeStruct arguments gave another text than arrays",
                 call=_hlo_twice, id="shape_dtype_struct", batched=False,
                 title="ShapeDtypeStructs give the same text as arrays",
                 hint="pass args straight to lower(): it needs only shapes and dtypes"),
    ck.invariant(HLO, lambda rng: _hlo_cases(rng)[:1], _never_fires, call=_callback_fires,
                 id="never_runs_fn", batched=False, title="never runs fn"),
    ck.forbidden(DYN),
    ck.forbidden(STA),
)

_EIGEN = ("jax.numpy.linalg.eig*", "jax.numpy.linalg.svd", "numpy.linalg", "jax.scipy.linalg",
          "scipy")

EXERCISE = Exercise(
    id="q01",
    title="Static vs dynamic graphs",
    files={"graphs.py": FileSpec(
        tasks=tuple(f"dlcore.graphs.power_iteration:{t}" for t in (DYN, STA, HLO)),
        summary="power iteration as a dynamic and as a static graph, and its StableHLO")},
    checks=CHECKS,
    forbidden={DYN: _EIGEN, STA: (*_EIGEN, "jax.pure_callback", "jax.experimental.io_callback")},
)
