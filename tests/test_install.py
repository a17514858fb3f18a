"""The package installs with pip, and its commands and configs work from any directory.

A fresh virtual environment sees the dependencies already installed here (a .pth file naming this
interpreter's site-packages) and gets jax_ser itself by `pip install --no-deps
--no-build-isolation` (offline) of a copy of the checkout, so the build leaves nothing in it. The
commands then run from another folder, where only the installed package can be imported.
"""

import importlib.util
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.e2e import REPO


def _run(args, cwd, env=None, timeout=120):
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(bin folder of a fresh venv with jax_ser installed from a copy of the checkout, env)."""
    for module in ("pip", "setuptools", "venv"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed here, so the package cannot be built offline")
    tmp = tmp_path_factory.mktemp("install")
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "jax_ser", source / "jax_ser",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    venv = tmp / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp)
    if made.returncode:
        pytest.skip(f"python -m venv does not work here: {made.stderr.strip()[-300:]}")
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / ("python.exe" if os.name == "nt" else "python")
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                        tmp).stdout.strip())
    ours = {*site.getsitepackages(), sysconfig.get_paths()["purelib"],
            sysconfig.get_paths()["platlib"]}
    (purelib / "dependencies.pth").write_text(
        "\n".join(sorted(p for p in ours if os.path.isdir(p))) + "\n")
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_ROOT_USER_ACTION="ignore",
               PIP_NO_INDEX="1", PATH=os.pathsep.join([str(bin_dir), env.get("PATH", "")]))
    done = _run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                 source], tmp, env, timeout=240)
    if done.returncode:
        pytest.skip(f"pip cannot build the package offline here: {done.stderr.strip()[-500:]}")
    return bin_dir, env, tmp / "elsewhere"


def test_installed_package_runs_its_commands_from_another_folder(installed):
    bin_dir, env, elsewhere = installed
    elsewhere.mkdir(exist_ok=True)
    where = _run([bin_dir / "python", "-c", "import jax_ser; print(jax_ser.__file__)"],
                 elsewhere, env)
    assert Path(where.stdout.strip()).is_relative_to(bin_dir.parent), where.stdout + where.stderr
    for name in ("train", "predict", "export", "cross-validate", "cross-corpus", "ablate",
                 "reevaluate", "adaptation-sets", "extract-features", "results", "prepare"):
        assert (bin_dir / f"jax-ser-{name}").exists(), name

    # A config by name, building on a sibling config file (ablations/recipe loads resnet18_mel).
    cells = _run([bin_dir / "jax-ser-ablate", "--config", "ablations/recipe", "--list_cells",
                  "--config.train.num_epochs=3"], elsewhere, env)
    assert cells.returncode == 0 and "0\trecipe=plain" in cells.stdout, cells.stderr

    # The design card's config with an override, no workdir, no network: the hub checkpoint is
    # named at once, with what to do instead, before any workdir is made.
    offline = {**env, "HF_HUB_OFFLINE": "1", "HF_HOME": str(elsewhere / "hf")}
    train = _run([bin_dir / "jax-ser-train", "--config", "wav2vec2_q2l",
                  "--config.train.num_epochs=3"], elsewhere, offline)
    assert train.returncode == 2, train.stderr
    assert "cannot download facebook/wav2vec2-base" in train.stderr
    assert "Traceback" not in train.stderr and not (elsewhere / "runs").exists()


def test_installed_dependencies_satisfy_the_declared_ranges(installed):
    """pyproject's dependency ranges hold the versions requirements.txt pins (installed here)."""
    bin_dir, env, _ = installed
    check = _run([bin_dir / "python", "-c", """
from importlib import metadata
from packaging.requirements import Requirement
for line in metadata.requires("jax_ser"):
    req = Requirement(line)
    if req.marker is None or req.marker.evaluate():
        version = metadata.version(req.name)
        assert req.specifier.contains(version, prereleases=True), (line, version)
        print(req.name, version)
"""], bin_dir, env)
    assert check.returncode == 0, check.stderr
    assert "huggingface-hub 2" in check.stdout or "huggingface_hub 2" in check.stdout
