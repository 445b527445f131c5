"""Scaled dot-product, multi-head, additive (Bahdanau) and multiplicative (Luong) attention."""

import jax
import jax.numpy as jnp

__all__ = [
    "bahdanau_attention",
    "dot_product_attention_weights",
    "luong_attention",
    "multi_head_attention",
    "scaled_dot_product_attention",
]


def _masked_softmax(logits: jax.Array, mask: jax.Array | None, axis: int = -1) -> jax.Array:
    """Softmax over ``axis`` where ``mask`` False entries get weight exactly 0.

    Masked logits become a large negative *finite* number: a row with at least one allowed
    entry gives ``exp(-huge) == 0`` there, a fully masked row gives uniform weights, never NaN.
    """
    if mask is not None:
        big_negative = 0.7 * jnp.finfo(logits.dtype).min
        logits = jnp.where(jnp.broadcast_to(mask, logits.shape), logits, big_negative)
    shifted = logits - jnp.max(logits, axis=axis, keepdims=True)
    unnormalized = jnp.exp(shifted)
    return unnormalized / jnp.sum(unnormalized, axis=axis, keepdims=True)


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
    q, k, v = jnp.asarray(q), jnp.asarray(k), jnp.asarray(v)
    if q.ndim != 4 or k.shape != v.shape or q.shape[2:] != k.shape[2:]:
        raise ValueError(f"need q (B,T,N,H), k and v (B,S,N,H); got {q.shape}, {k.shape}")
    logits_dtype = jnp.promote_types(q.dtype, jnp.float32)
    logits = jnp.einsum("btnh,bsnh->bnts", q, k, preferred_element_type=logits_dtype)
    logits = logits * (q.shape[-1] ** -0.5)
    shape = logits.shape
    if mask is not None:
        mask = jnp.broadcast_to(jnp.asarray(mask, dtype=bool), shape)
    if is_causal:
        causal = jnp.broadcast_to(jnp.tril(jnp.ones(shape[-2:], dtype=bool)), shape)
        mask = causal if mask is None else jnp.logical_and(mask, causal)
    weights = _masked_softmax(logits, mask).astype(v.dtype)
    return jnp.einsum("bnts,bsnh->btnh", weights, v)


def dot_product_attention_weights(
    q: jax.typing.ArrayLike,
    k: jax.typing.ArrayLike,
    *,
    mask: jax.typing.ArrayLike | None = None,
    is_causal: bool = False,
) -> jax.Array:
    """The attention weights of :func:`scaled_dot_product_attention`, before the values.

    ``w[b, n, t, s] = softmax_s(sum_h q[b, t, n, h] k[b, s, n, h] / sqrt(H))`` with the same
    masking rules (disallowed pairs get weight exactly 0; a fully masked row is uniform),
    computed in at least float32 and returned in the dtype of ``q``. What an attention layer
    needs when it drops out weights or returns them for inspection.

    Args:
      q: queries, shape ``(B, T, N, H)``.
      k: keys, shape ``(B, S, N, H)``.
      mask: optional bool array broadcastable to ``(B, N, T, S)``; True means "may attend".
      is_causal: if True, query ``t`` only sees keys ``s <= t`` (top-left aligned); static.

    Returns:
      Array of shape ``(B, N, T, S)`` whose rows sum to 1.

    Example:
      >>> w = dot_product_attention_weights(jnp.ones((1, 3, 1, 2)), jnp.ones((1, 3, 1, 2)),
      ...                                   is_causal=True)
      >>> w[0, 0]
      Array([[1.        , 0.        , 0.        ],
             [0.5       , 0.5       , 0.        ],
             [0.33333334, 0.33333334, 0.33333334]], dtype=float32)

    References:
      ``flax.nnx.dot_product_attention_weights``.
    """
    q, k = jnp.asarray(q), jnp.asarray(k)
    if q.ndim != 4 or k.ndim != 4 or q.shape[2:] != k.shape[2:]:
        raise ValueError(f"need q (B,T,N,H) and k (B,S,N,H); got {q.shape}, {k.shape}")
    logits_dtype = jnp.promote_types(q.dtype, jnp.float32)
    logits = jnp.einsum("btnh,bsnh->bnts", q, k, preferred_element_type=logits_dtype)
    logits = logits * (q.shape[-1] ** -0.5)
    shape = logits.shape
    if mask is not None:
        mask = jnp.broadcast_to(jnp.asarray(mask, dtype=bool), shape)
    if is_causal:
        causal = jnp.broadcast_to(jnp.tril(jnp.ones(shape[-2:], dtype=bool)), shape)
        mask = causal if mask is None else jnp.logical_and(mask, causal)
    return _masked_softmax(logits, mask).astype(q.dtype)


def _project(x: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
    """``(B, T, D) @ (D, N, H) + (N, H) -> (B, T, N, H)``."""
    return jnp.einsum("btd,dnh->btnh", x, kernel) + bias[None, None]


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
    x = jnp.asarray(x)
    if params["query"]["kernel"].shape[1] != num_heads:
        raise ValueError(f"num_heads={num_heads} but query kernel is (D, N, H) with N != it")
    q, k, v = (_project(x, **params[name]) for name in ("query", "key", "value"))
    o = scaled_dot_product_attention(q, k, v, mask=mask)
    y = jnp.einsum("btnh,nhd->btd", o, params["out"]["kernel"])
    return y + params["out"]["bias"][None, None]


def _attend(
    scores: jax.Array, keys: jax.Array, mask: jax.typing.ArrayLike | None
) -> tuple[jax.Array, jax.Array]:
    """Softmax ``(B, S)`` scores over ``S`` and average ``(B, S, Dk)`` keys with them."""
    weights = _masked_softmax(scores, None if mask is None else jnp.asarray(mask, dtype=bool))
    return jnp.einsum("bs,bsd->bd", weights, keys), weights


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
    query, keys = jnp.asarray(query), jnp.asarray(keys)
    hidden = jnp.tanh((query @ params["w_query"])[:, None, :] + keys @ params["w_key"])
    return _attend(hidden @ params["v"], keys, mask)


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
    query, keys = jnp.asarray(query), jnp.asarray(keys)
    if score == "dot":
        if query.shape[-1] != keys.shape[-1]:
            raise ValueError(f"'dot' score needs Dq == Dk, got {query.shape} and {keys.shape}")
        scores = jnp.einsum("bd,bsd->bs", query, keys)
    elif score == "general":
        scores = jnp.einsum("bq,qk,bsk->bs", query, params["w"], keys)
    else:
        raise ValueError(f"score must be 'dot' or 'general', got {score!r}")
    return _attend(scores, keys, mask)
