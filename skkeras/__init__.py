"""skkeras: Keras models as first-class scikit-learn estimators."""

from .wrappers import BaseWrapper, KerasClassifier, KerasRegressor

__version__ = "0.1.0"

__all__ = ["BaseWrapper", "KerasClassifier", "KerasRegressor", "__version__"]
