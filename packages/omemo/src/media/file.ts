/**
 * XEP-0454 v0.1.0 §3: the file is AES-256-GCM ciphertext with the 16-byte tag appended, encrypted "on
 * the fly while uploading". Both directions stream through @parley/crypto's incremental GCM and hold
 * at most one slice (MEDIA_SLICE_BYTES) plus the 16 tag bytes.
 *
 * decryptFile hands plaintext to a sink BEFORE the tag at the end of the file is checked: GCM cannot
 * authenticate a prefix. Everything the sink received is unauthenticated until decryptFile resolves;
 * when it rejects, the caller MUST discard all of it (delete the temporary file, drop the buffers) and
 * must never show or parse it in between.
 */
import {
  createAesGcmDecryptor,
  createAesGcmEncryptor,
  createCrypto,
  isCryptoError,
  type GcmStreamProvider,
  type RandomSource,
} from "@parley/crypto";
import { OmemoError } from "../errors.js";
import { MEDIA_IV_BYTES, MEDIA_KEY_BYTES, MEDIA_SLICE_BYTES, MEDIA_TAG_BYTES } from "./consts.js";
import { redactMedia } from "./redact.js";
import { aesgcmFragment, checkKeyIv, RECEIVED_IV_LENGTHS } from "./url.js";

/** A file: its bytes at once, or chunks as they arrive (a Node Readable and a WHATWG ReadableStream are both AsyncIterable). */
export type MediaSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array> | Uint8Array;

export interface EncryptFileOptions {
  /** Where the key and IV come from; the platform CSPRNG by default. Inject one only for reproducible tests. */
  readonly random?: RandomSource;
  /** Which AES-GCM implementation: "auto" (native in Node, noble in browsers), "native" or "noble". */
  readonly provider?: GcmStreamProvider;
}

export interface EncryptedFile {
  /** Ciphertext ‖ 16-byte tag, in slices, encrypted as it is read. Iterate it once (a second time throws). */
  readonly ciphertext: AsyncIterable<Uint8Array>;
  /** The fresh 32-byte key (§3). Secret: put it only into the OMEMO-encrypted message. */
  readonly key: Uint8Array;
  /** The fresh 12-byte IV (§3). */
  readonly iv: Uint8Array;
  /** IV hex then key hex, the 88 digits after `#` in the aesgcm:// URL. Secret, like the key. */
  readonly fragment: string;
}

export interface DecryptFileOptions {
  /** Which AES-GCM implementation: "auto" (native in Node, noble in browsers), "native" or "noble". */
  readonly provider?: GcmStreamProvider;
}

/** Receives plaintext slices. They are UNAUTHENTICATED until decryptFile resolves (see the module comment). */
export type MediaSink = (plaintext: Uint8Array) => void | Promise<void>;

/** §6: the upload slot must be requested for the encrypted size, the plaintext plus the tag. */
export function encryptedSize(plaintextBytes: number): number {
  if (!Number.isSafeInteger(plaintextBytes) || plaintextBytes < 0) {
    throw new OmemoError("INVALID_ARGUMENT", "plaintextBytes must be a non-negative integer");
  }
  return plaintextBytes + MEDIA_TAG_BYTES;
}

/** Yields the source in slices of at most MEDIA_SLICE_BYTES, wrapping the source's own failures as IO_FAILED. */
async function* slices(source: MediaSource): AsyncGenerator<Uint8Array> {
  const chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array> = source instanceof Uint8Array ? [source] : source;
  const iterator = Symbol.asyncIterator in chunks ? chunks[Symbol.asyncIterator]() : chunks[Symbol.iterator]();
  for (;;) {
    let step: IteratorResult<Uint8Array>;
    try {
      step = await iterator.next();
    } catch (error) {
      throw new OmemoError("IO_FAILED", "the media source failed", { cause: error });
    }
    if (step.done === true) return;
    const chunk: unknown = step.value;
    if (!(chunk instanceof Uint8Array)) {
      throw new OmemoError("INVALID_ARGUMENT", "the media source must yield Uint8Array chunks");
    }
    for (let offset = 0; offset < chunk.length; offset += MEDIA_SLICE_BYTES) {
      yield chunk.subarray(offset, Math.min(chunk.length, offset + MEDIA_SLICE_BYTES));
    }
  }
}

