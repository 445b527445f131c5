"""dlcore.nn activations and softmax cross-entropy, pinned to jax.nn and optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dlcore.nn import (
    gelu,
    leaky_relu,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    softmax_cross_entropy,
    softplus,
    tanh,
)

# (ours, upstream) for every elementwise activation, with a fixed hyperparameter where any.
ELEMENTWISE = {
    "sigmoid": (sigmoid, jax.nn.sigmoid),
    "relu": (relu, jax.nn.relu),
    "leaky_relu": (leaky_relu, jax.nn.leaky_relu),
    "leaky_relu_0.3": (lambda x: leaky_relu(x, 0.3), lambda x: jax.nn.leaky_relu(x, 0.3)),
    "tanh": (tanh, jnp.tanh),
    "softplus": (softplus, jax.nn.softplus),
    "gelu_tanh": (gelu, jax.nn.gelu),
    "gelu_erf": (lambda x: gelu(x, approximate=False), lambda x: jax.nn.gelu(x, False)),
}
NORMALIZING = {
    "softmax": (softmax, jax.nn.softmax),
    "log_softmax": (log_softmax, jax.nn.log_softmax),
}
# float32: agree to a few ulps; bfloat16: to its 8-bit mantissa (both sides round).
TOL = {jnp.float32: dict(rtol=1e-5, atol=1e-6), jnp.bfloat16: dict(rtol=2e-2, atol=2e-2)}
GRAD_TOL = {jnp.float32: dict(rtol=1e-4, atol=1e-6), jnp.bfloat16: dict(rtol=5e-2, atol=5e-2)}


# Inputs come from NumPy: eager jax.random compiles anew for every shape, which is slow.
def normal(seed, shape, scale=1.0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape) * scale, jnp.float32)


def wide_inputs(dtype):
    """Normals at several scales, a +-1e4 sweep, and 0 and tiny values."""
    scales = np.array([[0.1], [1.0], [10.0], [100.0]])
    normals = np.random.default_rng(42).standard_normal((4, 256)) * scales
    special = np.array([0.0, 1e-8, -1e-8, 1e-30, -20.0, 20.0, -88.0, 88.0, -1e4, 1e4])
    sweep = np.linspace(-1e4, 1e4, 999)
    return jnp.asarray(np.concatenate([normals.ravel(), special, sweep]), dtype)


def as_f32(x):
    return np.asarray(jnp.asarray(x, jnp.float32))


def value_and_grad_fn(f):
    """One jitted function for f(x) and the gradient of sum(f(x)), to compile once."""
    return jax.jit(lambda x: (f(x), jax.grad(lambda z: jnp.sum(f(z).astype(jnp.float32)))(x)))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16], ids=["f32", "bf16"])
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_matches_jax_nn(name, dtype):
    ours, ref = ELEMENTWISE[name]
    x = wide_inputs(dtype)
    got, got_grad = value_and_grad_fn(ours)(x)
    want, want_grad = value_and_grad_fn(ref)(x)
    assert got.dtype == dtype and got.shape == x.shape and got_grad.dtype == dtype
    assert np.all(np.isfinite(as_f32(got))) and np.all(np.isfinite(as_f32(got_grad)))
    np.testing.assert_allclose(as_f32(got), as_f32(want), **TOL[dtype])
    np.testing.assert_allclose(as_f32(got_grad), as_f32(want_grad), **GRAD_TOL[dtype])
    # Eager (un-jitted) agrees with jit.
    np.testing.assert_array_equal(as_f32(ours(x[:16])), as_f32(got[:16]))


@pytest.mark.parametrize(
    "name, value",
    [("sigmoid", 0.25), ("tanh", 1.0), ("softplus", 0.5), ("gelu_tanh", 0.5), ("gelu_erf", 0.5)],
)
def test_smooth_gradient_at_zero(name, value):
    # Branching on the sign (where/abs/max) is where a stable form can get f'(0) wrong.
    ours, _ = ELEMENTWISE[name]
    assert float(jax.jit(jax.grad(ours))(0.0)) == pytest.approx(value, rel=1e-6)


def test_tanh_tiny_and_sigmoid_tail_are_accurate():
    x = jnp.array([1e-8, -3e-20, 1e-30])
    np.testing.assert_allclose(jax.jit(tanh)(x), x, rtol=1e-6)
    # 1 / (1 + e^80) ~ 1.8e-35: the naive 1 - sigmoid(80) form would give 0.
    np.testing.assert_allclose(jax.jit(sigmoid)(jnp.array(-80.0)), np.exp(-80.0), rtol=1e-5)


def test_sigmoid_symmetry_and_relu_family():
    x = wide_inputs(jnp.float32)
    x_np = np.asarray(x)
    jit_sigmoid = jax.jit(sigmoid)
    np.testing.assert_allclose(jit_sigmoid(-x), 1 - jit_sigmoid(x), atol=1e-6)
    assert float(jnp.min(jax.jit(softplus)(x))) >= 0.0
    np.testing.assert_array_equal(jax.jit(relu)(x), np.maximum(x_np, 0))
    leaky = jax.jit(leaky_relu)(x, 0.2)
    np.testing.assert_array_equal(leaky, np.where(x_np >= 0, x_np, np.float32(0.2) * x_np))


def weighted_value_and_grad_fn(f, w, axis=-1):
    """Jitted f(x) and the gradient of sum(w * f(x)); weighted since softmax sums to 1."""

    def loss(z):
        return jnp.sum((w * f(z, axis=axis)).astype(jnp.float32))

    return jax.jit(lambda x: (f(x, axis=axis), jax.grad(loss)(x)))


@pytest.mark.parametrize("axis", [-1, 0, 1, (0, 2)])
@pytest.mark.parametrize("name", sorted(NORMALIZING))
def test_normalizing_matches_jax_nn_over_axes(name, axis):
    ours, ref = NORMALIZING[name]
    x = normal(1, (3, 4, 5), 5.0)
    w = normal(2, x.shape)
    got, got_grad = weighted_value_and_grad_fn(ours, w, axis)(x)
    want, want_grad = weighted_value_and_grad_fn(ref, w, axis)(x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_grad, want_grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16], ids=["f32", "bf16"])
@pytest.mark.parametrize("name", sorted(NORMALIZING))
def test_normalizing_extreme_logits(name, dtype):
    ours, ref = NORMALIZING[name]
    x = jnp.array([[1e4, -1e4, 0.0, 1e4], [-1e4, -1e4, -1e4, -1e4], [0.0, 0.0, 0.0, 0.0]], dtype)
    w = jnp.arange(4.0, dtype=dtype)[None, :]
    got, got_grad = weighted_value_and_grad_fn(ours, w)(x)
    want, want_grad = weighted_value_and_grad_fn(ref, w)(x)
    assert got.dtype == dtype and got_grad.dtype == dtype
    assert np.all(np.isfinite(as_f32(got))) and np.all(np.isfinite(as_f32(got_grad)))
    np.testing.assert_allclose(as_f32(got), as_f32(want), **TOL[dtype])
    np.testing.assert_allclose(as_f32(got_grad), as_f32(want_grad), **GRAD_TOL[dtype])


def test_softmax_properties():
    x = normal(3, (16, 10), 30.0)
    softmax_jit, log_softmax_jit = jax.jit(softmax), jax.jit(log_softmax)
    p = softmax_jit(x)
    np.testing.assert_allclose(jnp.sum(p, axis=-1), np.ones(16), rtol=1e-6)
    assert float(jnp.min(p)) >= 0.0
    # x + 1e3 rounds x by up to 3e-5, hence atol; without the max shift this would be nan.
    np.testing.assert_allclose(softmax_jit(x + 1e3), p, atol=5e-5)
    assert float(jnp.max(log_softmax_jit(x))) <= 0.0
    np.testing.assert_allclose(jnp.exp(log_softmax_jit(x)), p, atol=1e-6)


def test_activations_vmap_and_static_gelu_flag():
    x = normal(4, (6, 7))
    for name, (ours, _) in ELEMENTWISE.items():
        batched = jax.jit(jax.vmap(ours))(x)
        np.testing.assert_allclose(batched, jax.jit(ours)(x), rtol=1e-6, err_msg=name)
    batched = jax.jit(jax.vmap(softmax))(x)
    np.testing.assert_allclose(batched, jax.jit(softmax)(x), rtol=1e-6, atol=1e-7)
    jit_gelu = jax.jit(gelu, static_argnames="approximate")
    np.testing.assert_allclose(jit_gelu(x, approximate=False), jax.nn.gelu(x, False), rtol=1e-6)


@pytest.mark.parametrize("batch, classes, scale", [(1, 2, 1e4), (7, 10, 1.0), (32, 3, 1e4)])
def test_softmax_cross_entropy_matches_optax(batch, classes, scale):
    logits = normal(batch, (batch, classes), scale)
    labels = jnp.asarray(np.random.default_rng(0).integers(0, classes, (batch,)), jnp.int32)

    def ref(z):
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(z, labels))

    got, grad = jax.jit(jax.value_and_grad(softmax_cross_entropy))(logits, labels)
    want, want_grad = jax.jit(jax.value_and_grad(ref))(logits)
    assert got.shape == () and np.isfinite(got) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-4, atol=1e-7)
