"""Fetch the JUnit schema pytest validates its xunit2 files against (junit-10.xsd) from pytest's sdist.

Usage: python tests/tools/fetch_junit_schema.py DEST. The sdist of the installed pytest version comes
from the package index like any dependency; the schema (MIT, Gregory Boissinot) is extracted to DEST.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

MEMBER = "testing/example_scripts/junit-10.xsd"


def main(dest: Path) -> int:
    if dest.is_file():
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
             f"pytest=={pytest.__version__}", "-d", tmp],
            check=True,
        )
        (sdist,) = Path(tmp).glob("pytest-*.tar.gz")
        with tarfile.open(sdist) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith(MEMBER))
            data = tar.extractfile(member)
            assert data is not None
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data.read())
    print(f"JUnit schema saved to {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
