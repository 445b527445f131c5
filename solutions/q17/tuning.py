"""q17 Hyperparameter tuning: reference solution.

Generated from dlcore.tuning.bayes, dlcore.tuning.evolution, dlcore.tuning.gp, dlcore.tuning.search, dlcore.tuning.sweep by tools/gen_exercises.py; edit dlcore, then
regenerate. Graded tasks: grid_search, random_search, vmapped_lr_sweep, gp_posterior, expected_improvement, bayes_opt, evolution_strategy.
"""

import itertools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import cho_solve, solve_triangular
from jax.scipy.stats import norm


_FAR = 1e3  # unit-cube distance at which the RBF kernel underflows to exactly 0


def grid_search(
    objective: Callable[[dict[str, Any]], float], grid: dict[str, list[Any]]
) -> tuple[dict[str, Any], float]:
    """Evaluate ``objective`` on every combination of ``grid`` and return the minimum; not jitted.

    The combinations come in ``sklearn.model_selection.ParameterGrid`` order: keys sorted
    by name, the last key varying fastest. ``objective`` is called exactly
    ``prod_k len(grid[k])`` times, each time with a fresh dict; ties go to the first
    combination in that order (a strict ``<``).

    Args:
      objective: ``objective(params) -> float`` to minimize, e.g. a validation loss.
      grid: maps each hyperparameter name to a list of values.

    Returns:
      ``(best_params, best_value)``: a new dict (a copy, safe to modify) and a Python float.

    Warning:
      The grid grows exponentially with the number of hyperparameters and spends most of
      its budget on the ones that do not matter; prefer ``random_search`` beyond two or
      three of them (Bergstra & Bengio, 2012).

    Example:
      >>> grid = {"wd": [0.0, 1e-4], "lr": [0.01, 0.1]}
      >>> grid_search(lambda p: (p["lr"] - 0.1) ** 2 + p["wd"], grid)
      ({'lr': 0.1, 'wd': 0.0}, 0.0)

    References:
      ``sklearn.model_selection.ParameterGrid`` and ``GridSearchCV``.
    """
    names = sorted(grid)
    best_params, best_value = None, float("inf")
    for values in itertools.product(*(grid[name] for name in names)):
        params = dict(zip(names, values, strict=True))
        value = float(objective(dict(params)))
        if best_params is None or value < best_value:
            best_params, best_value = params, value
    return dict(best_params), best_value


def random_search(
    key: jax.Array,
    objective: Callable[[dict[str, Any]], float],
    space: dict[str, tuple],
    num_trials: int,
) -> tuple[dict[str, Any], float]:
    """Evaluate ``objective`` at ``num_trials`` random points of ``space``; not jitted.

    Each entry of ``space`` is one of:

    * ``("uniform", lo, hi)``: a float uniform on ``[lo, hi)``;
    * ``("log_uniform", lo, hi)``: ``exp(U[log lo, log hi))``, as ``scipy.stats.loguniform``;
      use it for scale parameters such as learning rates and weight decay;
    * ``("int", lo, hi)``: an int uniform on ``lo..hi`` (both included);
    * ``("choice", values)``: one of ``values``, uniformly.

    All draws are made up front, one key per name (names sorted), so trial ``t`` gets
    independent values. ``objective`` is called exactly ``num_trials`` times with Python
    scalars; ties go to the first trial.

    Args:
      key: a ``jax.random.key``; split once per name.
      objective: ``objective(params) -> float`` to minimize.
      space: maps names to the tuples above.
      num_trials: number of evaluations.

    Returns:
      ``(best_params, best_value)``: a dict of Python scalars and a Python float.

    Example:
      >>> space = {"lr": ("log_uniform", 1e-4, 1.0), "layers": ("int", 1, 3)}
      >>> params, value = random_search(jax.random.key(0), lambda p: p["lr"], space, 20)
      >>> 1e-4 <= params["lr"] < 1.0 and params["layers"] in (1, 2, 3)
      True

    References:
      Bergstra & Bengio, "Random Search for Hyper-Parameter Optimization", JMLR 13, 2012,
      https://jmlr.org/papers/v13/bergstra12a.html; ``scipy.stats.loguniform``.
    """
    names = sorted(space)
    columns = {}
    for name, subkey in zip(names, jax.random.split(key, len(names)), strict=True):
        kind, *args = space[name]
        if kind == "uniform":
            lo, hi = args
            columns[name] = np.asarray(
                jax.random.uniform(subkey, (num_trials,), minval=lo, maxval=hi)
            )
        elif kind == "log_uniform":
            lo, hi = args
            u = jax.random.uniform(subkey, (num_trials,), minval=np.log(lo), maxval=np.log(hi))
            columns[name] = np.asarray(jnp.exp(u))
        elif kind == "int":
            lo, hi = args
            columns[name] = np.asarray(jax.random.randint(subkey, (num_trials,), lo, hi + 1))
        elif kind == "choice":
            (values,) = args
            picks = np.asarray(jax.random.randint(subkey, (num_trials,), 0, len(values)))
            columns[name] = [values[i] for i in picks]
        else:
            raise ValueError(f"unknown distribution {kind!r} for {name!r}")
    best_params, best_value = None, float("inf")
    for t in range(num_trials):
        params = {}
        for name in names:
            v = columns[name][t]
            params[name] = v.item() if isinstance(v, np.generic) else v
        value = float(objective(dict(params)))
        if best_params is None or value < best_value:
            best_params, best_value = params, value
    return best_params, best_value


