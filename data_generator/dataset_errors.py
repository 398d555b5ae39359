"""Exceptions raised by `DataGenerator` and the modules it delegates to.

`DegenerateBatchError` and `DatasetError` are the public names of the original library and are
re-exported by `data_generator.object_detection_2d_data_generator`. The more specific classes
below derive from `DatasetError` *and* from the built-in exception a caller would naturally
catch (`FileNotFoundError`, `ValueError`), so both kinds of `except` clause keep working.
"""

from __future__ import annotations


class DegenerateBatchError(Exception):
    """A generated batch is empty, or its images cannot be stacked into one array."""


class DatasetError(Exception):
    """Something is wrong with the dataset, for example no dataset was loaded."""


class MissingFileError(DatasetError, FileNotFoundError):
    """A file named by the dataset (labels file, annotation, image) does not exist."""


class AnnotationError(DatasetError, ValueError):
    """An annotation file is malformed; the message names the file and the line or object."""


class ImageDecodeError(DatasetError, ValueError):
    """An image file exists but cannot be decoded (corrupt or not an image)."""
