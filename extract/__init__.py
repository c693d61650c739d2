"""Stage one: scan images, run a frozen ImageNet base, cache features in the store.

The public face of extraction: heads and notebooks import from here only. Importing it does not
import TensorFlow; that happens when a model is built. Where TensorFlow is not installed, Keras
runs on JAX or PyTorch (extract.devices.default_keras_backend), with `--runtime jax|torch`.
"""
from extract.devices import default_keras_backend

default_keras_backend()  # before anything imports Keras
from extract import augment_options, cli_support  # noqa: E402  (after the backend is chosen)
from extract.api import run_extraction
from extract.run_summary import RunSummary
from extract.view_runs import run_tta, run_views
from extract.augment import AugmentSpec, FixedView, tta_views
from extract.backbones import Backbone, get_backbone
from extract.dataset_plan import dataset_options
from extract.decode import read_and_decode
from extract.errors import ExtractError
from extract.extractor import Extractor
from extract.model import build_section
from extract.options import ExtractOptions, RunOptions
from extract.scan import DataOptions, Note, scan_dataset, sniff
from extract.sources.file_list import is_file_table, listed_files
from extract.sources.reading import ReadRules, hash_image_file

__all__ = ["AugmentSpec", "FixedView", "augment_options", "Backbone", "cli_support", "DataOptions", "ExtractError",
           "ExtractOptions", "Extractor", "Note", "ReadRules", "RunOptions", "RunSummary", "build_section", "dataset_options",
           "get_backbone", "hash_image_file", "is_file_table", "listed_files", "read_and_decode", "run_extraction", "run_tta", "run_views",
           "scan_dataset", "sniff", "tta_views"]
