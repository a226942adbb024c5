"""The report's data checks: dates, ID-like, constant and high-cardinality columns,
duplicate rows, class imbalance and missing values, on a CSV built from
scikit-learn's breast cancer data and synthetic columns."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from skkeras.cli import main
from skkeras.report import check_data, cross_validated_report
from skkeras.report.data_checks import label


def pitfalls_frame(n: int = 120) -> pd.DataFrame:
    """Four real features and a target, plus every pitfall the report looks for."""
    data = load_breast_cancer(as_frame=True)
    rng = np.random.default_rng(0)
    frame = data.frame.iloc[:n, :4].copy()
    frame["diagnosis"] = np.where(data.target.iloc[:n] == 1, "benign", "malignant")
    frame["customer_id"] = [f"C{100000 + i}" for i in range(n)]  # text, unique per row
    frame["row_number"] = np.arange(n) + 1  # integers, consecutive
    frame["signup"] = pd.date_range("2020-01-01", periods=n, freq="D").strftime("%Y-%m-%d")
    frame["city"] = [f"city{i % 40}" for i in range(n)]  # 40 levels in 120 rows
    frame["plan"] = rng.choice(["basic", "pro"], size=n)
    frame["source"] = "web"  # constant
    frame.loc[rng.choice(n, 7, replace=False), "mean radius"] = np.nan
    frame.loc[rng.choice(n, 3, replace=False), "plan"] = None
    frame.iloc[-2:] = frame.iloc[:2].to_numpy()  # two duplicate rows
    frame.loc[frame.index[-2:], "customer_id"] = ["C999998", "C999999"]  # still unique ids
    frame.loc[frame.index[-2:], "row_number"] = [n - 1, n]
    return frame


def test_check_data_finds_every_pitfall():
    frame = pitfalls_frame()
    X, y = frame.drop(columns="diagnosis"), frame["diagnosis"]
    X_out, summary = check_data(X, y, "classification")
    kinds = {c["name"]: c["kind"] for c in summary["columns"]}
    assert kinds["customer_id"] == "ID-like" and kinds["row_number"] == "ID-like"
    assert kinds["signup"] == "date" and kinds["source"] == "constant"
    assert kinds["city"] == "categorical" and kinds["mean radius"] == "numeric"
    assert summary["dropped"] == ["customer_id", "row_number", "source"]
    assert {"signup_year", "signup_month", "signup_day", "signup_dayofweek",
            "signup_dayofyear"} <= set(X_out.columns)
    assert "signup_hour" not in X_out.columns  # dates without times
    assert X_out["signup_month"].iloc[31] == 2 and X_out["signup_dayofweek"].iloc[0] == 2
    assert not {"customer_id", "row_number", "source", "signup"} & set(X_out.columns)
    assert summary["missing"] == {"mean radius": 7, "plan": 3}
    assert summary["duplicate_rows"] == 2  # equal but for their IDs
    text = " ".join(summary["warnings"])
    for fragment in ("date column 'signup' parsed", "ID-like columns 'customer_id', 'row_number'",
                     "constant column 'source'", "high-cardinality categorical column 'city' "
                     "(40 levels)", "2 duplicate rows", "missing values", "mean radius 7, plan 3"):
        assert fragment in text, fragment


def test_duplicates_imbalance_and_dropped_dates():
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"x": rng.normal(size=50), "when": pd.date_range("2021-03-01", periods=50,
                                                                      freq="7h")})
    X.iloc[10] = X.iloc[0]
    y = pd.Series(["no"] * 45 + ["yes"] * 5)
    y.iloc[10] = y.iloc[0]
    X_out, summary = check_data(X, y, "classification", parse_dates=False)
    assert list(X_out.columns) == ["x"]
    text = " ".join(summary["warnings"])
    assert "date column 'when' dropped" in text
    assert "1 duplicate row" in text
    assert "class imbalance: 'yes' is 10% of the rows" in text
    X_out, _ = check_data(X, y, "classification")
    assert "when_hour" in X_out.columns  # times vary: the hour is a feature too
    assert label(np.int64(3)) == 3 and type(label(np.int64(3))) is int


def test_numbers_are_not_taken_for_ids_or_dates():
    rng = np.random.default_rng(2)
    X = pd.DataFrame({
        "income": rng.integers(10_000, 90_000, size=40),  # unique, but spread: a feature
        "ratio": rng.normal(size=40),  # floats are never IDs
        "code": [f"{i % 3}-{i % 5}" for i in range(40)],  # text that is no date
        "version": ["1.2.3"] * 20 + ["1.2.4"] * 20,
    })
    _, summary = check_data(X, pd.Series(rng.normal(size=40)), "regression")
    assert {c["name"]: c["kind"] for c in summary["columns"]} == {
        "income": "numeric", "ratio": "numeric", "code": "categorical", "version": "categorical"}
    assert summary["warnings"] == []


def test_csv_report_shows_every_warning(tmp_path, capsys):
    """End to end on a CSV: the terminal shows each warning and the JSON keeps them."""
    path = tmp_path / "customers.csv"
    pitfalls_frame().to_csv(path, index=False)
    code = main(["report", "--csv", str(path), "--target", "diagnosis", "--cv", "2",
                 "--epochs", "2", "--hidden", "4", "--baselines", "dummy",
                 "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 0, err
    for fragment in ("warning: date column 'signup' parsed", "warning: ID-like columns",
                     "warning: constant column 'source'", "warning: high-cardinality",
                     "warning: 2 duplicate rows", "warning: missing values"):
        assert fragment in out, fragment
    data = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert data["dataset"]["categorical_features"] == ["city", "plan"]
    assert "signup_year" in data["dataset"]["numeric_features"]
    assert len(data["data_checks"]["warnings"]) == 6
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert page.count('<p class="warning">') == 6


def test_the_report_uses_the_checked_features():
    frame = pitfalls_frame(60)
    report = cross_validated_report(None, frame.drop(columns="diagnosis"), frame["diagnosis"],
                                    cv=2, epochs=1, hidden=(2,), baselines="none",
                                    validation_split=0.0)
    assert report.data["dataset"]["n_features"] == 4 + 5 + 2  # numbers, date parts, categories
    assert "customer_id" not in report.data["dataset"]["feature_names"]


@pytest.mark.parametrize("values", [["2021-01-05", "2021-02-11", None, "2021-03-01"] * 6,
                                    ["05/01/2021 10:30", "11/02/2021 08:00"] * 12])
def test_text_dates_are_recognised(values):
    from skkeras.report.data_checks import _as_dates

    assert _as_dates(pd.Series(values, dtype=object)) is not None
    assert _as_dates(pd.Series(["red", "2021-01-01"] * 12, dtype=object)) is None
