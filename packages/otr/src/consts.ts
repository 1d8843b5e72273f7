/**
 * Every limit of @parley/otr, each with the reason for its value. A peer controls every count that
 * reaches a parser, so each one is bounded here before memory is allocated for it.
 */

/** Largest incoming message (one fragment or one unfragmented line) in characters: XMPP servers cap stanzas near 256 KiB. */
export const MAX_WIRE_MESSAGE_CHARS = 256 * 1024;
/** Largest decoded binary OTR message: a base64 message of MAX_WIRE_MESSAGE_CHARS decodes to 3/4 of it. */
export const MAX_ENCODED_MESSAGE_BYTES = (MAX_WIRE_MESSAGE_CHARS * 3) / 4;
/** Largest MPI in bytes: DH values are 192 bytes (1536 bits); DSA p up to 3072 bits is 384 bytes; 512 leaves room. */
export const MAX_MPI_BYTES = 512;
/** Largest DSA modulus we accept in bits: libotr generates 1024; FIPS 186-4 stops at 3072. */
export const MAX_DSA_P_BITS = 3072;
/** Smallest DSA modulus we accept in bits: 1024 is what every OTR implementation generates. */
export const MIN_DSA_P_BITS = 1024;
/** DSA q must be 160 bits: the OTR signature format fixes r and s at 20 bytes each (spec, "SIG"). */
export const DSA_Q_BITS = 160;
/** Most TLVs in one data message: libotr sends at most 3 (SMP + padding + disconnect); 64 is generous. */
export const MAX_TLVS = 64;
/** Most MPIs in one SMP TLV: message 2 carries 11, the largest. */
export const MAX_SMP_MPIS = 11;
/** Longest SMP question in bytes (TLV 7): a TLV value is at most 65535 bytes; 4 KiB is plenty for a sentence. */
export const MAX_SMP_QUESTION_BYTES = 4096;
/** Most fragments of one message we buffer: the spec allows 65535; 128 fragments of ~1 KiB cover any real message. */
export const MAX_FRAGMENTS = 128;
/** Most characters buffered for one message being reassembled: the largest whole message. */
export const MAX_REASSEMBLY_CHARS = MAX_WIRE_MESSAGE_CHARS;
/** Most MAC keys kept waiting to be revealed: 2 per forgotten key pair; a burst of rotations stays below 64. */
export const MAX_PENDING_OLD_MAC_KEYS = 64;
/** Most bytes of old MAC keys accepted in one data message (20 bytes each). */
export const MAX_REVEALED_MAC_BYTES = 20 * 256;
/** Smallest valid instance tag (spec, "Instance Tags"). */
export const MIN_INSTANCE_TAG = 0x100;
/** Private DH exponent length in bits: the spec asks for at least 320; libotr uses 320. */
export const DH_PRIVATE_BITS = 320;
/** SMP random exponents in bits (spec: 1536-bit numbers). */
export const SMP_EXPONENT_BITS = 1536;
/** Smallest fragment payload: a fragment header is ~36 characters; a limit below this cannot carry anything. */
export const MIN_FRAGMENT_SIZE = 64;
/** Version of the serialised session and key formats written by this package. */
export const STATE_VERSION = 1;
/** Largest serialised state accepted by restore (it holds a few MPIs and buffers). */
export const MAX_STATE_CHARS = 1024 * 1024;
/** Largest libotr private key file we parse: a DSA key is ~1.2 KB; a file with 1000 accounts stays below 2 MiB. */
export const MAX_PRIVKEY_FILE_CHARS = 2 * 1024 * 1024;
/** Deepest s-expression nesting we parse: libotr's key files nest 4 levels. */
export const MAX_SEXP_DEPTH = 8;
/** Most Miller-Rabin rounds when generating DSA primes (FIPS 186-4 C.3 asks 40 for 1024/160 without Lucas; 64 for margin). */
export const MILLER_RABIN_ROUNDS = 40;
/** Most instances of one contact an OtrConversation keeps sessions for: people run a few clients, not dozens. */
export const MAX_INSTANCES = 16;
