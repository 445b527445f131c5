"""Known-wrong and correct-but-different jaxpr interpreters for the q02 grader.

Check ids (task/property) and what each one compares. Graphs are compared up to a consistent
renaming of variables (rename each name to its order of first appearance).

- trace_graph/article_example: trace_graph(lambda x: (x + 2) * 3, 5.0) is, up to renaming,
  [("add", (x, 2.0), (t,)), ("mul", (t, 3.0), (y,))] with x, t, y distinct strings and the
  literals Python floats; with jnp.int32(5) the literals are the Python ints 2 and 3.
- trace_graph/matches_make_jaxpr: on 30 generated programs (consts, literals, fan-out,
  broadcasting, a nested jax.jit helper), the node list equals the one built from
  jax.make_jaxpr(fn)(*args).jaxpr.eqns (name, inputs with Literal -> .val.item(), outputs),
  up to renaming; a nested jit is one node named "jit".
- eval_graph/article_example: eval_graph(make_jaxpr((x+2)*3)(int32 5), int32 5) == [21].
- eval_graph/matches_eval_jaxpr: on 100 generated programs with input shapes among (),
  (3,), (2,3), (1,3), (3,4), float32, each output equals jax.core.eval_jaxpr's in shape,
  dtype and value (atol 1e-6, rtol 1e-6: a nested jit that eval_jaxpr runs compiled may
  differ by 1 ulp, 2e-6 at values near 20). Includes `mul f32[3] f32[]`,
  `add f32[2,3] f32[1,3]`, consts, literals and nested jit.
- eval_graph/x64: the same under jax.enable_x64(True) with float64 inputs, atol 1e-12.
- eval_graph/jit, eval_graph/vmap: jax.jit(eval_graph) equals eager, and jax.vmap over a
  batch of 4 equals a loop (stock kinds, tolerance 10x float32's).
- eval_graph/unknown_primitive_raises: the jaxprs of lax.erf_inv and of jnp.cumsum (a cumsum
  inside a nested jit) raise the file's UnknownPrimitiveError (a ValueError) whose message
  contains "erf_inv" / "cumsum". A NotImplementedError naming the primitive is judged wrong
  with a hint; one that does not name it is the stub (not_implemented).
- eval_graph/forbidden, grad_graph/forbidden: no eval_jaxpr, jaxpr_as_fun, .bind, jax.grad
  family, jax.interpreters or jax._src.
- grad_graph/matches_jax_grad: under x64, equals jax.grad(fn, argnums=all) (rtol 1e-10,
  atol 1e-12) on x*x+x, sum(x*s) with scalar s, broadcast_in_dim, reduce_sum, dot_general
  ((2,3)@(3,4) and (3,)·(3,)), max without ties (shapes (2,3) and (1,3)), integer_pow with
  y in {2, 3, -2, 0}, convert_element_type, and 15 generated flat programs; each gradient
  has its input's shape and dtype (a (3,) gradient for a () input is wrong).
- grad_graph/unused_input: an input the output does not depend on gets zeros of its shape.
- grad_graph/jit: jax.jit(lambda *a: grad_graph(cj, *a)) equals the eager result (float32,
  stock tolerance).
"""

from tests.grading import Alternative, Mutant

TRACE = "trace_graph"
EVAL = "eval_graph"
GRAD = "grad_graph"


def _vjp_rule(name: str, rule: str) -> str:
    """grad_graph with one VJP rule replaced by ``rule`` (a lambda)."""
    return f"""
def grad_graph(closed_jaxpr, *args):
    saved = _VJP_RULES[{name!r}]
    _VJP_RULES[{name!r}] = {rule}
    try:
        return _original_grad_graph(closed_jaxpr, *args)
    finally:
        _VJP_RULES[{name!r}] = saved
"""


def _swapped(helper: str, code: str) -> str:
    """grad_graph run with the module-level ``helper`` replaced by ``_wrong_<helper>``
    (defined in ``code``): the grader only splices listed tasks."""
    return code + f"""

def grad_graph(closed_jaxpr, *args):
    global {helper}
    saved = {helper}
    {helper} = _wrong{helper}
    try:
        return _original_grad_graph(closed_jaxpr, *args)
    finally:
        {helper} = saved
"""


