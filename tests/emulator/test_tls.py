"""The emulator over HTTPS: in process (``ssl_context``) and from the CLI (``--tls-cert``/``--tls-key``);
the region answer names the host with the scheme it was reached by."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from customerio_emulator import Emulator, start_emulator_process
from customerio_emulator.testing import basic_auth
from tests.support.tls import TestPKI

EU = {"site_id": "eu-site", "api_key": "eu-key", "region": "eu"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return TestPKI.create(tmp_path_factory.mktemp("pki"))


async def test_in_process_https_region_answer_and_redirect_keep_https(pki: TestPKI) -> None:
    auth = {"Authorization": basic_auth("eu-site", "eu-key")}
    async with Emulator([EU], ssl_context=pki.server_context()) as emu, aiohttp.ClientSession() as session:
        assert emu.url.startswith("https://127.0.0.1:")
        ssl = pki.client_context()
        async with session.get(emu.url + "/api/v1/accounts/region", headers=auth, ssl=ssl) as answer:
            assert answer.status == 200
            assert (await answer.json())["url"] == emu.url + "/eu"
        async with session.post(emu.url + "/api/v2/batch", json={"batch": []}, headers=auth, ssl=ssl,
                                allow_redirects=False) as answer:
            assert answer.status == 307
            assert answer.headers["Location"] == emu.url + "/eu/api/v2/batch"


async def test_plain_http_clients_are_not_served_by_an_https_emulator(pki: TestPKI) -> None:
    async with Emulator([EU], ssl_context=pki.server_context()) as emu, aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            async with session.get(emu.url.replace("https:", "http:") + "/auth", timeout=aiohttp.ClientTimeout(5)):
                pass


def test_the_cli_serves_https_and_prints_an_https_url(pki: TestPKI) -> None:
    with start_emulator_process([EU], tls=(str(pki.cert_file), str(pki.key_file)),
                                client_context=pki.client_context()) as emu:
        assert emu.url.startswith("https://127.0.0.1:")
        assert emu.client.health()  # the inspection API over the same TLS port
        assert emu.client.workspaces()[0]["site_id"] == "eu-site"


@pytest.mark.parametrize("args", [["--tls-cert", "x.pem"], ["--tls-key", "x.key"]])
def test_the_cli_wants_the_certificate_and_key_together(args: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "customerio_emulator", "--port", "0", *args],
                          capture_output=True, timeout=30)
    assert done.returncode == 2
    assert b"--tls-cert and --tls-key go together" in done.stderr


def test_the_cli_names_an_unreadable_certificate(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "customerio_emulator", "--port", "0", "--tls-cert",
                           str(tmp_path / "none.pem"), "--tls-key", str(tmp_path / "none.key")],
                          capture_output=True, timeout=30)
    assert done.returncode == 2
    assert b"customerio-emulator:" in done.stderr and b"Traceback" not in done.stderr
