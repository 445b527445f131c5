"""dlcore dropout pinned bitwise to flax.nnx.Dropout; statistics and MC dropout."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from dlcore.nn.dropout import dropout, mc_dropout_predict

_jit_dropout = jax.jit(dropout, static_argnames=("rate", "deterministic"))


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_bitwise_equal_to_nnx_dropout(rate):
    x = jax.random.normal(jax.random.key(1), (4, 7, 3))
    reference = nnx.Dropout(rate)
    for seed in range(3):
        # A raw key reaches nnx's bernoulli unchanged; nnx.Rngs / RngStream would fold in a
        # counter first.
        key = jax.random.key(seed)
        expected = reference(x, deterministic=False, rngs=key)
        for got in (dropout(key, x, rate), _jit_dropout(key, x, rate=rate)):
            assert got.dtype == expected.dtype and got.shape == expected.shape
            np.testing.assert_array_equal(
                np.asarray(got).view(np.uint32), np.asarray(expected).view(np.uint32)
            )


def test_identity_cases_and_rate_one():
    key, x = jax.random.key(0), jnp.arange(1.0, 7.0)
    np.testing.assert_array_equal(dropout(key, x, 0.0), x)
    np.testing.assert_array_equal(dropout(key, x, 0.7, deterministic=True), x)
    np.testing.assert_array_equal(dropout(key, x, 1.0), jnp.zeros_like(x))
    grad = jax.grad(lambda x: jnp.sum(_jit_dropout(key, x, rate=1.0)))(x)
    assert not bool(jnp.any(jnp.isnan(grad)))
    np.testing.assert_array_equal(grad, jnp.zeros_like(x))
    grad0 = jax.grad(lambda x: jnp.sum(dropout(key, x, 0.0)))(x)
    np.testing.assert_array_equal(grad0, jnp.ones_like(x))


@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan")])
def test_invalid_rate(rate):
    with pytest.raises(ValueError, match="rate"):
        dropout(jax.random.key(0), jnp.ones(3), rate)


def test_mean_preserved_and_drop_fraction():
    rate, n = 0.3, 200_000
    y = _jit_dropout(jax.random.key(7), jnp.ones(n), rate=rate)
    dropped = float(jnp.mean(y == 0.0))
    assert abs(dropped - rate) < 6 * np.sqrt(rate * (1 - rate) / n)
    # Each output is 1/(1-p) w.p. 1-p else 0: mean 1, variance p/(1-p).
    assert abs(float(jnp.mean(y)) - 1.0) < 6 * np.sqrt(rate / (1 - rate) / n)


def test_gradient_is_mask_over_keep_prob_and_keys_matter():
    rate, key = 0.4, jax.random.key(3)
    x = jax.random.normal(jax.random.key(4), (50,))
    grad = jax.grad(lambda x: jnp.sum(dropout(key, x, rate)))(x)
    keep = jax.random.bernoulli(key, 1 - rate, x.shape)
    np.testing.assert_allclose(grad, jnp.where(keep, 1 / (1 - rate), 0.0), rtol=1e-6)
    np.testing.assert_array_equal(dropout(key, x, rate), dropout(key, x, rate))
    assert not np.array_equal(dropout(key, x, rate), dropout(jax.random.key(5), x, rate))


def test_mc_dropout_predict_matches_loop():
    params = {"w": jax.random.normal(jax.random.key(0), (5, 3))}
    x = jax.random.normal(jax.random.key(1), (4, 5))

    def apply_fn(key, params, x):
        return dropout(key, x, 0.5) @ params["w"]

    key, num = jax.random.key(2), 16
    mean, std = mc_dropout_predict(key, apply_fn, params, x, num_samples=num)
    samples = np.stack([apply_fn(k, params, x) for k in jax.random.split(key, num)])
    np.testing.assert_allclose(mean, samples.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std, samples.std(axis=0, ddof=0), rtol=1e-5, atol=1e-6)
    assert bool(jnp.all(std > 0))
    jitted = jax.jit(mc_dropout_predict, static_argnames=("apply_fn", "num_samples"))
    mean_jit, _ = jitted(key, apply_fn, params, x, num_samples=num)
    np.testing.assert_allclose(mean_jit, mean, rtol=1e-6)
