"""dlcore.metrics pinned to scikit-learn 1.9.1 metrics and model-selection splitters."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.model_selection import KFold

from dlcore.metrics import (
    average_precision,
    confusion_matrix,
    kfold_indices,
    log_loss,
    mae,
    mse,
    precision_recall_f1,
    roc_auc,
    stratified_kfold,
)

C = 5
N = 40
CASES = 50


def _label_batches(seed):
    """CASES pairs of label vectors; class 4 never occurs, class 3 is never predicted."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, C - 1, size=(CASES, N))
    y_pred = rng.integers(0, C - 2, size=(CASES, N))
    return y_true, y_pred


def test_confusion_matrix_matches_sklearn():
    y_true, y_pred = _label_batches(0)
    got = np.asarray(
        jax.jit(jax.vmap(confusion_matrix, (0, 0, None)), static_argnums=2)(y_true, y_pred, C)
    )
    assert got.dtype == np.int32
    for i in range(CASES):
        want = skm.confusion_matrix(y_true[i], y_pred[i], labels=range(C))
        np.testing.assert_array_equal(got[i], want)
        assert got[i].sum() == N
    # orientation: rows are true classes
    np.testing.assert_array_equal(
        confusion_matrix(jnp.array([0]), jnp.array([1]), 2), [[0, 1], [0, 0]]
    )


@pytest.mark.parametrize("zero_division", [0.0, 1.0])
@pytest.mark.parametrize("average", [None, "macro", "micro", "weighted"])
def test_precision_recall_f1_matches_sklearn(average, zero_division):
    y_true, y_pred = _label_batches(1)
    fn = jax.jit(
        jax.vmap(
            lambda t, p: precision_recall_f1(t, p, C, average=average, zero_division=zero_division)
        )
    )
    got = [np.asarray(a) for a in fn(y_true, y_pred)]
    for i in range(0, CASES, 5):
        want = skm.precision_recall_fscore_support(
            y_true[i], y_pred[i], labels=range(C), average=average, zero_division=zero_division
        )
        for g, w in zip(got, want[:3], strict=True):
            # float32 counts divided once: a few ulps
            np.testing.assert_allclose(g[i], w, rtol=1e-6, atol=1e-7)
        assert not np.isnan(got[2][i]).any()
    if average == "micro":
        np.testing.assert_allclose(got[2], np.mean(y_true == y_pred, axis=1), rtol=1e-6)


def test_f1_is_not_harmonic_mean_of_macro_averages():
    y_true = jnp.array([0, 0, 0, 1, 1, 2])
    y_pred = jnp.array([0, 1, 1, 1, 2, 2])
    p, r, f = precision_recall_f1(y_true, y_pred, 3, average="macro")
    assert abs(float(f) - float(2 * p * r / (p + r))) > 1e-3
    want = skm.f1_score(y_true, y_pred, labels=range(3), average="macro")
    np.testing.assert_allclose(f, want, rtol=1e-6)


def _tied_scores(seed, n=30):
    rng = np.random.default_rng(seed)
    y = (rng.random((CASES, n)) < 0.4).astype(np.int32)
    y[:, 0], y[:, 1] = 0, 1  # both classes in every case
    scores = np.round(rng.random((CASES, n)) + 0.3 * y, 1)  # rounded to 0.1: heavy ties
    logits = np.round(2 * rng.normal(size=(CASES, n)) + y, 1)  # ties outside [0, 1] too
    return y, scores, logits


