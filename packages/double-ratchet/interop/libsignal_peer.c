/*
 * The independent side of the legacy-OMEMO interop test: libsignal-protocol-c (Debian
 * libsignal-protocol-c-dev), the libsignal v3 implementation that profanity and many other clients use.
 *
 * One process = one libsignal device with in-memory stores, talking to ONE remote device ("peer", 1).
 * The crypto provider is OpenSSL; randomness is a SHA-256 counter DRBG seeded from argv[1], so runs are
 * reproducible. Compiled at test time: cc libsignal_peer.c $(pkg-config --cflags --libs libsignal-protocol-c) -lcrypto
 *
 * JSON lines on stdin (flat objects, string or integer values), one JSON line per request on stdout:
 *   {"cmd":"bundle","preKeys":n}  -> {"identityKey","registrationId","signedPreKeyId","signedPreKey",
 *                                     "signedPreKeySignature","preKeyIds":[..],"preKeys":[hex..]}
 *   {"cmd":"initiate","identityKey","signedPreKeyId","signedPreKey","signedPreKeySignature","preKeyId","preKey"}
 *                                 -> {} (session_builder_process_pre_key_bundle: verifies the signature)
 *   {"cmd":"encrypt","plaintext"} -> {"message","type"}   type 3 = PreKeySignalMessage, 2 = SignalMessage
 *   {"cmd":"decrypt","message","type"} -> {"plaintext"}
 *   {"cmd":"hasPreKey","id"}      -> {"present":0|1}
 *   {"cmd":"session"}             -> {"recordBytes"}        (size of libsignal's serialized session record)
 * Failures: {"ok":false,"error":"<libsignal error code>"} and no state change (libsignal stores the
 * session only after a successful decrypt).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <signal_protocol.h>
#include <key_helper.h>
#include <session_builder.h>
#include <session_cipher.h>
#include <session_pre_key.h>
#include <protocol.h>
#include <curve.h>
#include <ratchet.h>

/* ---------- deterministic randomness ---------- */
static uint8_t drbg_seed[32];
static uint64_t drbg_counter;

static int random_func(uint8_t *data, size_t len, void *user_data) {
    (void)user_data;
    while (len > 0) {
        uint8_t block[SHA256_DIGEST_LENGTH];
        uint8_t input[40];
        memcpy(input, drbg_seed, 32);
        for (int i = 0; i < 8; i++) input[32 + i] = (uint8_t)(drbg_counter >> (8 * i));
        drbg_counter++;
        SHA256(input, sizeof input, block);
        size_t n = len < sizeof block ? len : sizeof block;
        memcpy(data, block, n);
        data += n;
        len -= n;
    }
    return 0;
}

