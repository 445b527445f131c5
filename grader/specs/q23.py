"""q23 Debugging: gradient checks, NaN hunting with checkify, logging from jit, overfitting one
batch, and the fixed version of a training loop with four planted bugs.

grad_check runs under ``jax.enable_x64`` with float64 params. find_nonfinite's answer is
compared as a string with checkify's own message. jit_logger's log is read after
``jax.effects_barrier()``. The MLP, its dropout and the buggy loop are given helpers.
"""

from __future__ import annotations

import functools

import numpy as np

from grader import checks as ck
from grader import props
from grader.spec import Exercise, FileSpec, case


@functools.cache
def _digits(n):
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.data[:n] / 16.0).astype(np.float32), d.target[:n].astype(np.int32)


# ---- grad_check (probe side: every function is built inside x64) --------------------------


def _tanh_layer(p, x):
    import jax.numpy as jnp

    return jnp.sum(jnp.tanh(x @ p["w"] + p["b"][None, :]) ** 2)


def _custom(kind):
    """cube whose VJP is 10% off, or x sin x whose VJP drops the x cos x term."""
    import jax
    import jax.numpy as jnp

    f = jax.custom_vjp(lambda x: x**3 if kind == "cube" else x * jnp.sin(x))
    if kind == "cube":
        f.defvjp(lambda x: (x**3, x), lambda x, g: (1.1 * 3 * x**2 * g,))
    else:
        f.defvjp(lambda x: (x * jnp.sin(x), x), lambda x, g: (jnp.sin(x) * g,))
    return f


def _nested(off):
    import jax.numpy as jnp

    def f(p, x):
        scale, shift = p["b"]
        head = jnp.sum(_custom("cube")(shift)) if off else jnp.sum(shift**3)
        return jnp.sum(jnp.tanh(x @ p["a"]["w"]) ** 2) * scale + head

    return f


_GC = {"tanh": _tanh_layer, "cube": lambda p: _custom("cube")(p).sum(),
       "xsin": lambda p: _custom("xsin")(p).sum(), "nested": _nested(False),
       "nested_off": _nested(True)}


def _gc(fns, i):
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(True):
        f64 = lambda t: jax.tree.map(lambda a: jnp.asarray(np.asarray(a), jnp.float64), t)  # noqa: E731
        args = f64(list(i.args))
        if "_fns" in i.static:
            return {k: fns.grad_check(_GC[k], *args) for k in i.static["_fns"]}
        return fns.grad_check(_GC[i.static["_f"]], *args)


def _unchanged(fns, i):
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(True):
        p, x = (jax.tree.map(lambda a: np.asarray(a, np.float64).copy(), t) for t in i.args)
        if i.static["_as"] == "jax":
            p = jax.tree.map(jnp.asarray, p)
        before = jax.tree.map(lambda a: np.array(a, copy=True), p)
        fns.grad_check(_tanh_layer, p, x)
        return {"before": before, "after": jax.tree.map(lambda a: np.array(a, copy=True), p)}


def _layer_case(rng, **st):
    return case({"w": ck.normal(rng, (3, 4)), "b": ck.normal(rng, (4,))}, ck.normal(rng, (5, 3)),
                static=st, label="sum(tanh(x @ w + b)**2), cast to float64")


def _bound(bound, *, below=True, name=""):
    """grad_check's result is a Python float below (or at least) ``bound``."""

    def prop(c, v):
        if type(v) is not float:
            return f"expected a Python float, got {type(v).__name__}"
        if (v < bound) != below:
            return (f"grad_check{name} returned {v:.3g}; expected "
                    f"{'below' if below else 'at least'} {bound:g}")
        return None

    return prop


def _nested_prop(c, out):
    return (_bound(1e-6, name=" (exact gradient)")(c, out["nested"])
            or _bound(0.05, below=False, name=" (last leaf 10% off)")(c, out["nested_off"]))


_GC_HINT = ("ravel_pytree(params) gives one flat vector; n_i = (f(p + eps e_i) - f(p - eps e_i)) "
            "/ (2 eps) with new arrays; error = max |g - n| / max(1, |g|, |n|) in params' dtype")

