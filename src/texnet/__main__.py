"""`python -m texnet` is the `texnet` command."""
import sys

from texnet.apps.cli import main

sys.exit(main())
