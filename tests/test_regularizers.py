"""Penalties, prox_l1, SGD with weight decay and AdamW, pinned to optax and scikit-learn."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn.datasets import make_regression
from sklearn.linear_model import Lasso

from dlcore.nn import expand_mask, l1_penalty, l2_penalty, prox_l1
from dlcore.optim import adamw, add_decayed_weights, sgd_weight_decay


def nested_params(key):
    """Nested dict/tuple params with kernels and biases, in several shapes."""
    k1, k2, k3, k4 = jax.random.split(key, 4)
    return {
        "dense": {"kernel": jax.random.normal(k1, (3, 4)), "bias": jax.random.normal(k2, (4,))},
        "out": (jax.random.normal(k3, (4, 2)), {"bias": jax.random.normal(k4, (2,))}),
    }


PYTREE_MASK = {"dense": {"kernel": True, "bias": False}, "out": (True, {"bias": False})}


def kernels_only(params):
    return jax.tree.map(lambda p: p.ndim >= 2, params)


MASKS = {"none": None, "pytree": PYTREE_MASK, "callable": kernels_only}


def loss_fn(params, scale=1.0):
    """A quadratic with a different curvature per leaf and its minimum away from 0."""
    total = 0.0
    for i, leaf in enumerate(jax.tree.leaves(params)):
        curvature = jnp.arange(1.0, leaf.size + 1.0).reshape(leaf.shape) * (i + 1)
        total = total + jnp.sum(curvature * (leaf - 0.7) ** 2)
    return scale * total


def trajectory(tx, params, steps=100, loss=loss_fn):
    """Stacked params after each of ``steps`` updates of ``tx`` on ``loss`` (traceable)."""

    def step(carry, _):
        params, state = carry
        updates, state = tx.update(jax.grad(loss)(params), state, params)
        params = optax.apply_updates(params, updates)
        return (params, state), params

    return jax.lax.scan(step, (params, tx.init(params)), None, length=steps)[1]


def run_all(runs, params, steps=100):
    """Every ``(tx, loss)`` trajectory from ``params``, compiled together as one program."""
    return jax.jit(lambda p: [trajectory(tx, p, steps, loss) for tx, loss in runs])(params)


def assert_trees_close(a, b, rtol=1e-6, atol=1e-7):
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=rtol, atol=atol), a, b)


# ---- penalties ----------------------------------------------------------------------------


@pytest.mark.parametrize("mask", MASKS)
def test_penalties_match_formula(mask):
    params = nested_params(jax.random.key(1))
    flags = {"none": [True] * 4, "pytree": None, "callable": None}[mask]
    flat = jax.tree.leaves(params)
    if flags is None:  # both masks select the two kernels
        flags = [leaf.ndim >= 2 for leaf in flat]
    assert jax.tree.leaves(expand_mask(MASKS[mask], params)) == flags
    sq = sum(float(np.sum(np.square(np.asarray(p)))) for p, f in zip(flat, flags, strict=True) if f)
    ab = sum(float(np.sum(np.abs(np.asarray(p)))) for p, f in zip(flat, flags, strict=True) if f)
    # float32 sums of about 30 numbers: relative error well under 1e-6.
    np.testing.assert_allclose(l2_penalty(params, 0.3, mask=MASKS[mask]), 0.15 * sq, rtol=1e-6)
    np.testing.assert_allclose(l1_penalty(params, 0.3, mask=MASKS[mask]), 0.3 * ab, rtol=1e-6)


@pytest.mark.parametrize("mask", MASKS)
def test_l2_gradient_is_add_decayed_weights(mask):
    params = nested_params(jax.random.key(2))
    grads = jax.grad(l2_penalty)(params, 0.7, mask=MASKS[mask])
    zeros = jax.tree.map(jnp.zeros_like, params)
    tx = optax.add_decayed_weights(0.7, MASKS[mask])
    expected, _ = tx.update(zeros, tx.init(params), params)
    # lam * w both ways, one float32 multiplication each.
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), grads, expected)
    ours = add_decayed_weights(0.7, MASKS[mask])
    mine, _ = ours.update(zeros, ours.init(params), params)
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(a, b), mine, expected)


def test_l1_gradient_is_lam_sign():
    params = nested_params(jax.random.key(3))
    grads = jax.grad(l1_penalty)(params, 0.4, mask=kernels_only)
    flags = expand_mask(kernels_only, params)
    expected = jax.tree.map(lambda p, f: 0.4 * jnp.sign(p) * f, params, flags)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), grads, expected)


def test_penalties_jit_with_traced_lam():
    params = nested_params(jax.random.key(4))
    traces = []

    def both(p, lam):
        traces.append(lam)  # runs once per trace: lam must be traced, not baked in
        return l2_penalty(p, lam, mask=PYTREE_MASK), l1_penalty(p, lam)

    f = jax.jit(both)
    for lam in (0.1, 2.0):
        l2, l1 = f(params, lam)
        np.testing.assert_allclose(l2, l2_penalty(params, lam, mask=PYTREE_MASK), rtol=1e-6)
        np.testing.assert_allclose(l1, l1_penalty(params, lam), rtol=1e-6)
    assert len(traces) == 1


def test_mask_prefix_covers_subtree():
    params = nested_params(jax.random.key(5))
    prefix = {"dense": False, "out": True}
    expected = 0.5 * sum(float(jnp.sum(p**2)) for p in jax.tree.leaves(params["out"]))
    np.testing.assert_allclose(l2_penalty(params, 1.0, mask=prefix), expected, rtol=1e-6)


# ---- prox_l1 ------------------------------------------------------------------------------


def test_prox_l1_closed_form_and_exact_zeros():
    w = jax.random.normal(jax.random.key(6), (5, 7)) * 2
    for t in (0.0, 0.5, 1.5):
        expected = np.sign(w) * np.maximum(np.abs(w) - t, 0)
        np.testing.assert_array_equal(prox_l1(w, t), expected.astype(np.float32))
        assert np.all(np.asarray(prox_l1(w, t))[np.abs(np.asarray(w)) <= t] == 0)
    edge = jnp.array([-1.0, 1.0, -0.25, 0.25, 0.0])
    np.testing.assert_array_equal(prox_l1(edge, jnp.array([1.0, 1.0, 0.25, 0.25, 0.0])), 0.0)


def test_prox_l1_is_the_argmin():
    with jax.enable_x64(True):
        w = jnp.linspace(-3.0, 3.0, 31, dtype=jnp.float64)
        z = jnp.linspace(-4.0, 4.0, 40001, dtype=jnp.float64)  # spacing 2e-4
        for t in (0.3, 1.0):
            objective = 0.5 * (z[None, :] - w[:, None]) ** 2 + t * jnp.abs(z[None, :])
            brute = z[jnp.argmin(objective, axis=1)]
            # The grid holds every closed-form answer (multiples of 0.1), up to 1e-12 rounding.
            np.testing.assert_allclose(prox_l1(w, t), brute, atol=1e-9)


def test_prox_l1_jit_vmap_traced_t():
    w = jax.random.normal(jax.random.key(7), (4, 6))
    ts = jnp.array([0.0, 0.3, 0.6, 2.0])
    batched = jax.jit(jax.vmap(prox_l1))(w, ts)
    for i in range(4):
        np.testing.assert_array_equal(batched[i], prox_l1(w[i], float(ts[i])))


def ista(x, y, alpha, step, iters=5000):
    """Lasso(alpha, fit_intercept=False): min 1/(2n) |y - Xw|^2 + alpha |w|_1, by ISTA."""
    n = x.shape[0]

    def body(w, _):
        grad = x.T @ (x @ w - y) / n
        return prox_l1(w - step * grad, step * alpha), None

    return jax.lax.scan(body, jnp.zeros(x.shape[1], x.dtype), None, length=iters)[0]


def test_ista_with_prox_l1_matches_sklearn_lasso():
    x, y = make_regression(100, 20, n_informative=5, noise=1, random_state=0)
    step = x.shape[0] / np.linalg.norm(x, 2) ** 2  # 1 / L, L the gradient's Lipschitz constant
    with jax.enable_x64(True):
        nonzeros = []
        fast_ista = jax.jit(ista)
        for alpha in (0.1, 0.5, 1.0, 2.0):
            ours = np.asarray(fast_ista(jnp.asarray(x), jnp.asarray(y), alpha, step))
            nonzeros.append(int(np.count_nonzero(ours)))
            if alpha == 1.0:
                ref = Lasso(alpha=1.0, fit_intercept=False, tol=1e-12).fit(x, y).coef_
                # Both converge to the same minimizer; measured difference 5e-13.
                np.testing.assert_allclose(ours, ref, atol=1e-6)
                assert np.array_equal(ours == 0, ref == 0) and np.sum(ours == 0) == 15
    assert nonzeros == sorted(nonzeros, reverse=True), nonzeros


# ---- sgd_weight_decay ---------------------------------------------------------------------


@pytest.mark.parametrize("schedule", [False, True])
def test_sgd_weight_decay_matches_optax_and_l2(schedule):
    params = nested_params(jax.random.key(8))
    lr = optax.linear_schedule(0.02, 0.002, 100) if schedule else 0.01
    runs = []
    for mask in MASKS.values():
        l2_loss = lambda p, mask=mask: loss_fn(p) + l2_penalty(p, 0.3, mask=mask)
        runs += [
            (sgd_weight_decay(lr, 0.3, mask=mask), loss_fn),
            (optax.chain(optax.add_decayed_weights(0.3, mask), optax.sgd(lr)), loss_fn),
            (optax.sgd(lr), l2_loss),
        ]
    out = run_all(runs, params)
    for ours, ref, l2 in zip(out[::3], out[1::3], out[2::3], strict=True):
        # The same float32 operations in the same order: measured difference 0.0.
        assert_trees_close(ours, ref, atol=0)
        # The L2 route adds lam * w inside the gradient instead: rounding differs slightly.
        assert_trees_close(ours, l2, rtol=1e-5, atol=1e-6)


# ---- adamw --------------------------------------------------------------------------------


@pytest.mark.parametrize("schedule", [False, True])
def test_adamw_matches_optax(schedule):
    params = nested_params(jax.random.key(9))
    lr = optax.linear_schedule(0.05, 0.005, 100) if schedule else 0.03
    runs = []
    for mask in MASKS.values():
        runs += [
            (adamw(lr, weight_decay=0.1, mask=mask), loss_fn),
            (optax.adamw(lr, weight_decay=0.1, mask=mask), loss_fn),
        ]
    if not schedule:
        kwargs = dict(b1=0.8, b2=0.99, eps=1e-6, weight_decay=0.5, mask=PYTREE_MASK)
        # Gradients of about 1e-9, where the eps placement decides the step size.
        tiny = lambda p: loss_fn(p, 1e-9)
        runs += [(adamw(0.01, **kwargs), tiny), (optax.adamw(0.01, **kwargs), tiny)]
        # Masked-out leaves (the biases) get exactly Adam's update.
        runs += [(adamw(0.03, weight_decay=0.5, mask=kernels_only), loss_fn)]
        runs += [(optax.adam(0.03), loss_fn)]
        # Adam on loss + L2 is a different optimizer.
        runs += [(adamw(0.03, weight_decay=0.5), loss_fn)]
        runs += [(optax.adam(0.03), lambda p: loss_fn(p) + l2_penalty(p, 0.5))]
    out = run_all(runs, params)
    # Same formula; float32 rounding of the bias correction may differ in the last bit.
    pairs = out if schedule else out[:-4]
    for ours, ref in zip(pairs[::2], pairs[1::2], strict=True):
        assert_trees_close(ours, ref)
    if not schedule:
        masked, plain, decoupled, coupled = out[-4:]
        biases = lambda t: (t["dense"]["bias"], t["out"][1]["bias"])
        assert_trees_close(biases(masked), biases(plain))
        assert float(jnp.max(jnp.abs(masked["dense"]["kernel"] - plain["dense"]["kernel"]))) > 1e-2
        decoupled, coupled = map(jax.tree.leaves, out[-2:])
        gaps = [float(jnp.max(jnp.abs(a - b))) for a, b in zip(decoupled, coupled, strict=True)]
        assert max(gaps) > 1e-2, gaps  # the contract's problem measured 0.46


def test_adamw_eager():
    params = nested_params(jax.random.key(10))
    grads = jax.grad(loss_fn)(params)
    ours, ref = adamw(0.05, weight_decay=0.3), optax.adamw(0.05, weight_decay=0.3)
    p1, s1, p2, s2 = params, ours.init(params), params, ref.init(params)
    for _ in range(5):  # un-jitted updates, the same gradients each time
        u1, s1 = ours.update(grads, s1, p1)
        u2, s2 = ref.update(grads, s2, p2)
        p1, p2 = optax.apply_updates(p1, u1), optax.apply_updates(p2, u2)
    assert_trees_close(p1, p2)


def test_decay_needs_params_and_composes():
    params = nested_params(jax.random.key(13))
    grads = jax.grad(loss_fn)(params)
    for tx in (adamw(0.1), sgd_weight_decay(0.1, 0.1)):
        with pytest.raises(ValueError):
            tx.update(grads, tx.init(params))
    chained = optax.chain(optax.clip_by_global_norm(1.0), adamw(0.1, weight_decay=0.2))
    ref = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(0.1, weight_decay=0.2))
    ours, theirs = run_all([(chained, loss_fn), (ref, loss_fn)], params, steps=20)
    assert_trees_close(ours, theirs)
    state = adamw(0.1).init(params)
    assert all(isinstance(leaf, jax.Array) for leaf in jax.tree.leaves(state))
