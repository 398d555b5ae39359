"""Library utilities: sub-sampling classifier weights and writing files atomically.

* `misc_utils.tensor_sampling_utils`: `sample_tensors`, sub- or up-sampling weight tensors along
  chosen axes.
* `misc_utils.weight_sampling`: `subsample_weights_file`, keeping the classification layers'
  channels of chosen classes in an old-format (Keras 2) `.h5` weights file.
* `misc_utils.atomic_write`: `atomic_path`, writing a file under a temporary name and renaming it
  into place.

The `ssd-keras` command line and the demo live in the `ssd_app` package.
"""
