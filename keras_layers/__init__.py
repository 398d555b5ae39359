"""Keras 3 layers of the SSD models.

Importing the package registers the layer that rebuilds the preprocessing ``Lambda`` layers of
models saved by the old Keras 2 library, so ``keras.models.load_model`` on such an ``.h5`` file
works with the tutorials' ``custom_objects`` alone.
"""

from keras_layers import keras_layer_preprocessing  # noqa: F401
