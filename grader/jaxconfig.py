"""The one place where the grader configures JAX, for the parent and the worker alike.

``environment(devices)`` gives the variables a worker starts with (fake CPU devices are
fixed before JAX starts); ``configure(...)`` sets the platform, the persistent compilation
cache and the matmul precision once JAX is imported.
"""

from __future__ import annotations

import os
import re

_DEVICE_FLAG = re.compile(r"--xla_force_host_platform_device_count=\d+")


def environment(devices: int = 1, platform: str | None = None) -> dict[str, str]:
    """``XLA_FLAGS`` and ``JAX_PLATFORMS`` for a fresh process: the caller's own device
    count flag (a test suite's) never leaks into it."""
    flags = _DEVICE_FLAG.sub("", os.environ.get("XLA_FLAGS", "")).strip()
    if devices > 1:
        flags = f"{flags} --xla_force_host_platform_device_count={devices}".strip()
    env = {"XLA_FLAGS": flags, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["JAX_PLATFORMS"] = platform or ""
    return env


def configure(*, platform: str | None = None, cache_dir: str | None = None,
              devices: int = 1):
    """Imports and configures JAX; returns the module."""
    if platform:
        os.environ["JAX_PLATFORMS"] = platform
    import jax

    if platform:  # a spec may have imported jax already, so the variable is not enough
        jax.config.update("jax_platforms", platform)
    if devices > 1:
        try:
            jax.config.update("jax_num_cpu_devices", devices)
        except RuntimeError:
            pass  # the backend is already up: the caller checks the device count
    if cache_dir:
        use_compilation_cache(jax, str(cache_dir))
    if jax.default_backend() != "cpu":
        jax.config.update("jax_default_matmul_precision", "highest")
    return jax


def use_compilation_cache(jax, path: str) -> None:
    """JAX's persistent compilation cache in ``path``, for every program however small.

    JAX reads the folder once, at the first compile of the process; a process that switches
    folders (a test suite grading in-process, each test with its own cache) gets the new one
    used by resetting JAX's cache state, instead of silently keeping the first."""
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    # XLA's own caches would put the (per-grading, random) cache path into the compile
    # options, and so into every cache key: no entry would ever be found again
    jax.config.update("jax_persistent_cache_enable_xla_caches", "none")
    if jax.config.jax_compilation_cache_dir != path:
        jax.config.update("jax_compilation_cache_dir", path)
        try:
            from jax._src import compilation_cache
        except ImportError:  # a JAX without it: the first folder of the process stays
            return
        compilation_cache.reset_cache()


def check_platform(platform: str | None) -> str | None:
    """None when JAX can run on ``platform``, else a one-line explanation."""
    if not platform or platform == "cpu":
        return None
    try:
        import jax

        jax.devices(platform)
    except RuntimeError:
        how = {"gpu": "pip install -U 'jax[cuda12]'", "cuda": "pip install -U 'jax[cuda12]'",
               "tpu": "pip install -U 'jax[tpu]'"}.get(platform, "install a JAX build for it")
        return (f"no {platform} device is visible to JAX (this jaxlib runs on the CPU only?): "
                f"{how}, or leave out --device")
    return None
