"""Installed versions against ``constraints/tested.txt``, for the test legs (tests/legs.sh).

    python tests/packaging/versions.py diff   # releases that differ from the tested pins
    python tests/packaging/versions.py pin    # write this environment's versions as the pins
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
import sys
from pathlib import Path

TESTED = Path(__file__).resolve().parents[2] / "constraints" / "tested.txt"
HEADER = """\
# Every package of the test environment at the versions the whole suite last passed with
# (README's test command installs with -c constraints/tested.txt). Refresh it after a green
# newest leg: bash tests/legs.sh newest pin
"""
UNPINNED = {"jazz-nb", "pip", "setuptools", "wheel"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed() -> dict[str, str]:
    """``{distribution: version}`` of this environment, jazz_nb and the installers left out."""
    found = {_canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}
    return {name: found[name] for name in sorted(found) if name not in UNPINNED}


def pinned() -> dict[str, str]:
    """The pins of ``constraints/tested.txt``."""
    pins = {}
    for line in TESTED.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[_canonical(name)] = version.strip()
    return pins


def differences() -> list[str]:
    """``name tested -> installed`` for every package not at its tested version."""
    pins, now = pinned(), installed()
    return [f"{name} {pins.get(name, '(not pinned)')} -> {version}"
            for name, version in now.items() if pins.get(name) != version]


def main(command: str) -> None:
    if command == "diff":
        print(", ".join(differences()) or "none")
    elif command == "pin":
        TESTED.write_text(HEADER + "".join(f"{n}=={v}\n" for n, v in installed().items()))
        print(f"wrote {len(installed())} pins to {TESTED}")
    else:
        raise SystemExit(f"usage: {sys.argv[0]} diff|pin")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
