"""q06 Optimizers: SGD, RMSprop, Adagrad and Adam as optax transformations, and minibatches.

Every optimizer check builds the learner's optimizer inside the probe from statics
(``learning_rate`` and the hyperparameters are keyword arguments of the task) and runs it
on nested params ``{"a": (x, y), "b": {"c": z}}``. Trajectories are one ``lax.scan`` per
case, so a check compiles once; the judge reports the first step at which the learner's
updates or params leave the reference's.
"""

from __future__ import annotations

import numpy as np

from grader import checks as ck
from grader.judge import compare_arrays, compare_trees, small
from grader.spec import Case, Check, Exercise, Failure, FileSpec

OPTIMIZERS = ("sgd", "rmsprop", "adagrad", "adam")
STEPS = 150
PARAMS = "params {'a': (x, y), 'b': {'c': z}}"

# ---- problems (probe side: jax imported inside) ------------------------------------------


def _params(c):
    return {"a": (c.x, c.y), "b": {"c": c.z}}


def _quadratic(p, scale=1.0):
    """An ill-conditioned bowl (curvatures 0.5 .. 6) with its minimum at 0.7 everywhere."""
    import jax
    import jax.numpy as jnp

    total = 0.0
    for i, leaf in enumerate(jax.tree.leaves(p)):
        curv = (1.0 + jnp.arange(leaf.size, dtype=leaf.dtype).reshape(leaf.shape)) * (0.5 + i)
        total = total + jnp.sum(curv * (leaf - 0.7) ** 2)
    return scale * total


