"""Unregistered custom Keras objects in an importable module, for pickling tests."""

import keras


def squared_error(y_true, y_pred):
    return keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)


class AbsoluteLoss(keras.losses.Loss):
    def call(self, y_true, y_pred):
        return keras.ops.mean(keras.ops.abs(y_true - y_pred), axis=-1)


class TotalError(keras.metrics.Metric):
    def __init__(self, name="total_error", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.total.assign_add(keras.ops.sum(keras.ops.abs(y_true - y_pred)))

    def result(self):
        # A tensor, not the variable itself: JAX cannot trace a Variable as a result.
        return keras.ops.convert_to_tensor(self.total)


class TwoLayers(keras.Model):
    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.hidden = keras.layers.Dense(units, activation="relu")
        self.out = keras.layers.Dense(1)

    def call(self, x):
        return self.out(self.hidden(x))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def build_functional(meta):
    x = keras.Input((meta["n_features_in_"],))
    return keras.Model(x, keras.layers.Dense(1)(keras.layers.Dense(4)(x)))


def build_subclassed(meta):
    return TwoLayers(4)
