"""TFLite metadata with the labels, as TFLite Support's image classifier writer lays it out.

The writer itself (tflite-support 0.4.4, the last release) cannot be installed beside
TensorFlow 2.21: it pins protobuf < 4 where TensorFlow needs >= 6.31. So the few tables of
its metadata schema (metadata_schema.fbs, file identifier "M001") that an image classifier
uses are written here with flatbuffers, checked field for field against the writer's own
output: the input is an RGB image taken as is (normalisation mean 0, std 1: values 0..255),
the output holds probabilities whose axis labels are `labels.txt`, packed into the model
file as a zip appended to it (what the writer does; a flatbuffer reader ignores it). Android's
Task Library ImageClassifier and ML model binding read this.
"""
from __future__ import annotations

import io
import zipfile

import flatbuffers
import numpy as np

METADATA_NAME = "TFLITE_METADATA"
PARSER_VERSION = "1.0.0"  # the minimum metadata parser version these tables need
# Union and enum values of metadata_schema.fbs
_FEATURE_PROPERTIES, _IMAGE_PROPERTIES, _NORMALIZATION_OPTIONS, _RGB, _TENSOR_AXIS_LABELS = 1, 2, 1, 1, 2


def _table(builder: flatbuffers.Builder, slots: int, offsets: dict | None = None, small: dict | None = None) -> int:
    """One table: `offsets` {slot: offset of a string/vector/table built before}, `small` {slot: ubyte}."""
    builder.StartObject(slots)
    for slot, value in (offsets or {}).items():
        builder.PrependUOffsetTRelativeSlot(slot, value, 0)
    for slot, value in (small or {}).items():
        builder.PrependUint8Slot(slot, value, 0)
    return builder.EndObject()


def _tables(builder: flatbuffers.Builder, offsets: list[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return builder.EndVector()


def _floats(builder: flatbuffers.Builder, values: list[float]) -> int:
    builder.StartVector(4, len(values), 4)
    for value in reversed(values):
        builder.PrependFloat32(value)
    return builder.EndVector()


def metadata_buffer(name: str, description: str, version: str, labels_file: str) -> bytes:
    """The ModelMetadata flatbuffer of an image classifier taking RGB 0..255 and returning probabilities."""
    b = flatbuffers.Builder(1024)
    text = b.CreateString
    # input: ImageProperties(RGB), NormalizationOptions(mean 0, std 1), Stats(min 0, max 255)
    content_in = _table(b, 3, {1: _table(b, 2, small={0: _RGB})}, {0: _IMAGE_PROPERTIES})
    normalisation = _table(b, 2, {0: _floats(b, [0.0]), 1: _floats(b, [1.0])})
    unit = _table(b, 2, {1: normalisation}, {0: _NORMALIZATION_OPTIONS})
    tensor_in = _table(b, 7, {0: text("image"), 1: text("RGB image, values 0..255."), 3: content_in,
                              4: _tables(b, [unit]), 5: _table(b, 2, {0: _floats(b, [255.0]), 1: _floats(b, [0.0])})})
    # output: FeatureProperties, Stats(min 0, max 1), the labels as TENSOR_AXIS_LABELS
    content_out = _table(b, 3, {1: _table(b, 0)}, {0: _FEATURE_PROPERTIES})
    labels = _table(b, 5, {0: text(labels_file), 1: text("The class of each probability column.")},
                    {2: _TENSOR_AXIS_LABELS})
    tensor_out = _table(b, 7, {0: text("probabilities"), 1: text("Probability of each class."), 3: content_out,
                               5: _table(b, 2, {0: _floats(b, [1.0]), 1: _floats(b, [0.0])}),
                               6: _tables(b, [labels])})
    subgraph = _table(b, 10, {2: _tables(b, [tensor_in]), 3: _tables(b, [tensor_out])})
    model = _table(b, 8, {0: text(name), 1: text(description), 2: text(version), 3: _tables(b, [subgraph]),
                          7: text(PARSER_VERSION)})
    b.Finish(model, file_identifier=b"M001")
    return bytes(b.Output())


def with_metadata(model: bytes, metadata: bytes, files: dict[str, bytes]) -> bytes:
    """The TFLite model with `metadata` in its TFLITE_METADATA buffer and `files` zipped onto its end."""
    from tensorflow.lite.tools import flatbuffer_utils

    schema = flatbuffer_utils.schema_fb
    graph = flatbuffer_utils.convert_bytearray_to_object(bytearray(model))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(metadata, np.uint8)
    graph.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_NAME, len(graph.buffers) - 1
    graph.metadata = [m for m in graph.metadata or [] if m.name not in (METADATA_NAME, METADATA_NAME.encode())]
    graph.metadata.append(entry)
    packed = io.BytesIO(bytes(flatbuffer_utils.convert_object_to_bytearray(graph)))
    packed.seek(0, io.SEEK_END)
    with zipfile.ZipFile(packed, "a", compression=zipfile.ZIP_STORED) as archive:  # not a zip yet: appended
        for name, data in files.items():
            archive.writestr(name, data)
    return packed.getvalue()
