"Try-on: CLI errors, the app function, and (with the shared data) an end-to-end try-on on VITON-HD 00006."
import json, subprocess, sys
from pathlib import Path
import numpy as np
import pytest

from flixnb.core import data_dir, FlixError

HD = data_dir()/'vitonhd'

def test_library_cli_errors(tmp_path):
    from flixnb.library import main
    (tmp_path/'x.jpg').write_bytes(b'not an image')
    assert main(['add', str(tmp_path/'x.jpg'), '--library', str(tmp_path/'lib')]) == 1
    assert main(['list', '--library', str(tmp_path/'nolib')]) == 2

def test_tryon_cli_bad_inputs(tmp_path):
    from flixnb.tryon import main
    assert main([str(tmp_path/'none.jpg'), '--library', str(tmp_path/'lib'), '-o', str(tmp_path/'out')]) == 1
    rep = json.loads((tmp_path/'out'/'styling.json').read_text())
    assert rep == {}

def test_ssim_matches_closed_form():
    from flixnb.tryon import ssim
    a, b = np.full((32, 32, 3), 60.0), np.full((32, 32, 3), 90.0)
    C1 = (0.01*255)**2
    assert abs(ssim(a, b) - (2*60*90 + C1)/(60**2 + 90**2 + C1)) < 1e-9

@pytest.mark.skipif(not (HD/'image'/'00006_00.jpg').is_file(), reason='VITON-HD sample absent (FLIXNB_DATA)')
def test_tryon_vitonhd(tmp_path):
    from flixnb.library import add_models
    from flixnb.tryon import tryon_files, ssim, main
    import cv2
    done, errs = add_models([HD/'image'/'00006_00.jpg'], tmp_path/'lib')
    assert not errs and done[0].framing == 'half'
    (tmp_path/'lib'/'models'/'broken').mkdir()           # a library entry missing files: reported, the run goes on
    res = tryon_files(HD/'cloth'/'00006_00.jpg', tmp_path/'lib')
    img, words = res[0]
    assert img.shape == (1024, 768, 3) and 'top' in words
    assert "Long sleeves: both fitted along the model's arms." in words
    real = cv2.imread(str(HD/'image'/'00006_00.jpg'))[..., ::-1]
    assert ssim(img, real) > 0.8
    assert main([str(HD/'cloth'/'00006_00.jpg'), '--library', str(tmp_path/'lib'), '-o', str(tmp_path/'out')]) == 0
    assert (tmp_path/'out'/'00006_00.jpg').is_file()

@pytest.mark.skipif(not (HD/'image'/'00006_00.jpg').is_file(), reason='VITON-HD sample absent (FLIXNB_DATA)')
def test_sleeves_fitted_to_the_arms(tmp_path):
    "VITON-HD 00006 (a long-sleeved top on its own model): both sleeves fitted, closer to the real photo than turned rigidly."
    import cv2
    from flixnb.library import add_models, load_library
    from flixnb.garment import garment_from_file
    from flixnb.tryon import tryon, ssim
    add_models([HD/'image'/'00006_00.jpg'], tmp_path/'lib'); m = load_library(tmp_path/'lib')[0][0]
    g = garment_from_file(HD/'cloth'/'00006_00.jpg')
    assert g.sleeve == 'long'
    fitted, info = tryon(g, m)
    turned, info0 = tryon(g, m, fit_sleeves=False)
    assert info['sleeves'] == {'image-left': 'fitted', 'image-right': 'fitted'} and info0['sleeves'] == {}
    sm = lambda x: cv2.resize(x, (192, 256), interpolation=cv2.INTER_AREA)
    assert ssim(sm(fitted), sm(m.image)) > ssim(sm(turned), sm(m.image)) + 0.02

def test_refiner_trains_a_few_steps():
    pytest.importorskip('torch')
    from flixnb.refiner import train_refiner, refine_image
    rng = np.random.default_rng(1)
    real = (rng.uniform(0, 255, (32, 32, 3))).astype(np.uint8)
    comp = real.copy(); comp[8:24, 8:24] //= 2
    alpha = np.zeros((32, 32), np.float32); alpha[8:24, 8:24] = 1
    G, D, hist = train_refiner([(comp, alpha, real)], steps=6, width=8, depth=3)
    assert len(hist) == 6 and all(np.isfinite(h['l1']) for h in hist)
    assert refine_image(G, comp, alpha).shape == comp.shape


# --- accessories drawn, model variety (procedural: no photos, no segmenter; CPU-fast) ---

def _sample_garment(kind='trousers', seed=0):
    from flixnb.samples import make_sample
    from flixnb.garment import analyze_garment
    s = make_sample(kind, width=300, height=400, seed=seed)
    return analyze_garment(s.replace(alpha=s.layers['gt_alpha']))

def _near(im, box, rgb, tol=45):
    x0, y0, x1, y1 = box
    return float((np.abs(im[y0:y1, x0:x1].astype(int) - np.array(rgb)).max(-1) < tol).mean())

@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    from flixnb.tryon import toy_library
    return toy_library(tmp_path_factory.mktemp('toy')/'lib', n=2)

