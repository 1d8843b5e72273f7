/*
 * libotr_peer: libotr 4.1.1 (Debian libotr5-dev) driven in JSON lines over stdin/stdout.
 *
 * One request per line, one answer per line, in order. Requests are JSON objects {"op": ..., ...};
 * answers are {"ok": true, ...} or {"ok": false, "error": "..."}, with the request's "id" echoed when
 * it had one. The protocol is documented in README.md next to this file.
 *
 * One process holds any number of *parties*, each its own OtrlUserState with one account, one
 * private key and one instance tag (two parties may share an account name: two instances of one
 * account). Everything a party sends (inject_message, or a message libotr hands back to the app)
 * is collected in its outbox and returned with the answer, together with the callbacks it saw
 * (gone_secure, SMP events, message events...). Nothing is sent anywhere: the caller routes.
 *
 * Time: this file defines time(), which interposes on the libc symbol libotr calls, so libotr's
 * clock (heartbeats after 60 s, resend window, AKE key wiping) is the "clock" op's, frozen unless
 * moved. The bench_* ops run two in-process parties in a loop and time themselves with
 * clock_gettime(CLOCK_MONOTONIC), which is not affected.
 *
 * Built by interop/peers.ts: gcc -O2 -rdynamic libotr_peer.c $(pkg-config --cflags --libs libotr).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gcrypt.h>
/* libotr's headers are not self-contained: proto.h and tlv.h before message.h */
#include <libotr/proto.h>
#include <libotr/tlv.h>
#include <libotr/context.h>
#include <libotr/instag.h>
#include <libotr/message.h>
#include <libotr/privkey.h>
#include <libotr/userstate.h>
#include <libotr/version.h>

/* ------------------------------------------------------------------------------------------ */
/* The clock libotr sees                                                                       */
/* ------------------------------------------------------------------------------------------ */

static time_t fake_now = 1700000000; /* 2023-11-14, fixed; moved only by the "clock" op */

time_t time(time_t *t) {
  if (t) *t = fake_now;
  return fake_now;
}

/* ------------------------------------------------------------------------------------------ */
/* Small helpers                                                                               */
/* ------------------------------------------------------------------------------------------ */

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "libotr_peer: out of memory\n");
    exit(2);
  }
  return p;
}

static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p) {
    fprintf(stderr, "libotr_peer: out of memory\n");
    exit(2);
  }
  return p;
}

static char *xstrdup(const char *s) {
  size_t n = strlen(s);
  char *d = xmalloc(n + 1);
  memcpy(d, s, n + 1);
  return d;
}

/* Growing string buffer */
typedef struct {
  char *s;
  size_t len, cap;
} sbuf;

static void sb_grow(sbuf *b, size_t more) {
  if (b->len + more + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (b->len + more + 1 > cap) cap *= 2;
    b->s = xrealloc(b->s, cap);
    b->cap = cap;
  }
}
static void sb_putn(sbuf *b, const char *s, size_t n) {
  sb_grow(b, n);
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = '\0';
}
static void sb_puts(sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }
static void sb_putc(sbuf *b, char c) { sb_putn(b, &c, 1); }
static void sb_printf(sbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char tmp[512];
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof tmp) {
    sb_putn(b, tmp, (size_t)n);
  } else {
    char *big = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_putn(b, big, (size_t)n);
    free(big);
  }
}
static void sb_free(sbuf *b) {
  free(b->s);
  b->s = NULL;
  b->len = b->cap = 0;
}

/* JSON string literal; bytes >= 0x80 are passed through (UTF-8 in, UTF-8 out). */
static void sb_json_strn(sbuf *b, const char *s, size_t n) {
  sb_putc(b, '"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
      case '"': sb_puts(b, "\\\""); break;
      case '\\': sb_puts(b, "\\\\"); break;
      case '\n': sb_puts(b, "\\n"); break;
      case '\r': sb_puts(b, "\\r"); break;
      case '\t': sb_puts(b, "\\t"); break;
      default:
        if (c < 0x20 || c == 0x7f) sb_printf(b, "\\u%04x", c);
        else sb_putc(b, (char)c);
    }
  }
  sb_putc(b, '"');
}
static void sb_json_str(sbuf *b, const char *s) {
  if (!s) sb_puts(b, "null");
  else sb_json_strn(b, s, strlen(s));
}
static void sb_hex(sbuf *b, const unsigned char *d, size_t n) {
  static const char hx[] = "0123456789abcdef";
  sb_putc(b, '"');
  for (size_t i = 0; i < n; i++) {
    sb_putc(b, hx[d[i] >> 4]);
    sb_putc(b, hx[d[i] & 15]);
  }
  sb_putc(b, '"');
}

/* ------------------------------------------------------------------------------------------ */
/* A small JSON parser                                                                         */
/* ------------------------------------------------------------------------------------------ */

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jval {
  jtype t;
  int b;
  double num;
  char *str; /* J_STR: NUL-terminated (the protocol has no strings with NUL) */
  size_t len;
  size_t n;            /* J_ARR / J_OBJ: number of items */
  struct jval **items; /* values */
  char **keys;         /* J_OBJ keys */
} jval;

typedef struct {
  const char *p;
  const char *err;
} jparser;

static void jfree(jval *v) {
  if (!v) return;
  free(v->str);
  for (size_t i = 0; i < v->n; i++) {
    jfree(v->items[i]);
    if (v->keys) free(v->keys[i]);
  }
  free(v->items);
  free(v->keys);
  free(v);
}

static void jws(jparser *jp) {
  while (*jp->p == ' ' || *jp->p == '\t' || *jp->p == '\n' || *jp->p == '\r') jp->p++;
}

