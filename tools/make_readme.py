#!/usr/bin/env python
"""Generate README.md from nbs/index.ipynb.

nbdev's own `nbdev-readme` renders through Quarto, which is not installable on air-gapped machines (it is
downloaded from GitHub), so this small converter does the same job for our purposes: markdown cells verbatim,
code cells as fenced Python blocks (cells marked `#| hide` are skipped, `#| ` directives are dropped), text
outputs as fenced text blocks. Run by `make readme` and checked by `make sync-check` (CI).
"""
import json, sys
from pathlib import Path

root = Path(__file__).resolve().parents[1]

def convert(nb_path: Path) -> str:
    nb = json.loads(nb_path.read_text(encoding='utf-8'))
    out = [f"<!-- generated from {nb_path.relative_to(root)} by tools/make_readme.py: edit the notebook, not this file -->\n"]
    for c in nb['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'markdown':
            out.append(src.strip() + '\n')
        elif c['cell_type'] == 'code':
            lines = src.splitlines()
            if any(l.strip() in ('#| hide', '#|hide') for l in lines): continue
            code = '\n'.join(l for l in lines if not l.startswith('#|')).strip()
            if code: out.append(f"```python\n{code}\n```\n")
            for o in c.get('outputs', []):
                txt = o.get('text') or o.get('data', {}).get('text/plain')
                if txt: out.append("```\n" + ''.join(txt).rstrip() + "\n```\n")
    return '\n'.join(out)

if __name__ == '__main__':
    nb = root/'nbs'/'index.ipynb'
    text = convert(nb)
    tmp = root/'.README.md.tmp'
    tmp.write_text(text, encoding='utf-8'); tmp.replace(root/'README.md')
    print(f"README.md written from {nb.relative_to(root)}", file=sys.stderr)
