"""The application built on the SSD library: the `ssd-keras` command line and the demo.

* `ssd_app.cli`: the `ssd-keras` console script (`train`, `evaluate`, `predict`, `export`,
  `demo`), also `python -m ssd_app.cli`.
* `ssd_app.distribute`: the `train --distribute` routes (`tf.distribute`, `keras.distribution`),
  `setup_distribution` for scripts.
* `ssd_app.training`: `train`, the whole `ssd-keras train` command from Python.
* `ssd_app.demo`: the main job of `make demo` (`python -m ssd_app.demo`): generates the synthetic
  road-traffic data, trains SSD7 for a budget of minutes or epochs, evaluates it and writes one
  output folder.
* `ssd_app.light_predict`: runs a detector exported by `ssd-keras export` (`.onnx`, `.tflite`)
  with NumPy, OpenCV and ONNX Runtime or LiteRT only.
* `ssd_app.training_budget`: `TrainingBudget`, a warm-up + cosine learning rate fitted to a
  training-time budget (steps or wall-clock minutes) that ends training when it is spent.

The library packages (`models`, `keras_layers`, `keras_loss_function`, `ssd_encoder_decoder`,
`bounding_box_utils`, `data_generator`, `eval_utils`, `misc_utils`) never import this package;
`tests/test_import_graph.py` checks it.
"""
