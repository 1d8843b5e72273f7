import type { Element } from "ltx";
import { decodeBundleWith, encodeBundleWith, type BundleSyntax } from "../bundle.js";
import { NS_V2, V2_PUBLIC_KEY_LENGTH } from "../consts.js";
import type { Bundle } from "../types.js";
import { serializeXml, type XmlInput } from "../xml.js";

/** XEP-0384 v0.8.3 §5.3.2 and §11: element and attribute names of the OMEMO 2 bundle. */
const V2_BUNDLE: BundleSyntax = {
  ns: NS_V2,
  signedPreKey: "spk",
  signedPreKeyIdAttr: "id",
  signature: "spks",
  identityKey: "ik",
  preKey: "pk",
  preKeyIdAttr: "id",
  keyLength: V2_PUBLIC_KEY_LENGTH,
};

/** Keys are 32 bytes (Ed25519 `ik`, X25519 `spk`/`pk`); ids 1 … 2^31 − 1 are emitted (v0.8.3 §5.3.2). */
export function encodeBundle(bundle: Bundle): Element {
  return encodeBundleWith(V2_BUNDLE, bundle);
}

export function bundleToString(bundle: Bundle): string {
  return serializeXml(encodeBundle(bundle));
}

/** Decodes `<bundle xmlns='urn:xmpp:omemo:2'>` or the pubsub `<item>` holding it (ids 0 … 2^32 − 1 accepted). */
export function decodeBundle(input: XmlInput): Bundle {
  return decodeBundleWith(V2_BUNDLE, input);
}
