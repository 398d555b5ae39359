"""Gradients in tests, computed the way the running Keras backend computes them.

`gradients` differentiates a scalar with respect to input arrays and Keras variables with
`tf.GradientTape` on TensorFlow, `jax.grad` on JAX and `torch.autograd.grad` on PyTorch, so one
test checks the same gradients on every backend.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np


def gradients(
    fn: Callable,
    inputs: Sequence[np.ndarray] = (),
    variables: Sequence[keras.Variable] = (),
    state: Sequence[keras.Variable] = (),
) -> tuple[object, list[np.ndarray | None], list[np.ndarray | None]]:
    """Evaluates `total, extra = fn(*inputs)` and differentiates the scalar `total`.

    Args:
        fn: Function of one tensor per entry of `inputs` returning `(total, extra)`: a scalar
            tensor and any nest of tensors to return as NumPy arrays (for example the output).
        inputs: Arrays to differentiate with respect to; `fn` receives them as backend tensors.
        variables: Keras variables to differentiate with respect to (of built layers: they
            must exist before `fn` runs).
        state: Keras variables `fn` may assign (such as moving statistics). On JAX, which has no
            in-place updates under differentiation, their new values are written back after the
            call, so all backends leave them as a training step would.

    Returns:
        `(extra, input_gradients, variable_gradients)`: `extra` as NumPy arrays, one gradient
        array per input and per variable. A gradient is `None` where `total` does not depend on
        that input on TensorFlow and PyTorch; JAX returns zeros there.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow(fn, inputs, variables)
    if backend == "jax":
        return _jax(fn, inputs, variables, state)
    if backend == "torch":
        return _torch(fn, inputs, variables)
    raise NotImplementedError(f"no gradients for the {backend!r} backend in tests/autodiff.py")


def _numpy(nest):
    return keras.tree.map_structure(
        lambda x: None if x is None else keras.ops.convert_to_numpy(x), nest
    )


def _tensorflow(fn, inputs, variables):
    import tensorflow as tf

    tensors = [tf.constant(x) for x in inputs]
    with tf.GradientTape(persistent=True) as tape:
        for tensor in tensors:
            tape.watch(tensor)
        total, extra = fn(*tensors)
    input_grads = tape.gradient(total, tensors) if tensors else []
    variable_grads = tape.gradient(total, list(variables)) if variables else []
    return _numpy(extra), _numpy(list(input_grads)), _numpy(list(variable_grads))


def _jax(fn, inputs, variables, state):
    import jax

    variables = list(variables)
    state = [v for v in state if all(v is not w for w in variables)]

    def evaluate(input_values, variable_values):
        mapping = list(zip(variables, variable_values, strict=True))
        mapping += [(v, v.value) for v in state]
        with keras.StatelessScope(state_mapping=mapping) as scope:
            total, extra = fn(*input_values)
        return total, (extra, [scope.get_current_value(v) for v in state])

    input_values = [keras.ops.convert_to_tensor(x) for x in inputs]
    variable_values = [v.value for v in variables]
    (input_grads, variable_grads), (extra, new_state) = jax.grad(
        evaluate, argnums=(0, 1), has_aux=True
    )(input_values, variable_values)
    for variable, value in zip(state, new_state, strict=True):
        variable.assign(value)
    return _numpy(extra), _numpy(list(input_grads)), _numpy(list(variable_grads))


def _torch(fn, inputs, variables):
    import torch

    tensors = [keras.ops.convert_to_tensor(x).detach().requires_grad_(True) for x in inputs]
    total, extra = fn(*tensors)
    sources = tensors + [v.value for v in variables]
    if sources and total.requires_grad:
        grads = list(torch.autograd.grad(total, sources, allow_unused=True))
    else:
        grads = [None] * len(sources)
    extra = keras.tree.map_structure(lambda x: x.detach() if torch.is_tensor(x) else x, extra)
    n = len(tensors)
    return _numpy(extra), _numpy(grads[:n]), _numpy(grads[n:])
