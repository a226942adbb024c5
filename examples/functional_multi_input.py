"""A functional Keras model with two named inputs, fed from one table.

The network has an input ``numeric`` (the eight scaled numeric housing columns)
and an input ``ocean`` (the one-hot ``ocean_proximity``), each with its own
first layer, merged before the output. The estimator's ``inputs=`` parameter
says which columns of X feed which input, so the model still sits at the end
of an ordinary Pipeline and works with cross-validation and grid search.

    python examples/functional_multi_input.py [--quick]
"""

from __future__ import annotations

import argparse

import keras
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.impute import SimpleImputer
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skkeras import KerasRegressor
from skkeras.datasets import load_california_housing

NUMERIC = ["longitude", "latitude", "housing_median_age", "total_rooms", "total_bedrooms",
           "population", "households", "median_income"]
OCEAN_LEVELS = ["<1H OCEAN", "INLAND", "ISLAND", "NEAR BAY", "NEAR OCEAN"]
OCEAN = [f"ocean_proximity_{level}" for level in OCEAN_LEVELS]  # one-hot column names


def build_model(units: int = 32) -> keras.Model:
    """Two named inputs, a branch each, merged into one regression output."""
    numeric = keras.Input((len(NUMERIC),), name="numeric")
    ocean = keras.Input((len(OCEAN),), name="ocean")
    a = keras.layers.Dense(units, activation="relu")(numeric)
    b = keras.layers.Dense(4, activation="relu")(ocean)
    merged = keras.layers.Concatenate()([a, b])
    hidden = keras.layers.Dense(units // 2, activation="relu")(merged)
    output = keras.layers.Dense(1)(hidden)
    return keras.Model({"numeric": numeric, "ocean": ocean}, output)


def make_model(quick: bool = False) -> TransformedTargetRegressor:
    preprocess = ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUMERIC),
            ("ocean", OneHotEncoder(categories=[OCEAN_LEVELS], sparse_output=False),
             ["ocean_proximity"]),
        ],
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")  # named columns, so inputs= can name them
    net = KerasRegressor(
        model=build_model, model__units=32,
        inputs={"numeric": NUMERIC, "ocean": OCEAN},
        epochs=2 if quick else 30, batch_size=64 if quick else 256, random_state=0,
    )
    return TransformedTargetRegressor(
        regressor=Pipeline([("preprocess", preprocess), ("net", net)]),
        transformer=StandardScaler(),
    )


def main(quick: bool = False) -> None:
    X, y = load_california_housing(return_X_y=True, as_frame=True)
    if quick:
        X, y = X.sample(500, random_state=0), y.sample(500, random_state=0)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

    model = make_model(quick).fit(X_train, y_train)
    keras_model = model.regressor_["net"].model_
    print("model inputs:", [tensor.name for tensor in keras_model.inputs])
    print(f"test R²: {r2_score(y_test, model.predict(X_test)):.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 rows, 2 epochs")
    main(quick=parser.parse_args().quick)
