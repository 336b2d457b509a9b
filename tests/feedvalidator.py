"""The W3C Feed Validation Service's own validator, run offline on files.

It lives in the shared tool folder beside the repository
(`../shared/tools/feedvalidator/validate.py`); it needs html5lib and rdflib
(the `test` extra installs them).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VALIDATOR = ROOT.parent / "shared" / "tools" / "feedvalidator" / "validate.py"

# Warnings that say nothing about our feeds: the validator's view of files
# read from disk, or advice that contradicts what consumers need.
IGNORED_WARNINGS = {
    "SelfDoesntMatchLocation",  # the files are validated from disk, not from base_url
}


def validate(paths: list[Path], bases: list[str] | None = None) -> dict[str, dict[str, list[dict[str, str]]]]:
    """{file: {"errors": [...], "warnings": [...]}} for each RSS or Atom file."""
    if not VALIDATOR.exists():
        raise AssertionError(f"the W3C feed validator is missing: {VALIDATOR}")
    args = [sys.executable, str(VALIDATOR)]
    for base in bases or []:
        args += ["--base", base]
    proc = subprocess.run([*args, *map(str, paths)], capture_output=True, text=True, timeout=300, check=False)
    results = {}
    for line in proc.stdout.splitlines():
        data = json.loads(line)
        results[data["file"]] = {
            "errors": data["errors"],
            "warnings": [w for w in data["warnings"] if w["class"] not in IGNORED_WARNINGS],
        }
    assert len(results) == len(paths), proc.stderr
    return results


def problems(paths: list[Path]) -> list[str]:
    """Every error and warning, one line each, naming the file."""
    return [f"{Path(f).name}: {kind}: {item['class']}: {item['msg']}"
            for f, result in validate(paths).items() for kind in ("errors", "warnings") for item in result[kind]]
