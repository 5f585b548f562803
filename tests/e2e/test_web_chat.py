"""The chat view in a real browser (#16 item 5): regenerate, edit and resend as a branch with a
"‹ 1/2 ›" switch, copy (a message and a code block, with the fallback), export (Markdown and
JSON), highlighted code and drawn math (loaded only when a reply has them), and Stop.

The simulator answers deterministically; a question with both "code" and "math" in it gets a
fixed Markdown sample (a Python block, inline and display TeX) before its sentences."""

import json

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from conftest import ROOT

CODE_AND_MATH = "Show me code and math for a circle"
RICH = ("/code-highlight.js", "/math.js", "/vendor/lezer/", "/vendor/temml/")


def open_chat(browser, server):
    browser.sign_in(server.token, "#/chat")
    browser.wait(lambda d: d.find_element(By.ID, "chat-model").get_attribute("value"), message="a model")
    return browser.wait_for("#chat-input")


def ask(browser, text: str, replies: int):
    """Sends `text` from the composer and waits until the `replies`-th answer has finished."""
    browser.wait_for("#chat-input").send_keys(text + Keys.ENTER)
    wait_replies(browser, replies)


def wait_replies(browser, count: int, timeout: float = 60):
    browser.wait(lambda d: d.execute_script(
        "const r = document.querySelectorAll('#messages .msg.assistant');"
        "return r.length === arguments[0] && !!r[r.length - 1].querySelector('.trace-link') && document.querySelector('#stop').hidden",
        count), timeout, f"{count} finished replies")


def synced(browser):
    """Waits until every message on screen has its stored id (its tools are drawn from it)."""
    browser.wait(lambda d: d.execute_script(
        "const m = [...document.querySelectorAll('#messages .msg')];"
        "return m.length > 0 && m.every((e) => e.querySelector('.msg-tools [data-action]') || e.dataset.role === 'assistant' && e !== m[m.length - 1])"),
        message="message tools")


def thread(browser) -> list:
    return browser.js("return [...document.querySelectorAll('#messages .msg')].map((m) => [m.dataset.role, m.querySelector('.bubble').textContent.trim()])")


def switch_label(browser, index: int):
    return browser.js("const s = document.querySelectorAll('#messages .msg')[arguments[0]]?.querySelector('.branch-switch .num'); return s && s.textContent", index)


def click_in(browser, index: int, action: str):
    browser.wait(lambda d: d.execute_script(
        "const b = document.querySelectorAll('#messages .msg')[arguments[0]]?.querySelector(`[data-action='${arguments[1]}']:not([disabled])`); if (b) b.click(); return !!b;",
        index, action), message=f"{action} on message {index}")


def session_id(browser) -> str:
    return browser.js("return decodeURIComponent(location.hash.split('/')[2] || '')")


def test_chat_regenerate_keeps_both_answers_behind_a_switch(server, browser):
    open_chat(browser, server)
    ask(browser, "Name a colour for a kitchen wall", 1)
    synced(browser)
    first = thread(browser)
    assert [r for r, _ in first] == ["user", "assistant"]
    # A different seed, so the simulator's deterministic answer differs (a model's would anyway).
    seed = browser.wait_for("#chat-settings summary")
    seed.click()
    browser.wait_for("#opt-seed").send_keys("7" + Keys.TAB)
    seed.click()
    click_in(browser, 1, "regenerate")
    wait_replies(browser, 1)
    browser.wait(lambda _: switch_label(browser, 1) == "2/2", message="2/2 on the new answer")
    second = thread(browser)
    assert second[0] == first[0], "the question is kept"
    assert second[1][1] != first[1][1], "a new answer"
    # Switch back and forth; the choice is kept on the server.
    click_in(browser, 1, "prev-branch")
    browser.wait(lambda _: switch_label(browser, 1) == "1/2", message="1/2")
    assert thread(browser)[1] == first[1]
    assert browser.js("return document.activeElement.dataset.action") == "next-branch", "focus stays on the switch"
    browser.driver.refresh()
    browser.wait(lambda _: switch_label(browser, 1) == "1/2", message="1/2 after a reload")
    assert thread(browser)[1] == first[1]
    click_in(browser, 1, "next-branch")
    browser.wait(lambda _: switch_label(browser, 1) == "2/2", message="2/2 again")
    assert thread(browser)[1] == second[1]


