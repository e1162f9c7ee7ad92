"""The dependency locks in requirements/: the running venv holds exactly one of them (what `pip freeze`
shows, pip, setuptools and wheel included, the project itself excluded), each pins every package by
version and hash, and each satisfies pyproject.toml's ranges for its extras (a requirement added to
pyproject.toml without `make lock` fails here, not as an ImportError somewhere else)."""

from __future__ import annotations

import os
import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ROOT / "requirements"
PROJECT = "destination-customer-io"
# Each lock and the pyproject extras it resolves (with requirements/build.in: pip, setuptools, wheel).
EXTRAS = {"runtime.txt": (), "test.txt": ("test",), "bench.txt": ("test", "bench"),
          "pyairbyte.txt": ("test", "pyairbyte")}
# The interpreter the locks are resolved for (the Makefile's `lock` target): CPython 3.11 on Linux.
TARGET = {"python_version": "3.11", "python_full_version": "3.11.0", "sys_platform": "linux",
          "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
          "implementation_name": "cpython", "platform_python_implementation": "CPython"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def pins(lock: str) -> dict[str, str]:
    """name -> version of every package the lock pins."""
    found = {}
    for line in (LOCKS / lock).read_text(encoding="utf-8").splitlines():
        if match := PIN.match(line):
            found[canonicalize_name(match[1])] = match[2]
    return found


def installed() -> dict[str, str]:
    """name -> version of every distribution in the running venv, the project itself excluded."""
    return {canonicalize_name(dist.metadata["Name"]): dist.version for dist in metadata.distributions()
            if canonicalize_name(dist.metadata["Name"]) != PROJECT}


def requirements(extras: tuple[str, ...]) -> list[Requirement]:
    """pyproject.toml's build, runtime and ``extras`` requirements that apply on the lock's target."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = project["build-system"]["requires"] + project["project"]["dependencies"]
    for extra in extras:
        listed += project["project"]["optional-dependencies"][extra]
    applying = []
    for text in listed:
        requirement = Requirement(text)
        if requirement.marker is None or any(
                requirement.marker.evaluate({**TARGET, "extra": extra}) for extra in ("", *extras)):
            applying.append(requirement)
    return applying


def _difference(have: dict[str, str], lock: dict[str, str]) -> list[str]:
    return sorted([f"installed, not locked: {n}=={v}" for n, v in have.items() if n not in lock]
                  + [f"locked, not installed: {n}=={v}" for n, v in lock.items() if n not in have]
                  + [f"{n}: installed {v}, locked {lock[n]}" for n, v in have.items()
                     if n in lock and lock[n] != v])


@pytest.mark.skipif(bool(os.environ.get("UNLOCKED_VENV")), reason="`make test-latest`: no lock on purpose")
def test_the_venv_holds_exactly_one_lock() -> None:
    have = installed()
    differences = {lock: _difference(have, pins(lock)) for lock in EXTRAS}
    closest = min(differences, key=lambda lock: len(differences[lock]))
    assert differences[closest] == [], (
        f"this venv is not requirements/{closest} (run `make venv`, or `make lock` after changing "
        f"pyproject.toml):\n" + "\n".join(differences[closest]))


@pytest.mark.parametrize("lock", EXTRAS)
def test_lock_satisfies_pyproject(lock: str) -> None:
    locked = pins(lock)
    for requirement in requirements(EXTRAS[lock]):
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement} is not in requirements/{lock}: run `make lock`"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"requirements/{lock} pins {name}=={locked[name]}, outside {requirement}: run `make lock`")


@pytest.mark.parametrize("lock", EXTRAS)
def test_lock_pins_every_package_by_hash(lock: str) -> None:
    text = (LOCKS / lock).read_text(encoding="utf-8")
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2].strip())
    assert len(entries) == len(pins(lock)) > 0
    for entry in entries:
        assert PIN.match(entry) and "--hash=sha256:" in entry, entry.splitlines()[0]


@pytest.mark.parametrize("lock", ["runtime.txt", "bench.txt"])
def test_lock_agrees_with_the_test_lock(lock: str) -> None:
    """The image runs, and `make bench` adds to .venv, only versions the test suite ran."""
    tested = pins("test.txt")
    assert {n: v for n, v in pins(lock).items() if n in tested and tested[n] != v} == {}
    if lock == "runtime.txt":
        assert pins(lock).keys() <= tested.keys()
