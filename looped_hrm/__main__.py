"""``python -m looped_hrm`` (see `looped_hrm.cli`)."""

import sys

from looped_hrm.cli import main

sys.exit(main())
