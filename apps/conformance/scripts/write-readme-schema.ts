/** Writes the adapter protocol's schema tables into README.md from src/protocol.ts (`pnpm readme`). */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { withSchema } from "./schema.js";

const readme = fileURLToPath(new URL("../README.md", import.meta.url));
const protocol = fileURLToPath(new URL("../src/protocol.ts", import.meta.url));
writeFileSync(readme, await withSchema(readFileSync(readme, "utf8"), protocol));
console.log("README.md: schema tables written from src/protocol.ts");
