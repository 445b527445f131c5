"""Every docstring example in the dlcore metrics, imbalance and tuning modules runs."""

import doctest
import importlib

import jax
import jax.numpy as jnp
import pytest

_MODULES = [
    "dlcore.metrics.classification",
    "dlcore.metrics.ranking",
    "dlcore.metrics.probability",
    "dlcore.metrics.regression",
    "dlcore.metrics.splits",
    "dlcore.imbalance.weights",
    "dlcore.imbalance.losses",
    "dlcore.imbalance.sampling",
    "dlcore.imbalance.threshold",
    "dlcore.tuning.search",
    "dlcore.tuning.sweep",
    "dlcore.tuning.gp",
    "dlcore.tuning.bayes",
    "dlcore.tuning.evolution",
]


@pytest.mark.parametrize("name", _MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, extraglobs={"jax": jax, "jnp": jnp}, optionflags=doctest.NORMALIZE_WHITESPACE
    )
    assert result.attempted > 0
    assert result.failed == 0
