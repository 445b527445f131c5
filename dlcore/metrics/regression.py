"""Mean squared and mean absolute error."""

import jax
import jax.numpy as jnp


def mse(y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike) -> jax.Array:
    """Mean squared error over every element.

    ``mean((y_true - y_pred)**2)``. For ``(N, K)`` targets this is the mean over all
    ``N * K`` entries, which equals scikit-learn's ``multioutput="uniform_average"``.

    Args:
      y_true: targets, any shape.
      y_pred: predictions, the same shape.

    Returns:
      Scalar float.

    Warning:
      Not the root (RMSE), and not half the squared error (``optax.l2_loss`` has a 1/2).

    Example:
      >>> mse(jnp.array([1.0, 2.0, 3.0]), jnp.array([1.0, 2.0, 5.0]))
      Array(1.3333334, dtype=float32)

    References:
      ``sklearn.metrics.mean_squared_error``.
    """
    diff = jnp.asarray(y_true) - jnp.asarray(y_pred)
    return jnp.mean(jnp.square(diff))


def mae(y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike) -> jax.Array:
    """Mean absolute error over every element.

    ``mean(|y_true - y_pred|)``, over all ``N * K`` entries for ``(N, K)`` inputs
    (scikit-learn's ``multioutput="uniform_average"``).

    Args:
      y_true: targets, any shape.
      y_pred: predictions, the same shape.

    Returns:
      Scalar float.

    Example:
      >>> mae(jnp.array([1.0, 2.0, 3.0]), jnp.array([1.0, 2.0, 5.0]))
      Array(0.6666667, dtype=float32)

    References:
      ``sklearn.metrics.mean_absolute_error``.
    """
    diff = jnp.asarray(y_true) - jnp.asarray(y_pred)
    return jnp.mean(jnp.abs(diff))
