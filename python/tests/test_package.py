"""The package as a user gets it: the wheel maturin built, installed into a new virtual
environment with nothing else, imported, and used by a short script. The README's example
runs as written too."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
from pathlib import Path

from support import REPO

SCRIPT = """
import asyncio
import portway

async def main():
    pw = portway.Portway(domains=["localhost"])
    sandbox = pw.sandbox("wheel-box")
    exposed = await sandbox.expose_port(8080, hostname="localhost:8787")
    print(exposed.url)
    print(portway.__file__)

asyncio.run(main())
"""


def run(args: list[str | Path], cwd: Path) -> str:
    """Runs a command; its output, or a failure that shows what it printed."""
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=cwd)
    assert done.returncode == 0, f"{args[:3]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def the_wheel() -> Path:
    """The wheel test.sh built (PORTWAY_WHEEL), else the newest in python/dist."""
    given = os.environ.get("PORTWAY_WHEEL")
    if given:
        return Path(given)
    wheels = sorted((REPO / "python" / "dist").glob("portway-*.whl"), key=os.path.getmtime)
    assert wheels, "no wheel: run python/test.sh, or maturin build -o python/dist"
    return wheels[-1]


def test_the_wheel_in_a_new_venv(tmp_path: Path) -> None:
    wheel = the_wheel()
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    run([python, "-m", "pip", "install", "--quiet", "--no-index", str(wheel)], cwd=tmp_path)
    # Not from the repository: the installed package is the one imported.
    out = run([python, "-c", SCRIPT], cwd=tmp_path).splitlines()
    assert re.fullmatch(r"http://8080-wheel-box-[a-z0-9]{16}\.localhost:8787/", out[0]), out
    assert out[1].startswith(str(env_dir)), out[1]


def readme_example() -> str:
    text = (REPO / "python" / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert blocks, "python/README.md has no python example"
    return blocks[0]


def test_the_readme_example_runs_as_written(tmp_path: Path) -> None:
    out = run([sys.executable, "-c", readme_example()], cwd=tmp_path)
    assert re.search(r"http://\d+-my-sandbox-[a-z0-9]{16}\.localhost:\d+/", out), out


def test_the_readme_example_type_checks_against_the_stubs(tmp_path: Path) -> None:
    """The stubs are usable: mypy --strict accepts the README's example as written."""
    from mypy import api

    example = tmp_path / "example.py"
    example.write_text(readme_example())
    out, err, status = api.run(
        ["--strict", "--cache-dir", str(tmp_path / "mypy-cache"), str(example)]
    )
    assert status == 0, out + err
