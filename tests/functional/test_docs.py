"""The documentation site (docs/, Sphinx): it builds with every warning an error (a docstring
whose markup breaks, a page left out of every table of contents, a reference to nowhere), and
its Salt API reference shows exactly what Salt's loader publishes for each of the project's
modules: every published function, under the name Salt publishes it by, and nothing else."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import salt.config
import salt.loader

from project import ARTIFACTS, PROJECT
from salt_api import EXECUTION_MODULES, STATE_MODULES, published


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built as bin/docs builds it, warnings as errors: (the build, its folder)."""
    out = tmp_path_factory.mktemp("docs")
    build = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                            os.path.join(PROJECT, "docs"), str(out)], capture_output=True, text=True, timeout=600)
    return build, out


def documented(site, kind: str) -> dict[str, set[str]]:
    """{module: the functions its reference page shows} for one kind of module."""
    _, out = site
    with open(out / "api" / f"{kind}.html", encoding="utf-8") as handle:
        ids = re.findall(rf'<dt class="sig sig-object py" id="{kind}\.(\w+)\.(\w+)"', handle.read())
    found: dict[str, set[str]] = {}
    for module, function in ids:
        found.setdefault(module, set()).add(function)
    return found


def test_the_docs_build_with_no_warning(site):
    build, out = site
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert (out / "index.html").is_file() and (out / "api" / "execution.html").is_file()


def test_the_api_reference_shows_exactly_what_salt_publishes(site, loaders, minion_opts):
    shown = {kind: documented(site, kind) for kind in ("execution", "state", "beacon", "returner")}
    assert set(shown["execution"]) == set(EXECUTION_MODULES) and set(shown["state"]) == set(STATE_MODULES)
    for module, functions in shown["execution"].items():
        assert set(published(loaders.modules, module, sorted(functions)[0])) == functions, module
    for module, functions in shown["state"].items():
        assert set(published(loaders.states, module, sorted(functions)[0])) == functions, module
    opts = salt.config.minion_config(None, defaults=dict(minion_opts))
    for kind, load in (("beacon", salt.loader.beacons), ("returner", salt.loader.returners)):
        folder = {"beacon": "_beacons", "returner": "_returners"}[kind]
        ours = {name[:-3] for name in os.listdir(os.path.join(PROJECT, folder)) if name.endswith(".py")}
        assert set(shown[kind]) == ours, kind
        loader = load(opts, {})
        for module, functions in shown[kind].items():
            assert set(published(loader, module, sorted(functions)[0])) == functions, (kind, module)


def test_a_function_the_reference_shows_is_the_modules_own_docstring(site):
    """Generated, not copied: the page carries the code's CLI Example."""
    _, out = site
    page = (out / "api" / "execution.html").read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", "", page)  # the highlighted example's words are spans
    assert "salt-call devstack.validate" in text and 'id="execution.devstack.import"' in page


#: What a built page shows that a reader would see as broken: images that did not load, and
#: Sphinx's own markers of a reference it could not resolve or a system message left in.
BROKEN = """(() => ({
  images: Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
  problems: Array.from(document.querySelectorAll('.system-message, .problematic')).map(e => e.textContent.trim()),
  title: document.title,
}))()"""


@pytest.mark.parametrize("page", ["index.html", "api/index.html", "api/execution.html", "api/state.html"])
def test_a_built_page_renders_in_a_real_browser_with_nothing_broken(site, page):
    """Headless Chromium opens the built page: no error in its console, no broken image, no
    system message; a screenshot is kept in build/artifacts."""
    from browser import Browser  # the host's chromium (bin/install)

    _, out = site
    os.makedirs(ARTIFACTS, exist_ok=True)
    with Browser() as browser:
        browser.open((out / page).as_uri())
        shown = browser.evaluate(BROKEN)
        browser.screenshot(os.path.join(ARTIFACTS, f"docs-{page.replace('/', '-').removesuffix('.html')}.png"))
        assert shown["images"] == [] and shown["problems"] == [] and "devstack-salt" in shown["title"], shown
        assert browser.console_errors == [], browser.console_errors
