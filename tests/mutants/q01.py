"""Known-wrong and correct-but-different power iterations and lowerings for the q01 grader.

Check ids (task/property) and what each one compares. "Reference" is dlcore's version; the
matrices are random SPD (6x6 and 16x16, lambda1/lambda2 >= 2), tol 1e-4, max_iters 200.

- dynamic_power_iteration/matches_reference: on 50 matrices, the vector equals the
  reference's within 1e-5 up to sign, |cos(vec, eigh top)| > 1 - 1e-4, ||vec|| = 1 +- 1e-6,
  and (on matrices whose every step d is > 1% away from tol) iters equals the reference's
  exactly; iters is a Python int.
- dynamic_power_iteration/edge_cases: tol=0 gives iters == max_iters (7); max_iters=0 gives
  (x0/||x0||, 0) to rtol 1e-6; 1e3*x0 gives the same vec (atol 1e-6) and iters.
- dynamic_power_iteration/define_by_run: on_step is called exactly iters times with
  k = 1..iters and concrete (non-Tracer) unit iterates.
- dynamic_power_iteration/forbidden, static_power_iteration/forbidden: no eigensolver
  (jnp.linalg.eig*, svd, numpy.linalg, scipy); no callbacks in the static version.
- dynamic_power_iteration/not_traceable: jax.make_jaxpr of the dynamic version raises
  jax.errors.ConcretizationTypeError.
- static_power_iteration/matches_reference: as the dynamic one, under jax.jit; iters int32.
- static_power_iteration/edge_cases: as the dynamic one, under jax.jit.
- static_power_iteration/one_while_loop: make_jaxpr has exactly one `while` eqn, and the
  same number of top-level eqns for max_iters 5 and 500.
- static_power_iteration/traces_once: jax.jit of it, called on 50 matrices of one shape,
  runs the learner's body once (Python counter).
- static_power_iteration/vmap: jax.vmap over 25 matrices equals per-matrix calls: vec
  (atol 1e-6) and iters exactly, and the iters differ between examples.
- static_power_iteration/traced_tol: jax.jit with tol and max_iters traced equals the
  reference for tol in (1e-2, 1e-4).
- to_stablehlo/stablehlo_text: for a grader-written staged power iteration on (6,6),(6,)
  float32 arrays the text contains "func.func public @main(%arg0: tensor<6x6xf32>",
  "tensor<6xf32>", "stablehlo." and "stablehlo.while", and no "HloModule"; for a fixed
  3-trip Python loop of a @ x it has "stablehlo.dot_general" and no "stablehlo.while".
- to_stablehlo/shape_dtype_struct: ShapeDtypeStruct arguments give the same text as arrays.
- to_stablehlo/never_runs_fn: a jax.debug.callback inside fn never fires.
"""

from tests.grading import Alternative, Mutant

DYN = "dynamic_power_iteration"
STA = "static_power_iteration"
HLO = "to_stablehlo"
_DYN_SIG = "a, x0, *, tol, max_iters, on_step=None"
_STA_SIG = "a, x0, *, tol, max_iters"

