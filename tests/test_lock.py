"""The lock (requirements/*.txt) is what the README's commands and CI install: it must hold every
requirement pyproject.toml states, within its range, and the environment running the tests must be
exactly the lock's versions (a drifted venv would test a set nobody else gets)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the lock is made for 3.11

ROOT = Path(__file__).resolve().parents[1]
LOCKS = {"run": ROOT / "requirements" / "run.txt", "dev": ROOT / "requirements" / "dev.txt"}


def read_lock(path: Path) -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{path.name}: {line!r} is not an exact pin"
        pins[canonicalize_name(requirement.name)] = Version(specifier.version)
    return pins


def project_requirements(extra: str | None) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    listed = project["dependencies"] + (project["optional-dependencies"][extra] if extra else [])
    return [Requirement(text) for text in listed]


@pytest.mark.parametrize(("lock", "extra"), [("run", None), ("dev", "dev")])
def test_the_lock_holds_every_stated_requirement_within_its_range(
    lock: str, extra: str | None
) -> None:
    pins = read_lock(LOCKS[lock])
    for requirement in project_requirements(extra):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in requirements/{lock}.txt: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements/{lock}.txt pins {name}=={pins[name]}, outside {requirement}: "
            "run `make lock`"
        )


def test_the_dev_lock_agrees_with_the_run_lock() -> None:
    run, dev = read_lock(LOCKS["run"]), read_lock(LOCKS["dev"])
    assert {name: dev.get(name) for name in run} == run


def test_the_environment_is_exactly_the_lock() -> None:
    drift = []
    for name, pinned in read_lock(LOCKS["dev"]).items():
        try:
            installed = Version(version(name))
        except PackageNotFoundError:
            drift.append(f"{name}: not installed (lock: {pinned})")
            continue
        # `make test TORCH=gpu` installs torch's public release instead of the `+cpu` build
        if installed.public != pinned.public:
            drift.append(f"{name}: {installed} installed, lock {pinned}")
    assert not drift, "the venv is not the lock (`make clean test` rebuilds it): " + "; ".join(
        drift
    )
