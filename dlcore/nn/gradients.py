"""Gradient diagnostics: per-layer and global norms, global-norm clipping, NaN/Inf detection."""

from typing import Any

import jax
import jax.numpy as jnp


def global_norm(tree: Any) -> jax.Array:
    """Euclidean norm of a whole pytree: ``sqrt(sum over every leaf of sum(g^2))``.

    Args:
      tree: any pytree of arrays (gradients, parameters).

    Returns:
      A float scalar, as ``optax.tree.norm(tree)``.

    Example:
      >>> global_norm({"w": jnp.array([3.0]), "b": [jnp.array(4.0)]})
      Array(5., dtype=float32)

    References:
      ``optax.tree.norm`` (``optax.global_norm`` is deprecated since optax 0.2.6).
    """
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.zeros((), jnp.float32)
    squares = [jnp.sum(jnp.square(jnp.asarray(leaf))) for leaf in leaves]
    return jnp.sqrt(sum(squares))


def layer_grad_norms(grads: list[Any]) -> jax.Array:
    """Gradient norm of each layer: entry ``l`` is ``sqrt(sum of g^2)`` over layer ``l``'s leaves.

    Plotting these over depth is how vanishing (norms shrinking towards the input) and
    exploding (growing) gradients show up.

    Args:
      grads: a list of per-layer pytrees, e.g. ``[{"w": ..., "b": ...}, ...]``.

    Returns:
      A float32 array of shape ``(L,)``.

    Example:
      >>> layer_grad_norms([{"w": jnp.array([3.0, 4.0])}, {"w": jnp.zeros(2), "b": jnp.ones(1)}])
      Array([5., 1.], dtype=float32)

    References:
      Glorot and Bengio, "Understanding the difficulty of training deep feedforward neural
      networks", AISTATS 2010 (per-layer gradient statistics).
    """
    return jnp.stack([global_norm(layer) for layer in grads]).astype(jnp.float32)


def clip_by_global_norm(grads: Any, max_norm: jax.typing.ArrayLike) -> Any:
    """Rescales a gradient pytree so that its global norm is at most ``max_norm``.

    With ``n = global_norm(grads)``: leaves are returned unchanged if ``n < max_norm``, else
    each is multiplied by ``max_norm / n``. All leaves share one factor, so the update keeps
    its direction. Zero gradients stay zero (the unused ``0/0`` branch is never selected and
    its NaN never reaches the result). ``max_norm`` may be a traced scalar.

    Args:
      grads: any pytree of float arrays.
      max_norm: the threshold, a positive scalar.

    Returns:
      A pytree of the structure and shapes of ``grads``, as
      ``optax.clip_by_global_norm(max_norm).update(grads, state)[0]``.

    Warning:
      PyTorch's ``clip_grad_norm_`` multiplies by ``min(1, max_norm / (n + 1e-6))``, so a
      clipped norm lands slightly below ``max_norm``; Keras's ``clipnorm`` clips each
      variable separately (``global_clipnorm`` is the global one).

    Example:
      >>> clip_by_global_norm({"a": jnp.array([3.0, 4.0])}, 1.0)["a"]
      Array([0.6, 0.8], dtype=float32)

    References:
      Pascanu, Mikolov and Bengio, "On the difficulty of training recurrent neural
      networks", ICML 2013, https://arxiv.org/abs/1211.5063; ``optax.clip_by_global_norm``.
    """
    norm = global_norm(grads)

    def clip(g):
        g = jnp.asarray(g)
        return jnp.where(norm < max_norm, g, (g / norm) * max_norm).astype(g.dtype)

    return jax.tree.map(clip, grads)


def detect_nonfinite(tree: Any) -> jax.Array:
    """True if any floating-point leaf of ``tree`` holds a NaN or an infinity.

    Integer and boolean leaves can hold neither and are skipped. Jittable: the result is a
    boolean array, so it can drive ``lax.cond`` or ``jnp.where`` (skip a bad update) inside a
    compiled training step.

    Args:
      tree: any pytree of arrays.

    Returns:
      A scalar boolean array.

    Example:
      >>> detect_nonfinite({"w": jnp.array([1.0, jnp.inf]), "step": jnp.array(3)})
      Array(True, dtype=bool)

    References:
      ``chex.assert_tree_all_finite``; ``optax.apply_if_finite``; the ``jax_debug_nans``
      config flag.
    """
    flags = [
        jnp.any(~jnp.isfinite(leaf))
        for leaf in map(jnp.asarray, jax.tree.leaves(tree))
        if jnp.issubdtype(leaf.dtype, jnp.inexact)
    ]
    if not flags:
        return jnp.asarray(False)
    return jnp.any(jnp.stack(flags))
