"Tests for flixnb.io: the bad-input corpus, colour handling, atomic writes (incl. SIGKILL), input protection."
import io, os, signal, subprocess, sys, textwrap, time, errno
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from flixnb.core import Shot, ImageReadError, ImageWriteError
from flixnb import io as fio
from flixnb.io import (load_image, save_image, save_shot, atomic_write, find_inputs, make_bad_corpus,
                       clean_stale_temps, TMP_PREFIX, PRIMARIES, rgb_to_xyz_matrix, srgb_decode, srgb_encode)


@pytest.fixture(scope='session')
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp('corpus')
    return d, make_bad_corpus(d)


def _cases():
    import tempfile
    with tempfile.TemporaryDirectory() as d: return sorted(make_bad_corpus(d))


@pytest.mark.parametrize('name', _cases())
def test_corpus_case(corpus, name):
    d, cases = corpus
    case = cases[name]
    if case['ok']:
        shot = load_image(d/name)
        assert isinstance(shot, Shot) and shot.image.dtype == np.uint8 and shot.image.ndim == 3
        warns = '; '.join(shot.meta.get('warnings', []))
        assert case['expect'] in warns, (name, warns)
        for k in ('path', 'stem', 'format', 'size', 'mode', 'bit_depth', 'icc', 'orientation', 'frames'):
            assert k in shot.meta, k
        assert shot.meta['size'] == shot.size
        if shot.alpha is not None: assert shot.alpha.dtype == np.float32 and shot.alpha.shape == shot.image.shape[:2]
    else:
        with pytest.raises(ImageReadError) as ei: load_image(d/name)
        assert case['expect'] in ei.value.reason, (name, ei.value.reason)
        assert Path(ei.value.path).name == name


def test_corpus_small_fast_deterministic(tmp_path):
    t0 = time.perf_counter(); a = make_bad_corpus(tmp_path/'a'); dt = time.perf_counter() - t0
    b = make_bad_corpus(tmp_path/'b')
    make_bad_corpus(tmp_path/'a')                                  # idempotent over an existing corpus
    assert a == b and dt < 2
    files = [f for f in (tmp_path/'a').iterdir() if f.is_file() and not f.is_symlink()]
    assert sum(f.stat().st_size for f in files) < 2e6
    for f in files: assert f.read_bytes() == (tmp_path/'b'/f.name).read_bytes(), f.name
    assert {'empty.jpg', 'truncated.jpg', 'truncated.png', 'notes.jpg', 'page.png', 'bomb.png', 'cmyk.jpg',
            'deep16.png', 'deep16.tif', 'gray.jpg', 'palette_transparent.png', 'exif_rot3.jpg', 'exif_rot6.jpg',
            'exif_rot8.jpg', 'animated.gif', 'animated.webp', 'rgba.png', 'tiny_1x1.png', 'strip_20000x50.jpg',
            'photo été 01.jpg', 'folder.jpg'} <= set(a)
    if hasattr(os, 'symlink'): assert 'loop.jpg' in a


@pytest.mark.parametrize('o', [3, 6, 8])
def test_exif_orientation_marker(corpus, o):
    d, _ = corpus
    s = load_image(d/f'exif_rot{o}.jpg')
    assert s.size == (48, 32) and s.meta['orientation'] == o
    assert np.abs(s.image[1:7, 1:7].astype(int) - (220, 20, 20)).max() < 30       # red top-left
    assert np.abs(s.image[25:31, 41:47].astype(int) - (20, 20, 220)).max() < 30   # blue bottom-right


@pytest.mark.parametrize('name', ['deep16.png', 'deep16.tif'])
def test_16bit_rounded_not_truncated(corpus, name):
    d, _ = corpus
    import cv2
    raw = cv2.imread(str(d/name), cv2.IMREAD_UNCHANGED)[..., ::-1]
    assert raw.dtype == np.uint16
    s = load_image(d/name)
    assert s.meta['bit_depth'] == 16
    np.testing.assert_array_equal(s.image, np.round(raw/257).astype(np.uint8))


