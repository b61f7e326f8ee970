"""`flixnb colour` and `flixnb ghost` as a retoucher runs them: real subprocesses on generated files."""
import json, subprocess, sys
from pathlib import Path
import numpy as np
import pytest

FLIXNB = [sys.executable, '-m', 'flixnb']


def run(*args, timeout=300):
    return subprocess.run([*FLIXNB, *map(str, args)], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope='module')
def tee(tmp_path_factory):
    "A navy tee sample whose garment colour is cast toward green, and a swatch photo of its true colour."
    from flixnb.samples import sample
    from flixnb.io import save_image
    d = tmp_path_factory.mktemp('colour')
    s = sample('tee-navy-white', mp=0.3, seed=0)
    a = s.layers['gt_alpha'][..., None]
    cast = np.clip(s.image.astype(np.float32) * np.float32([0.85, 1.15, 0.9]), 0, 255)
    off = (a*cast + (1 - a)*s.image).astype(np.uint8)
    save_image(d/'tee.png', off, s.layers['gt_alpha'])
    core = s.image[s.layers['gt_alpha'] > 0.99]
    sw = np.broadcast_to(np.median(core, 0).astype(np.uint8), (200, 200, 3)).copy()
    save_image(d/'swatch.jpg', sw, quality=95)
    save_image(d/'black.png', np.zeros((100, 100, 3), np.uint8))
    (d/'broken.jpg').write_bytes(b'\xff\xd8\xff not really')
    return d


def test_colour_matches_swatch(tee, tmp_path):
    out = tmp_path/'out.jpg'
    p = run('colour', tee/'tee.png', '--swatch', tee/'swatch.jpg', '-o', out, '--json')
    assert p.returncode == 0, p.stdout + p.stderr
    r = json.loads(p.stdout)
    assert r['delta_e_after'] < 2.0 < r['delta_e_before'], r
    assert out.exists()


def test_colour_black_swatch_changes_nothing(tee, tmp_path):
    from flixnb.io import load_image
    out = tmp_path/'same.png'
    p = run('colour', tee/'tee.png', '--swatch', tee/'black.png', '-o', out, '--no-white-balance')
    assert p.returncode == 1 and 'warning' in p.stderr and 'black' in p.stderr, p.stdout + p.stderr
    assert (load_image(out).image == load_image(tee/'tee.png').image).all()
    # white balance is on by default: the backdrop's cast goes even when the swatch is refused
    p = run('colour', tee/'tee.png', '--swatch', tee/'black.png', '-o', tmp_path/'wb.png')
    assert p.returncode == 1 and 'black' in p.stderr, p.stdout + p.stderr


def test_colour_unreadable_swatch_named(tee, tmp_path):
    p = run('colour', tee/'tee.png', '--swatch', tee/'broken.jpg', '-o', tmp_path/'x.jpg')
    assert p.returncode == 1 and 'broken.jpg' in p.stderr and 'Traceback' not in p.stderr, p.stderr
    assert not (tmp_path/'x.jpg').exists()
    assert run('colour', tee/'tee.png', '-o', tmp_path/'y.jpg').returncode == 2          # usage: --swatch missing


def test_ghost_cli(tmp_path):
    from flixnb.stages.ghost import ghost_samples
    from flixnb.io import save_image, load_image
    front, inside = ghost_samples(size=700, seed=1)
    save_image(tmp_path/'front.jpg', front.image, quality=95); save_image(tmp_path/'inside.jpg', inside.image, quality=95)
    p = run('ghost', tmp_path/'front.jpg', tmp_path/'inside.jpg', '-o', tmp_path/'ghost.png')
    assert p.returncode == 0, p.stdout + p.stderr
    g = load_image(tmp_path/'ghost.png')
    assert g.alpha is not None and g.size == front.size
    gt = front.layers['gt_ghost']
    inter = ((g.alpha > 0.5) & (gt > 0.5)).sum(); union = ((g.alpha > 0.5) | (gt > 0.5)).sum()
    assert inter / union > 0.97, inter / union
    bad = run('ghost', tmp_path/'front.jpg', tmp_path/'nope.jpg', '-o', tmp_path/'g2.png')
    assert bad.returncode == 1 and 'nope.jpg' in (bad.stdout + bad.stderr) and 'Traceback' not in bad.stderr
