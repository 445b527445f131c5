"""Strict JAX settings for the whole suite, as Equinox and chex do."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
# graders the suite starts use a fork server of their own, gone with them, not the
# learner's daemon that outlives them (tests/test_grader_lifecycle.py tests that one)
os.environ.setdefault("DLCORE_GRADER_DAEMON", "0")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")

# A persistent compilation cache for the suite's own programs: a second run of the suite
# loads what the first compiled (the fast tier's time is mostly XLA compiles). Tests that
# grade in this process point JAX at the grader's cache folders meanwhile; the suite's is
# put back after each of them. DLCORE_TEST_XLA_CACHE=off runs without it.
_XLA_CACHE = os.environ.get("DLCORE_TEST_XLA_CACHE") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
    "dlcore-tests", "xla")


def _suite_cache():
    from grader.jaxconfig import use_compilation_cache

    if _XLA_CACHE != "off":
        use_compilation_cache(jax, _XLA_CACHE)


_suite_cache()


@pytest.fixture(autouse=True)
def _suite_compilation_cache():
    yield
    if _XLA_CACHE != "off" and jax.config.jax_compilation_cache_dir != _XLA_CACHE:
        _suite_cache()


@pytest.fixture
def key():
    return jax.random.key(0)