def test_roc_auc_matches_sklearn_with_ties():
    y, s, logits = _tied_scores(2)
    batched = jax.jit(jax.vmap(roc_auc))
    for scores in (s, logits):
        got = np.asarray(batched(y, scores))
        want = np.array([skm.roc_auc_score(y[i], scores[i]) for i in range(CASES)])
        # sums of at most 30 half-integers in float32, then one division
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_roc_auc_special_cases():
    roc_auc_ = jax.jit(roc_auc)
    y = jnp.array([0, 0, 1, 0, 1, 1])
    s = jnp.array([0.1, 0.2, 0.7, 0.3, 0.8, 0.9])
    assert float(roc_auc_(y, s)) == 1.0
    assert float(roc_auc_(y, -s)) == 0.0
    assert float(roc_auc_(y, jnp.zeros(6))) == 0.5
    # a positive tied with a negative wins half a pair: (1 + 0.5 + 1 + 1) / 4
    y2, s2 = jnp.array([0, 1, 0, 1]), jnp.array([0.2, 0.5, 0.5, 0.9])
    np.testing.assert_allclose(roc_auc_(y2, s2), 0.875, rtol=1e-7)
    y3, s3 = jnp.array([0, 0, 1]), jnp.array([0.3, 0.5, 0.5])
    np.testing.assert_allclose(roc_auc_(y3, s3), skm.roc_auc_score(y3, s3), rtol=1e-6)
    np.testing.assert_allclose(roc_auc_(y3, s3), 0.75, rtol=1e-7)
    assert np.isnan(float(roc_auc_(jnp.ones(4, jnp.int32), jnp.arange(4.0))))
    assert np.isnan(float(roc_auc_(jnp.zeros(4, jnp.int32), jnp.arange(4.0))))
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(skm.roc_auc_score([1, 1, 1, 1], [0.0, 1.0, 2.0, 3.0]))


def test_roc_auc_invariant_under_increasing_transforms():
    y, s, _ = _tied_scores(3)
    batched = jax.jit(jax.vmap(roc_auc))
    base = batched(y, s)
    for transform in (lambda v: 3 * v - 7, np.exp, lambda v: (1 / (1 + np.exp(-4 * v))) ** 3):
        np.testing.assert_allclose(batched(y, transform(s)), base, atol=1e-6)


def test_average_precision_matches_sklearn_with_ties():
    y, s, logits = _tied_scores(4)
    batched = jax.jit(jax.vmap(average_precision))
    for scores in (s, logits):
        got = np.asarray(batched(y, scores))
        want = np.array([skm.average_precision_score(y[i], scores[i]) for i in range(CASES)])
        np.testing.assert_allclose(got, want, atol=1e-6)
    # contract's measured tie case
    y1 = jnp.array([1, 0, 1, 0, 0, 1, 0])
    s1 = jnp.array([0.9, 0.8, 0.8, 0.5, 0.5, 0.5, 0.1])
    np.testing.assert_allclose(
        average_precision(y1, s1), skm.average_precision_score(y1, s1), rtol=1e-6
    )
    assert float(average_precision(jnp.zeros(3, jnp.int32), jnp.arange(3.0))) == 0.0


def _probs(rng, n, c, dtype):
    p = rng.dirichlet(np.ones(c) * 0.5, size=n)
    p[:3] = np.eye(c)[:3]  # exact 0 and 1 probabilities
    return p.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_loss_matches_sklearn_with_exact_zeros(dtype):
    rng = np.random.default_rng(5)
    probs = _probs(rng, 60, 4, dtype)
    y = rng.integers(0, 4, size=60)
    y[:3] = [1, 0, 2]  # confidently wrong rows hit the clip
    with jax.enable_x64(dtype == np.float64):
        got = float(jax.jit(log_loss)(y, probs))
    want = skm.log_loss(y, probs, labels=range(4))
    # float32: sklearn sums per-row logs in float32 too; 1e-5 relative covers the order
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12)
    assert np.isfinite(got)


def test_log_loss_penalty_of_a_confidently_wrong_prediction():
    one = jnp.array([[0.0, 1.0]], jnp.float32)
    np.testing.assert_allclose(
        log_loss(jnp.array([0]), one), -np.log(np.finfo(np.float32).eps), rtol=1e-6
    )  # 15.94, not 34.5 (eps=1e-15)
    np.testing.assert_allclose(log_loss(jnp.array([0]), one, eps=1e-3), -np.log(1e-3), rtol=1e-6)


