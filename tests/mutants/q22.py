"""Known-wrong and correct-but-different q22 solutions (fit, evaluate, EarlyStopping, port).

Check ids and the property each one grades (the grader's reference is dlcore; the models and
data are described in grader/specs/q22.py: "MLP" Linear-relu-Dropout(0.2)-Linear, "MLP-BN"
with a BatchNorm after the first Linear; 1000 digits for training = 15 batches of 64 and
one of 40, 797 for validation).

fit/history_keys        {loss, accuracy} without val, {loss, accuracy, val_loss,
                        val_accuracy} with it; one Python float per epoch run (also when a
                        callback with only on_epoch_end stops after 2 of 4 epochs).
fit/matches_reference   3 epochs of fit(key(5), MLP(Rngs(0)), adam(1e-3), train, val, bs 64)
                        equal dlcore's: every variable incl. RNG counts and every history
                        value (rtol 1e-6, atol 1e-6).
fit/traces              5 epochs without val trace the model's __call__ at most twice.
fit/keys                ck.prng: the same key gives bitwise-equal weights, key(2) others.
fit/early_stopping_restores  MLP-BN, adam(3e-2), EarlyStopping(patience=2,
                        restore_best_weights=True): evaluate(val)["loss"] after fit equals
                        min(history["val_loss"]) (rtol 1e-6; measured best epoch 3 of 6).
fit/train_digits        TRAIN: MLP 64-128-10, adam(1e-3), bs 64, 20 epochs on the stratified
                        75/25 split: val accuracy (eval mode, the probe's own forward pass)
                        >= 0.94 (measured 0.958-0.960 over seeds 0-4).
evaluate/matches        loss and accuracy equal dlcore's on MLP-BN left in train mode
                        (batch_size None and 100; rtol 1e-5).
evaluate/batch_size_invariant  batch_size 7, 64, 797 give the batch_size=None result (1e-6).
evaluate/no_side_effects  every variable (RNG streams, BatchStats) bitwise unchanged; a
                        second call (after model.train()) returns the same dict.
early_stopping/matches_keras  the first stopping epoch for patience {0, 1, 3}, min_delta
                        {0, .02}, monitors val_loss (auto), val_accuracy (auto: max) and
                        score (mode="max") on 7 scripted sequences equals dlcore's (itself
                        checked against a Keras 3 transcription in tests/test_train.py);
                        one callback per config, restarted by on_train_begin.
early_stopping/restores_best  the spec's own loop (one full-batch Adam step per epoch on
                        MLP-BN, scripted "score" 3, 1, 2, 2.5, 2.7, 2.9): with patience 10
                        over 4 epochs and patience 2 over 6, every variable but the RNG
                        streams ends bitwise equal to the state after epoch 1.
port_train/matches_numpy  200 steps of 32 (lr .1, momentum .9) and 60 of 16 (.05, .5):
                        losses and params within 1e-5 of dlcore's port (2.4e-7 from NumPy).
port_train/one_trace    ck.retrace(eager=True): new batches, learning rate and momentum
                        trigger no new trace after the first call.
port_train/forbidden    no numpy (nor keras, tensorflow, torch, flax.training) in port_train
                        or the module functions it calls.

Class-only code: tests/grading.py finds the file to splice into by the *function* names the
code defines, so each EarlyStopping mutant also carries a pass-through wrapper of the given
``early_stopping_init`` (``_WITH_FILE``). The splice also drops the decorators of the code's
own definitions, so jitted alternatives bind ``name = jax.jit(_impl)`` instead of ``@jax.jit``.
"""

from tests.grading import Alternative, Mutant

