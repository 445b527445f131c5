"""Gaussian-process regression posterior and the expected-improvement acquisition."""

import jax
import jax.numpy as jnp
from jax.scipy.linalg import cho_solve, solve_triangular
from jax.scipy.stats import norm


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
