"""Secrets never show themselves; the key comes from PIE_SECRET_KEY or a private key file."""

from __future__ import annotations

import logging
import os
import pickle
import stat
from pathlib import Path

import pytest

from pie.adapters.secrets import SecretBox, keys_from, read_or_create_key_file
from pie.domain.errors import NotConfigured
from pie.ports.credentials import Secret, secrets_of

VALUE = "tok-1234567890-very-secret"


def test_a_secret_never_shows_its_value(caplog: pytest.LogCaptureFixture) -> None:
    s = Secret(VALUE)
    shown = [repr(s), str(s), f"{s}", f"{s!r}", f"{s:>40}", repr({"t": s}), str([s])]
    assert all(VALUE not in x for x in shown)
    with caplog.at_level(logging.INFO):
        logging.getLogger("t").info("token %s %r", s, s)
    assert VALUE not in caplog.text
    with pytest.raises(TypeError):
        pickle.dumps(s)
    assert s.reveal() == VALUE
    assert s == Secret(VALUE) and s != Secret("other")
    assert secrets_of({"a": "x", "b": s}) == {"a": Secret("x"), "b": s}


def test_an_exception_with_a_secret_does_not_leak_it() -> None:
    with pytest.raises(ValueError, match="auth failed") as err:
        raise ValueError(f"auth failed for {Secret(VALUE)}")
    assert VALUE not in str(err.value)


def test_the_key_file_is_made_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secret.key"
    key = read_or_create_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_or_create_key_file(path) == key
    assert keys_from(None, path) == [key]
    box = SecretBox(keys_from(None, path))
    assert box.open(box.seal(b"x", b"ctx"), b"ctx") == b"x"


def test_a_key_file_others_may_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    read_or_create_key_file(path)
    os.chmod(path, 0o644)
    with pytest.raises(NotConfigured, match="chmod 600"):
        read_or_create_key_file(path)


def test_pie_secret_key_wins_and_may_rotate(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    keys = keys_from("first-key-0123456789, old-key-0123456789", path)
    assert keys == [b"first-key-0123456789", b"old-key-0123456789"]
    assert not path.exists()  # no key file when the setting gives the key
    with pytest.raises(NotConfigured, match="at least"):
        keys_from("short", path)


def test_a_sealed_value_is_bound_to_its_context() -> None:
    box = SecretBox([b"k" * 32])
    sealed = box.seal(b"token", b"tenant-a/salesforce")
    assert b"token" not in sealed
    with pytest.raises(NotConfigured):
        box.open(sealed, b"tenant-b/salesforce")
    with pytest.raises(NotConfigured):
        box.open(b"garbage", b"tenant-a/salesforce")
