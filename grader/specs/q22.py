"""q22 Frameworks in practice: a Keras-style fit on Flax NNX, EarlyStopping, a NumPy->JAX port.

The NNX models are the spec's own (built in the call adapters, once per process, so that
``nnx.jit`` caches on one class and one optax object). "MLP" is Linear(64, H) -> relu ->
Dropout(0.2) -> Linear(H, 10); "MLP-BN" puts a BatchNorm after the first Linear. Both count
the traces of their ``__call__``. The data: scikit-learn's digits / 16, 1000 training
examples (15 batches of 64 and one of 40) and 797 validation examples.
"""

from __future__ import annotations

import functools

import numpy as np

from grader import checks as ck
from grader import props
from grader.spec import Exercise, FileSpec, case

_LIB: dict = {}  # per process: model class, optax objects, the restore check's step


def _lib():
    if not _LIB:
        from flax import nnx

        class Mlp(nnx.Module):
            traces = 0

            def __init__(self, hidden, norm, rngs):
                self.l1 = nnx.Linear(64, hidden, rngs=rngs)
                self.norm = nnx.BatchNorm(hidden, rngs=rngs) if norm else None
                self.drop = nnx.Dropout(0.2, rngs=rngs)
                self.l2 = nnx.Linear(hidden, 10, rngs=rngs)

            def __call__(self, x):
                Mlp.traces += 1  # once per trace under jit, once per call eagerly
                h = self.l1(x) if self.norm is None else self.norm(self.l1(x))
                return self.l2(self.drop(nnx.relu(h)))

        @nnx.jit
        def step(model, opt, x, y):  # the restore check's own step: full batch, no fit
            import optax

            def loss_fn(m):
                return optax.softmax_cross_entropy_with_integer_labels(m(x), y).mean()

            opt.update(model, nnx.grad(loss_fn)(model))

        _LIB.update(Mlp=Mlp, step=step)
    return _LIB


def _tx(lr):
    import optax

    return _lib().setdefault(("adam", lr), optax.adam(lr))


def _model(seed, hidden=32, norm=False, weights=None):
    from flax import nnx

    model = _lib()["Mlp"](hidden, norm, nnx.Rngs(seed))
    for name, w in (weights or {}).items():  # {"l1": kernel, "l2": kernel}
        getattr(model, name).kernel.value = w
    return model


def _state(model, rng=True):
    """Every variable (RNG keys as raw data) or all but the RNG streams, as nested dicts."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    st = nnx.state(model) if rng else nnx.state(model, nnx.Not(nnx.RngState))
    raw = lambda a: jax.random.key_data(a) if jnp.issubdtype(a.dtype, jax.dtypes.prng_key) else a  # noqa: E731
    return jax.tree.map(raw, nnx.to_pure_dict(st))


@functools.cache
def _digits(split):
    """"fit": 1000 train / 797 val (a fixed permutation); "train": a stratified 75/25 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x, y = (x / 16).astype(np.float32), y.astype(np.int32)
    p = np.random.default_rng(0).permutation(len(x))
    tr, va = (p[:1000], p[1000:]) if split == "fit" else train_test_split(
        np.arange(len(x)), test_size=0.25, random_state=0, stratify=y)
    return x[tr], y[tr], x[va], y[va]


def _fit_case(key, model=0, split="fit"):
    """fit(key(key), <the model built from Rngs(model)>, ...) on the digits split."""
    return case(ck.Key(key), *_digits(split), static={"seed": model},
                label=f"digits {split} split, key({key}), model from Rngs({model})")


class _StopAfter:  # a callback with only on_epoch_end (the other two are optional)
    def on_epoch_end(self, epoch, logs, model):
        return epoch >= 1


# ---- fit --------------------------------------------------------------------------------


def _run(fns, i, epochs, val=True, lr=1e-3, callbacks=(), **model):
    """fit on a fresh model built from Rngs(static seed); returns (model, history)."""
    key, xt, yt, xv, yv = i.args
    m = _model(i.static["seed"], **model)
    return m, fns.fit(key, m, _tx(lr), (xt, yt), (xv, yv) if val else None, epochs=epochs,
                      batch_size=64, callbacks=callbacks)


_RUNS = {"without val": False, "with val": True, "stopped by a callback after 2 of 4 epochs": True}


def _histories(fns, i):
    return {"without val": _run(fns, i, 2, val=False)[1], "with val": _run(fns, i, 2)[1],
            "stopped by a callback after 2 of 4 epochs": _run(fns, i, 4,
                                                              callbacks=[_StopAfter()])[1]}


