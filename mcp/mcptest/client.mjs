// Drives a Mandate MCP server with the official TypeScript SDK's client, over
// stdio, as an MCP client application would. Written by mcp/mcptest; do not
// edit. The plan (argv[2], JSON): {command, args, calls: [{name, arguments}]}.
// It prints one JSON line for the tool list, then one per call.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const plan = JSON.parse(process.argv[2]);
const transport = new StdioClientTransport({
  command: plan.command,
  args: plan.args,
  env: { ...process.env },
  stderr: "inherit",
});
const client = new Client({ name: "mandate-ts-test", version: "1.0.0" }, { capabilities: {} });
await client.connect(transport);
const out = (v) => process.stdout.write(JSON.stringify(v) + "\n");

const { tools } = await client.listTools();
out({ tools: tools.map((t) => ({ name: t.name, description: t.description, inputSchema: t.inputSchema, annotations: t.annotations })) });
for (const c of plan.calls) {
  try {
    const res = await client.callTool({ name: c.name, arguments: c.arguments });
    out({
      name: c.name,
      isError: res.isError === true,
      text: (res.content ?? []).filter((x) => x.type === "text").map((x) => x.text).join("\n"),
      structuredContent: res.structuredContent ?? null,
    });
  } catch (e) {
    out({ name: c.name, protocolError: String(e?.message ?? e), code: e?.code ?? null });
  }
}
await client.close();
