"""The SSD training loss: softmax log loss with hard negative mining plus smooth L1 box loss."""

from __future__ import annotations

from numbers import Real

import keras
from keras import ops

from ssd_encoder_decoder.output_layout import BACKGROUND_ID as BACKGROUND
from ssd_encoder_decoder.output_layout import CLASS_SCORES, OFFSETS
from ssd_encoder_decoder.output_layout import OBJECT_CLASS_SCORES as OBJECT_CLASSES

# Predicted probabilities are clipped below at this value before taking the logarithm.
_MIN_PROBABILITY = 1e-15

NORMALIZATIONS = ("replica", "global")
"""The values of `SSDLoss(normalization=...)`."""


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Real) or value != int(value):
        raise ValueError(f"`{name}` must be an integer, but received {name}={value!r}.")
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, but received {name}={value!r}.")
    return int(value)


def _replica_context():
    """The `tf.distribute.ReplicaContext` of a step with several replicas, else None."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    if not tf.distribute.has_strategy():
        return None
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context


@keras.saving.register_keras_serializable(package="ssd_keras")
class SSDLoss(keras.losses.Loss):
    """The SSD multibox loss (Liu et al. 2016, eq. 1) with batch-wide hard negative mining.

    For targets and predictions of shape `(batch, n_boxes, n_classes + 12)` (class scores with
    the background in column 0, 4 encoded box offsets, 8 anchor/variance columns that are
    ignored):

    * the classification loss of a box is the log loss of its class scores, the localization
      loss the smooth L1 loss of its 4 offsets;
    * positives are boxes with an object class in `y_true`, negatives boxes whose background
      entry is set; neutral boxes (all-zero class vector) count as neither;
    * of the negatives of the *whole batch*, only the `min(max(neg_pos_ratio * n_pos,
      n_neg_min), n_nonzero)` with the largest classification loss count (`n_pos` = number of
      positives in the batch, `n_nonzero` = negatives with a non-zero loss); on equal losses the
      earlier box (in batch-major order) is chosen;
    * the per-image sum of the positive and mined negative classification losses plus `alpha`
      times the positive localization losses is divided by `max(1, n_pos)` and multiplied by the
      batch size.

    The multiplication by the batch size undoes the batch mean Keras takes, so the value Keras
    reports is `sum over the batch / max(1, n_pos)`.

    Under `tf.distribute` (TensorFlow backend, several replicas) "the batch" is what the loss
    sees: with `normalization='replica'` every replica mines and normalises its own slice, and
    the applied gradient is that of the mean over the replicas of their losses. With
    `normalization='global'` the replicas exchange their negative losses and positive counts
    (`all_gather`, `all_reduce`), so the negatives are mined over the whole global batch and
    the sum is divided by its positives: the loss and its gradient are those of the global
    batch on one device (batch-norm statistics apart, which stay per replica). Elsewhere (one
    device, or `keras.distribution` on JAX, which computes the global batch as one program)
    both settings give the loss of the whole batch. The negatives are mined with a sort of all
    negative losses (static shapes), so the loss works under `jit_compile=True` and can be traced
    many times; calling it never changes the instance.

    Args:
        neg_pos_ratio: int. Maximum number of mined negatives per positive. Defaults to `3`.
        n_neg_min: int. Minimum number of mined negatives per batch (if that many exist).
            Defaults to `0`.
        alpha: float. Weight of the localization loss. Defaults to `1.0`.
        normalization: str. `'replica'` (the default) or `'global'`: the batch over which
            negatives are mined and positives counted under `tf.distribute` (see above).
        name: str. Name of the loss. Defaults to `'ssd_loss'`.
        reduction: str. Keras reduction of the per-image vector. Defaults to
            `'sum_over_batch_size'` (the mean over the batch, which the loss is designed for).
        dtype: Dtype of the computation. Defaults to the Keras float type.

    Example:
        >>> import numpy as np
        >>> loss = SSDLoss(neg_pos_ratio=3, alpha=1.0)
        >>> y_true = np.zeros((1, 2, 2 + 12), "float32")
        >>> y_true[0, 0, 1] = 1.0  # box 0: object of class 1, target offsets 0
        >>> y_true[0, 1, 0] = 1.0  # box 1: background
        >>> y_pred = np.zeros_like(y_true)
        >>> y_pred[0, :, :2] = 0.5  # both boxes: 50 % background, 50 % class 1
        >>> y_pred[0, 0, 2] = 0.5  # predicted cx offset of box 0
        >>> round(float(loss(y_true, y_pred)), 4)  # (ln 2 + ln 2 + 0.5 * 0.5 ** 2) / 1
        1.5113
        >>> # model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss), or as the original
        >>> # tutorials did: model.compile(..., loss=loss.compute_loss)

    Reference:
        Liu et al., "SSD: Single Shot MultiBox Detector", ECCV 2016, section 2.2 (training).
    """

    def __init__(
        self,
        neg_pos_ratio: int = 3,
        n_neg_min: int = 0,
        alpha: float = 1.0,
        normalization: str = "replica",
        name: str = "ssd_loss",
        reduction: str = "sum_over_batch_size",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.neg_pos_ratio = _check_int("neg_pos_ratio", neg_pos_ratio, 0)
        self.n_neg_min = _check_int("n_neg_min", n_neg_min, 0)
        if isinstance(alpha, bool) or not isinstance(alpha, Real):
            raise ValueError(f"`alpha` must be a number, but received alpha={alpha!r}.")
        self.alpha = float(alpha)
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"`normalization` must be one of {NORMALIZATIONS}, but received "
                f"normalization={normalization!r}."
            )
        self.normalization = normalization

    def smooth_L1_loss(self, y_true, y_pred):
        """Smooth L1 loss summed over the last axis.

        Per element `0.5 * d^2` if `|d| < 1`, else `|d| - 0.5`, with `d = y_true - y_pred`.

        Args:
            y_true: Tensor or array `(batch, n_boxes, 4)` of encoded target offsets.
            y_pred: Tensor or array `(batch, n_boxes, 4)` of predicted offsets.

        Returns:
            Tensor `(batch, n_boxes)`.
        """
        y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
        difference = ops.abs(ops.subtract(y_true, y_pred))
        elementwise = ops.where(difference < 1.0, 0.5 * ops.square(difference), difference - 0.5)
        return ops.sum(elementwise, axis=-1)

    def log_loss(self, y_true, y_pred):
        """Softmax log loss (cross-entropy) summed over the last axis.

        `-sum(y_true * log(max(y_pred, 1e-15)))`.

        Args:
            y_true: Tensor or array `(batch, n_boxes, n_classes)` of one-hot targets.
            y_pred: Tensor or array `(batch, n_boxes, n_classes)` of predicted probabilities.

        Returns:
            Tensor `(batch, n_boxes)`.
        """
        y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
        y_pred = ops.maximum(y_pred, _MIN_PROBABILITY)
        return -ops.sum(y_true * ops.log(y_pred), axis=-1)

    def compute_loss(self, y_true, y_pred):
        """The per-image SSD loss, scaled so that its batch mean is the batch loss.

        Args:
            y_true: Tensor or array `(batch, n_boxes, n_classes + 12)` of encoded targets (as
                produced by `SSDInputEncoder`).
            y_pred: Tensor or array `(batch, n_boxes, n_classes + 12)`, the raw model output.

        Returns:
            Float32 tensor `(batch,)`:
            `(pos_class + neg_class + alpha * loc) / max(1, n_pos) * batch_size` per image;
            with `normalization='global'` under `tf.distribute` with `R` replicas, `n_pos` and
            the mined negatives are those of the global batch and the factor is
            `batch_size * R`.
        """
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        classification = self.log_loss(y_true[..., CLASS_SCORES], y_pred[..., CLASS_SCORES])
        localization = self.smooth_L1_loss(y_true[..., OFFSETS], y_pred[..., OFFSETS])
        negatives = y_true[..., BACKGROUND]
        positives = ops.max(y_true[..., OBJECT_CLASSES], axis=-1)
        n_positive = ops.sum(positives)

        positive_class_loss = ops.sum(classification * positives, axis=-1)
        batch_size = ops.cast(ops.shape(y_true)[0], "float32")
        context = _replica_context() if self.normalization == "global" else None
        if context is None:
            hard_negatives = self._hard_negative_mask(classification * negatives, n_positive)
        else:
            hard_negatives, n_positive = self._global_mining(
                context, classification * negatives, n_positive
            )
            batch_size = batch_size * context.num_replicas_in_sync
        negative_class_loss = ops.sum(classification * hard_negatives, axis=-1)
        localization_loss = ops.sum(localization * positives, axis=-1)

        per_image = positive_class_loss + negative_class_loss + self.alpha * localization_loss
        return per_image / ops.maximum(1.0, n_positive) * batch_size

    def _hard_negative_mask(self, negative_losses, n_positive):
        """Marks the negatives kept by batch-wide hard negative mining.

        Args:
            negative_losses: Tensor `(batch, n_boxes)`, classification loss of the negatives and
                0 elsewhere.
            n_positive: Scalar tensor, number of positives in the batch.

        Returns:
            Float32 tensor `(batch, n_boxes)` with 1 for the kept negatives: the `k` largest
            losses of the flattened batch, lower flat index first among equal losses, with
            `k = min(max(neg_pos_ratio * int(n_positive), n_neg_min), count_nonzero)`.
        """
        flat = ops.reshape(negative_losses, (-1,))
        n_nonzero = ops.sum(ops.cast(flat != 0.0, "int32"))
        wanted = ops.maximum(self.neg_pos_ratio * ops.cast(n_positive, "int32"), self.n_neg_min)
        n_keep = ops.minimum(wanted, n_nonzero)

        descending = ops.flip(ops.sort(flat), axis=0)
        cutoff = ops.take(descending, ops.maximum(n_keep - 1, 0))
        above = flat > cutoff
        at_cutoff = flat == cutoff
        ties_needed = n_keep - ops.sum(ops.cast(above, "int32"))
        tie_rank = ops.cumsum(ops.cast(at_cutoff, "int32"))
        keep = ops.logical_or(above, ops.logical_and(at_cutoff, tie_rank <= ties_needed))
        return ops.reshape(ops.cast(keep, "float32"), ops.shape(negative_losses))

    def _global_mining(self, context, negative_losses, n_positive):
        """Hard negative mining over the batches of all replicas of a `tf.distribute` step.

        Args:
            context: The `tf.distribute.ReplicaContext` of this replica.
            negative_losses: Tensor `(batch, n_boxes)` of this replica, as for
                `_hard_negative_mask`.
            n_positive: Scalar tensor, positives in this replica's batch.

        Returns:
            `(mask, n_positive_all)`: this replica's rows of the mask `_hard_negative_mask`
            gives for the replicas' batches concatenated in replica order, and the number of
            positives of all replicas.
        """
        import tensorflow as tf

        n_positive_all = context.all_reduce("sum", n_positive)
        sizes = context.all_gather(tf.shape(negative_losses)[:1], axis=0)
        every = context.all_gather(negative_losses, axis=0)
        mask = self._hard_negative_mask(every, n_positive_all)
        start = tf.reduce_sum(sizes[: context.replica_id_in_sync_group])
        mask = tf.slice(mask, tf.stack([start, 0]), tf.shape(negative_losses))
        return tf.stop_gradient(mask), n_positive_all

    def call(self, y_true, y_pred):
        return self.compute_loss(y_true, y_pred)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "neg_pos_ratio": self.neg_pos_ratio,
                "n_neg_min": self.n_neg_min,
                "alpha": self.alpha,
                "normalization": self.normalization,
            }
        )
        return config
