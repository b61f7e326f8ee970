"""The `flixnb` command as a studio engineer uses it: real subprocesses on generated files."""
import json, os, subprocess, sys, time
from pathlib import Path
import numpy as np
import pytest
from PIL import Image

FLIXNB = [sys.executable, '-m', 'flixnb']


def run(*args, cwd=None, timeout=600):
    return subprocess.run([*FLIXNB, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout)


@pytest.fixture(scope='module')
def good(tmp_path_factory):
    "Three small built-in studio samples as JPEG files (one with a unicode, space-laden name)."
    from flixnb.samples import write_samples, SAMPLES
    d = tmp_path_factory.mktemp('good')
    paths = write_samples(d, names=list(SAMPLES)[:3], mp=0.3, with_alpha=False)
    fancy = d / 'studio shot née 02.jpg'
    paths[0].rename(fancy)
    return [fancy] + paths[1:]


def test_help_is_fast():
    t = time.perf_counter()
    p = subprocess.run([str(Path(sys.executable).parent / 'flixnb'), '--help'], capture_output=True, text=True)
    assert p.returncode == 0 and 'run' in p.stdout and 'demo' in p.stdout
    assert time.perf_counter() - t < 1.0
    for cmd in ('run', 'demo', 'stages', 'recipes'):
        assert run(cmd, '--help').returncode == 0


def test_run_catalog(good, tmp_path):
    out = tmp_path / 'missing' / 'out'          # a missing output folder is created
    p = run('run', *good, '-o', out, '-q')
    assert p.returncode == 0, p.stdout + p.stderr
    assert '3 done, 0 failed' in p.stdout
    for g in good:
        f = out / f'{g.stem}.jpg'
        im = np.asarray(Image.open(f).convert('RGB'))
        assert (im[0, 0] == 255).all() and (im[-1, -1] == 255).all()     # composited on pure white
        assert im.min() < 200                                            # and the garment is there
        assert Image.open(f).info.get('icc_profile')                     # with an sRGB profile


def test_run_folder_glob_and_duplicates(good, tmp_path):
    d = good[0].parent
    p = run('run', d, str(d / '*.jpg'), good[1], '-o', tmp_path, '-q', '--json')
    assert p.returncode == 0, p.stderr
    recs = [json.loads(l) for l in p.stdout.splitlines() if l.startswith('{')]
    assert len(recs) == len(good)                # the same input given three ways is processed once
    assert sorted(Path(r['output']).name for r in recs) == sorted(f'{g.stem}.jpg' for g in good)


def test_bad_inputs_never_stop_a_run(good, tmp_path):
    from flixnb.io import make_bad_corpus
    bad = tmp_path / 'bad'
    corpus = make_bad_corpus(bad)
    inputs = [*good, *[bad / n for n in corpus]]
    p = run('run', *inputs, '-o', tmp_path / 'out', '--json', '-q')
    assert p.returncode == 1, p.stdout[-3000:] + p.stderr[-3000:]
    assert 'Traceback' not in p.stdout + p.stderr
    recs = {Path(json.loads(l)['input']).name: json.loads(l) for l in p.stdout.splitlines() if l.startswith('{')}
    for g in good: assert recs[g.name]['status'] == 'done'
    for name, exp in corpus.items():
        r = recs.get(name)
        assert r is not None, f"{name} missing from the results"
        if exp['ok']:
            # readable odd inputs (16-bit, CMYK, EXIF-rotated, palette…) load; the keyer may still find no subject
            assert r['status'] == 'done' or 'no subject' in (r['error'] or ''), (name, r)
        else:
            assert r['status'] == 'failed', (name, r)
            # a directory named like an image is searched as a folder by the CLI: it says it holds no images
            expect = 'no image files' if name == 'folder.jpg' else exp['expect']
            assert name in r['error'] and expect.lower() in r['error'].lower(), (name, r['error'], exp)
    # every input is untouched and every output decodes
    for f in (tmp_path / 'out').rglob('*'):
        if f.is_file() and not f.name.startswith('.'): Image.open(f).load()   # (.flixnb-outputs.jsonl: the ledger)


def test_summary_table_names_failures(good, tmp_path):
    bad = tmp_path / 'notes.jpg'; bad.write_text('this is a text file, not a photo')
    p = run('run', good[1], bad, '-o', tmp_path / 'o', '-q')
    assert p.returncode == 1
    assert 'notes.jpg' in p.stdout and '1 done, 1 failed' in p.stdout


def test_usage_errors(tmp_path):
    assert run('run', 'x.jpg', '-o', tmp_path, '--recipe', 'nope').returncode == 2
    assert run('run', tmp_path / 'empty-folder-does-not-exist', '-o', tmp_path).returncode in (1, 2)
    assert run('run').returncode == 2
    assert run('frobnicate').returncode == 2


def test_read_only_output(good, tmp_path):
    ro = tmp_path / 'ro'; ro.mkdir(); ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK): pytest.skip("running as root: a read-only folder is still writable")
        p = run('run', good[1], '-o', ro, '-q')
        assert p.returncode == 1 and 'Traceback' not in p.stdout + p.stderr
        assert 'ro' in p.stdout and ('read-only' in p.stdout.lower() or 'permission' in p.stdout.lower() or 'not writable' in p.stdout.lower())
    finally: ro.chmod(0o700)


def test_input_never_overwritten(good, tmp_path):
    src = tmp_path / 'x.jpg'; src.write_bytes(good[1].read_bytes())
    before = src.read_bytes()
    p = run('run', src, '-o', tmp_path, '-q')   # output would be tmp_path/x.jpg: the input itself
    assert p.returncode == 1 and src.read_bytes() == before
    assert 'overwrite' in p.stdout.lower() or 'input' in p.stdout.lower()


def test_stages_and_recipes():
    p = run('stages'); assert p.returncode == 0 and 'backdrop' in p.stdout and 'catalog' in p.stdout
    p = run('recipes'); assert p.returncode == 0 and 'catalog-basic' in p.stdout


def test_demo(tmp_path):
    p = run('demo', '-o', tmp_path, '--mp', '0.3', '-n', '2', '-q')
    assert p.returncode == 0, p.stdout + p.stderr
    assert (tmp_path / 'summary.txt').exists() and len(list((tmp_path / 'catalog-basic').glob('*.jpg'))) == 2
    assert 'results:' in p.stdout


def test_run_with_clean_plate(tmp_path):
    from flixnb.samples import sample, sample_plate
    from flixnb.io import save_image
    s = sample('trousers-khaki-white', mp=0.5)
    save_image(tmp_path/'shot.jpg', s.image, quality=95); save_image(tmp_path/'plate.jpg', sample_plate('trousers-khaki-white', mp=0.5), quality=95)
    p = run('run', tmp_path/'shot.jpg', '-o', tmp_path/'out', '--plate', tmp_path/'plate.jpg', '-q', '--json')
    assert p.returncode == 0, p.stdout + p.stderr
    assert json.loads(p.stdout.splitlines()[-1])['status'] == 'done' and (tmp_path/'out'/'shot.jpg').exists()
    p = run('run', tmp_path/'shot.jpg', '-o', tmp_path/'out2', '--plate', tmp_path/'plate.jpg', '--recipe', 'cutout')
    assert p.returncode == 2 and 'no backdrop step' in p.stderr
    (tmp_path/'bad.jpg').write_bytes(b'nope')
    p = run('run', tmp_path/'shot.jpg', '-o', tmp_path/'out3', '--plate', tmp_path/'bad.jpg')
    assert p.returncode == 2 and 'bad.jpg' in p.stderr and not (tmp_path/'out3'/'shot.jpg').exists()
