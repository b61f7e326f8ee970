"""JupyterLab in a real browser (issue 18): the project's JupyterLab (pinned in the set-up, `make lab`) opens a stage
notebook, runs the stage-explorer cell, and the widget and its preview images render. Playwright drives Debian's
chromium headless, as the app's browser test does. Skips with the reason when chromium, playwright or JupyterLab is missing."""
import json, os, socket, subprocess, sys, time, urllib.request
from pathlib import Path

import pytest

CHROMIUM = os.environ.get('FLIXNB_CHROMIUM', '/usr/bin/chromium')
ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run']

if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
    pytest.skip(f"chromium not found at {CHROMIUM}: run tools/install_browser.sh (apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the Python playwright package is missing: run tools/install_browser.sh")
pytest.importorskip("jupyterlab", reason="JupyterLab is missing: make setup installs it")

CELL = ("from flixnb.samples import sample\n"
        "from flixnb.ui.widgets import StageExplorer\n"
        "StageExplorer(sample('tee-navy-white', mp=0.2), 'backdrop', long=256)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    d = tmp_path_factory.mktemp('lab')
    nb = dict(cells=[dict(cell_type='code', metadata={}, execution_count=None, outputs=[], source=CELL)],
              metadata=dict(kernelspec=dict(name='python3', display_name='Python 3', language='python')), nbformat=4, nbformat_minor=5)
    (d/'explorer.ipynb').write_text(json.dumps(nb))
    port = _free_port()
    log = open(d/'lab.log', 'w')
    p = subprocess.Popen([sys.executable, '-m', 'jupyter', 'lab', '--no-browser', f'--port={port}', '--ip=127.0.0.1',
                          '--IdentityProvider.token=', '--ServerApp.password=', f'--ServerApp.root_dir={d}']
                         + (['--allow-root'] if hasattr(os, 'geteuid') and os.geteuid() == 0 else []),
                         stdout=log, stderr=subprocess.STDOUT, cwd=d)
    url = f'http://127.0.0.1:{port}'
    for _ in range(120):
        try:
            urllib.request.urlopen(url + '/api', timeout=2); break
        except OSError: time.sleep(0.5)
    else:
        p.terminate(); pytest.fail(f"JupyterLab did not start: {(d/'lab.log').read_text()[-2000:]}")
    yield url
    p.terminate()
    try: p.wait(20)
    except subprocess.TimeoutExpired: p.kill()


def _kernel_idle(url, timeout=120):
    "Wait until the server has a session for the notebook whose kernel is idle."
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            ss = json.loads(urllib.request.urlopen(url + '/api/sessions', timeout=5).read())
            if any(x.get('kernel', {}).get('execution_state') == 'idle' for x in ss): return
        except (OSError, ValueError): pass
        time.sleep(0.5)
    raise AssertionError(f"no idle kernel after {timeout} s")


def test_stage_explorer_renders_in_jupyterlab(lab):
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            pg = browser.new_page(viewport={'width': 1400, 'height': 1000})
            pg.set_default_timeout(180_000)
            pg.goto(lab + '/lab/tree/explorer.ipynb')
            pg.wait_for_selector('.jp-Notebook .jp-Cell .cm-content')
            _kernel_idle(lab)                                          # the notebook's kernel is up (the server says so)
            for attempt in range(4):                                   # a key press before the notebook listens is lost: press again
                pg.click('.jp-Notebook .jp-Cell .cm-content')
                pg.keyboard.press('Shift+Enter')
                try:
                    pg.wait_for_selector('.jp-OutputArea-output', state='attached', timeout=45_000); break
                except sync_api.TimeoutError:
                    if attempt == 3: raise
            pg.wait_for_selector('.jp-OutputArea-output .widget-vbox img', state='visible')
            # the explorer's three previews (input, result, difference) arrive as PNGs that the browser decodes
            pg.wait_for_function("() => [...document.querySelectorAll('.jp-OutputArea-output .widget-vbox img')]"
                                 ".filter(e => e.naturalWidth > 0).length >= 3")
            sizes = pg.eval_on_selector_all('.jp-OutputArea-output .widget-vbox img', 'els => els.map(e => [e.naturalWidth, e.naturalHeight])')
            assert len([s for s in sizes if s[0] > 0]) >= 3 and max(max(s) for s in sizes) <= 256, sizes
            assert pg.locator('.jp-OutputArea-output .widget-slider, .jp-OutputArea-output .widget-dropdown, .jp-OutputArea-output .widget-checkbox').count() > 0
            text = pg.inner_text('.jp-OutputArea-output')
            assert 'backdrop' in text and 'Error' not in text and 'Traceback' not in text, text[:500]
        finally:
            browser.close()
