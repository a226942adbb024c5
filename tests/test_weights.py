"""Sample and class weights: merged into one per-sample weight; zero excludes a sample."""

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.metrics import accuracy_score, r2_score, recall_score

from skkeras import KerasClassifier, KerasRegressor
from skkeras.weights import check_sample_weight, class_sample_weight, combine_weights

TINY = {"model__hidden_layer_sizes": (4,), "epochs": 2, "random_state": 0}


# ------------------------------------------------------------------ the module alone
def test_check_sample_weight():
    assert check_sample_weight(None, 3) is None
    weights = check_sample_weight([1, 0, 2], 3)
    assert weights.dtype == np.float64 and weights.tolist() == [1.0, 0.0, 2.0]
    with pytest.raises(ValueError, match="[Nn]egative"):
        check_sample_weight([1.0, -0.5, 1.0], 3)
    with pytest.raises(ValueError, match="only zeros were passed in sample_weight"):
        check_sample_weight([0, 0, 0], 3)
    with pytest.raises(ValueError, match=r"\(2,\)|shape|length|number"):
        check_sample_weight([1.0, 1.0], 3)
    with pytest.raises(ValueError, match="NaN"):
        check_sample_weight([1.0, np.nan, 1.0], 3)


def test_class_sample_weight():
    y = np.array(["a", "a", "a", "b"])
    assert class_sample_weight(None, y) is None
    assert class_sample_weight({"b": 3.0}, y).tolist() == [1.0, 1.0, 1.0, 3.0]
    # "balanced": n_samples / (n_classes * count), as in scikit-learn
    np.testing.assert_allclose(class_sample_weight("balanced", y), [4 / 6, 4 / 6, 4 / 6, 2.0])
    with pytest.raises(ValueError, match="'auto'"):
        class_sample_weight("auto", y)
    with pytest.raises(ValueError, match="list"):
        class_sample_weight([1.0, 2.0], y)


def test_combine_weights():
    assert combine_weights(None, None) is None
    np.testing.assert_array_equal(combine_weights(np.array([1.0, 2.0]), None), [1.0, 2.0])
    np.testing.assert_array_equal(
        combine_weights(np.array([1.0, 2.0]), np.array([3.0, 0.5])), [3.0, 1.0]
    )
    with pytest.raises(ValueError, match="zero for every sample"):
        combine_weights(np.array([1.0, 0.0]), np.array([0.0, 4.0]))


# -------------------------------------------------------------------- end to end
def test_class_weight_is_a_per_sample_weight(binary_data):
    """class_weight and the sample weights it stands for train the same network."""
    X, y = binary_data
    by_class = KerasClassifier(class_weight={0: 1.0, 1: 3.0}, **TINY).fit(X, y)
    by_sample = KerasClassifier(**TINY).fit(X, y, sample_weight=np.where(y == 1, 3.0, 1.0))
    unweighted = KerasClassifier(**TINY).fit(X, y)
    np.testing.assert_array_equal(by_class.predict_proba(X), by_sample.predict_proba(X))
    assert not np.allclose(by_class.predict_proba(X), unweighted.predict_proba(X))


def test_class_and_sample_weights_multiply(binary_data):
    X, y = binary_data
    labels = np.array(["neg", "pos"])[y]
    sample = np.linspace(0.5, 1.5, len(y))
    both = KerasClassifier(class_weight={"pos": 2.0}, **TINY).fit(X, labels, sample_weight=sample)
    product = KerasClassifier(**TINY).fit(X, labels, sample_weight=sample * np.where(y == 1, 2.0, 1.0))
    np.testing.assert_array_equal(both.predict_proba(X), product.predict_proba(X))


def test_balanced_class_weight_raises_minority_recall():
    X, y = make_classification(
        n_samples=200, n_features=4, n_informative=2, n_redundant=0,
        weights=[0.9, 0.1], flip_y=0, class_sep=0.8, random_state=1,
    )
    settings = {"model__hidden_layer_sizes": (8,), "epochs": 20, "random_state": 1,
                "optimizer__learning_rate": 0.01}
    plain = KerasClassifier(**settings).fit(X, y)
    balanced = KerasClassifier(class_weight="balanced", **settings).fit(X, y)
    plain_recall = recall_score(y, plain.predict(X))
    balanced_recall = recall_score(y, balanced.predict(X))
    assert balanced_recall >= plain_recall + 0.3
    assert balanced_recall >= 0.6


