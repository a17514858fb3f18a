"""Shared fixtures: private cache folders and a small generated corpus in RAVDESS layout."""

import os
import shutil
import tempfile
import uuid

import pytest

# Before any jax_ser or jax import: decoded-waveform caches of the tests never land in the user's
# cache; and since many tests (and the CLI subprocesses they start) compile the same tiny steps, a
# session-private persistent compilation cache compiles each once. Both start empty and go with
# the session (pytest_unconfigure).
PRIVATE_DIRS = {
    "JAX_SER_CACHE": tempfile.mkdtemp(prefix="jax_ser_test_cache_"),
    # librosa's numba functions (cache=True) compile when librosa is imported and write their
    # cache beside its sources, where two workers importing it at once in a fresh environment
    # write the same files. One suite run here died of a segfault inside librosa.yin; each
    # process keeping its own numba cache keeps that race out.
    "NUMBA_CACHE_DIR": tempfile.mkdtemp(prefix="jax_ser_test_numba_cache_"),
}
# pytest-xdist's workers share one compilation cache, named by the run's id (the controller
# removes it). With a size limit set, JAX reads and writes entries under a file lock, so no
# process reads an entry that another is still writing.
RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID")


def xla_cache(run: str) -> str:
    return os.path.join(tempfile.gettempdir(), f"jax_ser_test_xla_cache_{run}")


if RUN:
    os.makedirs(xla_cache(RUN), exist_ok=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = xla_cache(RUN)
else:
    PRIVATE_DIRS["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="jax_ser_test_xla_cache_")
os.environ.update(PRIVATE_DIRS)
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0.5"
os.environ["JAX_COMPILATION_CACHE_MAX_SIZE"] = str(8 << 30)
SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """8 synthetic speakers (480 files) in RAVDESS layout, readable as corpus `ravdess`."""
    from jax_ser.data import synthetic

    root = tmp_path_factory.mktemp("corpus") / "ravdess_like"
    synthetic.generate(root, num_speakers=8)
    return root


def shared_corpus(name: str) -> str:
    """Path of a real corpus under ../shared/data, or skip the test saying it is absent."""
    path = os.path.abspath(os.path.join(SHARED_DATA, name))
    if not os.path.isdir(path):
        pytest.skip(f"real corpus {name} not found at {path} (only developers have ../shared/data)")
    return path


@pytest.fixture(scope="session")
def trained(tiny_corpus, tmp_path_factory):
    """The uninterrupted reference run of tests/tiny_config.py on fold 0: (workdir, results)."""
    from jax_ser.train import loop
    from tests.e2e import tiny

    workdir = tmp_path_factory.mktemp("run")
    results = loop.train_and_evaluate(tiny(tiny_corpus, **{"train.progress_bar": False}), workdir)
    return workdir, results


def _xdist_controller(config) -> bool:
    """Whether this process may start pytest-xdist workers (it is not one of them)."""
    return not RUN and config.pluginmanager.hasplugin("xdist")


def pytest_configure(config):
    """The pytest-xdist controller names the run itself, so it knows the workers' cache."""
    if _xdist_controller(config) and not config.option.testrunuid:
        config.option.testrunuid = uuid.uuid4().hex


def pytest_unconfigure(config):
    for path in PRIVATE_DIRS.values():
        shutil.rmtree(path, ignore_errors=True)
    if _xdist_controller(config):
        shutil.rmtree(xla_cache(config.option.testrunuid), ignore_errors=True)
