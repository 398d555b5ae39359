"""Building one batch from dataset samples: shared by `DataGenerator.generate` and the Keras
`PyDataset` of `data_generator.keras_dataset`.

A batch goes through four stages:

1. `SampleSource.fetch`: read the images and copy the labels of some dataset positions;
2. `BatchAssembler` transforms every item (in order, collecting inverters when asked), drops
   items without boxes (unless kept) or whose transformation failed, and handles degenerate boxes;
3. the surviving images are stacked and the labels encoded;
4. the requested outputs are returned as a list in the fixed order of `RETURN_ORDER`.

Labels are arrays of shape `(k, num_columns)` in the generator's `labels_output_format`
(absolute pixel coordinates); an image without boxes has a `(0, num_columns)` array.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import logging
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from data_generator.dataset_errors import DegenerateBatchError
from data_generator.hdf5_storage import Hdf5ImageReader
from data_generator.image_io import read_image

logger = logging.getLogger("data_generator")

#: Output names of `generate`, in the order in which they are yielded.
RETURN_ORDER = (
    "processed_images",
    "encoded_labels",
    "matched_anchors",
    "processed_labels",
    "filenames",
    "image_ids",
    "evaluation-neutral",
    "inverse_transform",
    "original_images",
    "original_labels",
)
_LABEL_RETURNS = (
    "original_labels",
    "processed_labels",
    "encoded_labels",
    "matched_anchors",
    "evaluation-neutral",
)


def check_returns(returns: Any) -> set[str]:
    """Validates `returns` and returns it as a set.

    Raises:
        ValueError: If `returns` holds a name that is not one of `RETURN_ORDER`.
    """
    if isinstance(returns, str):
        returns = {returns}
    names = set(returns)
    unknown = sorted(names - set(RETURN_ORDER))
    if unknown:
        raise ValueError(
            f"`returns` contains unknown output name(s) {unknown}; the valid names "
            f"are {list(RETURN_ORDER)}."
        )
    return names


def warn_impossible_returns(returns: set[str], has_labels: bool, label_encoder: Any) -> None:
    """Warns (as the original did) about requested outputs that will be `None`."""
    if not has_labels:
        impossible = sorted(returns & set(_LABEL_RETURNS))
        reason = "no labels were given"
    elif label_encoder is None:
        impossible = sorted(returns & {"encoded_labels", "matched_anchors"})
        reason = "no label encoder was given"
    elif not is_ssd_input_encoder(label_encoder):
        impossible = sorted(returns & {"matched_anchors"})
        reason = "`label_encoder` is not an `SSDInputEncoder`"
    else:
        impossible = []
    if impossible:
        warnings.warn(
            f"Since {reason}, the requested output(s) {impossible} are not possible and "
            "will be None.",
            stacklevel=3,
        )


def is_ssd_input_encoder(label_encoder: Any) -> bool:
    """Whether `label_encoder` is an `SSDInputEncoder` (whose `__call__` takes `diagnostics`)."""
    from ssd_encoder_decoder.ssd_input_encoder import SSDInputEncoder

    return isinstance(label_encoder, SSDInputEncoder)


def accepts_return_inverter(transform: Callable) -> bool:
    """Whether the transformation's call signature has a `return_inverter` parameter."""
    try:
        return "return_inverter" in inspect.signature(transform).parameters
    except (TypeError, ValueError):
        return False


def as_label_array(labels: Any, num_columns: int) -> np.ndarray:
    """A fresh array copy of one image's labels; no boxes give shape `(0, num_columns)`."""
    array = np.array(labels)
    if array.size == 0:
        return array.reshape(0, num_columns)
    return array


@dataclass
class RawBatch:
    """The untransformed samples of one batch (lists aligned by batch item)."""

    images: list[np.ndarray]
    labels: list[np.ndarray] | None
    filenames: list[str] | None
    image_ids: list | None
    eval_neutral: list | None


