"""Every docstring example in the dlcore layer, attention, dropout and CNN modules runs."""

import doctest
import importlib

import jax
import jax.numpy as jnp
import pytest

_MODULES = [
    "dlcore.nn.conv",
    "dlcore.nn.pooling",
    "dlcore.nn.linear",
    "dlcore.nn.attention",
    "dlcore.nn.dropout",
    "dlcore.nn.modules",
    "dlcore.models.cnn",
]


@pytest.mark.parametrize("name", _MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, extraglobs={"jax": jax, "jnp": jnp}, optionflags=doctest.NORMALIZE_WHITESPACE
    )
    assert result.attempted > 0
    assert result.failed == 0
