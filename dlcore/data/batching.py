"""Shuffled minibatch indices for one epoch."""

import jax
import jax.numpy as jnp


def minibatches(key: jax.Array, num_examples: int, batch_size: int) -> jax.Array:
    r"""Indices of one shuffled epoch, cut into equal batches; the remainder is dropped.

    With :math:`\pi` a uniform random permutation of :math:`\{0, \dots, n - 1\}` and
    :math:`k = \lfloor n / b \rfloor`, batch :math:`i` is
    :math:`(\pi_{ib}, \dots, \pi_{ib + b - 1})` for :math:`i < k`; the last
    :math:`n - kb` examples of the permutation are left out of this epoch.

    Args:
      key: a ``jax.random.key``; use a fresh one each epoch.
      num_examples: the data set size :math:`n` (static under ``jit``).
      batch_size: the batch size :math:`b > 0` (static under ``jit``).

    Returns:
      A ``(num_examples // batch_size, batch_size)`` int32 array of distinct indices.

    Warning:
      Like PyTorch's ``DataLoader(shuffle=True, drop_last=True)``; PyTorch's default
      ``drop_last=False`` keeps a smaller last batch, which would change shapes and
      recompile a jitted step.

    Example:
      >>> batches = minibatches(jax.random.key(0), 10, 3)
      >>> batches.shape, batches.dtype
      ((3, 3), dtype('int32'))
      >>> bool(jnp.unique(batches).size == 9)
      True

    References:
      ``jax.random.permutation``:
      https://docs.jax.dev/en/latest/_autosummary/jax.random.permutation.html
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    num_batches = num_examples // batch_size
    perm = jax.random.permutation(key, num_examples)
    return perm[: num_batches * batch_size].reshape(num_batches, batch_size).astype(jnp.int32)
