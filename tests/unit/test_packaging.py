"""The Airbyte packaging: metadata.yaml carries every field Airbyte's registry requires (checked against the
rules of Airbyte's ConnectorMetadataDefinitionV0 schema) and agrees with pyproject.toml, spec.json and the
Dockerfile; the Dockerfile follows Airbyte's Python connector conventions and its entrypoint is the console
script this package installs (run here, since no Docker engine is available to build the image)."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from destination_customer_io.commands import spec_message
from destination_customer_io.config import EU_TRACK_URL, US_TRACK_URL

ROOT = Path(__file__).resolve().parents[2]

# From Airbyte's ConnectorMetadataDefinitionV0 (airbyte-ci metadata_service models): `data` is closed
# (additionalProperties: false), these keys are required, and these enums apply.
REQUIRED_DATA_FIELDS = {
    "name", "definitionId", "connectorType", "dockerRepository", "dockerImageTag", "license",
    "documentationUrl", "githubIssueLabel", "connectorSubtype", "releaseStage",
}
ALLOWED_DATA_FIELDS = REQUIRED_DATA_FIELDS | {
    "icon", "connectorBuildOptions", "connectorTestSuitesOptions", "supportsDbt", "supportsNormalization",
    "externalDocumentationUrls", "maxSecondsBetweenMessages", "releaseDate", "protocolVersion", "erdUrl",
    "supportLevel", "tags", "registryOverrides", "allowedHosts", "releases", "normalizationConfig",
    "suggestedStreams", "resourceRequirements", "ab_internal", "remoteRegistries", "supportsRefreshes",
    "generated", "supportsFileTransfer", "supportsDataActivation", "connectorIPCOptions",
}
ENUMS = {
    "connectorType": {"destination", "source"},
    "connectorSubtype": {"api", "database", "datalake", "file", "custom", "message_queue", "unknown", "vectorstore"},
    "releaseStage": {"alpha", "beta", "generally_available", "custom"},
    "supportLevel": {"community", "certified", "archived"},
}
BOOLEAN_FIELDS = ("supportsDbt", "supportsNormalization", "supportsRefreshes", "supportsFileTransfer",
                  "supportsDataActivation")
REGISTRY_OVERRIDE_FIELDS = {"enabled", "name", "dockerRepository", "dockerImageTag", "supportsDbt",
                            "supportsNormalization", "license", "documentationUrl", "connectorSubtype",
                            "allowedHosts", "normalizationConfig", "suggestedStreams", "resourceRequirements"}
AIRBYTE_KOTLIN_DEFINITION_ID = "c101b15f-2de9-4616-b54f-0ec9d28ca64d"  # must not be reused
BASE_IMAGE = re.compile(r"docker\.io/airbyte/python-connector-base:\d+\.\d+\.\d+@sha256:[0-9a-f]{64}")


@pytest.fixture(scope="module")
def metadata() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "metadata.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def data(metadata: dict[str, Any]) -> dict[str, Any]:
    return metadata["data"]


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each instruction of the Dockerfile (comments and blanks dropped)."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    parsed = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, args = line.partition(" ")
            parsed.append((instruction.upper(), args.strip()))
    return parsed


def instructions(dockerfile: list[tuple[str, str]], name: str) -> list[str]:
    return [args for instruction, args in dockerfile if instruction == name]


def env_value(dockerfile: list[tuple[str, str]], key: str) -> str:
    for args in instructions(dockerfile, "ENV"):
        match = re.fullmatch(rf'{key}(?:=|\s+)"?([^"]*)"?', args)
        if match:
            return match.group(1)
    raise AssertionError(f"the Dockerfile sets no {key}")


def labels(dockerfile: list[tuple[str, str]]) -> dict[str, str]:
    return dict(args.split("=", 1) for args in instructions(dockerfile, "LABEL"))


# --- metadata.yaml --------------------------------------------------------------------------------

def test_metadata_top_level_is_airbytes(metadata: dict[str, Any]) -> None:
    assert set(metadata) == {"metadataSpecVersion", "data"}
    assert isinstance(metadata["metadataSpecVersion"], str)


def test_metadata_has_every_required_field_and_no_unknown_one(data: dict[str, Any]) -> None:
    assert not REQUIRED_DATA_FIELDS - set(data), "missing required fields"
    assert not set(data) - ALLOWED_DATA_FIELDS, "fields Airbyte's schema does not allow"
    for name in REQUIRED_DATA_FIELDS:
        assert data[name] not in (None, ""), name


@pytest.mark.parametrize("field", sorted(ENUMS))
def test_metadata_enums(data: dict[str, Any], field: str) -> None:
    assert data[field] in ENUMS[field]


def test_metadata_types(data: dict[str, Any]) -> None:
    for name in ("name", "dockerRepository", "dockerImageTag", "license", "githubIssueLabel", "icon"):
        assert isinstance(data[name], str), name
    for name in BOOLEAN_FIELDS:
        if name in data:
            assert isinstance(data[name], bool), name
    assert isinstance(data.get("tags", []), list) and all(isinstance(t, str) for t in data.get("tags", []))
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(data["releaseDate"]))
    assert set(data["connectorBuildOptions"]) <= {"baseImage"}
    for registry, override in data.get("registryOverrides", {}).items():
        assert registry in {"oss", "cloud"}
        assert isinstance(override["enabled"], bool) and set(override) <= REGISTRY_OVERRIDE_FIELDS


def test_metadata_is_this_destination(data: dict[str, Any], pyproject: dict[str, Any]) -> None:
    assert data["connectorType"] == "destination"
    assert data["supportsDataActivation"] is True
    assert data["dockerImageTag"] == pyproject["project"]["version"]
    license = pyproject["project"]["license"]  # an SPDX string, or the older {"text": ...} table
    assert data["license"] == (license["text"] if isinstance(license, dict) else license)
    assert data["documentationUrl"] == spec_message()["spec"]["documentationUrl"]
    assert urlsplit(data["documentationUrl"]).scheme == "https"


def test_definition_id_is_our_own_uuid(data: dict[str, Any]) -> None:
    assert str(uuid.UUID(data["definitionId"])) == data["definitionId"]
    assert data["definitionId"] != AIRBYTE_KOTLIN_DEFINITION_ID


def test_allowed_hosts_cover_both_track_regions(data: dict[str, Any]) -> None:
    hosts = data["allowedHosts"]["hosts"]
    assert urlsplit(US_TRACK_URL).hostname in hosts
    assert urlsplit(EU_TRACK_URL).hostname in hosts


def test_icon_is_an_svg(data: dict[str, Any]) -> None:
    assert (ROOT / data["icon"]).read_text(encoding="utf-8").lstrip().startswith("<svg")


# --- Dockerfile -----------------------------------------------------------------------------------

def test_dockerfile_builds_on_airbytes_python_base_image(dockerfile: list[tuple[str, str]],
                                                         data: dict[str, Any]) -> None:
    (base,) = instructions(dockerfile, "FROM")
    assert BASE_IMAGE.fullmatch(base), "pin Airbyte's python-connector-base by version and digest"
    assert base == data["connectorBuildOptions"]["baseImage"]


def test_dockerfile_labels_match_metadata(dockerfile: list[tuple[str, str]], data: dict[str, Any]) -> None:
    assert labels(dockerfile) == {"io.airbyte.name": data["dockerRepository"],
                                  "io.airbyte.version": data["dockerImageTag"]}


def test_entrypoint_is_the_installed_console_script(dockerfile: list[tuple[str, str]],
                                                    pyproject: dict[str, Any]) -> None:
    (entrypoint,) = instructions(dockerfile, "ENTRYPOINT")
    command = json.loads(entrypoint)  # exec form: the platform appends `spec`, `write --config ...`
    assert command == [env_value(dockerfile, "AIRBYTE_ENTRYPOINT")]
    assert pyproject["project"]["scripts"][command[0]] == "destination_customer_io.cli:entry"
    script = Path(sys.executable).parent / command[0]
    assert script.is_file(), f"{command[0]} is not installed next to {sys.executable}"
    done = subprocess.run([str(script), "spec"], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == spec_message()


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last matching pattern wins; `!` re-includes."""
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, body) or path.startswith(body + "/"):
            ignored = not negated
    return ignored