_GRAD_CHECK = [
    ck.invariant("grad_check", lambda rng: [_layer_case(rng, _f="tanh")], _bound(1e-6),
                 call=_gc, id="small_on_correct", batched=False,
                 title="below 1e-6 on a correct gradient (float64)", hint=_GC_HINT + "; central "
                 "differences in float64: one-sided ones or float32 give 1e-4 .. 1e-3"),
    ck.oracle("grad_check", lambda rng: [case(np.linspace(0.6, 1.5, 7).astype(np.float32),
                                              static={"_f": "cube"}, label="x**3, VJP 10% off")],
              lambda c: 1 / 11, call=_gc, rtol=1e-3, id="flags_10pct_vjp", batched=False,
              title="1/11 for a custom_vjp 10% off", hint="relative error: |g - n| / max(1, "
              "|g|, |n|) = 0.3 x^2 / 3.3 x^2 = 1/11 here"),
    ck.invariant("grad_check", lambda rng: [case(np.array([0.0, 0.0, 0.0, 1.0], np.float32),
                                                 static={"_f": "xsin"},
                                                 label="x sin x, VJP drops x cos x")],
                 _bound(0.3, below=False), call=_gc, id="flags_dropped_term", batched=False,
                 title="at least 0.3 when a VJP drops a term",
                 hint="take the largest error over the entries, not the mean"),
    ck.invariant("grad_check", lambda rng: [_layer_case(rng, _as=a) for a in ("numpy", "jax")],
                 props.equal_parts("before", "after", what="params after grad_check",
                                   exact=True),
                 call=_unchanged, id="params_unchanged", batched=False,
                 title="params bitwise unchanged (NumPy and jax)",
                 hint="never write into params (np.asarray of a NumPy array is no copy); build "
                 "p + eps e_i as a new array"),
    ck.invariant("grad_check", lambda rng: [case(
        {"a": {"w": ck.normal(rng, (3, 4))},
         "b": (np.array(0.7, np.float32), ck.uniform(rng, (2,), 0.6, 1.5))},
        ck.normal(rng, (5, 3)), static={"_fns": ("nested", "nested_off")},
        label='{"a": {"w": (3, 4)}, "b": (scalar, (2,))}')], _nested_prop, call=_gc,
        id="nested_pytree", batched=False, title="covers every leaf of a nested pytree",
        hint="check every leaf: jax.flatten_util.ravel_pytree or jax.tree.leaves"),
    ck.forbidden("grad_check"),
]

# ---- find_nonfinite ---------------------------------------------------------------------


def _fn(name):
    import jax
    import jax.numpy as jnp

    return {
        "sum(log(x))": lambda x: jnp.sum(jnp.log(x)),
        "jit(sum(log(x)))": jax.jit(lambda x: jnp.sum(jnp.log(x))),
        "1.0 / x": lambda x: 1.0 / x,
        "x // 0": lambda x: x // 0,
        "where(x > 0, log(x), 0)": lambda x: jnp.where(x > 0, jnp.log(x), 0.0),
        "jit(jit(sqrt)(x - 2) + 1)": jax.jit(lambda x: jax.jit(jnp.sqrt)(x - 2.0) + 1.0),
        "exp": jnp.exp,
        "{tanh(x), x + 1}": lambda x: {"a": jnp.tanh(x), "b": x + 1},
    }[name]


def _nf(fns, i):
    return fns.find_nonfinite(_fn(i.static["_fn"]), *i.args)


def _nf_cases(*pairs):
    return lambda rng: [case(x, static={"_fn": f}, label=f) for f, x in pairs]


def _nf_check(id, title, pairs, expected, hint):
    return ck.oracle("find_nonfinite", _nf_cases(*pairs), lambda c: expected, call=_nf, id=id,
                     title=title, batched=False, hint=hint)


_NEG = np.array([1.0, -2.0], np.float32)
_NF_HINT = ("err, out = checkify.checkify(fn, errors=checkify.float_checks)(*args); return "
            "err.get() unchanged when it is not None")
_FIND_NONFINITE = [
    _nf_check("log_of_negative", "names log of a negative number",
              [("sum(log(x))", _NEG), ("jit(sum(log(x)))", _NEG)],
              "nan generated by primitive: log.", _NF_HINT),
    _nf_check("division_by_zero", "reports division by zero",
              [("1.0 / x", np.array(0.0, np.float32)), ("x // 0", np.array(7, np.int32))],
              "division by zero",
              "nan_checks alone misses 1/0 (inf, not NaN): errors=checkify.float_checks"),
    _nf_check("intermediate_nan", "finds a NaN behind where()",
              [("where(x > 0, log(x), 0)", np.array([-1.0, 2.0], np.float32))],
              "nan generated by primitive: log.",
              "the output is finite here: only checkify sees the NaN in the intermediate"),
    _nf_check("nested_jit_sqrt", "names sqrt inside a nested jit",
              [("jit(jit(sqrt)(x - 2) + 1)", np.array(1.0, np.float32))],
              "nan generated by primitive: sqrt.",
              "checkify instruments nested jit too; scanning top-level equations does not"),
    _nf_check("overflow_output", 'overflow gives "non-finite output"',
              [("exp", np.array(100.0, np.float32))], "non-finite output",
              "checkify does not look for inf: check jnp.isfinite on every output leaf after"),
    _nf_check("clean_is_none", "None for a clean function",
              [("{tanh(x), x + 1}", np.ones(3, np.float32))], None,
              "return None when checkify and the outputs are both clean"),
    ck.forbidden("find_nonfinite"),
]

