"""`jazz-nb identity new|show|phrase|restore` on an argparse parser like the real CLI's."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from jazz_nb.auth import (
    SecretStore,
    public_key,
    recovery_phrase,
    secret_from_recovery_phrase,
    user_id,
)
from jazz_nb.auth._b64 import b64url_encode
from jazz_nb.auth.cli import add_identity_commands


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="jazz-nb")
    add_identity_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_new_show_phrase(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    where = ["--secret-dir", str(tmp_path)]
    code, out, err = run(["identity", "new", "--app", "my-app", *where], capsys)
    secret = SecretStore(tmp_path).load("my-app")
    assert code == 0 and secret is not None
    assert out.strip() == user_id(secret)
    assert secret not in out + err

    code, out, err = run(["identity", "show", "--app", "my-app", *where], capsys)
    assert code == 0 and secret not in out + err
    assert user_id(secret) in out and b64url_encode(public_key(secret)) in out

    code, out, err = run(["identity", "phrase", "--app", "my-app", *where], capsys)
    assert code == 0 and "WARNING" in err
    assert out.strip() == recovery_phrase(secret)
    assert secret_from_recovery_phrase(out) == secret


def test_new_refuses_to_replace_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    where = ["--secret-dir", str(tmp_path)]
    run(["identity", "new", "--app", "a", *where], capsys)
    first = SecretStore(tmp_path).load("a")
    code, _, err = run(["identity", "new", "--app", "a", *where], capsys)
    assert code == 1 and "--force" in err and SecretStore(tmp_path).load("a") == first
    code, out, _ = run(["identity", "new", "--app", "a", "--force", "--print-secret", *where],
                       capsys)
    second = SecretStore(tmp_path).load("a")
    assert code == 0 and second != first
    assert out.split() == [user_id(second), second]  # type: ignore[arg-type]


def test_restore_from_stdin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"
    monkeypatch.setattr("sys.stdin", io.StringIO(recovery_phrase(secret).upper() + "\n"))
    code, out, _ = run(["identity", "restore", "--app", "a", "--secret-dir", str(tmp_path)],
                       capsys)
    assert code == 0 and out.strip() == user_id(secret)
    assert SecretStore(tmp_path).load("a") == secret
    monkeypatch.setattr("sys.stdin", io.StringIO("abandon abandon"))
    code, _, err = run(["identity", "restore", "--app", "b", "--secret-dir", str(tmp_path)],
                       capsys)
    assert code == 1 and "invalid-length" in err


def test_show_without_identity(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("show", "phrase"):
        code, out, err = run(["identity", command, "--app", "nope", "--secret-dir",
                              str(tmp_path)], capsys)
        assert code == 1 and out == "" and "identity new --app nope" in err


def test_default_directory_from_env(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAZZ_NB_SECRET_DIR", str(tmp_path / "env"))
    code, _, _ = run(["identity", "new", "--app", "x"], capsys)
    assert code == 0 and (tmp_path / "env" / "x.secret").exists()
