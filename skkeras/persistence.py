"""Pickling, and saving to / loading from .h5 and .keras files (work in progress)."""


class PersistenceMixin:
    """Persistence methods shared by the estimators."""
