"""Cross-validated regression on raw California housing: mixed types, missing values, dollars.

A ColumnTransformer imputes and scales the numeric columns and one-hot encodes
``ocean_proximity``; a TransformedTargetRegressor standardises the target
(median house value in US dollars) for training and turns predictions back into
dollars; KFold cross_validate scores R², RMSE and MAE.

    python examples/housing_pipeline.py [--quick]
"""

from __future__ import annotations

import argparse

from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold, cross_validate
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skkeras import KerasRegressor
from skkeras.datasets import load_california_housing


def make_model(quick: bool = False) -> TransformedTargetRegressor:
    """Preprocessing, the built-in MLP, and a standardised target."""
    preprocess = ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
         ["longitude", "latitude", "housing_median_age", "total_rooms", "total_bedrooms",
          "population", "households", "median_income"]),
        ("ocean", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
         ["ocean_proximity"]),
    ])
    net = KerasRegressor(
        model__hidden_layer_sizes=(64, 32), epochs=2 if quick else 30,
        batch_size=64 if quick else 256, random_state=0,
    )
    return TransformedTargetRegressor(
        regressor=Pipeline([("preprocess", preprocess), ("net", net)]),
        transformer=StandardScaler(),
    )


def main(quick: bool = False) -> None:
    X, y = load_california_housing(return_X_y=True, as_frame=True)
    if quick:
        X, y = X.sample(600, random_state=0), y.sample(600, random_state=0)
    print(f"{len(X)} block groups, {X['total_bedrooms'].isna().sum()} without total_bedrooms")

    scores = cross_validate(
        make_model(quick), X, y, cv=KFold(n_splits=2 if quick else 5, shuffle=True, random_state=0),
        scoring={"r2": "r2", "rmse": "neg_root_mean_squared_error", "mae": "neg_mean_absolute_error"},
    )
    print(f"R²:   {scores['test_r2'].mean():.3f} ± {scores['test_r2'].std():.3f}")
    for name in ("rmse", "mae"):
        values = -scores[f"test_{name}"]
        print(f"{name.upper()}: {values.mean():,.0f} ± {values.std():,.0f} dollars")
    print(f"fit time per fold: {scores['fit_time'].mean():.1f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="600 rows, 2 folds, 2 epochs")
    main(quick=parser.parse_args().quick)
