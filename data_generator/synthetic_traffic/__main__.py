"""Entry point of `python -m data_generator.synthetic_traffic OUTPUT_DIR [options]`."""

import sys

from data_generator.synthetic_traffic.cli import main

if __name__ == "__main__":
    sys.exit(main())
