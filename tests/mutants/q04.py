"""Known-wrong and correct-but-different q04 solutions (split, early stopping, L2).

Check ids and the property each one grades (the grader's reference is dlcore):

train_val_split/sizes          For (n, f) in (10, .25), (7, .5), (1797, .2), (1000, .3),
                               (5, .1), (100, .33): val has ceil(f*n) indices (= sklearn
                               train_test_split), train n - ceil(f*n); both int32.
train_val_split/partition      For the same cases, sorted(concat(train, val)) == range(n).
train_val_split/keys           n=50, f=.2: key(0) twice gives equal (train, val); key(0) vs
                               key(1) give different val arrays.
train_val_split/uniform        STAT: 2000 keys vmapped, n=20, f=.25: every index lands in val
                               500 +- 6*sqrt(2000*.25*.75) times.
train_val_split/jit            jax.jit(static_argnums=(1, 2)) equals the eager call (same key).
train_val_split/raises         ValueError for (10, 0.0), (10, 1.0), (3, 0.9).
early_stopping_init/state_arrays  Every leaf of early_stopping_init(2, 0.01) is a jax.Array
                               (so the state can cross jit/scan).
early_stopping_update/matches_keras  inside jax.jit(jax.vmap(lax.scan)) over 7 scripted
                               loss sequences of length 12 (plateau, gains of 0.01 < min_delta,
                               recoveries, NaN after epoch 0, a stop followed by big gains,
                               steady gains, gains of 0.03) x patience {0,1,2,5} x min_delta
                               {0, 0.02}: per-step `improved` and `should_stop` equal a Keras
                               3 EarlyStopping transcription exactly (bool arrays).
early_stopping_update/eager    The same flags, called eagerly with Python floats, for
                               (patience, min_delta) in (1, 0), (2, .02) on two sequences.
early_stopping_update/jit      ck.retrace: jax.jit of init, then of update fed its own state
                               12 times (the NaN sequence; (1, 0) and (2, .02)): one trace
                               each (flags are graded by matches_keras).
early_stopping_update/forbidden  no flax.training, keras, sklearn, optax tree norms (the
                               same list guards train_val_split/ and l2_penalty/forbidden).
l2_penalty/formula             On nested dict/tuple params, mask None, pytree (kernels only)
                               and callable (ndim >= 2): equals 0.5*lam*sum(w**2) over masked
                               leaves, rtol 1e-6.
l2_penalty/grad_matches_decay  jax.grad equals optax.add_decayed_weights(lam, mask) applied
                               to zero updates, rtol 1e-6, for the three masks.
l2_penalty/jit                 jax.jit with lam a traced argument: two lam values, one trace,
                               equal to eager (rtol 1e-6).
l2_penalty/train_gap           TRAIN (contract recipe, init seed 0): with the learner's
                               l2_penalty(p, 1e-2, mask=kernels) val acc >= no-penalty val
                               acc + 0.08 and train - val <= 0.10 (dlcore init seeds 0/1/2:
                               val 0.873/0.878/0.872 vs 0.753/0.738/0.765, gap -0.03/-0.04/
                               -0.03; the check runs seed 0).
early_stopping_update/train_stop  TRAIN: the learner's update (patience 10) fed the no-penalty
                               run's val loss inside the lax.scan stops where the Keras
                               transcription stops on the same losses, by step 40, and the val
                               acc at the last `improved` step is >= 0.83 (dlcore init seeds
                               0/1/2: stop 23/23/22, best-step acc 0.888/0.885/0.890).
"""

from tests.grading import Alternative, Mutant

