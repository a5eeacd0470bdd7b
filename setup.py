"""Only here for the optional C accelerator; all metadata lives in pyproject.toml.

``optional=True``: where no C compiler is available the install still succeeds and ami_nb uses its pure-Python
parser (the reference implementation, identical output; tests compare the two).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("ami_nb._speedups", ["ami_nb/_speedups.c"], optional=True)])