def _history_ok(case, out):
    for run, val in _RUNS.items():  # every run lasts 2 epochs
        h, n = out[run], 2
        keys = {"loss", "accuracy"} | ({"val_loss", "val_accuracy"} if val else set())
        if not isinstance(h, dict) or set(h) != keys:
            return f"{run}: history keys {sorted(h)} != {sorted(keys)}"
        for k, v in h.items():
            if not isinstance(v, list) or len(v) != n or any(type(e) is not float for e in v):
                return f"{run}: history[{k!r}] = {v!r}; expected a list of {n} Python floats"
    return None


def _fit3(fns, i):
    model, history = _run(fns, i, 3)
    return {"state": _state(model), "history": history}


def _traces(fns, i):
    before = _lib()["Mlp"].traces
    _run(fns, i, 5, val=False)
    return {"traces": _lib()["Mlp"].traces - before}


def _restores_in_fit(fns, i):
    stop = fns.EarlyStopping(patience=2, restore_best_weights=True)
    model, history = _run(fns, i, 12, lr=3e-2, callbacks=[stop], norm=True)
    return {"best": min(history["val_loss"]), "evaluate": fns.evaluate(model, i.args[3:])["loss"]}


def _train(fns, i):
    import jax.numpy as jnp

    model, _ = _run(fns, i, 20, val=False, hidden=128)
    model.eval()  # accuracy measured here, not by the learner's evaluate
    return {"val_accuracy": float(jnp.mean(jnp.argmax(model(i.args[3]), -1) == i.args[4]))}


TRAIN_THRESHOLD = 0.94  # measured 0.958-0.960 over seeds 0-4 (see the report)

_FIT = (
    ck.invariant("fit", lambda rng: [_fit_case(0)], _history_ok, call=_histories,
                 id="history_keys", title="history keys, one Python float per epoch run",
                 batched=False, uses=("evaluate",),
                 hint="{'loss', 'accuracy'} (+ 'val_loss', 'val_accuracy' with val): lists "
                 "of float(...) values, appended once per epoch actually run"),
    ck.equivalence("fit", lambda rng: [_fit_case(5)], call=_fit3, rtol=1e-6, atol=1e-6,
                   id="matches_reference", title="3 epochs equal the reference recipe",
                   batched=False, uses=("evaluate",),
                   description="MLP with Dropout, Adam 1e-3, batch 64, 3 epochs with val: every "
                   "variable (RNG counts included) and every history value equal dlcore's fit",
                   hint="shuffle with permutation(fold_in(key, epoch), n); keep the partial "
                   "batch; weight batch means by batch size; validate in eval mode"),
    ck.invariant("fit", lambda rng: [_fit_case(1)], lambda c, out: None if out["traces"] <= 2
                 else f"5 epochs traced the model {out['traces']} times (at most 2: the full "
                 "and the partial batch shape)", call=_traces, id="traces",
                 kind="retrace", title="the step is traced at most twice in 5 epochs",
                 batched=False, hint="define the nnx.jit step once at module level; never "
                 "jit inside the loop"),
    ck.prng("fit", lambda rng: [case(*_fit_case(1).args, static={"seed": 0}, extras={
        "other_key": ck.Key(2)}, label="digits fit split, key(1), model from Rngs(0)")],
            call=lambda fns, i: _state(_run(fns, i, 1, val=False)[0], rng=False), id="keys",
            title="same key same weights, new key new weights",
            hint="shuffle with jax.random from the key argument; never np.random"),
    ck.invariant("fit", lambda rng: [_fit_case(2, model=2)], props.equal_parts(
        "best", "evaluate", what="evaluate(val) after fit against min(history['val_loss'])",
        rtol=1e-6), call=_restores_in_fit, id="early_stopping_restores", batched=False,
        title="with EarlyStopping(restore_best_weights) the best val_loss comes back",
        uses=("EarlyStopping", "evaluate"),
        hint="call every callback's on_train_end(model) after the last epoch"),
    ck.training("fit", lambda rng: [_fit_case(0, split="train")], _train, metric="val_accuracy",
                threshold=TRAIN_THRESHOLD, id="train_digits",
                description="MLP 64-128-10 with Dropout 0.2, Adam 1e-3, batch 64, 20 epochs on "
                "1347 digits; accuracy on the other 450 in eval mode"),
)

# ---- evaluate ---------------------------------------------------------------------------


def _eval_case(rng, **static):
    x, y = _digits("fit")[2:]
    w = {"l1": ck.normal(rng, (64, 32), 0.4), "l2": ck.normal(rng, (32, 10), 0.6)}
    return case(x, y, weights=w, static={"seed": 3, **static}, label="797 digits, MLP-BN "
                "left in train mode")


