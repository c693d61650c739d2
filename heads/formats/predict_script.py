"""predict.py of an export folder: the model used on image files with Pillow, NumPy and the format's runtime only.

The script decodes as extraction does (extract.decode: EXIF orientation, transparency on white,
16-bit grey scaled, RGB), resizes with `resize.py` (a copy of extract.resize_weights: the same
antialiased bilinear filter, crop or pad, as constant matrices in NumPy) and calls the model
through the format's own loader (each format module's PREDICT_LOADER). No import of this tool:
the folder is enough on its own.
"""
from __future__ import annotations

from pathlib import Path

from extract import resize_weights

SCRIPT_FILE, RESIZE_FILE = "predict.py", "resize.py"

_TEMPLATE = '''"""Classify images with the model of this folder ({fmt}): python predict.py IMAGE [IMAGE ...] [--json]

Needs Pillow, NumPy and {runtime} only. Each image is decoded as the tool decodes it (EXIF
orientation, transparency on white, RGB) and resized by resize.py to {size} x {size} with the
`{mode}` mode (antialiased bilinear, exactly as the tool's extraction), then given to the model
as float32 values 0..255. Prints `path<TAB>class<TAB>probability`, or every probability with --json.
"""
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from resize import resize_image  # noqa: E402  (this folder's resize.py)

SIZE, MODE = {size}, "{mode}"
CLASSES = (HERE / "labels.txt").read_text(encoding="utf-8").splitlines()


def load_image(path):
    """RGB uint8 (height, width, 3), oriented and flattened as the tool decodes images."""
    with Image.open(path) as image:
        image.seek(0)  # the first frame of an animation
        image = ImageOps.exif_transpose(image)
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grey: scaled to 8 bits, not clipped
            pixels = np.asarray(image, dtype=np.float64)
            peak = 65535.0 if image.mode.startswith("I;16") or pixels.max() > 255 else 255.0
            image = Image.fromarray(np.clip(pixels * (255.0 / peak), 0, 255).round().astype(np.uint8), "L")
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


{loader}

def main(arguments):
    paths = [a for a in arguments if a != "--json"]
    if not paths:
        sys.exit(__doc__.splitlines()[0])
    predict = load_model()
    results = []
    for path in paths:
        probabilities = np.asarray(predict(resize_image(load_image(path), SIZE, MODE)[None]))[0]
        results.append({{"path": path, "probabilities": dict(zip(CLASSES, map(float, probabilities)))}})
        best = int(np.argmax(probabilities))
        if "--json" not in arguments:
            print(f"{{path}}\\t{{CLASSES[best]}}\\t{{probabilities[best]:.4f}}")
    if "--json" in arguments:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
'''


def write_predict_script(folder: Path, spec, size: int, mode: str, loader_prelude: str = "") -> list[str]:
    """Write predict.py and resize.py into an export folder.

    Parameters
    ----------
    folder : Path
        The export folder (its labels.txt is read by the script at run time).
    spec : module
        The format's module (heads.formats.*): NAME, PREDICT_NEEDS, PREDICT_LOADER.
    size : int
        The model's input side.
    mode : str
        The resize mode (squash, crop, pad).
    loader_prelude : str
        Lines put before the loader (e.g. importing layers shipped beside the model).

    Returns
    -------
    list of str
        The names of the files written.
    """
    loader = (loader_prelude + spec.PREDICT_LOADER).strip() + "\n"
    script = _TEMPLATE.format(fmt=spec.NAME, runtime=spec.PREDICT_NEEDS, size=int(size), mode=mode, loader=loader)
    (folder / SCRIPT_FILE).write_text(script, encoding="utf-8")
    (folder / RESIZE_FILE).write_text(Path(resize_weights.__file__).read_text(encoding="utf-8"), encoding="utf-8")
    return [SCRIPT_FILE, RESIZE_FILE]
