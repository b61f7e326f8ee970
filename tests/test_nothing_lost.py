"""Issue 17 — nothing lost, nothing mislabelled: the real CLI in a subprocess on generated files.
Unique outputs (OUT mirrors the input tree), inputs and foreign files never replaced, QC failures counted,
a corrupt model stops the run once."""
import json, os, shutil, subprocess, sys
from pathlib import Path
import pytest

FLIXNB = [sys.executable, '-m', 'flixnb']
# the backdrop keyer without the U²-Net-p model: the same machinery, less CPU
QUICK = "name: quick\nsteps:\n  - backdrop: {use_coarse: false}\n  - catalog: {background: white, margin: 0.05}\n"


def run(*args, env=None, timeout=300):
    return subprocess.run([*FLIXNB, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def recs(p):
    return [json.loads(l) for l in p.stdout.splitlines() if l.startswith('{')]


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    "Two different small studio photos (built-in samples), as JPEG bytes."
    from flixnb.samples import write_samples, SAMPLES
    d = tmp_path_factory.mktemp('photos')
    ps = write_samples(d, names=list(SAMPLES)[:2], mp=0.08, with_alpha=False)
    return [p.read_bytes() for p in ps]


@pytest.fixture(scope='module')
def quick(tmp_path_factory):
    p = tmp_path_factory.mktemp('recipes') / 'quick.yaml'; p.write_text(QUICK); return p


def put(root, files, photos):
    for i, f in enumerate(files):
        (root / f).parent.mkdir(parents=True, exist_ok=True); (root / f).write_bytes(photos[i % len(photos)])


# 1. an input is never overwritten
def test_run_into_the_input_folder_is_refused(photos, quick, tmp_path):
    s = tmp_path / 's'; put(s, ['a.jpg', 'a.jpeg'], photos)
    before = {f.name: f.read_bytes() for f in s.iterdir()}
    p = run('run', s, '-o', s, '--recipe', quick, '-q')
    assert p.returncode == 2 and 'is the input folder' in p.stderr, p.stdout + p.stderr
    assert {f.name: f.read_bytes() for f in s.iterdir()} == before


def test_run_never_replaces_a_file_it_did_not_write(photos, quick, tmp_path):
    s = tmp_path / 's'; put(s, ['x.png', 'x.jpg'], photos)
    (s / 'x.png').write_bytes(photos[0])                       # (a JPEG named .png decodes all the same)
    keep = (s / 'x.jpg').read_bytes()
    p = run('run', s / 'x.png', '-o', s, '--recipe', quick, '-q')
    assert p.returncode == 1, p.stdout + p.stderr
    assert (s / 'x.jpg').read_bytes() == keep and 'not written by flixnb' in p.stdout and '--overwrite' in p.stdout
    p = run('run', s / 'x.png', '-o', s, '--recipe', quick, '-q', '--overwrite')     # the studio that wants it says so
    assert p.returncode == 0, p.stdout + p.stderr
    assert (s / 'x.jpg').read_bytes() != keep
    p = run('run', s / 'x.png', '-o', s, '--recipe', quick, '-q')                    # and may rerun: flixnb wrote it
    assert p.returncode == 0, p.stdout + p.stderr


def test_batch_in_in_is_refused(photos, quick, tmp_path):
    s = tmp_path / 's'; put(s, ['a.jpg'], photos)
    for extra in ([], ['--no-notebook']):
        p = run('batch', s, s, '--recipe', quick, '-q', *extra)
        assert p.returncode == 2 and 'is the input folder' in p.stderr, p.stdout + p.stderr
    assert sorted(f.name for f in s.iterdir()) == ['a.jpg']


# 2. two inputs never write one output
def test_run_mirrors_the_tree(photos, quick, tmp_path):
    coll = tmp_path / 'coll'
    put(coll, ['a-2.jpg', 'sub1/a.jpg', 'sub2/a.jpg', 'b.jpg', 'b.jpeg'], photos)
    p = run('run', coll, '-o', tmp_path / 'o', '--recipe', quick, '-q', '--json')
    assert p.returncode == 0, p.stdout + p.stderr
    outs = {Path(r['input']).relative_to(coll).as_posix(): Path(r['output']).relative_to(tmp_path / 'o').as_posix() for r in recs(p)}
    assert outs == {'a-2.jpg': 'a-2.jpg', 'sub1/a.jpg': 'sub1/a.jpg', 'sub2/a.jpg': 'sub2/a.jpg',
                    'b.jpg': 'b.jpg.jpg', 'b.jpeg': 'b.jpeg.jpg'}, outs
    assert all((tmp_path / 'o' / o).is_file() for o in outs.values())


def test_long_name(photos, quick, tmp_path):
    d = tmp_path / 'in'; name = 'é' * 125 + '.jpg'                 # 254 bytes
    put(d, [name], photos)
    p = run('run', d, '-o', tmp_path / 'o', '--recipe', quick, '-q', '--json')
    assert p.returncode == 0, p.stdout + p.stderr
    out = Path(recs(p)[0]['output'])
    assert out.is_file() and len(os.fsencode(out.name)) <= 255


def test_batch_adding_a_file_never_overwrites(photos, quick, tmp_path):
    from flixnb.run.batch import Manifest
    coll, out = tmp_path / 'coll', tmp_path / 'o'
    put(coll, ['a-2.jpg', 'sub1/a.jpg', 'sub2/a.jpg'], photos)
    args = ['--no-notebook', '--workers', '1', '--recipe', quick, '-q']
    p = run('batch', coll, out, *args)
    assert p.returncode == 0, p.stdout + p.stderr
    first = {f: f.read_bytes() for f in out.rglob('*.jpg')}
    assert sorted(f.relative_to(out).as_posix() for f in first) == ['a-2.jpg', 'sub1/a.jpg', 'sub2/a.jpg']
    put(coll, ['sub0/a.jpg'], photos[1:])
    p = run('batch', coll, out, *args)
    assert p.returncode == 0, p.stdout + p.stderr
    assert all(f.read_bytes() == b for f, b in first.items())     # finished outputs untouched
    last = Manifest(out / 'manifest.jsonl').latest()
    assert len(last) == 4 and len({r['output'] for r in last.values()}) == 4
    import hashlib
    for r in last.values(): assert hashlib.sha256(Path(r['output']).read_bytes()).hexdigest() == r['output_sha256']
    n = len(Manifest(out / 'manifest.jsonl').records())
    p = run('batch', coll, out, *args)
    assert p.returncode == 0 and len(Manifest(out / 'manifest.jsonl').records()) == n   # nothing redone


# 4. a QC failure is its own outcome
def test_qc_failure_is_not_success(photos, quick, tmp_path):
    d = tmp_path / 'in'; put(d, ['small.jpg'], photos)             # 0.08 MP: far too small for amazon-main
    p = run('run', d, '-o', tmp_path / 'o', '--recipe', quick, '--preset', 'amazon-main', '-q', '--json')
    assert p.returncode == 3, p.stdout + p.stderr
    r = recs(p)[0]
    assert r['status'] == 'qc-failed' and r['qc']['pass'] is False and Path(r['output']).is_file()
    assert 'QC failed' in r['error']
    p = run('run', d, '-o', tmp_path / 'o2', '--recipe', quick, '--preset', 'amazon-main', '-q')
    assert p.returncode == 3 and '0 done, 0 failed, 1 qc-failed' in p.stdout, p.stdout
    p = run('batch', d, tmp_path / 'b', '--no-notebook', '--workers', '1', '--recipe', quick, '--preset', 'amazon-main', '-q')
    assert p.returncode == 3, p.stdout + p.stderr
    s = json.loads((tmp_path / 'b' / 'batch-summary.json').read_text())
    assert s['done'] == 0 and s['qc_failed'] == 1 and s['exit'] == 3
    from flixnb.run.batch import Manifest
    assert [x['status'] for x in Manifest(tmp_path / 'b' / 'manifest.jsonl').records()] == ['qc-failed']


# 5. a corrupt model stops the run once, with the command that repairs it
def test_corrupt_model_stops_once(photos, tmp_path):
    cache = tmp_path / 'models'; cache.mkdir()
    (cache / 'u2netp.onnx').write_bytes(b'\x01' * 100)
    d = tmp_path / 'in'; put(d, ['a.jpg', 'b.jpg', 'c.jpg'], photos)
    env = {'FLIXNB_MODELS': str(cache)}
    p = run('run', d, '-o', tmp_path / 'o', '-q', env=env)
    assert p.returncode == 2, p.stdout + p.stderr
    assert p.stderr.count('flixnb models fetch u2netp') == 1 and 'corrupt' in p.stderr and 'Traceback' not in p.stderr
    p = run('batch', d, tmp_path / 'b', '--no-notebook', '--workers', '1', '-q', env=env)
    assert p.returncode == 2 and 'flixnb models fetch u2netp' in p.stderr, p.stdout + p.stderr


def test_int8_model_is_checked(photos, tmp_path):
    from flixnb.models import models_dir
    from flixnb.stages.segment import u2netp_int8_path
    try: q8 = u2netp_int8_path()                                   # made (or verified) in the user's cache
    except Exception as e: pytest.skip(f"no int8 U²-Net-p here: {e}")
    cache = tmp_path / 'models'; cache.mkdir()
    for f in ('u2netp.onnx', 'u2netp-int8.json'): shutil.copy2(q8.with_name(f), cache / f)
    shutil.copyfile(q8.with_name('u2netp.onnx'), cache / 'u2netp-int8.onnx')      # another model in its place
    r = tmp_path / 'int8.yaml'
    r.write_text("name: int8\nsteps:\n  - u2netp: {int8: true}\n  - backdrop: {}\n  - catalog: {background: white}\n")
    d = tmp_path / 'in'; put(d, ['a.jpg', 'b.jpg'], photos)
    p = run('run', d, '-o', tmp_path / 'o', '--recipe', r, '-q', env={'FLIXNB_MODELS': str(cache)})
    assert p.returncode == 2 and 'flixnb models fetch u2netp --int8' in p.stderr, p.stdout + p.stderr


# 3. any byte string a file system allows as a name
@pytest.mark.skipif(sys.platform != 'linux', reason='file names as raw bytes: Linux')
def test_name_that_is_not_utf8(photos, quick, tmp_path):
    d = tmp_path / 'in'; d.mkdir()
    (d / 'ok.jpg').write_bytes(photos[0])
    with open(os.path.join(os.fsencode(d), b'caf\xe9.jpg'), 'wb') as f: f.write(photos[1])     # Latin-1 bytes
    strict = {'LC_ALL': 'C.UTF-8', 'PYTHONIOENCODING': 'utf-8:strict'}
    p = run('run', d, '-o', tmp_path / 'o', '--recipe', quick, '-q', env=strict)
    assert p.returncode == 0 and 'Traceback' not in p.stderr and 'caf\\xe9.jpg' in p.stdout, p.stdout + p.stderr
    assert os.path.isfile(os.path.join(os.fsencode(tmp_path / 'o'), b'caf\xe9.jpg'))
    from flixnb.run.batch import Manifest
    for extra in ([], ['--no-notebook', '--workers', '1']):          # through the papermill notebook, and without it
        out = tmp_path / f'b{len(extra)}'
        p = run('batch', d, out, '--recipe', quick, *extra, env=strict)
        assert p.returncode == 0 and '2 done' in p.stdout and 'Traceback' not in p.stderr, p.stdout + p.stderr
        rs = Manifest(out / 'manifest.jsonl').records()
        assert sorted(os.fsencode(Path(r['input']).name) for r in rs) == [b'caf\xe9.jpg', b'ok.jpg']
        assert all(os.path.isfile(os.fsencode(r['output'])) for r in rs)
        p = run('batch', d, out, '--recipe', quick, *extra, env=strict)                 # a rerun: nothing redone, no crash
        assert p.returncode == 0 and '2 already done' in p.stdout + p.stderr, p.stdout + p.stderr
    odd = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), b'sh\xf6ot')))          # the input folder's own name
    shutil.copytree(d, odd)
    p = run('batch', odd, tmp_path / 'b-odd', '--recipe', quick, env=strict)          # not a notebook parameter: run directly
    assert p.returncode == 0 and 'without the notebook' in p.stderr, p.stdout + p.stderr


