"""Page weight and first paint of the web page, in Debian's chromium against a release build of
`ollama-dash serve --simulate` on loopback.

    target/e2e-venv/bin/python benches/web_page.py [runs]      (default 7)

Each run is a cold load in a fresh browser profile (nothing cached): bytes transferred (as on the
wire, compressed) and decoded for the page and its assets (API calls excluded), request count,
first contentful paint and DOMContentLoaded from the browser's Performance API. Then one warm
reload (assets from the immutable cache).
"""

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from browser import Browser  # noqa: E402
import conftest  # noqa: E402


def main(runs: int) -> None:
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "ollama-dash-host"], cwd=ROOT, check=True)
    os.environ["OLLAMA_DASH_BIN"] = str(ROOT / "target" / "release" / "ollama-dash")
    proc, server = conftest.start_server()
    cold = []
    try:
        for _ in range(runs):
            b = Browser(server.base_url)
            try:
                b.sign_in(server.token)
                b.wait_for('#running [data-model="llama3.2:1b"]')
                cold.append(b.performance())
                if len(cold) == runs:
                    b.driver.refresh()
                    b.wait_for('#running [data-model="llama3.2:1b"]')
                    warm = b.performance()
            finally:
                b.quit()
    finally:
        conftest.stop_server(proc)
    fcp = [r["first_contentful_paint_ms"] for r in cold]
    dcl = [r["dom_content_loaded_ms"] for r in cold]
    print(json.dumps({
        "runs": runs,
        "cold": {"transfer_bytes": cold[0]["transfer_bytes"], "decoded_bytes": cold[0]["decoded_bytes"], "requests": cold[0]["requests"],
                 "fcp_ms_median": statistics.median(fcp), "fcp_ms_min": min(fcp), "fcp_ms_max": max(fcp),
                 "dom_content_loaded_ms_median": statistics.median(dcl)},
        "warm_reload": {"transfer_bytes": warm["transfer_bytes"], "first_contentful_paint_ms": warm["first_contentful_paint_ms"]},
    }, indent=2))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
