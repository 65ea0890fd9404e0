"""``python -m looped_hrm.bench`` (see `looped_hrm.bench.cli`)."""

import sys

from looped_hrm.bench.cli import main

sys.exit(main())