# ---- jit_logger --------------------------------------------------------------------------


def _step(s, b):
    import jax.numpy as jnp

    return s - 0.1 * (s - b), {"loss": jnp.sum((s - b) ** 2), "mean": jnp.mean(s)}


def _plain(log):
    """The log as it can travel: floats stay, anything else becomes its type's name."""
    if not isinstance(log, list):
        return f"<{type(log).__name__}>"
    return [{str(k): v if type(v) is float else f"<{type(v).__name__}>" for k, v in e.items()}
            if isinstance(e, dict) else f"<{type(e).__name__}>" for e in log]


def _scan_log(fns, i):
    import jax

    logged, log = fns.jit_logger(_step)
    _, metrics = jax.jit(lambda s, bs: jax.lax.scan(logged, s, bs))(*i.args)
    jax.effects_barrier()
    return {"log": _plain(log), "metrics": metrics}


def _call_log(fns, i):
    import jax

    logged, log = fns.jit_logger(_step)
    step, s, metrics = jax.jit(logged), i.args[0], []
    for b in i.args[1]:
        s, m = step(s, b)
        metrics.append(m)
    jax.effects_barrier()
    return {"log": _plain(log), "metrics": jax.tree.map(lambda *v: jax.numpy.stack(v), *metrics)}


def _log_matches(c, out):
    log, m = out["log"], out["metrics"]
    n = len(m["loss"])
    if not isinstance(log, list) or len(log) != n:
        got = f"{len(log)} entries" if isinstance(log, list) else log
        return (f"expected {n} log entries (one per execution), got {got}: an append in the "
                "Python body runs once per trace; jax.debug.callback runs every time")
    for t, e in enumerate(log):
        if not isinstance(e, dict) or set(e) != {"loss", "mean"}:
            return f"entry {t} is {e!r}; expected a dict with keys 'loss' and 'mean'"
        for k, v in e.items():
            if type(v) is not float:
                return f"entry {t}[{k!r}] is {v}; expected a Python float (float(value))"
            if v != float(m[k][t]):
                return f"entry {t}[{k!r}] is {v}, but step {t} returned {float(m[k][t])}"
    return None


def _bitwise(fns, i):
    import jax

    logged, _ = fns.jit_logger(_step)
    out = {"logged": jax.jit(logged)(*i.args), "plain": jax.jit(_step)(*i.args)}
    jax.effects_barrier()
    return out


_LOG_HINT = ("jax.debug.callback(record, metrics, ordered=True) where record appends "
             "{k: float(v)}; return step_fn's outputs untouched")
_JIT_LOGGER = [
    ck.invariant("jit_logger", lambda rng: [case(ck.normal(rng, (3,)), ck.normal(rng, (5, 3)),
                                                 label="jit of a 5-step lax.scan")],
                 _log_matches, call=_scan_log, id="scan_logs_each_step", batched=False,
                 title="a jitted 5-step scan logs 5 entries in order", hint=_LOG_HINT),
    ck.invariant("jit_logger", lambda rng: [case(ck.normal(rng, (3,)), ck.normal(rng, (3, 3)),
                                                 label="3 calls of jax.jit(logged_fn)")],
                 _log_matches, call=_call_log, id="logs_per_call", batched=False,
                 title="3 jitted calls log 3 entries", hint=_LOG_HINT),
    ck.invariant("jit_logger", lambda rng: [case(ck.normal(rng, (3,)), ck.normal(rng, (3,)))],
                 props.equal_parts("plain", "logged", what="jit(logged_fn) against "
                                   "jit(step_fn)", exact=True),
                 call=_bitwise, id="outputs_bitwise", batched=False,
                 title="outputs bitwise equal to step_fn's",
                 hint="return exactly what step_fn returned; log copies, never change them"),
    ck.forbidden("jit_logger"),
]

# ---- overfit_one_batch -------------------------------------------------------------------


def _loss(fns):
    import optax

    def loss_fn(p, batch):
        logits = fns.mlp_apply(p, batch[0], key=None, rate=0.0, deterministic=True)
        return optax.softmax_cross_entropy_with_integer_labels(logits, batch[1]).mean()

    return loss_fn


