"""Replays the reference cases stored in ``tests/data/golden``.

The folder holds inputs and outputs recorded from the original library (its README explains the
format). A test module selects the cases of its own module by id prefix and replays each one::

    @pytest.mark.parametrize("case", golden_replay.cases("bbu."), ids=golden_replay.case_id)
    def test_golden(case):
        golden_replay.replay(case)

``replay`` builds the arguments, calls the port, flattens what it returns exactly as the recorder
flattened the original's results and compares every recorded key within the case's tolerance.
"""

from __future__ import annotations

import fnmatch
import functools
import importlib
import inspect
import json
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

GOLDEN_DIR = Path(__file__).resolve().parent / "data" / "golden"
GOLDEN_TOKEN = "<GOLDEN>"


@functools.cache
def manifest() -> dict:
    """The parsed ``MANIFEST.json``."""
    return json.loads((GOLDEN_DIR / "MANIFEST.json").read_text())


@functools.cache
def _npz(name: str) -> dict[str, np.ndarray]:
    with np.load(GOLDEN_DIR / name, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def cases(prefix: str) -> list[dict]:
    """All cases whose id starts with ``prefix``."""
    selected = [case for case in manifest()["cases"] if case["id"].startswith(prefix)]
    if not selected:
        raise LookupError(f"no golden case id starts with {prefix!r}")
    return selected


def case_id(case: dict) -> str:
    """Readable pytest id of a case."""
    return case["id"]


def config(name: str) -> dict:
    """A named encoder configuration of the manifest (``'SSD7'`` or ``'SSD300'``)."""
    return dict(manifest()["configs"][name])


def inputs(case: dict) -> dict[str, np.ndarray]:
    """The input arrays of a case (delta-coded uint8 images decoded)."""
    return _decoded(case["inputs"]) if case.get("inputs") else {}


@functools.cache
def _decoded(name: str) -> dict[str, np.ndarray]:
    arrays = {}
    for key, array in _npz(name).items():
        if key.endswith("@u8d2"):
            key, array = key[: -len("@u8d2")], _decode_u8d2(array)
        arrays[key] = array
    return arrays


# ----------------------------------------------------------------------------------------------
# Argument decoding


def decode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Turns the manifest's argument encoding into Python objects."""
    if isinstance(value, list):
        return [decode(item, arrays) for item in value]
    if not isinstance(value, dict):
        return value
    if "__npz__" in value:
        return np.array(arrays[value["__npz__"]])
    if "__npz_list__" in value:
        return [np.array(arrays[key]) for key in value["__npz_list__"]]
    if "__tuple__" in value:
        return tuple(decode(item, arrays) for item in value["__tuple__"])
    if "__set__" in value:
        return {decode(item, arrays) for item in value["__set__"]}
    if "__path__" in value:
        return str(GOLDEN_DIR / value["__path__"])
    if "__obj__" in value:
        return _build_object(value["__obj__"], arrays)
    return {key: decode(item, arrays) for key, item in value.items()}


def _build_object(spec: dict, arrays: dict[str, np.ndarray]) -> Any:
    cls = getattr(importlib.import_module(spec["module"]), spec["class"])
    obj = cls(**decode(spec.get("kwargs", {}), arrays))
    for name, value in (spec.get("attrs") or {}).items():
        setattr(obj, name, decode(value, arrays))
    for call in spec.get("calls") or []:
        getattr(obj, call["method"])(**decode(call.get("kwargs", {}), arrays))
    return obj


# ----------------------------------------------------------------------------------------------
# Running a case


def run(case: dict) -> dict[str, Any]:
    """Runs a case on the port and returns its flattened results (without comparing)."""
    arrays = inputs(case)
    module = importlib.import_module(case["module"])
    owner, _, method = case["callable"].partition(".")
    results: dict[str, Any] = {}
    if not method:
        value = getattr(module, owner)(**decode(case.get("call_kwargs", {}), arrays))
        _flatten("out", value, case, results)
        return results

    instance = getattr(module, owner)(**decode(case.get("constructor_kwargs", {}), arrays))
    for name, value in (case.get("setup_attrs") or {}).items():
        setattr(instance, name, decode(value, arrays))
    calls = case.get("calls")
    if calls is None:
        calls = (
            []
            if method == "__init__"
            else [{"method": method, "kwargs": case.get("call_kwargs", {}), "key": "out"}]
        )
    for call in calls:
        value = getattr(instance, call["method"])(**decode(call.get("kwargs", {}), arrays))
        if "next" in call:
            value = _take(value, call["next"])
        if call.get("record", True):
            _flatten(call.get("key", "out"), value, case, results)
    for name in case.get("collect_attrs") or []:
        _flatten(f"attr.{name}", getattr(instance, name), case, results)
    return results


def _take(generator: Iterator, count: int) -> list:
    return [next(generator) for _ in range(count)]


def _flatten(key: str, value: Any, case: dict, out: dict[str, Any]) -> None:
    if value is None:
        out[f"{key}@none"] = True
    elif isinstance(value, (list, tuple)):
        out[f"{key}@len"] = len(value)
        for index, item in enumerate(value):
            _flatten(f"{key}.{index}", item, case, out)
    elif isinstance(value, dict):
        for name, item in value.items():
            _flatten(f"{key}.{name}", item, case, out)
    elif callable(value) and not isinstance(value, (np.ndarray, types.ModuleType)):
        spec = case.get("invoke_callables")
        if spec is not None:
            arrays = inputs(case)
            result = value(
                *decode(spec.get("args", []), arrays), **decode(spec.get("kwargs", {}), arrays)
            )
            _flatten(f"{key}@called", result, case, out)
    elif isinstance(value, str):
        out[key] = value.replace(str(GOLDEN_DIR), GOLDEN_TOKEN)
    else:
        array = np.asarray(value)
        if array.dtype.kind == "U":
            array = np.char.replace(array, str(GOLDEN_DIR), GOLDEN_TOKEN)
        width = case.get("ssd_y_width")
        if width and array.ndim == 3 and array.shape[-1] == width:
            out[f"{key}@cls_off"] = array[..., :-8]
            out[f"{key}@anchors_var0"] = array[0, :, -8:]
            out[f"{key}@anchors_var_same"] = bool(np.all(array[:, :, -8:] == array[:1, :, -8:]))
        else:
            out[key] = array


# ----------------------------------------------------------------------------------------------
# Comparing


def expected(case: dict) -> dict[str, np.ndarray]:
    """The recorded results of a case, keyed like :func:`run`'s output (uint8 images decoded)."""
    prefix = case["id"] + "/"
    recorded = {}
    for key, array in _decoded(case["expected"]).items():
        if key.startswith(prefix):
            recorded[key[len(prefix) :]] = array
    return recorded


def _decode_u8d2(delta: np.ndarray) -> np.ndarray:
    h_axis, w_axis = (delta.ndim - 3, delta.ndim - 2) if delta.ndim >= 3 else (0, 1)
    return np.cumsum(np.cumsum(delta, axis=h_axis, dtype=np.uint8), axis=w_axis, dtype=np.uint8)


def _tolerance(case: dict, key: str) -> tuple[float, float]:
    tol = case.get("tolerance") or {}
    # ``per_key`` is a list of [glob pattern, tolerance] pairs; the first matching pattern wins.
    for pattern, value in tol.get("per_key") or []:
        if fnmatch.fnmatchcase(key, pattern):
            return value.get("atol", tol.get("atol", 0.0)), value.get("rtol", tol.get("rtol", 0.0))
    return tol.get("atol", 0.0), tol.get("rtol", 0.0)


def _sorted_rows(array: np.ndarray) -> np.ndarray:
    if array.ndim != 2 or array.shape[0] < 2:
        return array
    return array[np.lexsort(np.round(array, 3).T[::-1])]


def _lookup(actual: dict[str, Any], key: str) -> Any:
    """``actual[key]``; a flattened (nested) sequence stands for a recorded array."""
    if key in actual:
        return actual[key]
    length = actual.get(f"{key}@len")
    if length is None:
        return None
    items = [_lookup(actual, f"{key}.{index}") for index in range(length)]
    return None if any(item is None for item in items) else np.array(items)


def compare(case: dict, actual: dict[str, Any]) -> None:
    """Asserts that ``actual`` holds every recorded result of ``case`` within tolerance."""
    recorded = expected(case)
    assert recorded, f"case {case['id']} has no recorded results"
    any_order = case.get("row_order") == "any"
    for key, want in sorted(recorded.items()):
        got = _lookup(actual, key)
        assert got is not None, f"{case['id']}: missing result {key!r}; got {sorted(actual)}"
        got = np.asarray(got)
        want = np.asarray(want)
        where = f"{case['id']} / {key}"
        if want.dtype.kind in "US" or got.dtype.kind in "US":
            np.testing.assert_array_equal(got.astype(str), want.astype(str), err_msg=where)
            continue
        if want.size == 0:
            assert got.size == 0, f"{where}: expected an empty result, got shape {got.shape}"
            continue
        if any_order:
            got, want = _sorted_rows(got.astype(float)), _sorted_rows(want.astype(float))
        atol, rtol = _tolerance(case, key)
        assert got.shape == want.shape, f"{where}: shape {got.shape} != expected {want.shape}"
        np.testing.assert_allclose(
            got.astype(float), want.astype(float), atol=atol, rtol=rtol, err_msg=where
        )


def replay(case: dict) -> None:
    """Runs ``case`` on the port and checks its results or its expected exception."""
    exception = case.get("expect_exception")
    if exception is None:
        compare(case, run(case))
        return
    with pytest.raises(Exception) as info:
        run(case)
    names = [cls.__name__ for cls in inspect.getmro(type(info.value))]
    assert exception in names, f"{case['id']}: expected {exception}, got {info.value!r}"
