"Try-on: CLI errors, the app function, and (with the shared data) an end-to-end try-on on VITON-HD 00006."
import json, subprocess, sys
from pathlib import Path
import numpy as np
import pytest

from flixnb.core import data_dir, FlixError

HD = data_dir()/'vitonhd'

def test_library_cli_errors(tmp_path):
    from flixnb.tryon.library import main
    (tmp_path/'x.jpg').write_bytes(b'not an image')
    assert main(['add', str(tmp_path/'x.jpg'), '--library', str(tmp_path/'lib')]) == 1
    assert main(['list', '--library', str(tmp_path/'nolib')]) == 2

def test_tryon_cli_bad_inputs(tmp_path):
    from flixnb.run.cli import tryon_main as main
    assert main([str(tmp_path/'none.jpg'), '--library', str(tmp_path/'lib'), '-o', str(tmp_path/'out')]) == 1
    rep = json.loads((tmp_path/'out'/'styling.json').read_text())
    assert rep == {}

def test_ssim_matches_closed_form():
    from flixnb.tryon.warp import ssim
    a, b = np.full((32, 32, 3), 60.0), np.full((32, 32, 3), 90.0)
    C1 = (0.01*255)**2
    assert abs(ssim(a, b) - (2*60*90 + C1)/(60**2 + 90**2 + C1)) < 1e-9

@pytest.mark.skipif(not (HD/'image'/'00006_00.jpg').is_file(), reason='VITON-HD sample absent (FLIXNB_DATA)')
def test_tryon_vitonhd(tmp_path):
    "The learned try-on through the library, the app's function and the CLI, at 768×1024: parse stored at library add, only the editable region changed, the file marked as generated."
    pytest.importorskip('mediapipe')
    from flixnb.tryon.library import add_models, load_library
    from flixnb.tryon.warp import tryon_files
    from flixnb.run.cli import tryon_main as main
    from flixnb.tryon.vton import paired_scores, read_labels, is_generated
    import cv2
    done, errs = add_models([HD/'image'/'00006_00.jpg'], tmp_path/'lib')
    assert not errs and done[0].framing == 'half'
    assert (tmp_path/'lib'/'models'/'00006_00'/'parse.png').is_file()          # parsed once, at library add, full size
    m = load_library(tmp_path/'lib')[0][0]
    assert m.parse.shape == (1024, 768) and (m.parse == 5).mean() > 0.1          # the top is found
    (tmp_path/'lib'/'models'/'broken').mkdir()           # a library entry missing files: reported, the run goes on
    (img, words, info), = tryon_files(HD/'cloth'/'00006_00.jpg', tmp_path/'lib', with_info=True)
    assert img.shape == (1024, 768, 3) and 'top' in words and 'learned try-on' in words and info['accessories'] == []
    real = cv2.imread(str(HD/'image'/'00006_00.jpg'))[..., ::-1]
    sc = paired_scores(img, real, read_labels(HD/'image-parse-v3'/'00006_00.png'))
    assert sc['ssim'] > 0.85 and sc['region_l1'] < 25, sc
    face = cv2.erode((m.parse == 13).astype(np.uint8), np.ones((25, 25), np.uint8)) > 0
    assert face.sum() > 3000 and np.abs(img[face].astype(int) - m.image[face]).max() <= 1   # the face (but its feathered rim) is the photo's own
    assert main([str(HD/'cloth'/'00006_00.jpg'), '--library', str(tmp_path/'lib'), '-o', str(tmp_path/'out')]) == 0
    assert is_generated(tmp_path/'out'/'00006_00.jpg')

@pytest.mark.skipif(not (HD/'image'/'00006_00.jpg').is_file(), reason='VITON-HD sample absent (FLIXNB_DATA)')
def test_sleeves_fitted_to_the_arms(tmp_path):
    "VITON-HD 00006 (a long-sleeved top on its own model): both sleeves fitted, closer to the real photo than turned rigidly."
    import cv2
    from flixnb.tryon.library import add_models, load_library
    from flixnb.stages.garment import garment_from_file
    from flixnb.tryon.warp import tryon, ssim
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
    from flixnb.tryon.refiner import train_refiner, refine_image
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
    from flixnb.stages.garment import analyze_garment
    s = make_sample(kind, width=300, height=400, seed=seed)
    return analyze_garment(s.replace(alpha=s.layers['gt_alpha']))

def _near(im, box, rgb, tol=45):
    x0, y0, x1, y1 = box
    return float((np.abs(im[y0:y1, x0:x1].astype(int) - np.array(rgb)).max(-1) < tol).mean())

@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    from flixnb.tryon.warp import toy_library
    return toy_library(tmp_path_factory.mktemp('toy')/'lib', n=2)

