"""Tests for skkeras.datasets: the shipped, offline data set loaders."""

from __future__ import annotations

import gzip
import hashlib
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
from sklearn.utils import Bunch

from skkeras.datasets import load_california_housing, load_pima_diabetes

pd = pytest.importorskip("pandas")

# SHA-256 of the original files, copied from /work/shared/data/SHA256SUMS.
PIMA_CSV_SHA256 = "27939f6c904b6c58a3ae9fe48a50cefadd42b46ce92ebad9cb4114334b28ee66"
HOUSING_CSV_GZ_SHA256 = (
    "a13a1e5b8e057d3a0176b3887932e5e84487e83aa41c165faa9f5110f6a025b2"
)
# The original SHA256SUMS lists the *compressed* california-housing.csv.gz; this is
# the SHA-256 of its decompressed content, computed once from that original file.
HOUSING_CSV_SHA256 = "8a3727f4cf54ac1a327f69b1d5b4db54c5834ea81c6e4efc0d163300022a685e"

PIMA_FEATURES = [
    "Pregnancies",
    "Glucose",
    "BloodPressure",
    "SkinThickness",
    "Insulin",
    "BMI",
    "DiabetesPedigreeFunction",
    "Age",
]
HOUSING_COLUMNS = [
    "longitude",
    "latitude",
    "housing_median_age",
    "total_rooms",
    "total_bedrooms",
    "population",
    "households",
    "median_income",
    "median_house_value",
    "ocean_proximity",
]
HOUSING_FEATURES = [c for c in HOUSING_COLUMNS if c != "median_house_value"]
HOUSING_NUMERIC = [c for c in HOUSING_FEATURES if c != "ocean_proximity"]
OCEAN_LEVELS = {"<1H OCEAN", "INLAND", "ISLAND", "NEAR BAY", "NEAR OCEAN"}

DATA = files("skkeras.datasets") / "data"


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _shared_sums() -> dict[str, str] | None:
    """Read the shared SHA256SUMS next to the checkout, if there is one."""
    root = Path(__file__).resolve().parents[2]
    for candidate in (
        root / "shared" / "data" / "SHA256SUMS",
        root / "shared" / "SHA256SUMS",
    ):
        if candidate.is_file():
            return _parse_sums(candidate.read_text())
    return None


def _parse_sums(text: str) -> dict[str, str]:
    sums = {}
    for line in text.splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.lstrip("*")] = digest
    return sums


@pytest.fixture(scope="module")
def pima_frame() -> Bunch:
    return load_pima_diabetes(as_frame=True)


@pytest.fixture(scope="module")
def housing_frame() -> Bunch:
    return load_california_housing(as_frame=True)


@pytest.fixture(scope="module")
def housing_array() -> Bunch:
    return load_california_housing()


# --- checksums -----------------------------------------------------------------


def test_shipped_pima_csv_matches_original_checksum():
    content = gzip.decompress((DATA / "pima-indians-diabetes.csv.gz").read_bytes())
    assert _sha256(content) == PIMA_CSV_SHA256


def test_shipped_housing_csv_matches_original_checksum():
    compressed = (DATA / "california-housing.csv.gz").read_bytes()
    assert _sha256(compressed) == HOUSING_CSV_GZ_SHA256
    assert _sha256(gzip.decompress(compressed)) == HOUSING_CSV_SHA256


def test_shipped_sha256sums_file_lists_uncompressed_csvs():
    sums = _parse_sums((DATA / "SHA256SUMS").read_text())
    assert sums == {
        "pima-indians-diabetes.csv": PIMA_CSV_SHA256,
        "california-housing.csv": HOUSING_CSV_SHA256,
    }
    for name, digest in sums.items():
        assert _sha256(gzip.decompress((DATA / f"{name}.gz").read_bytes())) == digest


def test_hard_coded_sums_agree_with_shared_sums_when_present():
    sums = _shared_sums()
    if sums is None:
        pytest.skip("no shared SHA256SUMS next to this checkout")
    assert sums["pima-indians-diabetes.csv"] == PIMA_CSV_SHA256
    assert sums["california-housing.csv.gz"] == HOUSING_CSV_GZ_SHA256


# --- Pima Indians Diabetes ---------------------------------------------------


