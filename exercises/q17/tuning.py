"""q17 Hyperparameter tuning: grid, random and Bayesian search, a vmapped sweep, an evolution strategy.

Graded tasks: grid_search, random_search, vmapped_lr_sweep, gp_posterior, expected_improvement, bayes_opt, evolution_strategy.
Replace each `raise NotImplementedError(...)` with your code; read README.md first.
Check your work with: python -m grader exercises/q17
"""

import itertools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import cho_solve, solve_triangular
from jax.scipy.stats import norm


# Task: graded.
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
    raise NotImplementedError('q17 grid_search: write this function (see README.md)')


# Task: graded.
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
    raise NotImplementedError('q17 random_search: write this function (see README.md)')


# Task: graded.
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
    raise NotImplementedError('q17 vmapped_lr_sweep: write this function (see README.md)')


# Task: graded.
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
    raise NotImplementedError('q17 gp_posterior: write this function (see README.md)')


# Task: graded.
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
    raise NotImplementedError('q17 expected_improvement: write this function (see README.md)')


# Task: graded.
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
    raise NotImplementedError('q17 bayes_opt: write this function (see README.md)')


# Task: graded.
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
    raise NotImplementedError('q17 evolution_strategy: write this function (see README.md)')