# 4. one QC verdict: the run's is `flixnb qc`'s on the same file
def test_run_verdict_is_qc_verdict(photos, quick, tmp_path):
    from flixnb.samples import write_samples
    d = tmp_path / 'in'; put(d, ['small.jpg'], photos)
    write_samples(d, names=['tee-navy-white', 'trousers-denim-green'], mp=2, with_alpha=False)
    p = run('run', d, '-o', tmp_path / 'o', '--recipe', quick, '--preset', 'amazon-main', '-q', '--json')
    ran = {Path(r['output']).name: (r['qc']['pass'], r['qc']['reasons']) for r in recs(p)}
    q = run('qc', tmp_path / 'o', '--preset', 'amazon-main', '--json')
    checked = {Path(r['file']).name: (r['pass'], r['reasons']) for r in recs(q)}
    assert ran == checked and len(ran) == 3, (ran, checked)
    assert ran['small.jpg'][0] is False and any('upscaled' in x for x in ran['small.jpg'][1])   # a fact read from the file
    assert p.returncode == q.returncode == 3                                                   # qc-failed, both


# 6. nothing skipped in silence; a killed run's temp files cleaned
def test_unsupported_file_is_recorded(photos, quick, tmp_path):
    d = tmp_path / 'in'; put(d, ['a.jpg'], photos); (d / 'IMG_0001.HEIC').write_bytes(b'\0\0\0\x18ftypheic')
    p = run('run', d, '-o', tmp_path / 'o', '--recipe', quick, '-q', '--json')
    st = {Path(r['input']).name: (r['status'], r['error']) for r in recs(p)}
    assert st['a.jpg'][0] == 'done' and st['IMG_0001.HEIC'][0] == 'failed' and 'unsupported image format HEIC' in st['IMG_0001.HEIC'][1], st
    assert p.returncode == 1


