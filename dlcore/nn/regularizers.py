"""Weight penalties (L1, L2) with optax-style masks, and the L1 proximal operator."""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp


def expand_mask(mask: Any, params: Any) -> Any:
    """Turn an optax-style mask into one Python bool per leaf of ``params`` (not jitted).

    ``None`` selects every leaf; a callable is called as ``mask(params)``; a pytree of bools
    may stop at any prefix of ``params`` (a bool then covers the whole subtree), as in
    ``optax.masked``. True means "the penalty or decay applies here".

    Args:
      mask: ``None``, a pytree of bools shaped like ``params`` (or a prefix of it), or a
        callable ``params -> such a pytree``.
      params: the params pytree.

    Returns:
      A pytree with the structure of ``params`` and a Python ``bool`` at every leaf.

    Example:
      >>> expand_mask(lambda p: {"b": False, "w": True}, {"b": jnp.ones(2), "w": jnp.ones(3)})
      {'b': False, 'w': True}

    References:
      ``optax.masked``: https://optax.readthedocs.io/en/latest/api/optimizer_wrappers.html
    """
    if mask is None:
        return jax.tree.map(lambda _: True, params)
    if callable(mask):
        mask = mask(params)
    # A bool leaf of the mask may stand for a whole subtree of params.
    return jax.tree.map(lambda m, sub: jax.tree.map(lambda _: bool(m), sub), mask, params)


def l2_penalty(
    params: Any,
    lam: jax.typing.ArrayLike,
    *,
    mask: Any | Callable[[Any], Any] | None = None,
) -> jax.Array:
    r"""The L2 (ridge) penalty with the one-half convention.

    .. math:: R(w) = \tfrac{1}{2}\, \lambda \sum_{\text{masked leaves}} \sum_i w_i^2,
       \qquad \nabla R = \lambda w \text{ on masked leaves, } 0 \text{ elsewhere.}

    The gradient ``lam * w`` is exactly the update of ``optax.add_decayed_weights(lam, mask)``,
    so SGD on ``loss + l2_penalty(params, lam)`` is SGD with weight decay ``lam``.

    Args:
      params: a pytree of float arrays.
      lam: the strength :math:`\lambda` (may be traced).
      mask: ``None`` (every leaf, biases included), a pytree of bools (True = penalized), or
        a callable ``params -> pytree of bools``, as in optax. Static.

    Returns:
      A float32 scalar.

    Warning:
      Keras' ``regularizers.L2(l)`` adds ``l * sum(w**2)`` without the one half, so it equals
      weight decay ``2 * l`` under SGD. PyTorch has no penalty function: its
      ``weight_decay=wd`` adds ``wd * w`` to the gradient, like this one with ``lam = wd``.

    Example:
      >>> params = {"w": jnp.array([1.0, -2.0]), "b": jnp.array([3.0])}
      >>> l2_penalty(params, 0.1)
      Array(0.7, dtype=float32)
      >>> l2_penalty(params, 0.1, mask={"w": True, "b": False})
      Array(0.25, dtype=float32)

    References:
      Krogh and Hertz, `A Simple Weight Decay Can Improve Generalization
      <https://papers.nips.cc/paper/563>`_, NeurIPS 1991; ``optax.add_decayed_weights``.
    """
    leaves = jax.tree.leaves(params)
    flags = jax.tree.leaves(expand_mask(mask, params))
    total = jnp.zeros([], jnp.float32)
    for flag, leaf in zip(flags, leaves, strict=True):
        if flag:
            total = total + jnp.sum(jnp.square(leaf))
    return 0.5 * lam * total


def l1_penalty(
    params: Any,
    lam: jax.typing.ArrayLike,
    *,
    mask: Any | Callable[[Any], Any] | None = None,
) -> jax.Array:
    r"""The L1 (lasso) penalty.

    .. math:: R(w) = \lambda \sum_{\text{masked leaves}} \sum_i |w_i|,
       \qquad \nabla R = \lambda\, \mathrm{sign}(w) \ (w \neq 0).

    Args:
      params: a pytree of float arrays.
      lam: the strength :math:`\lambda` (may be traced).
      mask: ``None`` (every leaf), a pytree of bools (True = penalized), or a callable
        ``params -> pytree of bools``, as in optax. Static.

    Returns:
      A float32 scalar.

    Warning:
      ``jax.grad(jnp.abs)(0.0)`` is 1.0, not 0, so a (sub)gradient step never lands a weight
      exactly on zero; use :func:`prox_l1` for that. Keras' ``L1(l)`` is the same formula.

    Example:
      >>> l1_penalty({"w": jnp.array([1.0, -2.0]), "b": jnp.array([3.0])}, 0.5)
      Array(3., dtype=float32)

    References:
      Tibshirani, `Regression Shrinkage and Selection via the Lasso
      <https://doi.org/10.1111/j.2517-6161.1996.tb02080.x>`_, JRSS B, 1996.
    """
    leaves = jax.tree.leaves(params)
    flags = jax.tree.leaves(expand_mask(mask, params))
    total = jnp.zeros([], jnp.float32)
    for flag, leaf in zip(flags, leaves, strict=True):
        if flag:
            total = total + jnp.sum(jnp.abs(leaf))
    return lam * total


def prox_l1(w: jax.typing.ArrayLike, t: jax.typing.ArrayLike) -> jax.Array:
    r"""Soft-thresholding: the proximal operator of :math:`t\,\|\cdot\|_1`.

    .. math:: \mathrm{prox}_{t\|\cdot\|_1}(w) = \arg\min_z \tfrac12 (z - w)^2 + t |z|
       = \mathrm{sign}(w) \max(|w| - t, 0),

    elementwise. Every entry with :math:`|w| \le t` becomes exactly 0, which is how L1 makes
    weights sparse (ISTA: a gradient step on the smooth loss, then ``prox_l1(w, lr * lam)``).

    Args:
      w: an array of any shape.
      t: the threshold, ``t >= 0`` (may be traced; broadcasts against ``w``).

    Returns:
      An array of the shape and dtype of ``w``.

    Example:
      >>> prox_l1(jnp.array([-2.0, -0.5, 0.0, 0.5, 1.0, 3.0]), 1.0)
      Array([-1., -0.,  0.,  0.,  0.,  2.], dtype=float32)

    References:
      Beck and Teboulle, `A Fast Iterative Shrinkage-Thresholding Algorithm
      <https://doi.org/10.1137/080716542>`_, SIAM J. Imaging Sciences, 2009.
    """
    w = jnp.asarray(w)
    shrunk = jnp.maximum(jnp.abs(w) - t, 0).astype(w.dtype)
    return jnp.sign(w) * shrunk
