// Talking to `plexus serve`: fetch with the API key, OpenAI error objects,
// and the API-key dialog (shown when /api/config says auth_required or a
// request comes back 401).

const KEY_STORAGE = 'plexus.apiKey';

export class ApiError extends Error {
  constructor(status, message, type = '', code = '') {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.type = type;
    this.code = code;
  }
}

const auth = {
  key: localStorage.getItem(KEY_STORAGE) || '',
  waiting: null,     // Promise resolved when the dialog is saved
  onKey: [],         // callbacks run after a new key is saved
};

export const hasKey = () => auth.key !== '';
export const onKeyChange = (fn) => auth.onKey.push(fn);

// fetch() against the server, adding `Authorization: Bearer` when a key is set.
// A 401 opens the key dialog (the caller still gets the response).
export async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  if (auth.key) headers.set('Authorization', `Bearer ${auth.key}`);
  const res = await fetch(path, { ...options, headers });
  if (res.status === 401) askForKey('The server did not accept the API key. Enter it again.');
  return res;
}

export async function getJson(path, options = {}) {
  const res = await api(path, options);
  if (!res.ok) throw await errorFrom(res);
  return res.json();
}

// The server's OpenAI error object ({"error": {"message", "type", "code"}}) as an ApiError;
// falls back to the status line when the body is not one.
export async function errorFrom(res) {
  let body = '';
  try {
    body = await res.text();
    const parsed = JSON.parse(body);
    const e = parsed.error;
    if (e && typeof e === 'object') return new ApiError(res.status, e.message || `HTTP ${res.status}`, e.type, e.code);
    if (typeof e === 'string') return new ApiError(res.status, e);
  } catch {
    // not JSON: use the text below
  }
  const detail = body.trim().slice(0, 200);
  return new ApiError(res.status, `HTTP ${res.status} ${res.statusText}${detail ? `: ${detail}` : ''}`);
}

// Shows the key dialog; resolves when a key has been saved.
export function askForKey(reason = '') {
  const dialog = document.getElementById('auth-dialog');
  const note = document.getElementById('auth-note');
  note.textContent = reason || 'This server needs an API key (the one given to plexus serve --api-key-file).';
  if (!auth.waiting) {
    auth.waiting = new Promise((resolve) => {
      const form = document.getElementById('auth-form');
      const input = document.getElementById('api-key');
      input.value = '';
      form.onsubmit = (event) => {
        event.preventDefault();
        const key = input.value.trim();
        if (!key) return;
        auth.key = key;
        localStorage.setItem(KEY_STORAGE, key);
        dialog.close();
        auth.waiting = null;
        resolve(key);
        for (const fn of auth.onKey) fn(key);
      };
    });
    // Nothing works without the key, so Escape does not dismiss the dialog.
    dialog.oncancel = (event) => event.preventDefault();
  }
  if (!dialog.open) dialog.showModal();
  return auth.waiting;
}

export function forgetKey() {
  auth.key = '';
  localStorage.removeItem(KEY_STORAGE);
}