def test_chat_edit_and_resend_makes_a_branch_and_keeps_the_old_one(server, browser):
    open_chat(browser, server)
    ask(browser, "Name a colour for a garden door", 1)
    ask(browser, "And a fruit that matches it?", 2)
    synced(browser)
    before = thread(browser)
    assert len(before) == 4
    click_in(browser, 0, "edit")
    area = browser.wait_for("#messages .msg.user .edit-input")
    area.send_keys(Keys.CONTROL, "a")
    area.send_keys("Name a dark colour for a garden door" + Keys.ENTER)
    wait_replies(browser, 1)
    browser.wait(lambda _: switch_label(browser, 0) == "2/2", message="2/2 on the edited question")
    after = thread(browser)
    assert [r for r, _ in after] == ["user", "assistant"]
    assert after[0][1] == "Name a dark colour for a garden door"
    browser.screenshot("chat-branch")
    # The old branch is all there.
    click_in(browser, 0, "prev-branch")
    browser.wait(lambda _: switch_label(browser, 0) == "1/2", message="1/2")
    assert thread(browser) == before
    # Escape cancels an edit without sending anything.
    click_in(browser, 2, "edit")
    browser.wait_for("#messages .edit-input").send_keys(Keys.ESCAPE)
    browser.wait_gone("#messages .edit-input")
    assert thread(browser) == before
    stored = browser.js_async(
        "const [id, done] = arguments; fetch('/api/sessions/' + id, { headers: { Authorization: 'Bearer ' + localStorage.getItem('ollama-dash-token') } }).then((r) => r.json()).then(done);",
        session_id(browser))
    assert [m["content"] for m in stored["messages"]] == [t for _, t in before]
    assert len(stored["messages"][0]["siblings"]) == 2


def test_chat_copy_a_message_and_a_code_block_and_the_fallback(server, browser):
    open_chat(browser, server)
    ask(browser, CODE_AND_MATH, 1)
    synced(browser)
    browser.js("window.__copied = []; navigator.clipboard.writeText = async (text) => { window.__copied.push(text); };")
    browser.js("document.querySelectorAll('#messages .msg')[1].querySelector('.msg-tools button.copy').click()")
    browser.wait_for("#messages .msg.assistant .msg-tools button.copied", "Copied")
    reply = browser.js_async(
        "const [id, done] = arguments; fetch('/api/sessions/' + id, { headers: { Authorization: 'Bearer ' + localStorage.getItem('ollama-dash-token') } }).then((r) => r.json()).then((j) => done(j.messages[1].content));",
        session_id(browser))
    assert browser.js("return window.__copied")[-1] == reply, "the message's Markdown source"
    browser.js("document.querySelector('#messages .codeblock button.copy').click()")
    browser.wait_for("#messages .codeblock button.copied", "Copied")
    code = browser.js("return window.__copied.at(-1)")
    assert code.startswith("import math\n") and "def area(radius: float)" in code and "```" not in code
    # Without the Clipboard API (plain http on a LAN address): a selected textarea and execCommand.
    browser.js("""
      window.__fallback = [];
      Object.defineProperty(navigator, 'clipboard', { value: undefined, configurable: true });
      document.execCommand = (command) => { const el = document.body.lastElementChild; window.__fallback.push([command, el.tagName, el.value]); return true; };
      document.querySelectorAll('#messages .msg')[0].querySelector('.msg-tools button.copy').click();
    """)
    browser.wait_for("#messages .msg.user .msg-tools button.copied", "Copied")
    assert browser.js("return window.__fallback") == [["copy", "TEXTAREA", CODE_AND_MATH]]
    assert not browser.all("body > textarea"), "the helper textarea is removed"


def test_chat_exports_markdown_and_json(server, browser):
    open_chat(browser, server)
    # Whichever model the picker chose (other tests pull more models into the shared server).
    model = browser.js("return document.getElementById('chat-model').value")
    ask(browser, CODE_AND_MATH, 1)
    synced(browser)
    browser.js("""
      window.__saved = [];
      const create = URL.createObjectURL;
      URL.createObjectURL = (blob) => { const url = create(blob); window.__saved.push({ url, blob }); return url; };
      HTMLAnchorElement.prototype.click = function () { const s = window.__saved.find((x) => x.url === this.href); if (s) s.name = this.download; };
    """)
    saved = []
    for kind in ("md", "json"):
        browser.wait_for("#chat-export summary").click()
        browser.wait_for(f"#export-{kind}").click()
        saved.append(browser.js_async(
            "const [i, done] = arguments; const wait = () => { const s = window.__saved[i]; if (s && s.name) s.blob.text().then((text) => done({ name: s.name, type: s.blob.type, text })); else setTimeout(wait, 50); }; wait();",
            len(saved)))
    md, js = saved
    title = CODE_AND_MATH[:60]
    assert md["name"].endswith(".md") and md["type"].startswith("text/markdown"), md
    assert md["text"].startswith(f"# {title}\n"), md["text"][:200]
    assert f"## You\n\n{CODE_AND_MATH}\n" in md["text"]
    assert f"## Assistant ({model})" in md["text"]
    assert "```python\nimport math\n" in md["text"], "the reply's Markdown as written"
    assert js["name"].endswith(".json") and js["type"].startswith("application/json"), js
    data = json.loads(js["text"])
    assert data["session"]["id"] == session_id(browser)
    assert [m["role"] for m in data["messages"]] == ["user", "assistant"]
    assert data["messages"][0]["content"] == CODE_AND_MATH
    assert data["messages"][1]["trace_id"]