def test_16bit_gray_not_clipped(tmp_path):
    g = (np.arange(256*64).reshape(64, 256)*4).astype(np.uint16)
    Image.fromarray(g).save(tmp_path/'g16.png')                        # mode I;16
    s = load_image(tmp_path/'g16.png')
    np.testing.assert_array_equal(s.image[..., 1], np.round(g/257).astype(np.uint8))


def _expected(rgb8, space):
    prim, white, trc = PRIMARIES[space]
    v = np.asarray(rgb8)/255
    lin = srgb_decode(v) if trc == 'srgb' else v**trc
    xyz = rgb_to_xyz_matrix(prim) @ lin
    return np.round(srgb_encode(np.linalg.solve(rgb_to_xyz_matrix(PRIMARIES['sRGB'][0]), xyz))*255)


@pytest.mark.parametrize('name,space', [('adobe_rgb.jpg', 'Adobe RGB'), ('display_p3.png', 'Display P3')])
def test_icc_converted(corpus, name, space):
    d, _ = corpus
    with Image.open(d/name) as im: stored = np.asarray(im.convert('RGB'))[15, 20]
    s = load_image(d/name)
    got = s.image[15, 20].astype(int)
    assert s.meta['icc'] == space
    assert np.abs(got - _expected(stored, space)).max() <= 2
    assert np.abs(got - stored.astype(int)).max() > 10


def test_cmyk_without_profile(corpus):
    d, _ = corpus
    s, ref = load_image(d/'cmyk.jpg'), load_image(d/'photo été 01.jpg')
    assert s.meta['mode'] == 'CMYK' and s.meta['icc'] is None
    assert np.abs(s.image.astype(int) - ref.image).mean() < 6


def test_alpha_kept_and_opaque_alpha_dropped(corpus, tmp_path):
    d, _ = corpus
    s = load_image(d/'rgba.png')
    np.testing.assert_allclose(s.alpha[0], np.clip(np.arange(96)*4, 0, 255)/255, atol=1e-6)
    a = np.zeros((8, 8, 4), np.uint8); a[..., 3] = 255
    Image.fromarray(a, 'RGBA').save(tmp_path/'opaque.png')
    s = load_image(tmp_path/'opaque.png')
    assert s.alpha is None and 'dropped' in s.meta['alpha']


def test_bomb_refused_from_header_fast(corpus):
    d, _ = corpus
    assert (d/'bomb.png').stat().st_size < 10_000
    t0 = time.perf_counter()
    with pytest.raises(ImageReadError, match=r'30000×30000.*limit of 200 MP'): load_image(d/'bomb.png')
    assert time.perf_counter() - t0 < 0.2


def test_pixel_limit_env_and_arg(corpus, monkeypatch):
    d, _ = corpus
    monkeypatch.setenv('FLIXNB_MAX_PIXELS', '1000')
    with pytest.raises(ImageReadError, match='too many pixels'): load_image(d/'photo été 01.jpg')
    assert load_image(d/'photo été 01.jpg', max_pixels=10_000).size == (96, 64)


def test_truncated_jpeg_even_with_load_truncated_flag(corpus, monkeypatch):
    d, _ = corpus
    monkeypatch.setattr(ImageFile, 'LOAD_TRUNCATED_IMAGES', True)
    with pytest.raises(ImageReadError, match='truncated JPEG'): load_image(d/'truncated.jpg')


