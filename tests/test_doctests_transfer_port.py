"""Every docstring example in the transfer-learning (q08) and weight-porting (q28) modules runs."""

import doctest
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

_MODULES = [
    "dlcore.transfer.model",
    "dlcore.transfer.finetune",
    "dlcore.transfer.data",
    "dlcore.port.convert",
    "dlcore.port.digits_net",
    "dlcore.port.state_dict",
]


@pytest.mark.parametrize("name", _MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module,
        extraglobs={"jax": jax, "jnp": jnp, "np": np, "nnx": nnx, "optax": optax},
        optionflags=doctest.NORMALIZE_WHITESPACE,
    )
    assert result.attempted > 0
    assert result.failed == 0
