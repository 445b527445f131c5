"""q04 Overfitting: a random train/validation split, Keras-3 early stopping as pure
jittable functions, the L2 penalty (shared with q09), and a TRAIN check on noisy digits.

Early stopping is judged against :class:`KerasEarlyStopping`, a transcription of Keras 3's
``EarlyStopping.on_epoch_end`` run on the parent (the same one the library's tests use).
"""

from __future__ import annotations

import math
import operator

import numpy as np

from grader import checks as ck
from grader import props
from grader.spec import Exercise, FileSpec, case
from grader.specs.q09 import L2_CHECKS, raised
from grader.wire import NumpyArray, leaves


class KerasEarlyStopping:
    """Keras 3.15 ``EarlyStopping(mode="min")`` (no baseline, ``start_from_epoch=0``)."""

    def __init__(self, patience, min_delta):
        self.patience, self.min_delta = patience, -abs(min_delta)
        self.best, self.wait, self.stop_training = math.inf, 0, False

    def on_epoch_end(self, epoch, current):
        """``(improved, stop_training)`` after this epoch."""
        self.wait += 1
        if operator.lt(current - self.min_delta, self.best):
            self.best, self.wait = current, 0
            return True, self.stop_training
        if self.wait >= self.patience and epoch > 0:
            self.stop_training = True  # fit never resets it
        return False, self.stop_training


def keras_flags(patience, min_delta, seq):
    ref = KerasEarlyStopping(patience, min_delta)
    flags = [ref.on_epoch_end(e, float(v)) for e, v in enumerate(seq)]
    return np.array([f[0] for f in flags]), np.array([f[1] for f in flags])


# ---- train_val_split ---------------------------------------------------------------------

_SIZES = [(10, 0.25), (7, 0.5), (1797, 0.2), (1000, 0.3), (5, 0.1), (100, 0.33)]


def _split_cases(rng):
    return [case(ck.Key(n), static={"n": n, "val_fraction": f}) for n, f in _SIZES]


def _pair(fns, i):
    train, val = fns.train_val_split(*i.args, **i.static)
    return {"train": train, "val": val}


def _sizes(c, out):
    from sklearn.model_selection import train_test_split

    n, f = c.static["n"], c.static["val_fraction"]
    n_val = len(train_test_split(np.arange(n), test_size=f, random_state=0)[1])
    for part, want in (("val", n_val), ("train", n - n_val)):
        got = np.asarray(out[part])
        if got.shape != (want,):
            return (f"{part} has shape {got.shape}, expected ({want},) (val: ceil(val_fraction "
                    f"* n) = {n_val}, as sklearn's train_test_split)")
        if got.dtype != np.int32:
            return f"{part} has dtype {got.dtype}, expected int32"
    return None


def _both(out):
    return np.concatenate([np.ravel(out["train"]), np.ravel(out["val"])])


def _val_counts(fns, i):
    import jax

    return jax.vmap(lambda k: fns.train_val_split(k, 20, 0.25)[1])(i.args[0])


def _uniform(c, out):
    counts = np.bincount(np.asarray(out).ravel(), minlength=20)
    sigma = math.sqrt(2000 * 0.25 * 0.75)
    bad = np.abs(counts - 500) > 6 * sigma
    if bad.any():
        k = int(np.argmax(bad))
        return (f"index {k} is in the validation set {counts[k]} times of 2000, expected "
                f"500 +- {6 * sigma:.0f} (6 sigma): every index must be equally likely")
    return None