def test_pima_bunch_numpy():
    bunch = load_pima_diabetes()
    assert isinstance(bunch, Bunch)
    assert bunch.frame is None
    assert isinstance(bunch.data, np.ndarray)
    assert bunch.data.shape == (768, 8)
    assert bunch.data.dtype == np.float64
    assert isinstance(bunch.target, np.ndarray)
    assert bunch.target.shape == (768,)
    assert bunch.target.dtype == np.int64
    assert bunch.feature_names == PIMA_FEATURES
    assert list(bunch.target_names) == ["tested_negative", "tested_positive"]
    assert set(np.unique(bunch.target)) == {0, 1}
    assert int(bunch.target.sum()) == 268
    assert (files(bunch.data_module) / bunch.filename).is_file()
    # First row of the original file.
    np.testing.assert_array_equal(bunch.data[0], [6, 148, 72, 35, 0, 33.6, 0.627, 50])
    assert bunch.target[0] == 1


def test_pima_zeros_are_kept():
    X, _ = load_pima_diabetes(return_X_y=True)
    zeros = dict(zip(PIMA_FEATURES, (X == 0).sum(axis=0).tolist(), strict=True))
    assert zeros["Glucose"] == 5
    assert zeros["BloodPressure"] == 35
    assert zeros["SkinThickness"] == 227
    assert zeros["Insulin"] == 374
    assert zeros["BMI"] == 11
    assert not np.isnan(X).any()


def test_pima_as_frame(pima_frame):
    bunch = pima_frame
    assert isinstance(bunch.frame, pd.DataFrame)
    assert list(bunch.frame.columns) == [*PIMA_FEATURES, "Outcome"]
    assert bunch.frame.shape == (768, 9)
    assert isinstance(bunch.data, pd.DataFrame)
    assert list(bunch.data.columns) == PIMA_FEATURES
    assert (bunch.data.dtypes == np.float64).all()
    assert isinstance(bunch.target, pd.Series)
    assert bunch.target.name == "Outcome"
    assert bunch.target.dtype == np.int64
    assert int(bunch.target.sum()) == 268
    np.testing.assert_array_equal(bunch.data.to_numpy(), load_pima_diabetes().data)


@pytest.mark.parametrize("as_frame", [False, True])
def test_pima_return_X_y(as_frame):
    X, y = load_pima_diabetes(return_X_y=True, as_frame=as_frame)
    assert X.shape == (768, 8)
    assert y.shape == (768,)
    if as_frame:
        assert isinstance(X, pd.DataFrame)
        assert isinstance(y, pd.Series)
    else:
        assert isinstance(X, np.ndarray)
        assert isinstance(y, np.ndarray)
    assert int(y.sum()) == 268


def test_pima_descr():
    descr = load_pima_diabetes().DESCR
    assert isinstance(descr, str)
    assert descr.strip()
    assert "National Institute of Diabetes and Digestive and Kidney Diseases" in descr
    assert "UCI" in descr
    assert "768" in descr
    assert "missing" in descr.lower()


# --- California housing --------------------------------------------------------


def test_housing_bunch_numpy(housing_array):
    bunch = housing_array
    assert isinstance(bunch, Bunch)
    assert bunch.frame is None
    assert isinstance(bunch.data, np.ndarray)
    assert bunch.data.shape == (20640, 9)
    assert bunch.data.dtype == object
    assert isinstance(bunch.target, np.ndarray)
    assert bunch.target.shape == (20640,)
    assert bunch.target.dtype == np.float64
    assert bunch.feature_names == HOUSING_FEATURES
    assert bunch.target_names == ["median_house_value"]
    assert (files(bunch.data_module) / bunch.filename).is_file()
    # Object columns hold Python floats for numerics and str for the category.
    assert all(isinstance(v, float) for v in bunch.data[0, :8])
    assert bunch.data[0, 8] == "NEAR BAY"
    assert bunch.data[0, 0] == -122.23
    assert bunch.target[0] == 452600.0
    assert bunch.target.max() == 500001.0


def test_housing_numpy_missing_and_levels(housing_array):
    data = housing_array.data
    numeric = data[:, :8].astype(np.float64)
    nan_per_column = dict(zip(HOUSING_NUMERIC, np.isnan(numeric).sum(axis=0).tolist(), strict=True))
    assert nan_per_column["total_bedrooms"] == 207
    assert sum(nan_per_column.values()) == 207
    levels, counts = np.unique(data[:, 8].astype(str), return_counts=True)
    assert set(levels) == OCEAN_LEVELS
    assert dict(zip(levels.tolist(), counts.tolist(), strict=True))["ISLAND"] == 5