class SampleSource:
    """Read access to a dataset's samples by *position*.

    Position `p` pairs the image `dataset_indices[p]` (of the in-memory images or the HDF5 file)
    with `filenames[p]`, `labels[p]`, `image_ids[p]` and `eval_neutral[p]`, exactly as the
    original generator did after shuffling its lists in place. Without in-memory images or an HDF5
    file the image is read from `filenames[p]`.

    Args:
        filenames: Image paths or `None`.
        labels: Per-image labels or `None`.
        image_ids: Per-image ids or `None`.
        eval_neutral: Per-image neutrality flags or `None`.
        dataset_indices: Image index of every position, `(N,)` ints.
        images: In-memory images or `None`.
        hdf5_reader: Reader of the HDF5 images or `None`.
        num_label_columns: Number of label columns.
    """

    def __init__(
        self,
        filenames: Sequence[str] | None,
        labels: Sequence[Any] | None,
        image_ids: Sequence[Any] | None,
        eval_neutral: Sequence[Any] | None,
        dataset_indices: np.ndarray,
        images: Sequence[np.ndarray] | None,
        hdf5_reader: Hdf5ImageReader | None,
        num_label_columns: int,
    ) -> None:
        self.filenames = filenames
        self.labels = labels
        self.image_ids = image_ids
        self.eval_neutral = eval_neutral
        self.dataset_indices = dataset_indices
        self.images = images
        self.hdf5_reader = hdf5_reader
        self.num_label_columns = num_label_columns

    def __len__(self) -> int:
        return len(self.dataset_indices)

    def image(self, position: int) -> np.ndarray:
        """The stored image at `position` (not copied when it comes from memory)."""
        if self.images is not None:
            return self.images[self.dataset_indices[position]]
        if self.hdf5_reader is not None:
            return self.hdf5_reader.image(self.dataset_indices[position])
        return read_image(self.filenames[position])

    @property
    def reads_files(self) -> bool:
        """Whether images are decoded from files (neither in memory nor in an HDF5 file)."""
        return self.images is None and self.hdf5_reader is None

    def filenames_at(self, positions: Sequence[int]) -> list[str]:
        """The image paths at `positions` (only when `reads_files`)."""
        return [self.filenames[int(position)] for position in positions]

    def fetch(self, positions: Sequence[int], images: list[np.ndarray] | None = None) -> RawBatch:
        """Images and copies of the labels at `positions`; `images`, when given, are the images
        at `positions` already read (by an `ImagePrefetcher`)."""
        positions = [int(position) for position in positions]
        if images is None:
            images = [self.image(position) for position in positions]
        return RawBatch(
            images=images,
            labels=self._pick(self.labels, positions, copy_labels=True),
            filenames=self._pick(self.filenames, positions),
            image_ids=self._pick(self.image_ids, positions),
            eval_neutral=self._pick(self.eval_neutral, positions),
        )

    def _pick(
        self, values: Sequence[Any] | None, positions: list[int], copy_labels: bool = False
    ) -> list | None:
        if values is None:
            return None
        if copy_labels:
            return [as_label_array(values[p], self.num_label_columns) for p in positions]
        return [values[p] for p in positions]


def _read_images(filenames: list[str]) -> list[np.ndarray]:
    return [read_image(filename) for filename in filenames]