_SPLIT = [
    ck.invariant("train_val_split", _split_cases, _sizes, call=_pair, id="sizes",
                 batched=False, title="val has ceil(val_fraction * n) indices, int32",
                 description="sizes equal sklearn's train_test_split for (n, f) in "
                 + ", ".join(str(s) for s in _SIZES),
                 hint="n_val = math.ceil(val_fraction * n), a Python int; int(0.25 * 10) is 2"),
    ck.invariant("train_val_split", _split_cases,
                 props.partition(lambda c: c.static["n"], complete=True, of=_both),
                 call=_pair, id="partition", batched=False,
                 title="train and val together hold every index once",
                 hint="cut one permutation of range(n) in two; randint draws repeats"),
    ck.prng("train_val_split", lambda rng: [case(ck.Key(0), extras={"other_key": ck.Key(1)},
                                                 static={"n": 50, "val_fraction": 0.2})],
            call=_pair, id="keys", title="same key same split, new key new split",
            hint="draw the permutation from the key argument: no fixed key, no np.random"),
    ck.invariant("train_val_split", lambda rng: [case(ck.keys(*range(1000, 3000)),
                                                      label="2000 keys, n=20, f=0.25")],
                 _uniform, call=_val_counts, id="uniform", batched=False,
                 title="every index equally likely in val (2000 keys, vmapped)",
                 hint="shuffle all n indices, not only the training part"),
    ck.jit("train_val_split", lambda rng: [case(ck.Key(7), static={"n": 30,
                                                                   "val_fraction": 0.2})],
           call=_pair, title="works under jit with static n and val_fraction",
           hint="jax.random and jnp only; sizes come from the Python values n and val_fraction"),
    ck.oracle("train_val_split", lambda rng: [
        case(ck.Key(0), static={"n": n, "val_fraction": f}, label=f"n={n}, f={f}")
        for n, f in [(10, 0.0), (10, 1.0), (3, 0.9)]], lambda c: "ValueError",
        call=lambda fns, i: raised(lambda: _pair(fns, i)), id="raises", exact=True, batched=False,
        title="ValueError unless 0 < n_val < n",
        hint="check n_val before splitting: both sets must be non-empty"),
    ck.forbidden("train_val_split"),
]

# ---- early stopping ----------------------------------------------------------------------

NAN = float("nan")
SEQUENCES = np.array([
    [1.0, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8],  # plateau
    [1.0, 0.99, 0.98, 0.97, 0.96, 0.95, 0.94, 0.93, 0.92, 0.91, 0.9, 0.89],  # gains < 0.02
    [1.0, 0.9, 0.95, 0.97, 0.85, 0.9, 0.92, 0.96, 0.8, 0.99, 0.99, 0.7],  # recoveries
    [1.0, NAN, 0.9, NAN, NAN, 0.5, NAN, NAN, NAN, NAN, NAN, NAN],  # NaN after epoch 0
    [1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 0.1, 0.05, 0.01, 0.001],  # stop, then better
    [5.0, 4.0, 3.0, 2.0, 1.0, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.0],  # steady gains
    [1.0, 0.97, 0.99, 0.94, 0.96, 0.98, 0.91, 0.93, 0.95, 0.97, 0.99, 1.0],  # gains of 0.03
], np.float32)
_NAMES = ("plateau", "gains of 0.01", "recoveries", "NaN", "stop then gains", "steady gains",
          "gains of 0.03")
CONFIGS = [(p, d) for p in (0, 1, 2, 5) for d in (0.0, 0.02)]


def _grid_case(rng):
    return [case(np.array([p for p, _ in CONFIGS for _ in SEQUENCES], np.int32),
                 np.array([d for _, d in CONFIGS for _ in SEQUENCES], np.float32),
                 np.tile(SEQUENCES, (len(CONFIGS), 1)),
                 label=f"{len(SEQUENCES)} loss sequences x patience {{0,1,2,5}} x min_delta "
                 "{0, 0.02}")]


def _scan_flags(fns, i):
    import jax

    def run(p, d, seq):
        def body(state, loss):
            state, stop, improved = fns.early_stopping_update(state, loss)
            return state, {"improved": improved, "should_stop": stop}

        return jax.lax.scan(body, fns.early_stopping_init(p, d), seq)[1]

    return jax.vmap(run)(*i.args)


