"""Rematerialization: trade compute for memory by recomputing activations in the backward pass."""

import functools
from collections.abc import Callable
from typing import Any

import jax

_POLICIES = {
    "everything_saveable": jax.checkpoint_policies.everything_saveable,
    "nothing_saveable": jax.checkpoint_policies.nothing_saveable,
    "dots_saveable": jax.checkpoint_policies.dots_saveable,
    "dots_with_no_batch_dims_saveable": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


def remat(fn: Callable[..., Any], policy: str | Callable[..., bool]) -> Callable[..., Any]:
    """``jax.checkpoint(fn, policy=...)`` with the policy given by name or as a callable.

    A policy decides, for each intermediate of ``fn``'s forward pass, whether the backward
    pass may keep it (a residual) or must recompute it from the saved inputs:

    - ``"everything_saveable"``: keep every residual (the same as no checkpoint);
    - ``"nothing_saveable"``: keep only the arguments, recompute the rest;
    - ``"dots_saveable"``: keep the outputs of matmuls (``dot_general``), recompute the
      cheap elementwise work;
    - ``"dots_with_no_batch_dims_saveable"``: keep only matmul outputs without batch
      dimensions.

    Values and gradients never change; only memory and compute do.

    Args:
      fn: the function to checkpoint.
      policy: one of the four names above, or a policy callable such as
        ``jax.checkpoint_policies.save_only_these_names("h")``.

    Returns:
      The checkpointed function.

    Raises:
      ValueError: for any other name (or a non-callable policy).

    Example:
      >>> f = remat(lambda x: jnp.sin(jnp.sin(x)), "nothing_saveable")
      >>> bool(jnp.allclose(jax.grad(f)(1.0), jnp.cos(jnp.sin(1.0)) * jnp.cos(1.0)))
      True

    References:
      ``jax.checkpoint``, https://docs.jax.dev/en/latest/gradient-checkpointing.html;
      Chen et al., "Training Deep Nets with Sublinear Memory Cost",
      https://arxiv.org/abs/1604.06174, 2016.
    """
    if isinstance(policy, str):
        if policy not in _POLICIES:
            raise ValueError(
                f"unknown remat policy {policy!r}; expected one of {sorted(_POLICIES)}"
            )
        policy = _POLICIES[policy]
    elif not callable(policy):
        raise ValueError(f"policy must be a name or a callable, got {policy!r}")
    return jax.checkpoint(fn, policy=policy)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _recompute_call(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


def _recompute_fwd(fn: Callable[..., Any], *args: Any) -> tuple[Any, tuple[Any, ...]]:
    # The residuals are the arguments, nothing else: no activations, no VJP closure.
    return fn(*args), args


def _recompute_bwd(fn: Callable[..., Any], args: tuple[Any, ...], cotangent: Any) -> tuple:
    # Run the forward pass again, now linearized, and pull the cotangent back through it.
    _, vjp_fn = jax.vjp(fn, *args)
    return vjp_fn(cotangent)


_recompute_call.defvjp(_recompute_fwd, _recompute_bwd)


def recompute_grad(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``fn`` so that its backward pass recomputes the forward pass from the arguments.

    Built with ``jax.custom_vjp``: the forward rule returns ``fn(*args)`` and saves only
    ``args``; the backward rule calls ``jax.vjp(fn, *args)`` again and applies it to the
    cotangent. So ``fn``'s intermediates are never stored between the passes (a ``sin``
    in ``fn`` runs twice per gradient evaluation instead of once), which is what
    ``jax.checkpoint(fn, policy=nothing_saveable)`` does.

    Args:
      fn: a function of array arguments (differentiable in all of them).

    Returns:
      ``wrapped(*args) = fn(*args)``, with the same values and gradients.

    Warning:
      ``fn`` must not close over traced values that you differentiate (the weights of an
      enclosing ``grad``): ``custom_vjp`` does not differentiate through closures, so pass
      such values as arguments. ``jax.checkpoint`` has no such limit; it is what to use in
      practice. Keyword arguments are not supported.

    Example:
      >>> f = recompute_grad(lambda x, y: jnp.sum(jnp.sin(x) * y))
      >>> jax.grad(f)(jnp.zeros(2), jnp.ones(2))
      Array([1., 1.], dtype=float32)

    References:
      ``jax.custom_vjp``, https://docs.jax.dev/en/latest/notebooks/Custom_derivative_rules_for_Python_code.html;
      ``tf.recompute_grad``.
    """

    def wrapped(*args):
        return _recompute_call(fn, *args)

    return wrapped
