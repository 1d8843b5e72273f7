/**
 * Limits and policy figures of the session manager, each with its reason and what python-omemo
 * (Debian's 1.0.2 with python-oldmemo / python-twomemo 1.0.3) and the XEP say. The stanza layer's
 * limits are in ../consts.ts.
 */
import { DEFAULT_ONE_TIME_PRE_KEY_COUNT, OLD_SIGNED_PRE_KEY_KEEP_MS, SIGNED_PRE_KEY_ROTATION_MS } from "@parley/x3dh";

/**
 * One-time prekeys published per namespace, kept at this count: XEP-0384 SHOULD 100 (v0.3.0 §4.3,
 * v0.8.3 §4.2); python-omemo refills to 100 after every key exchange (threshold 99), so do we.
 */
export const ONE_TIME_PRE_KEYS = DEFAULT_ONE_TIME_PRE_KEY_COUNT;

/** Rotate the signed prekey after 7 days (v0.8.3 §4.2: weekly to monthly; python-omemo's default). */
export const SIGNED_PRE_KEY_ROTATION_PERIOD_MS = SIGNED_PRE_KEY_ROTATION_MS;

/** Keep the previous signed prekey one more period for delayed key exchanges (v0.8.3 §4.2), as python-omemo. */
export const OLD_SIGNED_PRE_KEY_GRACE_MS = OLD_SIGNED_PRE_KEY_KEEP_MS;

/**
 * Heartbeat: after decrypting a message whose receiving chain is longer than this, send an empty
 * message so the peer's next message starts a new chain. XEP-0384 v0.8.3 §6 ("counter of 53 or
 * higher"); python-omemo's STALENESS_MAGIC_NUMBER is 53 with `receiving_chain_length > 53`.
 */
export const HEARTBEAT_CHAIN_LENGTH = 53;

/** Legacy payload: AES-128-GCM with a 16-byte key (docs/libsignal-wire-format.md §5, python-oldmemo KEY_LENGTH). */
export const LEGACY_PAYLOAD_KEY_BYTES = 16;
/** Legacy IV we send: 12 bytes, what python-oldmemo and current Conversations send (GCM's natural size). */
export const LEGACY_IV_BYTES = 12;
/** The GCM tag travels with the key (v0.3.0 §4.5): ratchet plaintext = key(16) || tag(16). */
export const GCM_TAG_BYTES = 16;

/** OMEMO 2 payload key (v0.8.3 §4.4 step 1). */
export const V2_PAYLOAD_KEY_BYTES = 32;
/** OMEMO 2 payload HMAC truncated to 16 bytes (v0.8.3 §4.4 step 5): ratchet plaintext = key(32) || mac(16). */
export const V2_PAYLOAD_MAC_BYTES = 16;
/** HKDF info of the payload keys (v0.8.3 §4.4 step 2). */
export const V2_PAYLOAD_INFO = "OMEMO Payload";
/** An empty OMEMO 2 message encrypts 32 zero bytes (v0.8.3 §5.5.3). */
export const V2_EMPTY_KEY_MATERIAL_BYTES = 32;

/**
 * Base keys of replaced sessions remembered per device, so that a replayed key exchange of an old
 * session (MAM, carbons) is recognised as a duplicate instead of failing as an unknown prekey. A
 * device replaces its session rarely (reinstall, healing); 16 covers years of that.
 */
export const RETIRED_BASE_KEYS_KEPT = 16;

/**
 * Replaced sessions kept per device and tried when a message fails in the current one. Two devices
 * that start sessions with each other at once each replace theirs with the other's; the message
 * that crosses must still decrypt in the session it was sent in (libsignal keeps 40 such states;
 * python-omemo none, so it loses those messages). A few suffice: replacements are rare.
 */
export const PREVIOUS_SESSIONS_KEPT = 4;

/**
 * At most one healing key exchange per device in this time: a peer that lost our session may send
 * a burst (a MAM catch-up) before our empty key exchange reaches it, and a forger who sends
 * messages for a session we do not have must not make us rebuild sessions in a loop.
 */
export const HEAL_INTERVAL_MS = 60 * 60 * 1000;

/**
 * Most devices whose last healing time is remembered. Healing answers only devices on the sender's
 * cached device list, but lists come from the network: the oldest entry is forgotten first, so a
 * peer that invents devices costs bounded memory.
 */
export const MAX_HEALED_DEVICES = 1024;

/**
 * Most legacy `<key>` elements for our device id tried per message. Each attempt may cost a key
 * agreement and up to MAX_FORWARD_JUMP chain steps, and anyone can send a stanza with hundreds of
 * keys for our id. Legacy keys carry no JID, so in a group chat the device id of another occupant
 * may equal ours and its key come first: 3 covers such collisions (1 in 2^31 per pair of devices).
 * OMEMO 2 keys name the JID: only the first key for our JID and device is tried.
 */
export const MAX_LEGACY_KEY_ATTEMPTS = 3;

/** Random device ids drawn before giving up on finding one not in our device lists (collisions are 1 in 2^31). */
export const DEVICE_ID_ATTEMPTS = 32;

/**
 * Most devices one encrypt call encrypts for: the stanza layer's MAX_KEYS_PER_HEADER (a 300-member
 * group with 3 devices each needs 900).
 */
export const MAX_RECIPIENT_DEVICES = 1000;

/**
 * Most devices of one account (both namespaces together) one message is encrypted to. People have a
 * handful; an account that lists hundreds (a hostile group-chat occupant) would otherwise make every
 * message cost hundreds of bundle fetches and key agreements, or push the room past
 * MAX_RECIPIENT_DEVICES. Devices we already have sessions with are kept first; the others beyond the
 * bound are reported `failed` with TOO_MANY_DEVICES.
 */
export const MAX_DEVICES_PER_ACCOUNT = 64;

/**
 * After a device's bundle could not be used (none published, malformed, a bad signature:
 * BUNDLE_INVALID; not a failure of our connection or server), encrypt does not fetch it again for
 * this long and reports the earlier failure: a device listed without a bundle would otherwise cost a
 * fetch with every message. A new device list of the account, and `replaceSession`, fetch at once.
 */
export const BUNDLE_RETRY_AFTER_MS = 60_000;

/** Bundle failures remembered for BUNDLE_RETRY_AFTER_MS (oldest dropped first beyond this). */
export const FAILED_BUNDLES_KEPT = 1024;

/** Most cached devices per account and namespace: the stanza layer's MAX_DEVICES_PER_LIST. */
export const MAX_CACHED_DEVICES = 500;

/** Fingerprints remembered (public keys only; oldest dropped first): more than the devices one user talks to. */
export const FINGERPRINT_CACHE_SIZE = 4096;

/** Store namespace the manager writes to unless told otherwise. */
/**
 * Sessions kept decoded in memory between messages (option `sessionCacheSize`; 0 keeps none). Each is
 * used only while the store still holds the exact bytes it came from, so a write by another tab or
 * process is always seen. About 1-4 KiB each: a few MiB for an account with a thousand active devices.
 */
export const SESSION_CACHE_SIZE = 1000;
/** Device lists and identity records kept decoded, under the same rule. */
export const RECORD_CACHE_SIZE = 2000;
export const DEFAULT_STORE_NAMESPACE = "omemo";

/** Version of every stored record (records.ts); a test loads each earlier version once there is one. */
export const RECORD_VERSION = 1;
