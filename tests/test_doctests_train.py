"""Every docstring example in the regularization, weight-decay and training modules runs."""

import doctest
import importlib

import jax
import jax.numpy as jnp
import pytest

_MODULES = [
    "dlcore.nn.regularizers",
    "dlcore.optim.weight_decay",
    "dlcore.optim.adamw",
    "dlcore.train.split",
    "dlcore.train.early_stopping",
    "dlcore.train.fitting",
    "dlcore.train.callbacks",
    "dlcore.train.port",
    "dlcore.train.numpy_reference",
]


@pytest.mark.parametrize("name", _MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, extraglobs={"jax": jax, "jnp": jnp}, optionflags=doctest.NORMALIZE_WHITESPACE
    )
    assert result.attempted > 0
    assert result.failed == 0