def vmapped_lr_sweep(
    train_fn: Callable[[jax.Array], jax.Array], learning_rates: jax.typing.ArrayLike
) -> jax.Array:
    """Run ``train_fn`` for every learning rate at once: ``jit(vmap(train_fn))(lrs)``.

    ``train_fn(lr)`` must be a pure function of a scalar learning rate that trains a model
    from scratch and returns a scalar (e.g. the final validation loss). Vectorizing it
    turns ``L`` training runs into one program that is traced and compiled once; on an
    accelerator the runs share each kernel launch. Inside ``train_fn`` the learning rate is
    a traced value, so build the optimizer with ``optax.inject_hyperparams`` (or pass
    ``lr`` to a schedule) rather than with a Python float.

    Args:
      train_fn: ``train_fn(lr) -> scalar``; pure, no Python side effects on ``lr``.
      learning_rates: ``(L,)`` learning rates.

    Returns:
      ``(L,)`` results, ``result[i] = train_fn(learning_rates[i])``.

    Warning:
      Memory grows with ``L`` (every run's parameters and optimizer state live at once), and
      a run that diverges produces NaN only in its own entry.

    Example:
      >>> def train_fn(lr):
      ...     w = 1.0
      ...     for _ in range(10):
      ...         w = w - lr * 2 * w  # gradient descent on w**2
      ...     return w**2
      >>> vmapped_lr_sweep(train_fn, jnp.array([0.1, 0.5, 1.1]))
      Array([1.1529212e-02, 0.0000000e+00, 3.8337627e+01], dtype=float32)

    References:
      ``optax.inject_hyperparams``; ``jax.vmap``.
    """
    return jax.jit(jax.vmap(train_fn))(jnp.asarray(learning_rates))


def _rbf(a: jax.Array, b: jax.Array, length_scale: float) -> jax.Array:
    """``exp(-|a_i - b_j|^2 / (2 l^2))`` for ``a (N, D)``, ``b (M, D)`` -> ``(N, M)``."""
    sq = jnp.sum(jnp.square(a[:, None, :] - b[None, :, :]), axis=-1)
    return jnp.exp(-0.5 * sq / length_scale**2)