# A plain fit with markers that each mutant swaps for its mistake.
_FIT = """
def fit(key, model, tx, train, val=None, *, epochs, batch_size, callbacks=()):
    x, y = jnp.asarray(train[0]), jnp.asarray(train[1])
    n = x.shape[0]
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    names = ["loss", "accuracy"] + (["val_loss", "val_accuracy"] if val is not None else [])
    history = {name: [] for name in names}
    for callback in callbacks:
        if hasattr(callback, "on_train_begin"):
            callback.on_train_begin(model)
    for epoch in range(epochs):
        model.train()
        perm = @PERM@
        step = @STEP@
        losses, accs, sizes = [], [], []
        for start in range(0, @STOP@, batch_size):
            idx = perm[start : start + batch_size]
            loss, acc = step(model, optimizer, x[idx], @LABELS@)
            losses.append(loss)
            accs.append(acc)
            sizes.append(@WEIGHT@)
        w = jnp.asarray(sizes, jnp.float32)
        logs = {"loss": float(jnp.sum(jnp.stack(losses) * w) / jnp.sum(w)),
                "accuracy": float(jnp.sum(jnp.stack(accs) * w) / jnp.sum(w))}
        @VAL@
        for name in names:
            history[name].append(logs[name])
        stop = False
        for callback in callbacks:
            if hasattr(callback, "on_epoch_end"):
                stop = bool(callback.on_epoch_end(epoch, logs, model)) or stop
        if stop:
            break
    @TRAIN_END@
    return history


def _step_body(model, optimizer, x, y):
    def loss_fn(model):
        logits = model(x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), logits

    (loss, logits), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model)
    optimizer.update(model, grads)
    return loss, jnp.mean(jnp.argmax(logits, axis=-1) == y)
"""

_GOOD = {
    "@PERM@": "jax.random.permutation(jax.random.fold_in(key, epoch), n)",
    "@STEP@": "train_step",
    "@STOP@": "n",
    "@WEIGHT@": "idx.shape[0]",
    "@LABELS@": "y[idx]",
    "@TRAIN_END@": """for callback in callbacks:
        if hasattr(callback, "on_train_end"):
            callback.on_train_end(model)""",
    "@VAL@": """if val is not None:
            model.eval()
            scores = evaluate(model, val)
            logs["val_loss"], logs["val_accuracy"] = scores["loss"], scores["accuracy"]""",
}


def _fit(**changes):
    code = _FIT
    for marker, default in _GOOD.items():
        code = code.replace(marker, changes.get(marker.strip("@").lower(), default))
    return code


# A plain EarlyStopping in Keras' own words, with markers for the mistakes.
_ES = """
class EarlyStopping:
    def __init__(self, monitor="val_loss", patience=0, min_delta=0.0, mode="auto",
                 restore_best_weights=False):
        if mode not in ("min", "max", "auto"):
            raise ValueError(mode)
        if mode == "auto":
            mode = @AUTO@
        self.monitor, self.patience, self.min_delta = monitor, patience, abs(min_delta)
        self.mode, self.restore_best_weights = mode, restore_best_weights
        self.on_train_begin(None)

    def on_train_begin(self, model):
        self.best = float("inf") if self.mode == "min" else -float("inf")
        self.wait, self.best_weights, self.best_epoch, self.stopped_epoch = 0, None, None, None

    def _improved(self, current):
        if self.mode == "min":
            return current < self.best - self.min_delta
        return current > self.best + self.min_delta

    def _snapshot(self, model):
        return @SNAPSHOT@

    def on_epoch_end(self, epoch, logs, model):
        current = float(logs[self.monitor])
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self._snapshot(model), epoch
        @WAIT_BEFORE@
        if self._improved(current):
            self.best, self.best_epoch, self.wait = current, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self._snapshot(model)
            return self.stopped_epoch is not None
        @ALWAYS_SNAPSHOT@
        @WAIT_AFTER@
        if @STOP_RULE@ and epoch > 0 and self.stopped_epoch is None:
            self.stopped_epoch = epoch
        return self.stopped_epoch is not None

    def on_train_end(self, model):
        if self.restore_best_weights and self.best_weights is not None @ONLY_ON_STOP@:
            nnx.update(model, self.best_weights)
"""

_ES_GOOD = {
    "@AUTO@": '"max" if "acc" in monitor else "min"',
    "@SNAPSHOT@": "nnx.clone(nnx.state(model, nnx.Not(nnx.RngState)))",
    "@WAIT_BEFORE@": "self.wait += 1",
    "@ALWAYS_SNAPSHOT@": "",
    "@WAIT_AFTER@": "",
    "@STOP_RULE@": "self.wait >= self.patience",
    "@ONLY_ON_STOP@": "",
}


# See the module docstring: gives class-only code a function name the exercise lists.
_WITH_FILE = """

def early_stopping_init(patience, min_delta=0.0):
    return _original_early_stopping_init(patience, min_delta)
"""


