"""Early stopping as a pure, jittable state update (Keras 3 semantics)."""

from typing import Any

import jax
import jax.numpy as jnp


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
    return {
        "best": jnp.asarray(jnp.inf, jnp.float32),
        "wait": jnp.zeros([], jnp.int32),
        "epoch": jnp.zeros([], jnp.int32),
        "patience": jnp.asarray(patience, jnp.int32),
        "min_delta": jnp.abs(jnp.asarray(min_delta, jnp.float32)),
        "stopped": jnp.zeros([], jnp.bool_),
    }


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
    val_loss = jnp.asarray(val_loss, jnp.float32)
    improved = val_loss < state["best"] - state["min_delta"]
    best = jnp.where(improved, val_loss, state["best"])
    wait = jnp.where(improved, 0, state["wait"] + 1).astype(jnp.int32)
    exhausted = jnp.logical_and(wait >= state["patience"], state["epoch"] > 0)
    should_stop = jnp.logical_or(state["stopped"], jnp.logical_and(~improved, exhausted))
    new_state = dict(state, best=best, wait=wait, epoch=state["epoch"] + 1, stopped=should_stop)
    return new_state, should_stop, improved
