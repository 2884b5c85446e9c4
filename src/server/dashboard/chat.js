// Chat panel: a multi-turn conversation streamed from POST /v1/chat/completions
// (stream: true), read with fetch + ReadableStream and parsed as SSE here.
// Model output is only ever set as text (textContent / Text nodes).
import { api, errorFrom, ApiError } from './api.js';

const $ = (id) => document.getElementById(id);
const SETTINGS_STORAGE = 'plexus.sampler';
const SETTING_IDS = ['sys-prompt', 'temperature', 'top-p', 'top-k', 'max-tokens', 'seed'];

const chat = {
  history: [],        // [{role, content}] without the system prompt (added at send time)
  controller: null,   // AbortController of the reply in flight
};

// ---- SSE ------------------------------------------------------------------

// Reads an SSE body and calls onEvent(data) for each event's data (the data
// lines joined by "\n"). Lines may end in \n or \r\n and split across chunks.
export async function readSse(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let partial = '';
  let data = [];
  const flushLine = (line) => {
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line === '') {  // blank line: the event is complete
      if (data.length) onEvent(data.join('\n'));
      data = [];
    } else if (line.startsWith('data:')) {
      data.push(line.slice(line[5] === ' ' ? 6 : 5));
    }  // comments (":"), event:, id:, retry: are not used by the OpenAI stream
  };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      partial += value;
      let nl;
      while ((nl = partial.indexOf('\n')) >= 0) {
        flushLine(partial.slice(0, nl));
        partial = partial.slice(nl + 1);
      }
    }
    if (partial) flushLine(partial);
    flushLine('');
  } catch (e) {
    reader.cancel().catch(() => {});  // an error chunk or a bad one: stop the stream
    throw e;
  }
}

// Streams one reply; calls onDelta(text) per content piece. Returns
// {finish_reason, usage, pieces, ttft_ms, decode_s}.
async function streamReply(request, signal, onDelta) {
  const start = performance.now();
  const res = await api('/v1/chat/completions', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(request), signal,
  });
  if (!res.ok) throw await errorFrom(res);
  const out = { finish_reason: null, usage: null, pieces: 0, ttft_ms: null, decode_s: 0 };
  let first = 0, last = 0, done = false;
  await readSse(res.body, (data) => {
    if (done) return;
    if (data.trim() === '[DONE]') { done = true; return; }
    let chunk;
    try {
      chunk = JSON.parse(data);
    } catch {
      throw new ApiError(0, `bad stream chunk from the server: ${data.slice(0, 120)}`);
    }
    if (chunk.error) {
      const e = chunk.error;
      throw new ApiError(0, typeof e === 'string' ? e : e.message || JSON.stringify(e), e.type, e.code);
    }
    if (chunk.usage) out.usage = chunk.usage;
    const choice = (chunk.choices || [])[0];
    if (!choice) return;
    const piece = choice.delta?.content;
    if (typeof piece === 'string' && piece.length) {
      const now = performance.now();
      if (!first) { first = now; out.ttft_ms = now - start; }
      last = now;
      out.pieces++;
      onDelta(piece);
    }
    if (choice.finish_reason) out.finish_reason = choice.finish_reason;
  });
  out.decode_s = (last - first) / 1000;
  return out;
}

// ---- messages -------------------------------------------------------------

function addMessage(role, content = '') {
  const msg = document.createElement('div');
  msg.className = `msg ${role}`;
  const who = document.createElement('div');
  who.className = 'role';
  who.textContent = role === 'user' ? 'you' : role === 'assistant' ? 'assistant' : 'error';
  const body = document.createElement('div');
  body.className = 'text';
  body.textContent = content;
  const meta = document.createElement('div');
  meta.className = 'meta';
  msg.append(who, body, meta);
  const list = $('messages');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(msg);
  if (atBottom) list.scrollTop = list.scrollHeight;
  $('chat-empty').hidden = true;
  return { msg, body, meta };
}

