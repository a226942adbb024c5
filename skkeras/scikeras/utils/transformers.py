"""scikeras's ``scikeras.utils.transformers``; the code lives in :mod:`skkeras.encoders`."""

from __future__ import annotations

from ...encoders import ClassifierLabelEncoder, RegressorTargetEncoder, TargetReshaper

__all__ = ["ClassifierLabelEncoder", "RegressorTargetEncoder", "TargetReshaper"]
