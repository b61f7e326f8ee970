"""`flixnb batch` / `flixnb watch` as a studio runs them: real subprocesses, a real Dask cluster, kill -9 mid-run."""
import json, os, random, signal, socket, subprocess, sys, time
from pathlib import Path
import pytest
from PIL import Image

FLIXNB = [sys.executable, '-m', 'flixnb']
# A quick recipe for the tests (the backdrop keyer without the U²-Net-p model): same machinery, less CPU.
QUICK = "name: quick\nsteps:\n  - backdrop: {use_coarse: false}\n  - catalog: {background: white, margin: 0.05}\n"


def run(*args, env=None, timeout=300):
    return subprocess.run([*FLIXNB, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def sha(p):
    import hashlib
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


def records(out):
    from flixnb.run.batch import Manifest
    return Manifest(Path(out) / 'manifest.jsonl').records()


def latest(out):
    return {r['input']: r for r in records(out)}


def decodes(p):
    with Image.open(p) as im: im.load()
    return True


def make_samples(folder, n, mp=0.3):
    "`n` distinct built-in studio samples (names × seeds) as JPEG files."
    from flixnb.samples import write_samples, SAMPLES
    names, out = list(SAMPLES), []
    for i in range(n):
        ps = write_samples(folder, names=[names[i % len(names)]], mp=mp, seed=i // len(names), with_alpha=False)
        out += [p for p in ps if not p.name.endswith('.alpha.png')]
    return out


@pytest.fixture(scope='module')
def quick(tmp_path_factory):
    p = tmp_path_factory.mktemp('recipes') / 'quick.yaml'
    p.write_text(QUICK)
    return p


@pytest.fixture(scope='module')
def forty(tmp_path_factory):
    d = tmp_path_factory.mktemp('forty')
    paths = make_samples(d, 40, mp=0.15)
    assert len(paths) == 40
    return d


def test_help():
    assert run('batch', '--help').returncode == 0
    assert run('watch', '--help').returncode == 0


def test_kill_and_resume(forty, quick, tmp_path):
    "kill -9 the batch at a random point, rerun: all 40 done, outputs decode and match an uninterrupted run."
    ref = tmp_path / 'ref'
    p = run('batch', forty, ref, '--no-notebook', '--workers', '2', '--recipe', quick, '-q')
    assert p.returncode == 0, p.stdout + p.stderr
    want = {Path(r['output']).name: sha(r['output']) for r in latest(ref).values()}
    assert len(want) == 40

    out = tmp_path / 'out'
    stop_at = random.Random().randint(2, 30)
    proc = subprocess.Popen([*FLIXNB, 'batch', str(forty), str(out), '--no-notebook', '--workers', '2', '--recipe',
                             str(quick), '-q'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        t0 = time.time()
        while time.time() - t0 < 120 and proc.poll() is None:
            if len(records(out)) >= stop_at: break
            time.sleep(0.05)
        assert proc.poll() is None, "the batch finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        n_before = len(records(out))
        assert 0 < n_before < 40, n_before
        # the workers must not outlive the batch process (they would keep writing into OUT)
        import psutil
        t0 = time.time()
        while time.time() - t0 < 15:
            left = [q for q in psutil.process_iter(['pid']) if _sid(q.pid) == proc.pid]
            if not left: break
            time.sleep(0.2)
        assert not left, f"orphan worker processes: {[q.pid for q in left]}"
    finally:
        try: os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError: pass

    p = run('batch', forty, out, '--no-notebook', '--workers', '2', '--recipe', quick, '-q')
    assert p.returncode == 0, p.stdout + p.stderr
    last = latest(out)
    assert len(last) == 40 and all(r['status'] == 'done' for r in last.values())
    got = {}
    for r in last.values():
        assert decodes(r['output'])
        assert sha(r['output']) == r['output_sha256']              # the manifest agrees with the file
        got[Path(r['output']).name] = sha(r['output'])
    if got != want: _explain_difference(out, ref, got, want)
    assert got == want                                              # same bytes as the uninterrupted run
    assert not list(out.glob('.flixnb-tmp-*'))                      # no partial outputs left
    assert sorted(f.name for f in out.glob('*.jpg')) == sorted(want)
    # the rerun did only what the killed run had not finished
    assert len(records(out)) <= 40 + 2, len(records(out))


def _explain_difference(out, ref, got, want):
    "Say whether differing outputs differ in pixels or only in metadata (e.g. an ICC profile stamped with the time)."
    import numpy as np
    for name in sorted(n for n in want if got.get(n) != want[n])[:1]:
        a, b = (np.asarray(Image.open(d / name)) for d in (out, ref))
        icc = [Image.open(d / name).info.get('icc_profile') for d in (out, ref)]
        pytest.fail(f"{name}: not byte-identical to the uninterrupted run; pixels equal: {np.array_equal(a, b)}, "
                    f"ICC profiles equal: {icc[0] == icc[1]} (an ICC header date that changes per process would do this)")


def _sid(pid):
    try: return os.getsid(pid)
    except OSError: return None


def test_bad_inputs_mixed_in(tmp_path, quick):
    "The foundation's bad-input corpus among good images: good ones done, bad ones failed with a reason, exit 1."
    from flixnb.io import make_bad_corpus
    good = make_samples(tmp_path / 'good', 4, mp=0.2)
    cases = make_bad_corpus(tmp_path / 'bad')
    bad = [tmp_path / 'bad' / n for n, c in cases.items() if not c['ok']]
    assert len(bad) >= 8
    out = tmp_path / 'out'
    p = run('batch', *good, *bad, out, '--no-notebook', '--workers', '2', '--recipe', quick, '-q')
    assert p.returncode == 1, p.stdout + p.stderr
    assert f"{len(good)} done, {len(bad)} failed" in p.stdout, p.stdout
    last = latest(out)
    for g in good: assert last[str(g.absolute())]['status'] == 'done'
    for b in bad:
        r = last[str(b.absolute())]
        assert r['status'] == 'failed', r
        assert r['error'] and b.name in r['error'], r['error']      # names the file and says why
        assert len(r['error']) > len(str(b)) + 5
    summary = json.loads((out / 'batch-summary.json').read_text())
    assert summary['failed'] == len(bad) and summary['done'] == len(good)


def test_resume_and_recipe_change(tmp_path, quick):
    src = tmp_path / 'in'
    make_samples(src, 4, mp=0.2)
    out = tmp_path / 'out'
    assert run('batch', src, out, '--no-notebook', '--workers', '1', '--recipe', quick, '-q').returncode == 0
    n, mtimes = len(records(out)), {f: f.stat().st_mtime_ns for f in out.glob('*.jpg')}
    assert n == 4
    p = run('batch', src, out, '--no-notebook', '--workers', '1', '--recipe', quick, '-q')
    assert p.returncode == 0 and len(records(out)) == 4                         # nothing redone
    assert {f: f.stat().st_mtime_ns for f in out.glob('*.jpg')} == mtimes
    changed = tmp_path / 'quick2.yaml'
    changed.write_text(QUICK.replace('margin: 0.05', 'margin: 0.15'))
    p = run('batch', src, out, '--no-notebook', '--workers', '1', '--recipe', changed, '-q')
    assert p.returncode == 0 and len(records(out)) == 8                         # all redone for the new recipe
    hashes = {r['recipe_hash'] for r in records(out)}
    assert len(hashes) == 2


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def test_two_workers_against_one_scheduler(tmp_path, quick):
    "A scheduler and two workers as separate processes on loopback: the batch spreads over both."
    from distributed import Client
    dask = Path(sys.executable).with_name('dask')
    cli = [str(dask)] if dask.exists() else [sys.executable, '-m', 'dask']
    port = _free_port(); addr = f'tcp://127.0.0.1:{port}'
    procs = [subprocess.Popen([*cli, 'scheduler', '--host', '127.0.0.1', '--port', str(port), '--no-dashboard'],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        for name in ('wA', 'wB'):
            procs.append(subprocess.Popen([*cli, 'worker', addr, '--nthreads', '1', '--name', name, '--no-dashboard',
                                           '--host', '127.0.0.1'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=True))
        t0 = time.time()
        while True:
            try:
                with Client(addr, timeout='5s') as c: c.wait_for_workers(2, timeout=60); break
            except OSError:
                if time.time() - t0 > 60: raise
                time.sleep(0.5)
        src = tmp_path / 'in'
        make_samples(src, 10, mp=0.2)
        out = tmp_path / 'out'
        p = run('batch', src, out, '--no-notebook', '--scheduler', addr, '--recipe', quick, '-q')
        assert p.returncode == 0, p.stdout + p.stderr
        last = latest(out)
        assert len(last) == 10 and all(r['status'] == 'done' for r in last.values())
        by = {}
        for r in last.values(): by[r['worker_name']] = by.get(r['worker_name'], 0) + 1
        assert set(by) == {'wA', 'wB'}, by
        assert len({r['pid'] for r in last.values()}) == 2
    finally:
        for q in procs[::-1]:
            try: os.killpg(q.pid, signal.SIGTERM)
            except ProcessLookupError: pass
        for q in procs:
            try: q.wait(10)
            except subprocess.TimeoutExpired: os.killpg(q.pid, signal.SIGKILL)


def run_with_poison(tmp_path, quick, monkeypatch, n, mp, **kw):
    "A batch of `n` samples whose second one kills every worker that takes it: (records, the poison file)."
    from flixnb.run.batch import run_batch
    src = tmp_path / 'in'
    paths = make_samples(src, n, mp=mp)
    poison = paths[1].with_name('poison-' + paths[1].name); paths[1].rename(poison)
    monkeypatch.setenv('FLIXNB_BATCH_CRASH_ON', 'poison-')
    res = run_batch(src, tmp_path / 'out', recipe=str(quick), workers=2, allowed_failures=1, progress=False, **kw)
    st = {Path(r['input']).name: r for r in res}
    assert st[poison.name]['status'] == 'failed'
    assert 'killed' in st[poison.name]['error'] and poison.name in st[poison.name]['error'], st[poison.name]['error']
    assert sum(r['status'] == 'done' for r in res) == n - 1
    return res, poison


def test_image_that_kills_workers(tmp_path, quick, monkeypatch):
    "An image that crashes its worker every time is marked failed (KilledWorker) and the batch goes on."
    run_with_poison(tmp_path, quick, monkeypatch, 4, 0.2)


def test_watch_once(tmp_path, quick):
    src = tmp_path / 'hot'
    make_samples(src, 3, mp=0.2)
    (src / 'notes.jpg').write_text('not a photo')
    out = tmp_path / 'out'
    p = run('watch', src, out, '--once', '--interval', '0.2', '--recipe', quick)
    assert p.returncode == 1, p.stdout + p.stderr                    # notes.jpg failed
    last = latest(out)
    assert len(last) == 4 and sum(r['status'] == 'done' for r in last.values()) == 3
    p = run('watch', src, out, '--once', '--interval', '0.2', '--recipe', quick)
    assert p.returncode == 0 and len(records(out)) == 4              # a restart does not redo anything
    extra = make_samples(tmp_path / 'more', 4, mp=0.2)[-1]
    (src / 'late.jpg').write_bytes(extra.read_bytes())
    p = run('watch', src, out, '--once', '--interval', '0.2', '--recipe', quick)
    assert p.returncode == 0 and len(records(out)) == 5
    assert latest(out)[str((src / 'late.jpg').absolute())]['status'] == 'done'


def test_papermill_notebook(tmp_path):
    "`flixnb batch` through papermill: OUT/batch.ipynb is kept, with its outputs (summary and plots)."
    src = tmp_path / 'in'
    make_samples(src, 2, mp=0.2)
    out = tmp_path / 'out'
    p = run('batch', src, out, '--workers', '1', '-q', '-p', 'resume', 'false')
    assert p.returncode == 0, p.stdout + p.stderr
    nb = json.loads((out / 'batch.ipynb').read_text())
    code = [c for c in nb['cells'] if c['cell_type'] == 'code']
    assert any('injected-parameters' in c['metadata'].get('tags', []) for c in code)
    text = ''.join(''.join(o.get('text', '')) for c in code for o in c.get('outputs', []))
    assert '2 done, 0 failed' in text
    assert any('image/png' in o.get('data', {}) for c in code for o in c.get('outputs', []))
    assert len(list(out.glob('*.jpg'))) == 2


def test_batch_size_chunks(tmp_path, quick):
    "batch_size=4: chunks of 4 per task; a corrupt file fails alone; the same bytes as a task per image; resume across sizes."
    from flixnb.run.batch import run_batch
    src = tmp_path / 'in'
    good = make_samples(src, 10, mp=0.15)
    corrupt = src / 'zz-corrupt.jpg'
    corrupt.write_bytes(good[0].read_bytes()[:600])                              # a truncated JPEG
    out4, out1 = tmp_path / 'b4', tmp_path / 'b1'
    p = run('batch', src, out4, '--no-notebook', '--workers', '2', '--batch-size', '4', '--recipe', quick, '-q')
    assert p.returncode == 1, p.stdout + p.stderr                                 # one failed
    assert "10 done, 1 failed" in p.stdout, p.stdout
    last4 = latest(out4)
    assert len(last4) == 11
    bad = last4[str(corrupt.absolute())]
    assert bad['status'] == 'failed' and corrupt.name in bad['error'] and 'truncated' in bad['error'], bad
    for g in good:
        r = last4[str(g.absolute())]
        assert r['status'] == 'done' and r['batch'] in (3, 4) and r['decode'] == 'cpu' and r['device'] == 'cpu', r
        assert sha(r['output']) == r['output_sha256']
    chunks = {}
    for r in last4.values(): chunks.setdefault(r['chunk'], []).append(r['input'])
    assert sorted(map(len, chunks.values())) == [3, 4, 4], chunks                # 11 inputs → 4 + 4 + 3
    assert json.loads((out4 / 'batch-summary.json').read_text())['batch_size'] == 4

    res1 = run_batch(src, out1, recipe=str(quick), workers=2, batch_size=1, progress=False)
    one = {r['input']: r for r in res1}
    assert all('chunk' not in r and r['batch'] == 1 for r in res1)
    assert {k: (r['status'], r.get('output_sha256')) for k, r in one.items()} == \
           {k: (r['status'], r.get('output_sha256')) for k, r in last4.items()}   # identical outputs, same statuses
    assert one[str(corrupt.absolute())]['error'] == bad['error']

    # resume with another batch size: only the missing outputs (and the failed input) are redone
    gone = [Path(last4[str(g.absolute())]['output']) for g in good[2:5]]
    for f in gone: f.unlink()
    n0 = len(records(out4))
    res = run_batch(src, out4, recipe=str(quick), workers=2, batch_size=3, progress=False)
    redone = sorted(Path(r['input']).name for r in res if not r.get('skipped'))
    assert redone == sorted([g.name for g in good[2:5]] + [corrupt.name]), redone
    assert len(records(out4)) == n0 + 4
    assert all(sha(f) == one[str(g.absolute())]['output_sha256'] for f, g in zip(gone, good[2:5]))


def test_chunk_that_kills_workers(tmp_path, quick, monkeypatch):
    "A chunk holding an image that kills every worker: the chunk is split, only that image fails, the others are done."
    res, poison = run_with_poison(tmp_path, quick, monkeypatch, 6, 0.15, batch_size=3)
    alone = [r for r in res if r.get('retried_alone')]
    assert poison.name in {Path(r['input']).name for r in alone}                 # its chunk mates ran one per task
    assert {r['batch'] for r in alone if r['status'] == 'done'} <= {1}
    assert any(r.get('chunk') is not None for r in res)                          # the other chunk ran as one task


def test_batch_size_usage_errors(tmp_path):
    p = run('batch', tmp_path, tmp_path / 'out', '--no-notebook', '--batch-size', '0')
    assert p.returncode == 2 and 'batch_size' in p.stderr, p.stdout + p.stderr
    try:
        import torch; cuda = torch.cuda.is_available()
    except ImportError: cuda = False
    if not cuda:
        p = run('batch', tmp_path, tmp_path / 'out', '--no-notebook', '--device', 'cuda')
        assert p.returncode == 2 and 'no CUDA device' in p.stderr, p.stdout + p.stderr
