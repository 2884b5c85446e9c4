// `plexus serve` through the official OpenAI client (npm `openai`), as an
// application would use it: chat (plain and streamed), completions, models,
// seeded sampling, error objects; plus Ollama's /api/chat with plain fetch.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { env, killAll, requirePackage, startServe, withTimeout } from './lib.mjs';

const { OpenAI, APIError } = requirePackage('openai');
const MODEL_FILE = path.join(env.shared, 'models/stories260K.gguf');

let server, client, modelId;

before(async () => {
  server = await startServe(['-m', MODEL_FILE]);
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 60000 });
});
after(async () => { await killAll(); });

const chatRequest = (extra = {}) => ({
  model: modelId || 'stories260K',
  messages: [{ role: 'user', content: 'Once upon a time' }],
  max_tokens: 24,
  temperature: 0,
  ...extra,
});

test('models.list and models.retrieve name the served model', { timeout: 30000 }, async () => {
  const models = [];
  for await (const m of await client.models.list()) models.push(m);
  assert.equal(models.length, 1, JSON.stringify(models));
  modelId = models[0].id;
  assert.match(modelId, /stories260K/);
  assert.equal(models[0].object, 'model');
  const one = await client.models.retrieve(modelId);
  assert.equal(one.id, modelId);
});

test('chat: streamed text equals the plain reply at temperature 0', { timeout: 60000 }, async () => {
  const plain = await client.chat.completions.create(chatRequest());
  assert.equal(plain.object, 'chat.completion');
  const choice = plain.choices[0];
  assert.equal(choice.message.role, 'assistant');
  assert.equal(typeof choice.message.content, 'string');
  assert.ok(choice.message.content.length > 0, 'a non-empty reply');
  assert.ok(['stop', 'length'].includes(choice.finish_reason), choice.finish_reason);
  assert.ok(plain.usage.completion_tokens > 0 && plain.usage.completion_tokens <= 24, JSON.stringify(plain.usage));
  assert.ok(plain.usage.prompt_tokens > 0);

  const stream = await client.chat.completions.create(
    chatRequest({ stream: true, stream_options: { include_usage: true } }));
  let text = '', finish = null, usage = null, chunks = 0;
  await withTimeout((async () => {
    for await (const chunk of stream) {
      chunks++;
      assert.equal(chunk.object, 'chat.completion.chunk');
      if (chunk.usage) usage = chunk.usage;
      const c = chunk.choices[0];
      if (!c) continue;
      text += c.delta?.content ?? '';
      if (c.finish_reason) finish = c.finish_reason;
    }
  })(), 60000, 'the chat stream');
  assert.ok(chunks > 2, `streamed in pieces (${chunks} chunks)`);
  assert.equal(text, choice.message.content);
  assert.equal(finish, choice.finish_reason);
  assert.ok(usage, 'a usage chunk with include_usage');
  assert.equal(usage.completion_tokens, plain.usage.completion_tokens);
});

test('completions: plain and streamed agree', { timeout: 60000 }, async () => {
  const req = { model: modelId || 'stories260K', prompt: 'The little dog', max_tokens: 16, temperature: 0 };
  const plain = await client.completions.create(req);
  assert.equal(plain.object, 'text_completion');
  const text = plain.choices[0].text;
  assert.ok(text.length > 0);
  let streamed = '';
  for await (const chunk of await client.completions.create({ ...req, stream: true })) {
    streamed += chunk.choices[0]?.text ?? '';
  }
  assert.equal(streamed, text);
});

test('a seed makes sampling at temperature 0.9 repeatable', { timeout: 90000 }, async () => {
  const sampled = async (seed) =>
    (await client.chat.completions.create(chatRequest({ temperature: 0.9, seed, max_tokens: 32 })))
      .choices[0].message.content;
  const a = await sampled(1234);
  const b = await sampled(1234);
  assert.equal(a, b);
  // And the seed matters: some other seed gives other text.
  const others = [await sampled(7), await sampled(99), await sampled(31337)];
  assert.ok(others.some((t) => t !== a), 'other seeds sample other text');
});

async function expectApiError(promise, status, pattern) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof APIError, `an APIError, got ${e}`);
    assert.equal(e.status, status, e.message);
    assert.match(e.message, pattern);
    assert.equal(typeof e.error?.message, 'string', 'the body is an OpenAI error object');
    return true;
  });
}

test('bad requests come back as OpenAI error objects', { timeout: 30000 }, async () => {
  await expectApiError(client.chat.completions.create(chatRequest({ messages: [] })), 400, /messages/);
  await expectApiError(client.chat.completions.create(chatRequest({ temperature: -1 })), 400, /temperature/);
  await expectApiError(client.chat.completions.create(chatRequest({ n: 2 })), 400, /\bn\b/);
  await expectApiError(client.chat.completions.create(chatRequest({ max_tokens: 'many' })), 400, /max_tokens/);
  await expectApiError(client.models.retrieve('no-such-model'), 404, /no-such-model/);

  // Below the client: a body that is not JSON, and a route that does not exist.
  const bad = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"messages": [',
  });
  assert.equal(bad.status, 400);
  const badBody = await bad.json();
  assert.equal(typeof badBody.error.message, 'string');
  assert.equal(typeof badBody.error.type, 'string');
  const missing = await fetch(`${server.url}/v1/no-such-route`, { method: 'POST', body: '{}' });
  assert.equal(missing.status, 404);
  assert.equal(typeof (await missing.json()).error.message, 'string');
});

test('Ollama-style /api/chat, plain and NDJSON-streamed', { timeout: 60000 }, async () => {
  const body = {
    model: modelId || 'stories260K', messages: [{ role: 'user', content: 'Once upon a time' }],
    options: { temperature: 0, num_predict: 16 },
  };
  const res = await fetch(`${server.url}/api/chat`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ ...body, stream: false }),
  });
  assert.equal(res.status, 200);
  const plain = await res.json();
  assert.equal(plain.done, true);
  assert.equal(plain.message.role, 'assistant');
  assert.ok(plain.message.content.length > 0);

  // Ollama streams by default: one JSON object a line, the last with done: true.
  const streamed = await fetch(`${server.url}/api/chat`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  assert.equal(streamed.status, 200);
  const lines = (await withTimeout(streamed.text(), 60000, 'the /api/chat stream')).split('\n').filter(Boolean);
  const objects = lines.map((l) => JSON.parse(l));
  assert.ok(objects.length > 2, `streamed in pieces (${objects.length} lines)`);
  assert.equal(objects.at(-1).done, true);
  assert.ok(objects.slice(0, -1).every((o) => o.done === false));
  assert.equal(objects.map((o) => o.message?.content ?? '').join(''), plain.message.content);
});
