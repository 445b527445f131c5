"""q13 Attention: scaled dot-product, multi-head, additive and multiplicative attention.

Graded tasks: scaled_dot_product_attention, multi_head_attention, bahdanau_attention, luong_attention.
Replace each `raise NotImplementedError(...)` with your code; read README.md first.
Check your work with: python -m grader exercises/q13
"""

import jax
import jax.numpy as jnp


# Task: graded.
def scaled_dot_product_attention(
    q: jax.typing.ArrayLike,
    k: jax.typing.ArrayLike,
    v: jax.typing.ArrayLike,
    *,
    mask: jax.typing.ArrayLike | None = None,
    is_causal: bool = False,
) -> jax.Array:
    """Scaled dot-product attention, ``softmax(q k^T / sqrt(H) + masks) v`` per head.

    ``logits[b, n, t, s] = sum_h q[b, t, n, h] k[b, s, n, h] / sqrt(H)``; disallowed
    ``(t, s)`` pairs get weight exactly 0; ``out[b, t, n, :] = sum_s w[b, n, t, s] v[b, s, n, :]``.
    The softmax runs in at least float32.

    Args:
      q: queries, shape ``(B, T, N, H)``.
      k: keys, shape ``(B, S, N, H)``.
      v: values, shape ``(B, S, N, H)``.
      mask: optional bool array broadcastable to ``(B, N, T, S)``; True means "may attend".
      is_causal: if True, query ``t`` only sees keys ``s <= t`` (a top-left aligned lower
        triangle, ``tril(ones((T, S)))``, as ``jax.nn.dot_product_attention``); static.

    Returns:
      Array of shape ``(B, T, N, H)`` in the dtype of ``v``.

    Warning:
      Layout is ``(batch, seq, heads, head_dim)`` as in ``jax.nn.dot_product_attention``;
      PyTorch's ``scaled_dot_product_attention`` uses ``(batch, heads, seq, head_dim)``. With
      ``T != S`` the causal mask is aligned at the top-left (PyTorch's ``is_causal`` does the
      same; FlashAttention >= 2.1 and KV-cache decoding align at the bottom-right).

    Example:
      >>> q = jnp.ones((1, 3, 1, 2))
      >>> v = jnp.broadcast_to(jnp.arange(3.0).reshape(1, 3, 1, 1), (1, 3, 1, 2))
      >>> scaled_dot_product_attention(q, q, v, is_causal=True)[0, :, 0, 0]
      Array([0. , 0.5, 1. ], dtype=float32)

    References:
      Vaswani et al., "Attention Is All You Need", https://arxiv.org/abs/1706.03762, 2017;
      ``jax.nn.dot_product_attention``.
    """
    raise NotImplementedError('q13 scaled_dot_product_attention: write this function (see README.md)')


