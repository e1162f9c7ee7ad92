"""Object names: a name made one S3-safe path segment (Airbyte's rule), and ``check``'s probe keys."""

from __future__ import annotations

import re
import unicodedata
import uuid

# Airbyte's toS3SafeCharacters keeps these; "/" is dropped here so a stream is one path segment.
_UNSAFE = re.compile(r"[^A-Za-z0-9!_.*')(&$@=;:+,?\-]")

PROBE_PREFIX = "_check_test_"  # the name of `check`'s probe objects, before a random hex part


def s3_safe(name: str) -> str:
    """Airbyte's S3-safe transformation: strip accents, replace anything else with "_"."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    safe = _UNSAFE.sub("_", plain)
    # "." and ".." would be path navigation for the Local store
    return "_" * len(safe) if safe in (".", "..") else safe


def check_key(bucket_path: str) -> str:
    """A fresh probe key inside bucket_path (unique, so concurrent checks do not interfere)."""
    key = re.sub(r"/+", "/", f"{bucket_path}/{PROBE_PREFIX}{uuid.uuid4().hex}")
    return key.lstrip("/")
