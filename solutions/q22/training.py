"""q22 Frameworks in practice: reference solution.

Generated from dlcore.train.callbacks, dlcore.train.early_stopping, dlcore.train.fitting, dlcore.train.numpy_reference, dlcore.train.port by tools/gen_exercises.py; edit dlcore, then
regenerate. Graded tasks: fit, evaluate, EarlyStopping, port_train.
"""

import warnings
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax import lax


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


def init_params(seed: int, d: int, h: int, c: int) -> dict[str, np.ndarray]:
    """Glorot-scaled normal weights and zero biases for a ``d -> h -> c`` tanh MLP.

    Args:
      seed: seed of ``np.random.default_rng``.
      d: input size.
      h: hidden size.
      c: number of classes.

    Returns:
      ``{"w1": (d, h), "b1": (h,), "w2": (h, c), "b2": (c,)}``, float32.

    Example:
      >>> {k: v.shape for k, v in init_params(0, 4, 3, 2).items()}
      {'w1': (4, 3), 'b1': (3,), 'w2': (3, 2), 'b2': (2,)}

    References:
      Glorot and Bengio, "Understanding the difficulty of training deep feedforward neural
      networks", AISTATS 2010.
    """
    rng = np.random.default_rng(seed)
    return {
        "w1": (rng.standard_normal((d, h)) * np.sqrt(2.0 / (d + h))).astype(np.float32),
        "b1": np.zeros(h, np.float32),
        "w2": (rng.standard_normal((h, c)) * np.sqrt(2.0 / (h + c))).astype(np.float32),
        "b2": np.zeros(c, np.float32),
    }


def loss_and_grads(
    params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray
) -> tuple[np.float32, dict[str, np.ndarray]]:
    r"""Mean softmax cross-entropy of the tanh MLP and its gradients, by hand.

    .. math:: h = \tanh(x W_1 + b_1), \quad z = h W_2 + b_2, \quad
       L = \frac1B \sum_i \big(\log \textstyle\sum_c e^{z_{ic}} - z_{i y_i}\big)

    Args:
      params: ``{"w1", "b1", "w2", "b2"}`` float32 arrays.
      x: inputs ``(B, d)`` float32.
      y: integer labels ``(B,)``.

    Returns:
      ``(loss, grads)``, with ``grads`` shaped like ``params``.

    Example:
      >>> p = init_params(0, 4, 3, 2)
      >>> loss, g = loss_and_grads(p, np.ones((5, 4), np.float32), np.zeros(5, int))
      >>> g["w1"].shape, loss.dtype
      ((4, 3), dtype('float32'))

    References:
      Rumelhart, Hinton and Williams, "Learning representations by back-propagating errors",
      Nature 323, 1986.
    """
    batch = x.shape[0]
    h = np.tanh(x @ params["w1"] + params["b1"])
    z = h @ params["w2"] + params["b2"]
    z = z - z.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(batch), y].mean()
    dz = np.exp(log_probs)
    dz[np.arange(batch), y] -= 1.0
    dz /= batch
    dh = (dz @ params["w2"].T) * (1.0 - h**2)
    grads = {
        "w1": x.T @ dh,
        "b1": dh.sum(axis=0),
        "w2": h.T @ dz,
        "b2": dz.sum(axis=0),
    }
    return np.float32(loss), grads


