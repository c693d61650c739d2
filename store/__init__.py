"""The HDF5 feature store: schema, shard writing, aligned reading. No TensorFlow here."""
from store.config import ExtractorConfig
from store.reader import ConfigView, FeatureStore, SplitData, StoreError, init_store, is_store

__all__ = ["ConfigView", "ExtractorConfig", "FeatureStore", "SplitData", "StoreError", "init_store", "is_store"]
