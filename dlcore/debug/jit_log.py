"""Log metrics from inside ``jit`` and ``lax.scan`` with an ordered host callback."""

from collections.abc import Callable
from typing import Any

import jax


def jit_logger(
    step_fn: Callable[[Any, Any], tuple[Any, dict[str, jax.Array]]],
) -> tuple[Callable[[Any, Any], tuple[Any, dict[str, jax.Array]]], list[dict[str, float]]]:
    """Wrap a training step so that every execution appends its metrics to a list.

    ``logged_fn(state, batch)`` calls ``step_fn(state, batch) -> (state, metrics)``, returns
    its outputs untouched, and stages ``jax.debug.callback(..., ordered=True)`` that appends
    ``{name: float(value)}`` to ``log`` on the host. Because the callback is part of the
    computation, it runs on every *execution*: eagerly, under ``jit`` (once per call, not
    once per trace) and inside ``lax.scan`` (once per iteration), in program order.

    Args:
      step_fn: ``step_fn(state, batch) -> (state, metrics)``; ``metrics`` is a dict of
        scalars.

    Returns:
      ``(logged_fn, log)``: the wrapped step, with the same outputs bit for bit, and the
      list it appends to. Callbacks run asynchronously: call ``jax.effects_barrier()``
      before reading ``log``.

    Warning:
      A Python ``print`` or ``log.append`` inside a jitted function runs once, at trace
      time, and sees tracers. ``jax.pure_callback`` whose result is unused is removed as
      dead code and logs nothing. Use ``jax.debug.callback`` (or ``jax.debug.print``).

    Example:
      >>> step = lambda s, b: (s + b, {"loss": s * b})
      >>> logged, log = jit_logger(step)
      >>> _ = jax.lax.scan(lambda s, b: logged(s, b), 1.0, jnp.arange(3.0))
      >>> jax.effects_barrier()
      >>> log
      [{'loss': 0.0}, {'loss': 1.0}, {'loss': 4.0}]

    References:
      ``jax.debug.callback``,
      https://docs.jax.dev/en/latest/debugging/print_breakpoint.html;
      "External callbacks", https://docs.jax.dev/en/latest/external-callbacks.html.
    """
    log: list[dict[str, float]] = []

    def record(metrics):
        log.append({name: float(value) for name, value in metrics.items()})

    def logged_fn(state, batch):
        state, metrics = step_fn(state, batch)
        jax.debug.callback(record, metrics, ordered=True)
        return state, metrics

    return logged_fn, log
