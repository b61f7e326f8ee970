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
    real = cv2.imread(str(HD/'image'/'00006_00.jpg'))[..., ::-1]
    assert ssim(img, real) > 0.8
    assert main([str(HD/'cloth'/'00006_00.jpg'), '--library', str(tmp_path/'lib'), '-o', str(tmp_path/'out')]) == 0
    assert (tmp_path/'out'/'00006_00.jpg').is_file()

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
