"""Grid search and random search over hyperparameters (Python-level loops, not jitted)."""

import itertools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


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
