"""q06 Optimizers: SGD, RMSprop, Adagrad and Adam as optax transformations, and minibatches.

Every optimizer check builds the learner's optimizer inside the probe from the case's statics
(``learning_rate`` and the hyperparameters are keyword arguments of the task) and runs it on
nested params ``{"a": (x, y), "b": {"c": z}}``: the shared harness of
:mod:`grader.optim_checks` (trajectories in one ``lax.scan`` per case, state, jit, retracing,
chain, bfloat16, hypergradient). The judge reports the first step at which the learner's
updates or params leave the reference's.
"""

from __future__ import annotations

import numpy as np

from grader import checks as ck
from grader import optim_checks as oc
from grader import props
from grader.spec import Exercise, FileSpec, case

OPTIMIZERS = ("sgd", "rmsprop", "adagrad", "adam")
run = oc.run

# ---- optimizers --------------------------------------------------------------------------

_HINT = {
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
_ROSEN = {"low": -1.2, "high": 1.2}

_SGD = [
    oc.trajectory("sgd", ck.cases_of(
        run("quadratic", learning_rate=0.05),
        run("rosenbrock", **_ROSEN, learning_rate=5e-4)),
        title="trajectory matches optax.sgd", hint=_HINT["sgd"],
        description=f"sgd(learning_rate) follows optax.sgd for {oc.STEPS} steps on a quadratic "
        "and on Rosenbrock with nested params"),
    oc.trajectory("sgd", ck.cases_of(
        run("quadratic", learning_rate=0.02, momentum=0.9),
        run("rosenbrock", **_ROSEN, learning_rate=2e-4, momentum=0.9),
        run("quadratic", learning_rate=0.05, momentum=0.5)),
        id="trajectory_momentum", title="trajectory with momentum matches optax.sgd",
        hint=_HINT["sgd_momentum"],
        description=f"sgd(learning_rate, momentum) follows optax.sgd for {oc.STEPS} steps"),
    oc.trajectory("sgd", ck.cases_of(
        run("quadratic", learning_rate=0.02, momentum=0.9, nesterov=True),
        run("rosenbrock", **_ROSEN, learning_rate=2e-4, momentum=0.9, nesterov=True)),
        id="trajectory_nesterov", title="trajectory with nesterov matches optax.sgd",
        hint=_HINT["sgd_nesterov"], description="sgd(learning_rate, momentum, nesterov=True) "
        f"follows optax.sgd for {oc.STEPS} steps"),
    # Inside the chain every step is clipped to norm 1 and the params start 2.7 .. 3.7 from
    # the minimum: small steps never reach it, so the path is smooth. (Oscillating about the
    # minimum with clipped, sign-like steps is chaotic: a correct implementation's rounding
    # differences would grow past any tolerance.)
    *oc.common("sgd", hyper={"learning_rate": 0.02, "momentum": 0.9},
               chain={"learning_rate": 2e-3, "momentum": 0.9}, label="momentum=0.9"),
]

_RMSPROP = oc.optimizer(
    "rmsprop", hint=_HINT["rmsprop"], tiny_hint=_TINY_HINT["rmsprop"],
    runs=[run("quadratic", learning_rate=0.01),
          # RMSprop's steps are about lr * sign(g) once nu has caught up: bouncing across the
          # valley floor y = x**2 that way is chaotic (an ulp grows past any tolerance within
          # 150 steps), so this run starts far from the floor and never reaches it.
          run("rosenbrock", low=1.2, high=1.8, y_range=(-1.0, 0.0), learning_rate=2e-3),
          run("quadratic", learning_rate=0.02, decay=0.99, eps=1e-6)],
    tiny=[run("tiny", learning_rate=0.01)],
    hyper={"learning_rate": 0.01}, chain={"learning_rate": 0.01})

_ADAGRAD = oc.optimizer(
    "adagrad", hint=_HINT["adagrad"], tiny_hint=_TINY_HINT["adagrad"],
    runs=[run("quadratic", learning_rate=0.1),
          run("rosenbrock", **_ROSEN, learning_rate=0.05),
          run("quadratic", learning_rate=0.2, initial_accumulator_value=0.5, eps=1e-5)],
    # the accumulator starts at 0, so eps (1e-7) and not G_0 dominates the root
    tiny=[run("tiny", learning_rate=0.01, initial_accumulator_value=0.0)],
    hyper={"learning_rate": 0.1}, chain={"learning_rate": 0.05})

_ADAM = oc.optimizer(
    "adam", hint=_HINT["adam"], tiny_hint=_TINY_HINT["adam"],
    runs=[run("quadratic", learning_rate=0.05),
          run("rosenbrock", **_ROSEN, learning_rate=0.01),
          run("quadratic", learning_rate=0.05, b1=0.8, b2=0.99, eps=1e-6)],
    tiny=[run("tiny", learning_rate=0.01), run("tiny", learning_rate=0.01, eps=1e-7)],
    hyper={"learning_rate": 0.05}, chain={"learning_rate": 0.01})

_ADAM_FIRST_STEP = oc.first_step_is_sign(
    "adam", title="first step is -lr * sign(g)",
    description="after bias correction the first update is about -learning_rate * sign(g) "
    "whatever the gradient's size",
    hint="increment the count before correcting, so the first step uses t = 1: "
    "m_hat = m / (1 - b1**t), v_hat = v / (1 - b2**t)")

# ---- minibatches -------------------------------------------------------------------------

_SHAPES = [(23, 5), (12, 4), (100, 7), (5, 5), (3, 8)]


def _batch_cases(rng, shapes=_SHAPES):
    return [case(ck.Key(int(rng.integers(0, 2**31))),
                 static={"num_examples": n, "batch_size": b}) for n, b in shapes]


def _shape_int32(c, out):
    n, b = c.static["num_examples"], c.static["batch_size"]
    got = np.asarray(out)
    if got.shape != (n // b, b):
        return (f"expected shape ({n // b}, {b}) (num_examples // batch_size, batch_size), "
                f"got {got.shape}")
    return None if got.dtype == np.int32 else f"expected dtype int32, got {got.dtype}"


def _shuffled(c, out):
    flat = np.asarray(out).ravel()
    if c.static["num_examples"] >= 20 and np.array_equal(flat, np.arange(flat.size)):
        return "the indices are in order 0, 1, 2, ...: they must be shuffled"
    return None


_MINIBATCHES = [
    ck.equivalence(
        "minibatches", _batch_cases, title="the key's permutation cut into batches",
        description="equals jax.random.permutation(key, num_examples), remainder dropped, "
        "reshaped to (num_examples // batch_size, batch_size), for the same key",
        hint="perm = jax.random.permutation(key, num_examples) with the key you are given "
        "(not split first); keep perm[: num_batches * batch_size] in order and reshape it "
        "row by row"),
    ck.invariant(
        "minibatches", lambda rng: _batch_cases(rng, [*_SHAPES, (64, 16)]),
        props.all_of(_shape_int32, props.partition(lambda c: c.static["num_examples"]),
                     _shuffled),
        id="partition", title="batches partition a shuffled subset",
        description="shape (num_examples // batch_size, batch_size), int32, distinct "
        "indices in range, shuffled",
        hint="a permutation has no repeats (an epoch uses each example at most once); drop "
        "the remainder rather than padding"),
    ck.prng("minibatches", lambda rng: [case(ck.Key(11), extras={"other_key": ck.Key(12)},
                                             static={"num_examples": 30, "batch_size": 6})],
            hint="shuffle with the key argument; never a fixed key or NumPy's global RNG"),
    ck.jit("minibatches", lambda rng: [case(ck.Key(5),
                                            static={"num_examples": 20, "batch_size": 6})],
           hint="use jax.random and jax.numpy only; num_examples and batch_size are static, so "
           "shapes may depend on them but not on array values"),
]

CHECKS = (*_SGD, *_RMSPROP, *_ADAGRAD, *_ADAM, _ADAM_FIRST_STEP, *_MINIBATCHES)

# The optimizers and the optax pieces they are built from; optax.chain,
# optax.GradientTransformation, optax.EmptyState, optax.apply_updates,
# optax.safe_int32_increment and optax.tree_utils stay allowed.
_FORBIDDEN = ("optax.sgd", "optax.noisy_sgd", "optax.adam", "optax.adamw", "optax.rmsprop",
              "optax.adagrad", "optax.scale_by_*", "optax.trace", "optax.ema", "optax.scale",
              "optax.inject_hyperparams", "optax.contrib", "optax.transforms", "optax._src",
              "jax.example_libraries")

EXERCISE = Exercise(
    id="q06",
    title="Optimizers",
    files={"optimizers.py": FileSpec(
        helpers=("dlcore.optim.base:ScaleByScheduleState",
                 "dlcore.optim.base:scale_by_learning_rate",
                 "dlcore.optim.sgd:TraceState",
                 "dlcore.optim.rmsprop:ScaleByRmsState",
                 "dlcore.optim.rmsprop:ScaleByRStdDevState",
                 "dlcore.optim.adagrad:ScaleByRssState",
                 "dlcore.optim.adam:ScaleByAdamState"),
        parts=("dlcore.optim.sgd:trace",
               "dlcore.optim.rmsprop:scale_by_rms",
               "dlcore.optim.rmsprop:scale_by_stddev",
               "dlcore.optim.adagrad:scale_by_rss",
               "dlcore.optim.adam:scale_by_adam"),
        tasks=tuple(f"dlcore.optim.{t}:{t}" for t in OPTIMIZERS)
        + ("dlcore.data.batching:minibatches",),
        summary="SGD, RMSprop, Adagrad and Adam as optax transformations, and minibatches")},
    checks=CHECKS,
    forbidden={t: _FORBIDDEN for t in OPTIMIZERS},
)
