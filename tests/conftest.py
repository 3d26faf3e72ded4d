"""Shared fixtures: tiny models built once per session, offline."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")

import pytest  # noqa: E402

import tiny_models  # noqa: E402
from sdlab.engine.engine import Engine  # noqa: E402


@pytest.fixture(scope="session")
def sd1_dir(tmp_path_factory):
    return tiny_models.sd1(tmp_path_factory.mktemp("sd1"))


@pytest.fixture(scope="session")
def sd1_inpaint_dir(tmp_path_factory):
    return tiny_models.sd1(tmp_path_factory.mktemp("sd1-inpaint"), inpainting=True)


@pytest.fixture(scope="session")
def sdxl_dir(tmp_path_factory):
    return tiny_models.sdxl(tmp_path_factory.mktemp("sdxl"))


@pytest.fixture(scope="session")
def engine():
    """One engine for the session, as one process would have."""
    return Engine()
