// The official Node `openai` package's Responses API against a running ollama-dash (BASE_URL,
// API_KEY): whole, streamed, and a function call. Prints one JSON line.
const OpenAI = require("openai").default;

const weather = {
  type: "function",
  name: "get_weather",
  description: "Current weather of a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};

// The text of a Response's message items (events carry no `output_text` convenience).
function textOf(response) {
  return response.output
    .filter((item) => item.type === "message")
    .flatMap((item) => item.content)
    .map((part) => part.text)
    .join("");
}

async function main() {
  const client = new OpenAI({ baseURL: process.env.BASE_URL + "/v1", apiKey: process.env.API_KEY, maxRetries: 0 });
  const whole = await client.responses.create({ model: "llama3.2:1b", input: "Say hello", instructions: "Be brief." });
  const stream = await client.responses.create({ model: "llama3.2:1b", input: "Tell me a story", stream: true });
  const types = [];
  let deltas = "";
  let final = null;
  for await (const event of stream) {
    types.push(event.type);
    if (event.type === "response.output_text.delta") deltas += event.delta;
    if (event.type === "response.completed") final = event.response;
  }
  // The SDK's own accumulating helper.
  const helper = client.responses.stream({ model: "llama3.2:1b", input: "Count to three" });
  const accumulated = await helper.finalResponse();
  const tool = await client.responses.create({ model: "qwen3:0.6b", input: "Weather in Paris?", tools: [weather] });
  const call = tool.output.find((item) => item.type === "function_call");
  console.log(
    JSON.stringify({
      whole_id: whole.id,
      whole_text: whole.output_text,
      whole_usage: whole.usage,
      types,
      deltas,
      final_text: final && textOf(final),
      final_id: final && final.id,
      helper_text: accumulated.output_text,
      call: call ? { name: call.name, arguments: call.arguments, call_id: call.call_id } : null,
    }),
  );
}

main().catch((e) => {
  console.error("failed:", e && (e.stack || JSON.stringify(e)));
  process.exit(1);
});
