"""synclog.py's pure parts: the config fingerprint gives no secret away and tells configs apart; an op's
key and action as a row names them."""

from __future__ import annotations

from typing import Any

from destination_customer_io.config import parse_config
from destination_customer_io.synclog import _about, fingerprint


def _config(**extra: Any) -> Any:
    storage = {"storage_type": "S3", "s3_bucket_name": "bucket", "bucket_path": "cio", "s3_bucket_region": "eu-west-1",
               "access_key_id": "AKIAEXAMPLEKEYID", "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
    return parse_config({"credentials": {"siteId": "site-secret-1", "apiKey": "api-secret-2"},
                         "object_storage_config": storage, "sync_log": True, **extra})


def test_the_fingerprint_hashes_the_config_without_its_secrets() -> None:
    config = _config()
    assert fingerprint(config) == fingerprint(_config())
    assert fingerprint(config) != fingerprint(_config(lanes=4))  # a setting changes it
    # credentials and S3 keys are not part of it: other secrets, same fingerprint
    other = parse_config({"credentials": {"siteId": "s", "apiKey": "k"}, "sync_log": True,
                          "object_storage_config": {**{"storage_type": "S3", "s3_bucket_name": "bucket",
                                                       "bucket_path": "cio", "s3_bucket_region": "eu-west-1"},
                                                    "access_key_id": "AKIAOTHER", "secret_access_key": "other"}})
    assert fingerprint(other) == fingerprint(config)
    assert fingerprint(config).startswith("sha256:") and len(fingerprint(config)) == 7 + 64


def test_an_ops_key_and_action() -> None:
    assert _about(b'{"type":"person","identifiers":{"email":"a@b.co"},"action":"identify"}', None) == (
        "email:a@b.co", "person.identify")
    assert _about(b'{"type":"person","anonymous_id":"anon-1","action":"event","name":"x"}', None) == (
        "anonymous_id:anon-1", "person.event")
    assert _about(b'{"type":"object","identifiers":{"object_type_id":"1","object_id":"acme"},"action":"identify"}',
                  None) == ("object_type_id:1,object_id:acme", "object.identify")
    route = "/api/v1/segments/7/add_customers?id_type=email"
    assert _about(b'"a@b.co"', route) == ("email:a@b.co", route)
    assert _about(b'"42"', "/api/v1/segments/7/add_customers") == ("id:42", "/api/v1/segments/7/add_customers")