@pytest.mark.parametrize('fmt,kw', [('JPEG', {}), ('PNG', {}), ('GIF', {}), ('WEBP', {}), ('TIFF', {}), ('BMP', {})])
def test_any_truncation_gives_image_read_error(tmp_path, fmt, kw):
    "Cut a file anywhere: either it loads, or ImageReadError — never a raw Pillow/OpenCV exception."
    y, x = np.mgrid[0:40, 0:60]
    im = Image.fromarray(np.dstack([x*4, y*6, x+y]).astype(np.uint8))
    b = io.BytesIO(); im.save(b, fmt, **kw); data = b.getvalue()
    f = tmp_path/f'cut.{fmt.lower()}'
    for cut in np.linspace(1, len(data)-1, 25).astype(int):
        f.write_bytes(data[:cut])
        try: load_image(f)
        except ImageReadError as e: assert e.reason and 'Traceback' not in e.reason


def test_not_an_image_descriptions(tmp_path):
    for name, data, expect in [('a.jpg', b'%PDF-1.4\n%...', 'PDF'), ('b.png', b'PK\x03\x04' + b'\0'*40, 'ZIP'),
                               ('c.jpg', bytes(range(200, 256))*4, 'is not an image'),
                               ('d.png', b'<svg xmlns="http://www.w3.org/2000/svg"></svg>', 'SVG')]:
        (tmp_path/name).write_bytes(data)
        with pytest.raises(ImageReadError, match=expect): load_image(tmp_path/name)


def test_raw_needs_rawpy(tmp_path, monkeypatch):
    (tmp_path/'a.nef').write_bytes(b'\0'*100)
    monkeypatch.setitem(sys.modules, 'rawpy', None)
    with pytest.raises(ImageReadError, match=r"pip install 'flixnb\[raw\]'"): load_image(tmp_path/'a.nef')


def test_raw_garbage_is_read_error(tmp_path):
    pytest.importorskip('rawpy')
    (tmp_path/'a.dng').write_bytes(b'hello'*100)
    with pytest.raises(ImageReadError, match='RAW'): load_image(tmp_path/'a.dng')


# ---------------------------------------------------------------- saving

RGB = np.dstack(np.meshgrid(np.arange(64), np.arange(48)) + [np.full((48, 64), 100)]).astype(np.uint8)*3


@pytest.mark.parametrize('ext', ['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff'])
def test_save_roundtrip_with_icc(tmp_path, ext):
    alpha = None if ext in ('.jpg', '.jpeg') else np.linspace(0, 1, 64*48, dtype=np.float32).reshape(48, 64)
    f = save_image(tmp_path/'out'/f'x{ext}', RGB, alpha, quality=95)
    with Image.open(f) as im: assert im.info.get('icc_profile') == fio.srgb_icc_bytes()
    s = load_image(f)
    assert np.abs(s.image.astype(int) - RGB).max() <= (6 if ext in ('.jpg', '.jpeg', '.webp') else 0)
    if alpha is not None: assert np.abs(s.alpha - alpha).max() < 0.01
    assert [p.name for p in f.parent.iterdir()] == [f.name]


def test_save_errors(tmp_path):
    with pytest.raises(ImageWriteError, match='JPEG cannot store transparency'): save_image(tmp_path/'a.jpg', RGB, np.ones(RGB.shape[:2]))
    with pytest.raises(ImageWriteError, match='unsupported output format'): save_image(tmp_path/'a.bmp', RGB)
    with pytest.raises(ImageWriteError, match='H×W×3 uint8'): save_image(tmp_path/'a.png', RGB.astype(float))
    with pytest.raises(ImageWriteError, match='quality'): save_image(tmp_path/'a.jpg', RGB, quality=0)
    assert list(tmp_path.iterdir()) == []


def test_jpeg_subsampling(tmp_path):
    for q, want in [(92, {(1, 1)}), (80, {(2, 2), (1, 1)})]:
        f = save_image(tmp_path/f'q{q}.jpg', RGB, quality=q)
        with Image.open(f) as im: assert {l[1:3] for l in im.layer} == want


