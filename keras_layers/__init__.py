"""Keras 3 layers of the SSD models.

Importing the package also makes `keras.models.load_model` read the `.h5` files SSD users have:
it registers the layer that rebuilds the preprocessing `Lambda` layers of models saved by the old
Keras 2 library (`keras_layer_preprocessing`), and completes Keras's `.h5` loader so that Keras 2
optimizer settings and optimizer state load and the loaded model can go on training
(`_legacy_h5`). The tutorials' `load_model(path, custom_objects={...})` call therefore works
unchanged on files of Keras 2.0 to 3.
"""

from keras_layers import _legacy_h5, keras_layer_preprocessing  # noqa: F401
