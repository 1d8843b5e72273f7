/**
 * Writes API.md from the types: src/protocol.ts (commands, events, errors, the WebSocket framing) and
 * src/results.ts (each command's result), read with the TypeScript compiler API, so the documentation
 * cannot drift from the code. `pnpm --filter @parley/sdk gen-docs` rewrites it; test/api-docs.test.ts fails
 * when the committed file differs from what this produces.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as prettier from "prettier";
import ts from "typescript";

const ROOT = new URL("../", import.meta.url);
export const API_MD = fileURLToPath(new URL("API.md", ROOT));

interface Parsed {
  readonly file: ts.SourceFile;
  readonly text: string;
}

function parse(relative: string): Parsed {
  const path = fileURLToPath(new URL(relative, ROOT));
  const text = readFileSync(path, "utf8");
  return { file: ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, true), text };
}

/** The text of the last `/** … *\/` comment in a slice of source, as one paragraph. */
function docIn(slice: string): string {
  const start = slice.lastIndexOf("/**");
  if (start < 0) return "";
  const end = slice.indexOf("*/", start);
  if (end < 0) return "";
  return slice
    .slice(start + 3, end)
    .split("\n")
    .map((line) => line.replace(/^\s*\*\s?/, "").trim())
    .filter((line) => line !== "")
    .join(" ")
    .replace(/\{@link ([^}]+)\}/g, "`$1`");
}

/** A node's own doc comment (the comment right before it, after the previous token). */
function docOf(p: Parsed, node: ts.Node): string {
  return docIn(p.text.slice(node.getFullStart(), node.getStart(p.file)));
}

const oneLine = (text: string): string => text.replace(/\s+/g, " ").replace(/;\s*}/g, " }").trim();
const code = (text: string): string => `\`${oneLine(text).replace(/\|/g, "\\|")}\``;

function typeAlias(p: Parsed, name: string): ts.TypeAliasDeclaration {
  for (const s of p.file.statements) if (ts.isTypeAliasDeclaration(s) && s.name.text === name) return s;
  throw new Error(`type ${name} not found`);
}

function iface(p: Parsed, name: string): ts.InterfaceDeclaration {
  for (const s of p.file.statements) if (ts.isInterfaceDeclaration(s) && s.name.text === name) return s;
  throw new Error(`interface ${name} not found`);
}

function constant(p: Parsed, name: string): ts.VariableDeclaration {
  for (const s of p.file.statements) {
    if (!ts.isVariableStatement(s)) continue;
    for (const d of s.declarationList.declarations) if (ts.isIdentifier(d.name) && d.name.text === name) return d;
  }
  throw new Error(`const ${name} not found`);
}

function constantDoc(p: Parsed, name: string): string {
  const d = constant(p, name);
  return docOf(p, d.parent.parent);
}

function constantValue(p: Parsed, name: string): string {
  const init = constant(p, name).initializer;
  if (init === undefined) throw new Error(`const ${name} has no value`);
  let text = init.getText(p.file);
  // Evaluate simple products like 256 * 1024.
  if (/^[\d\s*_]+$/.test(text)) text = String(text.split("*").reduce((a, b) => a * Number(b.replace(/_/g, "")), 1));
  return text;
}

/** The members of a union type alias with the doc comment each one carries. */
function unionMembers(p: Parsed, alias: ts.TypeAliasDeclaration): { node: ts.TypeNode; doc: string }[] {
  const type = alias.type;
  if (!ts.isUnionTypeNode(type)) throw new Error(`${alias.name.text} is not a union`);
  let from = alias.name.getEnd();
  return type.types.map((node) => {
    const doc = docIn(p.text.slice(from, node.getStart(p.file)));
    from = node.getEnd();
    return { node, doc };
  });
}

interface Field {
  readonly name: string;
  readonly type: string;
  readonly optional: boolean;
  readonly doc: string;
}

function fieldsOf(p: Parsed, members: ts.NodeArray<ts.TypeElement>): Field[] {
  return members.filter(ts.isPropertySignature).map((m) => ({
    name: m.name.getText(p.file),
    type: m.type === undefined ? "unknown" : m.type.getText(p.file),
    optional: m.questionToken !== undefined,
    doc: docOf(p, m),
  }));
}

