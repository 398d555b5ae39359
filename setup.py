"""Installs the ssd_keras packages (SSD object detection on Keras 3)."""

from pathlib import Path

from setuptools import find_packages, setup

# Every package in the repository except the test suite, the benchmarks and the notebooks.
PACKAGES = find_packages(exclude=("tests", "tests.*", "benchmarks", "benchmarks.*", "notebooks"))

setup(
    name="ssd_keras",
    version="3.0.0.dev0",
    description="SSD: Single Shot MultiBox Detector for Keras 3 (SSD7, SSD300, SSD512)",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=PACKAGES,
    install_requires=[
        "keras>=3.10",
        "tensorflow>=2.18",
        "numpy>=1.26",
        "opencv-python-headless>=4.8",
        "h5py>=3.10",
        "pandas>=2.0",
        "beautifulsoup4>=4.12",
        "lxml>=4.9",
        "tqdm>=4.66",
        "matplotlib>=3.8",
        "pillow>=10",
    ],
    entry_points={"console_scripts": ["ssd-keras = ssd_app.cli:main"]},
    extras_require={
        "coco": ["pycocotools>=2.0.7"],
        "test": ["pytest>=8", "ruff>=0.6", "nbclient>=0.10", "nbformat>=5.10", "ipykernel>=6"],
    },
)
