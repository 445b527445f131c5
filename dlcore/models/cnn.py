"""A small CNN for 8x8 grayscale digits, built only from dlcore layers."""

import jax
import jax.numpy as jnp

from dlcore.nn.activations import relu
from dlcore.nn.conv import conv2d
from dlcore.nn.linear import dense
from dlcore.nn.pooling import max_pool

_CONV1_FEATURES = 16
_CONV2_FEATURES = 32


def _he_normal(key: jax.Array, shape: tuple[int, ...], fan_in: int) -> jax.Array:
    """Normal with variance ``2 / fan_in`` (He et al., 2015), suited to ReLU layers."""
    return jax.random.normal(key, shape, jnp.float32) * jnp.sqrt(2.0 / fan_in)


def init_cnn(key: jax.Array, num_classes: int = 10) -> dict:
    """Initializes the parameters of :func:`cnn_apply`.

    Conv kernels (HWIO) are He-normal (``std = sqrt(2 / (KH * KW * C_in))``), the dense
    head LeCun-normal (``std = sqrt(1 / D)``), all biases zero.

    Args:
      key: a ``jax.random.key``; split once per layer.
      num_classes: number of output logits.

    Returns:
      ``{"conv1": {"w": (3, 3, 1, 16), "b": (16,)}, "conv2": {"w": (3, 3, 16, 32),
      "b": (32,)}, "dense": {"w": (512, num_classes), "b": (num_classes,)}}``.

    Example:
      >>> params = init_cnn(jax.random.key(0))
      >>> params["conv2"]["w"].shape, params["dense"]["w"].shape
      ((3, 3, 16, 32), (512, 10))

    References:
      He et al., "Delving Deep into Rectifiers", https://arxiv.org/abs/1502.01852, 2015;
      LeCun et al., "Efficient BackProp", 1998.
    """
    k1, k2, k3 = jax.random.split(key, 3)
    flat = 4 * 4 * _CONV2_FEATURES
    return {
        "conv1": {
            "w": _he_normal(k1, (3, 3, 1, _CONV1_FEATURES), 9),
            "b": jnp.zeros(_CONV1_FEATURES),
        },
        "conv2": {
            "w": _he_normal(k2, (3, 3, _CONV1_FEATURES, _CONV2_FEATURES), 9 * _CONV1_FEATURES),
            "b": jnp.zeros(_CONV2_FEATURES),
        },
        "dense": {
            "w": jax.random.normal(k3, (flat, num_classes), jnp.float32) / jnp.sqrt(flat),
            "b": jnp.zeros(num_classes),
        },
    }


def cnn_apply(params: dict, x: jax.typing.ArrayLike) -> jax.Array:
    """Logits of the small digits CNN.

    ``conv3x3(16, SAME) -> relu -> max_pool 2 -> conv3x3(32, SAME) -> relu -> flatten ->
    dense``: ``(N, 8, 8, 1) -> (N, 8, 8, 16) -> (N, 4, 4, 16) -> (N, 4, 4, 32) -> (N, 512)
    -> (N, num_classes)``.

    Args:
      params: as returned by :func:`init_cnn`.
      x: images in ``[0, 1]``, shape ``(N, 8, 8, 1)``, NHWC.

    Returns:
      Logits of shape ``(N, num_classes)`` (no softmax; losses take logits).

    Example:
      >>> params = init_cnn(jax.random.key(0))
      >>> cnn_apply(params, jnp.zeros((2, 8, 8, 1))).shape
      (2, 10)

    References:
      LeCun et al., "Gradient-Based Learning Applied to Document Recognition", 1998.
    """
    h = relu(conv2d(x, params["conv1"]["w"], params["conv1"]["b"], padding="SAME"))
    h = max_pool(h, 2, 2)
    h = relu(conv2d(h, params["conv2"]["w"], params["conv2"]["b"], padding="SAME"))
    h = h.reshape((h.shape[0], -1))
    return dense(h, params["dense"]["w"], params["dense"]["b"])
