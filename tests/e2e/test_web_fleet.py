"""The models view in front of a fleet (`serve --simulate --nodes 3`) in a real browser: a Nodes
column says which nodes hold each model (the ones it is loaded on marked), the "On" picker sends
pull, start and delete to one node, and the API agrees after each step."""

import requests
from selenium.webdriver.support.ui import Select

from browser import Browser
from conftest import start_server, stop_server

MODEL = "smollm2:135m"


def holders(srv, path: str, model: str):
    for m in srv.get(path).json()["models"]:
        if m["name"] == model:
            return m["nodes"]
    return None


def test_models_view_names_the_nodes_and_acts_on_the_one_picked():
    proc, srv = start_server(args=["--nodes", "3"])
    b = Browser(srv.base_url)
    try:
        b.driver.set_window_size(1280, 900)
        b.sign_in(srv.token, "#/models/installed")
        # Every installed model lists its nodes; the column shows only in a fleet.
        b.wait_for("#node-target-box:not([hidden])")
        row = b.wait_for('#installed tr[data-model="llama3.2:1b"] .node-chips', "sim-1")
        assert set(row.text.split()) == set(holders(srv, "/api/models/available", "llama3.2:1b")), row.text
        assert MODEL not in b.texts("#installed tr[data-model] td:first-child div")

        # Pull on sim-2 only, from the catalogue's "Pull by name".
        Select(b.wait_for("#node-target")).select_by_value("sim-2")
        b.go("#/models/catalogue")
        b.wait_for("#pull-name").send_keys(MODEL)
        b.click_button("#pull-any button", "Pull")
        b.wait_for(f'#jobs [data-model="{MODEL}"][data-state="done"]', f"Pulled {MODEL} on sim-2", timeout=60)
        b.go("#/models/installed")
        chips = b.wait_for(f'#installed tr[data-model="{MODEL}"] .node-chips', "sim-2")
        assert chips.text.split() == ["sim-2"], chips.text
        assert holders(srv, "/api/models/available", MODEL) == ["sim-2"]

        # Start it there: its chip turns loaded, and the running list agrees.
        b.click_button(f'#installed tr[data-model="{MODEL}"] button', "Start")
        b.wait_for(f'#installed tr[data-model="{MODEL}"] .badge[data-node="sim-2"][data-loaded="true"]', "sim-2", timeout=60)
        assert holders(srv, "/api/models/running", MODEL) == ["sim-2"]
        b.screenshot("models-nodes")

        # Delete it from sim-2 (the picker still says sim-2): gone from the list and the API.
        b.click_button(f'#installed tr[data-model="{MODEL}"] button[data-action="delete"]', "Delete")
        b.click_button("dialog.confirm button", "Delete")
        b.wait_gone(f'#installed tr[data-model="{MODEL}"]', timeout=60)
        assert holders(srv, "/api/models/available", MODEL) is None
        jobs = requests.get(srv.url("/api/jobs"), headers=srv.headers(), timeout=30).json()["jobs"]
        assert {(j["kind"], j["node"]) for j in jobs if j["model"] == MODEL} == {("pull", "sim-2"), ("start", "sim-2"), ("delete", "sim-2")}
        problems = b.console_problems()
        assert not problems, problems
    finally:
        b.quit()
        stop_server(proc)
