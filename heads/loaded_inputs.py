"""What `LoadedHead.predict_proba(X)` accepts, told apart: image paths, decoded images, or features.

Paths and images take the one path `heads predict` takes (heads.predict.predict_images: the head's own
backbones, decode and resize), so the numbers are the CLI's. Decoded images are written as lossless PNG
files into a temporary folder first: PNG decodes back to the same pixels, and the images then go through
exactly that path rather than a second one that could drift from it. Features go straight to the model.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from heads.errors import HeadError

ACCEPTED = ("image paths or a folder, decoded images (uint8 ndarray (n, h, w, 3) or PIL images), or features "
            "(ndarray (n, ...); a list or dict per configuration for a joined head)")


def progress_bar(total: int, progress: bool | None, description: str = "images"):
    """A tqdm bar on stderr (tqdm.auto: a widget in a notebook): the convention of extract.progress_bar,
    one for the whole Python API. `progress=None`: on only when stderr is a terminal or in a notebook."""
    from extract.progress_bar import progress_bar as bar
    return bar(total, progress, description)


def _is_path(x) -> bool:
    return isinstance(x, (str, Path))


def _is_pil(x) -> bool:
    return type(x).__module__.startswith("PIL.") and hasattr(x, "convert")


def _is_image_array(x) -> bool:
    return isinstance(x, np.ndarray) and x.dtype == np.uint8 and x.ndim == 3 and x.shape[-1] == 3


def probabilities(loaded, X, batch_size: int = 32, progress: bool | None = None) -> np.ndarray:
    """`loaded.predict_proba(X)`: see LoadedHead.predict_proba for what X may be."""
    if _is_path(X):
        return _from_paths(loaded, [X], batch_size, progress)
    if isinstance(X, np.ndarray):
        if X.dtype == np.uint8 and X.ndim == 4 and X.shape[-1] == 3:
            return _from_images(loaded, list(X), batch_size, progress)
        return loaded.predict_parts([_checked(loaded, 0, X)])
    if isinstance(X, dict):
        ids = loaded.inputs.ids
        if sorted(map(str, X)) != sorted(ids):
            raise HeadError(f"Features keyed by configuration id must name exactly {', '.join(ids)}. "
                            f"Received: {', '.join(map(str, X)) or 'no keys'}")
        return loaded.predict_parts([_checked(loaded, i, X[c]) for i, c in enumerate(ids)])
    if isinstance(X, (list, tuple)) and X:
        if all(_is_path(x) for x in X):
            return _from_paths(loaded, list(X), batch_size, progress)
        if all(_is_pil(x) or _is_image_array(x) for x in X):
            return _from_images(loaded, list(X), batch_size, progress)
        if all(isinstance(x, np.ndarray) for x in X):
            if len(X) != len(loaded.inputs.shapes):
                raise HeadError(f"Head {loaded.head_id} reads {len(loaded.inputs.shapes)} configuration(s) "
                                f"({', '.join(loaded.inputs.ids)}); give one feature array each. "
                                f"Received: {len(X)} arrays")
            return loaded.predict_parts([_checked(loaded, i, x) for i, x in enumerate(X)])
    raise HeadError(f"Cannot predict from {type(X).__name__}"
                    f"{' (empty)' if isinstance(X, (list, tuple)) and not X else ''}. Allowed: {ACCEPTED}")


def _checked(loaded, position: int, features) -> np.ndarray:
    """One configuration's features, refused in one line unless shaped (n, *its feature shape)."""
    shapes = loaded.inputs.shapes
    if position >= len(shapes):
        raise HeadError(f"Head {loaded.head_id} reads {len(shapes)} configurations ({', '.join(loaded.inputs.ids)}): "
                        f"give a list or a dict with one feature array each.")
    expected = shapes[position]
    array = np.asarray(features)
    if array.ndim != len(expected) + 1 or tuple(array.shape[1:]) != tuple(expected) or \
            not np.issubdtype(array.dtype, np.number):
        raise HeadError(f"Features of {loaded.inputs.ids[position]} must be numbers shaped (n, "
                        f"{', '.join(map(str, expected))}). Received: {array.dtype} {tuple(array.shape)}")
    return array  # as given: the model casts as it always has (stored float16 included)


def _from_paths(loaded, paths: list, batch_size: int, progress: bool | None) -> np.ndarray:
    from heads.predict import collect_images, predict_images
    total = len(collect_images(paths))
    with progress_bar(total, progress) as bar:
        predictions = predict_images(loaded, paths, batch_size=batch_size, keep=False, on_progress=bar.update)
    failed = [p for p in predictions if p.error]
    if failed:
        raise HeadError(f"{len(failed)} of {len(predictions)} images cannot be used; first: {failed[0].path}: "
                        f"{failed[0].error}")
    return np.asarray([p.scores for p in predictions], dtype=np.float64).reshape(len(predictions), -1)


def _from_images(loaded, images: list, batch_size: int, progress: bool | None) -> np.ndarray:
    from PIL import Image
    with tempfile.TemporaryDirectory(prefix="head-images-") as folder:
        files = []
        for i, image in enumerate(images):
            if not _is_pil(image) and not _is_image_array(image):
                raise HeadError(f"Image {i} is neither a PIL image nor a uint8 array (h, w, 3). "
                                f"Received: {type(image).__name__}")
            picture = image.convert("RGB") if _is_pil(image) else Image.fromarray(image, "RGB")
            files.append(Path(folder) / f"{i:07d}.png")
            picture.save(files[-1], format="PNG")
        return _from_paths(loaded, files, batch_size, progress)
