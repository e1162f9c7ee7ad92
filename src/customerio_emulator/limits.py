"""The Track API's documented limits, as the emulator enforces them: its own table, from Customer.io's
documentation (not the connector's), so a test comparing the two can catch a wrong limit on either side.

Every size is in UTF-8 bytes: Customer.io counts bytes, not characters. Sources: the Track API
reference, https://docs.customer.io/api/track/ (its OpenAPI description, ``journeys-track.json``), and
"Invalid API Requests", https://docs.customer.io/journeys/invalid-api-requests (the error messages a
request over each limit gets); collected in shared/reference/customerio-track-api.md ("Limits").
"""

from __future__ import annotations

from typing import Final

# "id attribute" of a person; an object's object_id (Track API reference, identifiers: 150 bytes).
IDENTIFIER_BYTES: Final = 150
# "attribute name cannot be longer than 150 bytes" (Invalid API Requests).
ATTRIBUTE_NAME_BYTES: Final = 150
# "value for attribute '...' cannot be longer than 1000 bytes" (Invalid API Requests); a nested value
# counts as its serialised JSON.
ATTRIBUTE_VALUE_BYTES: Final = 1_000
# "cannot identify more than 300 attributes in one request" (Invalid API Requests).
ATTRIBUTES_PER_CALL: Final = 300
# Total attribute size of a person, object or relationship: "100 KB" (Track API reference), read as
# 100,000 bytes, the stricter reading: a client that passes here is within the limit either way.
ATTRIBUTES_TOTAL_BYTES: Final = 100_000
# "event name cannot be longer than 100 bytes" (Invalid API Requests).
EVENT_NAME_BYTES: Final = 100
# "event data cannot be longer than 100000 bytes" (Invalid API Requests).
EVENT_DATA_BYTES: Final = 100_000
# One v2 operation, alone on /api/v2/entity or one element of a batch: "32 KB" (Track API reference,
# v2 entity and batch: each op at most 32,768 bytes).
OP_BYTES: Final = 32_768
# A v2 batch request body: "less than 500 KB" (Track API reference, v2 batch), read as 500,000 bytes
# (the stricter reading, as above).
BATCH_BYTES: Final = 500_000
# v1 manual segments, add_customers / remove_customers: at most 1,000 ids per call (Track API reference).
SEGMENT_IDS_PER_CALL: Final = 1_000

# By name, the same names as destination_customer_io.limits.LIMITS (tests/emulator/test_limits.py
# compares the two tables).
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