def test_chat_code_is_highlighted_and_math_drawn_loaded_only_when_needed(server, browser):
    """A reply without code or math never fetches the libraries; one with them does, and shows
    token spans and MathML. Records the page weight of both cold loads."""
    open_chat(browser, server)
    ask(browser, "Say something about tea", 1)
    plain = session_id(browser)
    browser.driver.refresh()  # a fresh load of a plain chat
    wait_replies(browser, 1)
    plain_perf = browser.performance()
    fetched = browser.js("return performance.getEntriesByType('resource').map((r) => r.name)")
    assert not [u for u in fetched if any(r in u for r in RICH)], fetched

    ask(browser, CODE_AND_MATH, 2)
    rich = session_id(browser)
    browser.wait_for("#messages .codeblock code span.tok-keyword")
    browser.wait(lambda d: d.execute_script("return document.querySelectorAll('#messages .math.math-done math').length") >= 3, message="math drawn")
    code = browser.js("""
      const code = document.querySelector('#messages .codeblock code');
      return { text: code.textContent, classes: [...new Set([...code.querySelectorAll('span')].flatMap((s) => [...s.classList]))],
               keywords: [...code.querySelectorAll('.tok-keyword')].map((s) => s.textContent) };
    """)
    assert code["text"].startswith("import math\n\ndef area(radius: float) -> float:\n"), code["text"]
    assert {"import", "def", "return"} <= set(code["keywords"]), code
    assert {"tok-string", "tok-comment", "tok-number"} <= set(code["classes"]), code["classes"]
    maths = browser.js("""
      return [...document.querySelectorAll('#messages .math')].map((m) => ({ display: m.classList.contains('math-display'),
        tex: m.dataset.tex, math: !!m.querySelector('math'), block: m.querySelector('math')?.getAttribute('display') }));
    """)
    assert [m["tex"] for m in maths] == ["A = \\pi r^2", "\\sqrt{\\pi}", "\\int_{-\\infty}^{\\infty} e^{-x^2}\\,dx = \\sqrt{\\pi}"], maths
    assert all(m["math"] for m in maths)
    assert [m["display"] for m in maths] == [False, False, True]
    assert maths[2]["block"] == "block"
    # Nothing of the model's text became markup: only spans in the code, MathML in the math.
    tags = set(browser.js("return [...document.querySelectorAll('#messages .msg.assistant .bubble *')].map((e) => e.tagName.toLowerCase())"))
    assert not {"script", "iframe", "img", "style", "a"} & tags, tags
    browser.screenshot("chat-code-math")

    browser.driver.refresh()
    browser.wait_for("#messages .codeblock code span.tok-keyword")
    browser.wait(lambda d: d.execute_script("return document.querySelectorAll('#messages .math-done math').length") >= 3, message="math drawn after a cold load")
    rich_perf = browser.performance()
    libraries = browser.js("""
      return performance.getEntriesByType('resource').filter((r) => /code-highlight\\.js|math\\.js|vendor\\/(lezer|temml)/.test(r.name))
        .map((r) => ({ name: r.name.replace(/^.*\\/assets\\/[^/]+\\//, ''), transfer: r.transferSize, decoded: r.decodedBodySize }));
    """)
    names = {l["name"] for l in libraries}
    assert {"code-highlight.js", "math.js", "vendor/lezer/highlight.js", "vendor/lezer/python.js", "vendor/temml/temml.min.js"} <= names, libraries
    assert not [n for n in names if n.startswith("vendor/lezer/") and not n.startswith("vendor/lezer/chunk-") and n not in ("vendor/lezer/highlight.js", "vendor/lezer/python.js")], "only the Python grammar"
    (ROOT / "target").mkdir(exist_ok=True)
    (ROOT / "target" / "web-perf-chat.json").write_text(json.dumps({"plain_chat": plain_perf, "code_and_math_chat": rich_perf, "libraries": libraries}, indent=2))


