"""The resizes and fixed views of extraction as constant matrices, in NumPy only.

Extraction resizes each decoded image with `keras.layers.Resizing(size, size, "bilinear",
antialias=True)` (TensorFlow's ScaleAndTranslate op, triangle kernel widened by the scale when
shrinking, half-pixel centres, weights normalised per output pixel), after a centre crop (`crop`)
or a symmetric zero pad (`pad`) to a square when the mode says so; a test-time view then moves
pixels with a bilinear affine transform (`reflect` at the borders). Each of these is linear and
acts on rows and columns separately, so it is a matrix on each axis:

    resized = rows @ image @ columns.T      (per channel; rows: (out_h, in_h), columns: (out_w, in_w))

This module computes those matrices exactly as TensorFlow's kernels do (float32 arithmetic where
theirs is), so that:
- an exported model can resize inside itself with two matrix products, an operation every format
  converts (TFLite and ONNX know no ScaleAndTranslate);
- a runtime without TensorFlow (or an export folder's predict.py, which ships a copy of this file)
  resizes as extraction does.
No import beyond NumPy: copy this file where it is needed.
"""
from __future__ import annotations

import numpy as np

RESIZE_MODES = ("squash", "crop", "pad")
_F = np.float32


def resize_weights(in_size: int, out_size: int) -> np.ndarray:
    """The (out_size, in_size) matrix of an antialiased bilinear resize along one axis.

    Parameters
    ----------
    in_size, out_size : int
        Pixels along the axis before and after the resize.

    Returns
    -------
    numpy.ndarray
        float32 weights, each row summing to 1: what `tf.image.resize(..., "bilinear", antialias=True)`
        (ScaleAndTranslate, triangle kernel) gives the output pixel from each input pixel.
    """
    if in_size < 1 or out_size < 1:
        raise ValueError(f"Sizes are positive numbers of pixels. Received: in_size={in_size}, out_size={out_size}")
    scale = _F(out_size) / _F(in_size)
    inv_scale = _F(1.0 / float(scale))
    kernel_scale = max(inv_scale, _F(1.0))  # widened when shrinking: a low-pass filter, not only interpolation
    one_over = _F(1.0) / kernel_scale
    weights = np.zeros((out_size, in_size), np.float32)
    for x in range(out_size):
        sample = _F(_F(x) + _F(0.5)) * inv_scale
        if sample < 0 or sample > in_size:
            continue
        start = int(np.ceil(sample - kernel_scale - _F(0.5)))
        end = int(np.floor(sample + kernel_scale - _F(0.5)))
        start, end = min(max(start, 0), in_size - 1), min(max(end, 0), in_size - 1) + 1
        source = np.arange(start, end)
        position = np.abs((source.astype(np.float32) + _F(0.5) - sample) * one_over)
        row = np.where(position < 1, _F(1.0) - position, _F(0.0)).astype(np.float32)
        total = row.sum(dtype=np.float32)
        if abs(total) >= 1000.0 * np.finfo(np.float32).tiny:
            weights[x, start:end] = row / total
    return weights


def crop_window(height: int, width: int, size: int) -> tuple[int, int, int, int]:
    """(top, left, crop height, crop width) of the centred square Keras's `crop_to_aspect_ratio` keeps."""
    crop_h = max(min(height, int(_F(width * size) / _F(size))), 1)
    crop_w = max(min(width, int(_F(height * size) / _F(size))), 1)
    return int(_F(height - crop_h) / _F(2)), int(_F(width - crop_w) / _F(2)), crop_h, crop_w


def pad_amounts(height: int, width: int, size: int) -> tuple[int, int]:
    """(rows, columns) of zeros Keras's `pad_to_aspect_ratio` adds on EACH side (it pads symmetrically)."""
    pad_h = max(height, int(_F(width * size) / _F(size)))
    pad_w = max(width, int(_F(height * size) / _F(size)))
    return int(_F(pad_h - height) / _F(2)), int(_F(pad_w - width) / _F(2))