def _like_keras(rows):
    """A prop: the flags equal the Keras transcription, row by row (``rows(case)``)."""

    def prop(c, out):
        for r, (p, d, seq) in enumerate(rows(c)):
            want = dict(zip(("improved", "should_stop"), keras_flags(p, d, seq), strict=True))
            for name, ref in want.items():
                got = np.asarray(out[name])
                got = got[r] if got.ndim == 2 else got
                if got.dtype != np.bool_ or got.shape != ref.shape:
                    return f"{name} is {got.dtype}{list(got.shape)}, expected bool flags"
                if (got != ref).any():
                    e = int(np.argmax(got != ref))
                    return (f"patience={p}, min_delta={d}, losses {list(np.round(seq, 3))}: "
                            f"at epoch {e} (loss {seq[e]:.3g}) {name} is {bool(got[e])}, "
                            f"Keras says {bool(ref[e])}")
        return None

    prop.title = "flags equal Keras 3 EarlyStopping"
    return prop


_GRID_ROWS = _like_keras(lambda c: [(int(p), float(d), s) for p, d, s in zip(*c.args,
                                                                             strict=True)])


def _eager_cases(rng):
    return [case(static={"patience": p, "min_delta": d, "_seq": tuple(float(v) for v in seq)},
                 label=f"{name}, Python floats")
            for p, d in [(1, 0.0), (2, 0.02)] for seq, name in
            zip(SEQUENCES[[0, 3]], (_NAMES[0], _NAMES[3]), strict=True)]


def _eager_flags(fns, i):
    import jax.numpy as jnp

    state = fns.early_stopping_init(i.static["patience"], i.static["min_delta"])
    imp, stop = [], []
    for v in i.static["_seq"]:
        state, s, m = fns.early_stopping_update(state, v)
        imp.append(bool(m))
        stop.append(bool(s))
    return {"improved": jnp.asarray(imp), "should_stop": jnp.asarray(stop)}


def _step(fns, i):
    """One update on loss ``seq[k]`` from ``extras["state"]``; init on the first call."""
    p, d, seq, k = i.args
    if "state" not in i.extras:
        return {"state": fns.early_stopping_init(p, d), "k": k}
    state, stop, improved = fns.early_stopping_update(i.extras["state"], seq[k])
    return {"state": state, "k": k + 1, "flags": (stop, improved)}


def _feed(i, out, step):
    return i.replace(args=(*i.args[:3], out["k"]), extras={**i.extras, "state": out["state"]})


_KERAS_HINT = ("wait += 1 unless improved (then best = loss, wait = 0); improved = loss < "
               "best - min_delta (strict); stop = stopped or (not improved and wait >= patience "
               "and epoch > 0): compare the *updated* wait, and keep the stop once set")



def _all_arrays(c, out):
    if not isinstance(out, dict) or not out:
        return f"expected a dict state, got {type(out).__name__}"
    for path, v in leaves(out):
        if not isinstance(v, np.ndarray) or isinstance(v, NumpyArray):
            return (f"state{path} is a {type(v).__name__} ({v!r}); every leaf must be a jax "
                    "array so the state can cross jit and lax.scan")
    return None


_EARLY = [
    ck.invariant("early_stopping_init", lambda rng: [
        case(static={"patience": 2, "min_delta": 0.01}), case(static={"patience": 0})],
        _all_arrays, id="state_arrays", batched=False, title="every state leaf is a jax array",
        hint="jnp.asarray(..., dtype) for every entry, patience and min_delta included: "
        "Python numbers in the state break jit/scan or retrace"),
    ck.invariant("early_stopping_update", _grid_case, _GRID_ROWS, call=_scan_flags,
                 id="matches_keras", uses=("early_stopping_init",),
                 title="flags equal Keras 3 inside jit(vmap(lax.scan))",
                 description="per-epoch improved and should_stop equal a transcription of "
                 "Keras 3 EarlyStopping on plateaus, gains below min_delta, recoveries, NaN, a "
                 "stop followed by gains, for patience {0, 1, 2, 5} x min_delta {0, 0.02}",
                 hint=_KERAS_HINT),
    ck.invariant("early_stopping_update", _eager_cases,
                 _like_keras(lambda c: [(c.static["patience"], c.static["min_delta"],
                                         np.asarray(c.static["_seq"], np.float32))]),
                 call=_eager_flags, id="eager", batched=False, uses=("early_stopping_init",),
                 title="flags equal Keras 3 when called eagerly with Python floats",
                 hint="val_loss may be a Python float: convert it with jnp.asarray first"),
    ck.retrace("early_stopping_update", lambda rng: [
        case(np.int32(p), np.float32(d), SEQUENCES[3], np.int32(0),
             label=f"patience={p}, min_delta={d}, {_NAMES[3]}") for p, d in [(1, 0.0),
                                                                             (2, 0.02)]],
        call=_step, feed=_feed, steps=13, max_traces=2, id="jit", uses=("early_stopping_init",),
        title="works under jit: one trace for 12 updates",
        description="jax.jit of init, then of update called 12 times with the state it "
        "returned: one trace each", hint="no Python if/float() on values; return the state "
        "with the same dtypes it came with (int32 wait/epoch, float32 best, bool stopped)"),
    ck.forbidden("early_stopping_update"),
]

