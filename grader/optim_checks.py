"""Checks for optimizers written as ``optax.GradientTransformation`` factories.

A task here is a factory such as ``adam(learning_rate, b1=0.9, ...)``. The harness builds it
inside the probe from the case's statics, runs it on an objective and compares what comes
out with the reference (dlcore). One case is one run::

    oc.run("quadratic", learning_rate=0.05, b1=0.8)      # a builder: rng -> Case

- ``args[0]`` are the params, nested on purpose: ``{"a": (x (3,), y (2, 2)), "b": {"c": z ()}}``
  (``y`` drawn from ``y_range`` when given; ``dtype="bfloat16"`` for low precision);
- ``static["objective"]`` names the loss in :data:`OBJECTIVES` (pass ``objectives=`` to a
  kind for others), ``static["steps"]`` the number of steps; every other static is a
  keyword argument of the factory (:data:`HARNESS` lists the reserved names).

One line per optimizer gives its standard set of checks::

    *oc.optimizer("adam", runs=[oc.run("quadratic", learning_rate=0.05), ...],
                  tiny=[oc.run("tiny", learning_rate=0.01)], hyper={"learning_rate": 0.05},
                  chain={"learning_rate": 0.01}, hint="m = b1*m + (1-b1)*g, ...")

Ids: ``<task>/trajectory``, ``tiny_gradients``, ``state_pytree``, ``jit``, ``retrace``,
``chain``, ``bfloat16``, ``hypergradient``, ``forbidden`` (and ``first_step`` from
:func:`first_step_is_sign`). Each builder is also usable alone. Probes import only jax and
optax (inside); everything of the grader's is imported here, at module level.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from grader import checks as ck
from grader.judge import compare_arrays, compare_trees, small
from grader.spec import Failure, case
from grader.wire import leaves

HARNESS = ("objective", "steps")  # statics the harness reads; the rest go to the factory
STEPS = 150
PARAMS = "params {'a': (x, y), 'b': {'c': z}}"


# ---- objectives (probe side) ------------------------------------------------------------


def quadratic(p, scale=1.0):
    """An ill-conditioned bowl (curvatures 0.5 .. 6) with its minimum at 0.7 everywhere."""
    import jax
    import jax.numpy as jnp

    total = 0.0
    for n, leaf in enumerate(jax.tree.leaves(p)):
        curv = (1.0 + jnp.arange(leaf.size, dtype=leaf.dtype).reshape(leaf.shape)) * (0.5 + n)
        total = total + jnp.sum(curv * (leaf - 0.7) ** 2)
    return scale * total


def rosenbrock(p):
    """Rosenbrock's valley across branches: x from ['a'][0] and ['b']['c'], y from ['a'][1]."""
    import jax.numpy as jnp

    x = jnp.concatenate([p["a"][0], p["b"]["c"][None]])
    y = p["a"][1].ravel()
    return jnp.sum((1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2)


OBJECTIVES = {
    "quadratic": quadratic,
    "rosenbrock": rosenbrock,
    # gradients 1e-7 .. 1e-5, below sqrt(eps): where eps sits (inside or outside the root,
    # or missing) changes every update by orders of magnitude
    "tiny": lambda p: quadratic(p, 1e-6),
    # gradients of norm ~100: clip_by_global_norm(1.0) is active at every step
    "steep": lambda p: quadratic(p, 50.0),
}
_TEXT = {"quadratic": "quadratic", "rosenbrock": "Rosenbrock",
         "tiny": "quadratic * 1e-6 (gradients ~1e-6)", "steep": "quadratic * 50"}


def run(objective, steps=STEPS, *, dtype="float32", low=-1.0, high=1.0, y_range=None, **hyper):
    """A case builder: params from uniform(low, high), ``steps`` steps on ``objective``."""

    def build(rng):
        x = ck.uniform(rng, (3,), low, high)
        y = ck.uniform(rng, (2, 2), *(y_range or (low, high)))
        z = np.asarray(ck.uniform(rng, (), low, high))
        if dtype == "bfloat16":
            x, y, z = (np.asarray(ck.bf16(v)) for v in (x, y, z))
        return case({"a": (x, y), "b": {"c": z}}, static={**hyper, "objective": objective,
                    "steps": steps}, label=f"{_TEXT.get(objective, objective)}, {steps} steps, "
                    f"{PARAMS}")

    return build


def hyper(i) -> dict:
    """The factory's keyword arguments: the statics the harness does not read."""
    return {k: v for k, v in i.static.items() if k not in HARNESS}


def make(fns, task, i, chain=False):
    import optax

    tx = getattr(fns, task)(**hyper(i))
    return optax.chain(optax.clip_by_global_norm(1.0), tx) if chain else tx


# ---- call adapters ----------------------------------------------------------------------


def trajectory_call(task, *, chain=False, objectives=OBJECTIVES):
    """Params and updates after every step, one ``lax.scan``: ``{"updates", "params"}``."""

    def call(fns, i):
        import jax
        import optax

        tx, loss = make(fns, task, i, chain), objectives[i.static["objective"]]

        def step(carry, _):
            p, state = carry
            g = jax.grad(loss)(p)
            # a chain passes params on, as optax's training loops do; alone, update(g, s)
            updates, state = tx.update(g, state, p) if chain else tx.update(g, state)
            p = optax.apply_updates(p, updates)
            return (p, state), {"updates": updates, "params": p}

        p0 = i.args[0]
        return jax.lax.scan(step, (p0, tx.init(p0)), length=i.static["steps"])[1]

    return call


def step_call(task, *, objectives=OBJECTIVES):
    """One training step from ``extras["state"]``; without one, ``init`` (the first call)."""

    def call(fns, i):
        import jax
        import optax

        tx, p = make(fns, task, i), i.args[0]
        if "state" not in i.extras:
            return {"params": p, "state": tx.init(p)}
        g = jax.grad(objectives[i.static["objective"]])(p)
        updates, state = tx.update(g, i.extras["state"])
        return {"params": optax.apply_updates(p, updates), "state": state}

    return call


def feed(i, out, step):
    """What :func:`step_call` returned becomes the next call's params and state."""
    return i.replace(args=(out["params"], *i.args[1:]), extras={**i.extras, "state": out["state"]})


# ---- judges and properties --------------------------------------------------------------


def _trajectory_judge(tol_scale=1.0):
    """Structure, shape and dtype first; then the first step at which the paths part."""

    def judge(c, got, ref):
        msg = compare_trees(got, ref, tol_scale=tol_scale)
        if msg is None:
            return None
        where = f"on {c.describe()}"
        g, r = dict(leaves(got)), dict(leaves(ref))
        if set(g) != set(r) or any(not isinstance(g[k], np.ndarray) or g[k].shape != v.shape
                                   or g[k].dtype != v.dtype or v.ndim == 0 for k, v in r.items()):
            return Failure(f"{where}: {msg}")
        order = sorted(r, key=lambda k: (not k.startswith("['updates']"), k))  # updates first
        n = r[order[0]].shape[0]
        for t in range(n):
            for k in order:
                name = k[2:].replace("']", "", 1)
                bad = compare_arrays(name, g[k][t], r[k][t], tol_scale=tol_scale)
                if bad:
                    return Failure(f"{where}: the trajectory leaves the reference at step {t + 1}"
                                   f" of {n}: {bad}; expected {small(r[k][t])}, got "
                                   f"{small(g[k][t])}")
        return Failure(f"{where}: {msg}")

    return judge


_STATE_HINT = ("keep every entry of the state a jax array inside NamedTuples/tuples/dicts: "
               "moments from jax.tree.map(jnp.zeros_like, params), a step count as "
               "jnp.zeros([], jnp.int32); init and update must return the same structure")


def state_is_arrays(c, out):
    """``{"init", "next", "later"}`` states: arrays only, the same structure, shapes, dtypes."""
    init = dict(leaves(out["init"]))
    if not any(isinstance(v, np.ndarray) for v in init.values()):
        return ("init(params) returned a state with no arrays in it; the moments must live in "
                "the state that init returns and update passes on, not in Python variables")
    for path, v in init.items():
        if isinstance(v, (bool, int, float)):
            return (f"the state from init holds a Python {type(v).__name__} at state{path} "
                    f"({v!r}); it must be a jax array")
    for label, key in (("one jitted update", "next"), ("two jitted updates", "later")):
        other = dict(leaves(out[key]))
        if set(other) != set(init):
            gone, new = sorted(set(init) - set(other)), sorted(set(other) - set(init))
            detail = "; ".join(s for s in (
                "missing " + ", ".join(f"state{p}" for p in gone) if gone else "",
                "new " + ", ".join(f"state{p}" for p in new) if new else "") if s)
            return f"after {label} the state's structure differs from init's ({detail})"
        for path, a in init.items():
            b = other[path]
            if a is not None and (np.shape(a) != np.shape(b)
                                  or np.asarray(a).dtype != np.asarray(b).dtype):
                return (f"state{path} is {np.asarray(a).dtype}{list(np.shape(a))} after init "
                        f"but {np.asarray(b).dtype}{list(np.shape(b))} after {label}")
    return None


def _sign_step(c, out):
    lr = c.static["learning_rate"]
    want = (-lr * np.sign(c.args[0].astype(np.float64))).astype(np.float32)
    msg = compare_arrays("first update", np.asarray(out), want, rtol=0.0, atol=2e-3 * lr)
    return f"{msg} (expected about -learning_rate * sign(g) = {small(want)})" if msg else None


# ---- kinds ------------------------------------------------------------------------------


def trajectory(task, cases, *, chain=False, objectives=OBJECTIVES, id="trajectory", **kw):
    """The run (params and updates at every step) equals the reference's; ``chain``: inside
    ``optax.chain(optax.clip_by_global_norm(1.0), task(...))``, params passed on."""
    c = ck.equivalence(task, cases, call=trajectory_call(task, chain=chain,
                                                         objectives=objectives), id=id, **kw)
    return dataclasses.replace(c, judge=_trajectory_judge())


def state_is_pytree(task, cases, *, objectives=OBJECTIVES, **kw):
    """init's state is arrays in containers and keeps its structure, shapes and dtypes
    through two ``jax.jit(update)`` calls."""

    def call(fns, i):
        import jax

        tx, p = make(fns, task, i), i.args[0]
        g = jax.grad(objectives[i.static["objective"]])(p)
        update = jax.jit(tx.update)
        s0 = tx.init(p)
        s1 = update(g, s0)[1]
        return {"init": s0, "next": s1, "later": update(g, s1)[1]}

    kw.setdefault("hint", _STATE_HINT)
    return ck.invariant(task, cases, state_is_arrays, id="state_pytree", call=call,
                        batched=False, **kw)


def update_jits(task, cases, *, steps=3, objectives=OBJECTIVES, **kw):
    """``steps`` steps with ``jax.jit(init)`` and ``jax.jit(update)`` of ONE transformation,
    the state fed back in, equal the eager steps. The stock ``ck.jit`` jits one call; a
    state kept on the side (a closure) only shows across separately jitted calls."""

    def probe(fns, i):
        import jax
        import optax

        tx, loss = make(fns, task, i), objectives[i.static["objective"]]

        def steps_with(init, update):
            p, out = i.args[0], []
            state = init(p)
            for _ in range(steps):
                updates, state = update(jax.grad(loss)(p), state)
                p = optax.apply_updates(p, updates)
                out.append(updates)
            return out

        return {"eager": steps_with(tx.init, tx.update),
                "jit": steps_with(jax.jit(tx.init), jax.jit(tx.update))}

    kw.setdefault("hint", "keep the state in the values init/update return (no Python "
                  "variables updated on the side) and avoid Python control flow or NumPy on "
                  "array values")
    return dataclasses.replace(ck.jit(task, cases, **kw), probe=probe)


def no_retrace(task, cases, *, updates=4, objectives=OBJECTIVES, **kw):
    """``init`` then ``updates`` training steps, each jitted call fed the state the last one
    returned: two traces in all (one for init, one for the steps)."""
    kw.setdefault("hint", "update must return a state with exactly the structure, shapes, "
                  "dtypes and weak types of the state it got: no Python numbers, None "
                  "placeholders or weakly typed arrays (jnp.full(shape, 0.1) without a dtype) "
                  "in init's state, and no dtype changes (cast new moments back with "
                  ".astype(old.dtype))")
    return ck.retrace(task, cases, call=step_call(task, objectives=objectives), feed=feed,
                      steps=updates + 1, max_traces=2, **kw)


def hypergradient(task, cases, *, objectives=OBJECTIVES, **kw):
    """Gradient of the loss after ``steps`` steps w.r.t. the initial params (``args[0]``)
    and a traced learning rate (``args[1]``), the run jitted as a sweep would jit it."""

    def call(fns, i):
        import jax
        import optax

        loss = objectives[i.static["objective"]]

        def final_loss(p0, lr):
            tx = getattr(fns, task)(lr, **hyper(i))

            def step(carry, _):
                p, state = carry
                updates, state = tx.update(jax.grad(loss)(p), state)
                return (optax.apply_updates(p, updates), state), None

            (p, _), _ = jax.lax.scan(step, (p0, tx.init(p0)), length=i.static["steps"])
            return loss(p)

        return jax.jit(final_loss)(*i.args)

    kw.setdefault("hint", "learning_rate may be a traced array (jax.grad, "
                  "optax.inject_hyperparams): don't convert it with float() or test it with "
                  "a Python if")
    return ck.grad(task, cases, wrt=(0, 1), call=call, id="hypergradient", batched=False, **kw)


def hypergradient_case(lr, steps=20, objective="quadratic", **rest):
    base = run(objective, steps, **rest)

    def build(rng):
        c = base(rng)
        return dataclasses.replace(c, args=(c.args[0], np.asarray(lr, np.float32)),
                                   static={k: v for k, v in c.static.items()
                                           if k != "learning_rate"},
                                   label=f"loss after {steps} steps on the {objective}, "
                                   f"learning_rate={lr} (traced), {PARAMS}")

    return build


def first_step_is_sign(task, cases=None, **kw):
    """With bias correction the first update is about ``-learning_rate * sign(g)`` (within
    2e-3 * learning_rate) whatever the gradient's size; ``args[0]`` is ``g``."""

    def call(fns, i):
        import jax.numpy as jnp

        tx, g = getattr(fns, task)(**i.static), i.args[0]
        return tx.update(g, tx.init(jnp.zeros_like(g)))[0]

    def default(rng):
        mags = np.array([1e-3, 3e-2, 0.5, 7.0, 300.0, 4e3], np.float32)
        g = mags * np.where(rng.random(mags.size) < 0.5, -1.0, 1.0).astype(np.float32)
        return [case(g, static={"learning_rate": 0.1}, label="g of sizes 1e-3 .. 4e3"),
                case(g[1:], static={"learning_rate": 0.02, "b1": 0.5, "b2": 0.9, "eps": 1e-6},
                     label="g of sizes 3e-2 .. 4e3")]

    return ck.invariant(task, cases or default, _sign_step, id="first_step", call=call, **kw)


def common(task, *, hyper, chain, label=""):
    """State, jit, retracing, chain, bfloat16, hypergradient and forbidden checks, all run
    with the factory keywords ``hyper``; ``chain`` the keywords for the clipped run."""
    lr, rest = hyper["learning_rate"], {k: v for k, v in hyper.items() if k != "learning_rate"}
    w = f" ({label})" if label else ""
    return [
        state_is_pytree(task, ck.cases_of(run("quadratic", 2, **hyper)),
                        title="state is a pytree of arrays",
                        description="init(params) returns jax arrays in containers; the state "
                        "goes through jax.jit(update) and back with the same structure, shapes "
                        f"and dtypes{w}"),
        update_jits(task, ck.cases_of(run("quadratic", 3, **hyper)),
                    title="update works under jit", description="three steps with "
                    "jax.jit(init) and jax.jit(update), the state fed back in, equal the eager "
                    f"steps{w}"),
        no_retrace(task, ck.cases_of(run("quadratic", 4, **hyper),
                                     run("quadratic", 4, dtype="bfloat16", **hyper)),
                   title="no retracing across steps", description="init, then a jitted "
                   "training step called four times with the state it returned, traces once "
                   f"for init and once for the steps (float32 and bfloat16 params){w}"),
        trajectory(task, ck.cases_of(run("steep", 100, low=-3.0, high=-2.0, **chain)),
                   chain=True, id="chain", title="composes after optax.clip_by_global_norm",
                   description=f"optax.chain(optax.clip_by_global_norm(1.0), {task}(...)) "
                   "follows optax's trajectory for 100 steps, the clipping active at every "
                   f"step{w}", hint="update must accept update(updates, state, params=None) "
                   "and transform the updates it is given (inside a chain they are clipped)"),
        trajectory(task, ck.cases_of(run("quadratic", 5, dtype="bfloat16", **hyper)),
                   id="bfloat16", title="keeps bfloat16 params in bfloat16",
                   description="with bfloat16 params the updates are bfloat16 and equal the "
                   f"reference's for five steps{w}", hint="create the state with the params' "
                   "dtype (jnp.zeros_like(p), jnp.full_like(p, v)), not jnp.zeros(p.shape), "
                   "and don't promote it with float32 arrays"),
        hypergradient(task, ck.cases_of(hypergradient_case(lr, **rest)),
                      title="differentiable through 20 steps", description="jax.grad of the "
                      "loss after 20 jitted steps w.r.t. the initial params and a traced "
                      f"learning rate equals the reference{w}"),
        ck.forbidden(task),
    ]


def optimizer(task, *, runs, hyper, chain, tiny=None, hint="", tiny_hint="", ref=None):
    """The standard set for one optimizer: the trajectory over ``runs`` (case builders, see
    :func:`run`), the ``tiny``-gradient runs (eps placement) when given, then :func:`common`."""
    ref = ref or f"optax.{task}"
    out = [trajectory(task, ck.cases_of(*runs), title=f"trajectory matches {ref}", hint=hint,
                      description=f"{task} follows {ref} for {STEPS} steps on a quadratic and on "
                      "Rosenbrock with nested params, with default and custom hyperparameters")]
    if tiny:
        out.append(trajectory(task, ck.cases_of(*tiny), id="tiny_gradients", kind="stability",
                              title="tiny gradients (eps placement)", hint=tiny_hint,
                              description=f"{task} follows {ref} when gradients are ~1e-6, "
                              "where moving eps inside or outside the square root changes "
                              "every update"))
    return out + common(task, hyper=hyper, chain=chain)
