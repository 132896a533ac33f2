"""Which isolation the job tests run under."""

import os
from pathlib import Path

from aisc.executors import sandbox
from aisc.executors.local import LocalExecutor

# Jobs run sandboxed where the machine allows it (as root with Bubblewrap, as in CI); elsewhere in
# the single-user development mode, chosen explicitly as an operator would.
ISOLATION = (
    "none" if sandbox.unavailable() and os.environ.get("AISC_TEST_ISOLATION") != "1" else "sandbox"
)


def executor(root: Path) -> LocalExecutor:
    return LocalExecutor(root, isolation=ISOLATION)
