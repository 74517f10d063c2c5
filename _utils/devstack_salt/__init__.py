"""
devstack-salt's logic as plain Python: one module per concern, real imports between them.

How the code reaches a minion (both ways serve the same files):

- ``saltutil.sync_all`` (or a highstate) copies ``salt://_utils`` (``salt/_utils`` links to this
  repository's ``_utils``) into ``<extension_modules>/utils``. Salt puts that folder on
  ``sys.path`` while it loads execution and state modules, so ``_modules/*.py`` and
  ``_states/*.py`` import this package at their top: ``from devstack_salt import localconf``.
  (Import at module top only: the folder leaves ``sys.path`` once loading is done.)
- Installed as a Salt extension (``pyproject.toml``, ``pip install .`` into Salt's Python), this
  package lives in site-packages and ``devstack_salt.loader`` tells Salt's loader where the
  execution, state, beacon and returner modules are.

Unit tests and ``bench/`` import it directly with ``_utils`` on ``sys.path``. Nothing here uses
Salt's dunders (``__salt__``, ``__pillar__``, ...): the Salt modules pass in what they read.

This file stays empty of imports: Salt's utils loader also loads it as a (useless) utils module.
"""