# ---- TRAIN: memorizing noisy labels, and two cures ---------------------------------------

STEPS, PATIENCE, LAM = 300, 10, 1e-2
MIN_GAIN, MAX_GAP, MAX_STOP, MIN_BEST = 0.08, 0.10, 40, 0.83
_KERNELS = {"w1": True, "b1": False, "w2": True, "b2": False}
_RECIPE = (f"digits / 16; 300 training examples (30% random labels) and 600 validation "
           f"examples; MLP 64-256-10 (ReLU, He init), Adam 1e-2, {STEPS} full-batch steps in "
           "one lax.scan, init seed 0")


def _digits(rng):
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    perm = np.random.default_rng(0).permutation(len(x))
    tr, va = perm[:300], perm[300:900]
    noise = np.random.default_rng(0)
    y_tr = y[tr].copy()
    noisy = noise.random(300) < 0.3
    y_tr[noisy] = noise.integers(0, 10, noisy.sum())
    data = {"x_tr": x[tr] / 16, "y_tr": y_tr, "x_va": x[va] / 16, "y_va": y[va]}
    return [case(ck.Key(0), label="noisy digits", extras={
        k: v.astype(np.float32 if k[0] == "x" else np.int32) for k, v in data.items()})]


def _train(penalty=None, early=None):
    """One jitted run; ``penalty(p)`` is added to the loss, ``early`` = (init, update)."""
    import jax
    import jax.numpy as jnp
    import optax

    def apply(p, x):
        return jax.nn.relu(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]

    def ce(p, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(apply(p, x), y).mean()

    def acc(p, x, y):
        return jnp.mean(jnp.argmax(apply(p, x), -1) == y)

    def run(key, d):
        he = jax.nn.initializers.he_normal()
        k1, k2 = jax.random.split(key)
        p = {"w1": he(k1, (64, 256)), "b1": jnp.zeros(256), "w2": he(k2, (256, 10)),
             "b2": jnp.zeros(10)}
        tx = optax.adam(1e-2)

        def step(carry, t):
            p, s, es, best_acc, stop_at = carry
            val_loss = ce(p, d["x_va"], d["y_va"])
            if early is not None:
                es, stop, improved = early[1](es, val_loss)
                best_acc = jnp.where(improved, acc(p, d["x_va"], d["y_va"]), best_acc)
                stop_at = jnp.where(stop & (stop_at < 0), t, stop_at)

            def loss(p):
                base = ce(p, d["x_tr"], d["y_tr"])
                return base if penalty is None else base + penalty(p)

            updates, s = tx.update(jax.grad(loss)(p), s, p)
            return (optax.apply_updates(p, updates), s, es, best_acc, stop_at), val_loss

        es = early[0](PATIENCE) if early is not None else None
        carry = (p, tx.init(p), es, jnp.float32(0.0), jnp.int32(-1))
        (p, _, _, best_acc, stop_at), losses = jax.lax.scan(step, carry, jnp.arange(STEPS))
        return {"train_acc": acc(p, d["x_tr"], d["y_tr"]), "val_acc": acc(p, d["x_va"],
                                                                           d["y_va"]),
                "best_val_acc": best_acc, "stop_step": stop_at, "val_losses": losses}

    return jax.jit(run)


def _train_l2(fns, i):
    plain = _train()(i.args[0], i.extras)
    decayed = _train(lambda p: fns.l2_penalty(p, LAM, mask=_KERNELS))(i.args[0], i.extras)
    return {"plain": {k: plain[k] for k in ("train_acc", "val_acc")},
            "l2": {k: decayed[k] for k in ("train_acc", "val_acc")}}


def _closes_gap(c, out):
    plain, l2 = ({k: float(v) for k, v in out[n].items()} for n in ("plain", "l2"))
    text = (f"no penalty: train {plain['train_acc']:.3f}, val {plain['val_acc']:.3f}; with "
            f"l2_penalty(p, {LAM:g}, mask=kernels): train {l2['train_acc']:.3f}, val "
            f"{l2['val_acc']:.3f}")
    if not l2["val_acc"] >= plain["val_acc"] + MIN_GAIN:
        return f"{text}: the penalty must lift val accuracy by at least {MIN_GAIN}"
    if not l2["train_acc"] - l2["val_acc"] <= MAX_GAP:
        return f"{text}: the train - val gap must be at most {MAX_GAP}"
    return None


def _train_stop(fns, i):
    return _train(early=(fns.early_stopping_init, fns.early_stopping_update))(i.args[0],
                                                                              i.extras)


def _stops_early(c, out):
    stop, best = int(out["stop_step"]), float(out["best_val_acc"])
    _, ref = keras_flags(PATIENCE, 0.0, np.asarray(out["val_losses"]))
    want = int(np.argmax(ref)) if ref.any() else -1
    if stop != want:
        return (f"on the run's own val losses, Keras (patience {PATIENCE}) stops at step {want},"
                f" yours at {stop} (-1: never)")
    if not 0 <= stop <= MAX_STOP:
        return f"stopped at step {stop}; expected a stop by step {MAX_STOP}"
    if best < MIN_BEST:
        return f"val accuracy at the last improved step is {best:.3f}, below {MIN_BEST}"
    return None


_TRAIN = [
    ck.invariant("l2_penalty", _digits, _closes_gap, call=_train_l2, id="train_gap",
                 kind="training", batched=False, timeout=60.0, weight=2.0,
                 title=f"TRAIN: L2 lifts val accuracy by {MIN_GAIN} and closes the gap",
                 description=f"{_RECIPE}. Without a penalty the net memorizes the noise (train "
                 f"1.00, val ~0.75); with l2_penalty(p, {LAM:g}, mask=kernels) val accuracy must"
                 f" rise by >= {MIN_GAIN} with train - val <= {MAX_GAP}",
                 hint="0.5 * lam * sum(w**2) over the kernels only; its gradient is lam * w"),
    ck.invariant("early_stopping_update", _digits, _stops_early, call=_train_stop,
                 id="train_stop", kind="training", batched=False, timeout=60.0, weight=2.0,
                 uses=("early_stopping_init",),
                 title=f"TRAIN: stops by step {MAX_STOP} near the best val accuracy",
                 description=f"{_RECIPE}, no penalty; early stopping (patience {PATIENCE}) on "
                 "the val loss inside the scan stops where Keras would on the same losses, by "
                 f"step {MAX_STOP}, with val accuracy >= {MIN_BEST} at the last improved step",
                 hint=_KERAS_HINT),
]

# l2_penalty: the same checks as q09 (L2_CHECKS), plus a forbidden-call check
CHECKS = (*_SPLIT, *_EARLY, *L2_CHECKS, ck.forbidden("l2_penalty"), *_TRAIN)

_FORBIDDEN = ("flax.training", "keras", "sklearn", "optax.tree.norm", "optax.global_norm",
              "optax.tree_utils")

EXERCISE = Exercise(
    id="q04",
    title="Overfitting",
    files={"overfitting.py": FileSpec(
        helpers=("dlcore.nn.regularizers:expand_mask",),
        tasks=("dlcore.train.split:train_val_split",
               "dlcore.train.early_stopping:early_stopping_init",
               "dlcore.train.early_stopping:early_stopping_update",
               "dlcore.nn.regularizers:l2_penalty"),
        summary="a train/validation split, early stopping and the L2 penalty")},
    checks=CHECKS,
    forbidden={t: _FORBIDDEN for t in ("train_val_split", "early_stopping_update",
                                       "l2_penalty")},
)