class ImagePrefetcher:
    """Decodes the image files of the next batch in one background thread.

    OpenCV releases the GIL while it decodes, so reading the files of batch `i + 1` overlaps with
    transforming and encoding batch `i` on another core. Reading is deterministic and draws no
    random numbers, so the batches are exactly those of reading the files when needed; an error
    of a file (missing, corrupt) is raised when its batch is taken, as without prefetching.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="image-prefetch")
        self._pending: tuple[list[str], Future] | None = None

    def request(self, filenames: list[str]) -> None:
        """Starts reading `filenames` (replacing any request not taken)."""
        self._discard()
        self._pending = (filenames, self._pool.submit(_read_images, filenames))

    def take(self, filenames: list[str]) -> list[np.ndarray] | None:
        """The images of `filenames` if exactly those were requested last, else `None`.

        Raises:
            MissingFileError, ImageDecodeError: If reading one of the files failed.
        """
        pending, self._pending = self._pending, None
        if pending is None or pending[0] != filenames:
            if pending is not None:
                pending[1].cancel()
            return None
        return pending[1].result()

    def close(self) -> None:
        """Stops the background thread (waiting for a read under way)."""
        self._discard()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _discard(self) -> None:
        if self._pending is not None:
            self._pending[1].cancel()
            self._pending = None


class BatchAssembler:
    """Turns a `RawBatch` into the outputs `generate` yields.

    Args:
        transformations: Callables applied in order to `(image, labels)` (see
            `DataGenerator.generate`).
        label_encoder: Callable on the list of label arrays, or `None`.
        returns: Names of the requested outputs (subset of `RETURN_ORDER`).
        keep_images_without_gt: Keep items without boxes (before or after the transformations).
        degenerate_box_handling: `'remove'` drops boxes with `xmax <= xmin` or `ymax <= ymin`
            (counted in a log message), `'warn'` warns; any other value does nothing.
        labels_format: Column index of `'class_id'`, `'xmin'`, `'ymin'`, `'xmax'`, `'ymax'`.
    """

    def __init__(
        self,
        transformations: Sequence[Callable],
        label_encoder: Callable | None,
        returns: set[str],
        keep_images_without_gt: bool,
        degenerate_box_handling: str,
        labels_format: dict[str, int],
    ) -> None:
        self.transformations = list(transformations)
        self.label_encoder = label_encoder
        self.returns = returns
        self.keep_images_without_gt = keep_images_without_gt
        self.degenerate_box_handling = degenerate_box_handling
        self.labels_format = labels_format
        wants_inverters = "inverse_transform" in returns
        self._with_inverter = [
            wants_inverters and accepts_return_inverter(t) for t in self.transformations
        ]
        self._box_filter = None
        if degenerate_box_handling == "remove":
            from data_generator.object_detection_2d_image_boxes_validation_utils import BoxFilter

            self._box_filter = BoxFilter(
                check_overlap=False,
                check_min_area=False,
                check_degenerate=True,
                labels_format=labels_format,
            )
        self._diagnostics = (
            label_encoder is not None
            and "matched_anchors" in returns
            and is_ssd_input_encoder(label_encoder)
        )
        #: Number of degenerate boxes removed so far (in this process).
        self.degenerate_boxes_removed = 0

    def assemble(self, raw: RawBatch, transform_scope: Callable[[], Any] | None = None) -> list:
        """Processes one batch and returns the requested outputs in `RETURN_ORDER`.

        Args:
            raw: The samples of the batch.
            transform_scope: Optional context-manager factory entered around the
                transformation stage (used to seed the random number generators).

        Raises:
            DegenerateBatchError: If no item survives or the images cannot be stacked.
        """
        originals = {}
        if "original_images" in self.returns:
            originals["original_images"] = copy.deepcopy(raw.images)
        if "original_labels" in self.returns:
            originals["original_labels"] = copy.deepcopy(raw.labels)
        scope = transform_scope() if transform_scope is not None else contextlib.nullcontext()
        with scope:
            keep, inverters = self._process_items(raw)
        batch = _select_items(raw, keep, inverters, originals)
        images = _stack_images(batch["processed_images"], len(keep))
        encoded, matched = self._encode(batch["processed_labels"])
        outputs = {
            **batch,
            "processed_images": images,
            "encoded_labels": encoded,
            "matched_anchors": matched,
        }
        return [outputs.get(name) for name in RETURN_ORDER if name in self.returns]

    def _process_items(self, raw: RawBatch) -> tuple[list[bool], list[list]]:
        keep, inverters = [], []
        for item in range(len(raw.images)):
            labels = raw.labels[item] if raw.labels is not None else None
            if labels is not None and labels.size == 0 and not self.keep_images_without_gt:
                keep.append(False)
                inverters.append([])
                continue
            image, labels, item_inverters = self._transform(raw.images[item], labels)
            raw.images[item] = image
            if image is not None and labels is not None:
                labels = self._handle_degenerate(labels, item, raw.filenames)
                raw.labels[item] = labels
            keep.append(
                image is not None
                and (labels is None or labels.size > 0 or self.keep_images_without_gt)
            )
            inverters.append(item_inverters[::-1])
        return keep, inverters

    def _transform(self, image: np.ndarray, labels: np.ndarray | None) -> tuple[Any, Any, list]:
        inverters = []
        for transform, with_inverter in zip(self.transformations, self._with_inverter, strict=True):
            kwargs = {"return_inverter": True} if with_inverter else {}
            if labels is not None:
                result = transform(image, labels, **kwargs)
                image, labels = result[0], result[1]
            else:
                result = transform(image, **kwargs)
                image = result[0] if with_inverter else result
            if with_inverter:
                inverters.append(result[-1])
            if image is None:
                return None, labels, []
        return image, labels, inverters

    def _handle_degenerate(
        self, labels: np.ndarray, item: int, filenames: list[str] | None
    ) -> np.ndarray:
        if labels.size == 0 or self.degenerate_box_handling not in ("warn", "remove"):
            return labels
        fmt = self.labels_format
        degenerate = (labels[:, fmt["xmax"]] - labels[:, fmt["xmin"]] <= 0) | (
            labels[:, fmt["ymax"]] - labels[:, fmt["ymin"]] <= 0
        )
        count = int(np.count_nonzero(degenerate))
        if count == 0:
            return labels
        where = f"batch item {item}" + (f" ('{filenames[item]}')" if filenames else "")
        if self.degenerate_box_handling == "warn":
            warnings.warn(
                f"{count} degenerate ground truth box(es) (xmax <= xmin or ymax <= ymin) in "
                f"{where}: {labels[degenerate].tolist()}. Check the dataset, the transformations "
                "or the coordinate format; degenerate boxes can make the training produce NaN.",
                stacklevel=2,
            )
            return labels
        filtered = self._box_filter(labels)
        removed = len(labels) - len(filtered)
        self.degenerate_boxes_removed += removed
        logger.warning(
            "Removed %d degenerate box(es) (xmax <= xmin or ymax <= ymin) from %s.", removed, where
        )
        return filtered

    def _encode(self, labels: list[np.ndarray] | None) -> tuple[Any, Any]:
        if self.label_encoder is None or labels is None:
            return None, None
        if self._diagnostics:
            return self.label_encoder(labels, diagnostics=True)
        if is_ssd_input_encoder(self.label_encoder):
            return self.label_encoder(labels, diagnostics=False), None
        return self.label_encoder(labels), None


def _select_items(
    raw: RawBatch, keep: list[bool], inverters: list[list], originals: dict[str, list | None]
) -> dict[str, Any]:
    def select(values: list | None) -> list | None:
        if values is None:
            return None
        return [value for value, kept in zip(values, keep, strict=True) if kept]

    return {
        "processed_images": select(raw.images),
        "processed_labels": select(raw.labels),
        "filenames": select(raw.filenames),
        "image_ids": select(raw.image_ids),
        "evaluation-neutral": select(raw.eval_neutral),
        "inverse_transform": select(inverters),
        **{name: select(values) for name, values in originals.items()},
    }


def _stack_images(images: list[np.ndarray], batch_length: int) -> np.ndarray:
    if not images:
        raise DegenerateBatchError(
            f"The batch is empty: all {batch_length} item(s) were removed (no ground truth boxes, "
            "a failed transformation or only degenerate boxes). Use "
            "`keep_images_without_gt=True` or check the dataset."
        )
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        raise DegenerateBatchError(
            f"The images of a batch must all have the same shape after the transformations, got "
            f"shapes {sorted(shapes)}. Add a transformation that resizes or crops them to one "
            "size (for example `Resize`)."
        )
    return np.stack(images)
