"""A throw-away certificate authority for HTTPS tests (trustme): PEM files on disk, as users have them.

    pki = TestPKI.create(tmp_path)
    pki.ca_file                   # the CA bundle to trust (SSL_CERT_FILE, REQUESTS_CA_BUNDLE, AWS_CA_BUNDLE)
    pki.cert_file, pki.key_file   # a server certificate for loopback and the Track API's public names
    pki.client_context()          # an ssl.SSLContext trusting only this CA, for the tests' own clients
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

# Loopback for the emulator and moto; the public names for tests that reach them through the proxy.
SERVER_NAMES = ("localhost", "127.0.0.1", "track.customer.io", "track-eu.customer.io")


@dataclass(frozen=True)
class TestPKI:
    ca_file: Path
    cert_file: Path
    key_file: Path
    _ca: trustme.CA
    _cert: trustme.LeafCert

    __test__ = False  # not a test class, whatever its name

    @classmethod
    def create(cls, directory: Path) -> TestPKI:
        directory.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA()
        cert = ca.issue_cert(*SERVER_NAMES)
        ca_file, cert_file, key_file = directory / "ca.pem", directory / "server.pem", directory / "server.key"
        ca.cert_pem.write_to_path(str(ca_file))
        cert.private_key_pem.write_to_path(str(key_file))
        cert_file.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
        return cls(ca_file, cert_file, key_file, ca, cert)

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        return context

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._cert.configure_cert(context)
        return context
