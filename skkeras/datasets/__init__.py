"""Offline loaders for the data sets shipped with skkeras.

Both data sets are stored compressed inside the package and are loaded without
network access, following scikit-learn's loader conventions
(``return_X_y=``, ``as_frame=``, a :class:`~sklearn.utils.Bunch` result).

- :func:`load_pima_diabetes`: Pima Indians Diabetes (binary classification).
- :func:`load_california_housing`: raw California housing (regression,
  mixed numeric and categorical features).
"""

from ._base import load_california_housing, load_pima_diabetes

__all__ = ["load_california_housing", "load_pima_diabetes"]
