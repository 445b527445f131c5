"""Known-wrong and correct-but-different q09 solutions (penalties, prox, weight decay).

Check ids and the property each one grades (the grader's reference is dlcore, whose tests
pin it to optax). Penalty params are a nested dict/tuple pytree of 2 kernels and 2 biases
with masks None, a pytree (kernels True, biases False) and a callable (leaf.ndim >= 2);
optimizer params are the harness's {"a": (x, y), "b": {"c": z}} (grader/optim_checks.py),
masks None, {"a": (True, True), "b": {"c": False}} and the callable. A case names its mask
and schedule in its statics; the spec resolves them and carries the params through the
harness's update(g, state) calls.

l1_penalty/formula        lam*sum(|w|) over the masked leaves (NumPy float64), rtol 1e-6.
l1_penalty/grad           jax.grad equals lam*sign(w) on masked leaves, 0 elsewhere.
l1_penalty/jit            jax.jit with a traced lam equals eager.
l2_penalty/formula        0.5*lam*sum(w**2) over the masked leaves, rtol 1e-6.
l2_penalty/grad_matches_decay  jax.grad equals lam*w on masked leaves, 0 elsewhere (the
                          optax.add_decayed_weights update on zero updates), rtol 1e-6.
l2_penalty/jit            as l1_penalty/jit.
prox_l1/closed_form       sign(w)*max(|w|-t, 0) for t in {0, .5, 1.5}, and t = |w|, exact.
prox_l1/argmin            the brute-force argmin over a 1e-4 grid of 0.5*(z-w)**2 + t*|z|
                          for w in linspace(-3, 3, 31), t in {.3, 1}, atol 1.1e-4.
prox_l1/ista_lasso        float32 ISTA (step 1/L, 5000 iterations) with the learner's prox on
                          make_regression(100, 20, n_informative=5, noise=1, random_state=0)
                          equals Lasso(alpha, fit_intercept=False, tol=1e-12) within 1e-4 with
                          the same exact zeros for alpha .1, .5, 1, 2 (dlcore: 5.6e-6, 15
                          zeros at alpha 1); nonzeros never grow with alpha.
prox_l1/jit_vmap          jax.jit(jax.vmap(prox_l1)) over 4 rows and 4 traced t values.
prox_l1/forbidden         no sklearn.
sgd_weight_decay/matches_optax  100-step trajectories (lr 0.01 / linear_schedule(.02, .002),
                          wd .3, the three masks, quadratic and Rosenbrock).
sgd_weight_decay/equals_l2_sgd  equals optax.sgd(lr) on loss + 0.5*wd*sum(masked w**2).
sgd_weight_decay/needs_params  update(g, state) without params raises ValueError.
sgd_weight_decay/jit      jitted init/update equal the eager steps (schedule, callable mask).
sgd_weight_decay/chain    inside optax.chain(optax.clip_by_global_norm(1.), ...).
sgd_weight_decay/forbidden  none of optax's sgd/adamw/decay/mask pieces.
adamw/matches_optax       100-step trajectories (lr 0.03 / linear_schedule(.05, .005), wd
                          .1/.5, the three masks, quadratic and Rosenbrock).
adamw/tiny_gradients      b1=.8, b2=.99, eps=1e-6, wd=.5, pytree mask, gradients ~1e-6.
adamw/masked_leaves_plain_adam  with a pytree mask the excluded leaf follows optax.adam
                          (rtol 1e-6) and the decayed ones end > 1e-2 away from it.
adamw/needs_params        update(g, state) without params raises ValueError.
adamw/state_pytree, adamw/jit, adamw/retrace, adamw/chain, adamw/hypergradient,
adamw/forbidden           the shared optimizer harness (grader/optim_checks.common).
"""

from tests.grading import Alternative, Mutant