def test_atomic_write_exception_keeps_old(tmp_path):
    out = tmp_path/'report.json'
    atomic_write(out, lambda t: t.write_text('old'))
    def boom(t):
        t.write_text('half'); raise RuntimeError('crash')
    with pytest.raises(RuntimeError, match='crash'): atomic_write(out, boom)
    assert out.read_text() == 'old' and [p.name for p in tmp_path.iterdir()] == ['report.json']
    with pytest.raises(RuntimeError): atomic_write(tmp_path/'new.json', boom)
    assert not (tmp_path/'new.json').exists() and [p.name for p in tmp_path.iterdir()] == ['report.json']


def test_atomic_write_keeps_permissions(tmp_path):
    out = tmp_path/'a.txt'
    atomic_write(out, lambda t: t.write_text('1')); os.chmod(out, 0o640)
    atomic_write(out, lambda t: t.write_text('2'))
    assert out.stat().st_mode & 0o777 == 0o640 and out.read_text() == '2'


CHILD = textwrap.dedent('''
    import sys, time, numpy as np
    from flixnb.io import save_image, atomic_write, encode_image
    out, slow, i = sys.argv[1], sys.argv[2] == 'slow', 0
    rng = np.random.default_rng(0)
    img, alpha = rng.integers(0, 256, (900, 1200, 3), dtype=np.uint8), rng.random((900, 1200), dtype=np.float32)
    data = b''.join(bytes(c) for c in encode_image(img, alpha, 'PNG'))
    def write(t):       # small chunks with pauses (~0.2 s a file), so that the kill lands inside the write
        with open(t, 'wb') as f:
            for k in range(0, len(data), 1 << 16): f.write(data[k:k + (1 << 16)]); f.flush(); time.sleep(0.002)
    while True:
        if slow: atomic_write(out, write)
        else: save_image(out, np.roll(img, i, 1), alpha=alpha)
        i += 1
        print('saved', i, flush=True)
''')


@pytest.mark.skipif(not hasattr(signal, 'SIGKILL'), reason='needs SIGKILL')
def test_atomic_write_survives_sigkill(tmp_path):
    """A writer killed with SIGKILL (during encoding, or inside the file write) leaves a complete output;
    the only leftovers are hidden .flixnb-tmp-* files, which readers ignore and clean_stale_temps removes."""
    out, mid_write = tmp_path/'out.png', 0
    for mode, delay in [('fast', 0.0), ('fast', 0.13), ('slow', 0.05), ('slow', 0.21)]:
        p = subprocess.Popen([sys.executable, '-c', CHILD, str(out), mode], stdout=subprocess.PIPE, text=True)
        try:
            assert p.stdout.readline().startswith('saved')             # at least one complete save
            time.sleep(delay)
            p.send_signal(signal.SIGKILL)
        finally:
            p.wait(timeout=30)
        assert p.returncode == -signal.SIGKILL
        s = load_image(out)                                            # decodes fully
        assert s.size == (1200, 900) and s.alpha is not None
        leftovers = [f.name for f in tmp_path.iterdir() if f.name != 'out.png']
        assert all(n.startswith(TMP_PREFIX) for n in leftovers), leftovers
        mid_write = max(mid_write, len(leftovers))
        assert find_inputs([tmp_path])[0] == [out]                     # readers ignore temp files
    assert mid_write >= 1                                              # the 'slow' kills did land inside a write
    clean_stale_temps(tmp_path, min_age_s=0)
    assert [f.name for f in tmp_path.iterdir()] == ['out.png']


def test_readonly_folder(tmp_path, monkeypatch):
    ro = tmp_path/'ro'; ro.mkdir(); ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):                                     # root: chmod does not stop us; simulate
            def deny(*a, **k): raise PermissionError(errno.EACCES, 'Permission denied')
            monkeypatch.setattr(os, 'replace', deny)
        with pytest.raises(ImageWriteError) as ei: save_image(ro/'a.jpg', RGB)
        assert f'cannot write into folder {ro}' in ei.value.reason and 'permission denied' in ei.value.reason
        monkeypatch.undo()
        assert list(ro.iterdir()) == []                                # no temp file left
    finally: ro.chmod(0o755)


