// The ccm API with the operator's token (kept in this browser's localStorage, sent only in the
// CCM-Token header, never in a URL).

const TOKEN_KEY = 'ccm-token';

export const token = {
  get: () => localStorage.getItem(TOKEN_KEY),
  set: (value) => localStorage.setItem(TOKEN_KEY, value),
  clear: () => localStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  constructor(status, text, code) {
    super(text);
    this.status = status;
    this.code = code;
  }
}

let unauthorized = () => {};

// What to do when the server refuses the token (the app brings the sign-in form back).
export function onUnauthorized(handler) {
  unauthorized = handler;
}

export function refused() {
  unauthorized();
}

export function headers(extra) {
  return { 'CCM-Token': token.get() || '', ...extra };
}

export async function api(path, { method = 'GET', body } = {}) {
  const init = { method, cache: 'no-store', headers: headers({ Accept: 'application/json' }) };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, `ccm cannot be reached (${err.message})`, 'network');
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    // Not JSON: reported below with the status.
  }
  if (res.status === 401) {
    refused();
    throw new ApiError(401, (data && data.error) || 'Invalid CCM-Token', 'unauthorized');
  }
  if (!res.ok || !data || data.success === false) {
    throw new ApiError(res.status, (data && data.error) || `HTTP ${res.status}`, data && data.code);
  }
  return data;
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== '') q.set(key, String(value));
  }
  const text = q.toString();
  return text ? `?${text}` : '';
}

export const path = (...parts) => parts.map((p) => encodeURIComponent(String(p))).join('/');

// What the signed-in token may do (`read`, `write`, `admin`), asked once per sign-in: views show
// the controls that change things only to a token allowed to use them.
let scope = 'read';

export async function loadScope() {
  const current = await api('/api/tokens/current');
  scope = current.scope;
  document.body.dataset.scope = scope;
}

export const canWrite = () => scope === 'write' || scope === 'admin';

// A text answer (a job's log), or an ApiError with the server's JSON error.
export async function text(path) {
  let res;
  try {
    res = await fetch(path, { cache: 'no-store', headers: headers({ Accept: 'text/plain' }) });
  } catch (err) {
    throw new ApiError(0, `ccm cannot be reached (${err.message})`, 'network');
  }
  if (res.status === 401) {
    refused();
    throw new ApiError(401, 'Invalid CCM-Token', 'unauthorized');
  }
  if (!res.ok) {
    let data = null;
    try {
      data = await res.json();
    } catch {
      // Reported with the status.
    }
    throw new ApiError(res.status, (data && data.error) || `HTTP ${res.status}`, data && data.code);
  }
  return res.text();
}