def test_chat_stop_keeps_the_partial_reply_and_the_chat_goes_on(server, browser):
    open_chat(browser, server)
    browser.wait_for("#chat-input").send_keys(CODE_AND_MATH + " at length" + Keys.ENTER)
    # Stop once some of the answer is on screen.
    browser.wait(lambda d: d.execute_script("return (document.querySelector('#messages .msg.assistant .bubble')?.textContent || '').length > 10"), message="a partial answer")
    browser.wait_for("#stop").click()
    note = browser.wait_for("#messages .msg.assistant .meta", "stopped")
    assert note.is_displayed()
    partial = thread(browser)[1][1]
    assert partial, "the partial text is kept"
    assert browser.wait_for("#send").is_displayed() and not browser.all("#stop:not([hidden])")
    # The chat is usable: the next question is answered in full, after the partial reply.
    ask(browser, "Thanks, now a short summary", 2)
    roles = [r for r, _ in thread(browser)]
    assert roles == ["user", "assistant", "user", "assistant"]
    assert thread(browser)[1][1] == partial
    browser.driver.refresh()
    wait_replies(browser, 2)
    kept = thread(browser)
    assert [r for r, _ in kept] == roles
    assert kept[1][1].startswith(partial[:10]), "the partial reply was stored"


def test_chat_settings_panel_is_stored_with_the_session_and_sent_with_its_turns(server, browser):
    """The panel (#16): temperature, keep-alive and the model changed in a chat are stored with
    its session (the API says so), the next turn is sent with them, and a reload shows them."""
    open_chat(browser, server)
    ask(browser, "Name a fruit", 1)
    synced(browser)
    sid = session_id(browser)
    current = browser.js("return document.getElementById('chat-model').value")
    others = browser.js("return [...document.querySelectorAll('#chat-model option')].map((o) => o.value).filter((v) => v !== arguments[0])", current)
    assert others, "a second chat model to switch to"
    other = others[0]
    browser.wait_for("#chat-settings summary").click()
    panel = browser.wait_for("#chat-panel")
    assert panel.is_displayed()
    # The panel spans the conversation and stays inside the window.
    left, right, width = browser.js("const r = document.getElementById('chat-panel').getBoundingClientRect(); return [r.left, r.right, window.innerWidth]")
    assert left >= 0 and right <= width, (left, right, width)
    temperature = browser.wait_for("#opt-temperature")
    temperature.clear()
    temperature.send_keys("0.3" + Keys.TAB)
    browser.wait_for("#chat-saved", "Saved")
    keep_alive = browser.wait_for("#opt-keep_alive")
    keep_alive.send_keys("soon" + Keys.TAB)
    assert "duration" in browser.wait_for("#opt-keep_alive-error").text, "a bad keep-alive is refused before it is sent"
    keep_alive.clear()
    keep_alive.send_keys("10m" + Keys.TAB)
    browser.wait(lambda _: browser.js("return document.getElementById('opt-keep_alive-error').textContent") == "", message="the error goes")
    browser.screenshot("chat-settings")
    browser.wait_for("#chat-settings-done").click()
    assert not panel.is_displayed(), "Done folds the panel"
    Select(browser.wait_for("#chat-model")).select_by_value(other)
    ask(browser, "Name another fruit", 2)
    answer = server.get(f"/api/sessions/{sid}").json()
    session, messages = answer["session"], answer["messages"]
    assert session["options"]["temperature"] == 0.3, session
    assert session["keep_alive"] == "10m", session
    assert session["model"] == other, session
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[-1]["model"] == other and messages[-2]["model"] == other, messages
    assert messages[-2]["options"]["temperature"] == 0.3, messages[-2]
    # The trace of the answer was asked of the new model.
    trace = server.get(f"/v1/traces/{messages[-1]['trace_id']}").json()
    assert trace["model"] == other, trace
    # A reload shows the chat's settings again.
    browser.driver.refresh()
    wait_replies(browser, 2)
    assert Select(browser.wait_for("#chat-model")).first_selected_option.get_attribute("value") == other
    browser.wait_for("#chat-settings summary").click()
    assert browser.wait_for("#opt-temperature").get_attribute("value") == "0.3"
    assert browser.wait_for("#opt-keep_alive").get_attribute("value") == "10m"
    # Reset empties them on the server too.
    browser.wait_for("#chat-reset").click()
    browser.wait_for("#chat-saved", "Saved")
    session = server.get(f"/api/sessions/{sid}").json()["session"]
    assert session["options"] == {} and session["keep_alive"] is None and session["think"] is None, session
    browser.wait_for("#opt-temperature").send_keys(Keys.ESCAPE)
    browser.wait(lambda _: not browser.js("return document.getElementById('chat-settings').open"), message="Escape folds the panel")