def _evaluate(fns, i):
    model = _model(i.static["seed"], norm=True, weights=i.kwargs["weights"])
    model.train()
    return fns.evaluate(model, tuple(i.args), **{k: v for k, v in i.static.items()
                                                 if k == "batch_size"})


def _twice(fns, i):
    model = _model(i.static["seed"], norm=True, weights=i.kwargs["weights"])
    model.train()
    before = _state(model)
    first = fns.evaluate(model, tuple(i.args))
    model.train()
    second = fns.evaluate(model, tuple(i.args))
    return {"before": before, "after": _state(model), "first": first, "second": second}


def _with_batch_size(i):
    return i.replace(static={**i.static, "batch_size": i.static["_bs"]})


_EVALUATE = (
    ck.equivalence("evaluate", lambda rng: [_eval_case(rng), _eval_case(rng, batch_size=100)],
                   call=_evaluate, rtol=1e-5, atol=1e-6, batched=False,
                   title="mean loss and accuracy in eval mode",
                   hint="model.eval(); sum the per-example losses and correct predictions, "
                   "divide by N; return Python floats"),
    ck.metamorphic("evaluate", lambda rng: [_eval_case(rng, _bs=b) for b in (7, 64, 797)],
                   call=_evaluate, transform=_with_batch_size, relation=lambda y, i: y,
                   rtol=1e-6, atol=1e-7, id="batch_size_invariant", batched=False,
                   title="batch_size 7, 64 and N give the batch_size=None result",
                   hint="weight each batch by its size and keep the partial last batch"),
    ck.invariant("evaluate", lambda rng: [_eval_case(rng)], props.all_of(
        props.equal_parts("before", "after", what="the model's variables (RNG streams and "
                          "BatchNorm statistics included) after evaluate", exact=True),
        props.equal_parts("first", "second", what="a second evaluate", exact=True)),
        call=_twice, id="no_side_effects", batched=False,
        title="changes no variable; two calls agree",
        hint="switch to eval mode (model.eval()) before the forward passes"),
)

# ---- EarlyStopping (a class task: ids are written out) -----------------------------------

_SEQUENCES = np.array([  # the scripted monitor values (tests/test_train.py, Keras 3 checked)
    [1.0, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8],
    [1.0, 0.99, 0.98, 0.97, 0.96, 0.95, 0.94, 0.93, 0.92, 0.91, 0.9, 0.89],
    [1.0, 0.9, 0.95, 0.97, 0.85, 0.9, 0.92, 0.96, 0.8, 0.99, 0.99, 0.7],
    [1.0, np.nan, 0.9, np.nan, np.nan, 0.5, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan],
    [1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 0.1, 0.05, 0.01, 0.001],
    [5.0, 4.0, 3.0, 2.0, 1.0, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.0],
    [1.0, 0.97, 0.99, 0.94, 0.96, 0.98, 0.91, 0.93, 0.95, 0.97, 0.99, 1.0],
], np.float32)
_MONITORS = [("val_loss", "auto", 1.0), ("val_accuracy", "auto", -1.0), ("score", "max", -1.0)]


def _stop_cases(rng):
    return [case(_SEQUENCES * sign, label="7 sequences", static={
        "monitor": m, "mode": mode, "patience": p, "min_delta": d})
        for m, mode, sign in _MONITORS for p in (0, 1, 3) for d in (0.0, 0.02)]


def _stop_epochs(fns, i):
    """The first epoch whose on_epoch_end returns True (12: never), per sequence; one
    callback for all, restarted by on_train_begin as fit does."""
    s = i.static
    cb = fns.EarlyStopping(s["monitor"], patience=s["patience"], min_delta=s["min_delta"],
                           mode=s["mode"])
    out = []
    for seq in np.asarray(i.args[0]).tolist():
        cb.on_train_begin(None)
        stop = len(seq)
        for epoch, value in enumerate(seq):
            if cb.on_epoch_end(epoch, {"loss": 0.5, s["monitor"]: value}, None):
                stop = epoch
                break
        out.append(stop)
    return out


_SCORES = [3.0, 1.0, 2.0, 2.5, 2.7, 2.9]  # monitor "score" (auto: min); best at epoch 1


def _restore_cases(rng):
    x, y = _digits("fit")[0][:200], _digits("fit")[1][:200]
    return [case(x, y, static={"patience": 10, "epochs": 4}, label="no early stop"),
            case(x, y, static={"patience": 2, "epochs": 6}, label="stops after epoch 3")]