def train(
    params: dict[str, np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    batches: np.ndarray,
    *,
    learning_rate: float,
    momentum: float = 0.9,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    r"""Heavy-ball SGD over the given mini-batches.

    .. math:: v \leftarrow \mu v + g, \qquad \theta \leftarrow \theta - \eta v

    (no dampening, as ``optax.sgd(lr, momentum)``), with :math:`v = 0` at the start.

    Args:
      params: the initial params (not modified).
      x: all inputs ``(N, d)`` float32.
      y: all labels ``(N,)``.
      batches: ``(S, B)`` int indices into ``x``; one step per row.
      learning_rate: :math:`\eta`.
      momentum: :math:`\mu`.

    Returns:
      ``(params, losses)``: the final params and the ``(S,)`` float32 losses, each taken
      *before* its step's update.

    Example:
      >>> p = init_params(0, 4, 3, 2)
      >>> x, y = np.ones((6, 4), np.float32), np.arange(6) % 2
      >>> _, losses = train(p, x, y, np.arange(6).reshape(3, 2), learning_rate=0.1)
      >>> losses.shape
      (3,)

    References:
      Polyak, "Some methods of speeding up the convergence of iteration methods", 1964.
    """
    params = {k: v.copy() for k, v in params.items()}
    velocity: dict[str, Any] = {k: np.zeros_like(v) for k, v in params.items()}
    losses = np.zeros(len(batches), np.float32)
    lr = np.float32(learning_rate)
    mu = np.float32(momentum)
    for step, idx in enumerate(batches):
        loss, grads = loss_and_grads(params, x[idx], y[idx])
        losses[step] = loss
        for k in params:
            velocity[k] = mu * velocity[k] + grads[k]
            params[k] = params[k] - lr * velocity[k]
    return params, losses


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


def mlp_tanh_loss(params: Any, x: jax.typing.ArrayLike, y: jax.typing.ArrayLike) -> jax.Array:
    r"""Mean softmax cross-entropy of the 2-layer tanh MLP.

    .. math:: h = \tanh(x W_1 + b_1), \quad z = h W_2 + b_2, \quad
       L = \mathrm{mean}_i\, \mathrm{CE}(z_i, y_i)

    Args:
      params: ``{"w1": (D, H), "b1": (H,), "w2": (H, C), "b2": (C,)}``.
      x: inputs ``(B, D)``.
      y: integer labels ``(B,)``.

    Returns:
      A float32 scalar.

    Example:
      >>> p = {"w1": jnp.zeros((4, 3)), "b1": jnp.zeros(3), "w2": jnp.zeros((3, 2)),
      ...      "b2": jnp.zeros(2)}
      >>> mlp_tanh_loss(p, jnp.ones((5, 4)), jnp.zeros(5, int))  # log 2
      Array(0.6931472, dtype=float32)

    References:
      ``optax.softmax_cross_entropy_with_integer_labels``.
    """
    # Explicit (1, H) biases: the batch axis is broadcast on purpose, not by rank promotion.
    h = jnp.tanh(x @ params["w1"] + params["b1"][None, :])
    logits = h @ params["w2"] + params["b2"][None, :]
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


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


class EarlyStopping:
    """Stop ``fit`` when a monitored log stops improving (Keras 3 ``EarlyStopping``).

    The rule is :func:`early_stopping_update` (``improved`` means better than the best by
    more than ``min_delta``; stop after ``patience`` epochs in a row without improvement,
    never at the first epoch; a NaN never improves). ``mode="auto"`` maximizes when "acc"
    is in the monitor's name and minimizes otherwise. With ``restore_best_weights``, all
    variables but the RNG streams (``nnx.state(model, nnx.Not(nnx.RngState))``: Params,
    BatchStats, any custom ``nnx.Variable``) are copied at the best epoch and put back in
    ``on_train_end``, whether or not training stopped early. The dropout streams are not
    rewound, so training on after a restore draws fresh masks.

    Args:
      monitor: the key of the epoch logs to watch.
      patience: epochs without improvement to tolerate.
      min_delta: the smallest change that counts as an improvement.
      mode: ``"min"``, ``"max"`` or ``"auto"``.
      restore_best_weights: restore the best epoch's variables at the end of training.

    Warning:
      Keras 2 (``tf.keras``) restored the best weights only after an early stop; Keras 3
      and dlcore restore them at the end of every run. ``flax.training``'s
      ``EarlyStopping`` stops one epoch later than Keras.

    Example:
      >>> callback = EarlyStopping(patience=1)
      >>> [callback.on_epoch_end(e, {"val_loss": v}, None) for e, v in enumerate([3, 2, 2])]
      [False, False, True]

    References:
      ``keras.callbacks.EarlyStopping`` (Keras 3): https://keras.io/api/callbacks/early_stopping/
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 0,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best_weights: bool = False,
    ):
        if mode not in ("min", "max", "auto"):
            raise ValueError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.sign = -1.0 if mode == "max" else 1.0
        self.restore_best_weights = restore_best_weights
        self.on_train_begin(None)

    def on_train_begin(self, model: nnx.Module | None) -> None:
        """Forget everything seen so far (a new run starts).

        Args:
          model: the model about to be trained (unused).
        """
        del model
        self.state = early_stopping_init(self.patience, self.min_delta)
        self.best_weights = None
        self.best_epoch = None
        self.stopped_epoch = None

    def on_epoch_end(self, epoch: int, logs: dict[str, float], model: nnx.Module | None) -> bool:
        """Record the epoch's monitored value; return True to stop training.

        Args:
          epoch: the 0-based epoch index.
          logs: the epoch's logs; a missing monitor key is skipped with a warning.
          model: the model, whose variables are copied on improvement.

        Returns:
          Whether training should stop now.
        """
        if self.monitor not in logs:
            warnings.warn(f"EarlyStopping: {self.monitor!r} is not in the logs", stacklevel=2)
            return False
        current = float(logs[self.monitor])
        if self.restore_best_weights and self.best_weights is None:
            # Keras: before any improvement, the first epoch's weights are the best known.
            self.best_weights = nnx.clone(nnx.state(model, nnx.Not(nnx.RngState)))
            self.best_epoch = epoch
        # Maximizing x is minimizing -x; a NaN stays NaN and never improves.
        self.state, stop, improved = early_stopping_update(self.state, self.sign * current)
        if bool(improved):
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = nnx.clone(nnx.state(model, nnx.Not(nnx.RngState)))
        if bool(stop) and self.stopped_epoch is None:
            self.stopped_epoch = epoch
        return bool(stop)

    def on_train_end(self, model: nnx.Module | None) -> None:
        """Put the best epoch's variables back into ``model`` if asked to.

        Args:
          model: the trained model, updated in place.
        """
        if self.restore_best_weights and self.best_weights is not None:
            nnx.update(model, self.best_weights)


@jax.jit
def port_train(
    params: Any,
    x: jax.typing.ArrayLike,
    y: jax.typing.ArrayLike,
    batches: jax.typing.ArrayLike,
    *,
    learning_rate: jax.typing.ArrayLike,
    momentum: jax.typing.ArrayLike = 0.9,
) -> tuple[Any, jax.Array]:
    r"""``numpy_reference.train`` in JAX: one jitted ``lax.scan`` over the mini-batches.

    .. math:: L_s = L(\theta; x_{b_s}, y_{b_s}), \quad v \leftarrow \mu v + \nabla L_s,
       \quad \theta \leftarrow \theta - \eta v

    Heavy-ball momentum without dampening (``optax.sgd(lr, momentum)``), :math:`v_0 = 0`;
    gradients by ``jax.grad`` instead of the NumPy backward pass. ``learning_rate`` and
    ``momentum`` are traced, so changing them does not recompile.

    Args:
      params: ``{"w1": (D, H), "b1": (H,), "w2": (H, C), "b2": (C,)}`` float32.
      x: all inputs ``(N, D)`` float32.
      y: all labels ``(N,)`` int.
      batches: ``(S, B)`` int indices into ``x``; one step per row.
      learning_rate: :math:`\eta`.
      momentum: :math:`\mu`.

    Returns:
      ``(params, losses)``: the final params and the ``(S,)`` losses, each taken before its
      step's update.

    Warning:
      PyTorch's ``SGD(dampening=d)`` would use ``v = mu * v + (1 - d) * g``, and Keras
      folds the learning rate into the velocity; the NumPy loop does neither.

    Example:
      >>> p = {"w1": jnp.zeros((4, 3)), "b1": jnp.zeros(3), "w2": jnp.zeros((3, 2)),
      ...      "b2": jnp.zeros(2)}
      >>> x, y = jnp.ones((6, 4)), jnp.arange(6) % 2
      >>> _, losses = port_train(p, x, y, jnp.arange(6).reshape(3, 2), learning_rate=0.1)
      >>> losses.shape
      (3,)

    References:
      Polyak, "Some methods of speeding up the convergence of iteration methods", 1964;
      ``jax.lax.scan``.
    """
    x = jnp.asarray(x)
    y = jnp.asarray(y)

    def step(carry, idx):
        params, velocity = carry
        loss, grads = jax.value_and_grad(mlp_tanh_loss)(params, x[idx], y[idx])
        velocity = jax.tree.map(lambda v, g: momentum * v + g, velocity, grads)
        params = jax.tree.map(lambda p, v: p - learning_rate * v, params, velocity)
        return (params, velocity), loss

    velocity = jax.tree.map(jnp.zeros_like, params)
    (params, _), losses = lax.scan(step, (params, velocity), jnp.asarray(batches))
    return params, losses
