"""Object names: a name made one S3-safe path segment (Airbyte's rule), a feature's per-workspace folders
(the ledger's, the retry queue's), and ``check``'s probe keys."""

from __future__ import annotations

import hashlib
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


def scope_prefix(root: str, site_id: str, ledger_scope: str) -> str:
    """``root``'s folder for one workspace and ledger scope: the site id only hashed (it is a secret)."""
    site = hashlib.blake2b(site_id.encode(), digest_size=6).hexdigest()
    return f"{root}/site-{site}/{s3_safe(ledger_scope) or 'default'}/"


def stream_folder(namespace: str | None, name: str) -> str:
    """A stream as one path segment: ``<namespace or _>__<name>``, each part S3-safe."""
    return f"{s3_safe(namespace or '_')}__{s3_safe(name)}"


def check_key(bucket_path: str) -> str:
    """A fresh probe key inside bucket_path (unique, so concurrent checks do not interfere)."""
    key = re.sub(r"/+", "/", f"{bucket_path}/{PROBE_PREFIX}{uuid.uuid4().hex}")
    return key.lstrip("/")
