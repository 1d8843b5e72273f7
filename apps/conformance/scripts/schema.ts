/**
 * Renders the adapter protocol's schema tables (ops, shared types, error codes) from src/protocol.ts,
 * the one definition, for the README. `pnpm readme` writes them between the schema markers;
 * test/readme.test.ts fails when the README is out of date.
 */
import { readFileSync } from "node:fs";
import { format } from "prettier";
import ts from "typescript";

export const BEGIN = "<!-- schema:begin (generated from src/protocol.ts by `pnpm readme`; do not edit) -->";
export const END = "<!-- schema:end -->";

const SHARED_TYPES = ["KeyPairHex", "BundleHex", "KeyExchangeHex", "HeaderHex"];

function docOf(node: ts.Node, source: ts.SourceFile): string {
  const ranges = ts.getLeadingCommentRanges(source.text, node.getFullStart()) ?? [];
  const docs = ranges
    .map((r) => source.text.slice(r.pos, r.end))
    .filter((c) => c.startsWith("/**"))
    .map((c) =>
      c
        .replace(/^\/\*\*|\*\/$/g, "")
        .split("\n")
        .map((l) => l.replace(/^\s*\* ?/, "").trim())
        .filter((l) => l !== "" && !l.startsWith("@"))
        .join(" "),
    );
  return docs.at(-1) ?? "";
}

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\s+/g, " ").trim();
const code = (s: string) => `\`${s.replace(/\s+/g, " ")}\``;

export async function schemaMarkdown(protocolPath: string): Promise<string> {
  const source = ts.createSourceFile(protocolPath, readFileSync(protocolPath, "utf8"), ts.ScriptTarget.Latest, true);
  const interfaces = new Map<string, ts.InterfaceDeclaration>();
  let errorCodes: ts.TypeAliasDeclaration | undefined;
  source.forEachChild((node) => {
    if (ts.isInterfaceDeclaration(node)) interfaces.set(node.name.text, node);
    if (ts.isTypeAliasDeclaration(node) && node.name.text === "ErrorCode") errorCodes = node;
  });
  const fields = (name: string): string => {
    const decl = interfaces.get(name);
    if (!decl) return code(name);
    if (decl.members.length === 0) return "(none)";
    return decl.members
      .filter(ts.isPropertySignature)
      .map((m) => {
        const doc = docOf(m, source);
        const sig = `${m.name.getText(source)}${m.questionToken ? "?" : ""}: ${m.type?.getText(source) ?? "unknown"}`;
        return `${code(sig)}${doc ? ` ${doc}` : ""}`;
      })
      .join("<br>");
  };

  const lines: string[] = [
    BEGIN,
    "",
    "#### Ops",
    "",
    "| op | args | result | what it does |",
    "| --- | --- | --- | --- |",
  ];
  const ops = interfaces.get("Ops");
  if (!ops) throw new Error("src/protocol.ts has no interface Ops");
  for (const member of ops.members) {
    if (!ts.isPropertySignature(member) || !member.type || !ts.isTypeLiteralNode(member.type)) continue;
    const part = (key: string) => {
      const p =
        member.type && ts.isTypeLiteralNode(member.type)
          ? member.type.members.find((x) => x.name?.getText(source) === key)
          : undefined;
      const t = p && ts.isPropertySignature(p) ? p.type?.getText(source) : undefined;
      return t ? fields(t) : "";
    };
    const name = member.name.getText(source).replace(/"/g, "");
    lines.push(`| ${code(name)} | ${cell(part("args"))} | ${cell(part("result"))} | ${cell(docOf(member, source))} |`);
  }
  lines.push("", "#### Shared types", "", "| type | fields | meaning |", "| --- | --- | --- |");
  for (const t of SHARED_TYPES) {
    const decl = interfaces.get(t);
    if (!decl) throw new Error(`src/protocol.ts has no interface ${t}`);
    lines.push(`| ${code(t)} | ${cell(fields(t))} | ${cell(docOf(decl, source))} |`);
  }
  lines.push("", "#### Error codes", "", "| code | meaning |", "| --- | --- |");
  if (!errorCodes || !ts.isUnionTypeNode(errorCodes.type)) throw new Error("src/protocol.ts has no ErrorCode union");
  // A member's doc comment sits before its `|`, outside the member's own trivia: read the text between members.
  let previousEnd = errorCodes.type.getFullStart();
  for (const t of errorCodes.type.types) {
    const between = source.text.slice(previousEnd, t.getStart(source));
    previousEnd = t.getEnd();
    const doc = /\/\*\*([\s\S]*?)\*\//.exec(between)?.[1] ?? "";
    const text = doc
      .split("\n")
      .map((l) => l.replace(/^\s*\* ?/, "").trim())
      .join(" ");
    lines.push(`| ${code(t.getText(source).replace(/"/g, ""))} | ${cell(text)} |`);
  }
  lines.push("", END);
  return format(lines.join("\n"), { parser: "markdown", printWidth: 120 });
}

/** The README with its schema section replaced. */
export async function withSchema(readme: string, protocolPath: string): Promise<string> {
  const start = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error("README.md has no schema markers");
  return readme.slice(0, start) + (await schemaMarkdown(protocolPath)).trimEnd() + readme.slice(end + END.length);
}