/* ---------- OpenSSL crypto provider ---------- */
static int hmac_init(void **ctx, const uint8_t *key, size_t key_len, void *u) {
    (void)u;
    HMAC_CTX *c = HMAC_CTX_new();
    if (!c || !HMAC_Init_ex(c, key, (int)key_len, EVP_sha256(), NULL)) return SG_ERR_UNKNOWN;
    *ctx = c;
    return 0;
}
static int hmac_update(void *ctx, const uint8_t *d, size_t n, void *u) {
    (void)u;
    return HMAC_Update(ctx, d, n) ? 0 : SG_ERR_UNKNOWN;
}
static int hmac_final(void *ctx, signal_buffer **out, void *u) {
    (void)u;
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!HMAC_Final(ctx, md, &len)) return SG_ERR_UNKNOWN;
    *out = signal_buffer_create(md, len);
    return *out ? 0 : SG_ERR_NOMEM;
}
static void hmac_cleanup(void *ctx, void *u) {
    (void)u;
    HMAC_CTX_free(ctx);
}
static int sha512_init(void **ctx, void *u) {
    (void)u;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c || !EVP_DigestInit_ex(c, EVP_sha512(), NULL)) return SG_ERR_UNKNOWN;
    *ctx = c;
    return 0;
}
static int sha512_update(void *ctx, const uint8_t *d, size_t n, void *u) {
    (void)u;
    return EVP_DigestUpdate(ctx, d, n) ? 0 : SG_ERR_UNKNOWN;
}
static int sha512_final(void *ctx, signal_buffer **out, void *u) {
    (void)u;
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!EVP_DigestFinal_ex(ctx, md, &len)) return SG_ERR_UNKNOWN;
    if (!EVP_DigestInit_ex(ctx, EVP_sha512(), NULL)) return SG_ERR_UNKNOWN; /* reusable, as libsignal expects */
    *out = signal_buffer_create(md, len);
    return *out ? 0 : SG_ERR_NOMEM;
}
static void sha512_cleanup(void *ctx, void *u) {
    (void)u;
    EVP_MD_CTX_free(ctx);
}
static const EVP_CIPHER *aes_cipher(int cipher, size_t key_len) {
    if (cipher == SG_CIPHER_AES_CBC_PKCS5) {
        return key_len == 16 ? EVP_aes_128_cbc() : key_len == 24 ? EVP_aes_192_cbc() : key_len == 32 ? EVP_aes_256_cbc() : NULL;
    }
    if (cipher == SG_CIPHER_AES_CTR_NOPADDING) {
        return key_len == 16 ? EVP_aes_128_ctr() : key_len == 24 ? EVP_aes_192_ctr() : key_len == 32 ? EVP_aes_256_ctr() : NULL;
    }
    return NULL;
}
static int aes_run(int enc, signal_buffer **out, int cipher, const uint8_t *key, size_t key_len, const uint8_t *iv,
                   size_t iv_len, const uint8_t *in, size_t in_len) {
    const EVP_CIPHER *c = aes_cipher(cipher, key_len);
    if (!c || iv_len != 16) return SG_ERR_INVAL;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    uint8_t *buf = malloc(in_len + 32);
    int n1 = 0, n2 = 0, ok = ctx && buf && EVP_CipherInit_ex(ctx, c, NULL, key, iv, enc);
    if (ok) EVP_CIPHER_CTX_set_padding(ctx, cipher == SG_CIPHER_AES_CBC_PKCS5);
    ok = ok && EVP_CipherUpdate(ctx, buf, &n1, in, (int)in_len) && EVP_CipherFinal_ex(ctx, buf + n1, &n2);
    if (ok) *out = signal_buffer_create(buf, (size_t)(n1 + n2));
    free(buf);
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : SG_ERR_UNKNOWN;
}
static int encrypt_func(signal_buffer **out, int cipher, const uint8_t *key, size_t key_len, const uint8_t *iv,
                        size_t iv_len, const uint8_t *pt, size_t pt_len, void *u) {
    (void)u;
    return aes_run(1, out, cipher, key, key_len, iv, iv_len, pt, pt_len);
}
static int decrypt_func(signal_buffer **out, int cipher, const uint8_t *key, size_t key_len, const uint8_t *iv,
                        size_t iv_len, const uint8_t *ct, size_t ct_len, void *u) {
    (void)u;
    return aes_run(0, out, cipher, key, key_len, iv, iv_len, ct, ct_len);
}

/* ---------- in-memory stores (one remote device) ---------- */
#define MAX_KEYS 512
static signal_buffer *stored_session;
static signal_buffer *pre_keys[MAX_KEYS + 1];
static signal_buffer *signed_pre_keys[16];
static ratchet_identity_key_pair *identity;
static uint32_t registration_id;