def test_stale_temp_files_are_cleaned(photos, quick, tmp_path):
    d = tmp_path / 'in'; put(d, ['a.jpg'], photos)
    o = tmp_path / 'o'; (o / 'sub').mkdir(parents=True)
    old = [o / '.flixnb-tmp-a.x1.jpg', o / 'sub' / '.flixnb-tmp-b.x2.jpg']; young = o / '.flixnb-tmp-c.x3.jpg'
    for f in old + [young]: f.write_bytes(b'\xff\xd8 truncated')
    for f in old: os.utime(f, (1e9, 1e9))                          # left by a run killed long ago
    p = run('run', d, '-o', o, '--recipe', quick, '-q')
    assert p.returncode == 0 and not any(f.exists() for f in old) and young.exists()   # a live write's temp file is left alone


# issue 20: one catalog set, one size per preset — a run, and a batch with its reruns
def test_one_size_per_set(quick, tmp_path):
    from flixnb.samples import write_samples
    from PIL import Image
    d = tmp_path / 'in'
    write_samples(d / 'big', names=['tee-navy-white'], mp=3, with_alpha=False)
    write_samples(d / 'small', names=['tee-navy-white', 'trousers-denim-green'], mp=0.4, with_alpha=False)
    p = run('run', d, '-o', tmp_path / 'o', '--recipe', quick, '--preset', 'zalando', '-q', '--json')
    sizes = {Image.open(r['output']).size for r in recs(p)}
    assert len(recs(p)) == 3 and len(sizes) == 1, (sizes, p.stderr)
    assert 'catalog size for this set (zalando)' in p.stderr, p.stderr
    b = tmp_path / 'b'
    p = run('batch', d / 'big', b, '--no-notebook', '--workers', '1', '--recipe', quick, '--preset', 'zalando')
    assert p.returncode in (0, 3) and "the preset's target" in p.stderr, p.stdout + p.stderr
    first = json.loads((b / 'catalog-set.json').read_text())['canvas']
    p = run('batch', d, b, '--no-notebook', '--workers', '1', '--recipe', quick, '--preset', 'zalando')   # smaller photos join
    assert 'fixed when the batch started' in p.stderr, p.stderr
    from flixnb.run.batch import Manifest
    outs = {Image.open(r['output']).size for r in Manifest(b / 'manifest.jsonl').latest().values() if r.get('output')}
    assert outs == {tuple(first)}, (outs, first)
    assert json.loads((b / 'batch-summary.json').read_text())['catalog_size'] == first
