"""Every docstring example in the graph (q01, q02) and timing (q03) modules runs."""

import doctest
import importlib

import jax
import jax.numpy as jnp
import pytest

_MODULES = [
    "dlcore.graphs.power_iteration",
    "dlcore.graphs.interpreter",
    "dlcore.graphs.reverse_mode",
    "dlcore.perf.timing",
]


@pytest.mark.parametrize("name", _MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, extraglobs={"jax": jax, "jnp": jnp}, optionflags=doctest.NORMALIZE_WHITESPACE
    )
    assert result.attempted > 0
    assert result.failed == 0
