"""looped_hrm: a plugin-based benchmark suite for adaptive-compute reasoning models.

The core (this package) holds no task, model or halting rule: it defines the contract
(`looped_hrm.contracts`, `looped_hrm.hookspecs`), finds plugins (`looped_hrm.registry`), and trains,
evaluates and tabulates them (`looped_hrm.experiment`, `looped_hrm.runner`, `looped_hrm.report`), and
offers it all as one command line (`looped_hrm.commands`).
"""

from looped_hrm.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["hookimpl", "__version__"]