def test_zero_weights_exclude_samples(binary_data):
    """A block of flipped labels weighted 0 trains the network that never saw them."""
    X, y = binary_data
    noisy = y.copy()
    noisy[:50] = 1 - noisy[:50]
    weights = np.ones(len(y))
    weights[:50] = 0.0
    settings = {"model__hidden_layer_sizes": (16,), "epochs": 30, "random_state": 0,
                "optimizer__learning_rate": 0.02}
    without = KerasClassifier(**settings).fit(X[50:], y[50:])
    zero_weighted = KerasClassifier(**settings).fit(X, noisy, sample_weight=weights)
    included = KerasClassifier(**settings).fit(X, noisy)
    p_without = without.predict_proba(X)[:, 1]
    # Full-batch Adam: the zero rows only scale the loss, which Adam's steps barely feel
    np.testing.assert_allclose(zero_weighted.predict_proba(X)[:, 1], p_without, atol=1e-2)
    assert np.abs(included.predict_proba(X)[:, 1] - p_without).max() > 0.2
    assert zero_weighted.score(X, y) > included.score(X, y)


def test_score_takes_sample_weight(binary_data):
    X, y = binary_data
    est = KerasClassifier(**TINY).fit(X, y)
    predicted = est.predict(X)
    weights = np.where(predicted == y, 1.0, 5.0)
    assert est.score(X, y, sample_weight=weights) == pytest.approx(
        accuracy_score(y, predicted, sample_weight=weights)
    )
    assert est.score(X, y, sample_weight=weights) < est.score(X, y)
    only_right = (predicted == y).astype(float)
    assert est.score(X, y, sample_weight=only_right) == 1.0


def test_regressor_score_takes_sample_weight(regression_data):
    X, y = regression_data
    est = KerasRegressor(**TINY).fit(X, y)
    weights = np.linspace(0.1, 2.0, len(y))
    assert est.score(X, y, sample_weight=weights) == pytest.approx(
        r2_score(y, est.predict(X), sample_weight=weights)
    )


@pytest.mark.parametrize(
    "weights, message",
    [
        (lambda n: np.r_[-1.0, np.ones(n - 1)], "[Nn]egative"),
        (lambda n: np.zeros(n), "non-zero"),
        (lambda n: np.ones(n - 1), "sample_weight"),
    ],
    ids=["negative", "all-zero", "wrong-length"],
)
def test_bad_sample_weights_are_value_errors(binary_data, weights, message):
    X, y = binary_data
    est = KerasClassifier(**TINY)
    with pytest.raises(ValueError, match=message):
        est.fit(X, y, sample_weight=weights(len(y)))
    with pytest.raises(ValueError, match=message):
        est.partial_fit(X, y, sample_weight=weights(len(y)))
    assert not hasattr(est, "model_")


def test_class_weight_zeroing_every_sample_is_an_error(binary_data):
    X, y = binary_data
    with pytest.raises(ValueError, match="zero for every sample"):
        KerasClassifier(class_weight={0: 0.0, 1: 0.0}, **TINY).fit(X, y)
    with pytest.raises(ValueError, match="class_weight"):
        KerasClassifier(class_weight="even", **TINY).fit(X, y)


@pytest.mark.parametrize("weight", [-1.0, float("nan"), float("inf"), "x", None, True])
def test_class_weight_values_must_be_finite_non_negative_numbers(binary_data, weight):
    X, y = binary_data
    est = KerasClassifier(**TINY).fit(X, y)
    before = est.predict_proba(X)
    with pytest.raises(ValueError, match=r"class_weight\[0\] is .*finite, non-negative numbers"):
        est.set_params(class_weight={0: weight, 1: 1.0}).fit(X, y)
    np.testing.assert_array_equal(est.predict_proba(X), before)