MUTANTS = [
    # ---- early stopping -------------------------------------------------------------------
    Mutant("es_flax_off_by_one", "early_stopping_update", "early_stopping_update/matches_keras",
           """
def early_stopping_update(state, val_loss):
    val_loss = jnp.asarray(val_loss, jnp.float32)
    improved = val_loss < state["best"] - state["min_delta"]
    # flax: compare the count *before* incrementing it
    exhausted = (state["wait"] >= state["patience"]) & (state["epoch"] > 0)
    should_stop = state["stopped"] | (~improved & exhausted)
    best = jnp.where(improved, val_loss, state["best"])
    wait = jnp.where(improved, 0, state["wait"] + 1).astype(jnp.int32)
    new = dict(state, best=best, wait=wait, epoch=state["epoch"] + 1, stopped=should_stop)
    return new, should_stop, improved
"""),
    Mutant("es_less_equal", "early_stopping_update", "early_stopping_update/matches_keras", """
def early_stopping_update(state, val_loss):
    val_loss = jnp.asarray(val_loss, jnp.float32)
    improved = val_loss <= state["best"] - state["min_delta"]  # a plateau resets wait
    best = jnp.where(improved, val_loss, state["best"])
    wait = jnp.where(improved, 0, state["wait"] + 1).astype(jnp.int32)
    exhausted = (wait >= state["patience"]) & (state["epoch"] > 0)
    should_stop = state["stopped"] | (~improved & exhausted)
    new = dict(state, best=best, wait=wait, epoch=state["epoch"] + 1, stopped=should_stop)
    return new, should_stop, improved
"""),
    Mutant("es_min_delta_wrong_sign", "early_stopping_update",
           "early_stopping_update/matches_keras", """
def early_stopping_update(state, val_loss):
    val_loss = jnp.asarray(val_loss, jnp.float32)
    improved = val_loss < state["best"] + state["min_delta"]
    best = jnp.where(improved, val_loss, state["best"])
    wait = jnp.where(improved, 0, state["wait"] + 1).astype(jnp.int32)
    exhausted = (wait >= state["patience"]) & (state["epoch"] > 0)
    should_stop = state["stopped"] | (~improved & exhausted)
    new = dict(state, best=best, wait=wait, epoch=state["epoch"] + 1, stopped=should_stop)
    return new, should_stop, improved
"""),
    Mutant("es_min_delta_ignored", "early_stopping_update",
           "early_stopping_update/matches_keras", """
def early_stopping_update(state, val_loss):
    return _original_early_stopping_update(dict(state, min_delta=state["min_delta"] * 0), val_loss)
"""),
    Mutant("es_wait_not_reset", "early_stopping_update", "early_stopping_update/matches_keras",
           """
def early_stopping_update(state, val_loss):
    val_loss = jnp.asarray(val_loss, jnp.float32)
    improved = val_loss < state["best"] - state["min_delta"]
    best = jnp.where(improved, val_loss, state["best"])
    wait = jnp.where(improved, state["wait"], state["wait"] + 1).astype(jnp.int32)
    exhausted = (wait >= state["patience"]) & (state["epoch"] > 0)
    should_stop = state["stopped"] | (~improved & exhausted)
    new = dict(state, best=best, wait=wait, epoch=state["epoch"] + 1, stopped=should_stop)
    return new, should_stop, improved
"""),
    Mutant("es_not_sticky", "early_stopping_update", "early_stopping_update/matches_keras", """
def early_stopping_update(state, val_loss):
    new, _, improved = _original_early_stopping_update(state, val_loss)
    should_stop = ~improved & (new["wait"] >= new["patience"]) & (state["epoch"] > 0)
    return dict(new, stopped=should_stop), should_stop, improved
"""),
    Mutant("es_nan_improves", "early_stopping_update", "early_stopping_update/matches_keras", """
def early_stopping_update(state, val_loss):
    val_loss = jnp.asarray(val_loss, jnp.float32)
    improved = ~(val_loss >= state["best"] - state["min_delta"])  # NaN >= x is False
    best = jnp.where(improved, val_loss, state["best"])
    wait = jnp.where(improved, 0, state["wait"] + 1).astype(jnp.int32)
    exhausted = (wait >= state["patience"]) & (state["epoch"] > 0)
    should_stop = state["stopped"] | (~improved & exhausted)
    new = dict(state, best=best, wait=wait, epoch=state["epoch"] + 1, stopped=should_stop)
    return new, should_stop, improved
"""),
    Mutant("es_python_if", "early_stopping_update", "early_stopping_update/jit", """
def early_stopping_update(state, val_loss):
    if float(val_loss) < float(state["best"] - state["min_delta"]):
        new = dict(state, best=jnp.float32(val_loss), wait=jnp.int32(0))
        improved = jnp.array(True)
    else:
        new = dict(state, wait=state["wait"] + 1)
        improved = jnp.array(False)
    stop = state["stopped"] | (~improved & (new["wait"] >= state["patience"])
                               & (state["epoch"] > 0))
    return dict(new, epoch=state["epoch"] + 1, stopped=stop), stop, improved
""", status="error"),
    Mutant("es_python_ints_in_state", "early_stopping_init", "early_stopping_init/state_arrays",
           """
def early_stopping_init(patience, min_delta=0.0):
    return {"best": float("inf"), "wait": 0, "epoch": 0, "patience": patience,
            "min_delta": min_delta, "stopped": False}
"""),
    # ---- split ----------------------------------------------------------------------------
    Mutant("split_floor_rounding", "train_val_split", "train_val_split/sizes", """
def train_val_split(key, n, val_fraction):
    n_val = int(val_fraction * n)  # 10 x .25 gives 2, sklearn gives 3
    if not 0 < n_val < n:
        raise ValueError("empty split")
    perm = jax.random.permutation(key, n).astype(jnp.int32)
    return perm[: n - n_val], perm[n - n_val :]
"""),
    Mutant("split_randint_overlaps", "train_val_split", "train_val_split/partition", """
def train_val_split(key, n, val_fraction):
    n_val = math.ceil(val_fraction * n)
    if not 0 < n_val < n:
        raise ValueError("empty split")
    k1, k2 = jax.random.split(key)
    train = jax.random.randint(k1, (n - n_val,), 0, n).astype(jnp.int32)
    val = jax.random.randint(k2, (n_val,), 0, n).astype(jnp.int32)
    return train, val
"""),
    Mutant("split_fixed_key", "train_val_split", "train_val_split/keys", """
def train_val_split(key, n, val_fraction):
    return _original_train_val_split(jax.random.key(0), n, val_fraction)
"""),
    Mutant("split_numpy_random", "train_val_split", "train_val_split/keys", """
import numpy as np


def train_val_split(key, n, val_fraction):
    n_val = math.ceil(val_fraction * n)
    if not 0 < n_val < n:
        raise ValueError("empty split")
    perm = jnp.asarray(np.random.permutation(n), jnp.int32)
    return perm[: n - n_val], perm[n - n_val :]
"""),
    Mutant("split_no_validation", "train_val_split", "train_val_split/raises", """
def train_val_split(key, n, val_fraction):
    n_val = math.ceil(val_fraction * n)
    perm = jax.random.permutation(key, n).astype(jnp.int32)
    return perm[: n - n_val], perm[n - n_val :]
"""),
    Mutant("split_val_always_head", "train_val_split", "train_val_split/uniform", """
def train_val_split(key, n, val_fraction):
    n_val = math.ceil(val_fraction * n)
    if not 0 < n_val < n:
        raise ValueError("empty split")
    # shuffles only the training part: the validation set is always the first indices
    val = jnp.arange(n_val, dtype=jnp.int32)
    train = n_val + jax.random.permutation(key, n - n_val).astype(jnp.int32)
    return train, val
"""),
    # ---- l2 -------------------------------------------------------------------------------
    Mutant("l2_without_half", "l2_penalty", "l2_penalty/grad_matches_decay", """
def l2_penalty(params, lam, *, mask=None):
    return 2 * _original_l2_penalty(params, lam, mask=mask)
"""),
    Mutant("l2_norm_not_squared", "l2_penalty", "l2_penalty/formula", """
def l2_penalty(params, lam, *, mask=None):
    flags = jax.tree.leaves(expand_mask(mask, params))
    leaves = jax.tree.leaves(params)
    total = sum(jnp.sum(p**2) for f, p in zip(flags, leaves) if f)
    return 0.5 * lam * jnp.sqrt(total)
"""),
    Mutant("l2_ignores_mask", "l2_penalty", "l2_penalty/formula", """
def l2_penalty(params, lam, *, mask=None):
    return _original_l2_penalty(params, lam)
"""),
    Mutant("l2_mask_inverted", "l2_penalty", "l2_penalty/formula", """
def l2_penalty(params, lam, *, mask=None):
    flags = jax.tree.leaves(expand_mask(mask, params))
    if mask is not None:
        flags = [not f for f in flags]  # penalizes the leaves the mask excludes
    leaves = jax.tree.leaves(params)
    return 0.5 * lam * sum(jnp.sum(p**2) for f, p in zip(flags, leaves) if f)
"""),
    Mutant("l2_no_callable_mask", "l2_penalty", "l2_penalty/formula", """
def l2_penalty(params, lam, *, mask=None):
    if callable(mask):
        mask = None
    return _original_l2_penalty(params, lam, mask=mask)
"""),
    Mutant("l2_python_float_lam", "l2_penalty", "l2_penalty/jit", """
def l2_penalty(params, lam, *, mask=None):
    return _original_l2_penalty(params, float(lam), mask=mask)
""", status="error"),
    # ---- checks added with the spec ------------------------------------------------------
    Mutant("es_needs_array_input", "early_stopping_update", "early_stopping_update/eager", """
def early_stopping_update(state, val_loss):
    val_loss = val_loss.astype(jnp.float32)  # a Python float has no .astype
    return _original_early_stopping_update(state, val_loss)
""", status="error"),
    Mutant("es_flax_off_by_one_train", "early_stopping_update",
           "early_stopping_update/train_stop", """
def early_stopping_update(state, val_loss):
    val_loss = jnp.asarray(val_loss, jnp.float32)
    improved = val_loss < state["best"] - state["min_delta"]
    exhausted = (state["wait"] >= state["patience"]) & (state["epoch"] > 0)
    should_stop = state["stopped"] | (~improved & exhausted)
    best = jnp.where(improved, val_loss, state["best"])
    wait = jnp.where(improved, 0, state["wait"] + 1).astype(jnp.int32)
    new = dict(state, best=best, wait=wait, epoch=state["epoch"] + 1, stopped=should_stop)
    return new, should_stop, improved
"""),
    Mutant("es_calls_flax", "early_stopping_update", "early_stopping_update/forbidden", """
from flax.training import early_stopping


def early_stopping_update(state, val_loss):
    assert early_stopping.EarlyStopping is not None
    return _original_early_stopping_update(state, val_loss)
""", status="forbidden"),
    Mutant("split_calls_sklearn", "train_val_split", "train_val_split/forbidden", """
from sklearn.model_selection import train_test_split


def train_val_split(key, n, val_fraction):
    n_val = len(train_test_split(list(range(n)), test_size=val_fraction)[1])
    perm = jax.random.permutation(key, n).astype(jnp.int32)
    return perm[: n - n_val], perm[n - n_val :]
""", status="forbidden"),
    Mutant("l2_optax_tree_norm", "l2_penalty", "l2_penalty/forbidden", """
import optax


def l2_penalty(params, lam, *, mask=None):
    kept = jax.tree.map(lambda p, f: p if f else jnp.zeros_like(p), params,
                        expand_mask(mask, params))
    return 0.5 * lam * optax.tree.norm(kept, squared=True)
""", status="forbidden"),
    Mutant("l2_stop_gradient", "l2_penalty", "l2_penalty/train_gap", """
def l2_penalty(params, lam, *, mask=None):
    return jax.lax.stop_gradient(_original_l2_penalty(params, lam, mask=mask))
"""),
    Mutant("l2_lam_as_percent", "l2_penalty", "l2_penalty/train_gap", """
def l2_penalty(params, lam, *, mask=None):
    return _original_l2_penalty(params, lam / 100, mask=mask)
"""),
    Mutant("split_key_to_numpy_seed", "train_val_split", "train_val_split/jit", """
import numpy as np


def train_val_split(key, n, val_fraction):
    n_val = math.ceil(val_fraction * n)
    if not 0 < n_val < n:
        raise ValueError("empty split")
    seed = int(jax.random.key_data(key)[-1])  # concrete only outside jit
    perm = jnp.asarray(np.random.default_rng(seed).permutation(n), jnp.int32)
    return perm[: n - n_val], perm[n - n_val :]
""", status="error"),
]