def _es(**changes):
    code = _ES
    for marker, default in _ES_GOOD.items():
        code = code.replace(marker, changes.get(marker.strip("@").lower(), default))
    return code + _WITH_FILE


MUTANTS = [
    # ---- fit ------------------------------------------------------------------------------
    Mutant("fit_same_permutation", "fit", "fit/matches_reference",
           _fit(perm="jax.random.permutation(key, n)")),
    Mutant("fit_numpy_shuffle", "fit", "fit/keys", "import numpy as np\n" + _fit(
        perm="jnp.asarray(np.random.permutation(n))")),
    Mutant("fit_drops_partial_batch", "fit", "fit/matches_reference",
           _fit(stop="n - n % batch_size")),
    Mutant("fit_unweighted_epoch_mean", "fit", "fit/matches_reference", _fit(weight="1")),
    Mutant("fit_jit_inside_loop", "fit", "fit/traces", _fit(step="nnx.jit(_step_body)")),
    Mutant("fit_no_jit", "fit", "fit/traces", _fit(step="_step_body")),
    Mutant("fit_validation_in_train_mode", "fit", "fit/matches_reference",
           _fit(val="""if val is not None:
            vx, vy = jnp.asarray(val[0]), jnp.asarray(val[1])
            logits = model(vx)  # still in train mode: dropout and batch statistics
            logs["val_loss"] = float(
                optax.softmax_cross_entropy_with_integer_labels(logits, vy).mean())
            logs["val_accuracy"] = float(jnp.mean(jnp.argmax(logits, -1) == vy))""")),
    Mutant("fit_shuffles_inputs_only", "fit", "fit/train_digits",
           _fit(labels="y[start : start + batch_size]")),
    Mutant("fit_skips_train_end", "fit", "fit/early_stopping_restores", _fit(train_end="pass")),
    Mutant("fit_requires_every_callback_method", "fit", "fit/history_keys",
           _fit(train_end="""for callback in callbacks:
        callback.on_train_end(model)""")),
    Mutant("fit_history_arrays", "fit", "fit/history_keys", """
def fit(key, model, tx, train, val=None, *, epochs, batch_size, callbacks=()):
    history = _original_fit(key, model, tx, train, val, epochs=epochs, batch_size=batch_size,
                            callbacks=callbacks)
    return {k: [jnp.float32(v) for v in vs] for k, vs in history.items()}
"""),
    # ---- evaluate -------------------------------------------------------------------------
    Mutant("evaluate_in_train_mode", "evaluate", "evaluate/no_side_effects", """
def evaluate(model, data, *, batch_size=None):
    x, y = jnp.asarray(data[0]), jnp.asarray(data[1])
    logits = model(x)  # the mode the model happens to be in
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return {"loss": float(loss), "accuracy": float(jnp.mean(jnp.argmax(logits, -1) == y))}
"""),
    Mutant("evaluate_sums_not_means", "evaluate", "evaluate/matches", """
def evaluate(model, data, *, batch_size=None):
    x, y = jnp.asarray(data[0]), jnp.asarray(data[1])
    n = x.shape[0]
    batch_size = n if batch_size is None else batch_size
    model.eval()
    loss, correct = 0.0, 0.0
    for start in range(0, n, batch_size):
        batch = eval_step(model, x[start:start + batch_size], y[start:start + batch_size])
        loss, correct = loss + float(batch[0]), correct + float(batch[1])
    return {"loss": loss, "accuracy": correct / n}
"""),
    Mutant("evaluate_unweighted_batches", "evaluate", "evaluate/batch_size_invariant", """
def evaluate(model, data, *, batch_size=None):
    x, y = jnp.asarray(data[0]), jnp.asarray(data[1])
    n = x.shape[0]
    batch_size = n if batch_size is None else batch_size
    model.eval()
    losses, accs = [], []
    for start in range(0, n, batch_size):
        stop = start + batch_size
        loss_sum, correct = eval_step(model, x[start:stop], y[start:stop])
        size = min(batch_size, n - start)
        losses.append(loss_sum / size)
        accs.append(correct / size)
    return {"loss": float(jnp.mean(jnp.stack(losses))),
            "accuracy": float(jnp.mean(jnp.stack(accs)))}
"""),
    Mutant("evaluate_drops_partial_batch", "evaluate", "evaluate/batch_size_invariant", """
def evaluate(model, data, *, batch_size=None):
    x, y = jnp.asarray(data[0]), jnp.asarray(data[1])
    n = x.shape[0]
    batch_size = n if batch_size is None else batch_size
    used = n - n % batch_size
    return _original_evaluate(model, (x[:used], y[:used]), batch_size=batch_size)
"""),
    # ---- EarlyStopping --------------------------------------------------------------------
    Mutant("es_flax_off_by_one", "EarlyStopping", "early_stopping/matches_keras",
           _es(wait_before="", wait_after="self.wait += 1",
               stop_rule="self.wait - 1 >= self.patience")),
    Mutant("es_auto_always_min", "EarlyStopping", "early_stopping/matches_keras",
           _es(auto='"min"')),
    Mutant("es_restores_last_weights", "EarlyStopping", "early_stopping/restores_best",
           _es(always_snapshot="self.best_weights = self._snapshot(model) "
               "if self.restore_best_weights else None")),
    Mutant("es_restores_params_only", "EarlyStopping", "early_stopping/restores_best",
           _es(snapshot="nnx.clone(nnx.state(model, nnx.Param))")),
    Mutant("es_restores_only_on_early_stop", "EarlyStopping", "early_stopping/restores_best",
           _es(only_on_stop="and self.stopped_epoch is not None")),
    Mutant("es_snapshot_without_copy", "EarlyStopping", "early_stopping/restores_best",
           _es(snapshot="nnx.state(model, nnx.Not(nnx.RngState))")),
    # ---- port_train -----------------------------------------------------------------------
    Mutant("port_dampening", "port_train", "port_train/matches_numpy", """
@jax.jit
def port_train(params, x, y, batches, *, learning_rate, momentum=0.9):
    def step(carry, idx):
        params, v = carry
        loss, grads = jax.value_and_grad(mlp_tanh_loss)(params, x[idx], y[idx])
        v = jax.tree.map(lambda v, g: momentum * v + (1 - momentum) * g, v, grads)
        params = jax.tree.map(lambda p, v: p - learning_rate * v, params, v)
        return (params, v), loss

    carry = (params, jax.tree.map(jnp.zeros_like, params))
    (params, _), losses = jax.lax.scan(step, carry, batches)
    return params, losses
"""),
    Mutant("port_loss_after_update", "port_train", "port_train/matches_numpy", """
@jax.jit
def port_train(params, x, y, batches, *, learning_rate, momentum=0.9):
    def step(carry, idx):
        params, v = carry
        grads = jax.grad(mlp_tanh_loss)(params, x[idx], y[idx])
        v = jax.tree.map(lambda v, g: momentum * v + g, v, grads)
        params = jax.tree.map(lambda p, v: p - learning_rate * v, params, v)
        return (params, v), mlp_tanh_loss(params, x[idx], y[idx])

    carry = (params, jax.tree.map(jnp.zeros_like, params))
    (params, _), losses = jax.lax.scan(step, carry, batches)
    return params, losses
"""),
    Mutant("port_jit_per_call", "port_train", "port_train/one_trace", """
def port_train(params, x, y, batches, *, learning_rate, momentum=0.9):
    x, y = jnp.asarray(x), jnp.asarray(y)

    @jax.jit  # a new function, so a new trace, on every call
    def run(params, batches, learning_rate, momentum):
        def step(carry, idx):
            params, v = carry
            loss, grads = jax.value_and_grad(mlp_tanh_loss)(params, x[idx], y[idx])
            v = jax.tree.map(lambda v, g: momentum * v + g, v, grads)
            params = jax.tree.map(lambda p, v: p - learning_rate * v, params, v)
            return (params, v), loss

        carry = (params, jax.tree.map(jnp.zeros_like, params))
        (params, _), losses = jax.lax.scan(step, carry, batches)
        return params, losses

    return run(params, batches, learning_rate, momentum)
"""),
    Mutant("port_static_hyperparameters", "port_train", "port_train/one_trace", """
def _port(params, x, y, batches, *, learning_rate, momentum):
    def step(carry, idx):
        params, v = carry
        loss, grads = jax.value_and_grad(mlp_tanh_loss)(params, x[idx], y[idx])
        v = jax.tree.map(lambda v, g: momentum * v + g, v, grads)
        params = jax.tree.map(lambda p, v: p - learning_rate * v, params, v)
        return (params, v), loss

    carry = (params, jax.tree.map(jnp.zeros_like, params))
    (params, _), losses = jax.lax.scan(step, carry, batches)
    return params, losses


_port_jit = jax.jit(_port, static_argnames=("learning_rate", "momentum"))


def port_train(params, x, y, batches, *, learning_rate, momentum=0.9):
    return _port_jit(params, x, y, batches, learning_rate=learning_rate, momentum=momentum)
"""),
    Mutant("port_no_jit", "port_train", "port_train/one_trace", """
def port_train(params, x, y, batches, *, learning_rate, momentum=0.9):
    def step(carry, idx):
        params, v = carry
        loss, grads = jax.value_and_grad(mlp_tanh_loss)(params, x[idx], y[idx])
        v = jax.tree.map(lambda v, g: momentum * v + g, v, grads)
        params = jax.tree.map(lambda p, v: p - learning_rate * v, params, v)
        return (params, v), loss

    carry = (params, jax.tree.map(jnp.zeros_like, params))
    (params, _), losses = jax.lax.scan(step, carry, batches)
    return params, losses
"""),
    Mutant("port_calls_the_numpy_loop", "port_train", "port_train/forbidden", """
def port_train(params, x, y, batches, *, learning_rate, momentum=0.9):
    out, losses = train(params, x, y, batches, learning_rate=learning_rate, momentum=momentum)
    return jax.tree.map(jnp.asarray, out), jnp.asarray(losses)
""", status="forbidden"),
    Mutant("port_numpy_inside", "port_train", "port_train/forbidden", """
import numpy as np


def port_train(params, x, y, batches, *, learning_rate, momentum=0.9):
    return _original_port_train(params, np.asarray(x), np.asarray(y), np.asarray(batches),
                                learning_rate=learning_rate, momentum=momentum)
""", status="forbidden"),
]

