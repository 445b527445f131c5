"""dlcore.data.minibatches: a shuffled partition of a subset of range(n), jittable."""

import functools

import jax
import numpy as np
import pytest

from dlcore.data import minibatches


@pytest.mark.parametrize("n, batch_size", [(10, 3), (12, 4), (100, 7), (5, 5), (1, 1), (3, 8)])
def test_shape_dtype_and_partition(n, batch_size):
    batches = minibatches(jax.random.key(0), n, batch_size)
    num_batches = n // batch_size
    assert batches.shape == (num_batches, batch_size)
    assert batches.dtype == np.int32
    flat = np.asarray(batches).ravel()
    # Distinct indices from range(n): no duplicates, and exactly n % batch_size dropped.
    assert len(set(flat.tolist())) == flat.size == num_batches * batch_size
    assert flat.size == 0 or (flat.min() >= 0 and flat.max() < n)
    assert n - flat.size == n % batch_size


def test_is_the_permutation_cut_into_rows(key):
    # Pins the recipe: jax.random.permutation, then cut in order (so a seed means the same
    # batches in dlcore, the exercises and the grader).
    batches = minibatches(key, 23, 5)
    perm = np.asarray(jax.random.permutation(key, 23))
    np.testing.assert_array_equal(np.asarray(batches), perm[:20].reshape(4, 5))


def test_keys_shuffle_and_are_deterministic():
    a = minibatches(jax.random.key(1), 50, 10)
    b = minibatches(jax.random.key(1), 50, 10)
    c = minibatches(jax.random.key(2), 50, 10)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(np.asarray(a).ravel(), np.arange(50))  # actually shuffled


def test_jits_with_static_sizes_and_vmaps_over_keys():
    jitted = jax.jit(minibatches, static_argnums=(1, 2))
    key = jax.random.key(3)
    np.testing.assert_array_equal(jitted(key, 30, 4), minibatches(key, 30, 4))
    epochs = jax.vmap(functools.partial(minibatches, num_examples=30, batch_size=4))(
        jax.random.split(key, 3)
    )
    assert epochs.shape == (3, 7, 4)
    for row in np.asarray(epochs):
        assert len(set(row.ravel().tolist())) == 28


def test_rejects_non_positive_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        minibatches(jax.random.key(0), 10, 0)