MUTANTS = [
    # ---- adamw ----------------------------------------------------------------------------
    Mutant("adamw_is_adam_plus_l2", "adamw", "adamw/matches_optax", """
def adamw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4, *, mask=None):
    # decay added to the gradient *before* Adam's preconditioner
    return optax.chain(
        add_decayed_weights(weight_decay, mask),
        scale_by_adam(b1, b2, eps=eps),
        scale_by_learning_rate(learning_rate),
    )
"""),
    Mutant("adamw_decay_not_times_lr", "adamw", "adamw/matches_optax", """
def adamw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4, *, mask=None):
    # p -= lr * adam + wd * p
    return optax.chain(
        scale_by_adam(b1, b2, eps=eps),
        scale_by_learning_rate(learning_rate),
        add_decayed_weights(-weight_decay, mask),
    )
"""),
    Mutant("adamw_schedule_one_ahead", "adamw", "adamw/matches_optax", """
def adamw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4, *, mask=None):
    if callable(learning_rate):
        schedule = learning_rate
        learning_rate = lambda count: schedule(count + 1)
    return _original_adamw(learning_rate, b1, b2, eps, weight_decay, mask=mask)
"""),
    Mutant("adamw_schedule_frozen", "adamw", "adamw/matches_optax", """
def adamw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4, *, mask=None):
    if callable(learning_rate):
        learning_rate = learning_rate(0)
    return _original_adamw(learning_rate, b1, b2, eps, weight_decay, mask=mask)
"""),
    Mutant("adamw_mask_inverted", "adamw", "adamw/matches_optax", """
def adamw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4, *, mask=None):
    if mask is not None:
        given = mask
        mask = lambda p: jax.tree.map(lambda f: not f, expand_mask(given, p))
    return _original_adamw(learning_rate, b1, b2, eps, weight_decay, mask=mask)
"""),
    Mutant("adamw_mask_ignored", "adamw", "adamw/matches_optax", """
def adamw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4, *, mask=None):
    return _original_adamw(learning_rate, b1, b2, eps, weight_decay)
"""),
    Mutant("adamw_callable_mask_unsupported", "adamw", "adamw/matches_optax", """
def adamw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4, *, mask=None):
    def init_fn(params):
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("params needed")
        flags = jax.tree.map(lambda _: True, params) if mask is None else mask
        updates = jax.tree.map(lambda g, p, f: g + weight_decay * p if f else g,
                               updates, params, flags)
        return updates, state

    decay = optax.GradientTransformation(init_fn, update_fn)
    return optax.chain(scale_by_adam(b1, b2, eps=eps), decay,
                       scale_by_learning_rate(learning_rate))
""", status="error"),
    Mutant("adamw_no_params_check", "adamw", "adamw/needs_params", """
def adamw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4, *, mask=None):
    inner = _original_adamw(learning_rate, b1, b2, eps, weight_decay, mask=mask)

    def update_fn(updates, state, params=None):
        if params is None:  # silently skips the decay
            params = jax.tree.map(jnp.zeros_like, updates)
        return inner.update(updates, state, params)

    return optax.GradientTransformation(inner.init, update_fn)
"""),
    Mutant("adamw_eps_ignored", "adamw", "adamw/tiny_gradients", """
def adamw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4, *, mask=None):
    return _original_adamw(learning_rate, b1, b2, 1e-8, weight_decay, mask=mask)
"""),
    # ---- sgd_weight_decay -----------------------------------------------------------------
    Mutant("sgdwd_decays_biases", "sgd_weight_decay", "sgd_weight_decay/matches_optax", """
def sgd_weight_decay(learning_rate, weight_decay, *, mask=None):
    return _original_sgd_weight_decay(learning_rate, weight_decay)
"""),
    Mutant("sgdwd_decay_not_times_lr", "sgd_weight_decay", "sgd_weight_decay/matches_optax", """
def sgd_weight_decay(learning_rate, weight_decay, *, mask=None):
    return optax.chain(scale_by_learning_rate(learning_rate),
                       add_decayed_weights(-weight_decay, mask))
"""),
    Mutant("sgdwd_schedule_frozen", "sgd_weight_decay", "sgd_weight_decay/matches_optax", """
def sgd_weight_decay(learning_rate, weight_decay, *, mask=None):
    if callable(learning_rate):
        learning_rate = learning_rate(0)
    return _original_sgd_weight_decay(learning_rate, weight_decay, mask=mask)
"""),
    Mutant("sgdwd_no_params_check", "sgd_weight_decay", "sgd_weight_decay/needs_params", """
def sgd_weight_decay(learning_rate, weight_decay, *, mask=None):
    inner = _original_sgd_weight_decay(learning_rate, weight_decay, mask=mask)

    def update_fn(updates, state, params=None):
        if params is None:  # silently skips the decay
            params = jax.tree.map(jnp.zeros_like, updates)
        return inner.update(updates, state, params)

    return optax.GradientTransformation(inner.init, update_fn)
"""),
    # ---- penalties ------------------------------------------------------------------------
    Mutant("l2_without_half", "l2_penalty", "l2_penalty/grad_matches_decay", """
def l2_penalty(params, lam, *, mask=None):
    return 2 * _original_l2_penalty(params, lam, mask=mask)
"""),
    Mutant("l2_ignores_mask", "l2_penalty", "l2_penalty/formula", """
def l2_penalty(params, lam, *, mask=None):
    return _original_l2_penalty(params, lam)
"""),
    Mutant("l1_via_square", "l1_penalty", "l1_penalty/formula", """
def l1_penalty(params, lam, *, mask=None):
    return 2 * l2_penalty(params, lam, mask=mask)  # lam * sum(w**2)
"""),
    Mutant("l1_ignores_mask", "l1_penalty", "l1_penalty/formula", """
def l1_penalty(params, lam, *, mask=None):
    return _original_l1_penalty(params, lam)
"""),
    Mutant("l1_no_callable_mask", "l1_penalty", "l1_penalty/formula", """
def l1_penalty(params, lam, *, mask=None):
    if callable(mask):
        mask = None
    return _original_l1_penalty(params, lam, mask=mask)
"""),
    Mutant("l1_stop_gradient", "l1_penalty", "l1_penalty/grad", """
def l1_penalty(params, lam, *, mask=None):
    return jax.lax.stop_gradient(_original_l1_penalty(params, lam, mask=mask))
"""),
    # ---- prox_l1 --------------------------------------------------------------------------
    Mutant("prox_no_clamp", "prox_l1", "prox_l1/closed_form", """
def prox_l1(w, t):
    return w - t * jnp.sign(w)  # overshoots past 0, never exactly 0
"""),
    Mutant("prox_no_sign", "prox_l1", "prox_l1/closed_form", """
def prox_l1(w, t):
    return jnp.maximum(jnp.abs(w) - t, 0)
"""),
    Mutant("prox_hard_threshold", "prox_l1", "prox_l1/closed_form", """
def prox_l1(w, t):
    w = jnp.asarray(w)
    return jnp.where(jnp.abs(w) > t, w, 0.0)  # hard thresholding: zeros, but no shrinkage
"""),
    Mutant("prox_python_if", "prox_l1", "prox_l1/jit_vmap", """
def prox_l1(w, t):
    if t == 0:
        return jnp.asarray(w)
    return _original_prox_l1(w, t)
""", status="error"),
    # ---- checks added with the spec ------------------------------------------------------
    Mutant("adamw_mask_inverted_plain", "adamw", "adamw/masked_leaves_plain_adam", """
def adamw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4, *, mask=None):
    if mask is not None:
        given = mask
        mask = lambda p: jax.tree.map(lambda f: not f, expand_mask(given, p))
    return _original_adamw(learning_rate, b1, b2, eps, weight_decay, mask=mask)
"""),
    Mutant("adamw_python_int_count", "adamw", "adamw/state_pytree", """
def adamw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4, *, mask=None):
    inner = _original_adamw(learning_rate, b1, b2, eps, weight_decay, mask=mask)

    def init_fn(params):
        return (inner.init(params), 0)  # a Python int in the state

    def update_fn(updates, state, params=None):
        updates, s = inner.update(updates, state[0], params)
        return updates, (s, state[1] + 1)

    return optax.GradientTransformation(init_fn, update_fn)
"""),
    Mutant("adamw_python_if_on_count", "adamw", "adamw/jit", """
def adamw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4, *, mask=None):
    adam = scale_by_adam(b1, b2, eps=eps)

    def init_fn(params):
        return (adam.init(params), jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("adamw needs params")
        adam_state, count = state
        updates, adam_state = adam.update(updates, adam_state, params)
        lr = learning_rate(count) if callable(learning_rate) else learning_rate
        if int(count) >= 0:  # a Python branch on a traced value
            flags = expand_mask(mask, params)
        updates = jax.tree.map(lambda u, p, f: -lr * (u + weight_decay * p) if f else -lr * u,
                               updates, params, flags)
        return updates, (adam_state, count + 1)

    return optax.GradientTransformation(init_fn, update_fn)
""", status="error"),
    Mutant("adamw_float_count_retraces", "adamw", "adamw/retrace", """
def adamw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4, *, mask=None):
    inner = _original_adamw(learning_rate, b1, b2, eps, weight_decay, mask=mask)

    def init_fn(params):
        return (inner.init(params), jnp.zeros([], jnp.float32))

    def update_fn(updates, state, params=None):
        updates, s = inner.update(updates, state[0], params)
        return updates, (s, (state[1] + 1).astype(jnp.int32))  # the state's dtype changes

    return optax.GradientTransformation(init_fn, update_fn)
"""),
    Mutant("adamw_decay_before_adam_chain", "adamw", "adamw/chain", """
def adamw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4, *, mask=None):
    return optax.chain(
        add_decayed_weights(weight_decay, mask),
        scale_by_adam(b1, b2, eps=eps),
        scale_by_learning_rate(learning_rate),
    )
"""),
    Mutant("adamw_float_learning_rate", "adamw", "adamw/hypergradient", """
def adamw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4, *, mask=None):
    if not callable(learning_rate):
        learning_rate = float(learning_rate)
    return _original_adamw(learning_rate, b1, b2, eps, weight_decay, mask=mask)
""", status="error"),
    Mutant("adamw_calls_optax", "adamw", "adamw/forbidden", """
def adamw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4, *, mask=None):
    return optax.adamw(learning_rate, b1, b2, eps, weight_decay=weight_decay, mask=mask)
""", status="forbidden"),
    Mutant("sgdwd_keras_doubled_decay", "sgd_weight_decay", "sgd_weight_decay/equals_l2_sgd",
           """
def sgd_weight_decay(learning_rate, weight_decay, *, mask=None):
    # Keras' L2(l) has no one half: the decay becomes 2 * l
    return _original_sgd_weight_decay(learning_rate, 2 * weight_decay, mask=mask)
"""),
    Mutant("sgdwd_python_if_on_count", "sgd_weight_decay", "sgd_weight_decay/jit", """
def sgd_weight_decay(learning_rate, weight_decay, *, mask=None):
    def init_fn(params):
        return (jnp.zeros([], jnp.int32),)

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("sgd_weight_decay needs params")
        (count,) = state
        lr = learning_rate(int(count)) if callable(learning_rate) else learning_rate
        flags = expand_mask(mask, params)
        updates = jax.tree.map(lambda g, p, f: -lr * (g + weight_decay * p) if f else -lr * g,
                               updates, params, flags)
        return updates, (count + 1,)

    return optax.GradientTransformation(init_fn, update_fn)
""", status="error"),
    Mutant("sgdwd_ignores_chained_updates", "sgd_weight_decay", "sgd_weight_decay/chain", """
def sgd_weight_decay(learning_rate, weight_decay, *, mask=None):
    inner = _original_sgd_weight_decay(learning_rate, weight_decay, mask=mask)

    def update_fn(updates, state, params=None):
        # keeps only the sign of what it is given: inside a chain the clipping is lost
        updates = jax.tree.map(jnp.sign, updates)
        return inner.update(updates, state, params)

    return optax.GradientTransformation(inner.init, update_fn)
"""),
    Mutant("sgdwd_calls_optax", "sgd_weight_decay", "sgd_weight_decay/forbidden", """
def sgd_weight_decay(learning_rate, weight_decay, *, mask=None):
    return optax.chain(optax.add_decayed_weights(weight_decay, mask), optax.sgd(learning_rate))
""", status="forbidden"),
    Mutant("l1_python_float_lam", "l1_penalty", "l1_penalty/jit", """
def l1_penalty(params, lam, *, mask=None):
    return _original_l1_penalty(params, float(lam), mask=mask)
""", status="error"),
    Mutant("l2_python_float_lam", "l2_penalty", "l2_penalty/jit", """
def l2_penalty(params, lam, *, mask=None):
    return _original_l2_penalty(params, float(lam), mask=mask)
""", status="error"),
    Mutant("l2_norm_not_squared", "l2_penalty", "l2_penalty/formula", """
def l2_penalty(params, lam, *, mask=None):
    flags = jax.tree.leaves(expand_mask(mask, params))
    leaves = jax.tree.leaves(params)
    total = sum(jnp.sum(p**2) for f, p in zip(flags, leaves) if f)
    return 0.5 * lam * jnp.sqrt(total)
"""),
    Mutant("prox_no_clamp_argmin", "prox_l1", "prox_l1/argmin", """
def prox_l1(w, t):
    return w - t * jnp.sign(w)
"""),
    Mutant("prox_shrinks_by_half", "prox_l1", "prox_l1/ista_lasso", """
def prox_l1(w, t):
    return _original_prox_l1(w, t / 2)  # the threshold of a penalty without a factor lam
"""),
    Mutant("prox_hard_threshold_ista", "prox_l1", "prox_l1/ista_lasso", """
def prox_l1(w, t):
    w = jnp.asarray(w)
    return jnp.where(jnp.abs(w) > t, w, 0.0)
"""),
    Mutant("prox_calls_sklearn", "prox_l1", "prox_l1/forbidden", """
from sklearn.linear_model._cd_fast import enet_coordinate_descent


def prox_l1(w, t):
    assert enet_coordinate_descent is not None  # uses a scikit-learn solver's module
    return _original_prox_l1(w, t)
""", status="forbidden"),
]

