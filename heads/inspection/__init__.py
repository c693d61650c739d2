"""What the cache knows about the data: duplicates and leaks, label suspects, neighbours, outliers, a map.

Every analysis reads a configuration's stored features (never re-extracting), returns an
Inspection (a pandas DataFrame, the record of how it was computed, notes), and caches in the
store what costs more than a few seconds:

    find_duplicates(store)            exact and near duplicates, leaks between splits
    find_suspects(store)              likely label errors (cross-validated head + cleanlab)
    find_neighbours(store, [image])   the k stored images most like an image
    find_outliers(store)              images far from every other
    embedding_map(store)              a 2-D t-SNE map, mistakes and suspects marked
"""
from heads.inspection.duplicates import find_duplicates
from heads.inspection.embedding_map import embedding_map
from heads.inspection.neighbours import find_neighbours
from heads.inspection.outliers import find_outliers
from heads.inspection.result import Inspection
from heads.inspection.suspects import find_suspects

__all__ = ["Inspection", "embedding_map", "find_duplicates", "find_neighbours", "find_outliers", "find_suspects"]