def _overfit_vs_loop(fns, i):
    import jax
    import optax

    loss_fn, tx = _loss(fns), optax.adam(3e-3)
    p0, batch = fns.init_mlp(i.args[0], (64, 16, 10)), tuple(i.args[1:])
    params, losses = fns.overfit_one_batch(loss_fn, p0, batch, tx=tx, steps=6)

    @jax.jit
    def step(p, s):
        loss, g = jax.value_and_grad(loss_fn)(p, batch)
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s, loss

    p, s, ref = p0, tx.init(p0), []
    for _ in range(6):
        p, s, loss = step(p, s)
        ref.append(loss)
    return {"loop": {"losses": jax.numpy.stack(ref), "params": p},
            "got": {"losses": losses, "params": params},
            "first": losses[0], "initial": loss_fn(p0, batch)}


def _overfit_digits(fns, i):
    import jax.numpy as jnp
    import optax

    _, losses = fns.overfit_one_batch(_loss(fns), fns.init_mlp(i.args[0]), tuple(i.args[1:]),
                                      tx=optax.adam(1e-2), steps=200)
    return {"-log10(final loss)": -jnp.log10(losses[-1])}


def _overfit_traces(fns, i):
    import optax

    count, loss_fn = [0], _loss(fns)

    def counted(p, batch):
        count[0] += 1
        return loss_fn(p, batch)

    fns.overfit_one_batch(counted, fns.init_mlp(i.args[0]), tuple(i.args[1:]),
                          tx=optax.adam(1e-2), steps=50)
    return {"traces": count[0]}


def _at_most_two(c, out):
    n = out["traces"]
    return None if n <= 2 else (f"loss_fn was traced {n} times for one call with 50 steps "
                                "(at most 2 expected): loop with a jitted lax.scan")


def _digits_case(seed, n, label):
    return lambda rng: [case(ck.Key(seed), *_digits(n), label=label)]


_OVERFIT = [
    ck.invariant("overfit_one_batch", _digits_case(1, 8, "64-16-10 MLP, 8 digits, adam(3e-3), "
                                                   "6 steps"),
                 props.equal_parts("loop", "got", what="against a jitted optax step loop",
                                   rtol=1e-5, atol=1e-6),
                 call=_overfit_vs_loop, id="matches_optax_loop", batched=False,
                 title="equals an optax step loop",
                 hint="carry (params, opt_state) from tx.init(params) through the scan; one "
                 "value_and_grad, tx.update and optax.apply_updates per step"),
    ck.invariant("overfit_one_batch", _digits_case(1, 8, "64-16-10 MLP, 8 digits"),
                 props.equal_parts("initial", "first", what="losses[0] against loss_fn(params, "
                                   "batch)", rtol=1e-6),
                 call=_overfit_vs_loop, id="first_loss_is_initial", batched=False,
                 title="losses[0] is the loss before any update",
                 hint="record the loss from value_and_grad, before the update"),
    ck.training("overfit_one_batch", _digits_case(0, 16, "64-64-10 MLP, 16 digits, adam(1e-2), "
                                                  "200 steps"),
                _overfit_digits, metric="-log10(final loss)", threshold=2.0, timeout=30.0,
                id="digits_overfits",
                title="drives the loss on 16 digits below 1e-2",
                hint="descend: optax.apply_updates(params, updates) adds the updates"),
    ck.invariant("overfit_one_batch", _digits_case(0, 16, "64-64-10 MLP, 16 digits"),
                 _at_most_two, call=_overfit_traces, id="traces_loss_at_most_twice",
                 batched=False, title="loss_fn traced at most twice",
                 hint="jax.jit a function that runs lax.scan; a Python loop traces every step"),
]

# ---- the fixed loop ----------------------------------------------------------------------


def _train(fns, i):
    import functools as ft

    import jax
    import optax

    tx = optax.adam(1e-2)
    p0 = fns.init_mlp(i.args[0], (64, 32, 10))
    xs, ys = i.args[2].reshape(6, 8, 64), i.args[3].reshape(6, 8)
    return jax.jit(ft.partial(fns.train, tx=tx, rate=0.3))(i.args[1], p0, (xs, ys))


def _one_step(scale, rate, sizes, tx="adam"):
    def call(fns, i):
        import jax
        import jax.flatten_util
        import optax

        t = optax.adam(1e-2) if tx == "adam" else optax.sgd(1e-3)
        p0 = jax.tree.map(lambda a: a * scale, fns.init_mlp(i.args[0], sizes))
        batch = tuple(i.args[2:])
        out = jax.jit(lambda k, p, s, b: fns.train_step(k, p, s, b, tx=t, rate=rate))(
            i.args[1], p0, t.init(p0), batch)
        if scale != 1.0:
            return jax.numpy.concatenate([out[2][None],
                                          jax.flatten_util.ravel_pytree(out[0])[0]])
        logits = fns.mlp_apply(p0, batch[0], key=None, rate=0.0, deterministic=True)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch[1]).mean()
        return {"loss": out[2], "batch_mean": ce} if rate == 0.0 else out

    return call


