"""Every docstring example in the dlcore debugging (q23) and memory/pipeline (q24) modules runs."""

import doctest
import importlib

import jax
import jax.numpy as jnp
import pytest

_MODULES = [
    "dlcore.debug.gradcheck",
    "dlcore.debug.nonfinite",
    "dlcore.debug.jit_log",
    "dlcore.debug.overfit",
    "dlcore.debug.mlp",
    "dlcore.debug.buggy_loop",
    "dlcore.debug.train_loop",
    "dlcore.perf.accumulate",
    "dlcore.perf.remat",
    "dlcore.perf.prefetch",
    "dlcore.perf.profile",
]


@pytest.mark.parametrize("name", _MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, extraglobs={"jax": jax, "jnp": jnp}, optionflags=doctest.NORMALIZE_WHITESPACE
    )
    assert result.attempted > 0
    assert result.failed == 0
