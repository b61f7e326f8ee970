"Tests of `flixnb eval clipping` / `flixnb bench clipping` (flixnb.measure.evaluate) on a tiny subset of the real data."
import os, subprocess, sys
from pathlib import Path
import pytest

from flixnb import metrics as M
from flixnb.measure import evaluate as E


@pytest.fixture
def no_rembg(monkeypatch):
    monkeypatch.setenv('FLIXNB_REMBG_PYTHON', '/nonexistent/python')


def test_quick_eval_table(no_rembg, tmp_path, monkeypatch):
    if M.dataset_dir('alphamatting') is None: pytest.skip('alphamatting not found under FLIXNB_DATA')
    bench = tmp_path/'BENCHMARKS.md'
    monkeypatch.setenv('FLIXNB_BENCHMARKS', str(bench))
    assert E.main(['clipping', '--quick']) == 0
    md = bench.read_text()
    assert '<!-- bench:clipping-quality begin -->' in md
    for col in ('| trimap | method | images | mean SAD | MSE ×10³ | grad | conn | s/image |',
                'edge SAD (Trimap1 unknown)', 'VITON IoU', 'VITON boundary F', 'CIHP IoU', 'boundary F (2 px)'):
        assert col in md, col
    for m in ('flixnb matte (guided)', 'pymatting closed-form', 'pymatting KNN', 'flixnb u2netp→refine',
              'flixnb keyer (u2netp→backdrop)', 'rembg u2net+am', 'OpenCV GrabCut', 'flixnb person→refine'):
        assert m in md, m
    assert 'not run (no ' in md and 'setup_rembg_peer' in md      # the peers' columns say why they did not run


def test_skips_cleanly_without_data(tmp_path, monkeypatch, no_rembg):
    monkeypatch.setenv('FLIXNB_DATA', str(tmp_path))
    monkeypatch.setenv('FLIXNB_BENCHMARKS', str(tmp_path/'B.md'))
    md, recs = E.eval_clipping(quick=True, progress=None)
    assert '_alphamatting not found under FLIXNB_DATA: not run._' in md
    assert {r['task'] for r in recs} == {'samples'}           # only the built-in samples remain
    assert all('error' in r for r in recs if r['method'].startswith('rembg'))


def test_cli_wiring():
    p = subprocess.run([sys.executable, '-m', 'flixnb', 'eval', 'clipping', '--help'], capture_output=True, text=True)
    assert p.returncode == 0 and '--no-peers' in p.stdout
    p = subprocess.run([sys.executable, '-m', 'flixnb', 'bench', 'clipping', '--help'], capture_output=True, text=True)
    assert p.returncode == 0 and '--no-rembg' in p.stdout


def test_gpu_script_fails_clearly_without_cuda():
    import torch
    if torch.cuda.is_available(): pytest.skip('a GPU is here')
    tool = Path(__file__).resolve().parent.parent/'tools'/'gpu_clipping_bench.py'
    p = subprocess.run([sys.executable, str(tool)], capture_output=True, text=True)
    assert p.returncode == 2 and 'CUDA is not available' in p.stderr
