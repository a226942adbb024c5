"""The fit as named, overridable steps: encoders, _keras_build_fn, scorer, BaseWrapper
as a transformer and without y, fitted attributes, initialize with a prebuilt model,
subclass parameters, declarative validation and divergence."""

import warnings

import keras
import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.exceptions import FitFailedWarning
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import FunctionTransformer

from skkeras import BaseWrapper, KerasClassifier, KerasRegressor
from skkeras.inputs import FeatureEncoder
from skkeras.targets import ClassificationEncoder

TINY = {"model__hidden_layer_sizes": (4,), "epochs": 2, "random_state": 0}
RUN = {"epochs": 2, "random_state": 0}


# ------------------------------------------------------------------- encoders
class ShiftedTargets(BaseEstimator, TransformerMixin):
    """A regression target encoder that trains on y - 10 and adds it back."""

    def fit(self, y):
        self.n_outputs_ = 1
        return self

    def transform(self, y):
        return (np.asarray(y, dtype="float32") - 10).reshape(-1, 1)

    def inverse_transform(self, y):
        return np.asarray(y)[:, 0] + 10

    def get_metadata(self):
        return {"n_outputs_": 1, "n_outputs_expected_": 1, "shift_": 10}


class ScaledFeatures(BaseEstimator, TransformerMixin):
    def fit(self, X, y=None):
        self.scale_ = np.abs(X).max()
        return self

    def transform(self, X):
        return (X / self.scale_).astype("float32")


class CustomRegressor(KerasRegressor):
    @property
    def target_encoder(self):
        return ShiftedTargets()

    @property
    def feature_encoder(self):
        return ScaledFeatures()


def test_custom_encoders_are_fitted_kept_used_and_stay_on_the_fast_path(regression_data):
    X, y = regression_data
    seen = {}

    def net(meta):
        seen.update(meta)
        return keras.Sequential([keras.Input((meta["n_features_in_"],)), keras.layers.Dense(1)])

    est = CustomRegressor(model=net, **RUN).fit(X * 1000, y + 10)
    assert isinstance(est.target_encoder_, ShiftedTargets)
    assert est.feature_encoder_.scale_ == pytest.approx(np.abs(X * 1000).max())
    assert est.shift_ == 10 and seen["shift_"] == 10
    assert seen["target_encoder_"] is est.target_encoder_
    assert est.fit_path_ in ("fast", "numpy")  # skkeras's own paths, not Model.fit
    prediction = est.predict(X * 1000)
    assert prediction.shape == (len(X),) and abs(prediction.mean() - 10) < 5


def test_default_encoders_are_skkeras_own(binary_data):
    X, y = binary_data
    est = KerasClassifier(**TINY).fit(X, np.array(["a", "b"])[y])
    assert isinstance(est.target_encoder_, ClassificationEncoder)
    assert isinstance(est.feature_encoder_, FeatureEncoder)
    assert est.target_encoder_.target_ is est.target_
    assert est.predict(X[:3]).dtype.kind == "U"