function appendText(view, piece) {
  const list = $('messages');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  view.body.append(document.createTextNode(piece));  // text only, never HTML
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function replyStats(result) {
  const tokens = result.usage?.completion_tokens ?? result.pieces;
  const parts = [`${tokens} token${tokens === 1 ? '' : 's'}`];
  // Decode rate over the tokens after the first (the first one's wait is the TTFT).
  if (tokens > 1 && result.decode_s > 0) parts.push(`${((tokens - 1) / result.decode_s).toFixed(1)} tok/s`);
  if (result.ttft_ms !== null) parts.push(`TTFT ${result.ttft_ms.toFixed(0)} ms`);
  if (result.finish_reason) parts.push(result.finish_reason);
  return parts.join(' · ');
}

// ---- settings ---------------------------------------------------------------

function number(id, parse) {
  const raw = $(id).value.trim();
  if (raw === '') return undefined;
  const v = parse(raw);
  if (!isFinite(v)) throw new ApiError(0, `${$(id).dataset.label || id} is not a number: ${raw}`);
  return v;
}

function buildRequest() {
  const messages = [];
  const system = $('sys-prompt').value.trim();
  if (system) messages.push({ role: 'system', content: system });
  messages.push(...chat.history);
  const request = { messages, stream: true, stream_options: { include_usage: true } };
  const fields = {
    temperature: number('temperature', parseFloat), top_p: number('top-p', parseFloat),
    top_k: number('top-k', (s) => parseInt(s, 10)), max_tokens: number('max-tokens', (s) => parseInt(s, 10)),
    seed: number('seed', (s) => parseInt(s, 10)),
  };
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) request[k] = v;
  return request;
}

function loadSettings() {
  try {
    const saved = JSON.parse(localStorage.getItem(SETTINGS_STORAGE) || '{}');
    for (const id of SETTING_IDS) if (typeof saved[id] === 'string') $(id).value = saved[id];
  } catch {
    // a broken entry: keep the defaults in the page
  }
  for (const id of SETTING_IDS) {
    $(id).addEventListener('change', () => {
      const all = Object.fromEntries(SETTING_IDS.map((k) => [k, $(k).value]));
      localStorage.setItem(SETTINGS_STORAGE, JSON.stringify(all));
    });
  }
}

// ---- sending ----------------------------------------------------------------

function setBusy(busy) {
  $('chat-send').disabled = busy;
  $('chat-stop').disabled = !busy;
  $('chat-panel').dataset.busy = busy ? 'true' : 'false';
}

async function send() {
  const input = $('chat-input');
  const content = input.value.trim();
  if (!content || chat.controller) return;
  input.value = '';
  const userView = addMessage('user', content);
  chat.history.push({ role: 'user', content });
  let request;
  try {
    request = buildRequest();
  } catch (e) {
    failTurn(userView, content, e);
    return;
  }
  const view = addMessage('assistant');
  view.msg.classList.add('streaming');
  $('chat-status').textContent = 'generating…';
  chat.controller = new AbortController();
  setBusy(true);
  let text = '';
  try {
    const result = await streamReply(request, chat.controller.signal, (piece) => {
      text += piece;
      appendText(view, piece);
    });
    view.meta.textContent = replyStats(result);
    $('chat-status').textContent = view.meta.textContent;
    chat.history.push({ role: 'assistant', content: text });
  } catch (e) {
    if (e.name === 'AbortError') {
      view.meta.textContent = 'stopped';
      $('chat-status').textContent = 'stopped';
      if (text) chat.history.push({ role: 'assistant', content: text });  // keep what was said
      else { view.msg.remove(); chat.history.pop(); userView.msg.classList.add('failed'); }
    } else {
      if (!text) view.msg.remove();
      else chat.history.push({ role: 'assistant', content: text });
      failTurn(text ? null : userView, text ? '' : content, e);
    }
  } finally {
    view.msg.classList.remove('streaming');
    chat.controller = null;
    setBusy(false);
  }
}

// Shows the server's error and, when nothing was answered, takes the user
// turn back out of the history (and back into the input) so it can be resent.
function failTurn(userView, content, error) {
  if (userView) {
    chat.history.pop();
    userView.msg.classList.add('failed');
    if (!$('chat-input').value) $('chat-input').value = content;
  }
  const status = error.status ? ` (HTTP ${error.status}${error.type ? `, ${error.type}` : ''})` : '';
  addMessage('error', `${error.message}${status}`);
  $('chat-status').textContent = 'error';
}

function clearChat() {
  if (chat.controller) chat.controller.abort();
  chat.history = [];
  $('messages').querySelectorAll('.msg').forEach((m) => m.remove());
  $('chat-empty').hidden = false;
  $('chat-status').textContent = '';
}

export function initChat() {
  loadSettings();
  setBusy(false);
  $('chat-form').addEventListener('submit', (event) => { event.preventDefault(); send(); });
  $('chat-input').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) { event.preventDefault(); send(); }
  });
  $('chat-stop').addEventListener('click', () => chat.controller?.abort());
  $('chat-clear').addEventListener('click', clearChat);
  window.plexusChat = chat;  // for the browser tests
}
