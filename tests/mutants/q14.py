"""Known-wrong and correct-but-different imbalanced-data code for the q14 grader.

Check ids (one property each):
- class_weights_balanced/matches_sklearn: 5 label vectors (N = 50, C = 4, class shares
  .7/.2/.07/.03, every class present); equal to
  ``compute_class_weight("balanced", classes=range(4), y=labels)`` within rtol 1e-6, and
  ``sum_c n_c w_c = N`` (rtol 1e-6).
- class_weights_balanced/absent_class_zero: labels [0, 0, 0, 2, 2, 0], C = 3 give
  [0.5, 0, 1.0] (rtol 1e-6); the absent class is exactly 0.
- class_weights_balanced/jit: ``jax.jit`` with ``num_classes`` static equals eager.
- weighted_cross_entropy/matches_sklearn: x64; 4 cases N = 64, C = 5, logits 3 N(0, 1),
  weights U[0.1, 1.1); equals ``log_loss(y, softmax(logits), labels=range(5),
  sample_weight=w[y])`` within rtol 1e-6.
- weighted_cross_entropy/ones_is_plain_ce: all-ones weights give
  ``optax.softmax_cross_entropy_with_integer_labels(...).mean()`` (rtol 1e-6).
- weighted_cross_entropy/scale_invariant: weights times 7.5 give the same value (rtol 1e-6).
- weighted_cross_entropy/stable_large_logits: logits of +-1e4 (16 x 3): the value is finite
  and ``jax.grad`` w.r.t. logits equals ``w[y] (softmax - onehot) / sum w[y]`` (atol 1e-7).
- weighted_cross_entropy/train_minority_recall (TRAIN, ~3 s; measured with
  make_classification random_state 0/1/2: recall 0.72/0.64/0.78, balanced accuracy
  0.78/0.72/0.77; the check uses random_state 0): make_classification(6000,
  n_features=20, n_informative=5, weights=[.97, .03], flip_y=0, class_sep=.8,
  random_state=0), first 4000 train, last 2000 test; linear softmax, Adam 0.05, 500
  full-batch steps on the learner's ``weighted_cross_entropy`` with the learner's
  ``class_weights_balanced``: test minority recall >= 0.5 and balanced accuracy >= 0.70
  (measured 0.72 / 0.78; plain CE 0.07 / 0.53).
- focal_loss/matches_optax: logits linspace(-30, 30, 61) with hard (alternating 0/1) and
  soft (0.3) labels, alpha in {None, .25, .75} x gamma in {0, .5, 1, 2, 5}; the output has
  the logits' shape and equals ``optax.sigmoid_focal_loss`` within rtol 1e-5, atol 1e-12.
- focal_loss/bce_at_gamma_zero: gamma = 0, alpha = None equals
  ``optax.sigmoid_binary_cross_entropy`` (rtol 1e-6) on random (4, 7) logits and 0/1 labels.
- focal_loss/forbidden: no ``optax.sigmoid_focal_loss`` (nor the other forbidden names,
  which are reported for every task).
- focal_loss/finite_extremes: logits [-100, 100, -100, 100], labels [0, 1, 1, 0], gamma 0.5:
  the summed loss and its gradient are finite.
- smote/on_knn_segments: x ~ N(0, I) of shape (20, 3), 4000 new points, k in {1, 3}: the
  shape is (4000, 3) and every point is within 1e-5 of a segment from a minority point to one
  of its k nearest other minority points (``sklearn.neighbors.NearestNeighbors``).
- smote/statistics: k = 3, the same data: each point is assigned to its closest undirected
  kNN segment; segment counts pass a chi-square test against probabilities proportional to
  the number of directed (point, neighbour) pairs that give the segment (p > 1e-6); on
  segments found from one end only the gap ``t`` of the projection passes a KS test against
  U[0, 1) (p > 1e-6).
- smote/prng: the same key gives the same points, keys 0 and 1 differ.
- smote/jit: jit (num_new and k static) equals eager.
- balanced_batch_indices/valid: shape (64,), integer dtype, all indices in [0, N).
- balanced_batch_indices/statistics: labels 97 x 0 then 3 x 1; 200 batches of 64 from
  ``split(key, 200)``: the minority share is 0.5 +- 6 sqrt(0.25 / 12800); the variance over
  batches of the per-batch minority count is in [8, 32] (Binomial(64, .5) gives 16; exact
  balancing gives 0); picks within each class pass a chi-square uniformity test (p > 1e-6).
- balanced_batch_indices/prng: the same key gives the same batch, keys 0 and 1 differ.
- balanced_batch_indices/jit: works under jit with ``labels`` traced and ``batch_size``
  static.
- best_threshold_f1/matches_sklearn: 30 cases, N = 50, ~20% positives, scores N(0, 1) + y
  (tie-free) and 30 more rounded to integers (ties), mapped with ``lax.map``: F1 equals the
  maximum F1 over ``precision_recall_curve`` within 1e-6; the threshold is a score whose
  rule ``score >= t`` reaches that F1; where one threshold alone reaches it, it is that one
  exactly (exact F1 ties are left to the ``separable`` check, so float rounding of equal
  F1 values cannot decide a verdict).
- best_threshold_f1/separable: scores [-3, -1, .5, 2, 4], labels [0, 0, 1, 1, 1] give exactly
  (0.5, 1.0); scores [1, 2, 3, 4], labels [1, 0, 0, 1] tie at F1 2/3 (t = 1 and t = 4) and
  give t = 1 exactly.
- best_threshold_f1/jit: ``jit(lax.map(best_threshold_f1))`` equals eager.
- best_threshold_f1/train_lifts_f1 (TRAIN): plain-CE model from the TRAIN data; threshold
  from the learner's ``best_threshold_f1`` on the score margin of the first 1000 training
  examples; test F1 rises by >= 0.10 over the 0 margin (measured lift 0.198 on random_state 0, the
  check's data; 0.008 and 0.221 on random_state 1 and 2, so the margin holds for this data
  set only, which the check fixes).
"""

