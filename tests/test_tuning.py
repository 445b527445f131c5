"""dlcore.tuning pinned to scikit-learn's ParameterGrid and GP regressor, scipy and optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import stats
from sklearn.datasets import load_digits
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF
from sklearn.model_selection import ParameterGrid

from dlcore.tuning import (
    bayes_opt,
    evolution_strategy,
    expected_improvement,
    gp_posterior,
    grid_search,
    random_search,
    vmapped_lr_sweep,
)


def test_grid_search_order_count_and_ties():
    grid = {"lr": [1, 2], "b": ["x", "y", "z"], "a": [0.5]}
    seen = []

    def objective(params):
        seen.append(params)
        return 0.0 if params["lr"] == 2 else 1.0  # ties among the lr == 2 points

    best, value = grid_search(objective, grid)
    assert seen == list(ParameterGrid(grid))  # sorted keys, last key fastest
    assert best == {"a": 0.5, "b": "x", "lr": 2} and value == 0.0
    assert isinstance(value, float)
    assert all(best is not p for p in seen)  # a copy
    best["lr"] = 99
    assert seen[1]["lr"] == 2


_SPACE = {
    "lr": ("log_uniform", 1e-5, 1e-1),
    "dropout": ("uniform", 0.0, 0.5),
    "layers": ("int", 1, 4),
    "act": ("choice", ["relu", "gelu", "tanh"]),
}


def test_random_search_values_and_distribution():
    trials = []

    def objective(params):
        trials.append(params)
        return params["lr"]

    best, value = random_search(jax.random.key(0), objective, _SPACE, 2000)
    assert len(trials) == 2000
    lr = np.array([t["lr"] for t in trials])
    assert all(type(t["lr"]) is float and type(t["dropout"]) is float for t in trials)
    assert all(type(t["layers"]) is int for t in trials)
    assert lr.min() >= 1e-5 and lr.max() < 1e-1
    assert {t["layers"] for t in trials} == {1, 2, 3, 4}
    assert {t["act"] for t in trials} == {"relu", "gelu", "tanh"}
    assert all(0.0 <= t["dropout"] < 0.5 for t in trials)
    # log(lr) is uniform: KS against scipy's loguniform (alpha 1e-6 keeps it stable)
    assert stats.kstest(lr, stats.loguniform(1e-5, 1e-1).cdf).pvalue > 1e-6
    assert value == lr.min() and best == trials[int(np.argmin(lr))]


def test_random_search_keys_and_ties():
    def run(key):
        seen = []
        best, _ = random_search(key, lambda p: seen.append(p) or 0.0, _SPACE, 5)
        return seen, best

    a, best = run(jax.random.key(1))
    assert best == a[0]  # every value ties: the first trial wins
    assert run(jax.random.key(1))[0] == a
    assert run(jax.random.key(2))[0] != a
    assert len({t["lr"] for t in a}) == 5  # a fresh draw per trial


def _digits_train_fn(traces):
    x, y = load_digits(return_X_y=True)
    x, y = jnp.asarray(x[:500] / 16.0, jnp.float32), jnp.asarray(y[:500])

    def train_fn(lr):
        traces.append(1)
        tx = optax.inject_hyperparams(optax.adam)(learning_rate=lr)
        params = {"w": jnp.zeros((64, 10)), "b": jnp.zeros(10)}

        def loss(p):
            logits = x @ p["w"] + p["b"][None, :]
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        def step(carry, _):
            p, s = carry
            g = jax.grad(loss)(p)
            u, s = tx.update(g, s, p)
            return (optax.apply_updates(p, u), s), None

        (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), None, length=30)
        return loss(params)

    return train_fn


def test_vmapped_lr_sweep_equals_sequential_runs_and_traces_once():
    traces = []
    train_fn = _digits_train_fn(traces)
    lrs = jnp.array([1e-3, 1e-2, 3e-2, 1e-1])
    swept = vmapped_lr_sweep(train_fn, lrs)
    assert len(traces) == 1
    sequential = jnp.stack([jax.jit(train_fn)(lr) for lr in lrs])
    np.testing.assert_allclose(swept, sequential, atol=1e-5)  # measured 1.2e-7
    assert swept.shape == (4,) and bool(jnp.all(jnp.diff(swept) < 0))


@pytest.mark.parametrize("dim", [1, 2])
def test_gp_posterior_matches_sklearn(dim):
    rng = np.random.default_rng(dim)
    x = rng.random((12, dim))
    y = np.sin(6 * x).sum(1) + 0.1 * rng.normal(size=12)
    xs = rng.random((40, dim)) * 1.4 - 0.2
    for noise in (1e-6, 1e-2):
        for ell in (0.1, 0.3):
            gpr = GaussianProcessRegressor(RBF(ell, "fixed"), alpha=noise, optimizer=None)
            want_mean, want_std = gpr.fit(x, y).predict(xs, return_std=True)
            with jax.enable_x64(True):
                args = (x[:, 0], y, xs[:, 0]) if dim == 1 else (x, y, xs)
                mean, std = gp_posterior(*args, length_scale=ell, noise=noise)
                # float64 on both sides, same algebra: measured 1e-15
                np.testing.assert_allclose(mean, want_mean, atol=1e-8)
                np.testing.assert_allclose(std, want_std, atol=1e-8)


def test_gp_posterior_far_duplicates_jit_and_gradient():
    x = jnp.array([[0.1], [0.1], [0.5]])  # a duplicated input
    y = jnp.array([1.0, 1.2, -0.5])
    post = jax.jit(gp_posterior, static_argnames=("length_scale", "noise"))
    mean, std = post(x, y, jnp.array([[0.3], [50.0]]), length_scale=0.2, noise=1e-2)
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std))
    np.testing.assert_allclose([mean[1], std[1]], [0.0, 1.0], atol=1e-6)
    with jax.enable_x64(True):
        x64, y64 = np.asarray(x, np.float64), np.asarray(y, np.float64)

        @jax.jit
        def f(t):
            m, s = gp_posterior(x64, y64, t, length_scale=0.2, noise=1e-2)
            return jnp.sum(m) + jnp.sum(s)

        t = jnp.array([[0.3], [0.7]], jnp.float64)
        g = jax.grad(f)(t)
        h = 1e-6
        fd = [(f(t.at[i, 0].add(h)) - f(t.at[i, 0].add(-h))) / (2 * h) for i in range(2)]
        np.testing.assert_allclose(g[:, 0], fd, rtol=1e-6)  # central differences, O(h^2)


def test_expected_improvement_monte_carlo_and_monotone():
    mean, std, best = 0.3, 0.2, 0.1
    draws = np.random.default_rng(0).normal(mean, std, size=2_000_000)
    mc = np.mean(np.maximum(best - draws, 0.0))
    # the MC standard error is about 3e-5 here; allow 5 of them
    np.testing.assert_allclose(expected_improvement(mean, std, best), mc, atol=1.5e-4)
    np.testing.assert_allclose(
        expected_improvement(mean, std, best, xi=0.05),
        np.mean(np.maximum(best - 0.05 - draws, 0.0)),
        atol=1.5e-4,
    )
    means = jnp.linspace(-1.0, 1.0, 21)
    ei = expected_improvement(means, 0.3, 0.0)
    assert bool(jnp.all(ei >= 0)) and bool(jnp.all(jnp.diff(ei) < 0))
    stds = jnp.linspace(0.05, 2.0, 21)
    assert bool(jnp.all(jnp.diff(expected_improvement(0.5, stds, 0.0)) > 0))


def test_expected_improvement_at_zero_std():
    mean = jnp.array([-0.5, 0.0, 0.7])
    ei = expected_improvement(mean, jnp.zeros(3), 0.2)
    np.testing.assert_allclose(ei, [0.7, 0.2, 0.0], rtol=1e-6)
    grads = jax.grad(lambda m, s: jnp.sum(expected_improvement(m, s, 0.2)), argnums=(0, 1))(
        mean, jnp.zeros(3)
    )
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in grads)


def _forrester(x):
    return float((6 * x[0] - 2) ** 2 * np.sin(12 * x[0] - 4))


def test_bayes_opt_on_forrester_beats_random_search():
    gaps, calls = [], []
    for seed in range(3):
        seen = []

        def objective(z, seen=seen):
            seen.append(z)
            return _forrester(z)

        x, y = bayes_opt(jax.random.key(seed), objective, jnp.array([[0.0, 1.0]]), 16)
        calls.append(len(seen))
        assert all(0.0 <= float(z[0]) <= 1.0 for z in seen)
        assert y == _forrester(x)
        gaps.append(y + 6.02074)
    assert calls == [20, 20, 20]
    assert max(gaps) < 1e-4  # measured <= 1e-5 on 10 keys
    space = {"x": ("uniform", 0.0, 1.0)}
    random_gaps = [
        random_search(jax.random.key(s), lambda p: _forrester([p["x"]]), space, 20)[1] + 6.02074
        for s in range(3)
    ]
    assert np.median(gaps) < np.median(random_gaps)


def test_bayes_opt_stays_in_other_bounds():
    seen = []
    center = np.array([2.7, -0.4])

    def objective(z):
        seen.append(np.asarray(z))
        return float(np.sum((np.asarray(z) - center) ** 2))

    x, y = bayes_opt(jax.random.key(0), objective, jnp.array([[2.0, 3.0], [-1.0, 1.0]]), 6)
    pts = np.stack(seen)
    assert pts.shape == (10, 2)
    assert np.all(pts[:, 0] >= 2.0) and np.all(pts[:, 0] <= 3.0)
    assert np.all(pts[:, 1] >= -1.0) and np.all(pts[:, 1] <= 1.0)
    assert y == min(float(np.sum((p - center) ** 2)) for p in pts)


def test_evolution_strategy_on_the_sphere():
    def sphere(x):
        return jnp.sum(x**2)

    es = jax.jit(evolution_strategy, static_argnums=1)
    x0 = jnp.ones(10)
    for seed in range(3):
        best_x, best_f = es(jax.random.key(seed), sphere, x0)
        assert float(best_f) < 1e-4  # measured 2-4e-6
        # vmapped and unbatched reductions may differ in the last bit
        np.testing.assert_allclose(best_f, sphere(best_x), rtol=1e-6)
        assert float(best_f) <= float(sphere(x0))
    # a huge step: every sample is far worse than x0, which must still count as "seen"
    wild = jax.jit(evolution_strategy, static_argnums=1, static_argnames="num_generations")
    _, f_wild = wild(jax.random.key(0), sphere, x0, sigma=100.0, num_generations=3)
    assert float(f_wild) <= float(sphere(x0))
    first = es(jax.random.key(0), sphere, x0)[0]
    np.testing.assert_array_equal(first, es(jax.random.key(0), sphere, x0)[0])
    assert not np.array_equal(first, es(jax.random.key(1), sphere, x0)[0])
    eager = evolution_strategy(jax.random.key(0), sphere, x0, sigma=100.0, num_generations=3)
    np.testing.assert_allclose(eager[1], f_wild, rtol=1e-5)  # jit equals eager
