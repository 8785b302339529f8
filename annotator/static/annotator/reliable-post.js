// Sending answers so that none is ever lost to a network error.
//
// Before the first attempt the request is kept in localStorage. Network
// errors, timeouts and 5xx answers are retried with exponential backoff; the
// server stores an answer once per submission_id, so a retry after a lost
// response is harmless. A request that still fails stays kept, and is sent
// again on demand, when the browser comes back online, or on the next visit.

const STORE_KEY = "emotic.unsent";
export const RETRY_DELAYS_MS = [500, 1000, 2000, 4000];
const RETRYABLE = new Set([408, 425, 429, 500, 502, 503, 504]);
const KEEP_ON_REFUSAL = new Set([401, 403]); // logged out: keep it for after the next login

export class RefusedError extends Error {
  // The server answered with a 4xx: the answer itself must change.
  constructor(status, body) {
    super((body && body.detail) || `the server refused the request (${status})`);
    this.status = status;
    this.body = body || {};
  }
}

export class UnsentError extends Error {
  // Every attempt failed; the request is kept in this browser.
  constructor(attempts) {
    super(`no answer from the server after ${attempts} attempts`);
    this.attempts = attempts;
  }
}

function readStore() {
  try {
    return JSON.parse(localStorage.getItem(STORE_KEY) || "[]");
  } catch {
    return [];
  }
}

function writeStore(entries) {
  localStorage.setItem(STORE_KEY, JSON.stringify(entries));
}

export function unsentRequests() {
  return readStore();
}

function keep(url, body) {
  const entries = readStore().filter((entry) => entry.url !== url);
  entries.push({ url, body, keptAt: new Date().toISOString() });
  writeStore(entries);
}

function forget(url) {
  writeStore(readStore().filter((entry) => entry.url !== url));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function bodyOf(response) {
  try {
    return await response.json();
  } catch {
    return {};
  }
}

export async function postReliably(url, body, { csrfToken, onRetry, delays = RETRY_DELAYS_MS } = {}) {
  keep(url, body);
  for (let attempt = 1; ; attempt += 1) {
    let response = null;
    try {
      response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken },
        body: JSON.stringify(body),
      });
    } catch {
      response = null; // offline, DNS, connection reset: try again
    }
    if (response && response.ok) {
      forget(url);
      return response.status === 204 ? {} : bodyOf(response);
    }
    if (response && !RETRYABLE.has(response.status)) {
      if (!KEEP_ON_REFUSAL.has(response.status)) forget(url);
      throw new RefusedError(response.status, await bodyOf(response));
    }
    if (attempt > delays.length) throw new UnsentError(attempt);
    const delay = delays[attempt - 1] * (0.8 + Math.random() * 0.4);
    if (onRetry) onRetry({ attempt, attempts: delays.length + 1, delay });
    await sleep(delay);
  }
}

export function newSubmissionId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // Pages served over plain HTTP on a LAN address have no randomUUID.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
