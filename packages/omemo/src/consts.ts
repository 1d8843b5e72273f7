/**
 * Namespaces, PEP node names and the limits the decoders enforce on hostile input. Each limit says
 * why it has its value and, where known, what deployed peers do.
 */

/** Legacy OMEMO (XEP-0384 v0.3.0 §9.1): what Conversations, Dino, Gajim, profanity, ChatSecure and Monal speak. */
export const NS_LEGACY = "eu.siacs.conversations.axolotl";
/** OMEMO 2 (XEP-0384 v0.8.0 and later, §10.1). */
export const NS_V2 = "urn:xmpp:omemo:2";
/** Stanza Content Encryption (XEP-0420 v0.4.0 and later). */
export const NS_SCE = "urn:xmpp:sce:1";
export const NS_PUBSUB = "http://jabber.org/protocol/pubsub";
export const NS_PUBSUB_EVENT = "http://jabber.org/protocol/pubsub#event";
/** XEP-0004 data forms, the container of publish-options (XEP-0060 §7.1.5). */
export const NS_DATA_FORMS = "jabber:x:data";
/** XEP-0334 message processing hints: `<store/>` is a SHOULD in XEP-0384 v0.3.0 §5 and a MUST in XEP-0420 §10. */
export const NS_HINTS = "urn:xmpp:hints";
export const NS_CLIENT = "jabber:client";
/** FORM_TYPE of the publish-options form (XEP-0060 §7.1.5). */
export const PUBLISH_OPTIONS_FORM_TYPE = "http://jabber.org/protocol/pubsub#publish-options";

/** XEP-0384 v0.3.0 §4.2: the legacy device list node; its single item has id "current" (§4.3). */
export const LEGACY_DEVICE_LIST_NODE = "eu.siacs.conversations.axolotl.devicelist";
/** XEP-0384 v0.3.0 §4.3: one bundle node per device, this prefix followed by the device id in decimal. */
export const LEGACY_BUNDLES_NODE_PREFIX = "eu.siacs.conversations.axolotl.bundles:";
/** XEP-0384 v0.8.1 and later §5.3.1: the OMEMO 2 device list node, single item "current". */
export const V2_DEVICES_NODE = "urn:xmpp:omemo:2:devices";
/** XEP-0384 v0.8.1 and later §5.3.2: one node for all bundles, item id = device id. */
export const V2_BUNDLES_NODE = "urn:xmpp:omemo:2:bundles";
/** XEP-0060 §12.20 singleton item id, used by both device lists and by legacy bundles. */
export const CURRENT_ITEM_ID = "current";

/**
 * Largest stanza or XML string accepted, in UTF-8 bytes, checked before parsing. 256 KiB is Prosody's
 * default c2s_stanza_size_limit and the value ejabberd's example configuration sets; a bigger stanza
 * does not reach a client through a default server, so anything larger is an attack or a bug.
 */
export const MAX_STANZA_BYTES = 256 * 1024;

/**
 * Deepest element nesting accepted by the parser. OMEMO elements nest 6 deep inside a pubsub event
 * and SCE content rarely more than 10 (XHTML-IM); 64 leaves room while keeping recursive walkers
 * (ours, ltx's toString) far from the stack limit.
 */
export const MAX_XML_DEPTH = 64;

/**
 * Most `<key>` elements in one header, over all recipients. A message to a 300-member group with 3
 * devices each needs 900; more than 1000 cannot be useful and would only cost decode time.
 */
export const MAX_KEYS_PER_HEADER = 1000;

/**
 * Most devices in one device list. Real accounts have a handful of live devices, but lists collect
 * stale ids for years (no deployed client prunes them reliably), so dozens are seen in the wild.
 */
export const MAX_DEVICES_PER_LIST = 500;

/**
 * Most one-time prekeys in one bundle: ten times what the XEP asks for (SHOULD 100, XEP-0384 v0.3.0
 * §4.3 and v0.8.3 §4.2) and what Conversations, Dino and python-omemo publish (100).
 */
export const MAX_PREKEYS_PER_BUNDLE = 1000;

/** Most `<item>` elements in one pubsub result or event: one bundle item per device on the OMEMO 2 bundles node. */
export const MAX_PUBSUB_ITEMS = 1000;

/** Most fields in one publish-options form; OMEMO uses two. */
export const MAX_FORM_FIELDS = 64;

/** Longest pubsub node name, item id or form field value we accept, in UTF-16 code units. */
export const MAX_PUBSUB_STRING_LENGTH = 1024;

/**
 * Most bytes in one `<key>` element. A key exchange (PreKeySignalMessage or OMEMOKeyExchange) wrapping
 * 32 or 48 bytes of key material is under 300 bytes; 1 KiB allows future fields.
 */
export const MAX_KEY_ELEMENT_BYTES = 1024;

/** Most bytes in a `<payload>`: three quarters of the stanza limit, the most its base64 can carry. */
export const MAX_PAYLOAD_BYTES = (MAX_STANZA_BYTES / 4) * 3;

/**
 * The `<iv>` lengths accepted in legacy messages. XEP-0384 v0.3.0 fixes none; python-oldmemo and current
 * clients send 12 bytes, older clients 16. @parley/crypto's AES-GCM takes exactly these two, so a stanza
 * with any other length could never decrypt and is rejected here with a clear error.
 */
export const LEGACY_IV_LENGTHS: readonly number[] = [12, 16];

/** Legacy public keys (identity, signed prekey, prekeys): libsignal's 0x05 type byte + 32-byte Curve25519 u. */
export const LEGACY_PUBLIC_KEY_LENGTH = 33;
/** libsignal's DJB_TYPE, the first byte of every legacy public key on the wire. */
export const LEGACY_KEY_TYPE = 0x05;
/** OMEMO 2 public keys: 32 bytes, Ed25519 for `<ik>` and X25519 for `<spk>`/`<pk>` (XEP-0384 v0.8.3 §4.2 Encode). */
export const V2_PUBLIC_KEY_LENGTH = 32;
/** Signed prekey signature and label signature: 64 bytes (libsignal's XEdDSA variant in legacy, Ed25519 in OMEMO 2). */
export const SIGNATURE_LENGTH = 64;

/** Device ids are 1 … 2^31 − 1 (XEP-0384 v0.3.0 §4.1, v0.8.3 §5.1). */
export const MIN_DEVICE_ID = 1;
export const MAX_DEVICE_ID = 0x7fffffff;
/** Prekey ids we emit: 1 … 2^31 − 1 (v0.8.3 §5.3.2, matches @parley/x3dh's MAX_PRE_KEY_ID). */
export const MAX_PRE_KEY_ID = 0x7fffffff;
/** Prekey ids we accept: xs:unsignedInt, the schema type in both XEP versions (v0.8.3's examples use 0). */
export const MAX_UNSIGNED_INT = 0xffffffff;

/** XEP-0384 v0.8.3 §5.3.1: labels are RECOMMENDED to stay under 53 code points. */
export const RECOMMENDED_LABEL_LENGTH = 53;
/** Longest device label kept, in code points: far above the recommendation, bounded because labels reach the UI. */
export const MAX_LABEL_LENGTH = 256;

/** Longest JID in UTF-8 bytes (RFC 7622 §3: 1023 local + "@" + 1023 domain + "/" + 1023 resource). */
export const MAX_JID_BYTES = 3071;

/** XEP-0420 v0.4.1 §4: the `<rpad/>` content is 0 … 200 random characters. */
export const RPAD_MAX_RANDOM_LENGTH = 200;
