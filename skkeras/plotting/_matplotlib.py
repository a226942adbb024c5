"""matplotlib, imported late: figures made without pyplot, and their PNG bytes."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - only for annotations
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_INSTALL_HINT = (
    "skkeras.plotting needs matplotlib, which is not installed: `pip install matplotlib` "
    "(or the `plot` extra, `pip install \"skkeras[plot]\"`)."
)


def _require_matplotlib() -> Any:
    """Import and return :mod:`matplotlib`, or raise an ImportError naming the extra."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return matplotlib


def _pyplot() -> Any:
    """Import and return :mod:`matplotlib.pyplot` (for plots drawn without an ``ax``)."""
    _require_matplotlib()
    import matplotlib.pyplot as plt

    return plt


def new_figure(figsize: tuple[float, float] = (6.4, 4.2)) -> tuple[Figure, Axes]:
    """A figure with one axes, made without :mod:`matplotlib.pyplot`.

    Such a figure needs no GUI backend and is not registered with pyplot, so
    it is freed when it goes out of scope: the report uses it to draw many
    figures in a row.

    Parameters
    ----------
    figsize : tuple of float, default=(6.4, 4.2)
        Width and height in inches.

    Returns
    -------
    figure : matplotlib.figure.Figure
    ax : matplotlib.axes.Axes
    """
    _require_matplotlib()
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize, layout="constrained")
    return figure, figure.add_subplot()


def figure_to_png(figure: Figure, *, dpi: int = 100) -> bytes:
    """Render a figure to PNG bytes.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
    dpi : int, default=100

    Returns
    -------
    bytes
        The PNG file's content.
    """
    _require_matplotlib()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
