"""``python -m bench`` (``make bench``)."""
import sys

from bench.suite import main

sys.exit(main())
