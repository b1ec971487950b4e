#!/usr/bin/env python3
"""Keeps the language sections of README.md identical to the packages' own READMEs.

The root README carries each package's README (python/, node/, swift/) between markers, so
a newcomer reads every language in one place while each package keeps its own README (the
one its tests run the example from).

    scripts/readme.py          check (exit 1 if a section is stale)
    scripts/readme.py --write  copy the packages' READMEs into README.md
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ["python", "node", "swift"]


def sync(text: str) -> str:
    for pkg in PACKAGES:
        body = (ROOT / pkg / "README.md").read_text().rstrip("\n")
        begin, end = f"<!-- BEGIN {pkg}/README.md -->", f"<!-- END {pkg}/README.md -->"
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
        if not pattern.search(text):
            sys.exit(f"README.md has no section markers for {pkg}/README.md")
        text = pattern.sub(lambda _: f"{begin}\n{body}\n{end}", text)
    return text


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    synced = sync(text)
    if "--write" in sys.argv:
        readme.write_text(synced)
    elif synced != text:
        sys.exit("README.md's language sections differ from python/, node/ or swift/README.md: run scripts/readme.py --write")


if __name__ == "__main__":
    main()
