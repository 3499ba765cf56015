"""`make bench`: run every benchmark script in this folder, one after another, and echo their figures."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def main() -> int:
    scripts = sorted(p for p in HERE.glob("*.py") if p.name not in {"run_all.py", "__init__.py"})
    failures = 0
    for script in scripts:
        print(f"== {script.name}", flush=True)
        started = time.monotonic()
        proc = subprocess.run([sys.executable, str(script), *sys.argv[1:]], cwd=HERE.parent)
        print(f"== {script.name}: exit {proc.returncode} after {time.monotonic() - started:.1f}s", flush=True)
        failures += proc.returncode != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
