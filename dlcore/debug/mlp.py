"""The small dropout MLP that the debugging exercise trains (given, not a task)."""

import jax
import jax.numpy as jnp

from dlcore.nn.dropout import dropout


def init_mlp(key: jax.Array, sizes: tuple[int, int, int] = (64, 64, 10)) -> dict[str, jax.Array]:
    """He-normal weights and zero biases for a one-hidden-layer MLP.

    Args:
      key: a ``jax.random.key``; split once per weight matrix.
      sizes: ``(D, H, C)``: inputs, hidden units, classes; static.

    Returns:
      ``{"w1": (D, H), "b1": (H,), "w2": (H, C), "b2": (C,)}``, float32, with
      ``w ~ N(0, 2 / fan_in)``.

    Example:
      >>> p = init_mlp(jax.random.key(0))
      >>> p["w1"].shape, p["b2"].shape
      ((64, 64), (10,))

    References:
      He et al., "Delving Deep into Rectifiers", https://arxiv.org/abs/1502.01852, 2015.
    """
    d, h, c = sizes
    k1, k2 = jax.random.split(key)
    return {
        "w1": jax.random.normal(k1, (d, h)) * jnp.sqrt(2.0 / d),
        "b1": jnp.zeros((h,)),
        "w2": jax.random.normal(k2, (h, c)) * jnp.sqrt(2.0 / h),
        "b2": jnp.zeros((c,)),
    }


def mlp_apply(
    params: dict[str, jax.Array],
    x: jax.typing.ArrayLike,
    *,
    key: jax.Array | None,
    rate: float,
    deterministic: bool,
) -> jax.Array:
    """Logits of ``relu(x W1 + b1)``, with dropout on the hidden layer, times ``W2`` plus ``b2``.

    Args:
      params: ``{"w1": (D, H), "b1": (H,), "w2": (H, C), "b2": (C,)}``.
      x: ``(B, D)`` inputs.
      key: a ``jax.random.key`` for the dropout mask, used once; may be ``None`` when
        ``deterministic``.
      rate: dropout rate; static.
      deterministic: True turns dropout off (evaluation); static.

    Returns:
      ``(B, C)`` logits (never probabilities).

    Example:
      >>> p = init_mlp(jax.random.key(0), (4, 8, 3))
      >>> mlp_apply(p, jnp.ones((2, 4)), key=None, rate=0.5, deterministic=True).shape
      (2, 3)

    References:
      Srivastava et al., "Dropout", JMLR 15, 2014,
      https://jmlr.org/papers/v15/srivastava14a.html.
    """
    # Explicit [None, :]: the bias broadcast also passes jax_numpy_rank_promotion="raise".
    h = jax.nn.relu(jnp.asarray(x) @ params["w1"] + params["b1"][None, :])
    h = dropout(key, h, rate, deterministic=deterministic)
    return h @ params["w2"] + params["b2"][None, :]