def gp_posterior(
    x_train: jax.typing.ArrayLike,
    y_train: jax.typing.ArrayLike,
    x_test: jax.typing.ArrayLike,
    *,
    length_scale: float,
    noise: float,
) -> tuple[jax.Array, jax.Array]:
    """Posterior mean and standard deviation of a zero-mean GP with an RBF kernel.

    With ``k(x, x') = exp(-|x - x'|^2 / (2 l^2))`` (unit signal variance),
    ``K = k(X, X) + noise I``, ``K = L L^T`` (Cholesky) and ``K_* = k(X_*, X)``:
    ``mean = K_* K^{-1} y`` and ``var = 1 - diag(K_* K^{-1} K_*^T)``, computed as
    ``alpha = L^T \\ (L \\ y)`` and ``v = L \\ K_*^T``, ``var = 1 - sum(v^2, axis=0)``.
    The std is that of the latent function (noise not added), clipped at 0 before the
    square root. Far from the data the mean tends to 0 and the std to 1.

    Args:
      x_train: ``(N, D)`` inputs, or ``(N,)`` for ``D = 1``.
      y_train: ``(N,)`` targets (standardize them first: the prior mean is 0).
      x_test: ``(M, D)`` or ``(M,)`` query points.
      length_scale: ``l``, in the units of ``x``.
      noise: variance added to the training diagonal (also a jitter that keeps the
        Cholesky factorization stable with duplicated inputs).

    Returns:
      ``(mean, std)``, each ``(M,)``. Differentiable in ``x_test`` (the std has a zero
      gradient where the variance is clipped).

    Warning:
      scikit-learn's ``GaussianProcessRegressor(alpha=noise)`` also excludes ``alpha`` from
      the predicted std; GPyTorch's likelihood adds the noise when you ask for predictive
      (observation) uncertainty. Check which one an acquisition function expects.

    Example:
      >>> mean, std = gp_posterior(jnp.array([0.0, 1.0]), jnp.array([1.0, -1.0]),
      ...                          jnp.array([0.0, 10.0]), length_scale=0.5, noise=1e-6)
      >>> jnp.round(mean, 3), jnp.round(std, 3)
      (Array([1., 0.], dtype=float32), Array([0.001, 1.   ], dtype=float32))

    References:
      Rasmussen & Williams, "Gaussian Processes for Machine Learning", MIT Press, 2006,
      Algorithm 2.1, https://gaussianprocess.org/gpml/; scikit-learn
      ``GaussianProcessRegressor(kernel=RBF(l, "fixed"), alpha=noise, optimizer=None)``.
    """
    x_train = jnp.asarray(x_train)
    x_test = jnp.asarray(x_test)
    if x_train.ndim == 1:
        x_train = x_train[:, None]
    if x_test.ndim == 1:
        x_test = x_test[:, None]
    y = jnp.asarray(y_train)
    k = _rbf(x_train, x_train, length_scale) + noise * jnp.eye(
        x_train.shape[0], dtype=x_train.dtype
    )
    chol = jnp.linalg.cholesky(k)
    alpha = cho_solve((chol, True), y)
    k_star = _rbf(x_test, x_train, length_scale)  # (M, N)
    mean = k_star @ alpha
    v = solve_triangular(chol, k_star.T, lower=True)  # (N, M)
    var = 1.0 - jnp.sum(jnp.square(v), axis=0)
    positive = var > 0
    std = jnp.where(positive, jnp.sqrt(jnp.where(positive, var, 1.0)), 0.0)
    return mean, std


def expected_improvement(
    mean: jax.typing.ArrayLike,
    std: jax.typing.ArrayLike,
    best: jax.typing.ArrayLike,
    *,
    xi: float = 0.0,
) -> jax.Array:
    """Expected improvement below ``best`` of a Gaussian prediction (for minimization).

    With ``d = best - mean - xi`` and ``z = d / std``:
    ``EI = d Phi(z) + std phi(z)`` = ``E[max(best - xi - f, 0)]`` for
    ``f ~ N(mean, std^2)``. At ``std = 0`` it is ``max(d, 0)``, with no NaN in the value or
    the gradient. ``EI >= 0``; it falls as ``mean`` rises and grows with ``std``, which is
    how it trades exploitation against exploration. Inputs broadcast.

    Args:
      mean: posterior means.
      std: posterior standard deviations, ``>= 0``.
      best: the best (lowest) value observed so far.
      xi: extra margin that favours exploration (0 by default).

    Returns:
      EI with the broadcast shape of the inputs.

    Warning:
      Written for minimization. For maximization use ``mean - best - xi``; flipping the
      sign in one place only gives an acquisition that prefers bad points.

    Example:
      >>> expected_improvement(jnp.array([0.0, 0.0, 1.0]), jnp.array([1.0, 0.0, 0.0]), 0.5)
      Array([0.6977966, 0.5      , 0.       ], dtype=float32)

    References:
      Jones, Schonlau & Welch, "Efficient Global Optimization of Expensive Black-Box
      Functions", Journal of Global Optimization 13, 1998.
    """
    mean, std, best = jnp.broadcast_arrays(
        jnp.asarray(mean, float), jnp.asarray(std, float), jnp.asarray(best, float)
    )
    improvement = best - mean - xi
    positive = std > 0
    safe_std = jnp.where(positive, std, 1.0)
    z = improvement / safe_std
    ei = improvement * norm.cdf(z) + safe_std * norm.pdf(z)
    return jnp.where(positive, ei, jnp.maximum(improvement, 0.0))


