"""The q11 CNN trains to >= 95% digits test accuracy with the grader's fixed recipe."""

import ast
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from dlcore.models.cnn import cnn_apply, init_cnn
from grader import recipes


def test_recipes_does_not_import_dlcore():
    source = pathlib.Path(recipes.__file__).read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
        else:
            continue
        assert not any(m.split(".")[0] in ("dlcore", "solutions") for m in modules), modules


def test_digits_images():
    x_train, y_train, x_test, y_test = recipes.digits_images()
    assert x_train.shape[1:] == (8, 8, 1) and x_train.dtype == np.float32
    assert y_train.dtype == np.int32 and len(x_train) + len(x_test) == 1797
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert abs(len(x_test) / 1797 - 0.25) < 0.01
    # Stratified: every class keeps about its share in the test split.
    np.testing.assert_allclose(np.bincount(y_test) / len(y_test), 0.1, atol=0.01)


def test_cnn_shapes():
    params = init_cnn(jax.random.key(0), num_classes=7)
    logits = jax.jit(cnn_apply)(params, jnp.zeros((3, 8, 8, 1)))
    assert logits.shape == (3, 7) and logits.dtype == jnp.float32


def test_cnn_trains_to_95_percent():
    data = recipes.digits_images()
    params = recipes.train_classifier(
        jax.random.key(0),
        init_cnn,
        cnn_apply,
        data,
        steps=recipes.DEFAULT_STEPS,
        batch_size=recipes.DEFAULT_BATCH_SIZE,
        learning_rate=recipes.DEFAULT_LEARNING_RATE,
    )
    assert recipes.accuracy(cnn_apply, params, data[2], data[3]) >= 0.95
