#!/usr/bin/env node
// Every relative link in every Markdown file of the repository must resolve inside the repository:
// a clone has nothing beside it. Exits 1 and lists the broken links otherwise.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// Tracked and new (not ignored) files: node_modules, dist and reports never count.
const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "*.md"], {
  cwd: root,
  encoding: "utf8",
})
  .split("\n")
  .filter((f) => f !== "" && existsSync(join(root, f)));

// [text](target "title") and reference definitions `[id]: target`; code spans and fences are skipped.
const inline = /\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g;
const reference = /^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/gm;

const broken = [];
for (const file of files) {
  const text = readFileSync(join(root, file), "utf8")
    .replace(/```[\s\S]*?```/g, "")
    .replace(/`[^`\n]*`/g, "");
  const targets = [...text.matchAll(inline), ...text.matchAll(reference)].map((m) => m[1]);
  for (const target of targets) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("#")) continue;
    const path = decodeURIComponent(target.split("#")[0]);
    const absolute = resolve(dirname(join(root, file)), path);
    const inside = !relative(root, absolute).startsWith("..");
    if (!inside || !existsSync(absolute)) broken.push(`${file}: ${target}${inside ? "" : " (outside the repository)"}`);
  }
}
if (broken.length > 0) {
  console.error(`Broken or outside links in Markdown files:\n  ${broken.join("\n  ")}`);
  process.exit(1);
}
console.log(`check-links: ${files.length} Markdown files, every relative link resolves inside the repository`);