# --------------------------------------------------------- _keras_build_fn, scorer
class BuiltInClass(KerasClassifier):
    def _keras_build_fn(self, meta, units=3):
        return keras.Sequential([
            keras.Input((meta["n_features_in_"],)),
            keras.layers.Dense(units, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ])

    @staticmethod
    def scorer(y_true, y_pred, **kwargs):
        return -1.0


def test_keras_build_fn_and_scorer_of_a_subclass(binary_data):
    X, y = binary_data
    est = BuiltInClass(units=5, epochs=2, random_state=0).fit(X, y)
    assert est.model_.layers[0].units == 5
    assert est.score(X, y) == -1.0
    with pytest.raises(ValueError, match="cannot implement ``_keras_build_fn``"):
        BuiltInClass(model=lambda: None, epochs=1).fit(X, y)


def test_score_uses_the_class_scorer(binary_data, regression_data):
    from sklearn.metrics import accuracy_score

    X, y = binary_data
    est = KerasClassifier(**TINY).fit(X, y)
    assert est.score(X, y) == accuracy_score(y, est.predict(X))
    with pytest.raises(NotImplementedError, match="scorer"):
        BaseWrapper(model=lambda meta: keras.Sequential(
            [keras.Input((6,)), keras.layers.Dense(1)]), loss="mse", epochs=1).fit(X, y).score(X, y)


# ------------------------------------------------- BaseWrapper as a transformer
class AutoEncoder(TransformerMixin, BaseWrapper):
    def _keras_build_fn(self, meta, encoding_dim=2):
        n = meta["n_features_in_"]
        encoder = keras.Sequential([keras.Input((n,)), keras.layers.Dense(encoding_dim)])
        decoder = keras.Sequential([keras.Input((encoding_dim,)), keras.layers.Dense(n)])
        inputs = keras.Input((n,))
        self.encoder_model_ = BaseWrapper(encoder)
        return keras.Model(inputs, decoder(encoder(inputs)))

    def _initialize(self, X, y=None):
        X, _ = super()._initialize(X, y)
        self.encoder_model_.initialize(X)
        return X, X

    def fit(self, X, y=None, sample_weight=None):
        return super().fit(X, X, sample_weight=sample_weight)

    def transform(self, X):
        return self.encoder_model_.predict(self.feature_encoder_.transform(X))

    def score(self, X, y=None):
        return 1 - mean_squared_error(X, self.predict(X))


def test_autoencoder_on_base_wrapper(regression_data):
    X, _ = regression_data
    auto = AutoEncoder(loss="mse", encoding_dim=3, epochs=3, random_state=0)
    codes = auto.fit_transform(X)
    assert codes.shape == (len(X), 3)
    assert auto.predict(X).shape == X.shape and np.isfinite(auto.score(X))
    # the encoder shares the trained layers
    expected = auto.encoder_model_.model_(X, training=False)
    np.testing.assert_allclose(codes, keras.ops.convert_to_numpy(expected), rtol=1e-5, atol=1e-6)


class AddLossModel(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(1)

    def call(self, x):
        out = self.dense(x)
        self.add_loss(keras.ops.mean(keras.ops.square(out - 1.0)))
        return out


def test_base_wrapper_fits_without_y(regression_data):
    X, _ = regression_data
    est = BaseWrapper(model=lambda: AddLossModel(), epochs=3, batch_size=-1, random_state=0)
    est.fit(X)
    assert est.current_epoch == 3 and est.fit_path_.startswith("keras: no targets")
    assert not hasattr(est, "y_dtype_")
    assert est.predict(X).shape == (len(X), 1)


# ------------------------------------------------------------------ attributes
def test_attributes_builders_and_users_read(binary_data):
    X, y = binary_data
    seen = {}

    def net(meta):
        seen.update(meta)
        return keras.Sequential([keras.Input((meta["n_features_in_"],)),
                                 keras.layers.Dense(1, activation="sigmoid")])

    est = KerasClassifier(model=net, epochs=2, random_state=0)
    assert not est.initialized_ and est.current_epoch == 0
    est.fit(X, y)
    assert est.initialized_ and est.current_epoch == 2
    assert est.y_dtype_ == y.dtype and est.y_ndim_ == 1 and est.X_dtype_ == np.float32
    assert est.X_ndim_ == 2 and not hasattr(KerasClassifier(), "X_ndim_")
    for name in ("X_dtype_", "y_dtype_", "classes_", "target_type_", "n_classes_",
                 "n_features_in_", "X_shape_", "n_outputs_expected_", "y_ndim_", "n_outputs_"):
        assert name in seen, name
    est.partial_fit(X, y)
    assert est.current_epoch == 3
    with pytest.raises(ValueError, match="dimensions in y"):
        est.partial_fit(X, y.reshape(-1, 1, 1)[:, :, 0].repeat(2, axis=1))
    assert est.current_epoch == 3
    est.partial_fit(X.astype(np.float64), y)  # cast, as scikit-learn's MLP casts
    assert est.current_epoch == 4 and est.X_dtype_ == np.float32


# ------------------------------------------------------- initialize, prebuilt
@pytest.mark.parametrize("wrapper", [KerasRegressor, KerasClassifier])
def test_initialize_keeps_a_prebuilt_models_trained_weights(wrapper):
    rng = np.random.default_rng(0)
    X, y = rng.random((40, 1)).astype("float32"), rng.integers(0, 2, 40)
    inputs = keras.Input((1,))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs))
    model.compile(loss="binary_crossentropy", optimizer="adam")
    model.fit(X, y, epochs=2, verbose=0)
    expected = model.predict(X, verbose=0)
    est = wrapper(model=model).initialize(X, y)
    assert est.model_ is model
    got = est.predict_proba(X)[:, 1] if wrapper is KerasClassifier else est.predict(X)
    np.testing.assert_allclose(got, expected[:, 0], rtol=1e-5)


