"""WASM plugins in the real binary: the examples' flags and metrics over HTTP, a hostile plugin
disabled while requests keep working, and hot reload by the directory poll."""

import shutil
import tempfile
import time
from pathlib import Path

import pytest

from conftest import ROOT, start_server, stop_server

# Built for wasm32-wasip2 by tests/build.rs during `cargo test` (scripts/test.sh runs it first).
BUILT = ROOT / "target" / "wasm-plugins" / "wasm32-wasip2" / "release"


@pytest.fixture(scope="module")
def plugin_server():
    plugins = Path(tempfile.mkdtemp(prefix="ollama-dash-e2e-plugins-"))
    for name in ("code_models.wasm", "vram_headroom.wasm", "spin.wasm"):
        source = BUILT / name
        assert source.exists(), f"{source} missing: run `cargo test` (tests/build.rs builds it)"
        shutil.copy(source, plugins / name)
    proc, server = start_server(
        {"OLLAMA_DASH_PLUGINS_DIR": str(plugins), "OLLAMA_DASH_PLUGINS_POLL_SECS": "1"}
    )
    server.plugins = plugins
    yield server
    assert stop_server(proc) == 0, "".join(server.output)
    shutil.rmtree(plugins, ignore_errors=True)


def by_name(listing):
    return {p["name"]: p for p in listing["plugins"]}


def wait_for(condition, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_plugins_are_listed_with_what_they_provide(plugin_server):
    plugins = by_name(plugin_server.get("/api/plugins").json())
    assert plugins["code-models"]["provides"] == ["detector"]
    assert plugins["vram-headroom"]["provides"] == ["collector"]
    assert all(p["state"] in ("active", "degraded", "disabled") for p in plugins.values())


def test_collector_metrics_over_http(plugin_server):
    collected = plugin_server.post("/api/plugins/collect").json()["metrics"]
    names = {m["name"] for m in collected if m["plugin"] == "vram-headroom"}
    assert {"largest_model_bytes", "installed_models_fitting"} <= names
    in_stats = plugin_server.get("/api/stats").json()["plugins"]
    assert {m["name"] for m in in_stats} == {m["name"] for m in collected}
    text = plugin_server.get("/metrics").text
    assert 'ollama_dash_plugin_largest_model_bytes{plugin="vram-headroom"' in text


def test_a_runaway_plugin_is_disabled_while_requests_keep_working(plugin_server):
    for _ in range(4):
        detected = plugin_server.get("/api/plugins/detect/llama3.2:1b")
        assert detected.status_code == 200, detected.text
        assert plugin_server.get("/api/health").status_code == 200
    spin = by_name(plugin_server.get("/api/plugins").json())["spin"]
    assert spin["state"] == "disabled"
    assert spin["last_error"].startswith("timeout")
    assert by_name(plugin_server.get("/api/plugins").json())["code-models"]["failures"] == 0


def test_hot_reload_by_the_directory_poll(plugin_server):
    shutil.copy(BUILT / "echo_v1.wasm", plugin_server.plugins / "echo.wasm")
    wait_for(lambda: "echo" in by_name(plugin_server.get("/api/plugins").json()), "echo to load")
    flags = plugin_server.get("/api/plugins/detect/llama3.2:1b").json()["plugin_flags"]
    assert {"flag": "echo-v1", "plugin": "echo"} in flags
    (plugin_server.plugins / "echo.wasm").unlink()
    wait_for(
        lambda: "echo" not in by_name(plugin_server.get("/api/plugins").json()), "echo to go"
    )


@pytest.fixture
def plugin_browser(plugin_server):
    from browser import Browser

    b = Browser(plugin_server.base_url)
    try:
        yield b
        problems = b.console_problems()
        assert not problems, "console errors:\n" + "\n".join(f"{e['level']} {e['message']}" for e in problems)
    finally:
        b.quit()


def test_the_web_page_shows_plugins_their_metrics_and_flags(plugin_server, plugin_browser):
    browser = plugin_browser
    # A model whose name marks it as a code model, pulled like a user would.
    coder = "hf.co/bartowski/Qwen2.5-Coder-0.5B-Instruct-GGUF:Q4_K_M"
    pulled = plugin_server.post("/ollama/api/pull", json={"model": coder, "stream": False})
    assert pulled.status_code == 200, pulled.text
    plugin_server.post("/api/plugins/collect")

    browser.sign_in(plugin_server.token, "#/settings")
    row = browser.wait_for('#plugin-list tr[data-plugin="code-models"]')
    assert "detector" in row.text and "active" in row.text, row.text
    assert "collector" in browser.wait_for('#plugin-list tr[data-plugin="vram-headroom"]').text
    spin = browser.wait_for('#plugin-list tr[data-plugin="spin"]')
    assert "disabled" in spin.text and "timeout" in spin.text, spin.text
    browser.js("document.getElementById('plugins').scrollIntoView()")
    browser.screenshot("plugins")
    browser.go("#/")
    metric = browser.wait_for('#plugin-metrics tr[data-metric="vram-headroom/installed_models_fitting"]')
    assert "vram-headroom" in metric.text
    assert browser.wait_for("#plugin-metrics").is_displayed()
    browser.js("document.getElementById('plugin-metrics').scrollIntoView()")
    browser.screenshot("plugin-metrics")

    browser.go("#/models/installed")
    badge = browser.wait_for(f'#installed tr[data-model="{coder}"] .badge.cap-code')
    assert "code-models" in (badge.get_attribute("title") or ""), badge.get_attribute("title")

    # A plugin dropped into the directory appears in the open page (plugins_changed event).
    browser.go("#/settings")
    browser.wait_for('#plugin-list tr[data-plugin="code-models"]')
    shutil.copy(BUILT / "echo_v1.wasm", plugin_server.plugins / "echo-web.wasm")
    try:
        browser.wait_for('#plugin-list tr[data-plugin="echo"]', timeout=30)
    finally:
        (plugin_server.plugins / "echo-web.wasm").unlink()
