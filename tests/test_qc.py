"QC catches planted defects with the right reason; clean images pass; the CLI speaks JSON."
import json, subprocess, sys
from pathlib import Path
import pytest
from flixnb.market.qc import defect_corpus, qc_image, write_report, main
from flixnb.market.presets import load_preset

@pytest.fixture(scope='module')
def corpus(tmp_path_factory):
    return defect_corpus(tmp_path_factory.mktemp('corpus'))

def test_planted_defects(corpus):
    am = load_preset('amazon-main')
    for name, (path, want) in corpus.items():
        r = qc_image(path, am)
        failed = [k for k, c in r['checks'].items() if c['pass'] is False]
        if want is None: assert failed == [], (name, r['reasons'])
        else:
            assert want in failed, (name, failed)
            assert r['reasons'] and not r['pass']

def test_report(corpus, tmp_path):
    am = load_preset('amazon-main')
    res = [qc_image(p, am) for p, _ in corpus.values()]
    h = write_report(res, tmp_path)
    assert h.name == 'report.html' and 'data:image/png' in h.read_text()
    assert len(json.loads((tmp_path/'report.json').read_text())) == len(res)

def test_cli_json(corpus, capsys):
    rc = main([str(corpus['clean'][0]), str(corpus['grey-background'][0]), '--preset', 'amazon-main', '--json'])
    out = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert rc == 3 and [o['pass'] for o in out] == [True, False]      # 3: qc-failed, the outcome table's code
    assert set(out[0]) == {'file', 'pass', 'reasons'} and 'background' in out[1]['reasons'][0]
