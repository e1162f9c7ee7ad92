"""Workspace configuration: which (site id, API key, region) pairs the emulator accepts.

Loads the `--workspaces FILE.json` format (`[{"site_id":..,"api_key":..,"region":"us"|"eu"}]`) and
supplies the no-argument default workspace.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

REGIONS = ("us", "eu")
DEFAULT_SITE_ID = "demo-site"
DEFAULT_API_KEY = "demo-key"


@dataclass(frozen=True)
class WorkspaceConfig:
    """One emulated Customer.io workspace: its credentials, region and environment id."""

    site_id: str
    api_key: str
    region: str = "us"
    environment_id: int = 0  # 0 = assign from the workspace's position (1, 2, ...)

    def __post_init__(self) -> None:
        if self.region not in REGIONS:
            raise ValueError(f"region must be one of {REGIONS}, got {self.region!r}")
        if not self.site_id or not self.api_key:
            raise ValueError("site_id and api_key must be non-empty")
        if ":" in self.site_id:
            # HTTP Basic splits user:password at the first colon: a colon in the user cannot round-trip.
            raise ValueError("site_id must not contain ':'")

    def to_json(self) -> dict[str, Any]:
        return {
            "site_id": self.site_id,
            "api_key": self.api_key,
            "region": self.region,
            "environment_id": self.environment_id,
        }


def default_workspaces() -> list[WorkspaceConfig]:
    return [WorkspaceConfig(DEFAULT_SITE_ID, DEFAULT_API_KEY, "us", 1)]


def coerce_workspaces(items: Iterable[Any] | None) -> list[WorkspaceConfig]:
    """Accept WorkspaceConfig objects, dicts or (site_id, api_key[, region]) tuples; number them."""
    if items is None:
        return default_workspaces()
    result: list[WorkspaceConfig] = []
    for position, item in enumerate(items, start=1):
        if isinstance(item, WorkspaceConfig):
            config = item
        elif isinstance(item, dict):
            config = WorkspaceConfig(
                site_id=str(item["site_id"]),
                api_key=str(item["api_key"]),
                region=str(item.get("region", "us")),
                environment_id=int(item.get("environment_id", 0)),
            )
        else:
            config = WorkspaceConfig(*item)
        if config.environment_id == 0:
            config = WorkspaceConfig(config.site_id, config.api_key, config.region, position)
        result.append(config)
    if not result:
        raise ValueError("at least one workspace is required")
    site_ids = [w.site_id for w in result]
    if len(set(site_ids)) != len(site_ids):
        raise ValueError("workspace site ids must be unique")
    return result


def load_workspaces_file(path: str | Path) -> list[WorkspaceConfig]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of workspaces")
    return coerce_workspaces(data)
