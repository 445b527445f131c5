"""A random train/validation split of example indices."""

import math

import jax
import jax.numpy as jnp


def train_val_split(key: jax.Array, n: int, val_fraction: float) -> tuple[jax.Array, jax.Array]:
    r"""Split ``range(n)`` at random into train and validation indices.

    .. math:: n_\text{val} = \lceil f\, n \rceil, \qquad n_\text{train} = n - n_\text{val}

    (the rounding of ``sklearn.model_selection.train_test_split(test_size=f)``). The
    indices are a random permutation of ``range(n)`` drawn from ``key``, cut in two, so
    the two sets are disjoint and together hold every index once. Each index lands in the
    validation set with probability :math:`n_\text{val} / n`.

    Args:
      key: a ``jax.random.key``; used once.
      n: the number of examples, a Python int; static under jit (it sets the shapes).
      val_fraction: :math:`f`, a Python float; static under jit.

    Returns:
      ``(train_idx, val_idx)``: int32 arrays of shapes ``(n_train,)`` and ``(n_val,)``.

    Raises:
      ValueError: unless ``0 < n_val < n``.

    Example:
      >>> train_idx, val_idx = train_val_split(jax.random.key(0), 10, 0.25)
      >>> train_idx.shape, val_idx.shape
      ((7,), (3,))
      >>> sorted(jnp.concatenate([train_idx, val_idx]).tolist()) == list(range(10))
      True

    References:
      ``sklearn.model_selection.train_test_split``:
      https://scikit-learn.org/stable/modules/generated/sklearn.model_selection.train_test_split.html
    """
    n_val = math.ceil(val_fraction * n)
    if not 0 < n_val < n:
        raise ValueError(
            f"val_fraction={val_fraction} of n={n} gives {n_val} validation examples; "
            "both sets must be non-empty"
        )
    perm = jax.random.permutation(key, n).astype(jnp.int32)
    return perm[: n - n_val], perm[n - n_val :]
