"""Broken variants of bytes and values, each drawn from a `random.Random` (so a case is reproducible).

Every mutator takes (data, rng) and returns (new data, a short description for the failure report).
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Callable

# the first bytes of other formats, put in place of a file's own
MAGICS = {
    "jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "png": b"\x89PNG\r\n\x1a\n",
    "gif": b"GIF89a",
    "webp": b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    "mp4": b"\x00\x00\x00\x18ftypisom",
    "mkv": b"\x1aE\xdf\xa3",
    "zip": b"PK\x03\x04",
    "pickle": b"\x80\x04\x95",
    "huge-safetensors-header": struct.pack("<Q", 2**62),
    "nul": b"\x00" * 16,
}

# values no option should take quietly: each must be a one-line error or a sane run
ABSURD_NUMBERS = [
    "-1", "0", "1", "2", "255", "256", "257", "65537", "2147483648", "1000000000000",
    "1e309", "nan", "inf", "-inf", "-0", "0.5", "", "abc", "1,2", "99xyz", "0x10", "٣",
]  # fmt: skip


def bit_flips(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    if not data:
        return data, "bit flips in an empty file"
    buffer = bytearray(data)
    count = rng.choice([1, 2, 8, 64])
    for _ in range(count):
        position = rng.randrange(len(buffer))
        buffer[position] ^= 1 << rng.randrange(8)
    return bytes(buffer), f"{count} bit flips"


def header_bit_flips(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Flips in the first 4 kB, where containers keep what says how to read the rest."""
    buffer = bytearray(data)
    limit = min(len(buffer), 4096)
    for _ in range(4):
        if limit:
            position = rng.randrange(limit)
            buffer[position] ^= 1 << rng.randrange(8)
    return bytes(buffer), "4 bit flips in the first 4 kB"


def truncate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    keep = rng.choice([0, 1, 7, 8, 100, len(data) // 10, len(data) // 2, len(data) - 1])
    keep = max(0, min(keep, len(data)))
    return data[:keep], f"truncated to {keep} of {len(data)} bytes"


def swap_header(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    name = rng.choice(sorted(MAGICS))
    magic = MAGICS[name]
    return magic + data[len(magic) :], f"header replaced by {name}'s"


def zero_region(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    if not data:
        return data, "zeroed nothing"
    start = rng.randrange(len(data))
    size = rng.choice([16, 512, 8192])
    return data[:start] + bytes(min(size, len(data) - start)) + data[
        start + size :
    ], f"{size} bytes zeroed at {start}"


def append_garbage(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    size = rng.choice([1, 100, 10000])
    return data + rng.randbytes(size), f"{size} random bytes appended"


def random_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    size = rng.choice([0, 1, 64, 4096])
    return rng.randbytes(size), f"replaced by {size} random bytes"


BYTE_MUTATORS: list[Callable[[bytes, random.Random], tuple[bytes, str]]] = [
    bit_flips, header_bit_flips, truncate, swap_header, zero_region, append_garbage, random_bytes,
]  # fmt: skip


def mutate_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    return rng.choice(BYTE_MUTATORS)(data, rng)


def absurd_json_value(rng: random.Random) -> object:
    return rng.choice([0, -5, 10**9, 2**63, 1e308, -1e308, "nan", None, "", [], {}, True, "x" * 1000, 3.5])


def mutate_safetensors_header(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Absurd values in a safetensors header's JSON: a config number, a tensor's dtype, shape or
    offsets, or the header length itself."""
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    body = data[8 + length :]
    choice = rng.randrange(4)
    if choice == 0 and "__metadata__" in header and "config" in header["__metadata__"]:
        config = json.loads(header["__metadata__"]["config"])
        key = rng.choice(sorted(config))
        config[key] = absurd_json_value(rng)
        header["__metadata__"]["config"] = json.dumps(config)
        what = f"config {key} = {str(config[key])[:40]}"
    elif choice == 3:
        new_length = rng.choice([0, 1, length - 1, length + 1, 2**40])
        return struct.pack("<Q", new_length) + data[8:], f"header length {new_length} (was {length})"
    else:
        name = rng.choice(sorted(key for key in header if key != "__metadata__"))
        field = rng.choice(["dtype", "shape", "data_offsets"])
        header[name][field] = {
            "dtype": rng.choice(["I64", "U8", "BOOL", "F8_E4M3", "XX", 5]),
            "shape": rng.choice([[], [0], [-1], [10**6, 10**6], [1] * 40, "x"]),
            "data_offsets": rng.choice([[0, 0], [0, 2**62], [5, 1], [-1, 3], "x"]),
        }[field]
        what = f"tensor {name} {field} = {str(header[name][field])[:40]}"
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + body, what


def mutate_json(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """An absurd value for one key (at any depth) of a JSON object, or broken JSON."""
    try:
        document = json.loads(data)
    except ValueError:
        return mutate_bytes(data, rng)
    if not isinstance(document, dict) or rng.random() < 0.2:
        return data[: len(data) // 2], "JSON cut in half"
    target, path = document, []
    while True:
        keys = sorted(target)
        if not keys:
            break
        key = rng.choice(keys)
        path.append(key)
        if isinstance(target[key], dict) and target[key] and rng.random() < 0.6:
            target = target[key]
            continue
        target[key] = absurd_json_value(rng)
        break
    return json.dumps(
        document
    ).encode(), f"JSON {'.'.join(path)} = {str(target.get(path[-1]) if path else '')[:40]}"