def test_input_never_overwritten(tmp_path):
    src = save_image(tmp_path/'in'/'tee.jpg', RGB)
    before = src.read_bytes()
    shot = load_image(src)
    os.symlink(src, tmp_path/'alias.jpg')
    for target in (src, tmp_path/'in'/'..'/'in'/'tee.jpg', tmp_path/'alias.jpg'):
        with pytest.raises(ImageWriteError, match='refusing to overwrite the input'): save_shot(shot, target)
    (tmp_path/'x.png').write_bytes(b'1')
    with pytest.raises(ImageWriteError, match='refusing to overwrite'): save_image(tmp_path/'x.png', RGB, inputs=[tmp_path/'x.png'])
    assert (tmp_path/'x.png').read_bytes() == b'1'
    assert src.read_bytes() == before
    assert save_shot(shot, tmp_path/'out'/'tee.jpg').exists()        # elsewhere is fine; folder created


def test_save_shot_alpha_policy(tmp_path):
    a = np.zeros(RGB.shape[:2], np.float32); a[10:20, 10:30] = 1
    shot = Shot(RGB, a)
    assert load_image(save_shot(shot, tmp_path/'c.png')).alpha is not None
    assert load_image(save_shot(shot, tmp_path/'c.jpg')).alpha is None     # dropped for JPEG by default
    with pytest.raises(ImageWriteError, match='JPEG cannot store'): save_shot(shot, tmp_path/'d.jpg', alpha=True)


def test_save_speed_24mp(tmp_path):
    y, x = np.mgrid[0:4000, 0:6000].astype(np.float32)
    big = np.dstack([x/6000*255, y/4000*255, (x+y)/10000*255]).astype(np.uint8); del x, y
    save_image(tmp_path/'warm.jpg', big[:64, :64])
    t0 = time.perf_counter(); save_image(tmp_path/'big.jpg', big); dt = time.perf_counter() - t0
    assert dt < 0.8, dt                                                 # ~0.2 s measured; generous for busy CI


# ---------------------------------------------------------------- find_inputs

def test_find_inputs(tmp_path):
    (tmp_path/'shoot a'/'sub').mkdir(parents=True)
    for n in ['shoot a/été 2.jpg', 'shoot a/b.PNG', 'shoot a/sub/c.tif', 'shoot a/readme.txt', 'shoot a/.flixnb-tmp-x.jpg']:
        (tmp_path/n).write_bytes(b'x')
    os.symlink(tmp_path/'shoot a'/'b.PNG', tmp_path/'link.png')
    os.symlink('loop.jpg', tmp_path/'loop.jpg')
    args = [tmp_path/'shoot a', str(tmp_path/'shoot a'/'b.PNG'), str(tmp_path/'shoot a'/'sub'/'..'/'b.PNG'),
            tmp_path/'link.png', tmp_path/'loop.jpg', tmp_path/'gone.jpg', str(tmp_path/'shoot a'/'**'/'*.tif'),
            str(tmp_path/'*.gif')]
    paths, problems = find_inputs(args)
    assert [str(p.relative_to(tmp_path)) for p in paths] == ['shoot a/b.PNG', 'shoot a/sub/c.tif', 'shoot a/été 2.jpg']  # by path components
    reasons = {Path(p).name: r for p, r in problems}
    assert 'symlink loop' in reasons['loop.jpg'] and reasons['gone.jpg'] == 'not found'
    assert 'no files match' in reasons['*.gif']
    assert find_inputs(str(tmp_path/'shoot a'/'readme.txt'))[0] == [tmp_path/'shoot a'/'readme.txt']   # explicit file kept


def test_find_inputs_on_corpus(corpus):
    d, cases = corpus
    paths, problems = find_inputs([d])
    names = {p.name for p in paths}
    assert 'photo été 01.jpg' in names and 'folder.jpg' not in names
    if 'loop.jpg' in cases: assert any(Path(p).name == 'loop.jpg' and 'symlink loop' in r for p, r in problems)