static jval *jnew(jtype t) {
  jval *v = xmalloc(sizeof *v);
  memset(v, 0, sizeof *v);
  v->t = t;
  return v;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static void put_utf8(sbuf *b, unsigned long cp) {
  if (cp < 0x80) {
    sb_putc(b, (char)cp);
  } else if (cp < 0x800) {
    sb_putc(b, (char)(0xc0 | (cp >> 6)));
    sb_putc(b, (char)(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    sb_putc(b, (char)(0xe0 | (cp >> 12)));
    sb_putc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
    sb_putc(b, (char)(0x80 | (cp & 0x3f)));
  } else {
    sb_putc(b, (char)(0xf0 | (cp >> 18)));
    sb_putc(b, (char)(0x80 | ((cp >> 12) & 0x3f)));
    sb_putc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
    sb_putc(b, (char)(0x80 | (cp & 0x3f)));
  }
}

static int read_u4(jparser *jp, unsigned long *out) {
  unsigned long cp = 0;
  for (int i = 0; i < 4; i++) {
    int h = hexval(jp->p[i]);
    if (h < 0) return 0;
    cp = cp * 16 + (unsigned long)h;
  }
  jp->p += 4;
  *out = cp;
  return 1;
}

static char *jstring(jparser *jp, size_t *lenp) {
  if (*jp->p != '"') {
    jp->err = "expected a string";
    return NULL;
  }
  jp->p++;
  sbuf b = {0};
  sb_grow(&b, 0);
  b.s[0] = '\0';
  for (;;) {
    char c = *jp->p;
    if (c == '\0') {
      jp->err = "unterminated string";
      sb_free(&b);
      return NULL;
    }
    jp->p++;
    if (c == '"') break;
    if ((unsigned char)c < 0x20) {
      jp->err = "control character in string";
      sb_free(&b);
      return NULL;
    }
    if (c != '\\') {
      sb_putc(&b, c);
      continue;
    }
    char e = *jp->p++;
    switch (e) {
      case '"': sb_putc(&b, '"'); break;
      case '\\': sb_putc(&b, '\\'); break;
      case '/': sb_putc(&b, '/'); break;
      case 'b': sb_putc(&b, '\b'); break;
      case 'f': sb_putc(&b, '\f'); break;
      case 'n': sb_putc(&b, '\n'); break;
      case 'r': sb_putc(&b, '\r'); break;
      case 't': sb_putc(&b, '\t'); break;
      case 'u': {
        unsigned long cp;
        if (!read_u4(jp, &cp)) {
          jp->err = "bad \\u escape";
          sb_free(&b);
          return NULL;
        }
        if (cp >= 0xd800 && cp < 0xdc00 && jp->p[0] == '\\' && jp->p[1] == 'u') {
          unsigned long lo;
          jp->p += 2;
          if (!read_u4(jp, &lo) || lo < 0xdc00 || lo >= 0xe000) {
            jp->err = "bad surrogate pair";
            sb_free(&b);
            return NULL;
          }
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        if (cp == 0) {
          jp->err = "NUL in string";
          sb_free(&b);
          return NULL;
        }
        put_utf8(&b, cp);
        break;
      }
      default:
        jp->err = "bad escape";
        sb_free(&b);
        return NULL;
    }
  }
  if (lenp) *lenp = b.len;
  return b.s;
}

static jval *jvalue(jparser *jp, int depth);

static jval *jvalue(jparser *jp, int depth) {
  if (depth > 32) {
    jp->err = "nested too deep";
    return NULL;
  }
  jws(jp);
  char c = *jp->p;
  if (c == '{') {
    jp->p++;
    jval *v = jnew(J_OBJ);
    jws(jp);
    if (*jp->p == '}') {
      jp->p++;
      return v;
    }
    for (;;) {
      jws(jp);
      char *k = jstring(jp, NULL);
      if (!k) {
        jfree(v);
        return NULL;
      }
      jws(jp);
      if (*jp->p != ':') {
        free(k);
        jfree(v);
        jp->err = "expected ':'";
        return NULL;
      }
      jp->p++;
      jval *item = jvalue(jp, depth + 1);
      if (!item) {
        free(k);
        jfree(v);
        return NULL;
      }
      v->items = xrealloc(v->items, (v->n + 1) * sizeof *v->items);
      v->keys = xrealloc(v->keys, (v->n + 1) * sizeof *v->keys);
      v->items[v->n] = item;
      v->keys[v->n] = k;
      v->n++;
      jws(jp);
      if (*jp->p == ',') {
        jp->p++;
        continue;
      }
      if (*jp->p == '}') {
        jp->p++;
        return v;
      }
      jfree(v);
      jp->err = "expected ',' or '}'";
      return NULL;
    }
  }
  if (c == '[') {
    jp->p++;
    jval *v = jnew(J_ARR);
    jws(jp);
    if (*jp->p == ']') {
      jp->p++;
      return v;
    }
    for (;;) {
      jval *item = jvalue(jp, depth + 1);
      if (!item) {
        jfree(v);
        return NULL;
      }
      v->items = xrealloc(v->items, (v->n + 1) * sizeof *v->items);
      v->items[v->n++] = item;
      jws(jp);
      if (*jp->p == ',') {
        jp->p++;
        continue;
      }
      if (*jp->p == ']') {
        jp->p++;
        return v;
      }
      jfree(v);
      jp->err = "expected ',' or ']'";
      return NULL;
    }
  }
  if (c == '"') {
    jval *v = jnew(J_STR);
    v->str = jstring(jp, &v->len);
    if (!v->str) {
      jfree(v);
      return NULL;
    }
    return v;
  }
  if (!strncmp(jp->p, "true", 4)) {
    jp->p += 4;
    jval *v = jnew(J_BOOL);
    v->b = 1;
    return v;
  }
  if (!strncmp(jp->p, "false", 5)) {
    jp->p += 5;
    return jnew(J_BOOL);
  }
  if (!strncmp(jp->p, "null", 4)) {
    jp->p += 4;
    return jnew(J_NULL);
  }
  if (c == '-' || (c >= '0' && c <= '9')) {
    char *end;
    double d = strtod(jp->p, &end);
    if (end == jp->p) {
      jp->err = "bad number";
      return NULL;
    }
    jp->p = end;
    jval *v = jnew(J_NUM);
    v->num = d;
    return v;
  }
  jp->err = "unexpected character";
  return NULL;
}

static jval *jparse(const char *text, const char **err) {
  jparser jp = {text, NULL};
  jval *v = jvalue(&jp, 0);
  if (v) {
    jws(&jp);
    if (*jp.p != '\0') {
      jfree(v);
      v = NULL;
      jp.err = "trailing characters";
    }
  }
  *err = jp.err;
  return v;
}

static jval *jget(const jval *o, const char *key) {
  if (!o || o->t != J_OBJ) return NULL;
  for (size_t i = 0; i < o->n; i++)
    if (!strcmp(o->keys[i], key)) return o->items[i];
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Request errors                                                                              */
/* ------------------------------------------------------------------------------------------ */

static char req_error[1024];

static int fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(req_error, sizeof req_error, fmt, ap);
  va_end(ap);
  return -1;
}

static const char *get_str(const jval *req, const char *key, const char *dflt) {
  jval *v = jget(req, key);
  if (!v || v->t == J_NULL) return dflt;
  if (v->t != J_STR) return NULL;
  return v->str;
}

static int need_str(const jval *req, const char *key, const char **out) {
  jval *v = jget(req, key);
  if (!v || v->t != J_STR) return fail("missing string field \"%s\"", key);
  *out = v->str;
  return 0;
}

static long get_int(const jval *req, const char *key, long dflt) {
  jval *v = jget(req, key);
  if (!v || v->t != J_NUM) return dflt;
  return (long)v->num;
}

static int get_bool(const jval *o, const char *key, int dflt) {
  jval *v = jget(o, key);
  if (!v || v->t != J_BOOL) return dflt;
  return v->b;
}

static int unhex(const char *h, unsigned char **out, size_t *outlen) {
  size_t n = strlen(h);
  if (n % 2) return fail("odd-length hex");
  unsigned char *d = xmalloc(n / 2);
  for (size_t i = 0; i < n / 2; i++) {
    int a = hexval(h[2 * i]), b = hexval(h[2 * i + 1]);
    if (a < 0 || b < 0) {
      free(d);
      return fail("bad hex");
    }
    d[i] = (unsigned char)(a * 16 + b);
  }
  *out = d;
  *outlen = n / 2;
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Parties                                                                                     */
/* ------------------------------------------------------------------------------------------ */

typedef struct {
  char *to;
  char *message;
} outmsg;

typedef struct party {
  char *name;
  char *account;
  char *protocol;
  OtrlUserState us;
  OtrlPolicy policy;
  int mms;            /* max message size; 0: never fragment */
  int logged_in;      /* what is_logged_in answers (1, 0 or -1) */
  outmsg *out;        /* outbox since the last answer */
  size_t nout;
  char **events;      /* JSON objects, since the last answer */
  size_t nevents;
  int record_events;  /* bench parties only keep the flags below */
  int smp_asked;      /* an ASK_FOR_SECRET / ASK_FOR_ANSWER event arrived */
  int smp_done;       /* SUCCESS / FAILURE arrived */
  int gone_secure;
  struct party *next;
} party;

static party *parties = NULL;

static party *find_party(const char *name) {
  for (party *p = parties; p; p = p->next)
    if (!strcmp(p->name, name)) return p;
  return NULL;
}

static void push_out(party *p, const char *to, const char *message) {
  p->out = xrealloc(p->out, (p->nout + 1) * sizeof *p->out);
  p->out[p->nout].to = xstrdup(to ? to : "");
  p->out[p->nout].message = xstrdup(message);
  p->nout++;
}

static void clear_out(party *p) {
  for (size_t i = 0; i < p->nout; i++) {
    free(p->out[i].to);
    free(p->out[i].message);
  }
  free(p->out);
  p->out = NULL;
  p->nout = 0;
}

static void push_event(party *p, sbuf *ev) {
  if (!p->record_events) {
    sb_free(ev);
    return;
  }
  p->events = xrealloc(p->events, (p->nevents + 1) * sizeof *p->events);
  p->events[p->nevents++] = ev->s ? ev->s : xstrdup("{}");
  ev->s = NULL;
}

static void clear_events(party *p) {
  for (size_t i = 0; i < p->nevents; i++) free(p->events[i]);
  free(p->events);
  p->events = NULL;
  p->nevents = 0;
}

static void human_fp(const unsigned char raw[20], char out[OTRL_PRIVKEY_FPRINT_HUMAN_LEN]) {
  otrl_privkey_hash_to_human(out, raw);
}

/* Common fields of events about a context */
static void ev_context(sbuf *ev, ConnContext *c) {
  if (!c) return;
  sb_puts(ev, ",\"username\":");
  sb_json_str(ev, c->username);
  sb_printf(ev, ",\"instance\":%u,\"protocolVersion\":%u", c->their_instance, c->protocol_version);
}

/* ---- libotr callbacks ---------------------------------------------------------------------- */

static OtrlPolicy cb_policy(void *opdata, ConnContext *context) {
  (void)context;
  return ((party *)opdata)->policy;
}

static void cb_create_privkey(void *opdata, const char *accountname, const char *protocol) {
  party *p = opdata;
  sbuf ev = {0};
  sb_puts(&ev, "{\"type\":\"create_privkey\",\"account\":");
  sb_json_str(&ev, accountname);
  sb_puts(&ev, ",\"protocol\":");
  sb_json_str(&ev, protocol);
  sb_puts(&ev, "}");
  push_event(p, &ev);
}

static int cb_is_logged_in(void *opdata, const char *accountname, const char *protocol, const char *recipient) {
  (void)accountname;
  (void)protocol;
  (void)recipient;
  return ((party *)opdata)->logged_in;
}

static void cb_inject(void *opdata, const char *accountname, const char *protocol, const char *recipient,
                      const char *message) {
  (void)accountname;
  (void)protocol;
  /* In the FINISHED state otrl_message_sending "sends" an empty string; no IM client would. */
  if (!message || !*message) return;
  push_out(opdata, recipient, message);
}

static void cb_update_context_list(void *opdata) { (void)opdata; }

static void cb_new_fingerprint(void *opdata, OtrlUserState us, const char *accountname, const char *protocol,
                               const char *username, unsigned char fingerprint[20]) {
  (void)us;
  (void)accountname;
  (void)protocol;
  char human[OTRL_PRIVKEY_FPRINT_HUMAN_LEN];
  human_fp(fingerprint, human);
  sbuf ev = {0};
  sb_puts(&ev, "{\"type\":\"new_fingerprint\",\"username\":");
  sb_json_str(&ev, username);
  sb_puts(&ev, ",\"fingerprint\":");
  sb_json_str(&ev, human);
  sb_puts(&ev, "}");
  push_event(opdata, &ev);
}

static void cb_write_fingerprints(void *opdata) { (void)opdata; }

static void cb_gone_secure(void *opdata, ConnContext *context) {
  party *p = opdata;
  p->gone_secure = 1;
  sbuf ev = {0};
  sb_puts(&ev, "{\"type\":\"gone_secure\"");
  ev_context(&ev, context);
  sb_puts(&ev, "}");
  push_event(p, &ev);
}

static void cb_gone_insecure(void *opdata, ConnContext *context) {
  sbuf ev = {0};
  sb_puts(&ev, "{\"type\":\"gone_insecure\"");
  ev_context(&ev, context);
  sb_puts(&ev, "}");
  push_event(opdata, &ev);
}

static void cb_still_secure(void *opdata, ConnContext *context, int is_reply) {
  party *p = opdata;
  p->gone_secure = 1;
  sbuf ev = {0};
  sb_printf(&ev, "{\"type\":\"still_secure\",\"isReply\":%s", is_reply ? "true" : "false");
  ev_context(&ev, context);
  sb_puts(&ev, "}");
  push_event(p, &ev);
}

static int cb_max_message_size(void *opdata, ConnContext *context) {
  (void)context;
  return ((party *)opdata)->mms;
}

static const char *cb_account_name(void *opdata, const char *account, const char *protocol) {
  (void)opdata;
  (void)protocol;
  return xstrdup(account);
}

static void cb_account_name_free(void *opdata, const char *account_name) {
  (void)opdata;
  free((char *)account_name);
}

static void cb_received_symkey(void *opdata, ConnContext *context, unsigned int use, const unsigned char *usedata,
                               size_t usedatalen, const unsigned char *symkey) {
  sbuf ev = {0};
  sb_printf(&ev, "{\"type\":\"received_symkey\",\"use\":%u,\"usedata\":", use);
  sb_hex(&ev, usedata, usedatalen);
  sb_puts(&ev, ",\"key\":");
  sb_hex(&ev, symkey, OTRL_EXTRAKEY_BYTES);
  ev_context(&ev, context);
  sb_puts(&ev, "}");
  push_event(opdata, &ev);
}

static const char *cb_otr_error_message(void *opdata, ConnContext *context, OtrlErrorCode code) {
  (void)opdata;
  (void)context;
  switch (code) {
    case OTRL_ERRCODE_ENCRYPTION_ERROR: return xstrdup("Error occurred encrypting message.");
    case OTRL_ERRCODE_MSG_NOT_IN_PRIVATE: return xstrdup("You sent encrypted data to a peer not in private.");
    case OTRL_ERRCODE_MSG_UNREADABLE: return xstrdup("You transmitted an unreadable encrypted message.");
    case OTRL_ERRCODE_MSG_MALFORMED: return xstrdup("You transmitted a malformed data message.");
    default: return xstrdup("Unknown error.");
  }
}

static void cb_otr_error_message_free(void *opdata, const char *msg) {
  (void)opdata;
  free((char *)msg);
}

static const char *smp_event_name(OtrlSMPEvent e) {
  switch (e) {
    case OTRL_SMPEVENT_NONE: return "none";
    case OTRL_SMPEVENT_ERROR: return "error";
    case OTRL_SMPEVENT_ABORT: return "abort";
    case OTRL_SMPEVENT_CHEATED: return "cheated";
    case OTRL_SMPEVENT_ASK_FOR_ANSWER: return "ask_for_answer";
    case OTRL_SMPEVENT_ASK_FOR_SECRET: return "ask_for_secret";
    case OTRL_SMPEVENT_IN_PROGRESS: return "in_progress";
    case OTRL_SMPEVENT_SUCCESS: return "success";
    case OTRL_SMPEVENT_FAILURE: return "failure";
  }
  return "unknown";
}

static void cb_handle_smp_event(void *opdata, OtrlSMPEvent smp_event, ConnContext *context,
                                unsigned short progress_percent, char *question) {
  party *p = opdata;
  if (smp_event == OTRL_SMPEVENT_ASK_FOR_ANSWER || smp_event == OTRL_SMPEVENT_ASK_FOR_SECRET) p->smp_asked = 1;
  if (smp_event == OTRL_SMPEVENT_SUCCESS || smp_event == OTRL_SMPEVENT_FAILURE) p->smp_done = 1;
  sbuf ev = {0};
  sb_puts(&ev, "{\"type\":\"smp\",\"event\":");
  sb_json_str(&ev, smp_event_name(smp_event));
  sb_printf(&ev, ",\"progress\":%u,\"question\":", progress_percent);
  sb_json_str(&ev, question);
  ev_context(&ev, context);
  sb_puts(&ev, "}");
  push_event(p, &ev);
}

static const char *msg_event_name(OtrlMessageEvent e) {
  switch (e) {
    case OTRL_MSGEVENT_NONE: return "none";
    case OTRL_MSGEVENT_ENCRYPTION_REQUIRED: return "encryption_required";
    case OTRL_MSGEVENT_ENCRYPTION_ERROR: return "encryption_error";
    case OTRL_MSGEVENT_CONNECTION_ENDED: return "connection_ended";
    case OTRL_MSGEVENT_SETUP_ERROR: return "setup_error";
    case OTRL_MSGEVENT_MSG_REFLECTED: return "msg_reflected";
    case OTRL_MSGEVENT_MSG_RESENT: return "msg_resent";
    case OTRL_MSGEVENT_RCVDMSG_NOT_IN_PRIVATE: return "rcvdmsg_not_in_private";
    case OTRL_MSGEVENT_RCVDMSG_UNREADABLE: return "rcvdmsg_unreadable";
    case OTRL_MSGEVENT_RCVDMSG_MALFORMED: return "rcvdmsg_malformed";
    case OTRL_MSGEVENT_LOG_HEARTBEAT_RCVD: return "log_heartbeat_rcvd";
    case OTRL_MSGEVENT_LOG_HEARTBEAT_SENT: return "log_heartbeat_sent";
    case OTRL_MSGEVENT_RCVDMSG_GENERAL_ERR: return "rcvdmsg_general_err";
    case OTRL_MSGEVENT_RCVDMSG_UNENCRYPTED: return "rcvdmsg_unencrypted";
    case OTRL_MSGEVENT_RCVDMSG_UNRECOGNIZED: return "rcvdmsg_unrecognized";
    case OTRL_MSGEVENT_RCVDMSG_FOR_OTHER_INSTANCE: return "rcvdmsg_for_other_instance";
  }
  return "unknown";
}

static void cb_handle_msg_event(void *opdata, OtrlMessageEvent msg_event, ConnContext *context, const char *message,
                                gcry_error_t err) {
  sbuf ev = {0};
  sb_puts(&ev, "{\"type\":\"msg_event\",\"event\":");
  sb_json_str(&ev, msg_event_name(msg_event));
  sb_puts(&ev, ",\"message\":");
  sb_json_str(&ev, message);
  sb_puts(&ev, ",\"error\":");
  if (err) sb_json_str(&ev, gcry_strerror(err));
  else sb_puts(&ev, "null");
  ev_context(&ev, context);
  sb_puts(&ev, "}");
  push_event(opdata, &ev);
}

static void cb_create_instag(void *opdata, const char *accountname, const char *protocol) {
  sbuf ev = {0};
  sb_puts(&ev, "{\"type\":\"create_instag\",\"account\":");
  sb_json_str(&ev, accountname);
  sb_puts(&ev, ",\"protocol\":");
  sb_json_str(&ev, protocol);
  sb_puts(&ev, "}");
  push_event(opdata, &ev);
}

static void cb_timer_control(void *opdata, unsigned int interval) {
  sbuf ev = {0};
  sb_printf(&ev, "{\"type\":\"timer_control\",\"interval\":%u}", interval);
  push_event(opdata, &ev);
}

static OtrlMessageAppOps ops = {
    .policy = cb_policy,
    .create_privkey = cb_create_privkey,
    .is_logged_in = cb_is_logged_in,
    .inject_message = cb_inject,
    .update_context_list = cb_update_context_list,
    .new_fingerprint = cb_new_fingerprint,
    .write_fingerprints = cb_write_fingerprints,
    .gone_secure = cb_gone_secure,
    .gone_insecure = cb_gone_insecure,
    .still_secure = cb_still_secure,
    .max_message_size = cb_max_message_size,
    .account_name = cb_account_name,
    .account_name_free = cb_account_name_free,
    .received_symkey = cb_received_symkey,
    .otr_error_message = cb_otr_error_message,
    .otr_error_message_free = cb_otr_error_message_free,
    .resent_msg_prefix = NULL,
    .resent_msg_prefix_free = NULL,
    .handle_smp_event = cb_handle_smp_event,
    .handle_msg_event = cb_handle_msg_event,
    .create_instag = cb_create_instag,
    .convert_msg = NULL,
    .convert_free = NULL,
    .timer_control = cb_timer_control,
};

/* ---- keys, instance tags, policies --------------------------------------------------------- */

/* Loads a private key: a whole libotr private key file "(privkeys (account ...))", or just the
 * "(private-key (dsa ...))" s-expression, which is wrapped for this account and protocol. */
static int load_privkey(OtrlUserState us, const char *account, const char *protocol, const char *text) {
  sbuf file = {0};
  const char *t = text;
  while (isspace((unsigned char)*t)) t++;
  if (!strncmp(t, "(privkeys", 9)) {
    sb_puts(&file, t);
  } else {
    sb_puts(&file, "(privkeys\n (account\n(name ");
    sb_json_str(&file, account); /* a quoted string is valid s-expression syntax here */
    sb_puts(&file, ")\n(protocol ");
    sb_json_str(&file, protocol);
    sb_puts(&file, ")\n");
    sb_puts(&file, t);
    sb_puts(&file, "\n )\n)\n");
  }
  /* otrl_privkey_read_FILEp sizes its buffer with fstat(): it needs a real file, not fmemopen */
  FILE *f = tmpfile();
  if (!f) {
    sb_free(&file);
    return fail("tmpfile: %s", strerror(errno));
  }
  fwrite(file.s, 1, file.len, f);
  rewind(f);
  gcry_error_t err = otrl_privkey_read_FILEp(us, f);
  fclose(f);
  sb_free(&file);
  if (err) return fail("otrl_privkey_read_FILEp: %s", gcry_strerror(err));
  if (!otrl_privkey_find(us, account, protocol)) return fail("the private key is not for %s/%s", account, protocol);
  return 0;
}

/* Generates a DSA key with libotr into a fresh userstate; returns libotr's private key file text. */
static char *generate_privkey_file(const char *account, const char *protocol) {
  OtrlUserState us = otrl_userstate_create();
  FILE *f = tmpfile();
  if (!f) {
    fail("tmpfile: %s", strerror(errno));
    otrl_userstate_free(us);
    return NULL;
  }
  gcry_error_t err = otrl_privkey_generate_FILEp(us, f, account, protocol);
  otrl_userstate_free(us);
  if (err) {
    fclose(f);
    fail("otrl_privkey_generate_FILEp: %s", gcry_strerror(err));
    return NULL;
  }
  long n = ftell(f);
  rewind(f);
  char *text = xmalloc((size_t)n + 1);
  size_t got = fread(text, 1, (size_t)n, f);
  text[got] = '\0';
  fclose(f);
  return text;
}

static int load_instag(OtrlUserState us, const char *account, const char *protocol, otrl_instag_t tag) {
  sbuf line = {0};
  sb_printf(&line, "%s\t%s\t%08x\n", account, protocol, tag);
  FILE *f = fmemopen(line.s, line.len, "r");
  if (!f) {
    sb_free(&line);
    return fail("fmemopen: %s", strerror(errno));
  }
  gcry_error_t err = otrl_instag_read_FILEp(us, f);
  fclose(f);
  sb_free(&line);
  if (err) return fail("otrl_instag_read_FILEp: %s", gcry_strerror(err));
  if (!otrl_instag_find(us, account, protocol)) return fail("instance tag 0x%08x was not accepted", tag);
  return 0;
}

static int parse_policy(const jval *v, OtrlPolicy *out) {
  if (!v || v->t == J_NULL) {
    *out = OTRL_POLICY_MANUAL;
    return 0;
  }
  if (v->t == J_NUM) {
    *out = (OtrlPolicy)v->num;
    return 0;
  }
  if (v->t == J_STR) {
    if (!strcmp(v->str, "never")) *out = OTRL_POLICY_NEVER;
    else if (!strcmp(v->str, "manual")) *out = OTRL_POLICY_MANUAL;
    else if (!strcmp(v->str, "opportunistic")) *out = OTRL_POLICY_OPPORTUNISTIC;
    else if (!strcmp(v->str, "always")) *out = OTRL_POLICY_ALWAYS;
    else return fail("unknown policy \"%s\"", v->str);
    return 0;
  }
  if (v->t != J_OBJ) return fail("policy: expected an object, a name or a number");
  OtrlPolicy p = 0;
  if (get_bool(v, "allowV1", 0)) p |= OTRL_POLICY_ALLOW_V1;
  if (get_bool(v, "allowV2", 1)) p |= OTRL_POLICY_ALLOW_V2;
  if (get_bool(v, "allowV3", 1)) p |= OTRL_POLICY_ALLOW_V3;
  if (get_bool(v, "requireEncryption", 0)) p |= OTRL_POLICY_REQUIRE_ENCRYPTION;
  if (get_bool(v, "sendWhitespaceTag", 0)) p |= OTRL_POLICY_SEND_WHITESPACE_TAG;
  if (get_bool(v, "whitespaceStartAke", 0)) p |= OTRL_POLICY_WHITESPACE_START_AKE;
  if (get_bool(v, "errorStartAke", 0)) p |= OTRL_POLICY_ERROR_START_AKE;
  *out = p;
  return 0;
}

/* "instance": a tag number, or best / recent / recent_received / recent_sent / master. */
static int parse_instance(const jval *req, otrl_instag_t *out) {
  jval *v = jget(req, "instance");
  if (!v || v->t == J_NULL) {
    *out = OTRL_INSTAG_BEST;
    return 0;
  }
  if (v->t == J_NUM) {
    *out = (otrl_instag_t)v->num;
    return 0;
  }
  if (v->t == J_STR) {
    if (!strcmp(v->str, "best")) *out = OTRL_INSTAG_BEST;
    else if (!strcmp(v->str, "recent")) *out = OTRL_INSTAG_RECENT;
    else if (!strcmp(v->str, "recent_received")) *out = OTRL_INSTAG_RECENT_RECEIVED;
    else if (!strcmp(v->str, "recent_sent")) *out = OTRL_INSTAG_RECENT_SENT;
    else if (!strcmp(v->str, "master")) *out = OTRL_INSTAG_MASTER;
    else return fail("unknown instance \"%s\"", v->str);
    return 0;
  }
  return fail("instance: expected a number or a name");
}

static ConnContext *find_context(party *p, const char *username, otrl_instag_t instance) {
  return otrl_context_find(p->us, username, p->account, p->protocol, instance, 0, NULL, NULL, NULL);
}

static party *new_party(const char *name, const char *account, const char *protocol) {
  party *p = xmalloc(sizeof *p);
  memset(p, 0, sizeof *p);
  p->name = xstrdup(name);
  p->account = xstrdup(account);
  p->protocol = xstrdup(protocol);
  p->us = otrl_userstate_create();
  p->policy = OTRL_POLICY_MANUAL;
  p->logged_in = 1;
  p->record_events = 1;
  return p;
}

static void free_party(party *p) {
  clear_out(p);
  clear_events(p);
  otrl_userstate_free(p->us);
  free(p->name);
  free(p->account);
  free(p->protocol);
  free(p);
}

/* ------------------------------------------------------------------------------------------ */
/* Answers                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* Appends ,"outgoing":[...],"events":[...] for a party and clears both lists. */
static void drain(sbuf *a, party *p) {
  sb_puts(a, ",\"outgoing\":[");
  for (size_t i = 0; i < p->nout; i++) {
    if (i) sb_putc(a, ',');
    sb_puts(a, "{\"to\":");
    sb_json_str(a, p->out[i].to);
    sb_puts(a, ",\"message\":");
    sb_json_str(a, p->out[i].message);
    sb_putc(a, '}');
  }
  sb_puts(a, "],\"events\":[");
  for (size_t i = 0; i < p->nevents; i++) {
    if (i) sb_putc(a, ',');
    sb_puts(a, p->events[i]);
  }
  sb_putc(a, ']');
  clear_out(p);
  clear_events(p);
}

static const char *msgstate_name(OtrlMessageState s) {
  switch (s) {
    case OTRL_MSGSTATE_PLAINTEXT: return "plaintext";
    case OTRL_MSGSTATE_ENCRYPTED: return "encrypted";
    case OTRL_MSGSTATE_FINISHED: return "finished";
  }
  return "unknown";
}

static const char *authstate_name(OtrlAuthState s) {
  switch (s) {
    case OTRL_AUTHSTATE_NONE: return "none";
    case OTRL_AUTHSTATE_AWAITING_DHKEY: return "awaiting_dhkey";
    case OTRL_AUTHSTATE_AWAITING_REVEALSIG: return "awaiting_revealsig";
    case OTRL_AUTHSTATE_AWAITING_SIG: return "awaiting_sig";
    case OTRL_AUTHSTATE_V1_SETUP: return "v1_setup";
  }
  return "unknown";
}

static void write_context(sbuf *a, ConnContext *c) {
  sb_puts(a, "{\"username\":");
  sb_json_str(a, c->username);
  sb_printf(a, ",\"master\":%s,\"msgstate\":\"%s\",\"authstate\":\"%s\",\"protocolVersion\":%u",
            c->m_context == c ? "true" : "false", msgstate_name(c->msgstate), authstate_name(c->auth.authstate),
            c->protocol_version);
  sb_printf(a, ",\"ourInstance\":%u,\"theirInstance\":%u", c->our_instance, c->their_instance);
  sb_puts(a, ",\"sessionId\":");
  if (c->sessionid_len) sb_hex(a, c->sessionid, c->sessionid_len);
  else sb_puts(a, "null");
  sb_printf(a, ",\"sessionIdHalf\":\"%s\"", c->sessionid_half == OTRL_SESSIONID_FIRST_HALF_BOLD ? "first" : "second");
  sb_puts(a, ",\"peerFingerprint\":");
  if (c->active_fingerprint && c->active_fingerprint->fingerprint) {
    char human[OTRL_PRIVKEY_FPRINT_HUMAN_LEN];
    human_fp(c->active_fingerprint->fingerprint, human);
    sb_json_str(a, human);
    sb_puts(a, ",\"trust\":");
    sb_json_str(a, c->active_fingerprint->trust);
  } else {
    sb_puts(a, "null,\"trust\":null");
  }
  if (c->context_priv) {
    sb_printf(a, ",\"ourKeyid\":%u,\"theirKeyid\":%u,\"generation\":%u", c->context_priv->our_keyid,
              c->context_priv->their_keyid, c->context_priv->generation);
  }
  if (c->smstate) {
    sb_printf(a, ",\"smp\":{\"nextExpected\":%d,\"progress\":%d,\"receivedQuestion\":%s}", (int)c->smstate->nextExpected,
              (int)c->smstate->sm_prog_state, c->smstate->received_question ? "true" : "false");
  }
  sb_putc(a, '}');
}

static void write_tlvs(sbuf *a, OtrlTLV *t) {
  sb_puts(a, "[");
  for (int first = 1; t; t = t->next, first = 0) {
    if (!first) sb_putc(a, ',');
    sb_printf(a, "{\"type\":%u,\"data\":", t->type);
    sb_hex(a, t->data, t->len);
    sb_putc(a, '}');
  }
  sb_puts(a, "]");
}

static int parse_tlvs(const jval *v, OtrlTLV **out) {
  *out = NULL;
  if (!v || v->t == J_NULL) return 0;
  if (v->t != J_ARR) return fail("tlvs: expected an array");
  OtrlTLV *head = NULL, **tail = &head;
  for (size_t i = 0; i < v->n; i++) {
    jval *t = v->items[i];
    const char *hex = get_str(t, "data", "");
    unsigned char *data = NULL;
    size_t len = 0;
    if (!hex || unhex(hex, &data, &len) < 0) {
      otrl_tlv_free(head);
      return fail("tlvs[%zu].data: expected hex", i);
    }
    OtrlTLV *tlv = otrl_tlv_new((unsigned short)get_int(t, "type", 0), (unsigned short)len, data);
    free(data);
    *tail = tlv;
    tail = &tlv->next;
  }
  *out = head;
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Operations                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static int need_party(const jval *req, party **out) {
  const char *name = get_str(req, "party", "default");
  if (!name) return fail("party: expected a string");
  party *p = find_party(name);
  if (!p) return fail("no party \"%s\" (init it first)", name);
  *out = p;
  return 0;
}

static int op_init(const jval *req, sbuf *a) {
  const char *name = get_str(req, "party", "default");
  const char *account = NULL, *protocol;
  if (!name) return fail("party: expected a string");
  if (need_str(req, "account", &account) < 0) return -1;
  protocol = get_str(req, "protocol", "xmpp");
  if (!protocol) return fail("protocol: expected a string");
  if (find_party(name)) return fail("party \"%s\" exists", name);
  party *p = new_party(name, account, protocol);
  if (parse_policy(jget(req, "policy"), &p->policy) < 0) goto bad;
  p->mms = (int)get_int(req, "maxMessageSize", 0);
  p->logged_in = (int)get_int(req, "loggedIn", 1);

  const char *key = get_str(req, "privkey", "generate");
  if (!key) {
    fail("privkey: expected a string");
    goto bad;
  }
  char *generated = NULL;
  if (!strcmp(key, "generate")) {
    generated = generate_privkey_file(account, protocol);
    if (!generated) goto bad;
    key = generated;
  }
  int r = load_privkey(p->us, account, protocol, key);
  if (r < 0) {
    free(generated);
    goto bad;
  }

  jval *tag = jget(req, "instag");
  otrl_instag_t instag = tag && tag->t == J_NUM ? (otrl_instag_t)tag->num : otrl_instag_get_new();
  if (load_instag(p->us, account, protocol, instag) < 0) {
    free(generated);
    goto bad;
  }

  p->next = parties;
  parties = p;

  char fp[OTRL_PRIVKEY_FPRINT_HUMAN_LEN];
  otrl_privkey_fingerprint(p->us, fp, account, protocol);
  sb_printf(a, ",\"instag\":%u,\"fingerprint\":", instag);
  sb_json_str(a, fp);
  if (generated) {
    sb_puts(a, ",\"privkeyFile\":");
    sb_json_str(a, generated);
    free(generated);
  }
  return 0;
bad:
  free_party(p);
  return -1;
}

static int op_configure(const jval *req, sbuf *a) {
  party *p;
  if (need_party(req, &p) < 0) return -1;
  jval *pol = jget(req, "policy");
  if (pol && parse_policy(pol, &p->policy) < 0) return -1;
  p->mms = (int)get_int(req, "maxMessageSize", p->mms);
  p->logged_in = (int)get_int(req, "loggedIn", p->logged_in);
  sb_printf(a, ",\"policy\":%u,\"maxMessageSize\":%d,\"loggedIn\":%d", p->policy, p->mms, p->logged_in);
  return 0;
}

static int op_send(const jval *req, sbuf *a) {
  party *p;
  const char *to = NULL, *message = NULL;
  otrl_instag_t instance;
  OtrlTLV *tlvs;
  if (need_party(req, &p) < 0 || need_str(req, "to", &to) < 0 || need_str(req, "message", &message) < 0 ||
      parse_instance(req, &instance) < 0 || parse_tlvs(jget(req, "tlvs"), &tlvs) < 0)
    return -1;
  char *newmsg = NULL;
  ConnContext *ctx = NULL;
  gcry_error_t err = otrl_message_sending(p->us, &ops, p, p->account, p->protocol, to, instance, message, tlvs, &newmsg,
                                          OTRL_FRAGMENT_SEND_ALL, &ctx, NULL, NULL);
  otrl_tlv_free(tlvs);
  /* With OTRL_FRAGMENT_SEND_ALL libotr injected whatever it made (newmsg is a copy). When it left
   * the message alone (plaintext, no tag) newmsg is NULL and the app sends the original. */
  if (!err && !newmsg) push_out(p, to, message);
  otrl_message_free(newmsg);
  if (err) {
    return fail("otrl_message_sending: %s", gcry_strerror(err));
  }
  if (ctx) sb_printf(a, ",\"instance\":%u,\"msgstate\":\"%s\"", ctx->their_instance, msgstate_name(ctx->msgstate));
  drain(a, p);
  return 0;
}

static int op_receive(const jval *req, sbuf *a) {
  party *p;
  const char *from = NULL, *message = NULL;
  if (need_party(req, &p) < 0 || need_str(req, "from", &from) < 0 || need_str(req, "message", &message) < 0) return -1;
  char *newmsg = NULL;
  OtrlTLV *tlvs = NULL;
  ConnContext *ctx = NULL;
  int ignore = otrl_message_receiving(p->us, &ops, p, p->account, p->protocol, from, message, &newmsg, &tlvs, &ctx,
                                      NULL, NULL);
  sb_printf(a, ",\"ignored\":%s,\"delivered\":", ignore ? "true" : "false");
  if (ignore) sb_puts(a, "null");
  else sb_json_str(a, newmsg ? newmsg : message);
  sb_puts(a, ",\"tlvs\":");
  write_tlvs(a, tlvs);
  if (ctx) sb_printf(a, ",\"instance\":%u,\"msgstate\":\"%s\"", ctx->their_instance, msgstate_name(ctx->msgstate));
  otrl_tlv_free(tlvs);
  otrl_message_free(newmsg);
  drain(a, p);
  return 0;
}

static int op_query(const jval *req, sbuf *a) {
  party *p;
  const char *to = NULL;
  if (need_party(req, &p) < 0 || need_str(req, "to", &to) < 0) return -1;
  /* What a client sends to start OTR: libotr's default query message for our policy. */
  char *q = otrl_proto_default_query_msg(p->account, p->policy);
  if (!q) return fail("otrl_proto_default_query_msg failed");
  push_out(p, to, q);
  sb_puts(a, ",\"query\":");
  sb_json_str(a, q);
  free(q);
  drain(a, p);
  return 0;
}

static int encrypted_context(const jval *req, party **pp, ConnContext **cp) {
  const char *to = NULL;
  otrl_instag_t instance;
  if (need_party(req, pp) < 0 || need_str(req, "to", &to) < 0 || parse_instance(req, &instance) < 0) return -1;
  ConnContext *c = find_context(*pp, to, instance);
  if (!c) return fail("no context for %s", to);
  *cp = c;
  return 0;
}

static int op_smp(const jval *req, sbuf *a, const char *which) {
  party *p;
  ConnContext *c;
  if (encrypted_context(req, &p, &c) < 0) return -1;
  if (!strcmp(which, "abort")) {
    otrl_message_abort_smp(p->us, &ops, p, c);
  } else {
    const char *secret = NULL;
    if (need_str(req, "secret", &secret) < 0) return -1;
    if (c->msgstate != OTRL_MSGSTATE_ENCRYPTED) return fail("context for %s is %s", c->username, msgstate_name(c->msgstate));
    if (!strcmp(which, "start")) {
      const char *question = get_str(req, "question", NULL);
      if (question)
        otrl_message_initiate_smp_q(p->us, &ops, p, c, question, (const unsigned char *)secret, strlen(secret));
      else
        otrl_message_initiate_smp(p->us, &ops, p, c, (const unsigned char *)secret, strlen(secret));
    } else {
      otrl_message_respond_smp(p->us, &ops, p, c, (const unsigned char *)secret, strlen(secret));
    }
  }
  sb_printf(a, ",\"instance\":%u", c->their_instance);
  drain(a, p);
  return 0;
}

static int op_end(const jval *req, sbuf *a) {
  party *p;
  const char *to = NULL;
  if (need_party(req, &p) < 0 || need_str(req, "to", &to) < 0) return -1;
  jval *inst = jget(req, "instance");
  if (!inst || inst->t == J_NULL || (inst->t == J_STR && !strcmp(inst->str, "all"))) {
    otrl_message_disconnect_all_instances(p->us, &ops, p, p->account, p->protocol, to);
  } else {
    otrl_instag_t instance;
    if (parse_instance(req, &instance) < 0) return -1;
    ConnContext *c = find_context(p, to, instance);
    if (!c) return fail("no context for %s", to);
    otrl_message_disconnect(p->us, &ops, p, p->account, p->protocol, to, c->their_instance);
  }
  drain(a, p);
  return 0;
}

static int op_fingerprint(const jval *req, sbuf *a) {
  party *p;
  if (need_party(req, &p) < 0) return -1;
  char fp[OTRL_PRIVKEY_FPRINT_HUMAN_LEN];
  if (!otrl_privkey_fingerprint(p->us, fp, p->account, p->protocol)) return fail("no private key");
  sb_puts(a, ",\"own\":");
  sb_json_str(a, fp);
  const char *to = get_str(req, "to", NULL);
  if (to) {
    otrl_instag_t instance;
    if (parse_instance(req, &instance) < 0) return -1;
    ConnContext *c = find_context(p, to, instance);
    sb_puts(a, ",\"peer\":");
    if (c && c->active_fingerprint && c->active_fingerprint->fingerprint) {
      human_fp(c->active_fingerprint->fingerprint, fp);
      sb_json_str(a, fp);
    } else {
      sb_puts(a, "null");
    }
  }
  return 0;
}

static int op_state(const jval *req, sbuf *a) {
  party *p;
  const char *to = NULL;
  otrl_instag_t instance;
  if (need_party(req, &p) < 0 || need_str(req, "to", &to) < 0 || parse_instance(req, &instance) < 0) return -1;
  ConnContext *c = find_context(p, to, instance);
  sb_puts(a, ",\"context\":");
  if (c) write_context(a, c);
  else sb_puts(a, "null");
  return 0;
}

static int op_contexts(const jval *req, sbuf *a) {
  party *p;
  if (need_party(req, &p) < 0) return -1;
  sb_puts(a, ",\"contexts\":[");
  int first = 1;
  for (ConnContext *c = p->us->context_root; c; c = c->next) {
    if (!first) sb_putc(a, ',');
    first = 0;
    write_context(a, c);
  }
  sb_putc(a, ']');
  return 0;
}

static int op_instag(const jval *req, sbuf *a) {
  party *p;
  if (need_party(req, &p) < 0) return -1;
  OtrlInsTag *t = otrl_instag_find(p->us, p->account, p->protocol);
  if (!t) return fail("no instance tag");
  sb_printf(a, ",\"instag\":%u", t->instag);
  return 0;
}

static int op_symkey(const jval *req, sbuf *a) {
  party *p;
  ConnContext *c;
  if (encrypted_context(req, &p, &c) < 0) return -1;
  unsigned char key[OTRL_EXTRAKEY_BYTES];
  unsigned char *usedata = NULL;
  size_t usedatalen = 0;
  const char *hex = get_str(req, "usedata", "");
  if (!hex || unhex(hex, &usedata, &usedatalen) < 0) return fail("usedata: expected hex");
  gcry_error_t err =
      otrl_message_symkey(p->us, &ops, p, c, (unsigned int)get_int(req, "use", 0), usedata, usedatalen, key);
  free(usedata);
  if (err) return fail("otrl_message_symkey: %s", gcry_strerror(err));
  sb_puts(a, ",\"key\":");
  sb_hex(a, key, sizeof key);
  drain(a, p);
  return 0;
}

static int op_forget(const jval *req, sbuf *a) {
  party *p;
  if (need_party(req, &p) < 0) return -1;
  const char *to = get_str(req, "to", NULL);
  if (!to) {
    otrl_context_forget_all(p->us);
  } else {
    ConnContext *m = find_context(p, to, OTRL_INSTAG_MASTER);
    if (m) {
      /* otrl_context_forget refuses contexts that are not in plaintext, so force them first (as
       * otrl_context_forget_all does); forgetting a master context forgets its children too. */
      for (ConnContext *c = p->us->context_root; c; c = c->next)
        if (c->m_context == m) otrl_context_force_plaintext(c);
      if (otrl_context_forget(m)) return fail("otrl_context_forget refused to forget %s", to);
    }
  }
  drain(a, p);
  return 0;
}

static int op_clock(const jval *req, sbuf *a) {
  jval *set = jget(req, "set");
  if (set && set->t == J_NUM) fake_now = (time_t)set->num;
  fake_now += (time_t)get_int(req, "advance", 0);
  sb_printf(a, ",\"now\":%lld", (long long)fake_now);
  if (get_bool(req, "poll", 0)) {
    party *p;
    if (need_party(req, &p) < 0) return -1;
    otrl_message_poll(p->us, &ops, p);
    drain(a, p);
  }
  return 0;
}

static int op_generate_key(const jval *req, sbuf *a) {
  const char *account = NULL;
  if (need_str(req, "account", &account) < 0) return -1;
  const char *protocol = get_str(req, "protocol", "xmpp");
  char *text = generate_privkey_file(account, protocol ? protocol : "xmpp");
  if (!text) return -1;
  sb_puts(a, ",\"privkeyFile\":");
  sb_json_str(a, text);
  free(text);
  return 0;
}

static int op_close(const jval *req, sbuf *a) {
  (void)a;
  const char *name = get_str(req, "party", "default");
  party **pp = &parties;
  while (*pp && strcmp((*pp)->name, name)) pp = &(*pp)->next;
  if (!*pp) return fail("no party \"%s\"", name);
  party *p = *pp;
  *pp = p->next;
  free_party(p);
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Benchmarks: two in-process parties, messages routed in memory, timed inside the loop        */
/* ------------------------------------------------------------------------------------------ */

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static party *bench_party(const char *account, const char *key, unsigned int instag, OtrlPolicy policy) {
  party *p = new_party("bench", account, "xmpp");
  p->record_events = 0;
  p->policy = policy;
  if (load_privkey(p->us, account, "xmpp", key) < 0 || load_instag(p->us, account, "xmpp", instag) < 0) {
    free_party(p);
    return NULL;
  }
  return p;
}

/* Plaintexts delivered to the app during route() that equal bench_expected (the bench checks that every
 * message it timed was really decrypted). */
static const char *bench_expected = NULL;
static long bench_verified = 0;

/* Delivers everything in both outboxes until both are empty; returns the number of deliveries. */
static long route(party *a, party *b) {
  long n = 0;
  for (;;) {
    party *from = a->nout ? a : b->nout ? b : NULL;
    if (!from) return n;
    party *to = from == a ? b : a;
    outmsg *out = from->out;
    size_t nout = from->nout;
    from->out = NULL;
    from->nout = 0;
    for (size_t i = 0; i < nout; i++) {
      char *newmsg = NULL;
      OtrlTLV *tlvs = NULL;
      int ignore = otrl_message_receiving(to->us, &ops, to, to->account, to->protocol, from->account, out[i].message,
                                          &newmsg, &tlvs, NULL, NULL, NULL);
      if (!ignore && newmsg && bench_expected && !strcmp(newmsg, bench_expected)) bench_verified++;
      otrl_tlv_free(tlvs);
      otrl_message_free(newmsg);
      free(out[i].to);
      free(out[i].message);
      n++;
    }
    free(out);
  }
}

static int send_plain(party *from, party *to, const char *msg) {
  char *newmsg = NULL;
  gcry_error_t err = otrl_message_sending(from->us, &ops, from, from->account, from->protocol, to->account,
                                          OTRL_INSTAG_BEST, msg, NULL, &newmsg, OTRL_FRAGMENT_SEND_ALL, NULL, NULL, NULL);
  otrl_message_free(newmsg);
  if (err) return fail("otrl_message_sending: %s", gcry_strerror(err));
  return 0;
}

/* Returns the number of messages delivered, or -1. */
static long bench_ake_once(party *a, party *b) {
  a->gone_secure = b->gone_secure = 0;
  char *q = otrl_proto_default_query_msg(a->account, a->policy);
  push_out(a, b->account, q);
  free(q);
  long n = route(a, b);
  if (!a->gone_secure || !b->gone_secure) return fail("bench: the AKE did not complete");
  return n;
}

static int op_bench(const jval *req, sbuf *a, const char *which) {
  const char *keyA = NULL, *keyB = NULL;
  if (need_str(req, "keyA", &keyA) < 0 || need_str(req, "keyB", &keyB) < 0) return -1;
  long n = get_int(req, "n", 10);
  long size = get_int(req, "size", 100);
  long version = get_int(req, "version", 3);
  if (n < 1) return fail("n must be at least 1");
  if (size < 1 || size > 65000) return fail("size must be 1..65000");
  OtrlPolicy pol = version == 2 ? OTRL_POLICY_ALLOW_V2 : OTRL_POLICY_ALLOW_V2 | OTRL_POLICY_ALLOW_V3;
  party *A = bench_party("alice@bench.example", keyA, 0x1000aaaa, pol);
  party *B = bench_party("bob@bench.example", keyB, 0x1000bbbb, pol);
  int rc = -1;
  char *msg = NULL;
  if (!A || !B) goto out;
  msg = xmalloc((size_t)size + 1);
  for (long i = 0; i < size; i++) msg[i] = (char)('a' + i % 26);
  msg[size] = '\0';

  double t0 = 0, t1 = 0;
  long deliveries = 0;
  if (!strcmp(which, "ake")) {
    /* One full AKE per iteration, from the query message to both sides encrypted; the contexts
     * are forgotten between iterations so every AKE starts from nothing. */
    t0 = now_us();
    for (long i = 0; i < n; i++) {
      long d = bench_ake_once(A, B);
      if (d < 0) goto out;
      deliveries += d;
      otrl_context_forget_all(A->us);
      otrl_context_forget_all(B->us);
    }
    t1 = now_us();
  } else {
    if (bench_ake_once(A, B) < 0) goto out;
    bench_expected = msg;
    bench_verified = 0;
    if (!strcmp(which, "data")) {
      /* n messages A -> B: encrypt, then decrypt. */
      t0 = now_us();
      for (long i = 0; i < n; i++) {
        if (send_plain(A, B, msg) < 0) goto out;
        deliveries += route(A, B);
      }
      t1 = now_us();
      if (bench_verified != n) {
        fail("bench: %ld of %ld messages were decrypted", bench_verified, n);
        goto out;
      }
    } else if (!strcmp(which, "pingpong")) {
      /* n messages alternating A -> B, B -> A: every reply acknowledges the peer's newest DH key,
       * so each message rotates keys (new DH key pair and session keys). */
      t0 = now_us();
      for (long i = 0; i < n; i++) {
        party *from = i % 2 ? B : A, *to = i % 2 ? A : B;
        if (send_plain(from, to, msg) < 0) goto out;
        deliveries += route(A, B);
      }
      t1 = now_us();
      if (bench_verified != n) {
        fail("bench: %ld of %ld messages were decrypted", bench_verified, n);
        goto out;
      }
    } else if (!strcmp(which, "smp")) {
      /* n full SMP runs (A starts with a secret, B answers with the same one), to success. */
      t0 = now_us();
      for (long i = 0; i < n; i++) {
        ConnContext *ca = find_context(A, B->account, OTRL_INSTAG_BEST);
        A->smp_done = B->smp_done = B->smp_asked = 0;
        otrl_message_initiate_smp(A->us, &ops, A, ca, (const unsigned char *)"bench secret", 12);
        deliveries += route(A, B);
        if (!B->smp_asked) {
          fail("bench: SMP1 did not arrive");
          goto out;
        }
        ConnContext *cb = find_context(B, A->account, OTRL_INSTAG_BEST);
        otrl_message_respond_smp(B->us, &ops, B, cb, (const unsigned char *)"bench secret", 12);
        deliveries += route(A, B);
        if (!A->smp_done || !B->smp_done || ca->smstate->sm_prog_state != OTRL_SMP_PROG_SUCCEEDED) {
          fail("bench: SMP did not succeed");
          goto out;
        }
      }
      t1 = now_us();
    } else {
      fail("unknown bench");
      goto out;
    }
  }
  sb_printf(a, ",\"n\":%ld,\"totalUs\":%.1f,\"usPerOp\":%.3f,\"deliveries\":%ld,\"version\":%ld,\"size\":%ld", n,
            t1 - t0, (t1 - t0) / (double)n, deliveries, version, size);
  rc = 0;
out:
  bench_expected = NULL;
  free(msg);
  if (A) free_party(A);
  if (B) free_party(B);
  return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Main loop                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static int dispatch(const char *op, const jval *req, sbuf *a) {
  if (!strcmp(op, "init")) return op_init(req, a);
  if (!strcmp(op, "configure")) return op_configure(req, a);
  if (!strcmp(op, "send")) return op_send(req, a);
  if (!strcmp(op, "receive")) return op_receive(req, a);
  if (!strcmp(op, "start_ake") || !strcmp(op, "query")) return op_query(req, a);
  if (!strcmp(op, "smp_start")) return op_smp(req, a, "start");
  if (!strcmp(op, "smp_respond")) return op_smp(req, a, "respond");
  if (!strcmp(op, "smp_abort")) return op_smp(req, a, "abort");
  if (!strcmp(op, "end")) return op_end(req, a);
  if (!strcmp(op, "fingerprint")) return op_fingerprint(req, a);
  if (!strcmp(op, "state")) return op_state(req, a);
  if (!strcmp(op, "contexts")) return op_contexts(req, a);
  if (!strcmp(op, "instag")) return op_instag(req, a);
  if (!strcmp(op, "symkey")) return op_symkey(req, a);
  if (!strcmp(op, "forget")) return op_forget(req, a);
  if (!strcmp(op, "clock")) return op_clock(req, a);
  if (!strcmp(op, "generate_key")) return op_generate_key(req, a);
  if (!strcmp(op, "close")) return op_close(req, a);
  if (!strcmp(op, "bench_ake")) return op_bench(req, a, "ake");
  if (!strcmp(op, "bench_data")) return op_bench(req, a, "data");
  if (!strcmp(op, "bench_pingpong")) return op_bench(req, a, "pingpong");
  if (!strcmp(op, "bench_smp")) return op_bench(req, a, "smp");
  if (!strcmp(op, "version")) {
    sb_puts(a, ",\"libotr\":");
    sb_json_str(a, otrl_version());
    sb_puts(a, ",\"libgcrypt\":");
    sb_json_str(a, gcry_check_version(NULL));
    return 0;
  }
  return fail("unknown op \"%s\"", op);
}

int main(void) {
  OTRL_INIT;
  setvbuf(stdout, NULL, _IOFBF, 1 << 16);
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, stdin)) >= 0) {
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    if (n == 0) continue;
    sbuf a = {0};
    const char *perr = NULL;
    jval *req = jparse(line, &perr);
    jval *id = req ? jget(req, "id") : NULL;
    sbuf head = {0};
    sb_puts(&head, "{");
    if (id && id->t == J_NUM) sb_printf(&head, "\"id\":%.0f,", id->num);
    int quit = 0;
    if (!req || req->t != J_OBJ) {
      sb_puts(&head, "\"ok\":false,\"error\":");
      sb_json_str(&head, perr ? perr : "request is not an object");
    } else {
      const char *op = get_str(req, "op", NULL);
      if (!op) op = get_str(req, "cmd", "");
      req_error[0] = '\0';
      if (op && !strcmp(op, "quit")) {
        quit = 1;
        sb_puts(&head, "\"ok\":true");
      } else if (dispatch(op ? op : "", req, &a) == 0) {
        sb_puts(&head, "\"ok\":true");
        if (a.s) sb_puts(&head, a.s);
      } else {
        sb_puts(&head, "\"ok\":false,\"error\":");
        sb_json_str(&head, req_error[0] ? req_error : "failed");
      }
    }
    sb_puts(&head, "}\n");
    fwrite(head.s, 1, head.len, stdout);
    fflush(stdout);
    sb_free(&head);
    sb_free(&a);
    jfree(req);
    if (quit) break;
  }
  free(line);
  while (parties) {
    party *p = parties;
    parties = p->next;
    free_party(p);
  }
  return 0;
}
