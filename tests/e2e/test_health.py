"""The running binary answers health and refuses requests without a token."""


def test_ping_needs_no_token(server):
    import requests

    assert requests.get(server.url("/ping"), timeout=10).json() == {"status": "ok"}


def test_health_with_and_without_token(server):
    import requests

    denied = requests.get(server.url("/api/health"), timeout=10)
    assert denied.status_code == 401
    assert denied.json()["error"]["type"] == "authentication_error"
    health = server.get("/api/health").json()
    assert health["status"] == "ok"
    assert health["ollama"]["ok"] is True
