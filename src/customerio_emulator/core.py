"""The emulator's whole state: its workspaces, fault injector, request log and options.

One `EmulatorCore` serves every route; the aiohttp handlers in `server.py`, `v1.py` and
`inspection.py` read and change it.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any, Iterable

from . import contract
from .auth import decode_basic
from .config import WorkspaceConfig, coerce_workspaces
from .faults import FaultConfig, FaultInjector
from .requestlog import RequestLog
from .workspace import Workspace

_AUTH_CACHE_SIZE = 256
# After this many applied ops, move every live object to the GC's permanent generation (gc.freeze).
# Stored state is long-lived and acyclic, yet every full collection would traverse all of it again:
# with a million stored events that made full mode several times slower. Frozen objects are still
# freed by reference counting; only cyclic garbage alive at that instant (a few in-flight request
# objects) escapes collection, a bounded and tiny cost.
FREEZE_EVERY_OPS = 50_000


class EmulatorCore:
    def __init__(
        self,
        workspaces: Iterable[Any] | None = None,
        *,
        lean: bool = False,
        faults: FaultConfig | None = None,
        request_log_size: int = 1_000,
        strict_contract: bool = False,
    ) -> None:
        configs: list[WorkspaceConfig] = coerce_workspaces(workspaces)
        self.workspaces: dict[str, Workspace] = {c.site_id: Workspace(c) for c in configs}
        self.lean = lean
        # Strict-contract mode: Customer.io's published document checks every Track request (contract.py).
        self.contract = contract.load() if strict_contract else None
        self.startup_faults = faults or FaultConfig()
        self.faults = FaultInjector(self.startup_faults)
        self.log = RequestLog(request_log_size)
        self.server_counters: dict[str, int] = {"unauthorized": 0}
        self._auth_cache: dict[str, Workspace] = {}
        self._ops_since_freeze = 0
        # Created lazily inside the running loop; hanging requests wait on it until shutdown.
        self._shutdown: asyncio.Event | None = None

    @property
    def shutdown_event(self) -> asyncio.Event:
        if self._shutdown is None:
            self._shutdown = asyncio.Event()
        return self._shutdown

    def authenticate(self, header: str | None) -> Workspace | None:
        if header is None:
            return None
        cached = self._auth_cache.get(header)
        if cached is not None:
            return cached
        credentials = decode_basic(header)
        if credentials is None:
            return None
        workspace = self.workspaces.get(credentials[0])
        if workspace is None or workspace.config.api_key != credentials[1]:
            return None
        if len(self._auth_cache) < _AUTH_CACHE_SIZE:
            self._auth_cache[header] = workspace
        return workspace

    def applied(self, count: int) -> None:
        """Note `count` ops applied to the state; freeze the GC's view of it now and then."""
        self._ops_since_freeze += count
        if self._ops_since_freeze >= FREEZE_EVERY_OPS:
            self._ops_since_freeze = 0
            gc.freeze()

    def workspace(self, site_id: str | None = None) -> Workspace:
        """The named workspace, or the first one. KeyError for an unknown site id."""
        if site_id is None:
            return next(iter(self.workspaces.values()))
        return self.workspaces[site_id]

    def reset(self, site_id: str | None = None) -> None:
        """Empty state, counters and the request log; restore the start-up faults."""
        targets = [self.workspace(site_id)] if site_id else list(self.workspaces.values())
        for workspace in targets:
            workspace.reset()
        gc.unfreeze()  # let the dropped state (and anything frozen with it) be collected normally
        if site_id is None:
            self.log.clear()
            self.server_counters = {"unauthorized": 0}
            self.faults.counters.clear()
            self.faults.set(self.startup_faults)
