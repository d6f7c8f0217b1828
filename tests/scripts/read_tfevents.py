#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# An independent reader of TensorBoard event files (TensorFlow's record format and Event protocol buffer, decoded
# here from the wire format, CRC-32C computed here bit by bit), used by test_quickstart_tiny.sh to check what the
# runner writes against metrics.jsonl: every record's two CRCs, the file-version event first, and each logged value
# of a stage at its step (as float32, the type of simple_value).
# Usage: read_tfevents.py RUN_DIR STAGE
import glob, json, os, struct, sys


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def fields(buf):
    """(field number, wire type, value) of a protocol buffer message."""
    i = 0
    while i < len(buf):
        k, i = varint(buf, i)
        f, t = k >> 3, k & 7
        if t == 0:
            v, i = varint(buf, i)
        elif t == 1:
            v, i = buf[i:i + 8], i + 8
        elif t == 5:
            v, i = buf[i:i + 4], i + 4
        elif t == 2:
            n, i = varint(buf, i)
            v, i = buf[i:i + n], i + n
        else:
            raise ValueError("wire type %d" % t)
        yield f, t, v


def varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def events(path):
    data = open(path, "rb").read()
    i = 0
    while i < len(data):
        head = data[i:i + 8]
        (n,) = struct.unpack("<Q", head)
        (crc_len,) = struct.unpack("<I", data[i + 8:i + 12])
        assert crc_len == masked(head), "length CRC of the record at byte %d" % i
        body = data[i + 12:i + 12 + n]
        (crc_body,) = struct.unpack("<I", data[i + 12 + n:i + 16 + n])
        assert crc_body == masked(body), "data CRC of the record at byte %d" % i
        i += 16 + n
        event = {"step": 0, "values": {}}
        for f, t, v in fields(body):
            if f == 1:
                event["wall_time"] = struct.unpack("<d", v)[0]
            elif f == 2:
                event["step"] = v
            elif f == 3:
                event["file_version"] = v.decode()
            elif f == 5:
                for f2, _, value in fields(v):
                    assert f2 == 1
                    tag, simple = None, None
                    for f3, _, x in fields(value):
                        if f3 == 1:
                            tag = x.decode()
                        elif f3 == 2:
                            simple = struct.unpack("<f", x)[0]
                    event["values"][tag] = simple
        yield event


def main(run_dir, stage):
    files = glob.glob(os.path.join(run_dir, "tensorboard", stage, "events.out.tfevents.*"))
    assert len(files) == 1, "expected one events file for stage %s, found %s" % (stage, files)
    evs = list(events(files[0]))
    assert evs[0].get("file_version") == "brain.Event:2", evs[0]
    logged = {}
    for e in evs[1:]:
        for tag, v in e["values"].items():
            logged[(e["step"], tag)] = v
    want = 0
    for line in open(os.path.join(run_dir, "metrics.jsonl")):
        j = json.loads(line)
        if j.get("stage") != stage or "values" not in j:
            continue
        for tag, v in j["values"].items():
            got = logged.get((j["step"], tag))
            assert got is not None, "step %d %s is not in the events file" % (j["step"], tag)
            assert got == struct.unpack("<f", struct.pack("<f", v))[0], (j["step"], tag, got, v)
            want += 1
    assert want > 0, "stage %s logged no values in metrics.jsonl" % stage
    print("tensorboard: %s: %d events, %d scalars equal to metrics.jsonl, every CRC valid" % (stage, len(evs), want))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