def test_trousers_refused_not_drawn(toy):
    "The learned try-on dresses tops: trousers are refused with the reason, nothing drawn."
    from flixnb.tryon.warp import tryon_files
    with pytest.raises(FlixError, match='dresses tops only.*trousers'):
        tryon_files(_sample_garment('trousers'), toy, n=1)

def test_belt_only_on_garments_with_a_waist(toy):
    from flixnb.tryon.warp import draw_accessories
    from flixnb.tryon.library import load_library
    from flixnb.tryon.styling import builtin_accessories
    m = load_library(toy)[0][0]
    belt = builtin_accessories(['belt'])[0]
    img, pl = draw_accessories(m.image, 'top', m, [belt])
    assert not pl[0]['drawn'] and 'no waist' in pl[0]['why'] and np.array_equal(img, m.image)

def _unreadable(lib):
    "Mark a library's photos as ones the parser could not read at library add."
    for d in (lib/'models').iterdir():
        meta = json.loads((d/'model.json').read_text()); meta['parse_error'] = 'no face found (a back view)'
        (d/'model.json').write_text(json.dumps(meta))

def test_corrupt_accessory_file_warns_not_crashes(toy, tmp_path):
    import shutil
    from flixnb.tryon.warp import tryon_files
    lib = tmp_path/'lib'; shutil.copytree(toy, lib); _unreadable(lib)
    (lib/'accessories').mkdir(exist_ok=True)
    (lib/'accessories'/'accessories.yaml').write_text('broken_shoes.png: shoes\n')
    (lib/'accessories'/'broken_shoes.png').write_bytes(b'\x89PNG\r\n\x1a\n not really')
    with pytest.warns(UserWarning, match='broken_shoes.png'), pytest.raises(FlixError, match='toy0: the try-on cannot dress this photo: no face'):
        tryon_files(_sample_garment('tee'), lib, n=1, accessories=True)

def test_different_garments_get_different_models(toy):
    from flixnb.tryon.library import load_library
    from flixnb.tryon.styling import choose
    models = load_library(toy)[0]
    firsts = {k: choose(_sample_garment('trousers', seed=k), models)[0].model.name for k in range(4)}
    assert set(firsts.values()) == {'toy0', 'toy1'}, firsts
    assert choose(_sample_garment('trousers', seed=0), models[::-1])[0].model.name == firsts[0]   # deterministic
    two = choose(_sample_garment('trousers'), models, n=2)
    assert len({c.model.name for c in two}) == 2 and 'hash of the garment photo' in two[0].explanation

def test_tryon_cli_refusals_in_json(toy, tmp_path):
    import cv2
    from flixnb.samples import make_sample
    from flixnb.run.cli import tryon_main as main
    s = make_sample('trousers', width=600, height=800)
    cv2.imwrite(str(tmp_path/'khaki.jpg'), s.image[..., ::-1])
    assert main([str(tmp_path/'khaki.jpg'), '--library', str(toy), '-o', str(tmp_path/'out'), '--n', '0']) == 2
    assert main([str(tmp_path/'khaki.jpg'), '--library', str(toy), '-o', str(tmp_path/'out'), '--n', '2']) == 4      # refused (outcome table)
    rep = json.loads((tmp_path/'out'/'styling.json').read_text())['khaki']
    assert 'tops only' in rep['error'] and rep['status'] == 'refused' and not (tmp_path/'out'/'khaki.jpg').exists()

OOTD = data_dir()/'ootd'

@pytest.mark.skipif(not (OOTD/'garment'/'053319_1.jpg').is_file(), reason='ootd photos absent (FLIXNB_DATA)')
def test_ootd_dress_refused(toy):
    "A real dress photo is refused with its reason (the shipped networks learned tops), never hung on a model as a top."
    from flixnb.tryon.warp import tryon_files
    with pytest.raises(FlixError, match='053319_1.jpg.*dresses are refused'):
        tryon_files(OOTD/'garment'/'053319_1.jpg', toy)


# --- paired mode, through the real CLI ---

VP = data_dir()/'viton-pairs'

def _cli(*args, env=None):
    import os
    e = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, '-m', 'flixnb', 'tryon', *map(str, args)], capture_output=True, text=True, env=e, timeout=600)

