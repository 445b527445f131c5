"""Bayesian optimization with a GP surrogate and expected improvement (a Python loop)."""

from collections.abc import Callable

import jax
import jax.numpy as jnp

from dlcore.tuning.gp import expected_improvement, gp_posterior

_FAR = 1e3  # unit-cube distance at which the RBF kernel underflows to exactly 0


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
