"""tuspy (a tus client nobody here wrote) uploads a GGUF to the running binary, stops halfway,
resumes from the server's offset, and the model appears in (simulated) Ollama."""

import hashlib
import struct

from tusclient import client as tus

ALIGN = 32


def gguf_string(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def tiny_gguf(arch: str = "llama") -> bytes:
    """A small valid GGUF v3 model: Q4_K_M file type, a chat template, two tensors."""
    kvs = [
        ("general.architecture", 8, gguf_string(arch)),
        ("general.name", 8, gguf_string("E2E tiny")),
        ("general.file_type", 4, struct.pack("<I", 15)),
        (f"{arch}.context_length", 4, struct.pack("<I", 2048)),
        (f"{arch}.embedding_length", 4, struct.pack("<I", 64)),
        (f"{arch}.block_count", 4, struct.pack("<I", 1)),
        ("tokenizer.chat_template", 8, gguf_string("{{ messages }}")),
    ]
    tensors = [("token_embd.weight", [64, 2048], 1, 64 * 2048 * 2), ("output_norm.weight", [64], 0, 64 * 4)]
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for key, vtype, payload in kvs:
        out += gguf_string(key) + struct.pack("<I", vtype) + payload
    offset = 0
    for name, dims, ggml_type, size in tensors:
        out += gguf_string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", ggml_type, offset)
        offset += (size + ALIGN - 1) // ALIGN * ALIGN
    out += b"\0" * (-len(out) % ALIGN)
    for _, _, _, size in tensors:
        out += bytes((i * 7) % 251 for i in range(size)) + b"\0" * (-size % ALIGN)
    return out


def settle(server, upload_id: str) -> dict:
    """Follows the import of `upload_id` until it is ready or failed (each look is a request)."""
    for _ in range(100_000):
        imports = server.get("/v1/models/imports").json()["imports"]
        mine = [i for i in imports if i["upload_id"] == upload_id]
        if mine and mine[0]["state"] in ("ready", "failed"):
            return mine[0]
    raise AssertionError("the import never settled")


def test_tuspy_stops_resumes_and_the_model_is_imported(server, tmp_path):
    data = tiny_gguf()
    path = tmp_path / "tiny.gguf"
    path.write_bytes(data)
    tc = tus.TusClient(server.url("/v1/uploads"), headers=server.headers())
    metadata = {"filename": "tiny.gguf", "model": "e2e-tiny:q4"}
    first = tc.uploader(str(path), chunk_size=64 * 1024, metadata=metadata, upload_checksum=True)
    first.upload(stop_at=100_000)
    assert 100_000 <= first.offset < len(data)

    # A fresh uploader for the same URL asks the server where to go on (HEAD).
    second = tc.uploader(str(path), url=first.url, chunk_size=64 * 1024, upload_checksum=True)
    assert second.offset == first.offset
    second.upload()
    upload_id = first.url.rsplit("/", 1)[1]

    done = settle(server, upload_id)
    assert done["state"] == "ready", done
    assert done["report"]["architecture"] == "llama"
    assert done["report"]["quantization"] == "Q4_K_M"
    assert done["report"]["files"][0]["sha256"] == hashlib.sha256(data).hexdigest()
    models = server.get("/api/models/available").json()["models"]
    model = next(m for m in models if m["name"] == "e2e-tiny:q4")
    assert model["family"] == "llama"
    assert model["quantization"] == "Q4_K_M"
    assert server.get(f"/v1/uploads/{upload_id}").status_code == 410


def test_tuspy_upload_of_a_non_gguf_fails_its_import_with_the_reason(server, tmp_path):
    path = tmp_path / "notes.gguf"
    path.write_bytes(b"these are not the weights you are looking for" * 100)
    tc = tus.TusClient(server.url("/v1/uploads"), headers=server.headers())
    uploader = tc.uploader(str(path), metadata={"filename": "notes.gguf", "model": "e2e-broken"})
    uploader.upload()
    done = settle(server, uploader.url.rsplit("/", 1)[1])
    assert done["state"] == "failed"
    assert "not a GGUF file" in done["error"]
