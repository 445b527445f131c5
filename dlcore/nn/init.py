"""Glorot (Xavier) uniform and He (Kaiming) truncated-normal weight initialization."""

import math

import jax
import jax.numpy as jnp

# Standard deviation of a standard normal truncated to (-2, 2).
_TRUNCATED_STD = 0.87962566103423978


def _fans(shape: tuple[int, ...]) -> tuple[float, float]:
    """``(fan_in, fan_out)`` of a dense ``(in, out)`` or conv ``(*window, in, out)`` kernel.

    ``fan_in = shape[-2] * rf`` and ``fan_out = shape[-1] * rf`` with the receptive-field size
    ``rf = prod(shape[:-2])``, as ``jax.nn.initializers`` computes them (HWIO layout).
    """
    if len(shape) < 2:
        raise ValueError(f"a weight shape needs at least 2 axes (in, out), got {shape}")
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def init_xavier(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Glorot/Xavier uniform initialization: ``U(-a, a)`` with ``a = sqrt(6 / (fan_in + fan_out))``.

    This keeps the variance ``a^2 / 3 = 2 / (fan_in + fan_out)``, the compromise between
    preserving the forward signal (``1 / fan_in``) and the backward gradient
    (``1 / fan_out``) of a linear or tanh layer. Equal (rtol 1e-6) to
    ``jax.nn.initializers.glorot_uniform()(key, shape)``.

    Args:
      key: a ``jax.random.key``; used once.
      shape: ``(fan_in, fan_out)`` for a dense kernel or ``(*window, in, out)`` for a conv
        kernel (HWIO); static.

    Returns:
      A float32 array of ``shape``.

    Warning:
      Keras's default ``glorot_uniform`` computes the same fans. PyTorch's
      ``xavier_uniform_`` reads a conv weight as ``(out, in, *window)``, so the same formula
      with the fans taken from the first two axes; ``nn.Linear``'s own default is not Xavier
      but ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.

    Example:
      >>> w = init_xavier(jax.random.key(0), (64, 32))
      >>> w.shape, bool(jnp.all(jnp.abs(w) <= (6 / 96) ** 0.5))
      ((64, 32), True)

    References:
      Glorot and Bengio, "Understanding the difficulty of training deep feedforward neural
      networks", AISTATS 2010; ``jax.nn.initializers.glorot_uniform``.
    """
    fan_in, fan_out = _fans(tuple(shape))
    variance = jnp.asarray(2.0 / (fan_in + fan_out), dtype=jnp.float32)
    return jax.random.uniform(key, shape, jnp.float32, -1.0, 1.0) * jnp.sqrt(3.0 * variance)


def init_he(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """He/Kaiming normal initialization with variance ``2 / fan_in``, truncated at 2 std.

    ``w = truncated_normal(-2, 2) * sqrt(2 / fan_in) / 0.8796...``: the truncated standard
    normal has standard deviation 0.8796, so dividing by it restores variance
    ``2 / fan_in``, which keeps the signal scale of a ReLU layer (half its inputs are zeroed).
    Equal (rtol 1e-6) to ``jax.nn.initializers.he_normal()(key, shape)``.

    Args:
      key: a ``jax.random.key``; used once.
      shape: ``(fan_in, fan_out)`` or ``(*window, in, out)`` (HWIO); static.

    Returns:
      A float32 array of ``shape``.

    Warning:
      PyTorch's ``kaiming_normal_`` draws from an untruncated normal (same variance, other
      values) and by default takes ``fan_in`` from a ``(out, in, *window)`` weight; Keras's
      ``he_normal`` is truncated like jax's.

    Example:
      >>> w = init_he(jax.random.key(0), (512, 512))
      >>> round(float(jnp.var(w) * 512), 1)
      2.0

    References:
      He et al., "Delving Deep into Rectifiers", ICCV 2015, https://arxiv.org/abs/1502.01852;
      ``jax.nn.initializers.he_normal``.
    """
    fan_in, _ = _fans(tuple(shape))
    variance = jnp.asarray(2.0 / fan_in, dtype=jnp.float32)
    std = jnp.sqrt(variance) / jnp.asarray(_TRUNCATED_STD, dtype=jnp.float32)
    return jax.random.truncated_normal(key, -2.0, 2.0, shape, jnp.float32) * std