def _restored(fns, i):
    from flax import nnx

    model = _model(4, norm=True)
    opt = nnx.Optimizer(model, _tx(1e-2), wrt=nnx.Param)
    cb = fns.EarlyStopping("score", patience=i.static["patience"], restore_best_weights=True)
    cb.on_train_begin(model)
    for epoch, score in enumerate(_SCORES[: i.static["epochs"]]):
        model.train()
        _lib()["step"](model, opt, *i.args)  # Params and BatchStats change in place
        model.eval()
        if cb.on_epoch_end(epoch, {"loss": 0.0, "score": score}, model):
            break
    cb.on_train_end(model)
    return _state(model, rng=False)


_EARLY = (
    ck.equivalence("EarlyStopping", _stop_cases, call=_stop_epochs, exact=True, batched=False,
                   id="early_stopping/matches_keras", title="stops at the epoch Keras 3 stops",
                   description="patience 0/1/3, min_delta 0/0.02, monitors val_loss (auto: "
                   "min), val_accuracy (auto: max) and score (mode='max'), 7 scripted "
                   "sequences with plateaus and NaN",
                   hint="wait += 1; improved = current < best - min_delta (flip for max): "
                   "best, wait = current, 0; stop when wait >= patience and epoch > 0"),
    ck.equivalence("EarlyStopping", _restore_cases, call=_restored, exact=True, batched=False,
                   id="early_stopping/restores_best",
                   title="restores Params and BatchStats of the best epoch, stop or not",
                   hint="snapshot nnx.clone(nnx.state(model, ...)) of all variables on "
                   "improvement; nnx.update(model, snapshot) in on_train_end, always"),
)

# ---- port_train -------------------------------------------------------------------------


def _port_case(rng, steps, batch, **kw):
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    p = {"w1": ck.normal(rng, (64, 32), np.sqrt(2 / 96)), "b1": np.zeros(32, np.float32),
         "w2": ck.normal(rng, (32, 10), np.sqrt(2 / 42)), "b2": np.zeros(10, np.float32)}
    batches = np.stack([rng.choice(len(x), batch, replace=False) for _ in range(steps)])
    return case(p, (x / 16).astype(np.float32), y.astype(np.int32), batches.astype(np.int32),
                label=f"digits, {steps} steps of {batch}", **kw)


def _next_run(i, out, step):
    import jax.numpy as jnp

    p, x, y, b = i.args
    return i.replace(args=(p, x, y, jnp.roll(b, step + 1, axis=0)),
                     kwargs={"learning_rate": 0.05 * (step + 2), "momentum": 0.5 + 0.1 * step})


_PORT = (
    ck.equivalence("port_train", lambda rng: [
        _port_case(rng, 200, 32, learning_rate=0.1, momentum=0.9),
        _port_case(rng, 60, 16, learning_rate=0.05, momentum=0.5)],
        rtol=1e-5, atol=1e-5, id="matches_numpy", title="losses and params equal the NumPy loop",
        description="losses (before each update) and final params within 1e-5 of "
        "numpy_reference.train (dlcore's port agrees with it to 2.4e-7), float32",
        hint="v = momentum * v + g (no dampening); p -= lr * v; record the loss of the same "
        "forward pass as the gradient (jax.value_and_grad)"),
    ck.retrace("port_train", lambda rng: [_port_case(rng, 20, 32, learning_rate=0.1,
                                                     momentum=0.9)],
               feed=_next_run, eager=True, id="one_trace",
               title="one trace for new batches, learning rate and momentum",
               hint="decorate port_train once with jax.jit, keep learning_rate and momentum "
               "traced (not static), run the steps with lax.scan"),
    ck.forbidden("port_train"),
)

CHECKS = (*_FIT, *_EVALUATE, *_EARLY, *_PORT)

_NOT = ("keras", "tensorflow", "torch", "flax.training")
_TASKS = ("fit", "evaluate", "EarlyStopping", "port_train")

EXERCISE = Exercise(
    id="q22",
    title="Frameworks in practice",
    files={"training.py": FileSpec(
        helpers=("dlcore.train.early_stopping:early_stopping_init",
                 "dlcore.train.early_stopping:early_stopping_update",
                 "dlcore.train.numpy_reference:init_params",
                 "dlcore.train.numpy_reference:loss_and_grads",
                 "dlcore.train.numpy_reference:train"),
        parts=("dlcore.train.fitting:train_step", "dlcore.train.fitting:eval_step",
               "dlcore.train.port:mlp_tanh_loss"),
        tasks=("dlcore.train.fitting:fit", "dlcore.train.fitting:evaluate",
               "dlcore.train.callbacks:EarlyStopping", "dlcore.train.port:port_train"),
        summary="a Keras-style fit and EarlyStopping on Flax NNX, and a NumPy loop ported to "
        "JAX")},
    checks=CHECKS,
    forbidden={**{t: _NOT for t in _TASKS},
               "port_train": (*_NOT, "numpy", "numpy_reference")},
)
