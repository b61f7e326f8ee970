#!/usr/bin/env bash
# Install what the browser test needs, on top of `pip install -e ".[dev]"` (which brings the `app` extra:
# gradio, gradio_client, ipywidgets, playwright — all pinned in pyproject.toml):
#   Debian's chromium (the browser test drives /usr/bin/chromium through the Python playwright package;
#      Playwright's own browser downloads are never used: PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1).
# Usage (from the repository root, as root or with sudo available):  tools/install_browser.sh [VENV]   (default .venv)
# Idempotent; safe to call on every CI run.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv}"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

"$VENV/bin/python" -c "import gradio, gradio_client, playwright, ipywidgets; print('gradio', gradio.__version__, '· gradio_client', gradio_client.__version__)"

if ! [ -x /usr/bin/chromium ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi
/usr/bin/chromium --headless --no-sandbox --disable-gpu --version 2>/dev/null || /usr/bin/chromium --version
