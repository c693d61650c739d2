"""The HDF5 feature store: its file formats, staged writes, aligned reading. No TensorFlow here."""
from store.atomic import read_json, staged_file, staged_folder, write_bytes, write_json
from store.config import ExtractorConfig
from store.datasets import DatasetIndex, check_dataset_name, default_dataset_name
from store.errors import StoreError
from store.names import parse_name, readable_names
from store.resolve import ConfigNames
from store.paths import confine
from store.reader import FeatureStore, init_store, is_store
from store.runs import RunRecord
from store.view import ConfigView, SplitData

__all__ = ["ConfigNames", "ConfigView", "DatasetIndex", "ExtractorConfig", "FeatureStore", "RunRecord", "SplitData",
           "StoreError", "check_dataset_name", "confine", "default_dataset_name", "init_store", "is_store", "parse_name",
           "read_json", "readable_names", "staged_file", "staged_folder", "write_bytes", "write_json"]