def _bo_propose(
    key: jax.Array,
    x_unit: jax.Array,
    y: jax.Array,
    count: jax.Array,
    length_scale: float,
    noise: float,
    num_candidates: int,
) -> jax.Array:
    """One BO step on padded data: the unit-cube candidate with the largest EI.

    Rows ``>= count`` of ``x_unit``/``y`` are padding. They are moved to distinct points
    ``_FAR`` apart, where the kernel is exactly 0, so they leave the posterior on the unit
    cube unchanged; the padding keeps shapes fixed, so the step compiles once per run.
    """
    real = jnp.arange(y.shape[0]) < count
    y_mean = jnp.sum(jnp.where(real, y, 0.0)) / count
    y_var = jnp.sum(jnp.where(real, jnp.square(y - y_mean), 0.0)) / count
    y_scale = jnp.where(y_var > 0, jnp.sqrt(jnp.where(y_var > 0, y_var, 1.0)), 1.0)
    y_std = jnp.where(real, (y - y_mean) / y_scale, 0.0)
    far = _FAR * (1.0 + jnp.arange(y.shape[0], dtype=x_unit.dtype))[:, None]
    x_fit = jnp.where(real[:, None], x_unit, far)
    candidates = jax.random.uniform(key, (num_candidates, x_unit.shape[1]))
    mean, std = gp_posterior(x_fit, y_std, candidates, length_scale=length_scale, noise=noise)
    ei = expected_improvement(mean, std, jnp.min(jnp.where(real, y_std, jnp.inf)))
    return candidates[jnp.argmax(ei)]


def bayes_opt(
    key: jax.Array,
    objective: Callable[[jax.Array], float],
    bounds: jax.typing.ArrayLike,
    num_iters: int,
    *,
    num_init: int = 4,
    length_scale: float = 0.1,
    noise: float = 1e-6,
    num_candidates: int = 2000,
) -> tuple[jax.Array, float]:
    """Minimize an expensive black-box ``objective`` over a box; the loop is not jitted.

    Recipe: evaluate ``num_init`` points drawn uniformly in the box. Then, ``num_iters``
    times: scale the inputs to the unit cube, standardize the observed values
    (``(y - mean) / std``), fit a GP (``gp_posterior`` with the given ``length_scale`` and
    ``noise``), draw ``num_candidates`` uniform candidates, evaluate the one with the largest
    ``expected_improvement`` over the best standardized value, and add it to the data.
    ``objective`` is called exactly ``num_init + num_iters`` times, always inside the box.

    Args:
      key: a ``jax.random.key``; split into one key for the initial design and one per
        iteration for the candidates.
      objective: ``objective(x) -> float`` on ``(D,)`` arrays; any Python code.
      bounds: ``(D, 2)`` array of ``[low, high]`` per dimension.
      num_iters: number of GP-guided evaluations.
      num_init: number of initial uniform evaluations.
      length_scale: RBF length scale in unit-cube coordinates.
      noise: GP noise variance on the standardized values (a jitter for noiseless
        objectives).
      num_candidates: random candidates scored by EI per iteration.

    Returns:
      ``(best_x, best_y)``: the best point evaluated, ``(D,)``, and its value as a float.

    Warning:
      Fixed kernel hyperparameters keep this short; practical libraries (BoTorch,
      scikit-optimize, Optuna's GP sampler) fit them by maximizing the marginal likelihood
      at every step and optimize the acquisition with gradients, not random candidates.

    Example:
      >>> f = lambda x: float(jnp.sum((x - 0.3) ** 2))
      >>> x, y = bayes_opt(jax.random.key(0), f, jnp.array([[0.0, 1.0]]), 8)
      >>> y < 1e-3
      True

    References:
      Snoek, Larochelle & Adams, "Practical Bayesian Optimization of Machine Learning
      Algorithms", NeurIPS 2012, https://arxiv.org/abs/1206.2944; Jones et al., 1998.
    """
    bounds = jnp.asarray(bounds, jnp.float32)
    low, high = bounds[:, 0], bounds[:, 1]
    dim = bounds.shape[0]
    total = num_init + num_iters
    init_key, loop_key = jax.random.split(key)
    x_unit = (
        jnp.zeros((total, dim)).at[:num_init].set(jax.random.uniform(init_key, (num_init, dim)))
    )
    ys = [float(objective(low + x_unit[i] * (high - low))) for i in range(num_init)]
    propose = jax.jit(_bo_propose, static_argnums=6)
    for i, step_key in enumerate(jax.random.split(loop_key, num_iters)):
        count = num_init + i
        y = jnp.zeros(total).at[:count].set(jnp.asarray(ys, jnp.float32))
        u = propose(step_key, x_unit, y, count, length_scale, noise, num_candidates)
        x_unit = x_unit.at[count].set(u)
        ys.append(float(objective(low + u * (high - low))))
    best = min(range(total), key=ys.__getitem__)
    return low + x_unit[best] * (high - low), ys[best]


