"""The web page in a real browser (Debian's chromium through chromedriver) against
`ollama-dash serve --simulate`: sign-in, every view against the real API, roles, safety of the
Markdown renderer, screenshots and page weight. Every wait is a wait on a condition."""

import base64
import csv
import hashlib
import io
import json
import time
from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from browser import Browser
from conftest import ROOT, start_server, stop_server

ASSET_PREFIX_JS = "return document.querySelector('script[type=module]').src.replace(/\\/app\\.js$/, '')"


def make_key(server, name: str, role: str) -> str:
    answer = requests.post(server.url("/api/keys"), headers=server.headers(), json={"name": name, "role": role}, timeout=30)
    if answer.status_code == 409:
        requests.delete(server.url(f"/api/keys/{name}"), headers=server.headers(), timeout=30)
        answer = requests.post(server.url("/api/keys"), headers=server.headers(), json={"name": name, "role": role}, timeout=30)
    assert answer.status_code == 201, answer.text
    return answer.json()["key"]


def test_sign_in_link_is_adopted_and_removed_and_the_loaded_model_shows(server, browser):
    browser.sign_in(server.token)
    assert "token=" not in browser.driver.current_url
    assert browser.js("return localStorage.getItem('ollama-dash-token')") == server.token
    card = browser.wait_for('#running [data-model="llama3.2:1b"]')
    assert "GPU memory" in card.text and "unloads" in card.text
    assert browser.wait_for("#who").text.split() == ["admin", "ADMIN"]
    browser.wait_for("#conn", "live")
    # Reloading keeps the session; the countdown ticks on its own.
    browser.driver.refresh()
    expiry = browser.wait_for('#running [data-model="llama3.2:1b"] .expiry')
    first = expiry.text
    browser.wait(lambda d: d.find_element(By.CSS_SELECTOR, '#running [data-model="llama3.2:1b"] .expiry').text != first, message="countdown ticks")


def test_wrong_token_is_refused_then_sign_in_and_sign_out(server, browser):
    browser.expect_console("401 (Unauthorized)")
    browser.open("/")
    dialog = browser.wait_for("#signin")
    token = dialog.find_element(By.ID, "token")
    token.send_keys("not-the-right-token-at-all" + Keys.ENTER)
    browser.wait_for("#signin-error", "not valid")
    token.clear()
    token.send_keys(server.token + Keys.ENTER)
    browser.wait_gone("#signin")
    browser.wait_for('#running [data-model="llama3.2:1b"]')
    browser.wait_for("#signout").click()
    browser.wait_for("#signin", "Signed out")
    assert browser.js("return localStorage.getItem('ollama-dash-token')") is None
    assert not browser.all('#running [data-model]'), "nothing of the signed-out session stays on screen"


def test_a_revoked_key_sends_the_page_back_to_sign_in(server, browser):
    browser.expect_console("401 (Unauthorized)")
    key = make_key(server, "e2e-revoked", "user")
    browser.sign_in(key)
    browser.wait_for('#running [data-model="llama3.2:1b"]')
    assert requests.delete(server.url("/api/keys/e2e-revoked"), headers=server.headers(), timeout=30).status_code == 204
    browser.js("location.hash = '#/models'")  # the next call gets a 401
    browser.wait_for("#signin", "refused")


def test_disconnected_while_the_server_is_gone_then_live_again(server):
    """The pill says "disconnected" while the server is down and the page reconnects by itself."""
    from browser import Browser
    from conftest import start_server, stop_server
    from test_embed_example import free_port

    port = free_port()
    proc, srv = start_server(listen=f"127.0.0.1:{port}")
    b = Browser(srv.base_url)
    try:
        b.sign_in(srv.token)
        b.wait_for("#conn", "live")
        assert stop_server(proc) == 0
        b.wait_for("#conn", "disconnected")
        b.wait_for(".warning", "disconnected")
        proc, srv = start_server(listen=f"127.0.0.1:{port}")
        b.wait_for("#conn", "live", timeout=30)
        b.wait_gone(".warning.bad")
        problems = [e for e in b.console_problems() if "ERR_CONNECTION_REFUSED" not in e["message"] and "ERR_INCOMPLETE_CHUNKED_ENCODING" not in e["message"]]
        assert not problems, problems
    finally:
        b.quit()
        stop_server(proc)


def test_dashboard_numbers_are_live(server, browser):
    browser.sign_in(server.token)
    cpu = browser.wait_for('[data-stat="cpu"] .big')
    browser.wait(lambda d: cpu.text not in ("", "–"), message="a CPU reading")
    line = '[data-stat="cpu"] .spark-line'
    browser.wait_for(line)
    first = browser.js(f"return document.querySelector('{line}').getAttribute('points')")
    browser.wait(lambda d: d.execute_script(f"return document.querySelector('{line}').getAttribute('points')") != first, timeout=30, message="a new sample arrives")
    mem = browser.wait_for('[data-stat="memory"]')
    assert " of " in mem.text, mem.text
    gpus = browser.wait_for("#gpus > *")
    assert gpus.text.strip() and "Waiting" not in gpus.text


