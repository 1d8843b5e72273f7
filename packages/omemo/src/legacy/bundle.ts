import type { Element } from "ltx";
import { decodeBundleWith, encodeBundleWith, type BundleSyntax } from "../bundle.js";
import { LEGACY_KEY_TYPE, LEGACY_PUBLIC_KEY_LENGTH, NS_LEGACY } from "../consts.js";
import type { Bundle } from "../types.js";
import { serializeXml, type XmlInput } from "../xml.js";

/** XEP-0384 v0.3.0 §4.3 and §10: element and attribute names of the legacy bundle. */
const LEGACY_BUNDLE: BundleSyntax = {
  ns: NS_LEGACY,
  signedPreKey: "signedPreKeyPublic",
  signedPreKeyIdAttr: "signedPreKeyId",
  signature: "signedPreKeySignature",
  identityKey: "identityKey",
  preKey: "preKeyPublic",
  preKeyIdAttr: "preKeyId",
  keyLength: LEGACY_PUBLIC_KEY_LENGTH,
  keyType: LEGACY_KEY_TYPE,
};

/** Keys are 33 bytes, 0x05 first; ids 1 … 2^31 − 1 are emitted. */
export function encodeBundle(bundle: Bundle): Element {
  return encodeBundleWith(LEGACY_BUNDLE, bundle);
}

export function bundleToString(bundle: Bundle): string {
  return serializeXml(encodeBundle(bundle));
}

/** Decodes `<bundle xmlns='eu.siacs.conversations.axolotl'>` or the pubsub `<item>` holding it. */
export function decodeBundle(input: XmlInput): Bundle {
  return decodeBundleWith(LEGACY_BUNDLE, input);
}