def test_log_loss_does_not_renormalize():
    # rows that do not sum to one: sklearn warns and uses them as they are
    got = log_loss(jnp.array([0, 1]), jnp.array([[0.2, 0.2], [0.3, 0.3]]))
    np.testing.assert_allclose(got, -np.mean(np.log([0.2, 0.3])), rtol=1e-6)


def test_log_loss_binary_1d_form():
    rng = np.random.default_rng(6)
    p1 = rng.random(50).astype(np.float32)
    p1[:2] = [0.0, 1.0]
    y = rng.integers(0, 2, size=50)
    y[:2] = [1, 0]
    np.testing.assert_allclose(log_loss(y, p1), skm.log_loss(y, p1), rtol=1e-5)
    np.testing.assert_allclose(log_loss(y, p1), log_loss(y, jnp.stack([1 - p1, p1], -1)), rtol=1e-6)


def test_log_loss_equals_cross_entropy_inside_clip_range():
    logits = jax.random.normal(jax.random.key(7), (32, 6))
    y = jax.random.randint(jax.random.key(8), (32,), 0, 6)
    probs = jax.nn.softmax(logits)
    want = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(jnp.log(probs), y))
    np.testing.assert_allclose(log_loss(y, probs), want, rtol=1e-6)


@pytest.mark.parametrize("shape", [(37,), (29, 3)])
def test_mse_mae_match_sklearn(shape):
    rng = np.random.default_rng(9)
    a, b = rng.normal(size=shape), rng.normal(size=shape)
    np.testing.assert_allclose(jax.jit(mse)(a, b), skm.mean_squared_error(a, b), rtol=1e-6)
    np.testing.assert_allclose(jax.jit(mae)(a, b), skm.mean_absolute_error(a, b), rtol=1e-6)


@pytest.mark.parametrize("n", [10, 11, 97])
@pytest.mark.parametrize("k", [2, 3, 5, 10])
def test_kfold_matches_sklearn(n, k):
    got = kfold_indices(n, k)
    want = list(KFold(k).split(np.arange(n)))
    assert len(got) == k
    for (gt, gv), (wt, wv) in zip(got, want, strict=True):
        np.testing.assert_array_equal(gt, wt)
        np.testing.assert_array_equal(gv, wv)
    if (n, k) == (10, 3):
        assert [len(v) for _, v in got] == [4, 3, 3]


def test_stratified_kfold_guarantees():
    labels = np.array([0] * 23 + [1] * 7 + [2] * 3 + [3] * 11)
    np.random.default_rng(10).shuffle(labels)
    k = 4
    folds = stratified_kfold(jax.random.key(0), labels, k)
    assert len(folds) == k
    vals = np.concatenate([v for _, v in folds])
    np.testing.assert_array_equal(np.sort(vals), np.arange(len(labels)))  # a partition
    for train, val in folds:
        np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(len(labels)))
        assert np.all(np.diff(val) > 0) and np.all(np.diff(train) > 0)
        for c in range(4):
            n_c = np.sum(labels == c)
            assert n_c // k <= np.sum(labels[val] == c) <= -(-n_c // k)
    again = stratified_kfold(jax.random.key(0), labels, k)
    other = stratified_kfold(jax.random.key(1), labels, k)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(folds, other, strict=True))


def test_array_metrics_jit_with_static_arguments():
    y_true, y_pred = _label_batches(11)
    f = jax.jit(precision_recall_f1, static_argnums=2, static_argnames="average")
    np.testing.assert_allclose(
        f(y_true[0], y_pred[0], C, average="macro")[2],
        precision_recall_f1(y_true[0], y_pred[0], C, average="macro")[2],
    )
    g = jax.jit(confusion_matrix, static_argnums=2)
    np.testing.assert_array_equal(
        g(y_true[0], y_pred[0], C), confusion_matrix(y_true[0], y_pred[0], C)
    )
