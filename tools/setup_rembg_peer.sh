#!/usr/bin/env bash
# Create `.venv-rembg/` at the repository root: rembg 2.0.86 (the peer flixnb is benchmarked against)
# in its OWN virtual environment — rembg needs numpy>=2.3, flixnb's .venv is pinned to numpy 1.26.
#
#   bash tools/setup_rembg_peer.sh            # create/refresh .venv-rembg
#   .venv-rembg/bin/python tools/rembg_peer.py --model u2net --out /tmp/peer IMG...
#
# Models are NOT downloaded: rembg is pointed (U2NET_HOME) at flixnb's model cache,
# `$FLIXNB_MODELS` (default `platformdirs.user_cache_dir('flixnb')/models`), which must hold
# `u2net.onnx` / `u2netp.onnx`. rembg 2.0.86 uses `$U2NET_HOME/models/<name>/<name>.onnx` or
# `$U2NET_HOME/<name>.onnx` as-is when present (no checksum on an existing file) and only calls
# pooch (download + md5) when neither exists; tools/rembg_peer.py refuses to start in that case.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# the same interpreter as flixnb's .venv (rembg 2.0.86 requires Python >= 3.11)
PY="${PYTHON:-$( [ -x .venv/bin/python3 ] && readlink -f .venv/bin/python3 || command -v python3 )}"
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), f"rembg 2.0.86 needs Python >= 3.11, {sys.executable} is {sys.version}"'
[ -x .venv-rembg/bin/python ] || "$PY" -m venv .venv-rembg
# every package pinned: a combination that resolves and installs from PyPI today
.venv-rembg/bin/python -m pip install -q --disable-pip-version-check \
  rembg==2.0.86 onnxruntime==1.32.0 \
  numpy==2.4.6 pillow==13.0.0 scipy==1.17.1 scikit-image==0.26.0 PyMatting==1.1.16 \
  numba==0.68.1 llvmlite==0.50.0 pooch==1.9.0 platformdirs==4.14.8 tqdm==4.70.1 \
  jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1 attrs==26.1.0 \
  ImageIO==2.38.1 tifffile==2026.3.3 lazy-loader==0.6 networkx==3.6.1 packaging==26.4 \
  flatbuffers==25.12.19 protobuf==7.36.2 \
  requests==2.34.2 certifi==2026.10.19.post1 charset-normalizer==3.5.3 idna==3.20 urllib3==2.8.0 \
  typing_extensions==4.16.0
# U2NET_HOME for anyone who activates the venv (tools/rembg_peer.py sets it itself too)
if ! grep -q 'flixnb: U2NET_HOME' .venv-rembg/bin/activate; then
  cat >> .venv-rembg/bin/activate <<'EOF'
# flixnb: U2NET_HOME -> flixnb's model cache, so rembg finds u2net*.onnx there and never downloads
export U2NET_HOME="${FLIXNB_MODELS:-$(python -c "import platformdirs; print(platformdirs.user_cache_dir('flixnb'))")/models}"
EOF
fi
models="${FLIXNB_MODELS:-$(.venv-rembg/bin/python -c "import platformdirs; print(platformdirs.user_cache_dir('flixnb'))")/models}"
.venv-rembg/bin/python -c 'import rembg, onnxruntime, numpy; print("rembg", rembg.__version__, "onnxruntime", onnxruntime.__version__, "numpy", numpy.__version__)'
for m in u2net u2netp; do
  if [ -f "$models/$m.onnx" ]; then echo "model $m: $models/$m.onnx"
  else echo "model $m: MISSING in $models (fetch it with flixnb's model fetcher; rembg_peer.py will not download)"; fi
done
echo "ok: .venv-rembg ready (keep it out of git: .venv-rembg/ belongs in .gitignore)"
