"""Customer.io's documented Track API limits, as the connector checks them before sending.

Every size is in UTF-8 bytes (Customer.io counts bytes, not characters). Source: the Track API OpenAPI
description and Customer.io's docs, collected in shared/reference/customerio-track-api.md. The emulator
declares its own table from the same documentation (customerio_emulator/limits.py);
tests/emulator/test_limits.py compares the two name by name.
"""

from __future__ import annotations

from typing import Final

IDENTIFIER_BYTES: Final = 150  # person id / email / cio_id, object id
ATTRIBUTE_NAME_BYTES: Final = 150
ATTRIBUTE_VALUE_BYTES: Final = 1_000  # nested values: their serialised JSON
ATTRIBUTES_PER_CALL: Final = 300
ATTRIBUTES_TOTAL_BYTES: Final = 100_000  # "100 KB"; 100,000 is the safe reading of KB
EVENT_NAME_BYTES: Final = 100
EVENT_DATA_BYTES: Final = 100_000
OP_BYTES: Final = 32_768  # one v2 op (entity body or one element of a batch)
BATCH_BYTES: Final = 500_000  # one v2 batch body ("< 500 KB": 500,000 is the safe reading)
SEGMENT_IDS_PER_CALL: Final = 1_000  # v1 manual segment add/remove
ULID_LENGTH: Final = 26

# By name: for documentation and for the test that compares it with the emulator's table.
LIMITS: Final[dict[str, int]] = {
    "identifier_bytes": IDENTIFIER_BYTES,
    "attribute_name_bytes": ATTRIBUTE_NAME_BYTES,
    "attribute_value_bytes": ATTRIBUTE_VALUE_BYTES,
    "attributes_per_call": ATTRIBUTES_PER_CALL,
    "attributes_total_bytes": ATTRIBUTES_TOTAL_BYTES,
    "event_name_bytes": EVENT_NAME_BYTES,
    "event_data_bytes": EVENT_DATA_BYTES,
    "op_bytes": OP_BYTES,
    "batch_bytes": BATCH_BYTES,
    "segment_ids_per_call": SEGMENT_IDS_PER_CALL,
}