ALTERNATIVES = [
    Alternative("fit_python_float_sums", "fit", _fit(weight="idx.shape[0]")
                .replace("losses.append(loss)", "losses.append(float(loss))")
                .replace("accs.append(acc)", "accs.append(float(acc))")
                .replace("jnp.stack(losses)", "jnp.asarray(losses)")
                .replace("jnp.stack(accs)", "jnp.asarray(accs)")),
    Alternative("evaluate_weighted_batch_means", "evaluate", """
def evaluate(model, data, *, batch_size=None):
    x, y = jnp.asarray(data[0]), jnp.asarray(data[1])
    n = x.shape[0]
    step = n if batch_size is None else batch_size
    model.eval()
    total_loss = total_correct = 0.0
    for start in range(0, n, step):
        loss_sum, correct = eval_step(model, x[start:start + step], y[start:start + step])
        size = min(step, n - start)
        total_loss += float(loss_sum / size) * size
        total_correct += float(correct)
    return {"loss": total_loss / n, "accuracy": total_correct / n}
"""),
    Alternative("fit_log_softmax_step", "fit", _fit() + """

def _log_softmax_step(model, optimizer, x, y):
    def loss_fn(model):
        logits = model(x)
        picked = jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=-1)
        return -jnp.mean(picked), logits

    (loss, logits), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model)
    optimizer.update(model, grads)
    return loss, jnp.mean((jnp.argmax(logits, axis=-1) == y).astype(jnp.float32))


train_step = nnx.jit(_log_softmax_step)
"""),
    Alternative("es_keras_style_python", "EarlyStopping", _es()),
    Alternative("es_snapshot_with_rng_streams", "EarlyStopping",
                _es(snapshot="nnx.clone(nnx.state(model))")),
    Alternative("port_with_optax_sgd", "port_train", """
def _port(params, x, y, batches, learning_rate, momentum):
    tx = optax.sgd(learning_rate, momentum)

    def step(carry, idx):
        params, state = carry
        loss, grads = jax.value_and_grad(mlp_tanh_loss)(params, x[idx], y[idx])
        updates, state = tx.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), loss

    (params, _), losses = jax.lax.scan(step, (params, tx.init(params)), batches)
    return params, losses


_port_jit = jax.jit(_port)


def port_train(params, x, y, batches, *, learning_rate, momentum=0.9):
    return _port_jit(params, x, y, batches, learning_rate, momentum)
"""),
]
