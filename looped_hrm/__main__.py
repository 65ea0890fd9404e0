"""``python -m looped_hrm`` (see `looped_hrm.commands`)."""

import sys

from looped_hrm.commands import main

sys.exit(main())
