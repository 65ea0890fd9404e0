"""Package discovery; everything else is in pyproject.toml.

Two folders feed the one import tree ``looped_hrm``: ``looped_hrm/`` and ``plugins/`` (installed as
``looped_hrm.plugins``, see ``package-dir`` in pyproject.toml). setuptools' declarative
``packages.find`` cannot prefix the second folder's packages, so they are found here: a new
sub-package (any folder with an ``__init__.py``) is picked up without editing a list.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["looped_hrm", "looped_hrm.*"])
    + ["looped_hrm.plugins"]
    + [f"looped_hrm.plugins.{name}" for name in find_packages("plugins")]
)
