"""Independent reader of TensorBoard event files, for the Go tests.

usage: read_events.py GENDIR LOGDIR

GENDIR holds the modules `protoc --python_out` made from proto/*.proto
(TensorBoard's published schema). Every file events.out.tfevents.* in LOGDIR
is read in name order, as TensorBoard reads a run: each TFRecord's length and
payload checksums (masked CRC-32C, computed here) must match, each payload
must parse as an Event with no field outside the schema, and the events are
printed as JSON. A record cut short at the end of a file (a crash while
writing) is reported as truncated_tail; any other damage is an error.
"""

import base64
import io
import json
import os
import struct
import sys

sys.path.insert(0, sys.argv[1])
import event_pb2  # noqa: E402
import tensor_pb2  # noqa: E402,F401
import types_pb2  # noqa: E402

from PIL import Image  # noqa: E402


def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked_crc(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# The check value of CRC-32C (RFC 3720).
assert crc32c(b"123456789") == 0xE3069283


def records(path):
    """Yields the payloads of the records of path, then the truncated tail."""
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos < len(data):
        if len(data) - pos < 12:
            return len(data) - pos
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (hcrc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        if hcrc != masked_crc(header):
            sys.exit("%s at %d: length CRC %08x, want %08x" % (path, pos, hcrc, masked_crc(header)))
        if len(data) - pos < 12 + length + 4:
            return len(data) - pos
        payload = data[pos + 12:pos + 12 + length]
        (dcrc,) = struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])
        if dcrc != masked_crc(payload):
            sys.exit("%s at %d: data CRC %08x, want %08x" % (path, pos, dcrc, masked_crc(payload)))
        yield payload
        pos += 16 + length
    return 0


def image_json(img):
    out = {"height": img.height, "width": img.width, "colorspace": img.colorspace}
    im = Image.open(io.BytesIO(img.encoded_image_string))
    im.load()
    out["format"] = im.format
    out["size"] = list(im.size)  # width, height
    out["mode"] = im.mode
    out["rgba"] = base64.b64encode(im.convert("RGBA").tobytes()).decode()
    return out


def value_json(v):
    out = {"tag": v.tag, "kind": v.WhichOneof("value")}
    if v.HasField("metadata"):
        pd = v.metadata.plugin_data
        out["metadata"] = {
            "plugin_name": pd.plugin_name,
            "content": base64.b64encode(pd.content).decode(),
            "display_name": v.metadata.display_name,
        }
    if out["kind"] == "simple_value":
        out["simple_value"] = v.simple_value
    elif out["kind"] == "image":
        out["image"] = image_json(v.image)
    elif out["kind"] == "tensor":
        t = v.tensor
        out["tensor"] = {
            "dtype": types_pb2.DataType.Name(t.dtype),
            "shape": [d.size for d in t.tensor_shape.dim],
            "string_val": [s.decode("utf-8") for s in t.string_val],
        }
    return out


def event_json(payload):
    ev = event_pb2.Event()
    ev.ParseFromString(payload)
    ev.DiscardUnknownFields()
    if ev.SerializeToString() != payload:
        raise ValueError("event holds fields outside the schema, or is not canonical: %s" % payload.hex())
    out = {"wall_time": ev.wall_time, "step": ev.step, "what": ev.WhichOneof("what")}
    if out["what"] == "file_version":
        out["file_version"] = ev.file_version
    elif out["what"] == "session_log":
        out["session_log"] = event_pb2.SessionLog.SessionStatus.Name(ev.session_log.status)
    elif out["what"] == "summary":
        out["values"] = [value_json(v) for v in ev.summary.value]
    return out


def main():
    logdir = sys.argv[2]
    files = []
    for name in sorted(os.listdir(logdir)):
        if not name.startswith("events.out.tfevents."):
            continue
        events = []
        gen = records(os.path.join(logdir, name))
        tail = 0
        while True:
            try:
                payload = next(gen)
            except StopIteration as stop:
                tail = stop.value or 0
                break
            events.append(event_json(payload))
        files.append({"name": name, "events": events, "truncated_tail": tail})
    json.dump(files, sys.stdout)


main()