def _rosenbrock(p):
    """Rosenbrock's valley across branches: x from ['a'][0] and ['b']['c'], y from ['a'][1]."""
    import jax.numpy as jnp

    x = jnp.concatenate([p["a"][0], p["b"]["c"][None]])
    y = p["a"][1].ravel()
    return jnp.sum((1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2)


_LOSSES = {
    "quadratic": _quadratic,
    "rosenbrock": _rosenbrock,
    # gradients 1e-7 .. 1e-5, below sqrt(eps): where eps sits (inside or outside the root,
    # or missing) changes every update by orders of magnitude
    "tiny": lambda p: _quadratic(p, 1e-6),
    # gradients of norm ~100: optax.clip_by_global_norm(1.0) is active at every step
    "steep": lambda p: _quadratic(p, 50.0),
}
_LOSS_TEXT = {
    "quadratic": "quadratic",
    "rosenbrock": "Rosenbrock",
    "tiny": "quadratic * 1e-6 (gradients ~1e-6)",
    "steep": "quadratic * 50",
}


def _opt_case(rng, loss, steps=STEPS, dtype="float32", low=-1.0, high=1.0, **hyper):
    arrays = {
        "x": ck.uniform(rng, (3,), low, high),
        "y": ck.uniform(rng, (2, 2), low, high),
        "z": np.asarray(ck.uniform(rng, (), low, high)),
    }
    if dtype == "bfloat16":
        arrays = {k: np.asarray(ck.bf16(v)) for k, v in arrays.items()}
    label = f"{_LOSS_TEXT[loss]}, {steps} steps, {PARAMS}"
    return Case(arrays, {**hyper, "_loss": loss, "_steps": steps}, label=label)


def _builder(task, chain=False):
    def make(fns, c, **override):
        import optax

        tx = getattr(fns, task)(**{**ck.kwargs_of(c), **override})
        if chain:
            tx = optax.chain(optax.clip_by_global_norm(1.0), tx)
        return tx

    return make


def _trajectory(task, chain=False):
    """Params and updates after every step of ``steps`` steps, in one lax.scan."""
    make = _builder(task, chain)

    def probe(fns, c):
        import jax
        import optax

        tx = make(fns, c)
        loss = _LOSSES[c.s["_loss"]]

        def step(carry, _):
            p, state = carry
            g = jax.grad(loss)(p)
            # a chain passes params on, as optax's training loops do; alone, update(g, s)
            updates, state = tx.update(g, state, p) if chain else tx.update(g, state)
            p = optax.apply_updates(p, updates)
            return (p, state), {"updates": updates, "params": p}

        p0 = _params(c)
        _, path = jax.lax.scan(step, (p0, tx.init(p0)), length=c.s["_steps"])
        return path

    return probe


def _leaf_name(path: str) -> str:
    """``"['updates']['a'][0]"`` -> ``"updates['a'][0]"``."""
    head, _, rest = path[2:].partition("']")
    return head + rest


def _trajectory_judge(tol_scale=1.0):
    """Structure, dtype and shape first; then the first step where the paths part."""

    def judge(case, got, ref):
        msg = compare_trees(got, ref, tol_scale=tol_scale)
        if msg is None:
            return None
        where = f"on {case.describe()}"
        if set(got) != set(ref):
            return Failure(f"{where}: {msg}")
        # updates before params: a wrong update shows at the step it is made
        order = sorted(ref, key=lambda p: (not p.startswith("['updates']"), p))
        for path in order:
            (g, _), (r, _) = got[path], ref[path]
            if g.shape != r.shape or g.dtype != r.dtype or len(r.shape) == 0:
                return Failure(f"{where}: {msg}")
        for t in range(ref[order[0]][0].shape[0]):
            for path in order:
                g, r = got[path][0][t], ref[path][0][t]
                bad = compare_arrays(_leaf_name(path), g, r, tol_scale=tol_scale)
                if bad:
                    n = ref[path][0].shape[0]
                    return Failure(
                        f"{where}: the trajectory leaves the reference at step {t + 1} of {n}: "
                        f"{bad}; expected {small(r)}, got {small(g)}"
                    )
        return Failure(f"{where}: {msg}")

    return judge


def _check(name, task, kind, probe, cases, judge, description, hint="", **kw):
    return Check(
        name=name,
        task=task,
        kind=kind,
        probe=probe,
        cases=cases,
        judge=judge,
        description=description,
        hint=hint,
        **kw,
    )


def _trajectory_check(task, name, builders, description, hint, chain=False, tol_scale=1.0):
    return _check(
        name,
        task,
        "equivalence",
        _trajectory(task, chain),
        lambda rng: [b(rng) for b in builders],
        _trajectory_judge(tol_scale),
        description,
        hint,
    )


# ---- state, jit, retracing ---------------------------------------------------------------


def _state_probe(task):
    make = _builder(task)

    def probe(fns, c):
        import jax

        tx = make(fns, c)
        p = _params(c)
        g = jax.grad(_quadratic)(p)
        s0 = tx.init(p)
        update = jax.jit(tx.update)
        _, s1 = update(g, s0)
        _, s2 = update(g, s1)  # the jitted update's state goes back in
        return {"init": s0, "next": s1, "later": s2}

    return probe


def _split(got: dict, name: str) -> dict:
    prefix = f"['{name}']"
    return {k[len(prefix) :]: v for k, v in got.items() if k.startswith(prefix)}


def _state_judge(case, got, ref):
    init, nxt, later = _split(got, "init"), _split(got, "next"), _split(got, "later")
    where = f"on {case.describe()}"
    hint = (
        "keep every entry of the state a jax array inside NamedTuples/tuples/dicts: "
        "moments from jax.tree.map(jnp.zeros_like, params), a step count as "
        "jnp.zeros([], jnp.int32); init and update must return the same structure"
    )
    if not init:
        return Failure(
            f"{where}: init(params) returned a state with no arrays in it; the moments must "
            "live in the state that init returns and update passes on, not in Python "
            "variables",
            hint=hint,
        )
    for path, (arr, kind) in sorted(init.items()):
        if kind == "python":
            return Failure(
                f"{where}: the state from init holds a Python {type(arr.item()).__name__} at "
                f"state{path} ({arr.item()!r}); it must be a jax array",
                hint=hint,
            )
    for label, other in (("one", nxt), ("two", later)):
        if set(other) != set(init):
            missing = sorted(set(init) - set(other))
            extra = sorted(set(other) - set(init))
            detail = "; ".join(
                s
                for s in (
                    "missing " + ", ".join(f"state{p}" for p in missing) if missing else "",
                    "new " + ", ".join(f"state{p}" for p in extra) if extra else "",
                )
                if s
            )
            return Failure(
                f"{where}: after {label} jitted update the state's structure differs from "
                f"init's ({detail})",
                hint=hint,
            )
        for path in sorted(init):
            (a, _), (b, _) = init[path], other[path]
            if a.shape != b.shape or a.dtype != b.dtype:
                return Failure(
                    f"{where}: state{path} is {a.dtype}{list(a.shape)} after init but "
                    f"{b.dtype}{list(b.shape)} after {label} jitted update",
                    hint=hint,
                )
    return None


def _steps_probe(task, steps=3):
    make = _builder(task)

    def probe(fns, c):
        import jax
        import optax

        tx = make(fns, c)
        loss = _LOSSES[c.s["_loss"]]

        def run(init, update):
            p = _params(c)
            state = init(p)
            out = []
            for _ in range(steps):
                updates, state = update(jax.grad(loss)(p), state)
                p = optax.apply_updates(p, updates)
                out.append(updates)
            return out

        return {"eager": run(tx.init, tx.update), "jit": run(jax.jit(tx.init), jax.jit(tx.update))}

    return probe


def _jit_judge(case, got, ref):
    eager, jit = _split(got, "eager"), _split(got, "jit")
    steps = sorted({int(k[1 : k.index("]")]) for k in eager})
    for t in steps:
        e = {k[k.index("]") + 1 :]: v for k, v in eager.items() if k.startswith(f"[{t}]")}
        j = {k[k.index("]") + 1 :]: v for k, v in jit.items() if k.startswith(f"[{t}]")}
        msg = compare_trees(j, e, tol_scale=10)
        if msg:
            return Failure(
                f"on {case.describe()}: at step {t + 1}, the updates of jax.jit(update) "
                f"(state fed back in) differ from the eager call's: {msg}"
            )
    return None


def _retrace_probe(task, calls=4):
    make = _builder(task)

    def probe(fns, c):
        import jax
        import jax.numpy as jnp
        import optax

        tx = make(fns, c)
        traces = [0]

        def step(p, state):
            traces[0] += 1  # runs once per trace, never when the compiled step is reused
            updates, state = tx.update(jax.grad(_quadratic)(p), state)
            return optax.apply_updates(p, updates), state

        step = jax.jit(step)
        p = _params(c)
        state = tx.init(p)
        for _ in range(calls):
            p, state = step(p, state)
        return {"traces": jnp.asarray(traces[0])}

    return probe


# ---- gradients through the optimizer -----------------------------------------------------


def _hypergrad_probe(task, steps=20):
    def probe(fns, c):
        import jax
        import optax

        def final_loss(p0, lr):
            tx = getattr(fns, task)(lr, **ck.kwargs_of(c))

            def step(carry, _):
                p, state = carry
                updates, state = tx.update(jax.grad(_quadratic)(p), state)
                return (optax.apply_updates(p, updates), state), None

            (p, _), _ = jax.lax.scan(step, (p0, tx.init(p0)), length=steps)
            return _quadratic(p)

        d_params, d_lr = jax.grad(final_loss, argnums=(0, 1))(_params(c), c["_lr"])
        return {"d_params": d_params, "d_learning_rate": d_lr}

    return probe


def _hypergrad_case(rng, lr, **hyper):
    base = _opt_case(rng, "quadratic", steps=20, **hyper)
    arrays = {**base.arrays, "_lr": np.asarray(lr, np.float32)}
    return Case(
        arrays,
        base.static,
        label=f"loss after 20 steps on the quadratic, learning_rate={lr} (traced), {PARAMS}",
    )


# ---- per-optimizer check sets ------------------------------------------------------------

_TRAJ_HINT = {
    "sgd": "the update is -learning_rate * g (add the updates to the params to descend)",
    "sgd_momentum": "v = g + momentum * v (no dampening, v starts at 0), update = "
    "-learning_rate * v",
    "sgd_nesterov": "compute v_new = g + momentum * v first, then update = -learning_rate * "
    "(g + momentum * v_new), and store v_new",
    "rmsprop": "nu = decay * nu + (1 - decay) * g**2 with nu starting at 0 (no bias correction), "
    "update = -learning_rate * g / sqrt(nu + eps); honour decay and eps",
    "adagrad": "G starts at initial_accumulator_value and adds g**2 before it is used: "
    "update = -learning_rate * g / sqrt(G + eps)",
    "adam": "m = b1*m + (1-b1)*g, v = b2*v + (1-b2)*g**2, count t from 1 at the first step, "
    "update = -lr * m_hat / (sqrt(v_hat) + eps) with m_hat = m / (1 - b1**t)",
}
_TINY_HINT = {
    "rmsprop": "eps goes inside the square root for RMSprop (optax's convention): "
    "g / sqrt(nu + eps), not g / (sqrt(nu) + eps)",
    "adagrad": "eps goes inside the square root for Adagrad (optax's convention): "
    "g / sqrt(G + eps), not g / (sqrt(G) + eps)",
    "adam": "eps goes outside the square root for Adam, after bias correction: "
    "m_hat / (sqrt(v_hat) + eps), not m_hat / sqrt(v_hat + eps)",
}

# task -> (the main trajectory cases, the hyperparameters used by the other checks)
_SETUPS = {
    "rmsprop": (
        lambda rng: [
            _opt_case(rng, "quadratic", learning_rate=0.01),
            _opt_case(rng, "rosenbrock", low=-1.2, high=1.2, learning_rate=0.01),
            _opt_case(rng, "quadratic", learning_rate=0.02, decay=0.99, eps=1e-6),
        ],
        {"learning_rate": 0.01},
    ),
    "adagrad": (
        lambda rng: [
            _opt_case(rng, "quadratic", learning_rate=0.1),
            _opt_case(rng, "rosenbrock", low=-1.2, high=1.2, learning_rate=0.05),
            _opt_case(
                rng, "quadratic", learning_rate=0.2, initial_accumulator_value=0.5, eps=1e-5
            ),
        ],
        {"learning_rate": 0.1},
    ),
    "adam": (
        lambda rng: [
            _opt_case(rng, "quadratic", learning_rate=0.05),
            _opt_case(rng, "rosenbrock", low=-1.2, high=1.2, learning_rate=0.01),
            _opt_case(rng, "quadratic", learning_rate=0.05, b1=0.8, b2=0.99, eps=1e-6),
        ],
        {"learning_rate": 0.05},
    ),
}
_TINY = {
    "rmsprop": lambda rng: [_opt_case(rng, "tiny", learning_rate=0.01)],
    # the accumulator starts at 0, so eps (1e-7) and not G_0 dominates the root
    "adagrad": lambda rng: [
        _opt_case(rng, "tiny", learning_rate=0.01, initial_accumulator_value=0.0)
    ],
    "adam": lambda rng: [
        _opt_case(rng, "tiny", learning_rate=0.01),
        _opt_case(rng, "tiny", learning_rate=0.01, eps=1e-7),
    ],
}


def _common_checks(task, hyper, label):
    """pytree state, jit, retracing, chain, bfloat16, hypergradient, forbidden."""
    lr = hyper["learning_rate"]
    rest = {k: v for k, v in hyper.items() if k != "learning_rate"}
    with_hyper = f" ({label})" if label else ""
    return [
        _check(
            f"{task}: state is a pytree of arrays",
            task,
            "invariant",
            _state_probe(task),
            lambda rng: [_opt_case(rng, "quadratic", **hyper)],
            _state_judge,
            f"init(params) returns jax arrays in containers; the state goes through "
            f"jax.jit(update) and back with the same structure, shapes and dtypes{with_hyper}",
            batched=False,
            reference=False,
        ),
        _check(
            f"{task}: update works under jit",
            task,
            "jit",
            _steps_probe(task),
            lambda rng: [_opt_case(rng, "quadratic", steps=3, **hyper)],
            _jit_judge,
            f"three steps with jax.jit(init) and jax.jit(update), the state fed back in, equal "
            f"the eager steps{with_hyper}",
            hint="keep the state in the values init/update return (no Python variables "
            "updated on the side) and avoid Python control flow or NumPy on array values",
            batched=False,
            reference=False,
        ),
        ck.no_retrace(
            task,
            lambda rng: [
                _opt_case(rng, "quadratic", steps=4, **hyper),
                _opt_case(rng, "quadratic", steps=4, dtype="bfloat16", **hyper),
            ],
            _retrace_probe(task),
            name=f"{task}: no retracing across steps",
            description="a jitted training step called four times with the state it returned "
            f"traces once (float32 and bfloat16 params){with_hyper}",
            hint="the state update returns must have exactly the structure, shapes and dtypes "
            "of the state it got: no Python numbers or None placeholders in init's state, no "
            "dtype changes (cast new moments back with .astype(old.dtype))",
        ),
        _trajectory_check(
            task,
            f"{task}: composes after optax.clip_by_global_norm",
            [lambda rng: _opt_case(rng, "steep", steps=100, **hyper)],
            f"optax.chain(optax.clip_by_global_norm(1.0), {task}(...)) follows optax's "
            f"trajectory for 100 steps, the clipping active at every step{with_hyper}",
            "update must accept update(updates, state, params=None) and transform the "
            "updates it is given (inside a chain they are already clipped)",
            chain=True,
        ),
        _trajectory_check(
            task,
            f"{task}: keeps bfloat16 params in bfloat16",
            [lambda rng: _opt_case(rng, "quadratic", steps=5, dtype="bfloat16", **hyper)],
            f"with bfloat16 params the updates are bfloat16 and equal the reference's for five "
            f"steps{with_hyper}",
            "create the state with the params' dtype (jnp.zeros_like(p), jnp.full_like(p, v)),"
            " not jnp.zeros(p.shape), and don't promote it with float32 arrays",
        ),
        _check(
            f"{task}: differentiable through 20 steps",
            task,
            "grad",
            _hypergrad_probe(task),
            lambda rng: [_hypergrad_case(rng, lr, **rest)],
            ck.match(20),
            "jax.grad of the loss after 20 steps w.r.t. the initial params and a traced "
            f"learning rate equals the reference{with_hyper}",
            hint="learning_rate may be a traced array (jax.grad, optax.inject_hyperparams): "
            "don't convert it with float() or test it with a Python if",
        ),
        ck.forbidden(task),
    ]


def _sgd_checks():
    m = {"momentum": 0.9}
    return [
        _trajectory_check(
            "sgd",
            "sgd: trajectory matches optax.sgd",
            [
                lambda rng: _opt_case(rng, "quadratic", learning_rate=0.05),
                lambda rng: _opt_case(rng, "rosenbrock", low=-1.2, high=1.2, learning_rate=5e-4),
            ],
            f"sgd(learning_rate) follows optax.sgd for {STEPS} steps on a quadratic and on "
            "Rosenbrock with nested params",
            _TRAJ_HINT["sgd"],
        ),
        _trajectory_check(
            "sgd",
            "sgd (momentum): trajectory matches optax.sgd",
            [
                lambda rng: _opt_case(rng, "quadratic", learning_rate=0.02, momentum=0.9),
                lambda rng: _opt_case(
                    rng, "rosenbrock", low=-1.2, high=1.2, learning_rate=2e-4, momentum=0.9
                ),
                lambda rng: _opt_case(rng, "quadratic", learning_rate=0.05, momentum=0.5),
            ],
            f"sgd(learning_rate, momentum) follows optax.sgd for {STEPS} steps",
            _TRAJ_HINT["sgd_momentum"],
        ),
        _trajectory_check(
            "sgd",
            "sgd (nesterov): trajectory matches optax.sgd",
            [
                lambda rng: _opt_case(
                    rng, "quadratic", learning_rate=0.02, momentum=0.9, nesterov=True
                ),
                lambda rng: _opt_case(
                    rng,
                    "rosenbrock",
                    low=-1.2,
                    high=1.2,
                    learning_rate=2e-4,
                    momentum=0.9,
                    nesterov=True,
                ),
            ],
            f"sgd(learning_rate, momentum, nesterov=True) follows optax.sgd for {STEPS} steps",
            _TRAJ_HINT["sgd_nesterov"],
        ),
        *_common_checks("sgd", {"learning_rate": 0.02, **m}, "momentum=0.9"),
    ]


def _adaptive_checks(task):
    cases, hyper = _SETUPS[task]
    ref = f"optax.{task}"
    checks = [
        _check(
            f"{task}: trajectory matches {ref}",
            task,
            "equivalence",
            _trajectory(task),
            cases,
            _trajectory_judge(),
            f"{task} follows {ref} for {STEPS} steps on a quadratic and on Rosenbrock with "
            "nested params, with default and custom hyperparameters",
            _TRAJ_HINT[task],
        ),
        _check(
            f"{task}: tiny gradients (eps placement)",
            task,
            "stability",
            _trajectory(task),
            _TINY[task],
            _trajectory_judge(),
            f"{task} follows {ref} when gradients are ~1e-6, where moving eps inside or "
            "outside the square root changes every update",
            _TINY_HINT[task],
        ),
    ]
    if task == "adam":
        checks.append(_adam_first_step())
    return checks + _common_checks(task, hyper, "")


# ---- Adam's first step -------------------------------------------------------------------


def _first_step_probe(fns, c):
    import jax.numpy as jnp

    tx = fns.adam(**ck.kwargs_of(c))
    updates, _ = tx.update(c.g, tx.init(jnp.zeros_like(c.g)))
    return updates


def _first_step_cases(rng):
    mags = np.array([1e-3, 3e-2, 0.5, 7.0, 300.0, 4e3], np.float32)
    signs = np.where(rng.random(mags.size) < 0.5, -1.0, 1.0).astype(np.float32)
    g = mags * signs
    return [
        Case({"g": g}, {"learning_rate": 0.1}, label="g of sizes 1e-3 .. 4e3"),
        Case(
            {"g": g[1:]},
            {"learning_rate": 0.02, "b1": 0.5, "b2": 0.9, "eps": 1e-6},
            label="g of sizes 3e-2 .. 4e3",
        ),
    ]


def _first_step_is_sign(case, out):
    u = out[""].astype(np.float64)
    g = case.arrays["g"].astype(np.float64)
    lr = case.static["learning_rate"]
    want = -lr * np.sign(g)
    err = np.abs(u - want)
    if u.shape == want.shape and np.all(err <= 2e-3 * lr):
        return None
    if u.shape != want.shape:
        return f"the update has shape {u.shape}, expected {want.shape}"
    i = int(np.argmax(err))
    return (
        f"the first update is {small(u.astype(np.float32))}, expected about -learning_rate * "
        f"sign(g) = {small(want.astype(np.float32))}; at g = {g[i]:.4g} it is {u[i]:.6g} "
        f"instead of {want[i]:.6g}"
    )


def _adam_first_step():
    return ck.invariant(
        "adam",
        _first_step_cases,
        _first_step_is_sign,
        probe=_first_step_probe,
        name="adam: first step is -lr * sign(g)",
        description="after bias correction the first update is about -learning_rate * "
        "sign(g) whatever the gradient's size",
        hint="increment the count before correcting, so the first step uses t = 1: "
        "m_hat = m / (1 - b1**t), v_hat = v / (1 - b2**t)",
    )


# ---- minibatches -------------------------------------------------------------------------

_BATCH_SHAPES = [(23, 5), (12, 4), (100, 7), (5, 5), (3, 8)]


def _batch_cases(rng):
    return [
        Case(
            {"key": ck.key_data(int(rng.integers(0, 2**31)))},
            {"num_examples": n, "batch_size": b},
        )
        for n, b in _BATCH_SHAPES
    ]


def _partition(case, out):
    n, b = case.static["num_examples"], case.static["batch_size"]
    got = out[""]
    if got.shape != (n // b, b):
        return f"expected shape ({n // b}, {b}) (num_examples // batch_size, batch_size), got {got.shape}"
    if got.dtype != np.int32:
        return f"expected dtype int32, got {got.dtype}"
    flat = got.ravel()
    if flat.size and (flat.min() < 0 or flat.max() >= n):
        bad = flat[(flat < 0) | (flat >= n)][0]
        return f"index {bad} is out of range 0..{n - 1}"
    values, counts = np.unique(flat, return_counts=True)
    if (counts > 1).any():
        return (
            f"index {values[counts > 1][0]} appears {counts.max()} times; an epoch uses each "
            "example at most once (a permutation, not sampling with replacement)"
        )
    if n >= 20 and np.array_equal(flat, np.arange(flat.size)):
        return "the indices are in order 0, 1, 2, ...: they must be shuffled"
    return None


def _minibatch_checks():
    return [
        ck.equivalence(
            "minibatches",
            _batch_cases,
            name="minibatches: the key's permutation cut into batches",
            description="equals jax.random.permutation(key, num_examples), remainder dropped, "
            "reshaped to (num_examples // batch_size, batch_size), for the same key",
            hint="perm = jax.random.permutation(key, num_examples) with the key you are given "
            "(not split first); keep perm[: num_batches * batch_size] in order and reshape it "
            "row by row",
        ),
        ck.invariant(
            "minibatches",
            lambda rng: _batch_cases(rng)
            + [
                Case(
                    {"key": ck.key_data(int(rng.integers(0, 2**31)))},
                    {"num_examples": 64, "batch_size": 16},
                )
            ],
            _partition,
            name="minibatches: batches partition a shuffled subset",
            description="shape (num_examples // batch_size, batch_size), int32, distinct "
            "indices in range, shuffled",
            hint="a permutation has no repeats; drop the remainder rather than padding",
        ),
        ck.prng_discipline(
            "minibatches",
            lambda rng: [
                Case(
                    {"key": ck.key_data(11), "_other_key": ck.key_data(12)},
                    {"num_examples": 30, "batch_size": 6},
                )
            ],
            hint="shuffle with the key argument; never a fixed key or NumPy's global RNG",
        ),
        ck.jit_matches_eager(
            "minibatches",
            lambda rng: [Case({"key": ck.key_data(5)}, {"num_examples": 20, "batch_size": 6})],
            static_argnames=("num_examples", "batch_size"),
            hint="use jax.random and jax.numpy only; num_examples and batch_size are static, so "
            "shapes may depend on them but not on array values",
        ),
    ]


CHECKS = (
    *_sgd_checks(),
    *_adaptive_checks("rmsprop"),
    *_adaptive_checks("adagrad"),
    *_adaptive_checks("adam"),
    *_minibatch_checks(),
)

# The optimizers and the optax pieces they are built from; optax.chain,
# optax.GradientTransformation, optax.EmptyState, optax.apply_updates,
# optax.safe_int32_increment and optax.tree_utils stay allowed.
_FORBIDDEN = (
    "optax.sgd",
    "optax.noisy_sgd",
    "optax.adam",
    "optax.adamw",
    "optax.rmsprop",
    "optax.adagrad",
    "optax.scale_by_*",
    "optax.trace",
    "optax.ema",
    "optax.scale",
    "optax.inject_hyperparams",
    "optax.contrib",
    "optax.transforms",
    "optax._src",
    "jax.example_libraries",
)

EXERCISE = Exercise(
    id="q06",
    title="Optimizers",
    files={
        "optimizers.py": FileSpec(
            helpers=(
                "dlcore.optim.base:ScaleByScheduleState",
                "dlcore.optim.base:scale_by_learning_rate",
                "dlcore.optim.sgd:TraceState",
                "dlcore.optim.rmsprop:ScaleByRmsState",
                "dlcore.optim.adagrad:ScaleByRssState",
                "dlcore.optim.adam:ScaleByAdamState",
            ),
            parts=(
                "dlcore.optim.sgd:trace",
                "dlcore.optim.rmsprop:scale_by_rms",
                "dlcore.optim.adagrad:scale_by_rss",
                "dlcore.optim.adam:scale_by_adam",
            ),
            tasks=(
                "dlcore.optim.sgd:sgd",
                "dlcore.optim.rmsprop:rmsprop",
                "dlcore.optim.adagrad:adagrad",
                "dlcore.optim.adam:adam",
                "dlcore.data.batching:minibatches",
            ),
            summary="SGD, RMSprop, Adagrad and Adam as optax transformations, and minibatches",
        )
    },
    checks=CHECKS,
    forbidden={t: _FORBIDDEN for t in OPTIMIZERS},
)
