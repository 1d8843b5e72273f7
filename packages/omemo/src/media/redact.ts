/**
 * Media keys travel in plain objects (`encryptFile`'s result, `parseAesgcmUrl`'s). These hooks keep
 * util.inspect, console.log, String() and JSON.stringify from printing the key, IV or fragment
 * (ARCHITECTURE: secrets never appear in toString, inspect or JSON). The fields stay readable.
 */
import { INSPECT_CUSTOM } from "@parley/crypto/internal";

export function redactMedia<T extends object>(value: T, label: string, visible: Record<string, unknown>): T {
  const shown = [...Object.entries(visible).map(([k, v]) => `${k}: ${String(v)}`), "key: [redacted]"].join(", ");
  const text = () => `${label} { ${shown} }`;
  Object.defineProperties(value, {
    [INSPECT_CUSTOM]: { value: text, enumerable: false },
    toString: { value: text, enumerable: false },
    toJSON: { value: () => ({ ...visible, key: "[redacted]" }), enumerable: false },
  });
  return value;
}
