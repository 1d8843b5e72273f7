import type { Element } from "ltx";
import { encodeBase64 } from "./base64.js";
import { MAX_PREKEYS_PER_BUNDLE, SIGNATURE_LENGTH } from "./consts.js";
import {
  assertArray,
  assertBytes,
  assertObject,
  assertPreKeyId,
  decodeFixedBase64,
  decodePreKeyId,
  exactlyOne,
  expectElement,
  invalidArgument,
  malformed,
  tooLarge,
} from "./fields.js";
import { payloadElement } from "./payload.js";
import type { Bundle, PreKeyPublic } from "./types.js";
import { childrenNamed, el, type XmlInput } from "./xml.js";

/**
 * One bundle codec for both namespaces; they differ only in element names and key encoding.
 * Key lengths are checked here (decision recorded in the README): they are the XEPs' wire types, a
 * wrong length is a malformed stanza whatever the crypto does next, and the error can name the
 * element. Whether a key is a valid curve point is @parley/x3dh's check, not this layer's.
 */
export interface BundleSyntax {
  readonly ns: string;
  readonly signedPreKey: string;
  readonly signedPreKeyIdAttr: string;
  readonly signature: string;
  readonly identityKey: string;
  readonly preKey: string;
  readonly preKeyIdAttr: string;
  readonly keyLength: number;
  /** Legacy keys start with libsignal's 0x05 type byte. */
  readonly keyType?: number;
}

function checkKeyType(key: Uint8Array, syntax: BundleSyntax, where: string): void {
  if (syntax.keyType !== undefined && key[0] !== syntax.keyType) {
    throw malformed(`${where} must start with the 0x0${syntax.keyType.toString(16)} key type byte`);
  }
}

export function decodeBundleWith(syntax: BundleSyntax, input: XmlInput): Bundle {
  const bundle = payloadElement(input);
  expectElement(bundle, "bundle", syntax.ns);
  const spk = exactlyOne(bundle, syntax.signedPreKey, syntax.ns, "<bundle>");
  const spkWhere = `<${syntax.signedPreKey}>`;
  const signedPreKeyId = decodePreKeyId(spk, syntax.signedPreKeyIdAttr, spkWhere);
  const signedPreKey = decodeFixedBase64(spk, spkWhere, syntax.keyLength);
  checkKeyType(signedPreKey, syntax, spkWhere);
  const sigWhere = `<${syntax.signature}>`;
  const signedPreKeySignature = decodeFixedBase64(
    exactlyOne(bundle, syntax.signature, syntax.ns, "<bundle>"),
    sigWhere,
    SIGNATURE_LENGTH,
  );
  const ikWhere = `<${syntax.identityKey}>`;
  const identityKey = decodeFixedBase64(
    exactlyOne(bundle, syntax.identityKey, syntax.ns, "<bundle>"),
    ikWhere,
    syntax.keyLength,
  );
  checkKeyType(identityKey, syntax, ikWhere);
  const pkElements = childrenNamed(exactlyOne(bundle, "prekeys", syntax.ns, "<bundle>"), syntax.preKey, syntax.ns);
  if (pkElements.length === 0) throw malformed(`<prekeys> has no <${syntax.preKey}>`);
  if (pkElements.length > MAX_PREKEYS_PER_BUNDLE) {
    throw tooLarge(`<prekeys> has more than ${MAX_PREKEYS_PER_BUNDLE} prekeys`);
  }
  const seen = new Set<number>();
  const preKeys: PreKeyPublic[] = pkElements.map((pk) => {
    const where = `<${syntax.preKey}>`;
    const id = decodePreKeyId(pk, syntax.preKeyIdAttr, where);
    if (seen.has(id)) throw malformed(`two <${syntax.preKey}> elements have the same '${syntax.preKeyIdAttr}'`);
    seen.add(id);
    const publicKey = decodeFixedBase64(pk, where, syntax.keyLength);
    checkKeyType(publicKey, syntax, where);
    return { id, publicKey };
  });
  return { signedPreKeyId, signedPreKey, signedPreKeySignature, identityKey, preKeys };
}

function assertKey(key: unknown, syntax: BundleSyntax, what: string): asserts key is Uint8Array {
  assertBytes(key, what, syntax.keyLength, syntax.keyLength);
  if (syntax.keyType !== undefined && key[0] !== syntax.keyType) {
    throw invalidArgument(`${what} must start with the 0x0${syntax.keyType.toString(16)} key type byte`);
  }
}

export function encodeBundleWith(syntax: BundleSyntax, bundle: Bundle): Element {
  assertObject(bundle, "bundle");
  assertPreKeyId(bundle.signedPreKeyId, "bundle.signedPreKeyId");
  assertKey(bundle.signedPreKey, syntax, "bundle.signedPreKey");
  assertBytes(bundle.signedPreKeySignature, "bundle.signedPreKeySignature", SIGNATURE_LENGTH, SIGNATURE_LENGTH);
  assertKey(bundle.identityKey, syntax, "bundle.identityKey");
  assertArray(bundle.preKeys, "bundle.preKeys", 1, MAX_PREKEYS_PER_BUNDLE);
  const seen = new Set<number>();
  const preKeys = bundle.preKeys.map((pk: unknown, i) => {
    assertObject(pk, `bundle.preKeys[${i}]`);
    assertPreKeyId(pk.id, `bundle.preKeys[${i}].id`);
    assertKey(pk.publicKey, syntax, `bundle.preKeys[${i}].publicKey`);
    if (seen.has(pk.id)) throw invalidArgument(`bundle.preKeys has the id ${pk.id} twice`);
    seen.add(pk.id);
    return el(syntax.preKey, { [syntax.preKeyIdAttr]: String(pk.id) }, encodeBase64(pk.publicKey));
  });
  return el(
    "bundle",
    { xmlns: syntax.ns },
    el(
      syntax.signedPreKey,
      { [syntax.signedPreKeyIdAttr]: String(bundle.signedPreKeyId) },
      encodeBase64(bundle.signedPreKey),
    ),
    el(syntax.signature, {}, encodeBase64(bundle.signedPreKeySignature)),
    el(syntax.identityKey, {}, encodeBase64(bundle.identityKey)),
    el("prekeys", {}, ...preKeys),
  );
}
