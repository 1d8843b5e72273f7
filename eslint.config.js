// One ESLint config for the whole monorepo. Type-aware rules (typescript-eslint) are why we use
// ESLint rather than Biome: floating promises and misused promises in session locks and stores
// are real bugs in this code base, and only a type-aware linter sees them. Prettier formats.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "**/dist/**",
      "**/node_modules/**",
      "**/.reports/**",
      "**/.turbo/**",
      ".tools/**",
      "**/generated/**",
      "docs/api/**",
      "**/*.d.ts",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true }],
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/no-unnecessary-condition": "off",
      "no-console": ["error", { allow: ["warn", "error"] }],
    },
  },
  {
    files: ["**/*.js", "**/*.mjs", "**/*.cjs"],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { console: "readonly", process: "readonly", URL: "readonly" } },
    rules: { "no-console": "off" },
  },
  {
    files: ["**/test/**", "**/bench/**", "**/examples/**", "apps/**", "**/*.test.ts"],
    // Plain JavaScript (scripts and adapters under apps/) has no type information for this rule.
    ignores: ["**/*.js", "**/*.mjs", "**/*.cjs"],
    rules: {
      "no-console": "off",
      "@typescript-eslint/no-floating-promises": "error",
    },
  },
);