# ------------------------------------------------------ subclass parameters
class TutorialMLP(KerasClassifier):
    """scikeras's MLPClassifier tutorial: routed names in __init__, not all stored."""

    def __init__(self, hidden=(4,), optimizer="adam", optimizer__learning_rate=0.05,
                 epochs=2, verbose=0, **kwargs):
        super().__init__(**kwargs)
        self.hidden = hidden
        self.optimizer = optimizer
        self.epochs = epochs
        self.verbose = verbose

    def _keras_build_fn(self, meta, hidden):
        layers = [keras.Input((meta["n_features_in_"],))]
        layers += [keras.layers.Dense(units, activation="relu") for units in hidden]
        return keras.Sequential([*layers, keras.layers.Dense(1, activation="sigmoid")])


def test_subclass_taking_an_unstored_routed_name(binary_data):
    X, y = binary_data
    est = TutorialMLP(random_state=0, loss="binary_crossentropy")
    params = est.get_params()
    assert params["optimizer__learning_rate"] == 0.05 and params["hidden"] == (4,)
    assert params["loss"] == "binary_crossentropy" and params["random_state"] == 0
    twin = clone(est).set_params(optimizer__learning_rate=0.01)
    assert twin.get_params()["optimizer__learning_rate"] == 0.01
    twin.fit(X, y)
    assert float(twin.model_.optimizer.learning_rate) == pytest.approx(0.01)
    assert float(est.fit(X, y).model_.optimizer.learning_rate) == pytest.approx(0.05)


# ------------------------------------------------------------- validation
@pytest.mark.parametrize("params, match", [
    ({"epochs": 0}, "'epochs' parameter"),
    ({"batch_size": 0}, "'batch_size' parameter"),
    ({"batch_size": "x"}, "'batch_size' parameter"),
    ({"engine": "turbo"}, "'engine' parameter"),
    ({"validation_split": 1.0}, "'validation_split' parameter"),
    ({"class_weight": {0: 1, 7: 2}}, r"class_weight names \[7\]"),
    ({"optimizer__learning_rate": -1.0}, r"optimizer__learning_rate=-1.0: the learning rate is a positive"),
    ({"optimizer__learning_rate": float("nan")}, "optimizer__learning_rate=nan"),
    ({"metrics": ["accuracy"], "metrics__5__name": "a"}, r"metrics__5__\* names no metric: there are 1"),
    ({"validation_split": 0.999}, r"validation_split=0.999 of 120 rows leaves no row"),
    ({"inputs": {"a": [0, 9]}}, r"inputs\['a'\]: columns \[9\] are not column indices of X, which has 6"),
])
def test_bad_parameters_are_refused_before_training(binary_data, monkeypatch, params, match):
    from skkeras import training

    X, y = binary_data
    monkeypatch.setattr(training.TrainingJob, "run", lambda job: pytest.fail("trained"))
    with pytest.raises(ValueError, match=match):
        KerasClassifier(**{**TINY, **params}).fit(X, y)


def test_float64_values_beyond_float32_are_refused(regression_data):
    X, y = regression_data
    big = X.astype(np.float64)
    big[0, 0] = 1e300
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the check itself compares in float64: no overflow
        with pytest.raises(ValueError, match="X has values as large as 1e.300"):
            KerasRegressor(**TINY).fit(big, y)
    est = KerasRegressor(**TINY).fit(X, y)
    with pytest.raises(ValueError, match="float32"):
        est.predict(big)


# ------------------------------------------------------------------ divergence
def unscaled(regression_data):
    X, y = regression_data
    return X * 1e4, y * 1e4


@pytest.mark.parametrize("engine", ["fast", "keras"])
def test_divergence_is_an_error_that_keeps_the_previous_fit(regression_data, engine):
    X, y = unscaled(regression_data)
    est = KerasRegressor(engine=engine, **TINY).fit(X, y)
    before = est.predict(X)
    est.set_params(optimizer__learning_rate=1e6, epochs=5)
    with pytest.raises(ValueError, match=r"diverged at epoch \d.*learning rate"):
        est.fit(X, y)
    np.testing.assert_array_equal(est.predict(X), before)
    assert est.current_epoch == 2


def test_a_first_fit_that_diverges_leaves_the_estimator_unfitted(regression_data):
    """The encoders fitted before training are rolled back with the rest: predicting
    raises scikit-learn's NotFittedError, not an error from a half-made state."""
    from sklearn.exceptions import NotFittedError

    X, y = unscaled(regression_data)
    est = KerasRegressor(**{**TINY, "epochs": 5}, optimizer__learning_rate=1e6)
    with pytest.raises(ValueError, match="diverged"):
        est.fit(X, y)
    assert "target_encoder_" not in vars(est)
    with pytest.raises(NotFittedError):
        est.predict(X)


