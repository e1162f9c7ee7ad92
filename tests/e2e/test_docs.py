"""The docs carry a new user (issue 15): what they show runs, and what they quote is true.

The minimal config, catalog and messages of README.md and docs/customer-io.md sync through the real CLI;
examples/README.md runs a setup.jsonl before records.jsonl; docs/pyairbyte.md's first code block sets
AIRBYTE_OFFLINE_MODE and PyAirbyte never shares `.venv`; one version everywhere; every rejection reason
quoted in the docs is in the connector's vocabulary; the Local store's default format is as documented.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from customerio_emulator.process import EmulatorProcess
from destination_customer_io.reasons import DESCRIPTIONS
from tests.support.cli import CONSOLE_SCRIPT, run_connector

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "examples" / "README.md"]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def _blocks(path: Path, language: str) -> list[str]:
    return [body for lang, body in _BLOCK.findall(path.read_text(encoding="utf-8")) if lang == language]


# --- 11. a minimal configured catalog beside the minimal config --------------------------------------

@pytest.mark.parametrize("doc", ["README.md", "docs/customer-io.md"])
def test_the_minimal_config_and_catalog_sync_as_shown(doc: str, emu: EmulatorProcess, tmp_path: Path) -> None:
    path = ROOT / doc
    config = next(json.loads(b) for b in _blocks(path, "json") if '"credentials"' in b)
    catalog = next(json.loads(b) for b in _blocks(path, "json") if '"streams"' in b)
    (messages,) = _blocks(path, "jsonl")
    for entry in catalog["streams"]:
        assert {"destination_object_name", "destination_sync_mode"} <= set(entry)
    assert any("primary_key" in entry for entry in catalog["streams"]) and len(catalog["streams"]) == 2
    config["credentials"] = {"siteId": "demo-site", "apiKey": "demo-key"}  # the emulator's workspace
    config["track_api_base_url"] = emu.url

    run = run_connector(tmp_path, "write", config, catalog, messages.splitlines())

    assert run.returncode == 0 and run.errors == [] and len(run.states) == 1
    (person,) = emu.client.people()
    assert (person["email"], person["attributes"]["plan"]) == ("ada@example.com", "pro")
    assert [e["name"] for e in emu.client.events()] == ["purchase"]


# --- 12. PyAirbyte: offline first, and an environment of its own --------------------------------------

def test_pyairbyte_guide_sets_offline_mode_in_its_first_code_block() -> None:
    text = (ROOT / "docs" / "pyairbyte.md").read_text(encoding="utf-8")
    first = _BLOCK.search(text)
    assert first and "export AIRBYTE_OFFLINE_MODE=1" in first.group(2)
    assert "skips the registry" in text[: text.index("### A sync")]  # and says what it does, up front


def test_the_pyairbyte_extra_is_never_installed_into_dot_venv() -> None:
    """PyAirbyte downgrades python-ulid and cryptography: it gets .venv-pyairbyte, in CI and in docs."""
    installs = [line for path in (ROOT / "Makefile", ROOT / ".ci" / "run", *DOCS)
                for line in path.read_text(encoding="utf-8").splitlines()
                if "pyairbyte]" in line and "install" in line]
    assert installs
    for line in installs:
        assert ".venv/" not in line and "$(BIN)" not in line, line
    assert "make test-pyairbyte" in (ROOT / ".ci" / "run").read_text()


# --- 13. examples: setup.jsonl first ------------------------------------------------------------------

def test_examples_readme_runs_setup_before_records() -> None:
    text = (ROOT / "examples" / "README.md").read_text(encoding="utf-8")
    with_setup = sorted(p.parent.name for p in (ROOT / "examples").glob("*/setup.jsonl"))
    assert with_setup
    sentence = next(line for line in text.splitlines() if "has a `setup.jsonl`" in line)
    assert all(f"`{name}`" in sentence for name in with_setup)
    shown = next(b for b in _blocks(ROOT / "examples" / "README.md", "sh") if "setup.jsonl" in b)
    assert shown.index("setup.jsonl") < shown.index("records.jsonl")


def test_a_merge_without_its_setup_is_accepted_but_fails_in_customer_io(emu: EmulatorProcess,
                                                                         tmp_path: Path) -> None:
    """What examples/README.md warns about, as it happens."""
    folder = ROOT / "examples" / "person_merge"
    config = json.loads((folder / "config.json").read_text())
    config["track_api_base_url"] = emu.url
    catalog = json.loads((folder / "catalog.json").read_text())
    run = run_connector(tmp_path, "write", config, catalog, (folder / "records.jsonl").read_text().splitlines())

    assert run.returncode == 0 and run.logs[-1].endswith("1 record, 1 accepted, 0 rejected.")
    assert emu.client.counters()["merge_failures"] == 1 and emu.client.people() == []


# --- 14. one version everywhere; reason codes; the Local store's default format ---------------------------

def test_one_version_everywhere() -> None:
    """A version bump needs only the files updated: every place that quotes it is checked against
    pyproject.toml (historical versions, e.g. the changelog's older rows, are not quotes of it)."""
    quoted = {
        "--version": subprocess.run([*CONSOLE_SCRIPT, "--version"], capture_output=True, text=True,
                                    timeout=30).stdout.strip(),
        "metadata.yaml": str(yaml.safe_load((ROOT / "metadata.yaml").read_text())["data"]["dockerImageTag"]),
    }
    patterns = [r"destination-customer-io:(\d+\.\d+\.\d+)", r"`destination-customer-io`, version (\d+\.\d+\.\d+)",
                r"the tag `(\d+\.\d+\.\d+)`", r"io\.airbyte\.version=(\d+\.\d+\.\d+)"]
    for path in (*DOCS, ROOT / "Dockerfile"):
        for pattern in patterns:
            for n, found in enumerate(re.findall(pattern, path.read_text(encoding="utf-8"))):
                quoted[f"{path.relative_to(ROOT)} {pattern} #{n}"] = found
    changelog = (ROOT / "docs" / "customer-io.md").read_text().split("## Changelog")[1]
    quoted["changelog, newest row"] = re.findall(r"^\| (\d+\.\d+\.\d+) \|", changelog, re.M)[0]

    assert len(quoted) >= 10  # the docker tags, the page's version, the label, the changelog...
    assert {where: v for where, v in quoted.items() if v != VERSION} == {}


def _quoted_reasons() -> dict[str, set[str]]:
    """Codes quoted as a rejection reason: as the value of `"rejected_reason"` (JSON examples) and in a
    table column headed `reason`. docs/emulator.md's table is the emulator's own 207 vocabulary: not the connector's."""
    found: dict[str, set[str]] = {}
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        codes = set(re.findall(r'"rejected_reason"\s*:\s*"([^"]*)"', text))
        if path.name != "emulator.md":
            column = None
            for line in text.splitlines():
                cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
                if "reason" in cells:
                    column = cells.index("reason")
                elif not cells:
                    column = None
                elif column is not None and column < len(cells):
                    codes |= set(re.findall(r"`([a-z][a-z_]+)`", cells[column]))
        found[str(path.relative_to(ROOT))] = codes
    return found


def test_every_reason_code_quoted_in_the_docs_is_in_the_vocabulary() -> None:
    quoted = _quoted_reasons()
    assert sum(map(len, quoted.values())) >= 40  # the tables were found
    assert {doc: codes - set(DESCRIPTIONS) for doc, codes in quoted.items() if codes - set(DESCRIPTIONS)} == {}
    assert "identifier_invalid" in quoted["docs/rejected.md"]  # the JSONL example row


def test_the_local_store_writes_documented_csv_by_default(emu: EmulatorProcess, tmp_path: Path) -> None:
    text = " ".join((ROOT / "docs" / "customer-io.md").read_text().split())
    assert ("Without them it writes, as S3 does, uncompressed CSV without flattening (`format_type` `CSV`, "
            "`flattening` `No flattening`, `compression_type` `No Compression`)") in text
    header = "_airbyte_raw_id,_airbyte_extracted_at,_airbyte_meta,_airbyte_generation_id,_airbyte_data"
    assert f"with the header `{header}`" in text
    config = {"credentials": {"siteId": "demo-site", "apiKey": "demo-key"}, "track_api_base_url": emu.url,
              "object_storage_config": {"storage_type": "Local", "destination_path": str(tmp_path / "rejected")}}
    catalog = {"streams": [{"stream": {"name": "users", "json_schema": {}}, "sync_id": 5,
                            "destination_object_name": "person_identify", "destination_sync_mode": "append_dedup"}]}
    record = json.dumps({"type": "RECORD", "record": {"stream": "users", "data": {"plan": "pro"}, "emitted_at": 1}})

    run = run_connector(tmp_path, "write", config, catalog, [record])

    assert run.returncode == 0
    (written,) = (tmp_path / "rejected").rglob("*.*")
    assert written.suffix == ".csv" and written.relative_to(tmp_path / "rejected").parts[:1] == ("5",)
    assert written.read_text().splitlines()[0] == header
