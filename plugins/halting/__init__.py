"""The built-in halting policies, one module each, registered through the ``halting`` entry point.

Each module defines its config dataclass, its policy class and a ``SPEC``; this package's hook
returns them all. A third-party policy does the same from its own package (see
`looped_hrm.contracts.HaltingPolicy`).
"""

from __future__ import annotations

from looped_hrm import hookimpl
from looped_hrm.contracts import HaltingSpec
from looped_hrm.plugins.halting import (
    act_bce,
    act_ponder,
    act_q,
    converged,
    fixed,
    oracle,
    pondernet,
    two_level,
    verifier,
)

_MODULES = (fixed, act_q, act_bce, act_ponder, pondernet, two_level, verifier, converged, oracle)


@hookimpl
def looped_hrm_halting_policies() -> list[HaltingSpec]:
    return [module.SPEC for module in _MODULES]
