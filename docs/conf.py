"""Sphinx's configuration of the project's documentation site: ``bin/docs`` builds it into
build/docs, and tests/functional/test_docs.py builds it with every warning an error and holds
its Salt API reference to what Salt's loader publishes.

The reference is autodoc over the Salt modules themselves (their docstrings are what
``salt-call sys.doc`` shows). Salt loads them from folders by file name, where an execution
module and a state module share a name (``devstack``); here each is imported once under a
dotted name of its kind (``execution.devstack``, ``state.devstack``, ``beacon.metric_threshold``,
``returner.salt_run_metrics``), and a function Salt publishes under another name
(``__func_alias__``: ``import_`` is ``devstack.import``) is shown under that name.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "_utils"))

#: Each kind of Salt module, and the folder Salt syncs it from.
KINDS = {"execution": "_modules", "state": "_states", "beacon": "_beacons", "returner": "_returners"}


def _load_faces() -> None:
    for kind, folder in KINDS.items():
        package = types.ModuleType(kind)
        package.__path__ = []
        sys.modules[kind] = package
        for file in sorted(os.listdir(os.path.join(ROOT, folder))):
            if not file.endswith(".py") or file.startswith("_"):
                continue
            name = f"{kind}.{file[:-3]}"
            spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, folder, file))
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            setattr(package, file[:-3], module)
            for real, published in getattr(module, "__func_alias__", {}).items():
                setattr(module, published, getattr(module, real))
                delattr(module, real)


_load_faces()

project = "devstack-salt"
author = "the devstack-salt developers"
copyright = "the devstack-salt developers"  # noqa: A001 - Sphinx's name
extensions = ["sphinx.ext.autodoc"]
# Only what Salt publishes: public functions, in the files' order, without the module's own
# dunders or the imports it renamed with a leading underscore.
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"           # Salt's CLI takes strings: the docstrings say what each means
add_module_names = False
html_theme = "furo"
html_title = "devstack-salt"
exclude_patterns = ["_build"]


def _published_only(app, what, name, obj, skip, options):
    """Salt publishes a module's public functions, not its constants (``devstack.IMPORT_DIR``)."""
    if what == "module" and not callable(obj):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _published_only)