def view_weights(size: int, scale: float = 1.0, shift: float = 0.0, flip: bool = False) -> np.ndarray:
    """The (size, size) matrix of one axis of a fixed test-time view (extract.augment.FixedView).

    Parameters
    ----------
    size : int
        The image's side (the view keeps it).
    scale : float
        The sampled region's side as a fraction of the image (below 1 zooms in).
    shift : float
        The region centre's shift, a fraction of the size.
    flip : bool
        Mirror the axis (the horizontal flip acts on columns).

    Returns
    -------
    numpy.ndarray
        float32 weights: `keras.ops.image.affine_transform(..., "bilinear", fill_mode="reflect")` of that
        transform along this axis (ImageProjectiveTransformV3's coordinate mapping, integer pixel centres).
    """
    centre = (size - 1) / 2.0
    slope = -scale if flip else scale
    offset = scale * (size - 1.0 if flip else 0.0) + centre - scale * centre + size * shift
    a, c = _F(slope), _F(offset)  # extract.augment.transform_vector's float32 entries
    weights = np.zeros((size, size), np.float32)
    for out in range(size):
        x = _reflect(_F(a * _F(out)) + c, size)
        low = np.floor(x)
        high_weight = _F(x - low)
        weights[out, int(low)] += _F(1.0) - high_weight
        if int(low) + 1 < size:
            weights[out, int(low) + 1] += high_weight
    return weights


def _reflect(coordinate, length: int):
    """TensorFlow's `reflect` fill mode: [abcd] read as [dcba|abcd|dcba], then clamped to the image."""
    x = _F(coordinate)
    if length <= 1:
        return _F(0.0)
    twice = 2 * length
    if x < 0:
        if x < twice:
            x = _F(twice * int(-x / twice) + x)
        x = _F(x + twice) if x < -length else _F(-x - 1)
    elif x > length - 1:
        x = _F(x - twice * int(x / twice))
        if x >= length:
            x = _F(twice - x - 1)
    return _F(min(max(x, 0.0), length - 1.0))


def resize_image(image: np.ndarray, size: int, mode: str = "squash") -> np.ndarray:
    """An RGB image (H, W, 3; uint8 or float) resized to (size, size, 3) float32 as extraction does it.

    Parameters
    ----------
    image : numpy.ndarray
        The decoded image, values 0..255.
    size : int
        The side of the square result.
    mode : str
        `squash` (stretch to the square), `crop` (centre square first) or `pad` (zeros around first).

    Returns
    -------
    numpy.ndarray
        float32 (size, size, 3), values 0..255, not rounded: the model's input.
    """
    if mode not in RESIZE_MODES:
        raise ValueError(f"Unknown resize mode {mode!r}. Allowed: {', '.join(RESIZE_MODES)}")
    pixels = np.asarray(image, np.float32)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"An RGB image is (height, width, 3). Received shape {pixels.shape}")
    height, width = pixels.shape[:2]
    if mode == "crop":
        top, left, crop_h, crop_w = crop_window(height, width, size)
        pixels = pixels[top:top + crop_h, left:left + crop_w]
    elif mode == "pad":
        rows, columns = pad_amounts(height, width, size)
        pixels = np.pad(pixels, ((rows, rows), (columns, columns), (0, 0)))
    # Columns first, then rows, each a sum over the few taps of the band in source order: the order of
    # TensorFlow's kernel (within 7e-5 of it), and 15x faster than the dense matrix products.
    columns_taps, columns_weights = resize_band(pixels.shape[1], size)
    across = _weighted_sum(pixels, columns_taps, columns_weights, axis=1)
    rows_taps, rows_weights = resize_band(pixels.shape[0], size)
    return _weighted_sum(across, rows_taps, rows_weights, axis=0)


def resize_band(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """`resize_weights` as its band: (taps, weights), both (out_size, k), where output pixel i is
    sum_j weights[i, j] * input[taps[i, j]] (k is the widest row; shorter rows get zero weights)."""
    key = (in_size, out_size)
    if key not in _BANDS:
        weights = resize_weights(in_size, out_size)
        nonzero = weights != 0
        first = nonzero.argmax(axis=1)
        last = in_size - 1 - nonzero[:, ::-1].argmax(axis=1)
        width = int((last - first + 1).max())
        taps = np.minimum(first, in_size - width)[:, None] + np.arange(width)
        _BANDS[key] = (taps, np.take_along_axis(weights, taps, axis=1))
        if len(_BANDS) > 256:  # photos of many sizes: keep the cache small
            _BANDS.pop(next(iter(_BANDS)))
    return _BANDS[key]


_BANDS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def _weighted_sum(pixels: np.ndarray, taps: np.ndarray, weights: np.ndarray, axis: int) -> np.ndarray:
    """Along `axis` (0 rows, 1 columns) of an (H, W, 3) float32 image: one banded resize."""
    shape = (-1, 1, 1) if axis == 0 else (1, -1, 1)
    total = weights[:, 0].reshape(shape) * np.take(pixels, taps[:, 0], axis=axis)
    for j in range(1, taps.shape[1]):
        total += weights[:, j].reshape(shape) * np.take(pixels, taps[:, j], axis=axis)
    return total