def test_pull_from_the_catalogue_shows_progress_until_done(server, browser):
    model = "gemma3:1b"  # in the curated catalogue and in the simulator's registry
    browser.sign_in(server.token, "#/models/catalogue")
    browser.wait_for("#catalogue-grid section")
    [b for b in browser.all("#catalogue button") if b.text == "All"][0].click()
    browser.wait_for("#catalogue input[type=search]").send_keys(model)
    browser.wait_for(f'#catalogue-grid section[data-model="{model}"] [data-action="pull"]').click()
    job = browser.wait_for(f'#jobs [data-model="{model}"]')
    progress: list[str] = []

    def settled(_):
        value = job.find_element(By.CSS_SELECTOR, ".bar").get_attribute("aria-valuenow")
        if value and (not progress or progress[-1] != value):
            progress.append(value)
        return job.get_attribute("data-state") in ("done", "failed", "cancelled")

    browser.wait(settled, timeout=60, message="the pull finishes")
    assert job.get_attribute("data-state") == "done", job.text
    assert job.find_element(By.CSS_SELECTOR, ".bar").get_attribute("aria-valuenow") == "100"
    assert "Done" in job.text
    browser.go("#/models/installed")
    browser.wait_for(f'#installed tr[data-model="{model}"]')


def test_a_failed_pull_ends_its_card_with_the_reason_and_any_name_can_be_pulled(server, browser):
    """A catalogue model the registry does not have: the card goes back to Pull and says why (it
    once stayed on "Pulling…" until a reload); and a name typed in (not in the catalogue) pulls."""
    missing = "qwen3:14b"  # in the catalogue's "All", not in the simulator's registry
    browser.sign_in(server.token, "#/models/catalogue")
    browser.wait_for("#catalogue-grid section")
    [b for b in browser.all("#catalogue button") if b.text == "All"][0].click()
    browser.wait_for("#catalogue input[type=search]").send_keys(missing)
    card = f'#catalogue-grid section[data-model="{missing}"]'
    browser.wait_for(f'{card} [data-action="pull"]').click()
    browser.wait_for(f'#jobs [data-model="{missing}"][data-state="failed"]', timeout=60)
    reason = browser.wait_for(f"{card} .pull-error", "Pull failed:").text
    assert "file does not exist" in reason or "not found" in reason, reason
    assert browser.wait_for(f'{card} [data-action="pull"]').text == "Pull"
    # Pull by name: a Hugging Face GGUF repository, which the catalogue does not list.
    name = "hf.co/bartowski/SmolLM2-135M-Instruct-GGUF:Q4_K_M"
    browser.wait_for("#pull-name").send_keys(name)
    browser.click_button("#pull-any button", "Pull")
    job = browser.wait_for(f'#jobs [data-model="{name}"]')
    browser.wait(lambda _: job.get_attribute("data-state") in ("done", "failed"), timeout=60, message="the pull ends")
    assert job.get_attribute("data-state") == "done", job.text
    browser.go("#/models/installed")
    browser.wait_for(f'#installed tr[data-model="{name}"]')