@pytest.mark.skipif(not (VP/'pairs.txt').is_file(), reason='viton-pairs absent (FLIXNB_DATA)')
def test_paired_mode_cli(tmp_path):
    "Each listed garment on its listed person, OUT/<person>__<garment>.jpg at the person's size, marked as generated; a missing file and a photo with no person are named, the rest goes on (exit 1)."
    from flixnb.tryon.vton import is_generated
    from PIL import Image
    pairs = [l.split() for l in (VP/'pairs.txt').read_text().splitlines()[1:3]]   # (the first garment, a two-pack of tees, reads as trousers)
    blank = tmp_path/'persons'; blank.mkdir()
    import shutil
    for p, _ in pairs: shutil.copy(VP/'person'/p, blank/p)
    Image.new('RGB', (192, 256), 'white').save(blank/'empty.jpg')
    lst = tmp_path/'pairs.txt'
    lst.write_text('\n'.join(f"{p} {c}" for p, c in pairs) + f"\nmissing.jpg {pairs[0][1]}\nempty.jpg {pairs[0][1]}\n# a comment\n")
    r = _cli('--pairs', lst, '--persons', blank, '--garments', VP/'cloth', '-o', tmp_path/'out', '-q')
    assert r.returncode == 1, r.stderr
    assert 'missing.jpg' in r.stderr and 'person photo not found' in r.stderr
    assert 'empty.jpg' in r.stderr and ('no person found' in r.stderr or 'no face found' in r.stderr)
    assert 'non-commercial' in r.stderr                                          # the research weights are named
    for p, c in pairs:
        f = tmp_path/'out'/f"{Path(p).stem}__{Path(c).stem}.jpg"
        assert f.is_file() and Image.open(f).size == Image.open(VP/'person'/p).size and is_generated(f)
    assert '2 done, 1 refused, 1 failed' in r.stdout                        # no person: refused (4); a missing file: failed (1)

@pytest.mark.skipif(not (VP/'pairs.txt').is_file(), reason='viton-pairs absent (FLIXNB_DATA)')
def test_paired_mode_bad_weights_and_lists(tmp_path):
    "Weights corrupt or missing, or a malformed pairs list: exit 2 once, with the file and how to repair it; nothing written."
    import shutil
    from flixnb.tryon.vton import weights_dir
    p, c = (VP/'pairs.txt').read_text().split()[:2]
    lst = tmp_path/'pairs.txt'; lst.write_text(f"{p} {c}\n")
    w = tmp_path/'w'; shutil.copytree(weights_dir(), w)
    b = bytearray((w/'vton-tryon.pt').read_bytes()); b[len(b)//2] ^= 0xFF; (w/'vton-tryon.pt').write_bytes(bytes(b))
    r = _cli('--pairs', lst, '--persons', VP/'person', '--garments', VP/'cloth', '-o', tmp_path/'out', env={'FLIXNB_VTON_WEIGHTS': str(w)})
    assert r.returncode == 2 and 'vton-tryon.pt' in r.stderr and 'corrupt' in r.stderr and 'flixnb train tryon' in r.stderr, r.stderr
    (w/'vton-parser.pt').unlink()
    r = _cli('--pairs', lst, '--persons', VP/'person', '--garments', VP/'cloth', '-o', tmp_path/'out', env={'FLIXNB_VTON_WEIGHTS': str(w)})
    assert r.returncode == 2 and 'vton-parser.pt' in r.stderr and 'missing' in r.stderr, r.stderr
    assert not (tmp_path/'out').exists() or not any((tmp_path/'out').iterdir())
    lst.write_text(f"{p} {c} extra\n")
    r = _cli('--pairs', lst, '--persons', VP/'person', '--garments', VP/'cloth', '-o', tmp_path/'out')
    assert r.returncode == 2 and 'line 1' in r.stderr and "expected 'person garment'" in r.stderr, r.stderr

@pytest.mark.skipif(not (HD/'image'/'00006_00.jpg').is_file(), reason='VITON-HD sample absent (FLIXNB_DATA)')
def test_library_add_stops_once_on_corrupt_weights(tmp_path):
    "Corrupt parser weights stop `flixnb library add` at once (exit 2, the file and the repair named), leaving no half-made entry."
    pytest.importorskip('mediapipe')
    import os, shutil
    from flixnb.tryon.vton import weights_dir
    w = tmp_path/'w'; shutil.copytree(weights_dir(), w)
    b = bytearray((w/'vton-parser.pt').read_bytes()); b[100] ^= 0xFF; (w/'vton-parser.pt').write_bytes(bytes(b))
    r = subprocess.run([sys.executable, '-m', 'flixnb', 'library', 'add', str(HD/'image'/'00006_00.jpg'), str(HD/'image'/'00006_00.jpg'),
                        '--library', str(tmp_path/'lib')], capture_output=True, text=True, env={**os.environ, 'FLIXNB_VTON_WEIGHTS': str(w)}, timeout=600)
    assert r.returncode == 2 and 'vton-parser.pt' in r.stderr and 'corrupt' in r.stderr and 'flixnb train tryon' in r.stderr, r.stderr
    assert r.stderr.count('corrupt') == 1                                     # once, not once per photo
    assert not any((tmp_path/'lib'/'models').iterdir())
