/** Version of the serialised record format; bump it and add a migration in codec.ts when the format changes. */
export const FORMAT_VERSION = 1;

/** Longest `xmpp:` URI we parse: a QR code (version 40, level L) holds 2953 bytes, so anything longer did not come from one. */
export const MAX_URI_LENGTH = 4096;

/** Most fingerprints one URI may carry: a real code holds one key per device of one account; Conversations' forks cap at 64 too. */
export const MAX_URI_FINGERPRINTS = 64;

/** Most keys in one `keysSeen` batch: XEP-0384 device lists are small; this bounds the work one hostile device list can cause. */
export const MAX_BATCH_KEYS = 256;

/**
 * Most records one contact may have for one protocol. A real account has a handful of devices and, over years,
 * some dozens of old keys; a hostile contact publishing fresh bundles (or sending from fresh devices) could
 * otherwise grow its records without bound, and every `keysSeen` reads them all. Past the cap the oldest
 * untrusted keys the user never acted on are evicted (never a tofu, verified or compromised one, nor a key the
 * user distrusted); when none is left to evict, new keys are refused with TOO_MANY_KEYS.
 */
export const MAX_KEYS_PER_PROTOCOL = 512;

/** History entries kept per record (the first is always kept): enough to explain a state, bounded so records stay small. */
export const MAX_HISTORY = 32;

/** Longest account, contact or protocol identifier: a JID is at most 3 x 1023 bytes + separators (RFC 7622 §3.1). */
export const MAX_ID_LENGTH = 3071;

/** Bytes a QR code holds in byte mode at version 40, error correction level M (ISO/IEC 18004 table 7). */
export const QR_BYTE_CAPACITY_M = 2331;