from tests.grading import Alternative, Mutant

MUTANTS = [
    Mutant("weights_not_inverted", "class_weights_balanced",
           "class_weights_balanced/matches_sklearn", """
def class_weights_balanced(labels, num_classes):
    labels = jnp.asarray(labels)
    counts = jnp.zeros(num_classes).at[labels].add(1.0)
    return counts / labels.shape[0]
"""),
    Mutant("weights_absent_class_inf", "class_weights_balanced",
           "class_weights_balanced/absent_class_zero", """
def class_weights_balanced(labels, num_classes):
    labels = jnp.asarray(labels)
    counts = jnp.zeros(num_classes).at[labels].add(1.0)
    return labels.shape[0] / (num_classes * counts)
"""),
    Mutant("wce_divides_by_n", "weighted_cross_entropy", "weighted_cross_entropy/matches_sklearn",
           """
def weighted_cross_entropy(logits, labels, weights):
    logp = jax.nn.log_softmax(jnp.asarray(logits), axis=-1)
    ce = -jnp.take_along_axis(logp, jnp.asarray(labels)[:, None], axis=-1)[:, 0]
    return jnp.mean(jnp.asarray(weights)[labels] * ce)
"""),
    Mutant("wce_naive_softmax", "weighted_cross_entropy",
           "weighted_cross_entropy/stable_large_logits", """
def weighted_cross_entropy(logits, labels, weights):
    e = jnp.exp(jnp.asarray(logits))
    p = e / e.sum(-1, keepdims=True)
    ce = -jnp.log(jnp.take_along_axis(p, jnp.asarray(labels)[:, None], axis=-1)[:, 0])
    w = jnp.asarray(weights)[labels]
    return jnp.sum(w * ce) / jnp.sum(w)
"""),
    Mutant("weights_python_loop_over_classes", "class_weights_balanced",
           "class_weights_balanced/jit", """
def class_weights_balanced(labels, num_classes):
    labels = jnp.asarray(labels)
    out = []
    for c in range(num_classes):
        n_c = int(jnp.sum(labels == c))  # a concrete count: fails under jit
        out.append(labels.shape[0] / (num_classes * n_c) if n_c else 0.0)
    return jnp.asarray(out, jnp.float32)
""", status="error"),
    Mutant("wce_keras_mean_scales", "weighted_cross_entropy",
           "weighted_cross_entropy/scale_invariant", """
def weighted_cross_entropy(logits, labels, weights):
    # Keras's class_weight: mean(w[y] * CE), which grows with the weights' scale
    logp = jax.nn.log_softmax(jnp.asarray(logits), axis=-1)
    ce = -jnp.take_along_axis(logp, jnp.asarray(labels)[:, None], axis=-1)[:, 0]
    return jnp.mean(jnp.asarray(weights)[labels] * ce)
"""),
    Mutant("wce_sum_not_mean", "weighted_cross_entropy", "weighted_cross_entropy/ones_is_plain_ce",
           """
def weighted_cross_entropy(logits, labels, weights):
    logp = jax.nn.log_softmax(jnp.asarray(logits), axis=-1)
    ce = -jnp.take_along_axis(logp, jnp.asarray(labels)[:, None], axis=-1)[:, 0]
    w = jnp.asarray(weights)[labels]
    return jnp.sum(w * ce) / jnp.maximum(jnp.sum(jnp.asarray(weights)), 1.0)
"""),
    Mutant("wce_inverted_weights", "weighted_cross_entropy",
           "weighted_cross_entropy/train_minority_recall", """
def weighted_cross_entropy(logits, labels, weights):
    # inverted weights: the rare class gets the small weight
    w = 1.0 / jnp.asarray(weights)
    return _original_weighted_cross_entropy(logits, labels, jnp.where(jnp.isfinite(w), w, 0.0))
"""),
    Mutant("focal_calls_optax", "focal_loss", "focal_loss/forbidden", """
import optax

def focal_loss(logits, labels, *, alpha=None, gamma=2.0):
    return optax.sigmoid_focal_loss(logits, labels, alpha=alpha, gamma=gamma)
""", status="forbidden"),
    Mutant("focal_gamma_zero_drops_bce_half", "focal_loss", "focal_loss/bce_at_gamma_zero", """
def focal_loss(logits, labels, *, alpha=None, gamma=2.0):
    # only the positive term of the cross-entropy
    x = jnp.asarray(logits)
    y = jnp.asarray(labels).astype(x.dtype)
    return _original_focal_loss(x, y, alpha=alpha, gamma=gamma) - jnp.where(
        gamma == 0, (1 - y) * -jax.nn.log_sigmoid(-x), 0.0)
"""),
    Mutant("batches_one_past_end", "balanced_batch_indices", "balanced_batch_indices/valid", """
def balanced_batch_indices(key, labels, batch_size):
    return _original_balanced_batch_indices(key, labels, batch_size) + 1
"""),
    Mutant("threshold_python_loop", "best_threshold_f1", "best_threshold_f1/jit", """
def best_threshold_f1(scores, labels):
    s = jnp.asarray(scores)
    y = jnp.asarray(labels) > 0
    best_t, best_f = None, -1.0
    for t in sorted(set(float(v) for v in s)):  # concrete values: fails under jit
        pred = s >= t
        f = float(2 * jnp.sum(pred & y) / (jnp.sum(pred) + jnp.sum(y)))
        if f > best_f:
            best_t, best_f = t, f
    return jnp.float32(best_t), jnp.float32(best_f)
""", status="error"),
    Mutant("threshold_returns_largest_score", "best_threshold_f1",
           "best_threshold_f1/train_lifts_f1", """
def best_threshold_f1(scores, labels):
    # always the top score: almost nothing is predicted positive
    t, f1 = _original_best_threshold_f1(scores, labels)
    return jnp.max(jnp.asarray(scores)), f1
"""),
    Mutant("focal_direct_power", "focal_loss", "focal_loss/finite_extremes", """
def focal_loss(logits, labels, *, alpha=None, gamma=2.0):
    logits = jnp.asarray(logits)
    labels = jnp.asarray(labels).astype(logits.dtype)
    p = jax.nn.sigmoid(logits)
    p_t = p * labels + (1 - p) * (1 - labels)
    bce = -labels * jax.nn.log_sigmoid(logits) - (1 - labels) * jax.nn.log_sigmoid(-logits)
    loss = bce * (1 - p_t) ** gamma
    if alpha is None:
        return loss
    return (alpha * labels + (1 - alpha) * (1 - labels)) * loss
"""),
    Mutant("focal_alpha_on_negatives", "focal_loss", "focal_loss/matches_optax", """
def focal_loss(logits, labels, *, alpha=None, gamma=2.0):
    if alpha is None:
        return _original_focal_loss(logits, labels, gamma=gamma)
    return _original_focal_loss(logits, labels, alpha=1.0 - alpha, gamma=gamma)
"""),
    Mutant("focal_mean_reduced", "focal_loss", "focal_loss/matches_optax", """
def focal_loss(logits, labels, *, alpha=None, gamma=2.0):
    return jnp.mean(_original_focal_loss(logits, labels, alpha=alpha, gamma=gamma))
"""),
    Mutant("smote_self_is_neighbour", "smote", "smote/statistics", """
def smote(key, x_minority, num_new, *, k=5):
    x = jnp.asarray(x_minority)
    n = x.shape[0]
    d = jnp.sum((x[:, None] - x[None]) ** 2, -1)
    _, nbrs = jax.lax.top_k(-d, k)  # column 0 is the point itself
    pair_key, gap_key = jax.random.split(key)
    flat = jax.random.randint(pair_key, (num_new,), 0, n * k)
    rows = flat // k
    gaps = jax.random.uniform(gap_key, (num_new, 1))
    return x[rows] + gaps * (x[nbrs[rows, flat % k]] - x[rows])
"""),
    Mutant("smote_any_minority_point", "smote", "smote/on_knn_segments", """
def smote(key, x_minority, num_new, *, k=5):
    x = jnp.asarray(x_minority)
    n = x.shape[0]
    k1, k2, k3 = jax.random.split(key, 3)
    rows = jax.random.randint(k1, (num_new,), 0, n)
    other = (rows + jax.random.randint(k2, (num_new,), 1, n)) % n
    gaps = jax.random.uniform(k3, (num_new, 1))
    return x[rows] + gaps * (x[other] - x[rows])
"""),
    Mutant("smote_half_gap", "smote", "smote/statistics", """
def smote(key, x_minority, num_new, *, k=5):
    x = jnp.asarray(x_minority)
    n = x.shape[0]
    d = jnp.sum((x[:, None] - x[None]) ** 2, -1) + jnp.where(jnp.eye(n, dtype=bool), jnp.inf, 0)
    _, nbrs = jax.lax.top_k(-d, k)
    pair_key, gap_key = jax.random.split(key)
    flat = jax.random.randint(pair_key, (num_new,), 0, n * k)
    rows = flat // k
    gaps = jax.random.uniform(gap_key, (num_new, 1), maxval=0.5)
    return x[rows] + gaps * (x[nbrs[rows, flat % k]] - x[rows])
"""),
    Mutant("smote_one_shared_gap", "smote", "smote/statistics", """
def smote(key, x_minority, num_new, *, k=5):
    x = jnp.asarray(x_minority)
    n = x.shape[0]
    d = jnp.sum((x[:, None] - x[None]) ** 2, -1) + jnp.where(jnp.eye(n, dtype=bool), jnp.inf, 0)
    _, nbrs = jax.lax.top_k(-d, k)
    pair_key, gap_key = jax.random.split(key)
    flat = jax.random.randint(pair_key, (num_new,), 0, n * k)
    rows = flat // k
    gap = jax.random.uniform(gap_key)
    return x[rows] + gap * (x[nbrs[rows, flat % k]] - x[rows])
"""),
    Mutant("smote_numpy_neighbours", "smote", "smote/jit", """
import numpy as np

def smote(key, x_minority, num_new, *, k=5):
    x = np.asarray(x_minority)  # concrete values: fails under jit
    d = ((x[:, None] - x[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nbrs = jnp.asarray(np.argsort(d, axis=1)[:, :k])
    n = x.shape[0]
    pair_key, gap_key = jax.random.split(key)
    flat = jax.random.randint(pair_key, (num_new,), 0, n * k)
    rows = flat // k
    gaps = jax.random.uniform(gap_key, (num_new, 1))
    x = jnp.asarray(x)
    return x[rows] + gaps * (x[nbrs[rows, flat % k]] - x[rows])
""", status="error"),
    Mutant("smote_fixed_key", "smote", "smote/prng", """
def smote(key, x_minority, num_new, *, k=5):
    return _original_smote(jax.random.key(0), x_minority, num_new, k=k)
"""),
    Mutant("batches_without_replacement", "balanced_batch_indices",
           "balanced_batch_indices/statistics", """
def balanced_batch_indices(key, labels, batch_size):
    labels = jnp.asarray(labels)
    s = jnp.sort(labels)
    counts = jnp.searchsorted(s, labels, side="right") - jnp.searchsorted(s, labels, side="left")
    w = 1.0 / counts
    return jax.random.choice(key, labels.shape[0], (batch_size,), replace=False,
                             p=w / w.sum()).astype(jnp.int32)
"""),
    Mutant("batches_exactly_balanced", "balanced_batch_indices",
           "balanced_batch_indices/statistics", """
def balanced_batch_indices(key, labels, batch_size):
    labels = jnp.asarray(labels)
    k0, k1, k2 = jax.random.split(key, 3)
    is1 = labels == 1
    half = batch_size // 2
    a = jax.random.choice(k0, labels.shape[0], (half,), p=(~is1) / jnp.sum(~is1))
    b = jax.random.choice(k1, labels.shape[0], (batch_size - half,), p=is1 / jnp.sum(is1))
    return jax.random.permutation(k2, jnp.concatenate([a, b])).astype(jnp.int32)
"""),
    Mutant("batches_numpy_random", "balanced_batch_indices",
           "balanced_batch_indices/jit", """
import numpy as np

def balanced_batch_indices(key, labels, batch_size):
    labels = np.asarray(labels)
    counts = np.bincount(labels)[labels]
    w = 1.0 / counts
    return jnp.asarray(np.random.choice(len(labels), batch_size, p=w / w.sum()), jnp.int32)
"""),
    Mutant("batches_fixed_key", "balanced_batch_indices",
           "balanced_batch_indices/prng", """
def balanced_batch_indices(key, labels, batch_size):
    return _original_balanced_batch_indices(jax.random.key(0), labels, batch_size)
"""),
    Mutant("threshold_strict_greater", "best_threshold_f1", "best_threshold_f1/separable", """
def best_threshold_f1(scores, labels):
    s = jnp.asarray(scores)
    y = jnp.asarray(labels) > 0
    pred = s[None, :] > s[:, None]  # row i: the rule score > s_i
    tp = jnp.sum(pred & y[None, :], 1)
    f1 = 2.0 * tp / (pred.sum(1) + y.sum())
    best = f1.max()
    return jnp.min(jnp.where(f1 == best, s, jnp.inf)), best
"""),
    Mutant("threshold_fixed_grid", "best_threshold_f1", "best_threshold_f1/matches_sklearn", """
def best_threshold_f1(scores, labels):
    s = jnp.asarray(scores)
    y = jnp.asarray(labels) > 0
    grid = jnp.linspace(0.0, 1.0, 101)
    pred = s[None, :] >= grid[:, None]
    tp = jnp.sum(pred & y[None, :], 1)
    f1 = 2.0 * tp / jnp.maximum(pred.sum(1) + y.sum(), 1)
    i = jnp.argmax(f1)
    return grid[i], f1[i]
"""),
    Mutant("threshold_ties_to_largest", "best_threshold_f1", "best_threshold_f1/separable", """
def best_threshold_f1(scores, labels):
    s = jnp.asarray(scores)
    y = jnp.asarray(labels) > 0
    pred = s[None, :] >= s[:, None]
    tp = jnp.sum(pred & y[None, :], 1)
    f1 = 2.0 * tp / (pred.sum(1) + y.sum())
    best = f1.max()
    return jnp.max(jnp.where(f1 == best, s, -jnp.inf)), best
"""),
]

