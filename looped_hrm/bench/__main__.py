"""``python -m looped_hrm.bench`` (see `looped_hrm.bench`)."""

import sys

from looped_hrm.bench import main

sys.exit(main())