static int load_session(signal_buffer **record, signal_buffer **user_record, const signal_protocol_address *a, void *u) {
    (void)a; (void)u;
    if (!stored_session) return 0;
    *record = signal_buffer_copy(stored_session);
    *user_record = NULL;
    return 1;
}
static int get_sub_device_sessions(signal_int_list **s, const char *n, size_t l, void *u) {
    (void)n; (void)l; (void)u;
    *s = signal_int_list_alloc();
    if (stored_session) signal_int_list_push_back(*s, 1);
    return 0;
}
static int store_session(const signal_protocol_address *a, uint8_t *r, size_t len, uint8_t *ur, size_t ul, void *u) {
    (void)a; (void)ur; (void)ul; (void)u;
    signal_buffer_free(stored_session);
    stored_session = signal_buffer_create(r, len);
    return 0;
}
static int contains_session(const signal_protocol_address *a, void *u) {
    (void)a; (void)u;
    return stored_session != NULL;
}
static int delete_session(const signal_protocol_address *a, void *u) {
    (void)a; (void)u;
    signal_buffer_free(stored_session);
    stored_session = NULL;
    return 1;
}
static int delete_all_sessions(const char *n, size_t l, void *u) {
    (void)n; (void)l; (void)u;
    return delete_session(NULL, NULL);
}
static int load_pre_key(signal_buffer **r, uint32_t id, void *u) {
    (void)u;
    if (id > MAX_KEYS || !pre_keys[id]) return SG_ERR_INVALID_KEY_ID;
    *r = signal_buffer_copy(pre_keys[id]);
    return SG_SUCCESS;
}
static int store_pre_key(uint32_t id, uint8_t *r, size_t len, void *u) {
    (void)u;
    if (id > MAX_KEYS) return SG_ERR_INVAL;
    signal_buffer_free(pre_keys[id]);
    pre_keys[id] = signal_buffer_create(r, len);
    return 0;
}
static int contains_pre_key(uint32_t id, void *u) {
    (void)u;
    return id <= MAX_KEYS && pre_keys[id] != NULL;
}
static int remove_pre_key(uint32_t id, void *u) {
    (void)u;
    if (id > MAX_KEYS) return 0;
    signal_buffer_free(pre_keys[id]);
    pre_keys[id] = NULL;
    return 0;
}
static int load_signed_pre_key(signal_buffer **r, uint32_t id, void *u) {
    (void)u;
    if (id >= 16 || !signed_pre_keys[id]) return SG_ERR_INVALID_KEY_ID;
    *r = signal_buffer_copy(signed_pre_keys[id]);
    return SG_SUCCESS;
}
static int store_signed_pre_key(uint32_t id, uint8_t *r, size_t len, void *u) {
    (void)u;
    if (id >= 16) return SG_ERR_INVAL;
    signal_buffer_free(signed_pre_keys[id]);
    signed_pre_keys[id] = signal_buffer_create(r, len);
    return 0;
}
static int contains_signed_pre_key(uint32_t id, void *u) {
    (void)u;
    return id < 16 && signed_pre_keys[id] != NULL;
}
static int remove_signed_pre_key(uint32_t id, void *u) {
    (void)u;
    if (id < 16) {
        signal_buffer_free(signed_pre_keys[id]);
        signed_pre_keys[id] = NULL;
    }
    return 0;
}
static int get_identity_key_pair(signal_buffer **pub, signal_buffer **priv, void *u) {
    (void)u;
    int r = ec_public_key_serialize(pub, ratchet_identity_key_pair_get_public(identity));
    return r ? r : ec_private_key_serialize(priv, ratchet_identity_key_pair_get_private(identity));
}
static int get_local_registration_id(void *u, uint32_t *id) {
    (void)u;
    *id = registration_id;
    return 0;
}
static int save_identity(const signal_protocol_address *a, uint8_t *k, size_t l, void *u) {
    (void)a; (void)k; (void)l; (void)u;
    return 0;
}
static int is_trusted_identity(const signal_protocol_address *a, uint8_t *k, size_t l, void *u) {
    (void)a; (void)k; (void)l; (void)u;
    return 1; /* trust decisions are not what this harness tests */
}

