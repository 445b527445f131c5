"""Keras-style ``fit`` and ``evaluate`` for Flax NNX classifiers."""

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx


@nnx.jit
def train_step(
    model: nnx.Module, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """One optimizer step on a batch; the loss and accuracy come from the same forward pass.

    Args:
      model: an ``nnx.Module`` mapping ``x`` to logits (in train mode).
      optimizer: ``nnx.Optimizer(model, tx, wrt=nnx.Param)``.
      x: a batch of inputs ``(B, ...)``.
      y: integer labels ``(B,)``.

    Returns:
      ``(loss, accuracy)`` of the batch *before* the update (float32 scalars).

    Example:
      >>> model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
      >>> opt = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)
      >>> loss, acc = train_step(model, opt, jnp.ones((4, 3)), jnp.zeros(4, jnp.int32))
      >>> loss.shape, acc.shape
      ((), ())

    References:
      Flax NNX ``nnx.Optimizer`` and ``nnx.value_and_grad``.
    """

    def loss_fn(model):
        logits = model(x)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return loss, logits

    (loss, logits), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model)
    optimizer.update(model, grads)
    return loss, jnp.mean(jnp.argmax(logits, axis=-1) == y)


@nnx.jit
def eval_step(model: nnx.Module, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Summed cross-entropy and number of correct predictions on a batch (no update).

    Args:
      model: an ``nnx.Module`` mapping ``x`` to logits (in eval mode).
      x: a batch of inputs ``(B, ...)``.
      y: integer labels ``(B,)``.

    Returns:
      ``(loss_sum, num_correct)``, float32 scalars.

    Example:
      >>> model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
      >>> loss_sum, correct = eval_step(model, jnp.ones((4, 3)), jnp.zeros(4, jnp.int32))
      >>> correct.dtype
      dtype('float32')

    References:
      ``optax.softmax_cross_entropy_with_integer_labels``.
    """
    logits = model(x)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).sum()
    return loss, jnp.sum(jnp.argmax(logits, axis=-1) == y).astype(jnp.float32)


def evaluate(
    model: nnx.Module, data: tuple[Any, Any], *, batch_size: int | None = None
) -> dict[str, float]:
    """Mean cross-entropy and accuracy of a classifier on a data set (not jitted).

    The model is put in eval mode (``model.eval()``: dropout off, BatchNorm on its running
    statistics), so no variable changes. The means are over examples, so the result does
    not depend on ``batch_size`` (the partial last batch is kept).

    Args:
      model: an ``nnx.Module`` mapping inputs to logits.
      data: ``(x, y)``, with integer labels ``y``.
      batch_size: examples per forward pass; ``None`` means all at once.

    Returns:
      ``{"loss": float, "accuracy": float}``.

    Example:
      >>> model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
      >>> sorted(evaluate(model, (jnp.ones((5, 3)), jnp.zeros(5, jnp.int32))))
      ['accuracy', 'loss']

    References:
      ``keras.Model.evaluate``: https://keras.io/api/models/model_training_apis/
    """
    x, y = jnp.asarray(data[0]), jnp.asarray(data[1])
    n = x.shape[0]
    batch_size = n if batch_size is None else batch_size
    model.eval()
    loss_sum = jnp.zeros([], jnp.float32)
    correct = jnp.zeros([], jnp.float32)
    for start in range(0, n, batch_size):
        batch_loss, batch_correct = eval_step(
            model, x[start : start + batch_size], y[start : start + batch_size]
        )
        loss_sum = loss_sum + batch_loss
        correct = correct + batch_correct
    return {"loss": float(loss_sum / n), "accuracy": float(correct / n)}


def fit(
    key: jax.Array,
    model: nnx.Module,
    tx: optax.GradientTransformation,
    train: tuple[Any, Any],
    val: tuple[Any, Any] | None = None,
    *,
    epochs: int,
    batch_size: int,
    callbacks: Sequence[Any] = (),
) -> dict[str, list[float]]:
    """Train a classifier with mini-batch steps, Keras style (not jitted; the step is).

    Each epoch ``e``: ``model.train()``; shuffle with
    ``jax.random.permutation(jax.random.fold_in(key, e), n)``; one jitted step per batch in
    that order, the partial last batch included. ``loss``/``accuracy`` are the per-batch
    values (before each update) averaged with weights = batch sizes. Then ``model.eval()``
    and, with ``val``, ``val_loss``/``val_accuracy`` from :func:`evaluate`. Then each
    callback's ``on_epoch_end(epoch, logs, model)``; any True return stops training.
    Callbacks may also define ``on_train_begin(model)`` and ``on_train_end(model)``. The
    model is updated in place, owns its dropout ``Rngs``, and ends in eval mode.

    Args:
      key: a ``jax.random.key`` for the shuffling only.
      model: an ``nnx.Module`` mapping inputs to logits; its ``nnx.Param`` are trained.
      tx: an optax transformation.
      train: ``(x, y)`` with integer labels.
      val: optional ``(x, y)`` evaluated after every epoch.
      epochs: the maximum number of epochs.
      batch_size: examples per step.
      callbacks: objects with any of the three methods above.

    Returns:
      The history: ``{"loss", "accuracy"}`` (plus ``"val_loss"``, ``"val_accuracy"`` with
      ``val``) mapped to lists of Python floats, one per epoch run.

    Warning:
      The epoch ``loss`` averages over batches taken while the weights were changing, so it
      is not the loss of the final weights (Keras reports the same running figure).

    Example:
      >>> model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
      >>> data = (jnp.ones((10, 3)), jnp.zeros(10, jnp.int32))
      >>> history = fit(jax.random.key(0), model, optax.sgd(0.1), data, epochs=2,
      ...               batch_size=4)
      >>> len(history["loss"]), type(history["loss"][0])
      (2, <class 'float'>)

    References:
      ``keras.Model.fit``: https://keras.io/api/models/model_training_apis/; Flax NNX
      ``nnx.Optimizer``.
    """
    x, y = jnp.asarray(train[0]), jnp.asarray(train[1])
    n = x.shape[0]
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    names = ["loss", "accuracy"] + (["val_loss", "val_accuracy"] if val is not None else [])
    history: dict[str, list[float]] = {name: [] for name in names}
    for callback in callbacks:
        if hasattr(callback, "on_train_begin"):
            callback.on_train_begin(model)
    for epoch in range(epochs):
        model.train()
        perm = jax.random.permutation(jax.random.fold_in(key, epoch), n)
        loss_sum = jnp.zeros([], jnp.float32)
        correct = jnp.zeros([], jnp.float32)
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            loss, acc = train_step(model, optimizer, x[idx], y[idx])
            loss_sum = loss_sum + loss * idx.shape[0]
            correct = correct + acc * idx.shape[0]
        model.eval()
        logs = {"loss": float(loss_sum / n), "accuracy": float(correct / n)}
        if val is not None:
            scores = evaluate(model, val)
            logs["val_loss"], logs["val_accuracy"] = scores["loss"], scores["accuracy"]
        for name in names:
            history[name].append(logs[name])
        stop = False
        for callback in callbacks:
            if hasattr(callback, "on_epoch_end"):
                stop = bool(callback.on_epoch_end(epoch, logs, model)) or stop
        if stop:
            break
    for callback in callbacks:
        if hasattr(callback, "on_train_end"):
            callback.on_train_end(model)
    return history
