"""Defaults shared by the Python API and the plugin's options.

Its own module so that the plugin can name them in ``--help`` without importing the
host machinery (execnet, yaml) in a pytest run that uses no workspace.
"""

from typing import Optional

#: Time limit in seconds of one call into a code location.
DEFAULT_TIMEOUT: Optional[float] = 300.0
#: Time limit in seconds of starting a location's interpreter (until it answers).
START_TIMEOUT = 30.0
#: Time limit in seconds of starting a location's worker and importing its code.
DEFAULT_LOAD_TIMEOUT: Optional[float] = 300.0