/**
 * §3: draws a 32-byte key and a 12-byte IV and returns the ciphertext as a lazy stream (ciphertext,
 * then the tag), with the key, IV and URL fragment. Nothing is read from `source` until `ciphertext` is
 * iterated, and each slice is encrypted as it is pulled, so an upload can consume it as it goes.
 */
export function encryptFile(source: MediaSource, options: EncryptFileOptions = {}): EncryptedFile {
  const random = createCrypto(options.random === undefined ? {} : { random: options.random });
  const key = random.randomBytes(MEDIA_KEY_BYTES);
  const iv = random.randomBytes(MEDIA_IV_BYTES);
  const provider = options.provider;
  let started = false;
  async function* run(): AsyncGenerator<Uint8Array> {
    const encryptor = createAesGcmEncryptor(key, iv, provider === undefined ? {} : { provider });
    for await (const slice of slices(source)) {
      const out = encryptor.update(slice);
      if (out.length > 0) yield out;
    }
    yield encryptor.final(); // §3: "The authentication tag MUST be appended to the end of the file."
  }
  const encrypted: EncryptedFile = {
    ciphertext: {
      [Symbol.asyncIterator]() {
        // A second pass would re-read a consumed source and silently upload a truncated file.
        if (started)
          throw new OmemoError("INVALID_ARGUMENT", "the ciphertext of encryptFile can be iterated only once");
        started = true;
        return run();
      },
    },
    key,
    iv,
    fragment: aesgcmFragment(key, iv),
  };
  return redactMedia(encrypted, "EncryptedFile", {});
}

/**
 * Decrypts a downloaded aesgcm file (ciphertext ‖ tag) into `sink`, holding back the last 16 bytes as
 * the tag, so at most one slice plus 16 bytes is held. Resolves with the plaintext size only after the
 * tag verified. Rejects with DECRYPTION_FAILED for a wrong key or IV, any modified byte, or a file
 * truncated or shorter than the tag; with IO_FAILED when the source or the sink fails. ON REJECTION
 * THE CALLER MUST DISCARD EVERYTHING THE SINK RECEIVED. Accepts 12-byte IVs and the 16-byte IVs of
 * older clients.
 */
export async function decryptFile(
  source: MediaSource,
  key: Uint8Array,
  iv: Uint8Array,
  sink: MediaSink,
  options: DecryptFileOptions = {},
): Promise<{ readonly size: number }> {
  checkKeyIv(key, iv, RECEIVED_IV_LENGTHS);
  if (typeof sink !== "function") throw new OmemoError("INVALID_ARGUMENT", "sink must be a function");
  const decryptor = createAesGcmDecryptor(
    key,
    iv,
    options.provider === undefined ? {} : { provider: options.provider },
  );
  let held = new Uint8Array(0); // the last ≤ 16 bytes seen: the tag, once the source ends
  let size = 0;
  const emit = async (plaintext: Uint8Array): Promise<void> => {
    if (plaintext.length === 0) return;
    size += plaintext.length;
    try {
      await sink(plaintext);
    } catch (error) {
      throw new OmemoError("IO_FAILED", "the media sink failed", { cause: error });
    }
  };
  for await (const slice of slices(source)) {
    const release = held.length + slice.length - MEDIA_TAG_BYTES;
    if (release <= 0) {
      const next = new Uint8Array(held.length + slice.length);
      next.set(held);
      next.set(slice, held.length);
      held = next;
    } else if (release <= held.length) {
      await emit(decryptor.update(held.subarray(0, release)));
      const next = new Uint8Array(MEDIA_TAG_BYTES);
      next.set(held.subarray(release));
      next.set(slice, held.length - release);
      held = next;
    } else {
      await emit(decryptor.update(held));
      await emit(decryptor.update(slice.subarray(0, release - held.length)));
      held = slice.slice(slice.length - MEDIA_TAG_BYTES);
    }
  }
  if (held.length < MEDIA_TAG_BYTES) {
    throw new OmemoError("DECRYPTION_FAILED", "the media file is shorter than its 16-byte authentication tag");
  }
  try {
    decryptor.final(held);
  } catch (error) {
    if (isCryptoError(error, "DECRYPT_FAILED")) {
      throw new OmemoError(
        "DECRYPTION_FAILED",
        "the media file does not authenticate: wrong key or IV, or modified or truncated data",
      );
    }
    throw error;
  }
  return { size };
}
