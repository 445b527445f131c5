"""q04 Overfitting: a train/validation split, early stopping and the L2 penalty.

Graded tasks: train_val_split, early_stopping_init, early_stopping_update, l2_penalty.
Replace each `raise NotImplementedError(...)` with your code; read README.md first.
Check your work with: python -m grader exercises/q04
"""

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp


# Given: use it as it is.
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


# Task: graded.
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
    raise NotImplementedError('q04 train_val_split: write this function (see README.md)')


# Task: graded.
def early_stopping_init(
    patience: jax.typing.ArrayLike, min_delta: jax.typing.ArrayLike = 0.0
) -> dict[str, jax.Array]:
    """The initial early-stopping state: nothing seen yet, nothing to wait for.

    Every leaf is a jax array, so the state can be carried through ``jit`` and ``lax.scan``
    and ``patience``/``min_delta`` are data, not static arguments (no retrace when they
    change).

    Args:
      patience: how many epochs without improvement to tolerate (int).
      min_delta: the smallest decrease that counts as an improvement (its absolute value is
        used, as in Keras).

    Returns:
      ``{"best": inf (float32), "wait": 0, "epoch": 0, "patience", "min_delta",
      "stopped": False}``, all scalar arrays (int32, float32, bool).

    Example:
      >>> state = early_stopping_init(2)
      >>> state["best"], state["wait"], state["stopped"]
      (Array(inf, dtype=float32), Array(0, dtype=int32), Array(False, dtype=bool))

    References:
      ``keras.callbacks.EarlyStopping`` (Keras 3): https://keras.io/api/callbacks/early_stopping/
    """
    raise NotImplementedError('q04 early_stopping_init: write this function (see README.md)')


# Task: graded.
def early_stopping_update(
    state: dict[str, Any], val_loss: jax.typing.ArrayLike
) -> tuple[dict[str, jax.Array], jax.Array, jax.Array]:
    r"""Feed one epoch's validation loss; say whether it improved and whether to stop.

    The rule of Keras 3 ``EarlyStopping(mode="min")``:

    - ``improved = val_loss < best - min_delta`` (strict, so a plateau or a NaN never
      improves);
    - if improved, ``best = val_loss`` and ``wait = 0``; otherwise ``wait += 1``;
    - ``should_stop = stopped or (not improved and wait >= patience and epoch > 0)``,
      sticky: once True it stays True;
    - ``epoch += 1``.

    So with ``patience = p`` training stops at the ``p``-th epoch in a row without
    improvement (never at the first epoch). To maximize a metric, feed its negative.

    Args:
      state: from :func:`early_stopping_init` or a previous update.
      val_loss: a float scalar (may be traced).

    Returns:
      ``(state, should_stop, improved)``; the two flags are bool scalar arrays. Runs eagerly,
      under ``jit`` and as a ``lax.scan`` body (no Python branch on values).

    Warning:
      ``flax.training.early_stopping.EarlyStopping`` compares the patience count *before*
      incrementing it, so it stops one epoch later than Keras for ``patience >= 1``, and it
      cannot be traced. The point to roll back to is the best epoch, not the last one:
      keep its weights (``restore_best_weights`` in Keras and in dlcore's ``fit``).

    Example:
      >>> state = early_stopping_init(patience=1)
      >>> for loss in [1.0, 0.5, 0.6, 0.7]:
      ...     state, stop, improved = early_stopping_update(state, loss)
      ...     print(bool(improved), bool(stop))
      True False
      True False
      False True
      False True

    References:
      ``keras.callbacks.EarlyStopping`` (Keras 3): https://keras.io/api/callbacks/early_stopping/;
      Prechelt, `Early Stopping - But When? <https://doi.org/10.1007/3-540-49430-8_3>`_, 1998.
    """
    raise NotImplementedError('q04 early_stopping_update: write this function (see README.md)')


# Task: graded.
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
    raise NotImplementedError('q04 l2_penalty: write this function (see README.md)')