def test_housing_as_frame(housing_frame):
    bunch = housing_frame
    frame = bunch.frame
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == HOUSING_COLUMNS
    assert frame.shape == (20640, 10)
    X = bunch.data
    assert isinstance(X, pd.DataFrame)
    assert list(X.columns) == HOUSING_FEATURES
    assert X.shape == (20640, 9)
    for name in HOUSING_NUMERIC:
        assert X[name].dtype == np.float64, name
    assert isinstance(X["ocean_proximity"].dtype, pd.CategoricalDtype)
    assert set(X["ocean_proximity"].cat.categories) == OCEAN_LEVELS
    assert X["ocean_proximity"].value_counts()["ISLAND"] == 5
    assert X["ocean_proximity"].notna().all()
    assert X["total_bedrooms"].isna().sum() == 207
    assert X.isna().sum().sum() == 207
    y = bunch.target
    assert isinstance(y, pd.Series)
    assert y.name == "median_house_value"
    assert y.dtype == np.float64
    assert not y.isna().any()


def test_housing_frame_and_array_agree(housing_frame, housing_array):
    X_frame, X_array = housing_frame.data, housing_array.data
    np.testing.assert_array_equal(
        X_frame[HOUSING_NUMERIC].to_numpy(), X_array[:, :8].astype(np.float64)
    )
    assert X_frame["ocean_proximity"].astype(str).tolist() == X_array[:, 8].tolist()
    np.testing.assert_array_equal(housing_frame.target.to_numpy(), housing_array.target)


@pytest.mark.parametrize("as_frame", [False, True])
def test_housing_return_X_y(as_frame):
    X, y = load_california_housing(return_X_y=True, as_frame=as_frame)
    assert X.shape == (20640, 9)
    assert y.shape == (20640,)
    if as_frame:
        assert isinstance(X, pd.DataFrame)
        assert isinstance(y, pd.Series)
    else:
        assert isinstance(X, np.ndarray)
        assert X.dtype == object
        assert isinstance(y, np.ndarray)


def test_housing_descr(housing_array):
    descr = housing_array.DESCR
    assert isinstance(descr, str)
    assert descr.strip()
    assert "1990" in descr
    assert "Pace" in descr
    assert "StatLib" in descr
    assert "20640" in descr


# --- fresh copies --------------------------------------------------------------


@pytest.mark.parametrize("as_frame", [False, True])
def test_pima_returns_fresh_copies(as_frame):
    first = load_pima_diabetes(as_frame=as_frame)
    if as_frame:
        first.data.iloc[:, :] = -1.0
        first.target.iloc[:] = 7
        first.frame.iloc[:, :] = -1
    else:
        first.data[:] = -1.0
        first.target[:] = 7
    first.feature_names.append("oops")
    first.target_names[0] = "oops"
    second = load_pima_diabetes(as_frame=as_frame)
    assert (np.asarray(second.data) >= 0).all()
    assert int(np.asarray(second.target).sum()) == 268
    assert second.feature_names == PIMA_FEATURES
    assert second.target_names[0] == "tested_negative"


@pytest.mark.parametrize("as_frame", [False, True])
def test_housing_returns_fresh_copies(as_frame):
    first_X, first_y = load_california_housing(return_X_y=True, as_frame=as_frame)
    if as_frame:
        first_X.loc[:, "total_bedrooms"] = 0.0
        first_X["ocean_proximity"] = first_X["ocean_proximity"].cat.remove_categories(
            ["ISLAND"]
        )
        first_y.iloc[:] = -1.0
    else:
        first_X[:, 4] = 0.0
        first_X[:, 8] = "changed"
        first_y[:] = -1.0
    second = load_california_housing(as_frame=as_frame)
    assert (np.asarray(second.target) > 0).all()
    if as_frame:
        assert second.data["total_bedrooms"].isna().sum() == 207
        assert (second.data["ocean_proximity"] == "ISLAND").sum() == 5
    else:
        assert np.isnan(second.data[:, 4].astype(np.float64)).sum() == 207
        assert (second.data[:, 8] == "ISLAND").sum() == 5
    second.feature_names.append("oops")
    second.target_names.append("oops")
    third = load_california_housing()
    assert third.feature_names == HOUSING_FEATURES
    assert third.target_names == ["median_house_value"]


def test_within_one_call_data_does_not_alias_frame():
    bunch = load_pima_diabetes(as_frame=True)
    bunch.data.iloc[0, 0] = -99.0
    assert bunch.frame.iloc[0, 0] == 6.0