ALTERNATIVES = [
    Alternative("weights_one_hot", "class_weights_balanced", """
def class_weights_balanced(labels, num_classes):
    counts = jax.nn.one_hot(labels, num_classes).sum(0)
    n = jnp.asarray(labels).shape[0]
    return jnp.where(counts > 0, n / (num_classes * jnp.maximum(counts, 1)), 0.0)
"""),
    Alternative("wce_logsumexp", "weighted_cross_entropy", """
def weighted_cross_entropy(logits, labels, weights):
    logits = jnp.asarray(logits)
    onehot = jax.nn.one_hot(labels, logits.shape[-1])
    ce = jax.nn.logsumexp(logits, axis=-1) - jnp.sum(onehot * logits, axis=-1)
    w = onehot @ jnp.asarray(weights)
    return jnp.vdot(w, ce) / w.sum()
"""),
    Alternative("focal_logaddexp", "focal_loss", """
def focal_loss(logits, labels, *, alpha=None, gamma=2.0):
    x = jnp.asarray(logits)
    y = jnp.asarray(labels).astype(x.dtype)
    log_p, log_q = jax.nn.log_sigmoid(x), jax.nn.log_sigmoid(-x)
    log_1m_pt = jnp.logaddexp(jnp.log1p(-y) + log_p, jnp.log(y) + log_q)
    loss = -(y * log_p + (1 - y) * log_q) * jnp.exp(gamma * log_1m_pt)
    if alpha is not None:
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return loss
"""),
    Alternative("smote_row_then_column", "smote", """
def smote(key, x_minority, num_new, *, k=5):
    x = jnp.asarray(x_minority)
    n = x.shape[0]
    d = jnp.linalg.norm(x[:, None] - x[None], axis=-1)
    order = jnp.argsort(d, axis=1)[:, 1:k + 1]  # skip the point itself
    k_row, k_col, k_gap = jax.random.split(key, 3)
    rows = jax.random.randint(k_row, (num_new,), 0, n)
    cols = jax.random.randint(k_col, (num_new,), 0, k)
    u = jax.random.uniform(k_gap, (num_new, 1))
    return x[rows] + u * (x[order[rows, cols]] - x[rows])
"""),
    Alternative("batches_categorical", "balanced_batch_indices", """
def balanced_batch_indices(key, labels, batch_size):
    labels = jnp.asarray(labels)
    counts = jnp.sum(labels[:, None] == labels[None, :], axis=1)
    return jax.random.categorical(key, -jnp.log(counts.astype(jnp.float32)),
                                  shape=(batch_size,)).astype(jnp.int32)
"""),
    Alternative("threshold_pairwise", "best_threshold_f1", """
def best_threshold_f1(scores, labels):
    s = jnp.asarray(scores)
    y = jnp.asarray(labels) > 0
    pred = s[None, :] >= s[:, None]
    tp = jnp.sum(pred & y[None, :], 1)
    f1 = 2.0 * tp / (pred.sum(1) + y.sum())
    best = f1.max()
    return jnp.min(jnp.where(f1 == best, s, jnp.inf)), best
"""),
]