def test_dropped_gguf_uploads_and_becomes_a_ready_model(server, browser):
    from test_uploads import tiny_gguf

    browser.sign_in(server.token, "#/models/upload")
    browser.wait_for("#dropzone")
    # Record the tus checksum headers the page sends (the server verifies them: a wrong one is a 460).
    browser.js("window.__checksums = []; const set = XMLHttpRequest.prototype.setRequestHeader;"
               "XMLHttpRequest.prototype.setRequestHeader = function (k, v) { if (k === 'Upload-Checksum') window.__checksums.push(v); return set.call(this, k, v); };")
    files = [("web-drop.gguf", tiny_gguf()), ("web-drop-2.gguf", tiny_gguf("qwen2"))]
    browser.drop_files("#dropzone", files)
    for name in ("web-drop", "web-drop-2"):
        row = browser.wait_for(f'#imports [data-model="{name}"]', timeout=60)
        browser.wait(lambda d, row=row: row.get_attribute("data-state") in ("ready", "failed"), timeout=60, message=f"{name} import settles")
        assert row.get_attribute("data-state") == "ready", row.text
    expected = {"sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode() for _, data in files}
    assert set(browser.js("return window.__checksums")) == expected
    browser.go("#/models/installed")
    browser.wait_for('#installed tr[data-model="web-drop:latest"], #installed tr[data-model="web-drop"]')


def test_an_interrupted_upload_resumes_after_a_reload(server, browser):
    """Half a file reached the server, then the tab was closed: after a reload the page lists the
    interrupted upload, and dropping the same file again sends only the rest."""
    from test_uploads import tiny_gguf

    data = tiny_gguf()
    name, last_modified, half = "resume-me.gguf", 1_700_000_123_000, len(data) // 2
    tus = {"Tus-Resumable": "1.0.0", **server.headers()}
    meta = f"filename {base64.b64encode(name.encode()).decode()},model {base64.b64encode(b'resume-me').decode()}"
    created = requests.post(server.url("/v1/uploads"), headers={**tus, "Upload-Length": str(len(data)), "Upload-Metadata": meta}, timeout=30)
    assert created.status_code == 201, created.text
    url = "/" + created.headers["Location"].split("://", 1)[-1].split("/", 1)[-1] if "://" in created.headers["Location"] else created.headers["Location"]
    patched = requests.patch(server.url(url), headers={**tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}, data=data[:half], timeout=30)
    assert patched.status_code == 204 and patched.headers["Upload-Offset"] == str(half)

    browser.sign_in(server.token)
    fingerprint = f"{name}::{len(data)}::{last_modified}"
    browser.js("localStorage.setItem('ollama-dash-uploads', JSON.stringify({[arguments[0]]: {url: arguments[1], name: arguments[2], size: arguments[3], model: 'resume-me', started: Date.now()}}))",
               fingerprint, url, name, len(data))
    browser.driver.refresh()
    browser.go("#/models/upload")
    row = browser.wait_for(f'#uploads [data-file="{name}"][data-state="interrupted"]')
    browser.wait(lambda d: "Interrupted at" in row.text and "(50%)" in row.text, message="the server's offset is shown")
    browser.drop_files("#dropzone", [(name, data)], last_modified=last_modified)
    browser.wait_for(".toast", f"Resuming {name} at")
    browser.wait_for('#imports [data-model="resume-me"][data-state="ready"]', timeout=60)
    assert browser.js("return localStorage.getItem('ollama-dash-uploads')") == "{}"


def test_chat_streams_a_reply_and_links_its_trace(server, browser):
    browser.sign_in(server.token, "#/chat")
    picker = browser.wait_for("#chat-model")
    browser.wait(lambda d: picker.get_attribute("value"), message="a model is picked")
    assert browser.js("return document.getElementById('attach-label').hidden") is True, "no image attach for a text-only model"
    box = browser.wait_for("#chat-input")
    box.send_keys("Say hello in **bold**" + Keys.ENTER)
    reply = browser.wait_for('.msg.assistant .bubble')
    # While it streams: the stop button shows and part of the reply is already there.
    browser.wait(lambda d: reply.text.strip() and "cursor" in reply.get_attribute("class"), message="partial reply while streaming")
    assert browser.wait_for("#stop").is_displayed()
    link = browser.wait_for(".msg.assistant .trace-link", timeout=60)
    meta = browser.wait_for(".msg.assistant .meta", "tokens")
    assert "reply tokens" in meta.text
    text = reply.text.strip()
    assert text
    browser.wait_for("#sessions [data-session]")
    link.click()
    output = browser.wait_for("#trace-output")
    assert output.text.strip() == text or text in output.text, (output.text, text)
    browser.wait_for(".timing-box")


PNG_1PX = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def test_image_attach_only_for_vision_models_and_it_is_sent(server, browser):
    browser.sign_in(server.token, "#/chat")
    picker = Select(browser.wait_for("#chat-model"))
    picker.select_by_value("llava:7b")
    browser.wait(lambda d: not browser.js("return document.getElementById('attach-label').hidden"), message="attach shows for vision")
    browser.choose_files("#chat-image", [("dot.png", PNG_1PX, "image/png")])
    browser.wait_for(".attachments img")
    browser.wait_for("#chat-input").send_keys("What is in this picture?" + Keys.ENTER)
    browser.wait_for('.msg.user .bubble img[alt="attached image"]')
    browser.wait_for(".msg.assistant .trace-link", timeout=60)
    picker.select_by_value("llama3.2:1b")
    browser.wait(lambda d: browser.js("return document.getElementById('attach-label').hidden"), message="no attach for a text-only model")
    session = browser.js("return document.querySelector('#sessions [aria-current=true]').dataset.session")
    stored = requests.get(server.url(f"/api/sessions/{session}"), headers=server.headers(), timeout=30).json()
    assert stored["messages"][0]["images"] == [base64.b64encode(PNG_1PX).decode()]


def test_traces_filter_page_and_export(server, browser, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    def complete(i):
        body = {"model": "llama3.2:1b" if i else "no-such-model:1b", "messages": [{"role": "user", "content": f"trace {i}"}], "max_tokens": 1}
        return requests.post(server.url("/v1/chat/completions"), headers=server.headers(), json=body, timeout=60).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(complete, range(56)))
    assert codes.count(200) == 55 and codes[0] == 404, codes
    browser.sign_in(server.token, "#/traces")
    browser.wait_for("#trace-stats tbody tr[data-model]")
    rows = "tbody tr[data-trace]"
    browser.wait(lambda d: len(browser.attrs(rows, "data-trace")) == 50, message="a full first page")
    first_page = browser.attrs(rows, "data-trace")
    browser.click_button(".pager button", "Older")
    browser.wait(lambda d: (browser.attrs(rows, "data-trace") or first_page)[0] not in first_page, message="the next page")
    second_page = browser.attrs(rows, "data-trace")
    assert second_page and not set(second_page) & set(first_page)
    browser.click_button(".pager button", "Newer")
    browser.wait(lambda d: browser.attrs(rows, "data-trace")[:1] == first_page[:1], message="back to the first page")

    Select(browser.wait_for("#f-status")).select_by_value("error")
    # Other tests in this session may have left error traces too: every row shown is an error,
    # and ours is among them.
    browser.wait(lambda d: set(browser.texts(f"{rows} .status")) == {"error"}, message="only errors")
    browser.driver.find_element("xpath", "//tbody/tr[@data-trace][contains(., 'no-such-model')]").click()
    browser.wait_for(".drawer .warning", "no-such-model")
    browser.js("document.querySelector('dialog.drawer').close()")

    browser.driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    browser.wait_for("#export-csv").click()
    browser.wait(lambda d: (tmp_path / "traces.csv").exists(), message="the CSV export is saved")
    # Parsed as CSV: a field may hold a quoted newline (another test's input or error).
    header, *records = csv.reader(io.StringIO((tmp_path / "traces.csv").read_text(), newline=""))
    assert header[:2] == ["id", "created_at"] and records, (header, records[:2])
    status = header.index("status")
    assert all(r[status] == "error" for r in records), records
    assert any("no-such-model" in r[header.index("model")] for r in records), records


def test_settings_defaults_validate_save_and_persist(server, browser):
    browser.expect_console("/api/settings/global - Failed to load resource: the server responded with a status of 400")
    browser.sign_in(server.token, "#/settings")
    field = lambda key: browser.wait_for(f"#defaults-global-{key}")  # noqa: E731
    field("temperature").send_keys("7")
    browser.wait_for("#defaults-global button[type=submit]").click()
    browser.wait_for("#defaults-global-temperature-error", "at most")
    assert field("temperature").get_attribute("aria-invalid") == "true"
    # Only the server knows this one: at most 16 stop sequences.
    field("temperature").clear()
    field("temperature").send_keys("0.4")
    field("stop").send_keys("\n".join(f"stop{i}" for i in range(17)))
    browser.wait_for("#defaults-global button[type=submit]").click()
    browser.wait_for("#defaults-global-stop-error", "stop")
    field("stop").clear()
    browser.wait_for("#defaults-global button[type=submit]").click()
    browser.wait_for(".toast", "saved")
    assert requests.get(server.url("/api/settings"), headers=server.headers(), timeout=30).json()["global"]["temperature"] == 0.4
    browser.driver.refresh()
    browser.wait(lambda d: field("temperature").get_attribute("value") == "0.4", message="the saved value comes back")
    field("temperature").clear()
    browser.wait_for("#defaults-global button[type=submit]").click()
    browser.wait_for(".toast", "saved")
    plugins = browser.wait_for("#plugin-list > *")
    assert plugins.tag_name == "div" or "not available" in plugins.text or "No plugin" in plugins.text, plugins.text
    assert "temperature" not in requests.get(server.url("/api/settings"), headers=server.headers(), timeout=30).json()["global"]


def test_viewer_key_sees_no_delete_buttons(server, browser):
    key = make_key(server, "e2e-viewer", "viewer")
    browser.sign_in(key)
    browser.wait_for("#who", "viewer")
    card = browser.wait_for('#running [data-model="llama3.2:1b"]')
    assert "Stop" not in card.text
    for view, ready in [("#/models", "#installed tr[data-model]"), ("#/chat", "#chat-model"), ("#/settings", "#keys")]:
        browser.go(view)
        browser.wait_for(ready)
        assert not browser.all('[data-action="delete"]'), view
        assert not [b for b in browser.all("button") if b.is_displayed() and b.text.strip() in ("Delete", "Revoke", "Pull", "Start", "Stop")], view


def test_markdown_from_a_model_cannot_inject_markup(server, browser):
    browser.sign_in(server.token)
    prefix = browser.js(ASSET_PREFIX_JS)
    result = browser.js_async(
        """
        const [prefix, done] = arguments;
        import(prefix + "/markdown.js").then(({ renderMarkdown }) => {
          const hostile = [
            "<script>window.pwned = 1</script>", "<img src=x onerror='window.pwned=2'>", "[x](javascript:window.pwned=3)",
            "<iframe src='//evil'></iframe>", "**<b onclick=alert(1)>bold</b>**", "[ok](https://example.org) `<i>code</i>`",
            "```html\\n<script>alert(1)</script>\\n```", "| a | b |\\n|---|---|\\n| <u>1</u> | 2 |", "- one\\n- two\\n  - nested",
          ].join("\\n\\n");
          const el = renderMarkdown(hostile);
          document.body.append(el);
          const tags = [...el.querySelectorAll("*")].map((n) => n.tagName.toLowerCase());
          const attrs = [...el.querySelectorAll("*")].flatMap((n) => [...n.attributes].map((a) => a.name));
          const links = [...el.querySelectorAll("a")].map((a) => a.getAttribute("href"));
          done({ tags: [...new Set(tags)], attrs: [...new Set(attrs)], links, pwned: window.pwned || 0,
                 code: el.querySelector(".codeblock code").textContent, copy: !!el.querySelector(".codeblock button.copy"),
                 text: el.textContent });
          el.remove();
        });
        """,
        prefix,
    )
    assert result["pwned"] == 0
    assert not {"script", "img", "iframe", "b", "u", "i"} & set(result["tags"]), result["tags"]
    assert not [a for a in result["attrs"] if a.startswith("on")], result["attrs"]
    assert result["links"] == ["https://example.org"], result["links"]
    assert result["code"] == "<script>alert(1)</script>"
    assert result["copy"] is True
    assert {"table", "ul", "li", "strong", "code"} <= set(result["tags"])
    assert "<img src=x onerror='window.pwned=2'>" in result["text"], "shown as text"


def test_screenshots_of_every_view_and_page_weight(server, browser):
    """Saves docs/screenshots/*.png (light and dark) with real content in every view, and records
    page weight (bytes on the wire) and first contentful paint of a cold load."""
    from test_uploads import tiny_gguf

    browser.sign_in(server.token)
    browser.wait_for('#running [data-model="llama3.2:1b"]')
    browser.wait_for('[data-stat="cpu"] .spark-line')
    perf = browser.performance()
    assert perf["transfer_bytes"] < perf["decoded_bytes"], "assets travel compressed"
    assert perf["first_contentful_paint_ms"] is not None
    (ROOT / "target").mkdir(exist_ok=True)
    (ROOT / "target" / "web-perf.json").write_text(json.dumps(perf, indent=2))

    # Content for the views: a chat with Markdown, an upload and its import.
    browser.go("#/chat")
    box = browser.wait_for("#chat-input")
    browser.wait(lambda d: d.find_element(By.ID, "chat-model").get_attribute("value"), message="a model")
    box.send_keys("Give me a short list and a code block" + Keys.ENTER)
    browser.wait_for(".msg.assistant .trace-link", timeout=60)
    session = browser.wait_for("#sessions [data-session]").get_attribute("data-session")
    browser.go("#/models/upload")
    browser.drop_files("#dropzone", [("Tiny-Llama.Q4_K_M.gguf", tiny_gguf())])
    browser.wait_for('#imports [data-state="ready"]', timeout=60)

    shots = [("dashboard", "#/", '#running [data-model]'), ("models", "#/models/installed", "#installed tr[data-model]"),
             ("catalogue", "#/models/catalogue", "#catalogue-grid section"), ("upload", "#/models/upload", "#imports [data-state]"),
             ("chat", f"#/chat/{session}", ".msg.assistant .trace-link"),
             ("traces", "#/traces", "#trace-stats tbody tr[data-model]"), ("settings", "#/settings", "#defaults-global")]
    for name, route, ready in shots:
        browser.go(route)
        browser.wait_for(ready)
        browser.js("window.scrollTo(0, 0)")
        browser.screenshot(name)
    browser.go("#/models/installed")
    browser.wait_for('#installed tr[data-model="llama3.2:1b"] button').click()
    browser.wait_for(".drawer .kv")
    browser.screenshot("model-details")
    browser.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    for name, route, ready in [("dashboard-dark", "#/", '#running [data-model]'), ("chat-dark", shots[4][1], ".msg.assistant .trace-link")]:
        browser.go(route)
        browser.wait_for(ready)
        browser.screenshot(name)


def test_a_pull_interrupted_by_a_restart_is_resumed_from_the_page():
    """Pull progress shows bytes, speed and time left; a server restart mid-pull leaves the job
    `interrupted`; the page offers Resume, and resuming finishes the pull."""
    model = "llava:7b"  # two big layers: with the simulator's 30 ms tokens, a pull of ~1 s
    proc, first = start_server()
    job = first.post("/api/models/pull", json={"model": model}).json()
    job_id = job.get("id") or job["job"]["id"]

    def job_state():
        return first.get(f"/api/jobs/{job_id}").json()

    seen = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        current = job_state()
        seen.append(current)
        if current["progress"].get("completed"):
            break
        time.sleep(0.02)
    assert seen[-1]["state"] == "running" and seen[-1]["progress"].get("completed"), seen[-1]
    assert stop_server(proc) == 0, "".join(first.output)

    proc, second = start_server({"DATA_PATH": str(first.data_path)})
    browser = Browser(second.base_url)
    try:
        browser.sign_in(second.token, "#/models")
        row = browser.wait_for(f'#jobs [data-job="{job_id}"][data-state="interrupted"]')
        assert "resume" in row.text.lower(), row.text
        [b for b in row.find_elements(By.CSS_SELECTOR, "button") if b.text == "Resume"][0].click()
        speeds = []

        def finished(_):
            rows = browser.all(f'#jobs [data-model="{model}"]')
            for r in rows:
                text = r.text
                if "/s" in text and "left" in text:
                    speeds.append(text)
            return any(r.get_attribute("data-state") == "done" for r in rows)

        browser.wait(finished, timeout=60, message="the resumed pull finishes")
        assert speeds, "bytes, speed and time left were shown while it ran"
        browser.wait_for(f'#installed tr[data-model="{model}"]')
        problems = browser.console_problems()
        assert not problems, problems
    finally:
        browser.quit()
        assert stop_server(proc) == 0, "".join(second.output)


# --- charts, usage, small screens, Ollama down (issue 16) -------------------------------------


def history_requests(browser) -> list[str]:
    return browser.js("return performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.includes('/api/stats/history'))")


def test_dashboard_history_charts_draw_and_the_window_picker_asks_again(server, browser):
    browser.sign_in(server.token)
    cpu = browser.wait_for('#history [data-chart="cpu"] canvas')
    browser.wait_for('#history [data-chart="memory"] canvas')
    assert cpu.size["width"] > 200 and cpu.size["height"] > 100, cpu.size
    # The chart library comes from our origin, compressed, and only after the first paint.
    perf = browser.performance()
    uplot = browser.js("""
        const fcp = performance.getEntriesByName('first-contentful-paint')[0];
        return performance.getEntriesByType('resource').filter((r) => r.name.includes('/vendor/uplot/'))
          .map((r) => ({ name: r.name, start: r.startTime, transfer: r.transferSize, decoded: r.decodedBodySize, fcp: fcp ? fcp.startTime : null }));""")
    assert len(uplot) == 2 and all(u["name"].startswith(server.base_url) for u in uplot), uplot
    assert all(u["fcp"] is not None and u["start"] >= u["fcp"] for u in uplot), uplot
    assert all(0 < u["transfer"] < u["decoded"] for u in uplot if u["name"].endswith(".js")), uplot
    (ROOT / "target").mkdir(exist_ok=True)
    (ROOT / "target" / "web-perf-charts.json").write_text(json.dumps({"page": perf, "uplot": uplot}, indent=2))
    assert any("window=10m" in n for n in history_requests(browser))
    browser.wait(lambda d: int(d.execute_script("return document.querySelector('#history [data-chart=\"cpu\"]').dataset.points || 0")) > 0, message="CPU points")
    # The window picker asks the server for that window.
    browser.js("document.querySelector('#history [data-window=\"1h\"]').click()")
    browser.wait(lambda d: any("window=1h" in n for n in history_requests(browser)), message="a 1 h request")
    assert browser.attrs('#history [data-window="1h"]', "aria-pressed") == ["true"]
    # Live samples are appended without moving the page: the chart's box keeps its height.
    box = '#history [data-chart="cpu"] .chart-box'
    height = browser.js(f"return document.querySelector('{box}').getBoundingClientRect().height")
    before = int(browser.js("return document.querySelector('#history [data-chart=\"cpu\"]').dataset.points"))
    browser.wait(lambda d: int(d.execute_script("return document.querySelector('#history [data-chart=\"cpu\"]').dataset.points")) != before, timeout=30, message="a live point")
    assert browser.js(f"return document.querySelector('{box}').getBoundingClientRect().height") == height
    # Hovering shows the values at the cursor in the legend.
    from selenium.webdriver import ActionChains
    over = browser.wait_for('#history [data-chart="cpu"] .u-over')
    ActionChains(browser.driver).move_to_element(over).perform()
    browser.wait(lambda d: any(v not in ("", "–", "--") for v in browser.texts('#history [data-chart="cpu"] .u-legend .u-value')), message="a value under the cursor")
    browser.screenshot("dashboard-history")


def test_usage_view_shows_the_chats_per_model(server, browser):
    for _ in range(3):
        answer = server.post("/v1/chat/completions", json={"model": "llama3.2:1b", "stream": True, "max_tokens": 8,
                                                             "messages": [{"role": "user", "content": "hello"}]})
        assert answer.status_code == 200, answer.text
    browser.sign_in(server.token, "#/usage")
    usage = browser.wait_for("#usage")
    browser.wait(lambda d: "llama3.2:1b" in (d.execute_script("return document.querySelector('#usage').dataset.models") or ""), message="the model in the usage")
    assert int(usage.get_attribute("data-requests")) >= 3
    for chart in ("requests", "errors", "tokens-per-second", "ttft", "latency"):
        browser.wait_for(f'#usage [data-chart="{chart}"] canvas')
    assert "llama3.2:1b" in " ".join(browser.texts('#usage [data-chart="requests"] .u-legend'))
    assert "requests" in browser.wait_for("#usage-summary").text
    # Another window is asked of the server.
    browser.js("document.querySelector('#usage [data-window=\"24h\"]').click()")
    browser.wait(lambda d: d.execute_script("return performance.getEntriesByType('resource').some((e) => e.name.includes('/v1/traces/usage?window=24h'))"), message="a 24 h request")
    # A new chat shows up by itself (the trace event refreshes the view).
    before = int(usage.get_attribute("data-requests"))
    assert server.post("/v1/chat/completions", json={"model": "llama3.2:1b", "max_tokens": 4, "messages": [{"role": "user", "content": "again"}]}).status_code == 200
    browser.wait(lambda d: int(d.execute_script("return document.querySelector('#usage').dataset.requests")) > before, timeout=30, message="the new chat counted")
    browser.screenshot("usage")


def test_the_nav_at_390px_reaches_every_view(server, browser):
    browser.driver.set_window_size(390, 844)
    browser.sign_in(server.token)
    browser.wait_for('[data-stat="cpu"] .spark-line')
    width = browser.js("return window.innerWidth")
    labels = browser.texts("#mainnav a")
    assert len(labels) == 7, labels
    browser.wait_for("#menu").click()
    for link in browser.all("#mainnav a"):
        assert link.is_displayed(), link.text
        assert link.size["width"] >= 120 and link.text.strip() in labels, (link.text, link.size)
    assert browser.js("return document.documentElement.scrollWidth") <= width, "nothing wider than the screen"
    browser.screenshot("mobile-nav")
    browser.js("[...document.querySelectorAll('#mainnav a')].find((a) => a.textContent === 'Usage').click()")
    browser.wait(lambda d: d.execute_script("return document.body.dataset.view") == "usage", message="usage view")
    browser.wait_gone("#mainnav a")
    assert browser.attrs("#menu", "aria-expanded") == ["false"]
    browser.go("#/")
    browser.js("document.querySelector('#history').scrollIntoView()")
    browser.wait_for('#history [data-chart="cpu"] canvas')
    assert browser.js("return document.documentElement.scrollWidth") <= width, "the dashboard fits 390 px"
    browser.screenshot("mobile-dashboard-history")


MOBILE_VIEWS = [
    ("dashboard", "Dashboard", '#running [data-model]'),
    ("models", "Models", '#installed tr[data-model]'),
    ("chat", "Chat", ".msg.assistant"),
    ("traces", "Traces", 'table[aria-label="Traces"] tbody tr[data-trace]'),
    ("usage", "Usage", '#usage [data-chart="requests"] canvas'),
    ("nodes", "Nodes", "#nodes [data-node]"),
    ("settings", "Settings", "#defaults-global"),
]


def test_every_view_fits_390px_and_is_reached_through_the_menu(server, browser):
    """At 390×844 each view is opened through the collapsed menu (which opens, then folds again),
    nothing is wider than the screen, and a screenshot is saved as mobile-<view>.png."""
    chat = server.post("/api/sessions", json={"model": "llama3.2:1b", "title": "A chat on a phone with a long title that must not push the page wider"})
    assert chat.status_code == 201, chat.text
    session = chat.json()["id"]
    answer = server.post(f"/api/sessions/{session}/messages", json={"content": "Give me a short list and a code block", "stream": False})
    assert answer.status_code == 200, answer.text
    browser.driver.set_window_size(390, 844)
    browser.sign_in(server.token)
    width = browser.js("return window.innerWidth")
    assert width <= 390, width
    for view, label, ready in MOBILE_VIEWS:
        assert browser.attrs("#menu", "aria-expanded") == ["false"], view
        assert not [a for a in browser.all("#mainnav a") if a.is_displayed()], f"the menu is folded before {view}"
        browser.wait_for("#menu").click()
        assert browser.attrs("#menu", "aria-expanded") == ["true"]
        browser.wait_for("#mainnav a", text=label)
        browser.js("[...document.querySelectorAll('#mainnav a')].find((a) => a.textContent === arguments[0]).click()", label)
        browser.wait(lambda d: d.execute_script("return document.body.dataset.view") == view, message=f"{view} view")
        browser.wait_gone("#mainnav a")
        if view == "chat":
            browser.go(f"#/chat/{session}")
        browser.wait_for(ready, timeout=30)
        browser.js("window.scrollTo(0, 0)")
        wide = browser.js(
            """
            const w = window.innerWidth;
            return [...document.querySelectorAll('body *')].filter((e) => {
              const r = e.getBoundingClientRect();
              if (!r.width || r.right <= w + 1) return false;
              for (let p = e.parentElement; p; p = p.parentElement) {
                const o = getComputedStyle(p).overflowX;
                if (o === 'auto' || o === 'scroll' || o === 'hidden') return false;
              }
              return true;
            }).slice(0, 5).map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`);
            """
        )
        scroll = browser.js("return document.documentElement.scrollWidth")
        assert scroll <= width + 1, f"{view} is {scroll} px wide at {width}: {wide}"
        page, inner = browser.js("return [document.scrollingElement.scrollWidth, window.innerWidth]")
        assert page <= inner, f"{view} scrolls sideways: {page} px at {inner}: {wide}"
        if view == "chat":
            # The composer is on the first screen, without scrolling.
            bottom, height = browser.js("const r = document.querySelector('.composer').getBoundingClientRect(); return [r.bottom, window.innerHeight]")
            assert bottom <= height, f"the composer ends at {bottom} px, below the screen ({height} px)"
            assert browser.js("return window.scrollY") == 0
            assert browser.wait_for("#chat-input").is_displayed() and browser.wait_for("#send").is_displayed()
        if view in ("traces", "settings"):
            # Tables are cards on a phone: no header row, each row a grid with labelled values.
            rows = 'table[aria-label="Traces"] tbody tr[data-trace]' if view == "traces" else 'table[aria-label="API keys"] tbody tr'
            browser.wait_for(rows)
            shape = browser.js(
                "const r = document.querySelector(arguments[0]); const t = r.closest('table');"
                "return [getComputedStyle(r).display, getComputedStyle(t.tHead).display, getComputedStyle(r.cells[1] || r.cells[0], '::before').content]",
                rows)
            assert shape[0] == "grid" and shape[1] == "none", f"{view}: rows {shape[0]}, header {shape[1]}"
            if view == "traces":
                assert shape[2] == '"Model"', shape
        if view == "models":
            # Installed models are cards too: no header row, each model a grid with labelled
            # values, and every row's buttons on screen.
            shape = browser.js(
                "const r = document.querySelector('#installed tr[data-model]'); const t = r.closest('table');"
                "return [getComputedStyle(r).display, getComputedStyle(t.tHead).display, getComputedStyle(r.cells[1], '::before').content,"
                " t.classList.contains('cards'), Math.round(r.getBoundingClientRect().right)]")
            assert shape[:4] == ["grid", "none", '"Parameters"', True], f"models: {shape}"
            assert shape[4] <= width, f"a model card ends at {shape[4]} px"
            right = browser.js("return Math.max(...[...document.querySelectorAll('#installed tr[data-model] .actions-cell button')].map((b) => b.getBoundingClientRect().right))")
            assert right <= width, f"the model actions end at {right} px"
        browser.screenshot(f"mobile-{view}")
        if view == "chat":
            # The chat's settings unfold over the conversation, inside the screen.
            browser.wait_for("#chat-settings summary").click()
            right = browser.js("return document.getElementById('chat-panel').getBoundingClientRect().right")
            assert right <= width, f"the settings panel ends at {right} px"
            assert browser.js("return document.scrollingElement.scrollWidth") <= width
            browser.screenshot("mobile-chat-settings")
            browser.wait_for("#chat-settings-done").click()


def test_with_ollama_down_the_dashboard_says_it_once_with_a_hint():
    """A server whose Ollama is nowhere: one banner, in words, with the next step; no
    "[object Object]" and no message repeated."""
    from test_embed_example import free_port

    proc, srv = start_server(extra_env={"OLLAMA_HOST": f"127.0.0.1:{free_port()}"}, simulate=False)
    b = Browser(srv.base_url)
    try:
        b.driver.set_window_size(1280, 900)
        b.sign_in(srv.token)
        banner = b.wait_for(".warning.bad", "Ollama is not answering", timeout=30)
        assert "--simulate" in banner.text and "Start Ollama" in banner.text, banner.text
        texts = b.texts(".warnings .warning .warning-text")
        page = b.js("return document.body.innerText")
        assert "[object Object]" not in page, page
        assert len(texts) == len(set(texts)), texts
        assert sum("Ollama is not answering" in t for t in texts) == 1, texts
        assert not any("reading is" in t and ("installed" in t or "running" in t or "version" in t) for t in texts), texts
        details = b.wait_for(".warning.bad details")
        assert "Technical details" in details.text
        b.screenshot("dashboard-ollama-down")
    finally:
        b.quit()
        stop_server(proc)


def test_nodes_view_shows_every_node_live_and_an_admin_drains_one():
    """`serve --simulate --nodes 3`: a card per node with its state, VRAM bar and loaded model;
    a chat shows as served on its node; Drain turns the node to draining (and the API agrees),
    Undrain back; a viewer gets no drain button."""
    proc, srv = start_server(args=["--nodes", "3"])
    b = Browser(srv.base_url)
    try:
        b.driver.set_window_size(1280, 900)
        b.sign_in(srv.token, "#/nodes")
        for name in ("sim-1", "sim-2", "sim-3"):
            b.wait_for(f'#nodes [data-node="{name}"] .pill', "up")
        assert "3 nodes, 3 up" in b.wait_for("#nodes-summary").text
        vram = b.wait_for('#nodes [data-node="sim-1"] .muted.small:not(.node-url)').text
        assert vram.startswith("VRAM") and "of 8.0 GB (config)" in vram, vram
        # A chat goes to a node; its card counts it and shows the model loaded.
        answer = srv.post("/v1/chat/completions", json={"model": "llama3.2:1b", "max_tokens": 4,
                                                        "messages": [{"role": "user", "content": "hi"}]})
        assert answer.status_code == 200, answer.text
        node = answer.headers["x-ollama-dash-node"]
        b.wait_for(f'#nodes [data-node="{node}"]', "1 served", timeout=30)
        b.wait_for(f'#nodes [data-node="{node}"] .badge', "llama3.2:1b", timeout=30)
        # Drain and undrain from the page; the API agrees each time.
        b.click_button('#nodes [data-node="sim-2"] button', "Drain")
        b.wait_for('#nodes [data-node="sim-2"] .pill.warn', "draining")
        states = {n["name"]: n["state"] for n in srv.get("/api/nodes").json()["nodes"]}
        assert states["sim-2"] == "draining", states
        b.screenshot("nodes")
        b.click_button('#nodes [data-node="sim-2"] button', "Undrain")
        b.wait_for('#nodes [data-node="sim-2"] .pill.ok', "up")
        assert {n["name"]: n["state"] for n in srv.get("/api/nodes").json()["nodes"]}["sim-2"] == "up"
        problems = b.console_problems()
        assert not problems, problems
        # A viewer (in a browser of its own) sees the nodes but no button.
        b.quit()
        b = Browser(srv.base_url)
        b.sign_in(make_key(srv, "nodes-viewer", "viewer"), "#/nodes")
        b.wait_for('#nodes [data-node="sim-3"] .pill', "up")
        assert b.all("#nodes button") == []
    finally:
        b.quit()
        stop_server(proc)
