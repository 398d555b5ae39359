"""Benchmark: `decode_detections` against the original library's NumPy decoder, side by side.

The original `ssd_keras` is not part of this repository. Export it to a folder outside the
repository and pass that folder with `--original`; its
`ssd_encoder_decoder/ssd_output_decoder.py` and `bounding_box_utils` are loaded from there
(under private module names, with the NumPy aliases it needs), and nothing of it is copied. Run
from the repository root::

    mkdir -p /tmp/orig
    git --git-dir=<bare ssd_keras repository> archive HEAD | tar -x -C /tmp/orig
    .venv/bin/python benchmarks/bench_decode_vs_original.py --original /tmp/orig [--rounds 7]

Without `--original` the script times the in-repo loop reference
(`tests/reference/reference_decoder.py`) instead, and says so.

Two templates, 16 images each (built by `tests/reference/synthetic_predictions.py`), anchors
and variances from `SSDInputEncoder`:

* SSD7 tutorial (300x480 input, 5 classes, variances 1.0, 11,692 anchors);
* SSD300 Pascal VOC (300x300, 20 classes, variances 0.1, 0.1, 0.2, 0.2, 8,732 anchors).

Class scores are the softmax of N(0, 1) logits with +6 on the background logit and, for 5% of
the anchors, +U(4, 10) on one random positive class; box offsets are N(0, 0.5); float32 like a
model's output. Decoding uses `confidence_thresh=0.01, iou_threshold=0.45, top_k=200`. The
outputs of both decoders are checked to be the same sets of rows (within 1e-4) for every image
before anything is timed; then the two are timed alternately and the medians and the median of
the per-round ratios are printed.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# The references live in tests/; appended after the root so that tests/<package> folders cannot
# shadow the library's packages.
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))

from reference import reference_decoder
from reference.synthetic_predictions import CONFIDENCE_THRESH, decode_kwargs, make_predictions

from benchmarks.configs import ENCODERS
from ssd_encoder_decoder.output_layout import OBJECT_CLASS_SCORES
from ssd_encoder_decoder.ssd_output_decoder import decode_detections

N_IMAGES = 16
TARGET_RATIO = 30.0
ATOL = 1e-4


# ----------------------------------------------------------------------------------------------
# The original library, loaded from outside the repository


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_original_decoder(root: Path) -> Callable:
    """The original's `decode_detections`, with its own `bounding_box_utils`.

    The original imports `bounding_box_utils.bounding_box_utils`, a name this repository uses
    too; while its decoder module is executed that name points at the original's file, and the
    repository's modules are put back afterwards.
    """
    decoder_path = root / "ssd_encoder_decoder" / "ssd_output_decoder.py"
    utils_path = root / "bounding_box_utils" / "bounding_box_utils.py"
    for path in (decoder_path, utils_path):
        if not path.is_file():
            raise SystemExit(f"bench_decode_vs_original: error: {path} does not exist")
    # The original uses `np.float` and `np.int`, which NumPy 2 removed (NumPy 2's own `np.bool`
    # is its boolean type and must stay).
    for alias, builtin in (("float", float), ("int", int), ("bool", bool)):
        if alias not in vars(np):
            setattr(np, alias, builtin)
    names = ("bounding_box_utils", "bounding_box_utils.bounding_box_utils")
    saved = {name: sys.modules.get(name) for name in names}
    try:
        utils = _load("_original_bounding_box_utils", utils_path)
        package = ModuleType("bounding_box_utils")
        package.bounding_box_utils = utils
        sys.modules.update(dict(zip(names, (package, utils), strict=True)))
        decoder = _load("_original_ssd_output_decoder", decoder_path)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return decoder.decode_detections


# ----------------------------------------------------------------------------------------------
# Checking and timing


def _row_set(rows) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
    return rows[np.lexsort(rows.T[::-1])]


def check_same_rows(expected: list, actual: list, label: str) -> int:
    """Exits unless every image has the same set of rows (within `ATOL`); returns #rows."""
    if len(expected) != len(actual):
        raise SystemExit(f"{label}: {len(expected)} images against {len(actual)}")
    total = 0
    for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
        want, got = _row_set(want), _row_set(got)
        if want.shape != got.shape or not np.allclose(want, got, rtol=0.0, atol=ATOL):
            raise SystemExit(
                f"{label}: image {index} differs ({len(want)} rows against {len(got)} rows)"
            )
        total += len(want)
    return total


def _seconds(function: Callable[[], object], calls: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - start) / calls


def bench_template(template_name: str, baseline: Callable, baseline_name: str, rounds: int):
    y_pred = make_predictions(ENCODERS[template_name], N_IMAGES)
    kwargs = decode_kwargs(ENCODERS[template_name])
    fraction = float(np.mean(y_pred[..., OBJECT_CLASS_SCORES] > CONFIDENCE_THRESH))
    expected = baseline(y_pred, **kwargs)
    n_rows = check_same_rows(expected, decode_detections(y_pred, **kwargs), template_name)
    print(
        f"{template_name}: y_pred {y_pred.shape} {y_pred.dtype}; {fraction:.1%} of the "
        f"anchor/class pairs score above {CONFIDENCE_THRESH}; {n_rows} rows in all, the same "
        f"from both decoders"
    )
    base_times, fast_times = [], []
    for _ in range(rounds):
        base_times.append(_seconds(lambda: baseline(y_pred, **kwargs)))
        fast_times.append(_seconds(lambda: decode_detections(y_pred, **kwargs), calls=5))
    ratios = [b / f for b, f in zip(base_times, fast_times, strict=True)]
    ratio = statistics.median(ratios)
    verdict = "ok" if ratio >= TARGET_RATIO else "BELOW TARGET"
    print(
        f"  {baseline_name} {statistics.median(base_times) * 1e3:8.1f} ms   decode_detections "
        f"{statistics.median(fast_times) * 1e3:7.2f} ms   median ratio {ratio:5.1f}x "
        f"(per-round {min(ratios):.1f}x to {max(ratios):.1f}x; target {TARGET_RATIO:g}x: "
        f"{verdict})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--original",
        type=Path,
        help="folder holding an export of the original ssd_keras repository (outside this one)",
    )
    parser.add_argument("--rounds", type=int, default=7, help="alternating timing rounds")
    args = parser.parse_args()
    if args.original is None:
        print(
            "NOTE: --original not given: timing against the in-repo loop reference "
            "tests/reference/reference_decoder.py, NOT the original library."
        )
        baseline, baseline_name = reference_decoder.decode_detections, "loop reference"
    else:
        baseline, baseline_name = load_original_decoder(args.original), "original"
    for template_name in ("SSD7", "SSD300"):
        bench_template(template_name, baseline, baseline_name, args.rounds)


if __name__ == "__main__":
    main()
