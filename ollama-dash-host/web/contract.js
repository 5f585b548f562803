// The page ↔ API contract: every JSON answer the page reads, with the fields it reads and their
// types. The views read answers through `read` (or check event payloads with `check`), so a field
// is read under one name, the one declared here. tests/it/contract.rs fetches each `path` (with
// `query` and the placeholders filled from seeded data) from the real router and fails when a
// declared field is missing or has another type: rename a field server-side and that test fails.
//
// Types: "string", "number", "boolean", "object", "array"; a trailing "?" also allows null;
// "a|b" allows either (a session's `think` is "boolean|string?": true, false, a level or null);
// the member "absent" allows the key to be missing (a field the server leaves out when unknown).
// Paths: "a.b" nests; "list[].x" is `x` of every element of `list`; "map.*.x" is `x` of every
// value of the object `map`. The literal below is JSON (the test parses it with serde_json):
// keep it so — double quotes, no comments, no trailing commas.

import { api } from "./api.js";

export const CONTRACT = {
  "verify": { "path": "/api/auth/verify", "method": "POST", "fields": { "name": "string", "role": "string" } },
  "health": { "path": "/api/health", "fields": {
    "status": "string",
    "ollama": "object", "ollama.ok": "boolean", "ollama.url": "string", "ollama.version": "string?", "ollama.latency_ms": "number?",
    "collector": "object", "collector.alive": "boolean", "collector.probes": "object",
    "collector.probes.*.stale": "boolean", "collector.probes.*.age_ms": "number?",
    "store": "object", "store.ok": "boolean", "store.queue_full": "number" } },
  "stats": { "path": "/api/stats", "fields": {
    "system": "object", "system.stats": "object?", "gpu": "object", "gpu.report": "object?", "plugins": "array",
    "system.stats.cpu_percent": "number?", "system.stats.cores": "number", "system.stats.load_average": "array?",
    "system.stats.memory.total": "number", "system.stats.memory.used": "number", "system.stats.swap.used": "number",
    "system.stats.disks": "array", "system.stats.disks[].role": "string", "system.stats.disks[].mount_point": "string",
    "system.stats.disks[].total": "number", "system.stats.disks[].available": "number", "system.stats.disks[].used_percent": "number",
    "gpu.report.devices": "array", "gpu.report.note": "string?" } },
  "history": { "path": "/api/stats/history", "query": "window=10m", "fields": {
    "points": "array", "points[].ts": "number", "points[].cpu_percent": "number?", "points[].memory_used": "number?",
    "points[].memory_total": "number?", "points[].gpu_percent": "number?", "points[].vram_used": "number?" } },
  "running": { "path": "/api/models/running", "fields": {
    "stale": "boolean", "age_ms": "number?", "models": "array",
    "models[].name": "string", "models[].size": "number", "models[].size_vram": "number", "models[].vram_percent": "number",
    "models[].capabilities": "array", "models[].capabilities[].name": "string", "models[].context_length": "number?",
    "models[].parameter_size": "string?", "models[].quantization": "string?",
    "models[].expires": "object?", "models[].expires.utc": "string", "models[].expires.forever": "boolean",
    "models[].nodes": "array" } },
  "installed": { "path": "/api/models/available", "fields": {
    "models": "array", "models[].name": "string", "models[].size": "number", "models[].modified_at": "string?", "models[].nodes": "array",
    "models[].capabilities": "array", "models[].capabilities[].name": "string",
    "models[].parameter_size": "string?", "models[].quantization": "string?" } },
  "show": { "path": "/api/models/show", "query": "name={model}", "fields": {
    "name": "string", "details": "object", "details.family": "string?", "details.families": "array?",
    "details.parameter_size": "string?", "details.quantization_level": "string?", "details.format": "string?",
    "model_info": "object", "capabilities": "array", "capabilities[].name": "string",
    "context_length": "number?", "has_projector": "boolean", "modified_at": "string?",
    "parameters": "string?", "system": "string?", "template": "string?", "license": "string?" } },
  "catalogue": { "path": "/api/models/downloadable", "query": "category=best", "fields": {
    "models": "array", "models[].name": "string", "models[].description": "string", "models[].capabilities": "array",
    "models[].installed": "boolean", "models[].size_bytes": "number?" } },
  "jobs": { "path": "/api/jobs", "fields": {
    "jobs": "array", "jobs[].id": "string", "jobs[].kind": "string", "jobs[].model": "string", "jobs[].state": "string", "jobs[].node": "string?",
    "jobs[].resumable": "boolean", "jobs[].error": "object?", "jobs[].error.message": "string", "jobs[].progress": "object",
    "jobs[].progress.completed": "number", "jobs[].progress.total": "number",
    "jobs[].progress.bytes_per_sec": "number?", "jobs[].progress.eta_secs": "number?", "jobs[].progress.status": "string?" } },
  "imports": { "path": "/v1/models/imports", "fields": {
    "imports": "array", "imports[].id": "string", "imports[].upload_id": "string", "imports[].name": "string",
    "imports[].state": "string", "imports[].error": "string?", "imports[].created_at": "number",
    "imports[].progress": "object?", "imports[].progress.status": "string",
    "imports[].progress.completed": "number|absent", "imports[].progress.total": "number|absent",
    "imports[].report": "object?", "imports[].report.architecture": "string?",
    "imports[].report.parameter_count": "number?", "imports[].report.quantization": "string?" } },
  "import": { "path": "/v1/models/imports/{import}", "fields": {
    "id": "string", "upload_id": "string", "name": "string", "state": "string", "error": "string?", "created_at": "number",
    "progress": "object?", "progress.status": "string", "progress.completed": "number|absent", "progress.total": "number|absent",
    "report": "object?", "report.architecture": "string?", "report.parameter_count": "number?", "report.quantization": "string?" } },
  "sessions": { "path": "/api/sessions", "fields": {
    "sessions": "array", "sessions[].id": "string", "sessions[].title": "string", "sessions[].updated_at": "number" } },
  "session": { "path": "/api/sessions/{session}", "fields": {
    "session": "object", "session.id": "string", "session.title": "string", "session.model": "string?",
    "session.system_prompt": "string?", "session.options": "object?",
    "session.think": "boolean|string?", "session.keep_alive": "string|number?",
    "messages": "array", "messages[].id": "number", "messages[].role": "string", "messages[].content": "string",
    "messages[].model": "string?", "messages[].created_at": "number", "messages[].siblings": "array",
    "messages[].images": "array?", "messages[].prompt_tokens": "number?", "messages[].completion_tokens": "number?",
    "messages[].trace_id": "string?" } },
  "traces": { "path": "/v1/traces", "query": "limit=5", "fields": {
    "data": "array", "has_more": "boolean", "next_cursor": "string?", "total": "number?",
    "data[].id": "string", "data[].created_at": "number", "data[].model": "string", "data[].endpoint": "string",
    "data[].status": "string", "data[].api_key": "string?", "data[].duration_ms": "number?",
    "data[].prompt_tokens": "number?", "data[].completion_tokens": "number?" } },
  "trace": { "path": "/v1/traces/{trace}", "fields": {
    "id": "string", "created_at": "number", "model": "string", "endpoint": "string", "status": "string",
    "api_key": "string?", "client_addr": "string?", "duration_ms": "number?", "total_ns": "number?",
    "load_ns": "number?", "prompt_eval_ns": "number?", "eval_ns": "number?",
    "prompt_tokens": "number?", "completion_tokens": "number?", "total_tokens": "number?", "ttft_ms": "number?", "output": "string?" } },
  "traceStats": { "path": "/v1/traces/stats", "fields": {
    "models": "array", "models[].model": "string", "models[].count": "number", "models[].errors": "number",
    "models[].cancelled": "number", "models[].tokens_per_second": "number?",
    "models[].p50_latency_ms": "number?", "models[].p95_latency_ms": "number?" } },
  "usage": { "path": "/v1/traces/usage", "query": "window=1h", "fields": {
    "since": "number", "until": "number", "bucket_ms": "number", "window_secs": "number", "bucket_secs": "number", "models": "array",
    "points": "array", "points[].model": "string", "points[].start": "number", "points[].requests": "number",
    "points[].errors": "number", "points[].tokens_per_second": "number?", "points[].p50_ttft_ms": "number?",
    "points[].p95_ttft_ms": "number?", "points[].p50_latency_ms": "number?", "points[].p95_latency_ms": "number?" } },
  "nodes": { "path": "/api/nodes", "fields": {
    "nodes": "array", "nodes[].name": "string", "nodes[].url": "string", "nodes[].state": "string",
    "nodes[].vram_total": "number?", "nodes[].vram_used": "number", "nodes[].loaded": "array",
    "nodes[].in_flight": "number", "nodes[].queued": "number", "nodes[].served": "number", "nodes[].errors": "number",
    "nodes[].version": "string?", "nodes[].latency_ms": "number?", "nodes[].vram_source": "string", "nodes[].last_error": "string?" } },
  "settings": { "path": "/api/settings", "fields": {
    "global": "object", "models": "object", "deployment": "object", "deployment.values": "object" } },
  "keys": { "path": "/api/keys", "fields": { "keys": "array", "keys[].name": "string", "keys[].role": "string", "keys[].created_at": "number" } },
  "plugins": { "path": "/api/plugins", "fields": { "dir": "string", "plugins": "array" } },
  "pluginReload": { "path": "/api/plugins/reload", "method": "POST", "fields": {
    "loaded": "array", "removed": "array", "plugins": "array",
    "failed": "array", "failed[].file": "string", "failed[].error": "string" } }
};

