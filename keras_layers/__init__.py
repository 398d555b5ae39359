"""Keras 3 layers of the SSD models.

Importing the package registers every Keras object this library saves in a model: the layers
(`AnchorBoxes`, `L2Normalization`, `DecodeDetections`, `DecodeDetectionsFast`, the fused
`BatchNormalization`, the preprocessing layers) and the loss (`SSDLoss`). After
`import keras_layers`, `keras.models.load_model(path)` therefore reads any `.keras` or `.h5`
model saved with this library, with no `custom_objects` and in safe mode, in a process that
imports nothing else of it.

It also makes `keras.models.load_model` read the `.h5` files of the old Keras 2 library: the
preprocessing layers rebuild its `Lambda` layers (`keras_layer_preprocessing`), and Keras's `.h5`
loader is completed so that Keras 2 optimizer settings and optimizer state load and the loaded
model can go on training (`_legacy_h5`). The tutorials' `load_model(path, custom_objects={...})`
call therefore works unchanged on files of Keras 2.0 to 3.
"""

# Keras finds a registered class only once its module is imported, hence every one of them here.
from keras_layers import (  # noqa: F401
    _legacy_h5,
    keras_layer_AnchorBoxes,
    keras_layer_BatchNormalization,
    keras_layer_DecodeDetections,
    keras_layer_DecodeDetectionsFast,
    keras_layer_L2Normalization,
    keras_layer_preprocessing,
)
from keras_loss_function import keras_ssd_loss  # noqa: F401
