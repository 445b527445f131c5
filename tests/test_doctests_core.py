"""Run the docstring examples of the core modules (activations, losses, autodiff, optim, data)."""

import doctest
import importlib

import jax
import jax.numpy as jnp
import pytest

# By dotted name: dlcore.optim re-exports functions called sgd, adam, ... that shadow the
# submodules of the same name as package attributes.
MODULES = [
    "dlcore.nn.activations",
    "dlcore.nn.losses",
    "dlcore.autodiff.backprop",
    "dlcore.autodiff.numerical",
    "dlcore.optim.base",
    "dlcore.optim.sgd",
    "dlcore.optim.rmsprop",
    "dlcore.optim.adagrad",
    "dlcore.optim.adam",
    "dlcore.data.batching",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    # Examples assume jax and jnp are in scope besides the module's own names (CONTRIBUTING 5).
    globs = {**vars(module), "jax": jax, "jnp": jnp}
    result = doctest.testmod(
        module, globs=globs, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    assert result.attempted > 0, f"{name} has no doctest examples"
    assert result.failed == 0, f"{name}: {result.failed} doctest example(s) failed"
