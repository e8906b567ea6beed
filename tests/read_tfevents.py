#!/usr/bin/env python3
"""read_tfevents.py — print the scalars of TensorBoard event files, with no TensorBoard installed.

    python3 tests/read_tfevents.py runs/16_trainer/runs          # every events.out.tfevents.* below
    python3 tests/read_tfevents.py FILE --tensorboard            # also read it with tensorboard's reader

Decodes what lesson 16's --report_to tensorboard writes (common/train/tensorboard.h): TFRecords
(u64 length, masked CRC32C, bytes, masked CRC32C; both CRCs checked) holding protobuf Events
(wall_time 1, step 2, file_version 3, summary 5 -> Value {tag 1, simple_value 2}). Prints one line
per scalar: step, tag, value (as float32, %.6g). With --tensorboard, tensorboard's own
EventAccumulator must find the same scalars (it is not in tests/requirements.txt: pip install
tensorboard to use it).
"""
import glob
import os
import struct
import sys


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def masked_crc(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def varint(buf, at):
    value, shift = 0, 0
    while True:
        byte = buf[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def fields(buf):
    """(field number, wire type, value) of a protobuf message; LEN values as bytes."""
    at = 0
    while at < len(buf):
        key, at = varint(buf, at)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, at = varint(buf, at)
        elif wire == 1:
            value, at = buf[at:at + 8], at + 8
        elif wire == 5:
            value, at = buf[at:at + 4], at + 4
        elif wire == 2:
            n, at = varint(buf, at)
            value, at = buf[at:at + n], at + n
        else:
            raise ValueError(f"wire type {wire} is not used by an Event")
        yield field, wire, value


def records(path):
    data = open(path, "rb").read()
    at = 0
    while at < len(data):
        header = data[at:at + 8]
        (n,) = struct.unpack("<Q", header)
        (crc,) = struct.unpack("<I", data[at + 8:at + 12])
        if crc != masked_crc(header):
            raise ValueError(f"{path}: bad length CRC at byte {at}")
        body = data[at + 12:at + 12 + n]
        (crc,) = struct.unpack("<I", data[at + 12 + n:at + 16 + n])
        if len(body) != n or crc != masked_crc(body):
            raise ValueError(f"{path}: bad or truncated record at byte {at}")
        yield body
        at += 16 + n


def scalars(path):
    """(step, tag, value) of every scalar of the file, in order; checks the file_version record."""
    out = []
    for i, body in enumerate(records(path)):
        step, version = 0, None
        for field, _, value in fields(body):
            if field == 2:
                step = value
            elif field == 3:
                version = value.decode()
            elif field == 5:
                for _, _, v in fields(value):  # Summary.value
                    parts = {f: x for f, _, x in fields(v)}
                    out.append((step, parts[1].decode(), struct.unpack("<f", parts[2])[0]))
        if i == 0 and version != "brain.Event:2":
            raise ValueError(f"{path}: the first record is not file_version brain.Event:2")
    return out


def with_tensorboard(path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(path)
    acc.Reload()
    return sorted((e.step, tag, e.value) for tag in acc.Tags()["scalars"] for e in acc.Scalars(tag))


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    paths = []
    for a in args:
        paths += sorted(glob.glob(os.path.join(a, "**", "events.out.tfevents.*"), recursive=True)) if os.path.isdir(a) else [a]
    if not paths:
        sys.exit("error: no events.out.tfevents.* file in " + " ".join(args))
    for path in paths:
        found = scalars(path)
        for step, tag, value in found:
            print(f"{step:6d}  {tag:32s} {value:.6g}")
        if "--tensorboard" in sys.argv:
            theirs = with_tensorboard(path)
            if sorted(found) != theirs:
                sys.exit(f"error: tensorboard reads other scalars from {path}")
            print(f"tensorboard's EventAccumulator reads the same {len(theirs)} scalars")


if __name__ == "__main__":
    main()
