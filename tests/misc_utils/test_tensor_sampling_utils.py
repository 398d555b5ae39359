"""Tests of sample_tensors: golden cases, the global random stream, up-sampling, errors."""

# The functions under test are specified to use NumPy's global random state.
# ruff: noqa: NPY002

import golden_replay
import numpy as np
import pytest

from misc_utils.tensor_sampling_utils import sample_tensors


@pytest.mark.parametrize("case", golden_replay.cases("misc."), ids=golden_replay.case_id)
def test_golden(case):
    golden_replay.replay(case)


@pytest.fixture
def conv():
    rng = np.random.default_rng(7)
    return rng.normal(size=(3, 3, 8, 12)), rng.normal(size=12)


def test_index_lists_keep_exact_rows(conv):
    kernel, bias = conv
    new_kernel, new_bias = sample_tensors([kernel, bias], [3, 3, [1, 6], [0, 4, 11]], axes=[[3]])
    np.testing.assert_array_equal(new_kernel, kernel[:, :, [1, 6]][..., [0, 4, 11]])
    np.testing.assert_array_equal(new_bias, bias[[0, 4, 11]])
    assert new_kernel.dtype == kernel.dtype
    new_kernel[0, 0, 0, 0] = 123.0
    assert kernel[0, 0, 1, 0] != 123.0  # a copy


def test_random_subsampling_uses_global_state(conv):
    kernel, bias = conv
    np.random.seed(11)
    new_kernel, new_bias = sample_tensors([kernel, bias], [3, 3, 8, 5], axes=[[3]])
    np.random.seed(11)
    kept = np.concatenate([[0], np.sort(np.random.choice(np.arange(1, 12), 4, replace=False))])
    np.testing.assert_array_equal(new_kernel, kernel[..., kept])
    np.testing.assert_array_equal(new_bias, bias[kept])
    np.random.seed(11)
    again = sample_tensors([kernel, bias], [3, 3, 8, 5], axes=[[3]])
    np.testing.assert_array_equal(again[0], new_kernel)


def test_up_sampling_scatters_old_values_and_initialises_the_rest(conv):
    kernel, bias = conv
    np.random.seed(5)
    new_kernel, new_bias = sample_tensors(
        [kernel, bias], [3, 3, 8, 20], axes=[[3]], init=["gaussian", "zeros"], mean=1.0, stddev=0.01
    )
    np.random.seed(5)
    fill = np.random.normal(1.0, 0.01, size=(3, 3, 8, 20))
    slots = np.concatenate([[0], np.sort(np.random.choice(np.arange(1, 20), 11, replace=False))])
    fill[..., slots] = kernel
    np.testing.assert_array_equal(new_kernel, fill)
    expected_bias = np.zeros(20)
    expected_bias[slots] = bias
    np.testing.assert_array_equal(new_bias, expected_bias)
    assert new_kernel.dtype == np.float64


def test_sub_and_up_sampling_together(conv):
    kernel, _ = conv
    np.random.seed(2)
    (out,) = sample_tensors([kernel], [2, 3, 8, 14], init=["zeros"])
    assert out.shape == (2, 3, 8, 14)
    # two of the 14 output channels are new (zeros), the others hold kernel rows 0 and r
    new_channels = np.flatnonzero(~np.any(out, axis=(0, 1, 2)))
    assert len(new_channels) == 2 and 0 not in new_channels


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sampling_instructions": [3, 3, 8]}, "length is the number of dimensions"),
        ({"sampling_instructions": [3, 3, 8, [0, 12]]}, "contain index 12"),
        ({"sampling_instructions": [3, 3, 8, np.int64(5)]}, "Python int or a list"),
        ({"sampling_instructions": [3, 3, 8, 0]}, "at least 1"),
        ({"sampling_instructions": [3, 3, 8, []]}, "empty list"),
        ({"sampling_instructions": [3, 3, 8, 20], "init": ["uniform"]}, "Valid initializations"),
        ({"sampling_instructions": [3, 3, 8, 20], "init": ["zeros", "zeros"]}, "same length"),
    ],
)
def test_bad_arguments(conv, kwargs, message):
    with pytest.raises(ValueError, match=message):
        sample_tensors([conv[0]], **kwargs)


def test_bad_axes(conv):
    kernel, bias = conv
    with pytest.raises(ValueError, match="one list of first-tensor axes"):
        sample_tensors([kernel, bias], [3, 3, 8, 5])
    with pytest.raises(ValueError, match=r"`axes\[0\]` = \[2\]"):
        sample_tensors([kernel, bias], [3, 3, 8, 5], axes=[[2]])
