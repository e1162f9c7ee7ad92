"""HTTP Basic authentication as the Track API does it: user = site id, password = Track API key.

Both base64 alphabets are accepted (the Go client sends URL-safe base64) and padding is optional.
"""

from __future__ import annotations

import base64
import binascii

_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


def decode_basic(header: str | None) -> tuple[str, str] | None:
    """Return (user, password) from an `Authorization: Basic ...` header, or None if unusable."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    raw = token.strip().encode("ascii", "replace").translate(_URLSAFE_TO_STANDARD).rstrip(b"=")
    raw += b"=" * (-len(raw) % 4)
    try:
        decoded = base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None
    return user, password