ALTERNATIVES = [
    Alternative("split_argsort_uniform", "train_val_split", """
def train_val_split(key, n, val_fraction):
    n_val = math.ceil(val_fraction * n)
    if n_val <= 0 or n_val >= n:
        raise ValueError(f"bad split of {n} with {val_fraction}")
    order = jnp.argsort(jax.random.uniform(key, (n,))).astype(jnp.int32)
    return order[n_val:], order[:n_val]
"""),
    Alternative("es_lax_cond", "early_stopping_update", """
def early_stopping_update(state, val_loss):
    val_loss = jnp.float32(val_loss)
    improved = val_loss < state["best"] - state["min_delta"]
    best, wait = jax.lax.cond(
        improved,
        lambda: (val_loss, jnp.int32(0)),
        lambda: (state["best"], state["wait"] + 1),
    )
    stop = jnp.logical_or(
        state["stopped"],
        jnp.logical_not(improved) & (wait >= state["patience"]) & (state["epoch"] >= 1),
    )
    new = {**state, "best": best, "wait": wait, "epoch": state["epoch"] + 1, "stopped": stop}
    return new, stop, improved
"""),
    Alternative("l2_tree_reduce_vdot", "l2_penalty", """
def l2_penalty(params, lam, *, mask=None):
    flags = expand_mask(mask, params)
    squares = jax.tree.map(lambda p, f: jnp.vdot(p, p) if f else jnp.float32(0), params, flags)
    return lam * jax.tree.reduce(jnp.add, squares, jnp.float32(0)) / 2
"""),
]
