"""`python -m customerio_emulator`: same as the `customerio-emulator` command."""

import sys

from .cli import main

sys.exit(main())
