"""The floor controller compiled with mypyc, built beside the source and loaded only when it
was built from exactly the source there now (docs/loop.md, "The compiled controller").

scheduler/control/controller.py is typed so that mypyc makes native classes of it (typed C
fields, direct calls): the twin's run with the controller inside costs less CPU. `build()`
compiles it into scheduler/control/__native__/ (not on the import path, git-ignored) and writes
there the sha256 of the source it compiled. `load()` (called by scheduler/control/__init__.py
before anything imports the controller) puts the compiled module in sys.modules as
`scheduler.control.controller` only when that hash is the current source's: a stale build never
shadows an edited controller, it is ignored. GWF_PURE=1 forces the pure Python. `status()` says
which one runs and why. A failed build prints one line and leaves the pure Python: the same
decisions, only slower.

    python -c 'from scheduler.control import native; native.main([])'            build if the source changed
    python -c 'from scheduler.control import native; native.main(["--status"])'  which controller an import gets
"""
from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

MODULE = "scheduler.control.controller"
HERE = Path(__file__).resolve().parent
SOURCE = HERE / "controller.py"
OUT = HERE / "__native__"  # the build: the module and the hash of the source it was made from
HASH_FILE = "source.sha256"
_status = "pure: not loaded yet"


def source_hash(path: Path = SOURCE) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def module_path(out: Path = OUT, name: str = "controller") -> Path:
    """Where a compiled module is (or would be) kept: mypyc makes the module (a shim) and its
    code in a library beside it (`controller__mypyc`), which the shim imports by full name."""
    return out / (name + sysconfig.get_config_var("EXT_SUFFIX"))


LIBRARY = "controller__mypyc"


def built_hash(out: Path = OUT) -> str | None:
    """The sha256 of the source the build in `out` was made from, None when there is none."""
    try:
        complete = module_path(out).exists() and module_path(out, LIBRARY).exists()
        return (out / HASH_FILE).read_text().strip() if complete else None
    except OSError:
        return None


def why_pure(out: Path = OUT, source: Path = SOURCE) -> str | None:
    """Why an import gets the pure Python controller (a status line), None when the build fits."""
    if os.environ.get("GWF_PURE", "") not in ("", "0"):
        return "pure: GWF_PURE=1"
    built = built_hash(out)
    if built is None:
        return "pure: not built (make builds it: native.build())"
    if built != source_hash(source):
        return "pure: source changed since build"
    return None


def load() -> None:
    """Put the compiled controller in sys.modules when it fits the source (see why_pure);
    otherwise leave the import to the pure Python. Never raises: a module that cannot load
    (another Python, a broken file) is a status, not an error."""
    global _status
    if MODULE in sys.modules:  # already imported (this is called once, before the controller)
        return
    reason = why_pure(OUT, SOURCE)  # (read at the call: tests point OUT elsewhere)
    if reason is not None:
        _status = reason
        return
    library = MODULE + "__mypyc"
    try:
        _load_extension(library, module_path(OUT, LIBRARY))  # first: the shim imports it
        _load_extension(MODULE, module_path(OUT))
    except Exception as exc:  # noqa: BLE001 - any failure leaves the pure Python
        sys.modules.pop(MODULE, None)
        sys.modules.pop(library, None)
        _status = f"pure: compiled module failed to load ({type(exc).__name__}: {exc})"
        return
    _status = "compiled"


def _load_extension(name: str, path: Path) -> None:
    """Import the extension module at `path` as `name` (a path not on sys.path)."""
    loader = importlib.machinery.ExtensionFileLoader(name, str(path))
    spec = importlib.util.spec_from_file_location(name, str(path), loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)


def compiled_module():
    """The compiled controller module beside whatever this process runs (a comparison's other
    side; sys.modules is left as it was), or None when there is no build of this source. The
    compiled one when it runs; else loaded from the build, which names itself like the source."""
    if is_compiled():
        return sys.modules[MODULE]
    if built_hash(OUT) != source_hash(SOURCE):
        return None
    library = MODULE + "__mypyc"
    kept = {name: sys.modules.pop(name) for name in (MODULE, library) if name in sys.modules}
    try:
        _load_extension(library, module_path(OUT, LIBRARY))
        _load_extension(MODULE, module_path(OUT))
        return sys.modules[MODULE]
    finally:
        sys.modules.pop(MODULE, None)
        sys.modules.pop(library, None)
        sys.modules.update(kept)


def status() -> str:
    """'compiled', or 'pure: <why>': which controller `scheduler.control` runs in this process."""
    module = sys.modules.get(MODULE)
    if module is not None and _status == "compiled" and not getattr(module, "__file__", "").endswith(".py"):
        return "compiled"
    return _status if _status != "compiled" else "pure: the source module was imported first"


def is_compiled() -> bool:
    return status() == "compiled"


_BUILD = """
import sys
from setuptools import Distribution
from mypyc.build import mypycify

ext = mypycify(["--follow-imports=silent", "--ignore-missing-imports", "--cache-dir", sys.argv[3], "scheduler/control/controller.py"],
               opt_level="3", target_dir=sys.argv[2])
dist = Distribution({"ext_modules": ext})
cmd = dist.get_command_obj("build_ext")
cmd.build_lib, cmd.build_temp = sys.argv[1], sys.argv[2]
dist.run_command("build_ext")
"""


def build(out: Path = OUT, force: bool = False, quiet: bool = True) -> bool:
    """Compile controller.py into `out` unless the build there already fits the source. True
    when a fitting build is there afterwards. Never raises: a missing mypyc or C compiler prints
    one line and leaves the pure Python."""
    digest = source_hash()
    if not force and built_hash(out) == digest:
        (out / HASH_FILE).touch()  # up to date: newer than the source, for make
        return True
    root = HERE.parent.parent
    with tempfile.TemporaryDirectory(prefix="gwf-native-") as tmp:
        lib = Path(tmp) / "lib"
        try:
            done = subprocess.run([sys.executable, "-c", _BUILD, str(lib), str(Path(tmp) / "build"), str(Path(tmp) / "cache")],
                                  cwd=root, capture_output=True, text=True, timeout=1200)
        except (OSError, subprocess.SubprocessError) as exc:
            print(f"native: controller not compiled ({exc}); the pure Python runs")
            return False
        made = [module_path(lib / "scheduler" / "control", name) for name in ("controller", LIBRARY)]
        if done.returncode != 0 or not all(path.exists() for path in made):
            last = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or ["no output"])[-1]
            print(f"native: controller not compiled ({last[:200]}); the pure Python runs")
            return False
        if source_hash() != digest:  # edited while compiling: this build is of neither version
            print("native: controller.py changed while compiling; the pure Python runs")
            return False
        out.mkdir(parents=True, exist_ok=True)
        (out / HASH_FILE).unlink(missing_ok=True)  # no hash, no load, while the module is replaced
        for path in made:
            staged = out / (path.name + ".new")
            shutil.copyfile(path, staged)
            os.replace(staged, out / path.name)  # a new inode: a process holding the old one keeps it
        (out / HASH_FILE).write_text(digest + "\n")
    if not quiet:
        print(f"native: controller compiled into {out}")
    return True


def main(argv: list[str]) -> int:
    if "--status" in argv:
        import scheduler.control.native as imported  # the package loaded it (run as __main__, this is a copy)

        print(imported.status())
        return 0
    build(force="--force" in argv, quiet=False)
    return 0  # never fails make: the pure Python runs without it


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
