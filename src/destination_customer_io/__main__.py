"""``python -m destination_customer_io``: the same as the ``destination-customer-io`` command."""

import sys

from .cli import main

sys.exit(main())
