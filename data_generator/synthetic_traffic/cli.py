"""Command line of the dataset writer, run as `python -m data_generator.synthetic_traffic`.

The parser lives here rather than in `__main__.py` so that the package can re-export `main`
without importing its `__main__` module, which `python -m` has to be the first to load.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from data_generator.synthetic_traffic.constants import FORMATS
from data_generator.synthetic_traffic.writers import generate_dataset


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: `python -m data_generator.synthetic_traffic OUTPUT_DIR [options]`."""
    parser = argparse.ArgumentParser(
        prog="python -m data_generator.synthetic_traffic",
        description="Write the synthetic road-traffic dataset (Udacity layout, 5 classes).",
    )
    parser.add_argument("output_dir", help="folder to write the frames and labels into")
    parser.add_argument("--n-train", type=int, default=3000, help="training frames (3000)")
    parser.add_argument("--n-val", type=int, default=500, help="validation frames (500)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (0)")
    parser.add_argument(
        "--formats",
        nargs="+",
        default=["csv"],
        choices=FORMATS,
        help="label formats to write (csv)",
    )
    parser.add_argument("--height", type=int, default=300, help="frame height in px (300)")
    parser.add_argument("--width", type=int, default=480, help="frame width in px (480)")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (all cores); the output does not depend on it",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        info = generate_dataset(
            args.output_dir,
            n_train=args.n_train,
            n_val=args.n_val,
            seed=args.seed,
            formats=args.formats,
            img_height=args.height,
            img_width=args.width,
            workers=args.workers,
            verbose=not args.quiet,
        )
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(json.dumps(info, indent=2))
    return 0
