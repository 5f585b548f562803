// The npm Prem SDK, unmodified, against a running ollama-dash (BASE_URL, API_KEY): chat whole
// and streamed (with system_prompt), models, embeddings, traces. Prints one JSON line.
const Prem = require("@premai/prem-sdk");

async function main() {
  const client = new Prem({ apiKey: process.env.API_KEY, baseUrl: process.env.BASE_URL });
  const chat = await client.chat.completions.create({
    project_id: 1,
    model: "llama3.2:1b",
    messages: [{ role: "user", content: "Say hi" }],
    stream: false,
  });
  const stream = await client.chat.completions.create({
    project_id: 1,
    model: "llama3.2:1b",
    system_prompt: "You are a pirate.",
    messages: [{ role: "user", content: "Tell me a story" }],
    stream: true,
  });
  let chunks = 0;
  let text = "";
  for await (const chunk of stream) {
    chunks += 1;
    text += (chunk.choices[0] && chunk.choices[0].delta.content) || "";
  }
  const models = await client.models.list();
  const model = await client.models.retrieve("llama3.2:1b");
  const embedding = await client.embeddings.create({
    project_id: 1,
    model: "nomic-embed-text:latest",
    input: "hello",
  });
  const traces = await client.traces.list();
  console.log(
    JSON.stringify({
      chat: chat.choices[0].message.content,
      stream_chunks: chunks,
      stream_text: text,
      stream_trace_id: stream.trace_id,
      models: models.data.map((m) => m.id),
      model: model.id,
      embedding_length: embedding.data[0].embedding.length,
      traces: traces.data.length,
    }),
  );
}

main().catch((e) => {
  console.error("failed:", e && (e.stack || JSON.stringify(e)));
  process.exit(1);
});
