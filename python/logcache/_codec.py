"""How Python keys and values become the engine's bytes, and back.

Every encoded key and value starts with one byte naming its type, so ``1``, ``"1"`` and
``b"1"`` are three keys, and a value comes back as the type it went in:

==========  ===========================================================
``b``       bytes, as they are
``s``       str, UTF-8
``i``       int in the signed 64-bit range, decimal ASCII (``incr`` works on this form)
``f``       float, ``repr`` (exact round trip)
``p``       anything else, by the serializer (``pickle`` unless given another)
``T``       a value with a diskcache tag: the tag's length (4 bytes, little-endian), the
            tag encoded as a key, then the value in its own form
==========  ===========================================================

Keys that are not str, bytes, int or float are pickled with protocol 4 after
``pickletools.optimize``, so equal tuples give equal bytes.
"""

import pickle
import pickletools
import struct

_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1


def encode_key(key):
    """The engine's bytes for a key."""
    t = type(key)
    if t is str:
        return b"s" + key.encode("utf-8", "surrogatepass")
    if t is bytes:
        return b"b" + key
    if t is int or t is bool:
        return b"i" + str(int(key)).encode()
    if t is float:
        return b"f" + repr(key).encode()
    return b"p" + pickletools.optimize(pickle.dumps(key, protocol=4))


def decode_key(raw):
    """The key for the engine's bytes (None for bytes the binding did not write)."""
    kind, body = raw[:1], raw[1:]
    if kind == b"s":
        return body.decode("utf-8", "surrogatepass")
    if kind == b"b":
        return body
    if kind == b"i":
        return int(body)
    if kind == b"f":
        return float(body)
    if kind == b"p":
        return pickle.loads(body)
    return None


class Codec:
    """Values to bytes and back, with a pluggable serializer for the types not kept natively
    (any object with ``dumps(obj) -> bytes`` and ``loads(bytes) -> obj``; ``pickle`` by
    default, at ``protocol``)."""

    def __init__(self, serializer=None, protocol=pickle.HIGHEST_PROTOCOL):
        self.serializer = serializer
        self.protocol = protocol

    def dumps(self, value):
        if self.serializer is not None:
            data = self.serializer.dumps(value)
            # Text serializers (json) give str: kept as UTF-8.
            return data.encode() if isinstance(data, str) else data
        return pickle.dumps(value, protocol=self.protocol)

    def loads(self, data):
        if self.serializer is not None:
            return self.serializer.loads(data)
        return pickle.loads(data)

    def encode(self, value, tag=None):
        """The engine's bytes for a value (and its tag, when given)."""
        t = type(value)
        if t is bytes:
            body = b"b" + value
        elif t is str:
            body = b"s" + value.encode("utf-8", "surrogatepass")
        elif t is int and _I64_MIN <= value <= _I64_MAX:
            body = b"i" + str(value).encode()
        elif t is float:
            body = b"f" + repr(value).encode()
        else:
            body = b"p" + self.dumps(value)
        if tag is None:
            return body
        tag = encode_key(tag)
        return b"T" + struct.pack("<I", len(tag)) + tag + body

    def decode(self, raw):
        """``(value, tag)`` for the engine's bytes."""
        tag = None
        if raw[:1] == b"T":
            (n,) = struct.unpack_from("<I", raw, 1)
            tag = decode_key(raw[5 : 5 + n])
            raw = raw[5 + n :]
        kind, body = raw[:1], raw[1:]
        if kind == b"b":
            return body, tag
        if kind == b"s":
            return body.decode("utf-8", "surrogatepass"), tag
        if kind == b"i":
            return int(body), tag
        if kind == b"f":
            return float(body), tag
        return self.loads(body), tag