MUTANTS = [
    # dynamic_power_iteration
    Mutant("dynamic_not_normalized", DYN, f"{DYN}/matches_reference", f"""
def dynamic_power_iteration({_DYN_SIG}):
    x = x0 / jnp.linalg.norm(x0)
    k = 0
    for k in range(1, max_iters + 1):
        x_new = a @ x
        d = jnp.linalg.norm(x_new / jnp.linalg.norm(x_new) - x / jnp.linalg.norm(x))
        x = x_new
        if on_step is not None:
            on_step(k, x)
        if d < tol:
            break
    return x, k
"""),
    Mutant("dynamic_iters_minus_one", DYN, f"{DYN}/matches_reference", f"""
def dynamic_power_iteration({_DYN_SIG}):
    x, k = _original_dynamic_power_iteration(a, x0, tol=tol, max_iters=max_iters,
                                             on_step=on_step)
    return x, max(k - 1, 0)
"""),
    Mutant("dynamic_counts_x0", DYN, f"{DYN}/edge_cases", f"""
def dynamic_power_iteration({_DYN_SIG}):
    x, k = _original_dynamic_power_iteration(a, x0, tol=tol, max_iters=max_iters,
                                             on_step=on_step)
    return x, k + 1
"""),
    Mutant("dynamic_skips_on_step", DYN, f"{DYN}/define_by_run", f"""
def dynamic_power_iteration({_DYN_SIG}):
    return _original_dynamic_power_iteration(a, x0, tol=tol, max_iters=max_iters)
"""),
    Mutant("dynamic_written_with_while_loop", DYN, f"{DYN}/not_traceable", f"""
def dynamic_power_iteration({_DYN_SIG}):
    return static_power_iteration(a, x0, tol=tol, max_iters=max_iters)
"""),
    # static_power_iteration
    Mutant("static_not_normalized", STA, f"{STA}/matches_reference", f"""
def static_power_iteration({_STA_SIG}):
    def cond(c):
        return (c[1] < max_iters) & jnp.logical_not(c[2] < tol)

    def body(c):
        x, k, _ = c
        y = a @ x
        return y, k + 1, jnp.linalg.norm(y / jnp.linalg.norm(y) - x / jnp.linalg.norm(x))

    x = x0 / jnp.linalg.norm(x0)
    x, k, _ = jax.lax.while_loop(cond, body, (x, jnp.int32(0), jnp.float32(jnp.inf)))
    return x, k
"""),
    Mutant("static_k_le_max_iters", STA, f"{STA}/edge_cases", f"""
def static_power_iteration({_STA_SIG}):
    return _original_static_power_iteration(a, x0, tol=tol, max_iters=max_iters + 1)
"""),
    Mutant("static_fori_loop_ignores_tol", STA, f"{STA}/matches_reference", f"""
def static_power_iteration({_STA_SIG}):
    def body(i, x):
        y = a @ x
        return y / jnp.linalg.norm(y)

    x = jax.lax.fori_loop(0, max_iters, body, x0 / jnp.linalg.norm(x0))
    return x, jnp.asarray(max_iters, jnp.int32)
"""),
    Mutant("static_unrolled_where", STA, f"{STA}/one_while_loop", f"""
def static_power_iteration({_STA_SIG}):
    x = x0 / jnp.linalg.norm(x0)
    k = jnp.int32(0)
    done = jnp.bool_(False)
    for _ in range(max_iters):
        y = a @ x
        x_new = y / jnp.linalg.norm(y)
        d = jnp.linalg.norm(x_new - x)
        x = jnp.where(done, x, x_new)
        k = jnp.where(done, k, k + 1)
        done = done | (d < tol)
    return x, k
"""),
    Mutant("static_python_if_on_tracer", STA, f"{STA}/traces_once", f"""
def static_power_iteration({_STA_SIG}):
    x, k = dynamic_power_iteration(a, x0, tol=tol, max_iters=max_iters)
    return x, jnp.asarray(k, jnp.int32)
""", status="error"),
    Mutant("static_int_on_tracer", STA, f"{STA}/vmap", f"""
def static_power_iteration({_STA_SIG}):
    x, k = _original_static_power_iteration(a, x0, tol=tol, max_iters=max_iters)
    return x, jnp.asarray(int(k), jnp.int32)
""", status="error"),
    Mutant("static_python_if_on_max_iters", STA, f"{STA}/traced_tol", f"""
def static_power_iteration({_STA_SIG}):
    if max_iters == 0:  # a shortcut that needs a concrete max_iters
        return x0 / jnp.linalg.norm(x0), jnp.int32(0)
    return _original_static_power_iteration(a, x0, tol=tol, max_iters=max_iters)
""", status="error"),
    Mutant("dynamic_calls_eigh", DYN, f"{DYN}/forbidden", f"""
def dynamic_power_iteration({_DYN_SIG}):
    w, v = jnp.linalg.eigh(a)
    top = v[:, -1] * jnp.sign(v[:, -1] @ x0)
    return top, 1
""", status="forbidden"),
    Mutant("static_numpy_callback", STA, f"{STA}/forbidden", f"""
def static_power_iteration({_STA_SIG}):
    def run(a, x0):
        return _original_static_power_iteration(a, x0, tol=tol, max_iters=max_iters)

    shapes = (jax.ShapeDtypeStruct(x0.shape, x0.dtype), jax.ShapeDtypeStruct((), jnp.int32))
    return jax.pure_callback(run, shapes, a, x0)
""", status="forbidden"),
    # to_stablehlo
    Mutant("to_stablehlo_makes_arrays", HLO, f"{HLO}/shape_dtype_struct", """
def to_stablehlo(fn, *args):
    return jax.jit(fn).lower(*[jnp.asarray(a) for a in args]).as_text()
"""),
    Mutant("to_stablehlo_returns_jaxpr", HLO, f"{HLO}/stablehlo_text", """
def to_stablehlo(fn, *args):
    return str(jax.make_jaxpr(fn)(*args))
"""),
    Mutant("to_stablehlo_compiled_hlo", HLO, f"{HLO}/stablehlo_text", """
def to_stablehlo(fn, *args):
    return jax.jit(fn).lower(*args).compile().as_text()
"""),
    Mutant("to_stablehlo_runs_fn", HLO, f"{HLO}/never_runs_fn", """
def to_stablehlo(fn, *args):
    jax.block_until_ready(jax.jit(fn)(*args))  # "check it works" first
    return jax.jit(fn).lower(*args).as_text()
"""),
]

ALTERNATIVES = [
    Alternative("dynamic_while_true", DYN, f"""
def dynamic_power_iteration({_DYN_SIG}):
    x = x0 / jnp.sqrt(jnp.sum(x0 * x0))
    k = 0
    while k < max_iters:
        k += 1
        y = jnp.dot(a, x)
        x_new = y / jnp.sqrt(jnp.sum(y * y))
        d = float(jnp.sqrt(jnp.sum((x_new - x) ** 2)))
        x = x_new
        if on_step:
            on_step(k, x)
        if d < tol:
            break
    return x, k
"""),
    Alternative("static_cond_d_ge_tol", STA, f"""
def static_power_iteration({_STA_SIG}):
    def step(carry):
        x, k, _ = carry
        y = jnp.matmul(a, x)
        y = y / jnp.sqrt(jnp.sum(y * y))
        return y, k + 1, jnp.sqrt(jnp.sum((y - x) ** 2))

    x = x0 / jnp.sqrt(jnp.sum(x0 * x0))
    init = (x, jnp.array(0, dtype=jnp.int32), jnp.array(jnp.inf, dtype=x.dtype))
    x, k, _ = jax.lax.while_loop(lambda c: (c[1] < max_iters) & (c[2] >= tol), step, init)
    return x, k
"""),
    Alternative("to_stablehlo_via_trace", HLO, """
def to_stablehlo(fn, *args):
    return jax.jit(fn).trace(*args).lower().as_text()
"""),
]
