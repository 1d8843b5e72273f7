// TypeDoc (`pnpm run docs` at the root): this package's entry points are its package.json exports.
import { packageOptions } from "../../scripts/typedoc-package.mjs";

export default packageOptions(import.meta.url);