def _evaluate(fns, i):
    import jax
    import jax.numpy as jnp

    p = fns.init_mlp(i.args[0], (64, 32, 10))
    x = i.args[1]
    y = jnp.argmax(fns.mlp_apply(p, x, key=None, rate=0.0, deterministic=True), axis=-1)
    return jnp.stack([fns.evaluate(p, (x, y)), fns.evaluate(p, (x, y)),
                      jax.jit(fns.evaluate)(p, (x, y))])


def _step_case(seed, n, label):
    return lambda rng: [case(ck.Key(seed), ck.Key(5), *_digits(n), label=label)]


_LOOP = [
    ck.equivalence("train", _step_case(2, 48, "64-32-10 MLP, 6 batches of 8 digits, adam(1e-2), "
                                        "rate 0.3"),
                   call=_train, rtol=1e-6, atol=1e-6, batched=False, id="matches_reference",
                   uses=("train_step",), title="trajectory equals the reference",
                   hint="step i uses jax.random.fold_in(key, i): scan over (jnp.arange(S), "
                   "batches); never reuse key itself"),
    ck.equivalence("train_step", _step_case(2, 8, "64-32-10 MLP, 8 digits, adam(1e-2), rate 0.3"),
                   call=_one_step(1.0, 0.3, (64, 32, 10)), rtol=1e-6, atol=1e-6, batched=False,
                   id="matches_reference", title="one step equals the "
                   "reference", hint="dropout on with the key as given (no split); loss = "
                   "mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))"),
    ck.invariant("train_step", _step_case(3, 6, "64-16-10 MLP, B = 6 digits, rate 0"),
                 props.equal_parts("batch_mean", "loss", what="the loss against the batch mean "
                                   "of the cross-entropy", rtol=1e-6),
                 call=_one_step(1.0, 0.0, (64, 16, 10), "sgd"), id="batch_mean", batched=False,
                 title="the loss is the batch mean",
                 hint="sum over classes inside the cross-entropy, then jnp.mean over the batch"),
    ck.invariant("train_step", _step_case(2, 8, "params x 60 (logits ~1e4), rate 0.2"),
                 props.finite(), call=_one_step(60.0, 0.2, (64, 32, 10)),
                 id="stable_large_logits", batched=False, kind="stability",
                 title="finite loss and params at logits ~1e4",
                 hint="never log(softmax(z)): use log_softmax or optax's cross-entropy"),
    ck.oracle("evaluate", lambda rng: [case(ck.Key(6), _digits(64)[0],
                                            label="labels = the model's own predictions")],
              lambda c: np.ones(3, np.float32), call=_evaluate, exact=True,
              id="deterministic", batched=False,
              title="dropout off: 1.0 on its own predictions, every call and under jit",
              hint="mlp_apply(params, x, key=None, rate=0.0, deterministic=True)"),
]

CHECKS = (*_GRAD_CHECK, *_FIND_NONFINITE, *_JIT_LOGGER, *_OVERFIT, *_LOOP)

EXERCISE = Exercise(
    id="q23",
    title="Debugging",
    files={"debugging.py": FileSpec(
        helpers=("dlcore.nn.dropout:dropout", "dlcore.debug.mlp:init_mlp",
                 "dlcore.debug.mlp:mlp_apply", "dlcore.debug.buggy_loop:buggy_train_step",
                 "dlcore.debug.buggy_loop:buggy_train", "dlcore.debug.buggy_loop:buggy_evaluate"),
        tasks=("dlcore.debug.gradcheck:grad_check", "dlcore.debug.nonfinite:find_nonfinite",
               "dlcore.debug.jit_log:jit_logger", "dlcore.debug.overfit:overfit_one_batch",
               "dlcore.debug.train_loop:train_step", "dlcore.debug.train_loop:train",
               "dlcore.debug.train_loop:evaluate"),
        summary="gradient checks, checkify, logging from jit, overfitting one batch, and a "
        "training loop to fix")},
    checks=CHECKS,
    forbidden={"grad_check": ("jax.test_util", "chex.assert_numerical_grads"),
               "find_nonfinite": ("jax.config",),
               "jit_logger": ("print", "jax.debug.print", "jax.pure_callback")},
)
