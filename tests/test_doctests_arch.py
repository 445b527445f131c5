"""Every docstring example in the sequence, recurrent, normalization and gradient modules runs."""

import doctest
import importlib

import jax
import jax.numpy as jnp
import pytest

_MODULES = [
    "dlcore.nn.conv1d",
    "dlcore.nn.receptive",
    "dlcore.nn.recurrent",
    "dlcore.nn.normalization",
    "dlcore.nn.init",
    "dlcore.nn.gradients",
    "dlcore.models.residual",
]


@pytest.mark.parametrize("name", _MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, extraglobs={"jax": jax, "jnp": jnp}, optionflags=doctest.NORMALIZE_WHITESPACE
    )
    assert result.attempted > 0
    assert result.failed == 0
