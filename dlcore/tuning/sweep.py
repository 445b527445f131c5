"""A learning-rate sweep as one vmapped, jitted computation."""

from collections.abc import Callable

import jax
import jax.numpy as jnp


def vmapped_lr_sweep(
    train_fn: Callable[[jax.Array], jax.Array], learning_rates: jax.typing.ArrayLike
) -> jax.Array:
    """Run ``train_fn`` for every learning rate at once: ``jit(vmap(train_fn))(lrs)``.

    ``train_fn(lr)`` must be a pure function of a scalar learning rate that trains a model
    from scratch and returns a scalar (e.g. the final validation loss). Vectorizing it
    turns ``L`` training runs into one program that is traced and compiled once; on an
    accelerator the runs share each kernel launch. Inside ``train_fn`` the learning rate is
    a traced value, so build the optimizer with ``optax.inject_hyperparams`` (or pass
    ``lr`` to a schedule) rather than with a Python float.

    Args:
      train_fn: ``train_fn(lr) -> scalar``; pure, no Python side effects on ``lr``.
      learning_rates: ``(L,)`` learning rates.

    Returns:
      ``(L,)`` results, ``result[i] = train_fn(learning_rates[i])``.

    Warning:
      Memory grows with ``L`` (every run's parameters and optimizer state live at once), and
      a run that diverges produces NaN only in its own entry.

    Example:
      >>> def train_fn(lr):
      ...     w = 1.0
      ...     for _ in range(10):
      ...         w = w - lr * 2 * w  # gradient descent on w**2
      ...     return w**2
      >>> vmapped_lr_sweep(train_fn, jnp.array([0.1, 0.5, 1.1]))
      Array([1.1529212e-02, 0.0000000e+00, 3.8337627e+01], dtype=float32)

    References:
      ``optax.inject_hyperparams``; ``jax.vmap``.
    """
    return jax.jit(jax.vmap(train_fn))(jnp.asarray(learning_rates))
