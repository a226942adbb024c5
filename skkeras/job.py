"""The plain data types a fit passes between its steps: a leaf every module may import.

:class:`TrainingJob` is one fit's training, described before it runs (the model, its
encoded data and settings); :class:`TrainedState` is a model's variables after
training, with the history that led there. Searches build many jobs first and train
them together (:mod:`skkeras.packing`); the estimators run one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np


@dataclass
class TrainedState:
    """A model's variables after training, and the history that led there."""

    trainable: list[np.ndarray]
    non_trainable: list[np.ndarray]
    optimizer: list[np.ndarray]
    history: dict[str, list[float]]

    @classmethod
    def of(cls, model: keras.Model, history: Mapping[str, Sequence[float]]) -> TrainedState:
        def values(variables):
            return [keras.ops.convert_to_numpy(v).copy() for v in variables]

        return cls(
            values(model.trainable_variables), values(model.non_trainable_variables),
            values(model.optimizer.variables),
            {name: [float(v) for v in h] for name, h in history.items()},
        )

    def apply_to(self, model: keras.Model) -> dict[str, list[float]]:
        groups = (model.trainable_variables, model.non_trainable_variables, model.optimizer.variables)
        for variables, values in zip(groups, (self.trainable, self.non_trainable, self.optimizer), strict=True):
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)
        return {name: list(h) for name, h in self.history.items()}


@dataclass
class TrainingJob:
    """One fit's training: the built model, its encoded data, and how to train it.

    The estimators build a job and run it; a search builds the jobs of many fits
    first, trains them together (:mod:`skkeras.packing`), and lets each fit find
    its result by :meth:`fingerprint`.
    """

    model: keras.Model
    x: np.ndarray | Mapping[str, np.ndarray]
    y: np.ndarray
    sample_weight: np.ndarray | None
    epochs: int
    batch_size: int
    first_epoch: int
    seed: int
    shuffle: bool
    callbacks: list[keras.callbacks.Callback] = field(default_factory=list)
    validation_data: tuple[Any, ...] | None = None
    validation_batch_size: int | None = None
    verbose: int = 0
    fit_kwargs: Mapping[str, Any] = field(default_factory=dict)
    engine: str = "auto"
    #: XLA for the fast path: None lets skkeras choose (see engine.default_jit_compile).
    jit_compile: bool | None = None
    #: (batches, rows per batch) of the compiled program's batch plan, when runs with
    #: different batch sizes share one program (:func:`skkeras.packing.share_programs`);
    #: None: this job's own (its batch size, and the batches its rows need).
    slots: tuple[int, int] | None = None
    #: The values training starts from, for a model reused across fits
    #: (:mod:`skkeras.reuse`); None starts from the model's current values.
    initial: TrainedState | None = None

    def run(self) -> dict[str, list[float]]:
        """Train the model; return the history."""
        from .training import train

        return train(self)

    def reset_model(self) -> None:
        """Put the starting values into the model, if the job has its own."""
        if self.initial is not None:
            self.initial.apply_to(self.model)