# Task: graded.
def multi_head_attention(
    params: dict,
    x: jax.typing.ArrayLike,
    *,
    num_heads: int,
    mask: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    """Multi-head self-attention with biased query/key/value/output projections.

    ``q, k, v = x W_q + b_q, x W_k + b_k, x W_v + b_v`` (each ``(B, T, N, H)``),
    ``o = scaled_dot_product_attention(q, k, v, mask=mask)``,
    ``y = sum_{n, h} o[..., n, h] W_o[n, h, :] + b_o``.

    Args:
      params: ``{"query" | "key" | "value": {"kernel": (D, N, H), "bias": (N, H)},
        "out": {"kernel": (N, H, D), "bias": (D,)}}``, the layout of
        ``flax.nnx.MultiHeadAttention``.
      x: inputs, shape ``(B, T, D)``.
      num_heads: ``N``; must match the kernels; static.
      mask: optional bool array broadcastable to ``(B, N, T, T)``; True means "may attend".

    Returns:
      Array of shape ``(B, T, D)``.

    Warning:
      PyTorch's ``nn.MultiheadAttention`` packs the projections into ``in_proj_weight``
      ``(3D, D)``, defaults to ``(T, B, D)`` inputs, and its ``attn_mask`` True means
      "may NOT attend" (the opposite of here and of Flax).

    Example:
      >>> p = {n: {"kernel": jnp.ones((4, 2, 2)), "bias": jnp.zeros((2, 2))}
      ...      for n in ("query", "key", "value")}
      >>> p["out"] = {"kernel": jnp.ones((2, 2, 4)), "bias": jnp.zeros(4)}
      >>> multi_head_attention(p, jnp.ones((1, 3, 4)), num_heads=2).shape
      (1, 3, 4)

    References:
      Vaswani et al., "Attention Is All You Need", https://arxiv.org/abs/1706.03762, 2017;
      ``flax.nnx.MultiHeadAttention``.
    """
    raise NotImplementedError('q13 multi_head_attention: write this function (see README.md)')


# Task: graded.
def bahdanau_attention(
    params: dict,
    query: jax.typing.ArrayLike,
    keys: jax.typing.ArrayLike,
    *,
    mask: jax.typing.ArrayLike | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Additive attention: ``score_s = v . tanh(query W_q + keys_s W_k)``.

    ``weights = softmax_s(score)`` (masked entries exactly 0), ``context = sum_s weights_s keys_s``.

    Args:
      params: ``{"w_query": (Dq, A), "w_key": (Dk, A), "v": (A,)}``.
      query: decoder state, shape ``(B, Dq)``.
      keys: encoder states (also the values), shape ``(B, S, Dk)``.
      mask: optional bool ``(B, S)``; True means "may attend".

    Returns:
      ``(context (B, Dk), weights (B, S))``.

    Example:
      >>> p = {"w_query": jnp.ones((2, 3)), "w_key": jnp.ones((2, 3)), "v": jnp.ones(3)}
      >>> ctx, w = bahdanau_attention(p, jnp.zeros((1, 2)), jnp.ones((1, 4, 2)))
      >>> w
      Array([[0.25, 0.25, 0.25, 0.25]], dtype=float32)

    References:
      Bahdanau, Cho and Bengio, "Neural Machine Translation by Jointly Learning to Align and
      Translate", https://arxiv.org/abs/1409.0473, 2014.
    """
    raise NotImplementedError('q13 bahdanau_attention: write this function (see README.md)')


# Task: graded.
def luong_attention(
    params: dict | None,
    query: jax.typing.ArrayLike,
    keys: jax.typing.ArrayLike,
    *,
    score: str = "dot",
    mask: jax.typing.ArrayLike | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Multiplicative attention: ``"dot"`` ``score_s = q . k_s``, ``"general"`` ``q W k_s``.

    ``weights = softmax_s(score)`` (masked entries exactly 0), ``context = sum_s weights_s keys_s``.
    No ``1/sqrt(d)`` scaling (that is the Transformer's addition).

    Args:
      params: ``{"w": (Dq, Dk)}`` for ``"general"``; unused (may be None) for ``"dot"``.
      query: decoder state, shape ``(B, Dq)``.
      keys: encoder states, shape ``(B, S, Dk)``; ``"dot"`` needs ``Dq == Dk``.
      score: ``"dot"`` or ``"general"``; static.
      mask: optional bool ``(B, S)``; True means "may attend".

    Returns:
      ``(context (B, Dk), weights (B, S))``.

    Example:
      >>> keys = jnp.array([[[1.0, 0.0], [0.0, 1.0]]])
      >>> ctx, w = luong_attention(None, jnp.array([[0.0, 0.0]]), keys)
      >>> ctx
      Array([[0.5, 0.5]], dtype=float32)

    References:
      Luong, Pham and Manning, "Effective Approaches to Attention-based Neural Machine
      Translation", https://arxiv.org/abs/1508.04025, 2015.
    """
    raise NotImplementedError('q13 luong_attention: write this function (see README.md)')
