"""Standard TFLite model metadata: what MediaPipe Tasks and the TFLite Support task library read.

The schema is TensorFlow Lite's ``metadata_schema.fbs`` (file identifier ``M001``): the class
names as an associated file on the output tensor (``TENSOR_AXIS_LABELS``), the input's colour
space (``ImageProperties``), its normalization for a float input (``NormalizationOptions``:
mean 0, std 1, since every edgecls model takes raw 0..255 pixels) and its value range. The
flatbuffer goes into the model's metadata list as ``TFLITE_METADATA``; associated files are a
zip appended to the model, as TFLite Support's ``MetadataPopulator`` writes them.

Written here with the ``flatbuffers`` runtime (which TensorFlow and LiteRT already depend on),
field slots as numbered in the schema: tflite-support 0.4.4 pins protobuf<4, which TensorFlow
refuses, and mediapipe depends on opencv-contrib-python, which clashes with opencv-python, so
neither can join the main environment. edgecls' own JSON (resize mode, provenance, contract)
stays in its ``edgecls`` entry beside it.
"""

from __future__ import annotations

import io
import zipfile

NAME = "TFLITE_METADATA"
IDENTIFIER = b"M001"
LABELS_FILE = "labels.txt"
MIN_PARSER_VERSION = "1.0.0"
TENSOR_AXIS_LABELS, RGB, GRAYSCALE = 2, 1, 2          # enum values of the schema
IMAGE_PROPERTIES, FEATURE_PROPERTIES, NORMALIZATION_OPTIONS = 2, 1, 1


def _table(builder, slots: int, fields: list[tuple[str, int, object]]) -> int:
    """A table from ``(kind, slot, value)`` fields: kind ``u`` offset, ``i8``/``u8`` scalar."""
    builder.StartObject(slots)
    for kind, slot, value in fields:
        if kind == "u":
            builder.PrependUOffsetTRelativeSlot(slot, value, 0)
        elif kind == "i8":
            builder.PrependInt8Slot(slot, value, 0)
        else:
            builder.PrependUint8Slot(slot, value, 0)
    return builder.EndObject()


def _floats(builder, values: list[float]) -> int:
    builder.StartVector(4, len(values), 4)
    for value in reversed(values):
        builder.PrependFloat32(float(value))
    return builder.EndVector()


def _offsets(builder, offsets: list[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return builder.EndVector()


def _stats(builder, low: float, high: float) -> int:
    high_v, low_v = _floats(builder, [high]), _floats(builder, [low])
    return _table(builder, 2, [("u", 0, high_v), ("u", 1, low_v)])


def _input_tensor(builder, channels: int, float_input: bool) -> int:
    name, description = builder.CreateString("image"), builder.CreateString(
        "Raw pixels 0..255, " + ("RGB" if channels == 3 else "grayscale") + "; see the edgecls metadata for the resize mode.")
    image = _table(builder, 2, [("i8", 0, RGB if channels == 3 else GRAYSCALE)])
    content = _table(builder, 3, [("u8", 0, IMAGE_PROPERTIES), ("u", 1, image)])
    units = None
    if float_input:  # raw pixels: (x - 0) / 1
        mean, std = _floats(builder, [0.0]), _floats(builder, [1.0])
        options = _table(builder, 2, [("u", 0, mean), ("u", 1, std)])
        units = _offsets(builder, [_table(builder, 2, [("u8", 0, NORMALIZATION_OPTIONS), ("u", 1, options)])])
    stats = _stats(builder, 0.0, 255.0)
    fields = [("u", 0, name), ("u", 1, description), ("u", 3, content), ("u", 5, stats)]
    return _table(builder, 7, fields + ([("u", 4, units)] if units is not None else []))


def _output_tensor(builder) -> int:
    name, description = builder.CreateString("probability"), builder.CreateString("Probability of each class.")
    file_name, file_description = builder.CreateString(LABELS_FILE), builder.CreateString("Class names, one a line.")
    labels = _table(builder, 5, [("u", 0, file_name), ("u", 1, file_description), ("i8", 2, TENSOR_AXIS_LABELS)])
    files = _offsets(builder, [labels])
    feature = _table(builder, 0, [])
    content = _table(builder, 3, [("u8", 0, FEATURE_PROPERTIES), ("u", 1, feature)])
    stats = _stats(builder, 0.0, 1.0)
    return _table(builder, 7, [("u", 0, name), ("u", 1, description), ("u", 3, content), ("u", 5, stats),
                               ("u", 6, files)])


def build(*, name: str, description: str, version: str, channels: int, float_input: bool) -> bytes:
    """The ``ModelMetadata`` flatbuffer of an image classifier with one input and one output."""
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    inputs = _offsets(builder, [_input_tensor(builder, channels, float_input)])
    outputs = _offsets(builder, [_output_tensor(builder)])
    subgraph = _table(builder, 10, [("u", 0, builder.CreateString("image_classifier")), ("u", 2, inputs),
                                    ("u", 3, outputs)])
    subgraphs = _offsets(builder, [subgraph])
    strings = [builder.CreateString(s) for s in (name, description, version, "edgecls", MIN_PARSER_VERSION)]
    root = _table(builder, 8, [("u", 0, strings[0]), ("u", 1, strings[1]), ("u", 2, strings[2]),
                               ("u", 3, subgraphs), ("u", 4, strings[3]), ("u", 7, strings[4])])
    builder.Finish(root, file_identifier=IDENTIFIER)
    return bytes(builder.Output())


def append_files(model: bytes, files: dict[str, bytes]) -> bytes:
    """``model`` with ``files`` appended as a zip archive (the associated files of the metadata).

    >>> import zipfile, io
    >>> zipfile.ZipFile(io.BytesIO(append_files(b"TFL3model", {"labels.txt": b"a\\n"}))).read("labels.txt")
    b'a\\n'
    """
    out = io.BytesIO(model)
    out.seek(0, io.SEEK_END)
    with zipfile.ZipFile(out, "a") as archive:
        for file_name, data in files.items():
            archive.writestr(file_name, data)
    return out.getvalue()
