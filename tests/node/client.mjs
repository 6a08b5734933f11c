// The official `openai` client for Node.js against `matchbox serve`
// (tests/test_openai_node.sh). Usage: node client.mjs BASE_URL API_KEY MODEL CASE...
// Each case is a function below; a failing case is reported and the others
// still run. The last line is "N passed, M failed"; the exit status is 1
// when anything failed.
import assert from "node:assert/strict";
import OpenAI from "openai";

const [baseURL, apiKey, model, ...cases] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 120000 });
const N_EMBD = Number(process.env.MB_N_EMBD || 0); // the model's width, when the caller knows it

function norm(v) {
  return Math.sqrt(v.reduce((s, x) => s + x * x, 0));
}

function fromBase64(b64) {
  const buf = Buffer.from(b64, "base64");
  assert.equal(buf.length % 4, 0, "base64 embedding is whole float32 values");
  const out = [];
  for (let i = 0; i < buf.length; i += 4) out.push(buf.readFloatLE(i));
  return out;
}

// Greedy, so that the plain and streamed answers can be compared.
const CHAT = {
  model,
  messages: [
    { role: "system", content: "You tell short stories." },
    { role: "user", content: "Once upon a time" },
  ],
  max_tokens: 12,
  temperature: 0,
};

async function models() {
  const list = await client.models.list();
  const ids = [];
  for await (const m of list) ids.push(m.id);
  assert.ok(ids.includes(model), `models.list has ${model}: ${JSON.stringify(ids)}`);
}

async function chat() {
  const r = await client.chat.completions.create(CHAT);
  const c = r.choices[0];
  assert.equal(r.object, "chat.completion");
  assert.equal(c.message.role, "assistant");
  assert.equal(typeof c.message.content, "string");
  assert.ok(c.message.content.length > 0, "the answer has text");
  assert.ok(["stop", "length"].includes(c.finish_reason), c.finish_reason);
  assert.ok(r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
}

async function stream() {
  const plain = (await client.chat.completions.create(CHAT)).choices[0].message.content;
  const s = await client.chat.completions.create({
    ...CHAT,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "",
    finish = null,
    usage = null,
    chunks = 0;
  for await (const chunk of s) {
    chunks++;
    assert.equal(chunk.object, "chat.completion.chunk");
    if (chunk.usage) usage = chunk.usage;
    const ch = chunk.choices[0];
    if (!ch) continue;
    text += ch.delta?.content ?? "";
    if (ch.finish_reason) finish = ch.finish_reason;
  }
  assert.ok(chunks > 1, `several chunks (${chunks})`);
  assert.equal(text, plain, "the streamed text is the plain answer's");
  assert.ok(["stop", "length"].includes(finish), String(finish));
  assert.ok(usage && usage.completion_tokens > 0, "usage in the last chunk");
}

async function embeddings() {
  const input = ["Once upon a time", "The dog ran to the park"];
  // No encoding_format: the client asks for base64 and decodes it itself.
  const dflt = await client.embeddings.create({ model, input });
  assert.equal(dflt.object, "list");
  assert.equal(dflt.data.length, 2);
  assert.ok(dflt.usage.prompt_tokens > 0);
  const flt = await client.embeddings.create({ model, input, encoding_format: "float" });
  const b64 = await client.embeddings.create({ model, input, encoding_format: "base64" });
  for (let i = 0; i < 2; i++) {
    const a = dflt.data[i].embedding,
      f = flt.data[i].embedding,
      b = b64.data[i].embedding;
    assert.equal(dflt.data[i].index, i);
    assert.ok(Array.isArray(a) && Array.isArray(f), "decoded embeddings are arrays");
    assert.equal(typeof b, "string", "encoding_format base64 is left to the caller");
    if (N_EMBD) assert.equal(a.length, N_EMBD);
    assert.ok(Math.abs(norm(a) - 1) < 1e-5, `unit length (${norm(a)})`);
    const raw = fromBase64(b);
    assert.deepEqual(Array.from(a), raw, "the client's decoding is the base64's float32 values");
    // JSON floats printed with 9 digits are the same float32 values.
    assert.deepEqual(Array.from(f, (x) => Math.fround(x)), raw, "float and base64 agree");
  }
  assert.notDeepEqual(dflt.data[0].embedding, dflt.data[1].embedding);
}

// ---- cases the lead enables once hA (JSON schema) and hB (tools) are merged ----

async function schema() {
  const s = {
    type: "object",
    properties: {
      color: { type: "string", enum: ["red", "green", "blue"] },
      count: { type: "integer" },
      ok: { type: "boolean" },
    },
    required: ["color", "count", "ok"],
    additionalProperties: false,
  };
  const r = await client.chat.completions.create({
    model,
    messages: [{ role: "user", content: "Describe the ball as JSON." }],
    response_format: { type: "json_schema", json_schema: { name: "ball", strict: true, schema: s } },
    max_tokens: 200,
    temperature: 0,
  });
  const c = r.choices[0];
  assert.equal(c.finish_reason, "stop", "the constrained answer is complete");
  const v = JSON.parse(c.message.content);
  assert.deepEqual(Object.keys(v).sort(), ["color", "count", "ok"]);
  assert.ok(s.properties.color.enum.includes(v.color), v.color);
  assert.ok(Number.isInteger(v.count), String(v.count));
  assert.equal(typeof v.ok, "boolean");
}

async function tools() {
  const fns = [
    {
      type: "function",
      function: {
        name: "get_weather",
        description: "The weather in a city",
        parameters: {
          type: "object",
          properties: { city: { type: "string", enum: ["Paris", "Rome"] } },
          required: ["city"],
          additionalProperties: false,
        },
      },
    },
  ];
  const messages = [{ role: "user", content: "What is the weather in Paris?" }];
  const r1 = await client.chat.completions.create({
    model,
    messages,
    tools: fns,
    tool_choice: "required",
    max_tokens: 200,
    temperature: 0,
  });
  const m1 = r1.choices[0].message;
  assert.equal(r1.choices[0].finish_reason, "tool_calls");
  assert.ok(m1.tool_calls && m1.tool_calls.length >= 1, "tool_calls in the answer");
  const call = m1.tool_calls[0];
  assert.equal(call.type, "function");
  assert.equal(call.function.name, "get_weather");
  assert.ok(typeof call.id === "string" && call.id.length > 0, "the call has an id");
  const args = JSON.parse(call.function.arguments);
  assert.ok(["Paris", "Rome"].includes(args.city), JSON.stringify(args));
  // Step two: the call and its result go back; the model answers in text.
  messages.push(m1);
  messages.push({ role: "tool", tool_call_id: call.id, content: JSON.stringify({ celsius: 21 }) });
  const r2 = await client.chat.completions.create({
    model,
    messages,
    tools: fns,
    tool_choice: "none",
    max_tokens: 16,
    temperature: 0,
  });
  const c2 = r2.choices[0];
  assert.equal(typeof c2.message.content, "string");
  assert.ok(!c2.message.tool_calls || c2.message.tool_calls.length === 0, "no call under none");
  assert.ok(["stop", "length"].includes(c2.finish_reason), c2.finish_reason);
}

const ALL = { models, chat, stream, embeddings, schema, tools };
let passed = 0,
  failed = 0;
for (const name of cases) {
  const fn = ALL[name];
  try {
    if (!fn) throw new Error(`no case named '${name}' (cases: ${Object.keys(ALL).join(", ")})`);
    await fn();
    passed++;
    console.log(`ok: ${name}`);
  } catch (e) {
    failed++;
    console.error(`FAIL: ${name}: ${e && e.stack ? e.stack : e}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
