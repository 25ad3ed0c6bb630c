"""The fitted process model as bytes, without pickle: one ``.npz`` archive that holds every
array of the model and, as a byte array named ``__meta__``, the JSON of everything else.

Decoding is driven by the model's own type hints, never by names found in the payload, so a
payload can only ever produce a ``ProcessModel``; ``np.load`` runs with ``allow_pickle=False``.
A payload written by a PIE whose model had other fields does not match ``FINGERPRINT`` and is
refused (the cache then fits afresh).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import hashlib
import io
import json
import types
import typing
from datetime import datetime
from enum import Enum
from typing import Any

import numpy as np

from pie.mining import ProcessModel

META = "__meta__"


class CodecError(ValueError):
    """The payload is not a model this PIE can read."""


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _shape_of(tp: Any, seen: frozenset[type] = frozenset()) -> str:
    """A stable description of a type and, for dataclasses, of its fields."""
    if dataclasses.is_dataclass(tp) and isinstance(tp, type) and tp not in seen:
        inner = ",".join(f"{k}:{_shape_of(v, seen | {tp})}" for k, v in sorted(_hints(tp).items()))
        return f"{tp.__qualname__}({inner})"
    return repr(tp)


#: Changes whenever the model's fields (or theirs) change.
FINGERPRINT = hashlib.sha256(_shape_of(ProcessModel).encode()).hexdigest()[:16]


def _encode(value: Any, path: str, arrays: dict[str, np.ndarray[Any, Any]]) -> Any:
    if isinstance(value, np.ndarray):
        arrays[path] = value
        return {"$array": path}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _encode(getattr(value, f.name), f"{path}.{f.name}", arrays)
            for f in dataclasses.fields(value)
        }
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, frozenset | set):
        return sorted(_encode(v, path, arrays) for v in value)
    if isinstance(value, tuple | list):
        return [_encode(v, f"{path}.{i}", arrays) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return [
            [_encode(k, path, arrays), _encode(v, f"{path}.{i}", arrays)]
            for i, (k, v) in enumerate(value.items())
        ]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise CodecError(f"cannot store a {type(value).__name__} at {path}")


def encode_model(model: ProcessModel) -> bytes:
    arrays: dict[str, Any] = {}
    meta = {"fingerprint": FINGERPRINT, "model": _encode(model, "model", arrays)}
    buf = io.BytesIO()
    entries: dict[str, Any] = {META: np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
    np.savez_compressed(buf, **entries, **arrays)
    return buf.getvalue()


def _decode(tp: Any, data: Any, arrays: Any) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is np.ndarray or tp is np.ndarray:
        return np.asarray(arrays[data["$array"]])
    if origin in (typing.Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        (kind,) = [a for a in args if a is not type(None)]
        return _decode(kind, data, arrays)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = _hints(tp)
        return tp(
            **{f.name: _decode(hints[f.name], data[f.name], arrays) for f in dataclasses.fields(tp)}
        )
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp(data)
    if tp is datetime:
        return datetime.fromisoformat(data)
    if origin in (frozenset, set):
        return origin(_decode(args[0], v, arrays) for v in data)
    if origin is tuple:
        kinds = [args[0]] * len(data) if len(args) == 2 and args[1] is Ellipsis else args
        return tuple(_decode(k, v, arrays) for k, v in zip(kinds, data, strict=True))
    if origin is list:
        return [_decode(args[0], v, arrays) for v in data]
    if origin in (dict, collections.abc.Mapping):
        return {_decode(args[0], k, arrays): _decode(args[1], v, arrays) for k, v in data}
    if tp is float:
        return float(data)
    if tp in (bool, int, str):
        if not isinstance(data, tp):
            raise CodecError(f"expected {tp.__name__}, found {data!r}")
        return data
    raise CodecError(f"cannot read a {tp!r}")


def decode_model(payload: bytes) -> ProcessModel:
    """The model ``encode_model`` stored; CodecError if the payload is not one."""
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
            meta = json.loads(npz[META].tobytes())
            if meta.get("fingerprint") != FINGERPRINT:
                raise CodecError("the stored model was written for another model layout")
            arrays = {k: npz[k] for k in npz.files if k != META}
        model = _decode(ProcessModel, meta["model"], arrays)
    except CodecError:
        raise
    except Exception as err:  # a truncated or foreign payload, whatever numpy makes of it
        raise CodecError(f"unreadable model payload: {err}") from err
    assert isinstance(model, ProcessModel)
    return model
