"""Initializers, gradient norms, clipping, NaN detection and residual_mlp (q18).

Pinned to jax.nn.initializers.glorot_uniform/he_normal, optax.tree.norm and
optax.clip_by_global_norm; the depth experiments reproduce the contract's measured ratios.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dlcore.models.residual import residual_mlp
from dlcore.nn.gradients import clip_by_global_norm, detect_nonfinite, global_norm, layer_grad_norms
from dlcore.nn.init import init_he, init_xavier

# float32 sums of squares and products of O(1) numbers: a different reduction order moves
# the result by a few ulps, so rtol 1e-6 (decision 23 for the initializers).
RTOL = 1e-6


def _tree(seed, scale=1.0):
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    return {
        "a": scale * jax.random.normal(k1, (3, 4)),
        "b": [scale * jax.random.normal(k2, (5,)), {"c": scale * jax.random.normal(k3, ())}],
    }


@pytest.mark.parametrize("shape", [(64, 32), (3, 3, 16, 32), (128, 128)])
def test_initializers_match_jax(shape):
    key = jax.random.key(7)
    np.testing.assert_allclose(
        init_xavier(key, shape), jax.nn.initializers.glorot_uniform()(key, shape), rtol=RTOL
    )
    np.testing.assert_allclose(
        init_he(key, shape), jax.nn.initializers.he_normal()(key, shape), rtol=RTOL
    )


def test_initializer_statistics_keys_and_jit():
    key = jax.random.key(8)
    w = init_he(key, (512, 512))
    # var * fan_in estimates 2 from 262144 samples (std error ~0.006): measured 2.009
    assert abs(float(jnp.var(w)) * 512 - 2.0) < 0.05
    assert float(jnp.max(jnp.abs(w))) <= 2 * (2 / 512) ** 0.5 / 0.87962566103423978 + 1e-6
    g = init_xavier(key, (256, 256))
    bound = (6 / 512) ** 0.5
    assert float(jnp.max(jnp.abs(g))) <= bound
    assert abs(float(jnp.var(g)) / (bound**2 / 3) - 1.0) < 0.03
    assert w.dtype == g.dtype == jnp.float32
    other = jax.random.key(9)
    assert not bool(jnp.allclose(init_he(other, (8, 8)), init_he(key, (8, 8))))
    assert not bool(jnp.allclose(init_xavier(other, (8, 8)), init_xavier(key, (8, 8))))
    jitted = jax.jit(init_he, static_argnums=1)(key, (8, 8))
    np.testing.assert_allclose(jitted, init_he(key, (8, 8)), rtol=RTOL)


def test_norms_match_formula_and_optax():
    tree = _tree(1)
    leaves = jax.tree.leaves(tree)
    expected = np.sqrt(sum(float(np.sum(np.square(leaf))) for leaf in leaves))
    np.testing.assert_allclose(global_norm(tree), expected, rtol=RTOL)
    np.testing.assert_allclose(global_norm(tree), optax.tree.norm(tree), rtol=RTOL)
    layers = [tree, {"w": jnp.array([3.0, 4.0])}, _tree(2)]
    norms = jax.jit(layer_grad_norms)(layers)
    assert norms.shape == (3,) and norms.dtype == jnp.float32
    np.testing.assert_allclose(norms, [optax.tree.norm(layer) for layer in layers], rtol=RTOL)


@pytest.mark.parametrize("max_norm_factor", [0.5, 1.0, 2.0])
def test_clip_matches_optax_below_at_and_above(max_norm_factor):
    tree = _tree(3)
    norm = float(optax.tree.norm(tree))
    max_norm = norm * max_norm_factor if max_norm_factor != 1.0 else norm
    ref, _ = optax.clip_by_global_norm(max_norm).update(tree, optax.EmptyState())
    ours = jax.jit(clip_by_global_norm)(tree, jnp.float32(max_norm))  # traced max_norm
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref), strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL)
    flat = jnp.concatenate([jnp.ravel(x) for x in jax.tree.leaves(ours)])
    orig = jnp.concatenate([jnp.ravel(x) for x in jax.tree.leaves(tree)])
    cosine = jnp.dot(flat, orig) / (jnp.linalg.norm(flat) * jnp.linalg.norm(orig))
    np.testing.assert_allclose(cosine, 1.0, rtol=1e-6)
    np.testing.assert_allclose(jnp.linalg.norm(flat), min(norm, max_norm), rtol=1e-5)


def test_clip_zero_gradients_stay_zero():
    zeros = jax.tree.map(jnp.zeros_like, _tree(4))
    out = clip_by_global_norm(zeros, 1.0)
    for leaf in jax.tree.leaves(out):
        np.testing.assert_array_equal(leaf, 0.0)


def _plain_mlp(params, x, activation):
    h = x
    for layer in params:
        h = activation(h @ layer["w"] + layer["b"][None, :])
    return h


def _depth_ratio_and_grads(init, activation, *, residual=False, depth=30, gain=1.0):
    keys = jax.random.split(jax.random.key(0), depth + 1)
    params = [{"w": gain * init(keys[i], (128, 128)), "b": jnp.zeros(128)} for i in range(depth)]
    x = jax.random.normal(keys[-1], (64, 128))
    net = residual_mlp if residual else None

    def loss(p):
        out = net(p, x, activation=activation) if residual else _plain_mlp(p, x, activation)
        return jnp.mean(out**2)

    grads = jax.jit(jax.grad(loss))(params)
    norms = layer_grad_norms(grads)
    return float(norms[0] / norms[-1]), grads


def test_depth_ratios_vanish_or_survive_as_measured():
    # measured: 0.0, 0.52, 3.9e-4, 0.040, 4.7 (contract: 0, 0.58, 3.7e-4, 0.039, 4.6)
    assert _depth_ratio_and_grads(init_xavier, jax.nn.sigmoid)[0] < 1e-6
    assert 1e-2 <= _depth_ratio_and_grads(init_he, jax.nn.relu)[0] <= 1e2
    assert _depth_ratio_and_grads(init_xavier, jax.nn.relu)[0] < 1e-2
    assert _depth_ratio_and_grads(init_xavier, jax.nn.sigmoid, residual=True)[0] > 1e-3
    assert 1e-2 <= _depth_ratio_and_grads(init_xavier, jnp.tanh, residual=True)[0] <= 1e2


def test_detect_nonfinite_on_exploding_net_and_edge_cases():
    _, exploded = _depth_ratio_and_grads(init_he, jax.nn.relu, depth=100, gain=2.0)
    _, healthy = _depth_ratio_and_grads(init_he, jax.nn.relu, depth=100)
    detect = jax.jit(detect_nonfinite)
    assert bool(detect(exploded)) and not bool(detect(healthy))
    for bad in (jnp.nan, jnp.inf, -jnp.inf):
        result = detect({"w": jnp.array([1.0, bad]), "n": jnp.array([1, 2])})
        assert isinstance(result, jax.Array) and result.dtype == jnp.bool_ and bool(result)
    assert not bool(detect({"step": jnp.array([1, 2], jnp.int32), "w": jnp.ones(3)}))
    assert not bool(detect_nonfinite({"step": jnp.array(5)}))


def test_residual_mlp_formula_jit_vmap_grad():
    keys = jax.random.split(jax.random.key(5), 4)
    params = [{"w": init_xavier(keys[i], (6, 6)), "b": 0.1 * jnp.ones(6)} for i in range(3)]
    x = jax.random.normal(keys[3], (4, 6))
    h = x
    for layer in params:
        h = h + jnp.tanh(h @ layer["w"] + layer["b"][None, :])
    np.testing.assert_allclose(residual_mlp(params, x), h, rtol=RTOL, atol=1e-6)
    relu_out = jax.jit(residual_mlp, static_argnames="activation")(
        params, x, activation=jax.nn.relu
    )
    h = x
    for layer in params:
        h = h + jax.nn.relu(h @ layer["w"] + layer["b"][None, :])
    np.testing.assert_allclose(relu_out, h, rtol=RTOL, atol=1e-6)
    rows = jax.vmap(lambda r: residual_mlp(params, r[None])[0])(x)
    np.testing.assert_allclose(rows, residual_mlp(params, x), rtol=RTOL, atol=1e-6)
    g = jax.grad(lambda p: jnp.sum(residual_mlp(p, x) ** 2))(params)
    assert not bool(detect_nonfinite(g)) and float(global_norm(g)) > 0
