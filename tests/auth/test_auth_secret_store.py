"""The on-disk secret store: locations, permissions, overrides, and secrecy."""

from __future__ import annotations

import logging
import os
import stat
import threading
from pathlib import Path

import pytest

from jazz_nb.auth import (
    SecretStore,
    decode_secret,
    default_secret_dir,
    generate_secret,
    get_or_create_secret,
    user_id,
)
from jazz_nb.errors import AuthError

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@posix_only
def test_get_or_create_writes_private_files(tmp_path: Path) -> None:
    directory = tmp_path / "deep" / "secrets"
    store = SecretStore(directory)
    secret = store.get_or_create("my-app")
    assert len(decode_secret(secret)) == 32
    path = store.path("my-app")
    assert path.read_text() == secret + "\n"
    assert mode(path) == 0o600
    assert mode(directory) == 0o700
    assert store.get_or_create("my-app") == secret  # stable
    assert store.get_or_create("other-app") != secret  # one identity per app
    assert sorted(p.name for p in directory.iterdir()) == ["my-app.secret", "other-app.secret"]


@posix_only
def test_save_load_clear(tmp_path: Path) -> None:
    store = SecretStore(tmp_path)
    assert store.load("a") is None
    secret = generate_secret()
    path = store.save("a", secret)
    assert mode(path) == 0o600 and store.load("a") == secret
    replacement = generate_secret()
    store.save("a", decode_secret(replacement))  # raw bytes accepted
    assert store.load("a") == replacement
    assert store.clear("a") is True
    assert store.clear("a") is False and store.load("a") is None


def test_app_ids_cannot_escape_the_directory(tmp_path: Path) -> None:
    store = SecretStore(tmp_path)
    for app_id in ["../evil", "team/app", "..", "con:1"]:
        assert store.path(app_id).parent == tmp_path
    store.get_or_create("../evil")
    assert not (tmp_path.parent / "evil.secret").exists()
    with pytest.raises(AuthError) as info:
        store.path("")
    assert info.value.code == "invalid-app-id"


def test_directory_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert SecretStore().directory == tmp_path / "home/.local/share/jazz_nb/secrets"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert SecretStore().directory == tmp_path / "xdg/jazz_nb/secrets"
    monkeypatch.setenv("JAZZ_NB_SECRET_DIR", str(tmp_path / "env-dir"))
    assert SecretStore().directory == tmp_path / "env-dir"
    assert default_secret_dir() == tmp_path / "env-dir"
    assert SecretStore(tmp_path / "arg").directory == tmp_path / "arg"  # argument wins


def test_secret_dir_env_is_used_for_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAZZ_NB_SECRET_DIR", str(tmp_path / "env-dir"))
    secret = get_or_create_secret("my-app")
    assert (tmp_path / "env-dir" / "my-app.secret").read_text().strip() == secret
    assert get_or_create_secret("my-app") == secret


def test_secret_env_overrides_without_touching_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = generate_secret()
    monkeypatch.setenv("JAZZ_NB_SECRET", secret)
    store = SecretStore(tmp_path / "secrets")
    assert store.get_or_create("my-app") == secret
    assert store.load("other-app") == secret
    assert not (tmp_path / "secrets").exists()


def test_secret_never_in_repr_logs_or_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store = SecretStore(tmp_path)
    secret = store.get_or_create("my-app")
    store.save("my-app", secret)
    assert store.load("my-app") == secret
    store.clear("my-app")
    assert store.get_or_create("my-app") != secret
    assert caplog.records, "the store should log what it does (without the secret)"

    leaked: list[str] = []
    for candidate in [secret, store.load("my-app")]:
        assert candidate is not None
        texts = [repr(store), str(store), caplog.text]
        texts += [str(record.args) for record in caplog.records]
        leaked += [text for text in texts if candidate in text]

    # Error paths: a corrupt file, a bad env secret, a bad argument.
    bad_value = "x" * 40 + "not-a-secret"
    store.path("corrupt").write_text(bad_value)
    monkeypatch.setenv("JAZZ_NB_SECRET", bad_value)
    for action in (
        lambda: store.load("corrupt"),
        lambda: store.get_or_create("any"),
    ):
        with pytest.raises(AuthError) as info:
            action()
        leaked += [t for t in (str(info.value), repr(info.value)) if bad_value in t]
    monkeypatch.delenv("JAZZ_NB_SECRET")
    with pytest.raises(AuthError) as info:
        store.load("corrupt")
    assert info.value.code == "invalid-secret"
    leaked += [t for t in (str(info.value), repr(info.value)) if bad_value in t]
    with pytest.raises(AuthError) as info:
        store.save("a", bad_value)
    leaked += [t for t in (str(info.value), repr(info.value)) if bad_value in t]
    assert not leaked
    assert bad_value not in caplog.text


def test_concurrent_get_or_create_agrees(tmp_path: Path) -> None:
    results: list[str] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results.append(SecretStore(tmp_path).get_or_create("race"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1
    assert SecretStore(tmp_path).load("race") == results[0]
    assert [p.name for p in tmp_path.iterdir()] == ["race.secret"]  # no temp files left


def test_identity_is_stable_across_store_instances(tmp_path: Path) -> None:
    first = user_id(SecretStore(tmp_path).get_or_create("my-app"))
    assert user_id(SecretStore(tmp_path).get_or_create("my-app")) == first