/** `CONTRACT[name].path` with `{placeholders}` filled from `params` and `query` appended. */
export function url(name, params = {}, query = "") {
  const path = CONTRACT[name].path.replace(/\{(\w+)\}/g, (_, key) => encodeURIComponent(params[key]));
  return query ? `${path}?${query}` : path;
}

function typeOf(value) {
  if (value === null) return "null";
  return Array.isArray(value) ? "array" : typeof value;
}

/** The values at a declared path ("a.b", "list[].x", "map.*.x"): none when a parent is null. */
function valuesAt(value, path) {
  let values = [value];
  for (const step of path.split(".")) {
    const each = step.endsWith("[]");
    const key = each ? step.slice(0, -2) : step;
    const next = [];
    for (const v of values) {
      if (v == null || typeof v !== "object") continue;
      if (key === "*") next.push(...Object.values(v));
      else if (!(key in v)) next.push(undefined);
      else if (each) { if (Array.isArray(v[key])) next.push(...v[key]); }
      else next.push(v[key]);
    }
    values = next;
  }
  return values;
}

/** The declared fields of `name` that `value` lacks or has with another type, as sentences. */
export function violations(name, value) {
  const problems = [];
  for (const [path, declared] of Object.entries(CONTRACT[name].fields)) {
    const nullable = declared.endsWith("?");
    const types = (nullable ? declared.slice(0, -1) : declared).split("|");
    for (const v of valuesAt(value, path)) {
      const actual = v === undefined ? "missing" : typeOf(v);
      const allowed = types.includes(actual) || (nullable && actual === "null") || (actual === "missing" && types.includes("absent"));
      if (!allowed) { problems.push(`${path}: ${actual}, not ${declared}`); break; }
    }
  }
  return problems;
}

const warned = new Set();
/** Returns `value`, warning once per endpoint in the console when it breaks the contract. */
export function check(name, value) {
  const problems = violations(name, value);
  if (problems.length && !warned.has(name)) {
    warned.add(name);
    console.warn(`API answer ${name} (${CONTRACT[name].path}) breaks web/contract.js: ${problems.join("; ")}`);
  }
  return value;
}

/** GETs (or POSTs, for `method: "POST"` endpoints) a declared endpoint and checks the answer. */
export async function read(name, params = {}, query = "") {
  const { method = "GET" } = CONTRACT[name];
  return check(name, await api(url(name, params, query), { method }));
}
