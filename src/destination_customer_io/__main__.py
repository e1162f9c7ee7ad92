"""``python -m destination_customer_io``: the same as the ``destination-customer-io`` command."""

from .cli import entry

entry()
