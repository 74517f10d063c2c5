"""This project's paths and plain-Python modules, for every test tier."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: What tests keep for a person to look at (the browser tests' screenshots); ignored by git.
ARTIFACTS = os.path.join(PROJECT, "build", "artifacts")
# The logic (_utils/devstack_salt), importable as plain Python in every tier and subprocess.
if os.path.join(PROJECT, "_utils") not in sys.path:
    sys.path.insert(0, os.path.join(PROJECT, "_utils"))


def load_source(name: str, path: str):
    """Import a file of this project as a module (a Salt face, for the few tests that need one)."""
    loader = importlib.machinery.SourceFileLoader(name, path)
    spec = importlib.util.spec_from_loader(name, loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


from devstack_salt import saltconfig as configure  # noqa: E402 - bin/configure's logic (needs _utils above)
