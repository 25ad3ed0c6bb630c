"""The fitted model as bytes: JSON and numpy arrays, never pickle."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from typing import Any

import numpy as np
import pytest

from pie.mining import ProcessModel, fit
from pie.services.model_codec import META, CodecError, decode_model, encode_model
from tests.unit.simulation.synth import AS_OF, synthetic_world


@pytest.fixture(scope="module")
def model() -> ProcessModel:
    return fit(synthetic_world(600, seed=2), as_of=AS_OF)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b))
    if dataclasses.is_dataclass(a):
        return type(a) is type(b) and all(
            _same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)
        )
    return bool(a == b) and type(a) is type(b)


def test_round_trip_gives_the_same_model(model: ProcessModel) -> None:
    back = decode_model(encode_model(model))
    assert _same(model, back)
    assert back.as_of.tzinfo is not None


def test_the_payload_is_an_npz_of_plain_arrays(model: ProcessModel) -> None:
    payload = encode_model(model)
    with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
        assert all(npz[name].dtype != object for name in npz.files)
        meta = json.loads(npz[META].tobytes())
    assert meta["model"]["rates"] == {"$array": "model.rates"}


def test_a_foreign_or_damaged_payload_is_refused(model: ProcessModel) -> None:
    with pytest.raises(CodecError):
        decode_model(b"not a model")
    with pytest.raises(CodecError):
        decode_model(encode_model(model)[:-100])
    buf = io.BytesIO()
    blob: dict[str, Any] = {
        META: np.frombuffer(json.dumps({"fingerprint": "old", "model": {}}).encode(), np.uint8)
    }
    np.savez(buf, **blob)
    with pytest.raises(CodecError, match="another model layout"):
        decode_model(buf.getvalue())
    pickled = io.BytesIO()
    with zipfile.ZipFile(pickled, "w") as z:  # an object array needs pickle: refused
        arr = io.BytesIO()
        np.save(arr, np.array([object()], dtype=object), allow_pickle=True)
        z.writestr(f"{META}.npy", arr.getvalue())
    with pytest.raises(CodecError):
        decode_model(pickled.getvalue())


def test_the_calibration_map_round_trips(model: ProcessModel) -> None:
    from pie.mining.calibration_map import CalibrationMap

    mapped = dataclasses.replace(
        model, calibration=CalibrationMap(((-0.3, 0.9), (0.1, 1.2), (0.0, 1.0)), 321)
    )
    back = decode_model(encode_model(mapped))
    assert _same(mapped, back)
    assert back.calibration == mapped.calibration
