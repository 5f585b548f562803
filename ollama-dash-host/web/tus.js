// A small tus 1.0.0 client (core + creation + termination + checksum) for the upload zone.
// Each file is sent in chunks with PATCH; the upload URL is remembered in localStorage under a
// fingerprint of the file, so choosing the same file again after a reload resumes where the
// server says it stopped (HEAD gives the durable offset).

import { token } from "./api.js";

const STORE_KEY = "ollama-dash-uploads";
const CHUNK = 16 * 1024 * 1024;
const RETRY_DELAYS = [0, 1000, 3000, 6000, 12000];

/** Uploads remembered for resuming: `{fingerprint: {url, name, size, model, started}}`. */
export function rememberedUploads() {
  try { return JSON.parse(localStorage.getItem(STORE_KEY) || "{}"); } catch { return {}; }
}
function remember(fp, entry) {
  const all = rememberedUploads();
  if (entry) all[fp] = entry; else delete all[fp];
  localStorage.setItem(STORE_KEY, JSON.stringify(all));
}
export function forgetUpload(fp) { remember(fp, null); }

export function fingerprint(file) { return `${file.name}::${file.size}::${file.lastModified}`; }

function base64(buffer) {
  let bin = "";
  for (const b of new Uint8Array(buffer)) bin += String.fromCharCode(b);
  return btoa(bin);
}
function b64(text) { return base64(new TextEncoder().encode(text)); }

export class TusError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

/** One resumable upload. Callbacks: onProgress(sent, total), onSuccess(url), onError(err). */
export class TusUpload {
  constructor(file, { endpoint = "/v1/uploads", metadata = {}, chunkSize = CHUNK, onProgress = () => {}, onSuccess = () => {}, onError = () => {}, onResume = () => {} } = {}) {
    Object.assign(this, { file, endpoint, metadata, chunkSize, onProgress, onSuccess, onError, onResume });
    this.fp = fingerprint(file);
    this.url = rememberedUploads()[this.fp]?.url || null;
    this.offset = 0;
    this.xhr = null;
    this.paused = true;
    this.done = false;
  }

  /** Starts, or resumes after `pause()` or a reload. */
  async start() {
    if (!this.paused || this.done) return;
    this.paused = false;
    let attempt = 0;
    while (!this.paused && !this.done) {
      try {
        if (this.url) {
          const resumed = await this.head();
          if (resumed == null) { forgetUpload(this.fp); this.url = null; continue; }
          if (resumed > 0) this.onResume(resumed);
          this.offset = resumed;
        } else {
          await this.create();
        }
        this.onProgress(this.offset, this.file.size);
        while (!this.paused && this.offset < this.file.size) {
          this.offset = await this.patch(this.offset);
          attempt = 0;
        }
        if (!this.paused && this.offset >= this.file.size) {
          this.done = true;
          forgetUpload(this.fp);
          this.onSuccess(this.url);
        }
        return;
      } catch (error) {
        if (this.paused) return;
        // 4xx (other than a conflict on the offset) will not get better by retrying.
        // 460: a chunk's checksum did not match (corrupted on the way): sending it again may work.
        const fatal = error.status && error.status >= 400 && error.status < 500 && ![409, 423, 460].includes(error.status);
        if (fatal || attempt >= RETRY_DELAYS.length) { this.paused = true; this.onError(error); return; }
        await new Promise((r) => setTimeout(r, RETRY_DELAYS[attempt++]));
      }
    }
  }

  /** Stops sending; `start()` goes on from the server's offset. */
  pause() { this.paused = true; this.xhr?.abort(); }

  /** Stops and deletes the upload on the server. */
  async abort() {
    this.pause();
    forgetUpload(this.fp);
    if (this.url) await this.request("DELETE", this.url).catch(() => {});
  }

  async create() {
    const meta = Object.entries({ filename: this.file.name, ...this.metadata })
      .filter(([, v]) => v != null && v !== "")
      .map(([k, v]) => `${k} ${b64(String(v))}`).join(",");
    const xhr = await this.request("POST", this.endpoint, { "Upload-Length": String(this.file.size), "Upload-Metadata": meta });
    const location = xhr.getResponseHeader("Location");
    if (!location) throw new TusError("the server did not say where the upload lives", xhr.status);
    this.url = new URL(location, window.location.href).pathname;
    this.offset = Number(xhr.getResponseHeader("Upload-Offset") || 0);
    remember(this.fp, { url: this.url, name: this.file.name, size: this.file.size, model: this.metadata.model || "", started: Date.now() });
  }

  /** The server's offset, or null when the upload is gone there. */
  async head() {
    try {
      const xhr = await this.request("HEAD", this.url);
      return Number(xhr.getResponseHeader("Upload-Offset") || 0);
    } catch (error) {
      if ([404, 410, 403].includes(error.status)) return null;
      throw error;
    }
  }

  async patch(offset) {
    const end = Math.min(offset + this.chunkSize, this.file.size);
    const chunk = this.file.slice(offset, end);
    const headers = { "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" };
    // tus checksum extension: the server refuses a chunk whose bytes changed on the way (460) and
    // keeps none of it. WebCrypto exists only in secure contexts (https, localhost).
    if (globalThis.crypto?.subtle) headers["Upload-Checksum"] = `sha256 ${base64(await crypto.subtle.digest("SHA-256", await chunk.arrayBuffer()))}`;
    const xhr = await this.request("PATCH", this.url, headers, chunk, (loaded) => this.onProgress(offset + loaded, this.file.size));
    return Number(xhr.getResponseHeader("Upload-Offset") || end);
  }

  request(method, url, headers = {}, body = null, onUpload = null) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      this.xhr = xhr;
      xhr.open(method, url);
      xhr.setRequestHeader("Tus-Resumable", "1.0.0");
      xhr.setRequestHeader("Authorization", `Bearer ${token()}`);
      for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
      if (onUpload) xhr.upload.onprogress = (e) => onUpload(e.loaded);
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) { resolve(xhr); return; }
        let message = `${xhr.status} ${xhr.statusText}`;
        try { message = JSON.parse(xhr.responseText).error.message || message; } catch { /* keep the status */ }
        reject(new TusError(message, xhr.status));
      };
      xhr.onerror = () => reject(new TusError("network error: the connection was lost", 0));
      xhr.onabort = () => reject(new TusError("paused", 0));
      xhr.send(body);
    });
  }
}
