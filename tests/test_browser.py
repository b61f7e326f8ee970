"""The app in a real browser: Playwright driving Debian's chromium headless (never Playwright's own browsers).
Upload a sample photo, click Run, wait for the result, save docs/app-clip.png and assert on what it shows: the catalog
image's pixels (white corners, a garment in the middle) and the verdict's text; a bad upload shows a clear error and the
app keeps serving; the batch tab returns a zip (docs/app-batch.png).

Needs: `tools/install_browser.sh` (apt-get install chromium; pip playwright). Skips with the reason when chromium or
playwright is missing."""
import io, os, re, shutil, zipfile
from pathlib import Path
from urllib.parse import urljoin

import numpy as np
import pytest

CHROMIUM = os.environ.get('FLIXNB_CHROMIUM', '/usr/bin/chromium')
ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run']
DOCS = Path(__file__).resolve().parent.parent / 'docs'

if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
    pytest.skip(f"chromium not found at {CHROMIUM}: run tools/install_browser.sh (apt-get install -y chromium)", allow_module_level=True)
pytest.importorskip("gradio", reason="the app needs gradio: run tools/install_browser.sh")
sync_api = pytest.importorskip("playwright.sync_api", reason="the Python playwright package is missing: run tools/install_browser.sh")
from PIL import Image

from flixnb.ui.app import AppConfig, launch, sample_path, presets_available

PRESET = 'amazon-main' if 'amazon-main' in presets_available() else None


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    cfg = AppConfig(workdir=tmp_path_factory.mktemp('app'), max_file_bytes=5_000_000, preview=768)
    demo = launch(cfg, port=None, block=False, quiet=True)
    yield demo.local_url, cfg
    demo.close()


@pytest.fixture(scope='module')
def page(server):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        pg = browser.new_page(viewport={'width': 1440, 'height': 1100})
        pg.set_default_timeout(120_000)
        pg.goto(server[0] + '?__theme=light')
        pg.wait_for_selector('#run')
        yield pg
        browser.close()


def _value(page, sel):
    return page.eval_on_selector(sel, 'e => e.value')


def _upload(page, box, path, tries:int=3):
    "Upload `path` into the file box `box` and wait until the box shows its name; on a busy machine Gradio can re-render the box between"
    " our finding its input and the upload, and the file is lost: set it again (at most `tries` times)."
    name = page.locator(f'#{box}').get_by_text(Path(path).name).first
    for i in range(tries):
        page.locator(f'#{box} input[type=file]').first.set_input_files(str(path))
        try: name.wait_for(timeout=40_000 if i < tries - 1 else 120_000); return
        except sync_api.TimeoutError:
            if i == tries - 1: raise


def _clear(page, box):
    btn = page.locator(f'#{box} button[aria-label="Clear"]')
    if btn.count():
        btn.first.click()
        page.wait_for_function(f"() => !document.querySelector('#{box} button[aria-label=\"Clear\"]')")   # the box is empty again


def test_clip_in_browser(page, server, tmp_path):
    url, cfg = server
    photo = sample_path(cfg, 'tee-navy-white', 1.0)
    _upload(page, 'clip-files', photo)
    page.click('#run')
    page.wait_for_function("() => { const t = document.querySelector('#verdict textarea'); return t && t.value.length > 0 }")
    page.wait_for_selector('#catalog img')
    page.wait_for_selector('#downloads a')                       # the chained downloads event has finished too
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / 'app-clip.png'), full_page=True)
    # what the page shows: the verdict's text…
    verdict = _value(page, '#verdict textarea')
    if PRESET: assert re.match(r'(PASS|FAIL) · ' + PRESET + r' · tee-navy-white', verdict), verdict
    else: assert verdict.startswith('no marketplace preset'), verdict
    assert 'MP in' in page.inner_text('#timing')
    # …the catalog image the browser received: white corners, a garment in the middle
    src = page.get_attribute('#catalog img', 'src')
    got = page.request.get(urljoin(url, src))
    assert got.ok, (src, got.status)
    cat = np.asarray(Image.open(io.BytesIO(got.body())).convert('RGB'))
    assert Image.open(io.BytesIO(got.body())).format == 'PNG'
    assert all(cat[y, x].tolist() == [255, 255, 255] for y in (0, -1) for x in (0, -1)), 'catalog corners are not white'
    h, w = cat.shape[:2]
    assert cat[h//3:2*h//3, w//3:2*w//3].mean() < 200, 'no garment in the middle of the catalog image'
    # …and as painted on screen: the element screenshot has both the white backdrop and the dark navy garment
    shot = np.asarray(Image.open(io.BytesIO(page.locator('#catalog img').screenshot())).convert('RGB'))
    assert (shot.min(-1) >= 250).mean() > 0.2 and (shot.max(-1) < 100).mean() > 0.05
    # the stage gallery shows the stages; the downloads are the PNG cutout and the catalog JPEG
    assert page.locator('#stages img').count() >= 4
    shown = re.sub(r'\s+', '', page.inner_text('#downloads'))
    assert re.search(r'-cutout\.png', shown) and re.search(r'-catalog\.jpg', shown), shown
    assert page.locator('#downloads a').count() == 2


def test_bad_upload_shows_error_and_app_keeps_serving(page, server, tmp_path):
    fake = tmp_path / 'not-a-photo.jpg'; fake.write_text('hello, I am text')
    _clear(page, 'clip-files')
    _upload(page, 'clip-files', fake)
    page.click('#run')
    toast = page.get_by_text(re.compile(r'not-a-photo\.jpg: ')).first
    toast.wait_for()
    msg = toast.inner_text()
    assert str(server[1].workdir) not in msg, msg
    _clear(page, 'clip-files')
    _upload(page, 'clip-files', sample_path(server[1], 'tee-navy-white', 0.5))
    page.click('#run')
    page.wait_for_function("() => document.querySelector('#timing') && document.querySelector('#timing').innerText.includes('0.5MP')"
                           " || (document.querySelector('#timing') && document.querySelector('#timing').innerText.includes('tee-navy-white-0.5mp'))")


def test_batch_in_browser(page, server, tmp_path):
    photo = sample_path(server[1], 'trousers-khaki-white', 0.5)
    zin = tmp_path / 'shots.zip'
    with zipfile.ZipFile(zin, 'w') as z:
        z.writestr('a.jpg', photo.read_bytes()); z.writestr('sub/b.jpg', photo.read_bytes())
    page.get_by_role('tab', name='Batch').click()
    _upload(page, 'batch-files', zin)
    page.click('#run-batch')
    page.wait_for_function("() => { const t = document.querySelector('#batch-summary textarea'); return t && t.value.includes('in all') }")
    page.wait_for_selector('#batch-zip a')
    page.screenshot(path=str(DOCS / 'app-batch.png'), full_page=True)
    assert '2 done, 0 failed' in _value(page, '#batch-summary textarea')
    href = page.get_attribute('#batch-zip a', 'href')
    got = page.request.get(urljoin(server[0], href))
    names = zipfile.ZipFile(io.BytesIO(got.body())).namelist()
    assert 'manifest.jsonl' in names and sum(n.endswith('.jpg') for n in names) == 2, names
