"""dlcore.autodiff (hand-written backprop, finite differences) pinned to jax.grad."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dlcore.autodiff import mlp_backward, mlp_forward, numerical_grad
from dlcore.optim import sgd_step

# (B, D, H, C): a single example, binary, tall, wide, and a 1-unit hidden layer.
SHAPES = [(1, 3, 4, 2), (2, 1, 1, 2), (8, 5, 16, 10), (33, 64, 32, 3), (4, 7, 128, 2)]


# Inputs come from NumPy: eager jax.random compiles anew for every shape, which is slow.
def normal(rng, shape, scale=1.0):
    return jnp.asarray(rng.standard_normal(shape) * scale, dtype=jnp.float32)


def init_mlp(seed, d, h, c, scale=1.0):
    rng = np.random.default_rng(seed)
    return {
        "w1": normal(rng, (d, h), scale / np.sqrt(d)),
        "b1": normal(rng, (h,), 0.1),
        "w2": normal(rng, (h, c), scale / np.sqrt(h)),
        "b2": normal(rng, (c,), 0.1),
    }


def make_batch(seed, b, d, c):
    rng = np.random.default_rng(seed)
    return normal(rng, (b, d)), jnp.asarray(rng.integers(0, c, (b,)), dtype=jnp.int32)


def upstream_loss(params, x, labels):
    """The same MLP written independently, with optax's cross-entropy."""
    h = jnp.maximum(jnp.dot(x, params["w1"]) + params["b1"][None, :], 0.0)
    logits = jnp.dot(h, params["w2"]) + params["b2"][None, :]
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


def hand_grads(params, x, labels):
    _, cache = mlp_forward(params, x)
    return mlp_backward(params, cache, labels)


# Jitted once here: eager JAX compiles every primitive separately and is much slower.
jit_hand_grads = jax.jit(hand_grads)
jit_upstream_loss = jax.jit(upstream_loss)
jit_upstream_grad = jax.jit(jax.grad(upstream_loss))


@pytest.mark.parametrize("scale", [1.0, 30.0])
@pytest.mark.parametrize("b, d, h, c", SHAPES)
def test_mlp_backward_matches_jax_grad(b, d, h, c, scale):
    params = init_mlp(b * 1000 + d, d, h, c, scale)
    x, labels = make_batch(b * 1000 + d + 1, b, d, c)
    got = jit_hand_grads(params, x, labels)
    want = jit_upstream_grad(params, x, labels)
    assert jax.tree.structure(got) == jax.tree.structure(params)
    for name in params:
        assert got[name].shape == params[name].shape and got[name].dtype == jnp.float32
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-6, err_msg=name)


def test_mlp_forward_logits_and_loss():
    params = init_mlp(1, 5, 8, 4)
    x, labels = make_batch(2, 6, 5, 4)
    logits, cache = mlp_forward(params, x)  # eager on purpose
    h = jax.nn.relu(x @ params["w1"] + params["b1"][None, :])
    np.testing.assert_allclose(logits, h @ params["w2"] + params["b2"][None, :], rtol=1e-6)
    assert logits.shape == (6, 4) and isinstance(cache, dict)


def test_loss_falls_after_sgd_step():
    params = init_mlp(3, 6, 12, 3)
    x, labels = make_batch(4, 16, 6, 3)
    before = jit_upstream_loss(params, x, labels)
    new_params = jax.jit(sgd_step)(params, jit_hand_grads(params, x, labels), 0.1)
    after = jit_upstream_loss(new_params, x, labels)
    assert float(after) < float(before)


def test_per_example_grads_vmap_equal_loop():
    params = init_mlp(5, 4, 6, 3)
    x, labels = make_batch(6, 5, 4, 3)

    def one(xi, yi):
        return hand_grads(params, xi[None], yi[None])

    batched = jax.jit(jax.vmap(one))(x, labels)
    for i in range(x.shape[0]):
        want = jit_upstream_grad(params, x[i : i + 1], labels[i : i + 1])
        for name in params:
            np.testing.assert_allclose(batched[name][i], want[name], rtol=1e-4, atol=1e-6)
    # The mean over examples of per-example grads is the batch gradient.
    full = jit_hand_grads(params, x, labels)
    for name in params:
        np.testing.assert_allclose(jnp.mean(batched[name], 0), full[name], rtol=1e-4, atol=1e-6)


def smooth_fn(params):
    """Smooth, with a different gradient per leaf and per element."""
    (a, b), c = params["ab"], params["c"]
    return jnp.sum(jnp.sin(a) * a**2) + jnp.sum(jnp.tanh(b @ c)) + jnp.exp(0.5 * params["s"])


def nested_params(seed):
    rng = np.random.default_rng(seed)
    return {
        "ab": (normal(rng, (3, 4)), normal(rng, (2, 5))),
        "c": normal(rng, (5,)),
        "s": jnp.array(0.3),
    }


def test_numerical_grad_matches_jax_grad_on_nested_pytree():
    params = nested_params(7)
    got = numerical_grad(smooth_fn, params)  # eager: no jit needed
    want = jax.jit(jax.grad(smooth_fn))(params)
    assert jax.tree.structure(got) == jax.tree.structure(params)
    for g, w, p in zip(
        jax.tree.leaves(got), jax.tree.leaves(want), jax.tree.leaves(params), strict=True
    ):
        assert g.shape == p.shape and g.dtype == p.dtype
        np.testing.assert_allclose(g, w, rtol=1e-2, atol=1e-3)


def test_numerical_grad_jits_and_respects_eps():
    params = nested_params(8)
    jitted = jax.jit(lambda p: numerical_grad(smooth_fn, p, eps=1e-2))(params)
    want = jax.jit(jax.grad(smooth_fn))(params)
    for g, w in zip(jax.tree.leaves(jitted), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-2, atol=1e-3)
    # A cubic's central difference is off by exactly eps^2 (times f''' / 6 = 1).
    cubic = jax.jit(lambda p: numerical_grad(lambda q: jnp.sum(q**3), p, eps=0.1))(
        jnp.array([0.0, 2.0])
    )
    np.testing.assert_allclose(cubic, np.array([0.0, 12.0]) + 0.01, rtol=1e-4, atol=1e-4)


def test_numerical_grad_checks_mlp_backward():
    params = init_mlp(9, 3, 5, 4)
    x, labels = make_batch(10, 4, 3, 4)
    got = jit_hand_grads(params, x, labels)
    want = jax.jit(lambda p: numerical_grad(lambda q: upstream_loss(q, x, labels), p))(params)
    for name in params:
        np.testing.assert_allclose(got[name], want[name], rtol=2e-2, atol=2e-3, err_msg=name)


def test_sgd_step_matches_optax_sgd():
    params = nested_params(11)
    grads = jax.jit(jax.grad(smooth_fn))(params)
    tx = optax.sgd(0.05)
    updates, _ = jax.jit(tx.update)(grads, tx.init(params), params)
    want = optax.apply_updates(params, updates)
    got = jax.jit(sgd_step)(params, grads, 0.05)
    assert jax.tree.structure(got) == jax.tree.structure(params)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)