MUTANTS = [
    # trace_graph
    Mutant("trace_drops_literals", TRACE, f"{TRACE}/article_example", """
def trace_graph(fn, *args):
    return [(p, tuple(i for i in ins if isinstance(i, str)), outs)
            for p, ins, outs in _original_trace_graph(fn, *args)]
"""),
    Mutant("trace_flattens_nested_jit", TRACE, f"{TRACE}/matches_make_jaxpr", """
def trace_graph(fn, *args):
    jaxpr = jax.make_jaxpr(fn)(*args).jaxpr
    names = {}

    def name(v):
        return names.setdefault(v, f"v{len(names)}")

    def walk(jaxpr, outer_in, outer_out):
        sub = dict(zip(jaxpr.invars, outer_in)) | dict(zip(jaxpr.outvars, outer_out))
        nodes = []
        for eqn in jaxpr.eqns:
            ins = [v if isinstance(v, Literal) else sub.get(v, v) for v in eqn.invars]
            outs = [sub.get(v, v) for v in eqn.outvars]
            if eqn.primitive.name == "jit":
                nodes += walk(eqn.params["jaxpr"].jaxpr, ins, outs)
                continue
            nodes.append((eqn.primitive.name,
                          tuple(v.val.item() if isinstance(v, Literal) else name(v) for v in ins),
                          tuple(name(v) for v in outs)))
        return nodes

    return walk(jaxpr, jaxpr.invars, jaxpr.outvars)
"""),
    # eval_graph
    Mutant("eval_constvars_not_bound", EVAL, f"{EVAL}/matches_eval_jaxpr", """
def eval_graph(closed_jaxpr, *args):
    jaxpr = closed_jaxpr.jaxpr
    env = dict(zip(jaxpr.invars, args))  # the constvars are forgotten
    for eqn in jaxpr.eqns:
        invals = [_read(env, v) for v in eqn.invars]
        if eqn.primitive.name in _NESTED:
            outvals = eval_graph(eqn.params["jaxpr"], *invals)
        else:
            outvals = [_EVAL_RULES[eqn.primitive.name](*invals, **eqn.params)]
        env.update(zip(eqn.outvars, outvals))
    return [jnp.asarray(_read(env, v)) for v in jaxpr.outvars]
""", status="error"),
    Mutant("eval_literals_from_env", EVAL, f"{EVAL}/article_example", """
def eval_graph(closed_jaxpr, *args):
    jaxpr = closed_jaxpr.jaxpr
    env = dict(zip(jaxpr.constvars, closed_jaxpr.consts))
    env.update(zip(jaxpr.invars, args))
    for eqn in jaxpr.eqns:
        invals = [env[v] for v in eqn.invars]
        if eqn.primitive.name in _NESTED:
            outvals = eval_graph(eqn.params["jaxpr"], *invals)
        else:
            outvals = [_EVAL_RULES[eqn.primitive.name](*invals, **eqn.params)]
        env.update(zip(eqn.outvars, outvals))
    return [env[v] for v in jaxpr.outvars]
""", status="error"),
    Mutant("eval_bind_fallback", EVAL, f"{EVAL}/unknown_primitive_raises", """
def eval_graph(closed_jaxpr, *args):
    jaxpr = closed_jaxpr.jaxpr
    env = dict(zip(jaxpr.constvars, closed_jaxpr.consts))
    env.update(zip(jaxpr.invars, args))
    for eqn in jaxpr.eqns:
        invals = [_read(env, v) for v in eqn.invars]
        if eqn.primitive.name in _EVAL_RULES:
            outvals = [_EVAL_RULES[eqn.primitive.name](*invals, **eqn.params)]
        else:  # "the primitive knows how to run itself"
            outvals = getattr(eqn.primitive, "bi" + "nd")(*invals, **eqn.params)
            if not eqn.primitive.multiple_results:
                outvals = [outvals]
        env.update(zip(eqn.outvars, outvals))
    return [jnp.asarray(_read(env, v)) for v in jaxpr.outvars]
"""),
    Mutant("eval_convert_ignores_new_dtype", EVAL, f"{EVAL}/matches_eval_jaxpr", """
def eval_graph(closed_jaxpr, *args):
    saved = _EVAL_RULES["convert_element_type"]
    _EVAL_RULES["convert_element_type"] = lambda x, **_: x  # "a cast changes nothing"
    try:
        return _original_eval_graph(closed_jaxpr, *args)
    finally:
        _EVAL_RULES["convert_element_type"] = saved
"""),
    Mutant("eval_reduce_sum_ignores_axes", EVAL, f"{EVAL}/matches_eval_jaxpr", """
def eval_graph(closed_jaxpr, *args):
    saved = _EVAL_RULES["reduce_sum"]
    _EVAL_RULES["reduce_sum"] = lambda x, **_: jnp.sum(x)
    try:
        return _original_eval_graph(closed_jaxpr, *args)
    finally:
        _EVAL_RULES["reduce_sum"] = saved
"""),
    Mutant("eval_raises_builtin_not_implemented", EVAL, f"{EVAL}/unknown_primitive_raises", """
def eval_graph(closed_jaxpr, *args):
    try:
        return _original_eval_graph(closed_jaxpr, *args)
    except UnknownPrimitiveError as e:
        raise NotImplementedError(str(e)) from None
"""),
    Mutant("eval_python_scalar_inputs", EVAL, f"{EVAL}/jit", """
def eval_graph(closed_jaxpr, *args):
    args = [float(a) if jnp.ndim(a) == 0 else a for a in args]  # "scalars as Python numbers"
    return _original_eval_graph(closed_jaxpr, *args)
""", status="error"),
    Mutant("eval_numpy_convert", EVAL, f"{EVAL}/vmap", """
def eval_graph(closed_jaxpr, *args):
    saved = _EVAL_RULES["convert_element_type"]
    _EVAL_RULES["convert_element_type"] = lambda x, *, new_dtype, **_: jnp.asarray(
        np.asarray(x).astype(new_dtype))
    try:
        return _original_eval_graph(closed_jaxpr, *args)
    finally:
        _EVAL_RULES["convert_element_type"] = saved
""", status="error"),
    Mutant("eval_float32_everywhere", EVAL, f"{EVAL}/x64", """
def eval_graph(closed_jaxpr, *args):
    return _original_eval_graph(closed_jaxpr, *[jnp.asarray(a, jnp.float32) for a in args])
"""),
    Mutant("eval_via_eval_jaxpr", EVAL, f"{EVAL}/forbidden", """
def eval_graph(closed_jaxpr, *args):
    return jax.core.eval_jaxpr(closed_jaxpr.jaxpr, closed_jaxpr.consts, *args)
""", status="forbidden"),
    # grad_graph
    Mutant("grad_numpy_accumulator", GRAD, f"{GRAD}/jit", _swapped("_unbroadcast", """
def _wrong_unbroadcast(ct, shape):
    ct = np.asarray(ct)
    ct = ct.sum(axis=tuple(range(ct.ndim - len(shape))))
    stretched = tuple(d for d, n in enumerate(shape) if n == 1 and ct.shape[d] != 1)
    return jnp.asarray(ct.sum(axis=stretched, keepdims=True).reshape(shape))
"""), status="error"),
    Mutant("grad_via_jax_grad", GRAD, f"{GRAD}/forbidden", """
def grad_graph(closed_jaxpr, *args):
    f = lambda *a: eval_graph(closed_jaxpr, *a)[0]
    return list(jax.grad(f, argnums=tuple(range(len(args))))(*args))
""", status="forbidden"),
    Mutant("grad_overwrites_at_fanout", GRAD, f"{GRAD}/matches_jax_grad", _swapped("_backward", """
def _wrong_backward(jaxpr, consts, args, out_cts):
    env = _eval_env(jaxpr, consts, args)
    cts = {}

    def set_ct(v, ct):
        if ct is not None and not isinstance(v, Literal):
            cts[v] = _unbroadcast(ct, v.aval.shape)  # replaces an earlier contribution

    for v, ct in zip(jaxpr.outvars, out_cts):
        set_ct(v, ct)
    for eqn in reversed(jaxpr.eqns):
        g_out = [cts.pop(v, None) for v in eqn.outvars]
        if all(g is None for g in g_out):
            continue
        invals = [_read(env, v) for v in eqn.invars]
        g_in = _VJP_RULES[eqn.primitive.name](g_out[0], *invals, env[eqn.outvars[0]],
                                              **eqn.params)
        for v, ct in zip(eqn.invars, g_in):
            set_ct(v, ct)
    return [cts.get(v) for v in jaxpr.invars]
""")),
    Mutant("grad_no_unbroadcast", GRAD, f"{GRAD}/matches_jax_grad", _swapped("_unbroadcast", """
def _wrong_unbroadcast(ct, shape):
    return ct
""")),
    Mutant("grad_dot_g_at_b", GRAD, f"{GRAD}/matches_jax_grad", _vjp_rule(
        "dot_general", "lambda g, x, y, out, **_: (jnp.matmul(g, y), jnp.matmul(x.T, g))")),
    Mutant("grad_integer_pow_y_x_pow_y", GRAD, f"{GRAD}/matches_jax_grad", _vjp_rule(
        "integer_pow", "lambda g, x, out, *, y, **_: (g * y * jax.lax.integer_pow(x, y),)")),
    Mutant("grad_max_feeds_both", GRAD, f"{GRAD}/matches_jax_grad", _vjp_rule(
        "max", "lambda g, x, y, out, **_: (g, g)")),
    Mutant("grad_unused_input_none", GRAD, f"{GRAD}/unused_input", """
def grad_graph(closed_jaxpr, *args):
    jaxpr = closed_jaxpr.jaxpr
    seed = jnp.ones((), jaxpr.outvars[0].aval.dtype)
    cts = _backward(jaxpr, closed_jaxpr.consts, args, [seed])
    return [jnp.zeros(()) if ct is None else ct for ct in cts]
"""),
]

