"""dlcore.optim pinned to optax: whole trajectories, dtypes, jit, chaining, schedules."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dlcore.optim import (
    ScaleByAdamState,
    adagrad,
    adam,
    rmsprop,
    scale_by_learning_rate,
    sgd,
)

# name -> (ours(lr), optax's(lr)); every other hyperparameter is fixed per entry.
REGISTRY = {
    "sgd": (lambda lr: sgd(lr), lambda lr: optax.sgd(lr)),
    "sgd_momentum": (lambda lr: sgd(lr, 0.9), lambda lr: optax.sgd(lr, 0.9)),
    "sgd_nesterov": (lambda lr: sgd(lr, 0.8, True), lambda lr: optax.sgd(lr, 0.8, True)),
    "rmsprop": (lambda lr: rmsprop(lr), lambda lr: optax.rmsprop(lr)),
    "rmsprop_custom": (
        lambda lr: rmsprop(lr, 0.99, 1e-6),
        lambda lr: optax.rmsprop(lr, decay=0.99, eps=1e-6),
    ),
    "adagrad": (lambda lr: adagrad(lr), lambda lr: optax.adagrad(lr)),
    "adagrad_zero_init": (
        lambda lr: adagrad(lr, 0.0, 1e-6),
        lambda lr: optax.adagrad(lr, initial_accumulator_value=0.0, eps=1e-6),
    ),
    "adam": (lambda lr: adam(lr), lambda lr: optax.adam(lr)),
    "adam_custom": (
        lambda lr: adam(lr, 0.8, 0.99, 1e-6),
        lambda lr: optax.adam(lr, b1=0.8, b2=0.99, eps=1e-6),
    ),
}


def nested_params(dtype=jnp.float32):
    """A dict of a tuple of (array, dict) and a scalar: structure must survive every step."""
    return {
        "a": (
            jnp.array([1.0, -2.0, 0.5], dtype),
            {"b": jnp.array([[0.3, -1.0], [2.0, 0.0]], dtype)},
        ),
        "c": jnp.array(-1.5, dtype),
    }


def quadratic(params, scale=1.0):
    """An ill-conditioned parabola with its minimum away from 0."""
    leaves = jax.tree.leaves(params)
    total = 0.0
    for i, leaf in enumerate(leaves):
        curvature = jnp.arange(1.0, leaf.size + 1.0).reshape(leaf.shape) * (i + 1)
        total = total + jnp.sum(curvature * (leaf - 0.7) ** 2)
    return scale * total


def rosenbrock(params):
    """Rosenbrock over nested pairs: x from one branch, y from another."""
    x = jnp.concatenate([params["a"][0], params["c"][None]])
    y = params["a"][1]["b"].ravel()
    return jnp.sum((1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2)


# name -> (loss, learning rate): each rate is stable for every optimizer in the registry.
PROBLEMS = {
    "quadratic": (quadratic, 0.01),
    "rosenbrock": (rosenbrock, 2e-4),
    # Gradients ~1e-6: below sqrt(eps), so moving eps in or out of the root shows.
    "tiny_gradients": (lambda p: quadratic(p, scale=1e-6), 0.01),
}
STEPS = 150


def trajectory(tx, loss, params, steps=STEPS):
    """Params after every step, stacked, for `steps` steps of `tx` on `loss`."""

    def step(carry, _):
        p, state = carry
        updates, state = tx.update(jax.grad(loss)(p), state, p)
        p = optax.apply_updates(p, updates)
        return (p, state), p

    _, path = jax.lax.scan(step, (params, tx.init(params)), length=steps)
    return path


def assert_trees_close(got, want, rtol=1e-5, atol=1e-7):
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        assert np.all(np.isfinite(np.asarray(g, np.float32)))
        np.testing.assert_allclose(np.asarray(g, np.float32), np.asarray(w, np.float32), rtol, atol)


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_trajectory_matches_optax(name, problem):
    ours, theirs = REGISTRY[name]
    loss, lr = PROBLEMS[problem]
    params = nested_params()
    both = jax.jit(lambda p: (trajectory(ours(lr), loss, p), trajectory(theirs(lr), loss, p)))
    got, want = both(params)
    assert_trees_close(got, want)
    # The optimizer moved the params (a no-op would also "match" a no-op).
    moved = jax.tree.map(lambda path, p0: jnp.max(jnp.abs(path[-1] - p0)), got, params)
    assert max(float(m) for m in jax.tree.leaves(moved)) > 0


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_update_jits_keeps_dtype_and_state_is_pytree(name):
    ours, theirs = REGISTRY[name]
    params = nested_params(jnp.bfloat16)
    grads = jax.jit(jax.grad(quadratic))(params)
    tx = ours(0.01)
    state = tx.init(params)
    updates, new_state = jax.jit(tx.update)(grads, state, params)
    want_updates, _ = jax.jit(theirs(0.01).update)(grads, theirs(0.01).init(params), params)
    # bfloat16 has 8 mantissa bits: agree to a couple of its ulps.
    assert_trees_close(updates, want_updates, rtol=1e-2, atol=1e-4)
    assert jax.tree.structure(new_state) == jax.tree.structure(state)
    for leaf in jax.tree.leaves(new_state):
        assert isinstance(leaf, jax.Array)
        assert leaf.dtype in (jnp.bfloat16, jnp.int32)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_composes_after_clip_by_global_norm(name):
    ours, theirs = REGISTRY[name]
    loss = lambda p: quadratic(p, scale=50.0)  # gradients far above norm 1: clipping is active
    params = nested_params()
    ours_tx = optax.chain(optax.clip_by_global_norm(1.0), ours(0.01))
    their_tx = optax.chain(optax.clip_by_global_norm(1.0), theirs(0.01))
    got, want = jax.jit(
        lambda p: (trajectory(ours_tx, loss, p, 100), trajectory(their_tx, loss, p, 100))
    )(params)
    assert_trees_close(got, want)


@pytest.mark.parametrize("b1, b2, eps", [(0.9, 0.999, 1e-8), (0.5, 0.9, 1e-6)])
def test_adam_first_step_is_minus_lr_sign(b1, b2, eps):
    g = jnp.array([1e-3, -2e-2, 5.0, -300.0, 1e3])
    tx = adam(0.1, b1, b2, eps)
    updates, state = tx.update(g, tx.init(jnp.zeros_like(g)))
    np.testing.assert_allclose(updates, -0.1 * np.sign(g), rtol=1e-3)
    adam_state = state[0]
    assert isinstance(adam_state, ScaleByAdamState)
    assert adam_state.count.dtype == jnp.int32 and int(adam_state.count) == 1


def test_eps_placement_closed_form():
    """First steps from zero state, written out in NumPy, for a gradient of 1e-6."""
    g = np.float32(1e-6)
    step = lambda tx: float(tx.update(jnp.array([g]), tx.init(jnp.zeros(1)))[0][0])
    # RMSprop: eps inside the root.
    assert step(rmsprop(1.0)) == pytest.approx(-g / np.sqrt(0.1 * g**2 + 1e-8), rel=1e-5)
    # Adagrad: accumulator 0.1 + g^2, eps inside the root.
    assert step(adagrad(1.0)) == pytest.approx(-g / np.sqrt(0.1 + g**2 + 1e-7), rel=1e-5)
    # Adam: eps outside the root of the bias-corrected second moment.
    assert step(adam(1.0)) == pytest.approx(-g / (np.sqrt(g**2) + 1e-8), rel=1e-5)


def test_sgd_without_momentum_equals_optax_none():
    params = nested_params()
    got = jax.jit(trajectory, static_argnums=(0, 1))(sgd(0.01), quadratic, params)
    want = jax.jit(trajectory, static_argnums=(0, 1))(optax.sgd(0.01, None), quadratic, params)
    assert_trees_close(got, want, rtol=0, atol=0)
    assert jax.tree.leaves(sgd(0.01).init(params)) == []  # no momentum buffer


def test_momentum_can_be_traced_under_vmap():
    params = nested_params()
    momenta = jnp.array([0.0, 0.5, 0.9])
    got = jax.jit(jax.vmap(lambda m: trajectory(sgd(0.01, m), quadratic, params, 50)))(momenta)
    for i, m in enumerate([0.0, 0.5, 0.9]):
        want = jax.jit(lambda p, m=m: trajectory(optax.sgd(0.01, m), quadratic, p, 50))(params)
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], got), want)


@pytest.mark.parametrize("name", ["sgd", "sgd_momentum", "adam", "rmsprop", "adagrad"])
def test_learning_rate_schedule_matches_optax(name):
    ours, theirs = REGISTRY[name]
    schedule = optax.linear_schedule(0.02, 0.001, transition_steps=80)
    params = nested_params()
    got, want = jax.jit(
        lambda p: (
            trajectory(ours(schedule), quadratic, p, 100),
            trajectory(theirs(schedule), quadratic, p, 100),
        )
    )(params)
    assert_trees_close(got, want)


@pytest.mark.parametrize("flip_sign", [True, False])
@pytest.mark.parametrize("learning_rate", [0.3, optax.exponential_decay(0.3, 1, 0.5)])
def test_scale_by_learning_rate_matches_optax(learning_rate, flip_sign):
    g = {"w": jnp.array([1.0, -2.0]), "b": (jnp.array(3.0),)}
    ours = scale_by_learning_rate(learning_rate, flip_sign=flip_sign)
    theirs = optax.scale_by_learning_rate(learning_rate, flip_sign=flip_sign)
    s_ours, s_theirs = ours.init(g), theirs.init(g)
    for _ in range(3):
        u_ours, s_ours = jax.jit(ours.update)(g, s_ours)
        u_theirs, s_theirs = theirs.update(g, s_theirs)
        assert_trees_close(u_ours, u_theirs, rtol=1e-6)
