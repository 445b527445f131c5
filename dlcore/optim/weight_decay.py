"""Decoupled weight decay as a gradient transformation, and SGD with weight decay."""

from collections.abc import Callable
from typing import Any

import jax
import optax

from dlcore.nn.regularizers import expand_mask
from dlcore.optim.base import scale_by_learning_rate


def add_decayed_weights(
    weight_decay: jax.typing.ArrayLike = 0.0,
    mask: Any | Callable[[Any], Any] | None = None,
) -> optax.GradientTransformation:
    r"""Add ``weight_decay * params`` to the updates of the masked leaves.

    .. math:: u \leftarrow u + \lambda\, \theta \ \text{(masked leaves)}, \qquad
       u \leftarrow u \ \text{(the others)}

    Args:
      weight_decay: the decay :math:`\lambda` (may be traced).
      mask: ``None`` (every leaf, biases included), a pytree of bools (True = decayed), or a
        callable ``params -> pytree of bools``, as in optax.

    Returns:
      An ``optax.GradientTransformation`` with state ``optax.EmptyState()``. Its ``update``
      needs ``params`` and raises ``ValueError`` without them.

    Warning:
      ``optax.add_decayed_weights(wd, mask)`` wraps itself in ``optax.masked``, so its state
      is a ``MaskedState``; this one keeps an ``EmptyState``. The updates are the same.

    Example:
      >>> tx = add_decayed_weights(0.1, mask={"w": True, "b": False})
      >>> params = {"w": jnp.array([2.0]), "b": jnp.array([2.0])}
      >>> tx.update({"w": jnp.zeros(1), "b": jnp.zeros(1)}, tx.init(params), params)[0]
      {'b': Array([0.], dtype=float32), 'w': Array([0.2], dtype=float32)}

    References:
      Loshchilov and Hutter, `Decoupled Weight Decay Regularization
      <https://arxiv.org/abs/1711.05101>`_, ICLR 2019; ``optax.add_decayed_weights``.
    """

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("add_decayed_weights needs the params: call update(g, s, params)")
        flags = expand_mask(mask, params)
        updates = jax.tree.map(
            lambda g, p, f: (g + weight_decay * p).astype(g.dtype) if f else g,
            updates,
            params,
            flags,
        )
        return updates, state

    return optax.GradientTransformation(init_fn, update_fn)


def sgd_weight_decay(
    learning_rate: float | jax.Array | Callable[[jax.Array], jax.Array],
    weight_decay: jax.typing.ArrayLike,
    *,
    mask: Any | Callable[[Any], Any] | None = None,
) -> optax.GradientTransformation:
    r"""Plain SGD with weight decay on the masked leaves.

    .. math:: \theta \leftarrow \theta - \eta_t\,(g + \lambda\,\theta) \ \text{(masked)},
       \qquad \theta \leftarrow \theta - \eta_t\, g \ \text{(the others)}

    For plain SGD this is the same trajectory as gradient descent on
    ``loss + l2_penalty(params, weight_decay, mask=mask)``.

    Args:
      learning_rate: a scalar :math:`\eta` or an optax schedule ``count -> eta`` (called with
        the 0-based step index).
      weight_decay: :math:`\lambda`.
      mask: as in :func:`add_decayed_weights`.

    Returns:
      An ``optax.GradientTransformation``:
      ``chain(add_decayed_weights(weight_decay, mask), scale_by_learning_rate(learning_rate))``,
      the same as ``optax.chain(optax.add_decayed_weights(wd, mask), optax.sgd(lr))``.

    Warning:
      PyTorch's ``SGD(weight_decay=wd)`` is this update. Keras' ``L2(l)`` penalty has no one
      half, so it equals ``weight_decay = 2 * l``.

    Example:
      >>> tx = sgd_weight_decay(0.1, 0.5)
      >>> params = jnp.array([2.0])
      >>> tx.update(jnp.array([1.0]), tx.init(params), params)[0]
      Array([-0.2], dtype=float32)

    References:
      Hanson and Pratt, `Comparing Biases for Minimal Network Construction with
      Back-Propagation <https://papers.nips.cc/paper/156>`_, NeurIPS 1988.
    """
    return optax.chain(
        add_decayed_weights(weight_decay, mask), scale_by_learning_rate(learning_rate)
    )