/* ---------- tiny JSON / hex helpers ---------- */
static char *json_find(const char *line, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    char *p = strstr(line, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ' || *p == ':') p++;
    return p;
}
static int json_str(const char *line, const char *key, char *out, size_t cap) {
    char *p = json_find(line, key);
    if (!p || *p != '"') return -1;
    p++;
    size_t n = 0;
    while (*p && *p != '"' && n + 1 < cap) out[n++] = *p++;
    out[n] = 0;
    return (int)n;
}
static long json_int(const char *line, const char *key, long dflt) {
    char *p = json_find(line, key);
    return p ? strtol(p, NULL, 10) : dflt;
}
static size_t unhex(const char *h, uint8_t *out, size_t cap) {
    size_t n = 0;
    while (h[0] && h[1] && n < cap) {
        unsigned int b;
        sscanf(h, "%2x", &b);
        out[n++] = (uint8_t)b;
        h += 2;
    }
    return n;
}
static void put_hex(const uint8_t *d, size_t n) {
    for (size_t i = 0; i < n; i++) printf("%02x", d[i]);
}
static void put_key(const char *name, ec_public_key *k) {
    signal_buffer *b = NULL;
    ec_public_key_serialize(&b, k);
    printf("\"%s\":\"", name);
    put_hex(signal_buffer_data(b), signal_buffer_len(b));
    printf("\",");
    signal_buffer_free(b);
}
static int fail(int code) {
    printf("{\"ok\":false,\"error\":\"%d\"}\n", code);
    fflush(stdout);
    return code;
}

#define BUF 1 << 20
static char line[BUF], sval[BUF];
static uint8_t bytes[BUF / 2];

int main(int argc, char **argv) {
    const char *seed = argc > 1 ? argv[1] : "0";
    SHA256((const uint8_t *)seed, strlen(seed), drbg_seed);

    signal_context *ctx;
    signal_crypto_provider provider = {
        .random_func = random_func,
        .hmac_sha256_init_func = hmac_init,
        .hmac_sha256_update_func = hmac_update,
        .hmac_sha256_final_func = hmac_final,
        .hmac_sha256_cleanup_func = hmac_cleanup,
        .sha512_digest_init_func = sha512_init,
        .sha512_digest_update_func = sha512_update,
        .sha512_digest_final_func = sha512_final,
        .sha512_digest_cleanup_func = sha512_cleanup,
        .encrypt_func = encrypt_func,
        .decrypt_func = decrypt_func,
        .user_data = NULL,
    };
    if (signal_context_create(&ctx, NULL) || signal_context_set_crypto_provider(ctx, &provider)) return 1;

    signal_protocol_store_context *store;
    signal_protocol_store_context_create(&store, ctx);
    signal_protocol_session_store ss = {load_session, get_sub_device_sessions, store_session, contains_session,
                                        delete_session, delete_all_sessions, NULL, NULL};
    signal_protocol_pre_key_store ps = {load_pre_key, store_pre_key, contains_pre_key, remove_pre_key, NULL, NULL};
    signal_protocol_signed_pre_key_store sps = {load_signed_pre_key, store_signed_pre_key, contains_signed_pre_key,
                                                remove_signed_pre_key, NULL, NULL};
    signal_protocol_identity_key_store is = {get_identity_key_pair, get_local_registration_id, save_identity,
                                             is_trusted_identity, NULL, NULL};
    signal_protocol_store_context_set_session_store(store, &ss);
    signal_protocol_store_context_set_pre_key_store(store, &ps);
    signal_protocol_store_context_set_signed_pre_key_store(store, &sps);
    signal_protocol_store_context_set_identity_key_store(store, &is);

    signal_protocol_key_helper_generate_identity_key_pair(&identity, ctx);
    signal_protocol_key_helper_generate_registration_id(&registration_id, 0, ctx);
    signal_protocol_address remote = {"peer", 4, 1};

    while (fgets(line, sizeof line, stdin)) {
        char cmd[32];
        if (json_str(line, "cmd", cmd, sizeof cmd) < 0) {
            fail(SG_ERR_INVAL);
            continue;
        }
        int r = 0;
        if (!strcmp(cmd, "bundle")) {
            long n = json_int(line, "preKeys", 5);
            if (n < 1 || n > MAX_KEYS) { fail(SG_ERR_INVAL); continue; }
            session_signed_pre_key *spk;
            signal_protocol_key_helper_pre_key_list_node *head;
            if ((r = signal_protocol_key_helper_generate_signed_pre_key(&spk, identity, 1, 0, ctx)) ||
                (r = signal_protocol_key_helper_generate_pre_keys(&head, 1, (unsigned)n, ctx))) { fail(r); continue; }
            signal_buffer *b = NULL;
            session_signed_pre_key_serialize(&b, spk);
            store_signed_pre_key(1, signal_buffer_data(b), signal_buffer_len(b), NULL);
            signal_buffer_free(b);
            printf("{\"ok\":true,");
            put_key("identityKey", ratchet_identity_key_pair_get_public(identity));
            printf("\"registrationId\":%u,\"signedPreKeyId\":1,", registration_id);
            put_key("signedPreKey", ec_key_pair_get_public(session_signed_pre_key_get_key_pair(spk)));
            printf("\"signedPreKeySignature\":\"");
            put_hex(session_signed_pre_key_get_signature(spk), session_signed_pre_key_get_signature_len(spk));
            printf("\",\"preKeys\":[");
            int first = 1;
            for (signal_protocol_key_helper_pre_key_list_node *it = head; it; it = signal_protocol_key_helper_key_list_next(it)) {
                session_pre_key *pk = signal_protocol_key_helper_key_list_element(it);
                b = NULL;
                session_pre_key_serialize(&b, pk);
                store_pre_key(session_pre_key_get_id(pk), signal_buffer_data(b), signal_buffer_len(b), NULL);
                signal_buffer_free(b);
                signal_buffer *kb = NULL;
                ec_public_key_serialize(&kb, ec_key_pair_get_public(session_pre_key_get_key_pair(pk)));
                printf("%s{\"id\":%u,\"key\":\"", first ? "" : ",", session_pre_key_get_id(pk));
                put_hex(signal_buffer_data(kb), signal_buffer_len(kb));
                printf("\"}");
                signal_buffer_free(kb);
                first = 0;
            }
            printf("]}\n");
            signal_protocol_key_helper_key_list_free(head);
            SIGNAL_UNREF(spk);
        } else if (!strcmp(cmd, "initiate")) {
            ec_public_key *ik = NULL, *spk = NULL, *pk = NULL;
            uint8_t sig[64];
            size_t n;
            json_str(line, "identityKey", sval, sizeof sval);
            n = unhex(sval, bytes, sizeof bytes);
            if ((r = curve_decode_point(&ik, bytes, n, ctx))) { fail(r); continue; }
            json_str(line, "signedPreKey", sval, sizeof sval);
            n = unhex(sval, bytes, sizeof bytes);
            if ((r = curve_decode_point(&spk, bytes, n, ctx))) { fail(r); continue; }
            long pk_id = json_int(line, "preKeyId", -1);
            if (pk_id >= 0) {
                json_str(line, "preKey", sval, sizeof sval);
                n = unhex(sval, bytes, sizeof bytes);
                if ((r = curve_decode_point(&pk, bytes, n, ctx))) { fail(r); continue; }
            }
            json_str(line, "signedPreKeySignature", sval, sizeof sval);
            size_t sig_len = unhex(sval, sig, sizeof sig);
            session_pre_key_bundle *bundle;
            session_builder *builder;
            r = session_pre_key_bundle_create(&bundle, (uint32_t)json_int(line, "registrationId", 0), 1,
                                              pk_id >= 0 ? (uint32_t)pk_id : 0, pk,
                                              (uint32_t)json_int(line, "signedPreKeyId", 0), spk, sig, sig_len, ik);
            if (!r) r = session_builder_create(&builder, store, &remote, ctx);
            if (!r) {
                r = session_builder_process_pre_key_bundle(builder, bundle);
                session_builder_free(builder);
            }
            if (r) fail(r); else printf("{\"ok\":true}\n");
        } else if (!strcmp(cmd, "encrypt")) {
            session_cipher *cipher;
            ciphertext_message *msg;
            size_t n = (size_t)json_str(line, "plaintext", sval, sizeof sval);
            n = unhex(sval, bytes, n / 2);
            if ((r = session_cipher_create(&cipher, store, &remote, ctx))) { fail(r); continue; }
            r = session_cipher_encrypt(cipher, bytes, n, &msg);
            session_cipher_free(cipher);
            if (r) { fail(r); continue; }
            signal_buffer *s = ciphertext_message_get_serialized(msg);
            printf("{\"ok\":true,\"type\":%d,\"message\":\"", ciphertext_message_get_type(msg));
            put_hex(signal_buffer_data(s), signal_buffer_len(s));
            printf("\"}\n");
            SIGNAL_UNREF(msg);
        } else if (!strcmp(cmd, "decrypt")) {
            session_cipher *cipher;
            signal_buffer *pt = NULL;
            json_str(line, "message", sval, sizeof sval);
            size_t n = unhex(sval, bytes, sizeof bytes);
            if ((r = session_cipher_create(&cipher, store, &remote, ctx))) { fail(r); continue; }
            if (json_int(line, "type", 2) == CIPHERTEXT_PREKEY_TYPE) {
                pre_key_signal_message *m = NULL;
                r = pre_key_signal_message_deserialize(&m, bytes, n, ctx);
                if (!r) r = session_cipher_decrypt_pre_key_signal_message(cipher, m, NULL, &pt);
                if (m) SIGNAL_UNREF(m);
            } else {
                signal_message *m = NULL;
                r = signal_message_deserialize(&m, bytes, n, ctx);
                if (!r) r = session_cipher_decrypt_signal_message(cipher, m, NULL, &pt);
                if (m) SIGNAL_UNREF(m);
            }
            session_cipher_free(cipher);
            if (r) { fail(r); continue; }
            printf("{\"ok\":true,\"plaintext\":\"");
            put_hex(signal_buffer_data(pt), signal_buffer_len(pt));
            printf("\"}\n");
            signal_buffer_free(pt);
        } else if (!strcmp(cmd, "hasPreKey")) {
            printf("{\"ok\":true,\"present\":%d}\n", contains_pre_key((uint32_t)json_int(line, "id", 0), NULL));
        } else if (!strcmp(cmd, "session")) {
            printf("{\"ok\":true,\"recordBytes\":%zu}\n", stored_session ? signal_buffer_len(stored_session) : 0);
        } else {
            fail(SG_ERR_INVAL);
            continue;
        }
        fflush(stdout);
    }
    return 0;
}
