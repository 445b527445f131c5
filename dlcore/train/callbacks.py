"""Keras 3 ``EarlyStopping`` as a callback for dlcore's ``fit``."""

import warnings

from flax import nnx

from dlcore.train.early_stopping import early_stopping_init, early_stopping_update


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