def test_trousers_tryon_draws_shoes_and_belt(toy):
    from flixnb.tryon import tryon_files
    from flixnb.library import load_library
    from flixnb.styling import BUILTIN_COLOURS
    g = _sample_garment('trousers')
    (img, words, info), = tryon_files(g, toy, n=1, with_info=True)
    m = {x.name: x for x in load_library(toy)[0]}[info['model']]
    got = {p['type']: p for p in info['accessories']}
    assert set(got) == {'shoes', 'belt'} and got['shoes']['drawn'] and got['belt']['drawn'], info['accessories']
    rgb = BUILTIN_COLOURS['shoes'][got['shoes']['name'].split()[1]]
    assert len(got['shoes']['feet']) == 2
    for f in got['shoes']['feet']:                      # between ankle and toe: the shoe's colour now, the old olive shoe before
        (ax, ay), (tx, ty) = f['ankle'], f['toe']
        box = (min(ax, tx) - 3, ay + 6, max(ax, tx) + 3, ty - 4)
        assert _near(img, box, rgb) > 0.5 and _near(m.image, box, rgb) < 0.1, f
        assert 0 <= box[0] and box[2] <= img.shape[1] and box[3] <= img.shape[0]      # inside the frame
    # alpha-composited: the shoe's soft edge mixes shoe and what is under it, no hard cut
    f = got['shoes']['feet'][0]; row = img[(f['ankle'][1] + f['toe'][1])//2].astype(int)
    d = np.abs(row - np.array(rgb)).max(-1)
    assert ((d > 20) & (d < 150)).any()
    assert f"shoes '{got['shoes']['name']}'" in words and 'drawn on both feet' in words and "belt '" in words
    bx, by = got['belt']['at']
    assert _near(img, (bx + 12, by - 1, bx + 22, by + 2), BUILTIN_COLOURS['belt'][got['belt']['name'].split()[1]]) > 0.5

def test_belt_only_on_garments_with_a_waist(toy):
    from flixnb.tryon import draw_accessories
    from flixnb.library import load_library
    from flixnb.styling import builtin_accessories
    m = load_library(toy)[0][0]
    belt = builtin_accessories(['belt'])[0]
    img, pl = draw_accessories(m.image, 'top', m, [belt])
    assert not pl[0]['drawn'] and 'no waist' in pl[0]['why'] and np.array_equal(img, m.image)

def test_corrupt_accessory_file_warns_not_crashes(toy, tmp_path):
    import shutil
    from flixnb.tryon import tryon_files
    lib = tmp_path/'lib'; shutil.copytree(toy, lib)
    (lib/'accessories').mkdir(exist_ok=True)
    (lib/'accessories'/'accessories.yaml').write_text('broken_shoes.png: shoes\n')
    (lib/'accessories'/'broken_shoes.png').write_bytes(b'\x89PNG\r\n\x1a\n not really')
    with pytest.warns(UserWarning, match='broken_shoes.png'):
        (img, words, info), = tryon_files(_sample_garment('trousers'), lib, n=1, with_info=True)
    assert img.shape == (450, 300, 3) and any('broken_shoes.png' in w for w in info['warnings'])
    assert [p for p in info['accessories'] if p['type'] == 'shoes'][0]['drawn']      # the built-in shoes stand in

def test_different_garments_get_different_models(toy):
    from flixnb.library import load_library
    from flixnb.styling import choose
    models = load_library(toy)[0]
    firsts = {k: choose(_sample_garment('trousers', seed=k), models)[0].model.name for k in range(4)}
    assert set(firsts.values()) == {'toy0', 'toy1'}, firsts
    assert choose(_sample_garment('trousers', seed=0), models[::-1])[0].model.name == firsts[0]   # deterministic
    two = choose(_sample_garment('trousers'), models, n=2)
    assert len({c.model.name for c in two}) == 2 and 'hash of the garment photo' in two[0].explanation

def test_tryon_cli_n_models_and_accessories_json(toy, tmp_path):
    import cv2
    from flixnb.samples import make_sample
    from flixnb.tryon import main
    s = make_sample('trousers', width=600, height=800)
    cv2.imwrite(str(tmp_path/'khaki.jpg'), s.image[..., ::-1])
    assert main([str(tmp_path/'khaki.jpg'), '--library', str(toy), '-o', str(tmp_path/'out'), '--n', '0']) == 2
    assert main([str(tmp_path/'khaki.jpg'), '--library', str(toy), '-o', str(tmp_path/'out'), '--n', '2']) == 0
    rep = json.loads((tmp_path/'out'/'styling.json').read_text())['khaki.jpg']
    assert len(rep) == 2 and {r['model'] for r in rep} == {'toy0', 'toy1'}
    assert (tmp_path/'out'/'khaki.jpg').is_file() and (tmp_path/'out'/'khaki_2.jpg').is_file()
    shoes = [a for a in rep[0]['accessories'] if a['type'] == 'shoes'][0]
    assert shoes['drawn'] and len(shoes['feet']) == 2 and 'shoes' in rep[0]['explanation']

OOTD = data_dir()/'ootd'

@pytest.mark.skipif(not (OOTD/'model'/'052767_0.jpg').is_file(), reason='ootd photos absent (FLIXNB_DATA)')
def test_ootd_dress_gets_shoes_and_belt(tmp_path):
    pytest.importorskip('mediapipe')
    from flixnb.library import add_models
    from flixnb.tryon import tryon_files
    done, errs = add_models([OOTD/'model'/'052767_0.jpg', OOTD/'model'/'053700_0.jpg'], tmp_path/'lib')
    assert not errs and all(m.meta['wears'] == 'dress' for m in done)
    res = tryon_files(OOTD/'garment'/'053319_1.jpg', tmp_path/'lib', n=2, with_info=True)
    assert len({i['model'] for *_, i in res}) == 2
    for img, words, info in res:
        got = {p['type']: p for p in info['accessories']}
        assert got['shoes']['drawn'] and got['belt']['drawn'] and 'under the dress' in got['shoes']['why']
        assert 'natural waist' in words