def evolution_strategy(
    key: jax.Array,
    objective: Callable[[jax.Array], jax.Array],
    x0: jax.typing.ArrayLike,
    *,
    sigma: float = 0.5,
    popsize: int = 32,
    num_elite: int = 8,
    num_generations: int = 200,
    sigma_decay: float = 0.97,
) -> tuple[jax.Array, jax.Array]:
    """Minimize ``objective`` with a simple (mu, lambda) evolution strategy.

    Per generation ``g`` (one key each): sample ``popsize`` points
    ``x_j = m + sigma_g * eps_j`` with ``eps_j ~ N(0, I)``, evaluate them with
    ``jax.vmap(objective)``, move the mean to the average of the ``num_elite`` best, and
    shrink the step, ``sigma_{g+1} = sigma_decay * sigma_g``. The best point ever evaluated
    (starting from ``x0`` itself) is tracked and returned, so
    ``best_value <= objective(x0)``. The loop is a ``lax.scan``: the whole function jits with
    ``objective``, ``popsize``, ``num_elite`` and ``num_generations`` static.

    Args:
      key: a ``jax.random.key``; split into one key per generation.
      objective: a jittable ``(D,) -> scalar`` function to minimize.
      x0: ``(D,)`` starting mean.
      sigma: initial step size.
      popsize: ``lambda``, samples per generation.
      num_elite: ``mu``, the number of best samples averaged into the new mean.
      num_generations: number of generations.
      sigma_decay: per-generation factor on ``sigma``.

    Returns:
      ``(best_x, best_value)``: ``(D,)`` and a scalar, ``best_value == objective(best_x)``.

    Warning:
      Without the decay (or CMA-ES's step-size adaptation) the mean jitters at a distance
      of order ``sigma`` from the optimum and stalls. This is neither OpenAI-ES (a gradient
      estimate) nor CMA-ES (which also adapts a covariance matrix); CMA-ES is the standard.

    Example:
      >>> x, f = evolution_strategy(jax.random.key(0), lambda x: jnp.sum(x**2), jnp.ones(3))
      >>> bool(f < 1e-4)
      True

    References:
      Beyer & Schwefel, "Evolution strategies: A comprehensive introduction", Natural
      Computing 1, 2002; Hansen, "The CMA Evolution Strategy: A Tutorial", 2016,
      https://arxiv.org/abs/1604.00772.
    """
    x0 = jnp.asarray(x0, jnp.float32)
    f0 = objective(x0)

    def generation(carry, gen_key):
        mean, step, best_x, best_f = carry
        pop = mean[None] + step * jax.random.normal(gen_key, (popsize,) + x0.shape)
        values = jax.vmap(objective)(pop)
        elite = jnp.argsort(values)[:num_elite]
        i = jnp.argmin(values)
        better = values[i] < best_f
        best_x = jnp.where(better, pop[i], best_x)
        best_f = jnp.where(better, values[i], best_f)
        return (jnp.mean(pop[elite], axis=0), step * sigma_decay, best_x, best_f), None

    init = (x0, jnp.asarray(sigma, jnp.float32), x0, f0)
    keys = jax.random.split(key, num_generations)
    (_, _, best_x, _), _ = jax.lax.scan(generation, init, keys)
    # re-evaluated unbatched: a vmapped sum can differ from a plain one in the last bit
    return best_x, objective(best_x)