ALTERNATIVES = [
    Alternative("trace_numbered_names", TRACE, """
def trace_graph(fn, *args):
    closed = jax.make_jaxpr(fn)(*args)
    ids = {}
    out = []
    for eqn in closed.jaxpr.eqns:
        ins = []
        for v in eqn.invars:
            if isinstance(v, Literal):
                ins.append(np.asarray(v.val).item())
            else:
                ins.append(ids.setdefault(id(v), f"t{len(ids)}"))
        outs = tuple(ids.setdefault(id(v), f"t{len(ids)}") for v in eqn.outvars)
        out.append((eqn.primitive.name, tuple(ins), outs))
    return out
"""),
    Alternative("eval_if_chain", EVAL, """
def _alt_apply(name, x, p):
    if name == "neg":
        return -x[0]
    if name in ("exp", "log", "sin", "cos", "tanh", "sqrt"):
        return getattr(jnp, name)(x[0])
    if name in ("add", "sub", "mul", "div", "max", "min"):
        a, b = jnp.broadcast_arrays(x[0], x[1])
        return {"add": jax.lax.add, "sub": jax.lax.sub, "mul": jax.lax.mul,
                "div": jax.lax.div, "max": jax.lax.max, "min": jax.lax.min}[name](a, b)
    if name == "integer_pow":
        return jax.lax.integer_pow(x[0], p["y"])
    if name == "dot_general":
        return jax.lax.dot_general(x[0], x[1], p["dimension_numbers"],
                                   preferred_element_type=p.get("preferred_element_type"))
    if name == "reduce_sum":
        return jax.lax.reduce(x[0], np.zeros((), x[0].dtype), jax.lax.add, tuple(p["axes"]))
    if name == "broadcast_in_dim":
        return jax.lax.broadcast_in_dim(x[0], p["shape"], p["broadcast_dimensions"])
    if name == "convert_element_type":
        return x[0].astype(p["new_dtype"])
    raise UnknownPrimitiveError(f"no rule for primitive {name}")


def eval_graph(closed_jaxpr, *args):
    j = closed_jaxpr.jaxpr
    env = {}
    for v, val in [*zip(j.constvars, closed_jaxpr.consts), *zip(j.invars, args)]:
        env[v] = jnp.asarray(val)
    get = lambda v: jnp.asarray(v.val) if isinstance(v, Literal) else env[v]  # noqa: E731
    for eqn in j.eqns:
        xs = [get(v) for v in eqn.invars]
        if eqn.primitive.name == "jit":
            ys = eval_graph(eqn.params["jaxpr"], *xs)
        else:
            ys = [_alt_apply(eqn.primitive.name, xs, eqn.params)]
        for v, y in zip(eqn.outvars, ys):
            env[v] = y
    return [get(v) for v in j.outvars]
"""),
    Alternative("grad_sum_contributions_at_the_end", GRAD, """
def grad_graph(closed_jaxpr, *args):
    j = closed_jaxpr.jaxpr
    env = _eval_env(j, closed_jaxpr.consts, args)
    contributions = {j.outvars[0]: [jnp.ones((), j.outvars[0].aval.dtype)]}
    for eqn in reversed(j.eqns):
        parts = contributions.pop(eqn.outvars[0], [])
        if not parts:
            continue
        g = sum(parts[1:], parts[0])
        xs = [_read(env, v) for v in eqn.invars]
        for v, ct in zip(eqn.invars, _VJP_RULES[eqn.primitive.name](
                g, *xs, env[eqn.outvars[0]], **eqn.params)):
            if ct is None or isinstance(v, Literal):
                continue
            shape = v.aval.shape
            ct = jnp.sum(ct, axis=tuple(range(ct.ndim - len(shape))))
            ct = jnp.sum(ct, axis=tuple(i for i, n in enumerate(shape) if n == 1),
                         keepdims=True).reshape(shape)
            contributions.setdefault(v, []).append(ct)
    out = []
    for v, a in zip(j.invars, args):
        parts = contributions.get(v, [])
        total = sum(parts[1:], parts[0]) if parts else jnp.zeros(jnp.shape(a))
        out.append(total.astype(jnp.result_type(a)))
    return out
"""),
]
