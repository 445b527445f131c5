"""Profile one training step with ``jax.profiler`` (XProf / Perfetto trace files)."""

import glob
import os
from collections.abc import Callable, Sequence
from typing import Any

import jax


def _xplane_files(logdir: str) -> dict[str, int]:
    """Every ``*.xplane.pb`` under ``logdir``, with its modification time in ns."""
    pattern = os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb")
    return {path: os.stat(path).st_mtime_ns for path in glob.glob(pattern)}


def profile_step(step_fn: Callable[..., Any], args: Sequence[Any], logdir: str) -> str:
    """Trace exactly one warm, blocked call of ``step_fn(*args)``; return the run directory.

    1. One warm-up call, blocked with ``jax.block_until_ready``, so that tracing and XLA
       compilation happen before the trace and do not show in it.
    2. ``with jax.profiler.trace(logdir): jax.block_until_ready(step_fn(*args))``: one call,
       blocked inside the trace, so the device work is recorded (with asynchronous dispatch
       an unblocked call returns before its kernels run, and they fall outside the trace).
    3. The profiler writes ``logdir/plugins/profile/<run>/<host>.xplane.pb`` (open it in
       XProf/TensorBoard) and ``<host>.trace.json.gz`` (Perfetto, ``chrome://tracing``);
       the result is that ``<run>`` directory.

    Not jitted; ``step_fn`` usually is.

    Args:
      step_fn: the step to profile, for example a jitted training step.
      args: its positional arguments, a tuple.
      logdir: the directory the profiler writes under (created if missing).

    Returns:
      The run directory holding the new ``.xplane.pb``, as a string.

    Raises:
      RuntimeError: if the profiler wrote no new ``.xplane.pb``.

    Warning:
      ``cProfile`` and wall-clock timers are misleading under asynchronous dispatch: a
      jitted call returns at once and the device time is charged to whatever blocks later
      (often ``float(loss)`` or the next host transfer). Block before timing, and profile
      with ``jax.profiler`` (or ``torch.profiler`` in PyTorch).

    Example:
      >>> import tempfile
      >>> with tempfile.TemporaryDirectory() as logdir:
      ...     run = profile_step(jax.jit(lambda x: x @ x), (jnp.ones((8, 8)),), logdir)
      ...     sorted(name.split(".", 1)[1] for name in os.listdir(run))
      ['trace.json.gz', 'xplane.pb']

    References:
      ``jax.profiler.trace``, https://docs.jax.dev/en/latest/profiling.html;
      XProf, https://openxla.org/xprof.
    """
    args = tuple(args)
    jax.block_until_ready(step_fn(*args))
    before = _xplane_files(logdir)
    with jax.profiler.trace(logdir):
        jax.block_until_ready(step_fn(*args))
    after = _xplane_files(logdir)
    new = [path for path, stamp in after.items() if before.get(path) != stamp]
    if len(new) != 1:
        raise RuntimeError(f"expected one new .xplane.pb under {logdir!r}, found {new}")
    return os.path.dirname(new[0])