def test_divergence_in_a_search_gets_the_error_score(regression_data):
    X, y = unscaled(regression_data)
    grid = GridSearchCV(KerasRegressor(**{**TINY, "epochs": 5}),
                        {"optimizer__learning_rate": [1e-3, 1e6]}, cv=2, error_score=-123.0)
    with pytest.warns(FitFailedWarning, match="diverged"):
        grid.fit(X, y)
    scores = grid.cv_results_["mean_test_score"]
    assert scores[1] == -123.0 and scores[0] != -123.0


# --------------------------------------------------------------------- verbose
def test_verbose_says_which_path_trains(binary_data, capsys):
    X, y = binary_data
    KerasClassifier(verbose=1, **TINY).fit(X, y)
    assert "[skkeras] KerasClassifier trains on NumPy (a small job" in capsys.readouterr().out
    KerasClassifier(verbose=1, engine="fast", **TINY).fit(X, y)
    assert "[skkeras] KerasClassifier trains on the fast path." in capsys.readouterr().out
    KerasClassifier(verbose=1, engine="keras", **TINY).fit(X, y)
    assert "keras.Model.fit (engine='keras')" in capsys.readouterr().out


def test_function_transformer_target_encoder_for_base_wrapper(regression_data):
    X, y = regression_data
    est = BaseWrapper(model=lambda meta: keras.Sequential(
        [keras.Input((meta["n_features_in_"],)), keras.layers.Dense(1)]), loss="mse", **RUN)
    est.fit(X, y.reshape(-1, 1))
    assert isinstance(est.target_encoder_, FunctionTransformer)
    assert est.predict(X).shape == (len(X), 1)


class RecordingSequential(keras.Sequential):
    """A model class with its own fit, as users write to watch or change the call."""

    calls = []

    def fit(self, *args, **kwargs):
        RecordingSequential.calls.append(kwargs)
        return super().fit(*args, **kwargs)


def test_a_models_own_fit_is_called_with_the_arrays(binary_data):
    X, y = binary_data

    def net(meta):
        return RecordingSequential([keras.Input((meta["n_features_in_"],)),
                                    keras.layers.Dense(1, activation="sigmoid")])

    RecordingSequential.calls.clear()
    est = KerasClassifier(model=net, batch_size=16, fit__custom_flag=None, **RUN)
    with pytest.raises(TypeError, match="custom_flag"):  # reaches Keras's own fit, as given
        est.fit(X, y)
    est = KerasClassifier(model=net, batch_size=16, **RUN).fit(X, y, epochs=3)
    call = RecordingSequential.calls[-1]
    assert call["batch_size"] == 16 and call["epochs"] == 3 and call["x"].shape == X.shape
    assert "sample_weight" in call and est.fit_path_.startswith("keras: the model's own fit")
    assert est.current_epoch == 3


def test_threshold_is_refused_for_a_multiclass_target(multiclass_data):
    X, y = multiclass_data
    with pytest.raises(ValueError, match=r"threshold=0.2 applies to binary and multilabel targets"):
        KerasClassifier(threshold=0.2, **TINY).fit(X, y)


@pytest.mark.parametrize("batch_size", [0, -5, "x", 2.5, True])
def test_predict_batch_size_is_checked(binary_data, batch_size):
    X, y = binary_data
    est = KerasClassifier(**TINY).fit(X, y)
    with pytest.raises(ValueError, match=r"predict__batch_size=.*positive integer, or -1"):
        est.set_params(predict__batch_size=batch_size).predict(X)
    assert est.set_params(predict__batch_size=-1).predict(X).shape == (len(X),)


def test_samples_of_another_shape_are_refused(binary_data):
    X, y = binary_data
    images = X[:, :6].reshape(-1, 3, 2)

    def flat(meta):
        return keras.Sequential([keras.Input((3, 2)), keras.layers.Flatten(),
                                 keras.layers.Dense(1, activation="sigmoid")])

    est = KerasClassifier(model=flat, epochs=1, random_state=0).fit(images, y)
    for other, match in [(images.reshape(-1, 3, 2, 1), "X has 4 dimensions, but this KerasClassifier "
                          "is expecting 3"),
                         (np.zeros((5, 3, 5)), r"samples of shape \(3, 5\), but .* \(3, 2\)"),
                         (np.zeros((5, 3)), "X has 2 dimensions")]:
        with pytest.raises(ValueError, match=match):
            est.predict(other)