def test_dockerfile_copies_what_pip_needs_and_dockerignore_keeps_it(dockerfile: list[tuple[str, str]],
                                                                    pyproject: dict[str, Any]) -> None:
    copied = [src for args in instructions(dockerfile, "COPY") for src in args.split()[:-1]]
    needed = {"pyproject.toml", pyproject["project"]["readme"], "src"}
    assert needed <= set(copied)
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")]
    for src in copied:
        assert (ROOT / src).exists(), src
        assert not _ignored(src, patterns), f".dockerignore excludes {src}"
    assert _ignored("tests", patterns) and _ignored(".venv", patterns)
    assert _ignored("requirements/test.txt", patterns)


def test_dockerfile_installs_the_runtime_lock_then_the_package_alone(
        dockerfile: list[tuple[str, str]]) -> None:
    runs = [args for args in instructions(dockerfile, "RUN") if "pip install" in args]
    assert len(runs) == 2
    assert {"--require-hashes", "--no-deps", "requirements/runtime.txt"} <= set(runs[0].split())
    assert runs[1].startswith("pip install --no-cache-dir --no-deps --no-build-isolation . ")
    assert "requirements/runtime.txt" in [args.split()[0] for args in instructions(dockerfile, "COPY")]


def test_readme_lists_every_rejection_reason() -> None:
    from destination_customer_io import reasons

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for code, description in reasons.DESCRIPTIONS.items():
        assert f"| `{code}` | {description} |" in readme, code
