"""customerio_emulator: a local, faithful emulator of Customer.io's Track API (v2 and v1), with an
inspection API, fault injection and a lean mode for benchmarks. See docs/emulator.md.
"""

from .client import AsyncEmulatorClient, EmulatorClient
from .config import WorkspaceConfig
from .emulator import Emulator
from .faults import FaultConfig
from .process import EmulatorProcess, start_emulator_process

__all__ = [
    "AsyncEmulatorClient",
    "Emulator",
    "EmulatorClient",
    "EmulatorProcess",
    "FaultConfig",
    "WorkspaceConfig",
    "start_emulator_process",
]
