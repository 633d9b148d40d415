"""Build the standalone app with PyInstaller, then smoke-test what was built.

    pip install . pyinstaller && python installer/build.py [--dist DIR]

Writes DIR/stemscope/ (default installer/dist/stemscope/, a folder to zip or wrap in a platform
installer) with its `stemscope` executable. The smoke test runs the frozen app as CI would run
it headless (Friture's smoke test): `stemscope info --json` on the demo, and `stemscope open
--screenshot --analyze` offscreen; it fails on a non-zero status, a traceback in the output, or
a missing picture.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def build(dist: Path, work: Path) -> Path:
    subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
                    "--distpath", str(dist), "--workpath", str(work), str(HERE / "stemscope.spec")], check=True)
    exe = dist / "stemscope" / ("stemscope.exe" if os.name == "nt" else "stemscope")
    if not exe.is_file():
        raise SystemExit(f"PyInstaller finished but {exe} is missing")
    return exe


def smoke_test(exe: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="stemscope-smoke-") as tmp:
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "STEMSCOPE_CACHE_DIR": str(Path(tmp) / "cache")}
        runs = {
            "info": [str(exe), "info", "--json"],
            "open": [str(exe), "open", "--screenshot", str(Path(tmp) / "smoke.png"), "--analyze"],
        }
        for name, command in runs.items():
            proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
            output = proc.stdout + proc.stderr
            if proc.returncode != 0 or "Traceback" in output:
                raise SystemExit(f"smoke test '{name}' failed (status {proc.returncode}):\n{output[-4000:]}")
            if name == "info":
                tracks = json.loads(proc.stdout)["tracks"]
                print(f"smoke test info: the demo session's {len(tracks)} tracks")
        picture = Path(tmp) / "smoke.png"
        if not picture.is_file() or picture.stat().st_size < 10_000:
            raise SystemExit("smoke test 'open' wrote no screenshot")
        print(f"smoke test open --screenshot --analyze: {picture.stat().st_size // 1024} kB picture")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=HERE / "dist", help="where the app folder goes")
    parser.add_argument("--work", type=Path, default=HERE / "build", help="PyInstaller's scratch folder")
    parser.add_argument("--no-smoke-test", action="store_true")
    args = parser.parse_args()
    exe = build(args.dist, args.work)
    size = sum(f.stat().st_size for f in exe.parent.rglob("*") if f.is_file() and not f.is_symlink())
    print(f"built {exe} ({size / 2**20:.0f} MB in {exe.parent})")
    if not args.no_smoke_test:
        smoke_test(exe)


if __name__ == "__main__":
    main()
