/**
 * Renders the adapter protocol's schema tables (ops, shared types, error codes) from src/protocol.ts,
 * the one definition, for the README. `pnpm readme` writes them between the schema markers;
 * test/readme.test.ts fails when the README is out of date.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
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

/** A declaration and the file it is in (comments are read from the file's text). */
interface Declared<T extends ts.Node> {
  node: T;
  source: ts.SourceFile;
}

/**
 * protocol.ts and its parts: the protocol-*.ts files next to it whose interfaces `Ops` extends (ops of
 * one area, their types and error codes).
 */
function protocolFiles(protocolPath: string): ts.SourceFile[] {
  const dir = dirname(protocolPath);
  const parts = readdirSync(dir)
    .filter((f) => /^protocol-[a-z0-9]+\.ts$/.test(f))
    .sort();
  return [protocolPath, ...parts.map((f) => join(dir, f))].map((f) =>
    ts.createSourceFile(f, readFileSync(f, "utf8"), ts.ScriptTarget.Latest, true),
  );
}

export async function schemaMarkdown(protocolPath: string): Promise<string> {
  const interfaces = new Map<string, Declared<ts.InterfaceDeclaration>>();
  const aliases = new Map<string, Declared<ts.TypeAliasDeclaration>>();
  for (const source of protocolFiles(protocolPath)) {
    source.forEachChild((node) => {
      if (ts.isInterfaceDeclaration(node)) interfaces.set(node.name.text, { node, source });
      if (ts.isTypeAliasDeclaration(node)) aliases.set(node.name.text, { node, source });
    });
  }
  const fields = (name: string): string => {
    const d = interfaces.get(name);
    if (!d) return code(name);
    const { node: decl, source } = d;
    // Members of the interfaces it extends are not repeated: "…Effects" rows name them.
    const inherited = (decl.heritageClauses ?? []).flatMap((c) => c.types.map((t) => t.expression.getText(source)));
    const own = decl.members.filter(ts.isPropertySignature).map((m) => {
      const doc = docOf(m, source);
      const sig = `${m.name.getText(source)}${m.questionToken ? "?" : ""}: ${m.type?.getText(source) ?? "unknown"}`;
      return `${code(sig)}${doc ? ` ${doc}` : ""}`;
    });
    const rows = [...own, ...inherited.map((i) => `all of ${code(i)}`)];
    return rows.length === 0 ? "(none)" : rows.join("<br>");
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
  // Ops' own members (the core ops), then those of every interface it extends, in the order it names them.
  const opInterfaces: Declared<ts.InterfaceDeclaration>[] = [ops];
  for (const clause of ops.node.heritageClauses ?? []) {
    for (const t of clause.types) {
      const part = interfaces.get(t.expression.getText(ops.source));
      if (!part) throw new Error(`Ops extends ${t.expression.getText(ops.source)}, which no protocol file declares`);
      opInterfaces.push(part);
    }
  }
  for (const { node: decl, source } of opInterfaces) {
    for (const member of decl.members) {
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
      lines.push(
        `| ${code(name)} | ${cell(part("args"))} | ${cell(part("result"))} | ${cell(docOf(member, source))} |`,
      );
    }
  }
  lines.push("", "#### Shared types", "", "| type | fields | meaning |", "| --- | --- | --- |");
  // The core's shared types, then every interface of any protocol file tagged `@shared` in its doc comment.
  const shared = [
    ...SHARED_TYPES,
    ...[...interfaces.entries()]
      .filter(
        ([name, d]) => !SHARED_TYPES.includes(name) && ts.getJSDocTags(d.node).some((t) => t.tagName.text === "shared"),
      )
      .map(([name]) => name),
  ];
  for (const t of shared) {
    const d = interfaces.get(t);
    if (!d) throw new Error(`src/protocol.ts has no interface ${t}`);
    lines.push(`| ${code(t)} | ${cell(fields(t))} | ${cell(docOf(d.node, d.source))} |`);
  }
  lines.push("", "#### Error codes", "", "| code | meaning |", "| --- | --- |");
  // ErrorCode is a union of string literals and of other areas' error-code aliases (expanded in place).
  const errorRows = (name: string): string[] => {
    const d = aliases.get(name);
    if (!d) throw new Error(`no protocol file declares type ${name}`);
    const { node, source } = d;
    if (node.type.kind === ts.SyntaxKind.NeverKeyword) return [];
    const members = ts.isUnionTypeNode(node.type) ? node.type.types : [node.type];
    const rows: string[] = [];
    // A member's doc comment sits before its `|`, outside the member's own trivia: read the text between members.
    let previousEnd = node.type.getFullStart();
    for (const t of members) {
      const between = source.text.slice(previousEnd, t.getStart(source));
      previousEnd = t.getEnd();
      if (ts.isTypeReferenceNode(t)) {
        rows.push(...errorRows(t.typeName.getText(source)));
        continue;
      }
      const doc = /\/\*\*([\s\S]*?)\*\//.exec(between)?.[1] ?? "";
      const text = doc
        .split("\n")
        .map((l) => l.replace(/^\s*\* ?/, "").trim())
        .join(" ");
      rows.push(`| ${code(t.getText(source).replace(/"/g, ""))} | ${cell(text)} |`);
    }
    return rows;
  };
  lines.push(...errorRows("ErrorCode"));
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