function fieldTable(fields: readonly Field[]): string[] {
  if (fields.length === 0) return ["No fields."];
  return [
    "| field | type | required | description |",
    "| --- | --- | --- | --- |",
    ...fields.map((f) => `| \`${f.name}\` | ${code(f.type)} | ${f.optional ? "no" : "yes"} | ${f.doc} |`),
  ];
}

/** The `cmd` (or `event`) literal of a union member, and its other fields. */
function tagged(p: Parsed, node: ts.TypeNode, tag: string): { name: string; fields: Field[] } {
  const literal = ts.isIntersectionTypeNode(node) ? node.types.find(ts.isTypeLiteralNode) : node;
  if (literal === undefined || !ts.isTypeLiteralNode(literal)) throw new Error(`not an object type: ${node.getText()}`);
  const fields = fieldsOf(p, literal.members);
  const own = fields.find((f) => f.name === tag);
  if (own === undefined) throw new Error(`no ${tag} in ${node.getText()}`);
  return { name: JSON.parse(own.type) as string, fields: fields.filter((f) => f.name !== tag) };
}

export async function generateApiDocs(): Promise<string> {
  const protocol = parse("src/protocol.ts");
  const results = parse("src/results.ts");
  const out: string[] = [];
  const version = constantValue(protocol, "PROTOCOL_VERSION");

  out.push(
    "# parley-chat API",
    "",
    "<!-- Generated by scripts/gen-docs.ts from src/protocol.ts and src/results.ts: do not edit; run `pnpm --filter @parley/sdk gen-docs`. -->",
    "",
    `Protocol version **${version}** (\`PROTOCOL_VERSION\`): ${constantDoc(protocol, "PROTOCOL_VERSION")}`,
    "",
    "The same commands and events are spoken by `parley-chat --json` (one JSON object per line on stdin and stdout) and by the local WebSocket API of `parley-chat -p <port>` (one JSON object per text frame). `@parley/sdk`'s `ParleyClient` speaks the WebSocket API.",
    "",
    "## Limits",
    "",
    "| constant | value | meaning |",
    "| --- | --- | --- |",
    ...["MAX_COMMAND_BYTES", "MAX_BODY_CHARS", "MIN_TOKEN_CHARS"].map(
      (name) => `| \`${name}\` | ${constantValue(protocol, name)} | ${constantDoc(protocol, name)} |`,
    ),
    "",
    "## Requests and replies",
    "",
    `\`Request\`: ${docOf(protocol, typeAlias(protocol, "Request"))} Every request gets exactly one reply:`,
    "",
    "```ts",
    `type Reply =${oneLine(typeAlias(protocol, "Reply").type.getText(protocol.file)).replace(/ \| /g, "\n  | ")};`,
    "```",
    "",
    "### Errors",
    "",
    `\`ErrorInfo\`: ${code(
      iface(protocol, "ErrorInfo")
        .members.map((m) => m.getText(protocol.file))
        .join(" "),
    )}.`,
    "",
    "| code | meaning |",
    "| --- | --- |",
    ...unionMembers(protocol, typeAlias(protocol, "ErrorCode")).map(
      ({ node, doc }) => `| \`${JSON.parse(node.getText(protocol.file)) as string}\` | ${doc} |`,
    ),
    "",
  );

  out.push(
    "## The WebSocket API",
    "",
    `Start it with \`parley-chat -p 5225 --api-token <token>\` (the token can also come from \`PARLEY_CHAT_API_TOKEN\`). It listens on 127.0.0.1 unless told otherwise. A browser page may connect from a loopback origin (\`http://localhost:…\`, \`http://127.0.0.1:…\`) or an origin parley-chat was told to allow; other pages are refused at the handshake (HTTP 403). Clients that are not browsers send no Origin.`,
    "",
    "### Authentication",
    "",
    docOf(protocol, iface(protocol, "AuthRequest")),
    "",
    ...fieldTable(fieldsOf(protocol, iface(protocol, "AuthRequest").members).filter((f) => f.name !== "cmd")),
    "",
    `The reply's result (\`AuthResult\`): ${code(
      iface(protocol, "AuthResult")
        .members.map((m) => m.getText(protocol.file))
        .join(" "),
    )}.`,
    "",
    "### Frames from the server",
    "",
    `\`ServerFrame\`: ${docOf(protocol, typeAlias(protocol, "ServerFrame"))} \`EventFrame\`: ${docOf(protocol, typeAlias(protocol, "EventFrame"))}`,
    "",
    "### Refused commands",
    "",
    `${constantDoc(protocol, "API_REFUSED_COMMANDS")} (\`API_REFUSED_COMMANDS\` = \`${oneLine(constantValue(protocol, "API_REFUSED_COMMANDS"))}\`)`,
    "",
    "### Close codes",
    "",
    constantDoc(protocol, "API_CLOSE"),
    "",
    "| name | code | meaning |",
    "| --- | --- | --- |",
  );
  const close = constant(protocol, "API_CLOSE").initializer;
  const closeObject = close !== undefined && ts.isAsExpression(close) ? close.expression : close;
  if (closeObject === undefined || !ts.isObjectLiteralExpression(closeObject))
    throw new Error("API_CLOSE is not an object");
  for (const prop of closeObject.properties) {
    if (!ts.isPropertyAssignment(prop)) continue;
    out.push(
      `| \`${prop.name.getText(protocol.file)}\` | ${prop.initializer.getText(protocol.file)} | ${docOf(protocol, prop)} |`,
    );
  }
  out.push("");

  // Commands, each with its result.
  const resultTypes = new Map<string, { type: string; doc: string }>();
  for (const m of iface(results, "CommandResults").members) {
    if (!ts.isPropertySignature(m) || m.type === undefined) continue;
    const name = m.name.getText(results.file).replace(/"/g, "");
    resultTypes.set(name, { type: m.type.getText(results.file), doc: docOf(results, m) });
  }
  out.push("## Commands", "");
  for (const { node, doc } of unionMembers(protocol, typeAlias(protocol, "Command"))) {
    const { name, fields } = tagged(protocol, node, "cmd");
    const result = resultTypes.get(name);
    out.push(`### \`${name}\``, "");
    if (doc !== "") out.push(doc, "");
    out.push(...fieldTable(fields), "");
    if (result !== undefined) {
      out.push(`Result: ${code(result.type)}${result.doc === "" ? "" : `. ${result.doc}`}`, "");
    }
  }

  out.push("## Events", "", 'Each event is sent as `{"type":"event","event":<name>,…}`.', "");
  for (const { node, doc } of unionMembers(protocol, typeAlias(protocol, "ChatEvent"))) {
    const { name, fields } = tagged(protocol, node, "event");
    out.push(`### \`${name}\``, "");
    if (doc !== "") out.push(doc, "");
    out.push(...fieldTable(fields), "");
  }

  out.push("## Types", "");
  for (const name of [
    "Encryption",
    "DefaultEncryption",
    "Protocol",
    "OmemoNamespaceName",
    "TrustState",
    "QueueState",
  ]) {
    const alias = typeAlias(protocol, name);
    const doc = docOf(protocol, alias);
    out.push(`- \`${name}\` = ${code(alias.type.getText(protocol.file))}${doc === "" ? "" : `: ${doc}`}`);
  }
  out.push(
    "",
    "## Result types",
    "",
    docIn(results.text.slice(0, results.file.statements[0]!.getStart(results.file))),
    "",
  );
  for (const s of results.file.statements) {
    if (!ts.isInterfaceDeclaration(s) || s.name.text === "CommandResults") continue;
    out.push(`### \`${s.name.text}\``, "");
    const doc = docOf(results, s);
    if (doc !== "") out.push(doc, "");
    out.push(...fieldTable(fieldsOf(results, s.members)), "");
  }

  const config = (await prettier.resolveConfig(API_MD)) ?? {};
  return prettier.format(out.join("\n"), { ...config, parser: "markdown", filepath: API_MD });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(API_MD, await generateApiDocs());
  console.log(`wrote ${API_MD}`);
}