ALTERNATIVES = [
    Alternative("prox_clip", "prox_l1", """
def prox_l1(w, t):
    w = jnp.asarray(w)
    return w - jnp.clip(w, -t, t)
"""),
    Alternative("l1_tree_map_sum", "l1_penalty", """
def l1_penalty(params, lam, *, mask=None):
    flags = expand_mask(mask, params)
    terms = jax.tree.map(lambda p, f: jnp.abs(p).sum() if f else 0.0, params, flags)
    return lam * sum(jax.tree.leaves(terms))
"""),
    Alternative("sgdwd_single_transform", "sgd_weight_decay", """
def sgd_weight_decay(learning_rate, weight_decay, *, mask=None):
    def init_fn(params):
        return (jnp.zeros([], jnp.int32),)

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("sgd_weight_decay needs params")
        (count,) = state
        lr = learning_rate(count) if callable(learning_rate) else learning_rate
        flags = expand_mask(mask, params)
        updates = jax.tree.map(
            lambda g, p, f: -lr * (g + weight_decay * p) if f else -lr * g,
            updates, params, flags,
        )
        return updates, (count + 1,)

    return optax.GradientTransformation(init_fn, update_fn)
"""),
    Alternative("adamw_decay_inline", "adamw", """
def adamw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4, *, mask=None):
    adam = scale_by_adam(b1, b2, eps=eps)

    def init_fn(params):
        return (adam.init(params), jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("adamw needs params")
        adam_state, count = state
        updates, adam_state = adam.update(updates, adam_state, params)
        lr = learning_rate(count) if callable(learning_rate) else learning_rate
        flags = expand_mask(mask, params)
        updates = jax.tree.map(
            lambda u, p, f: -lr * (u + weight_decay * p) if f else -lr * u,
            updates, params, flags,
        )
        return updates, (adam_state, optax.safe_int32_increment(count))

    return optax.GradientTransformation(init_fn, update_fn)
"""),
]
