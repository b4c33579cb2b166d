/*
 * hasher.c - Tabula example function (WASI *command* module).
 *
 * Input  (stdin):  {"text": "<string>", "rounds": <integer, optional, 1..1000000>}
 * Output (stdout): {"sha256":"<64 hex>","length":<bytes>,"rounds":<n>}
 * Errors (stdout): {"error":"..."}
 * Log    (stderr): "hasher: hashed N bytes, R rounds"
 *
 * Round 1 hashes the UTF-8 bytes of "text"; every further round hashes the
 * previous 32-byte digest. Large "rounds" values make the function CPU-bound,
 * which is useful for exercising timeouts and metering.
 *
 * Everything (JSON parsing, SHA-256) is self-contained: the module only needs
 * wasi-libc and imports nothing but wasi_snapshot_preview1.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROUNDS 1000000L
#define MAX_DEPTH 128 /* nesting limit for values we skip over (stack safety) */

/* ------------------------------------------------------------------------- */
/* SHA-256 (FIPS 180-4)                                                      */
/* ------------------------------------------------------------------------- */

typedef struct {
    uint32_t state[8];
    uint64_t total_len; /* bytes processed so far */
    uint8_t block[64];
    size_t block_len;
} Sha256;

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

static void sha256_init(Sha256 *s) {
    static const uint32_t H0[8] = {
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    };
    memcpy(s->state, H0, sizeof H0);
    s->total_len = 0;
    s->block_len = 0;
}

static void sha256_compress(uint32_t st[8], const uint8_t blk[64]) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++) {
        /* Message words are big-endian regardless of host byte order. */
        w[i] = (uint32_t)blk[4 * i] << 24 | (uint32_t)blk[4 * i + 1] << 16 |
               (uint32_t)blk[4 * i + 2] << 8 | (uint32_t)blk[4 * i + 3];
    }
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }

    uint32_t a = st[0], b = st[1], c = st[2], d = st[3];
    uint32_t e = st[4], f = st[5], g = st[6], h = st[7];
    for (int i = 0; i < 64; i++) {
        uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = h + S1 + ch + K256[i] + w[i];
        uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = S0 + maj;
        h = g; g = f; f = e; e = d + t1;
        d = c; c = b; b = a; a = t1 + t2;
    }
    st[0] += a; st[1] += b; st[2] += c; st[3] += d;
    st[4] += e; st[5] += f; st[6] += g; st[7] += h;
}

static void sha256_update(Sha256 *s, const uint8_t *data, size_t len) {
    s->total_len += len;
    while (len > 0) {
        size_t n = 64 - s->block_len;
        if (n > len) n = len;
        memcpy(s->block + s->block_len, data, n);
        s->block_len += n;
        data += n;
        len -= n;
        if (s->block_len == 64) {
            sha256_compress(s->state, s->block);
            s->block_len = 0;
        }
    }
}

static void sha256_final(Sha256 *s, uint8_t out[32]) {
    uint64_t bit_len = s->total_len * 8;
    /* Padding: 0x80, zeros up to 56 mod 64, then the 64-bit big-endian length. */
    s->block[s->block_len++] = 0x80;
    if (s->block_len > 56) {
        memset(s->block + s->block_len, 0, 64 - s->block_len);
        sha256_compress(s->state, s->block);
        s->block_len = 0;
    }
    memset(s->block + s->block_len, 0, 56 - s->block_len);
    for (int i = 0; i < 8; i++) s->block[56 + i] = (uint8_t)(bit_len >> (56 - 8 * i));
    sha256_compress(s->state, s->block);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(s->state[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s->state[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->state[i] >> 8);
        out[4 * i + 3] = (uint8_t)s->state[i];
    }
}

static void sha256(const uint8_t *data, size_t len, uint8_t out[32]) {
    Sha256 s;
    sha256_init(&s);
    sha256_update(&s, data, len);
    sha256_final(&s, out);
}

/* ------------------------------------------------------------------------- */
/* Growable byte buffer                                                      */
/* ------------------------------------------------------------------------- */

typedef struct {
    char *data;
    size_t len, cap;
} Buf;

static void buf_reserve(Buf *b, size_t extra) {
    if (b->len + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        /* Out of memory: nothing sensible to return as JSON, so fail hard. */
        fputs("hasher: out of memory\n", stderr);
        exit(1);
    }
    b->data = p;
    b->cap = cap;
}

static void buf_push(Buf *b, char c) {
    buf_reserve(b, 1);
    b->data[b->len++] = c;
}

/* Reads all of stdin; the result is NUL-terminated (the NUL is not counted). */
static Buf read_stdin(void) {
    Buf b = {0};
    for (;;) {
        buf_reserve(&b, 4096);
        size_t n = fread(b.data + b.len, 1, b.cap - b.len - 1, stdin);
        b.len += n;
        if (n == 0) break;
    }
    b.data[b.len] = '\0';
    return b;
}

/* ------------------------------------------------------------------------- */
/* Minimal JSON reader                                                       */
/*                                                                           */
/* We only need two top-level fields, so instead of building a tree we walk  */
/* the document once, fully validating it, and decode just what we need.     */
/* ------------------------------------------------------------------------- */

typedef struct {
    char *start, *p, *end;
    char err[160]; /* first error; non-empty means parsing failed */
} Parser;

static int fail(Parser *ps, const char *what) {
    if (ps->err[0]) return 0; /* keep the first (innermost) error */
    if (ps->p >= ps->end) {
        snprintf(ps->err, sizeof ps->err, "%s at end of input", what);
        return 0;
    }
    unsigned char c = (unsigned char)*ps->p;
    size_t off = (size_t)(ps->p - ps->start);
    /* Echo printable ASCII; show anything else as a byte value. */
    if (c >= 0x20 && c < 0x7f)
        snprintf(ps->err, sizeof ps->err, "%s: unexpected '%c' at offset %zu", what, c, off);
    else
        snprintf(ps->err, sizeof ps->err, "%s: unexpected byte 0x%02x at offset %zu", what, c, off);
    return 0;
}

static void skip_ws(Parser *ps) {
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int hex4(Parser *ps, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        if (ps->p >= ps->end) return fail(ps, "truncated unicode escape");
        char c = *ps->p;
        unsigned d;
        if (c >= '0' && c <= '9') d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') d = (unsigned)(c - 'A' + 10);
        else return fail(ps, "invalid unicode escape");
        v = v * 16 + d;
        ps->p++;
    }
    *out = v;
    return 1;
}

static void put_utf8(Buf *b, unsigned cp) {
    if (cp < 0x80) {
        buf_push(b, (char)cp);
    } else if (cp < 0x800) {
        buf_push(b, (char)(0xc0 | (cp >> 6)));
        buf_push(b, (char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        buf_push(b, (char)(0xe0 | (cp >> 12)));
        buf_push(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
        buf_push(b, (char)(0x80 | (cp & 0x3f)));
    } else {
        buf_push(b, (char)(0xf0 | (cp >> 18)));
        buf_push(b, (char)(0x80 | ((cp >> 12) & 0x3f)));
        buf_push(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
        buf_push(b, (char)(0x80 | (cp & 0x3f)));
    }
}

/*
 * Length of the well-formed UTF-8 sequence at p (1..4), or 0 if it is not
 * well-formed (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
 * JSON text must be UTF-8, and checking here keeps invalid bytes out of results.
 */
static size_t utf8_len(const unsigned char *p, const unsigned char *end) {
    size_t avail = (size_t)(end - p);
    unsigned char c = p[0];
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    size_t n;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;      /* overlong */
        else if (c == 0xed) hi = 0x9f; /* UTF-16 surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;      /* overlong */
        else if (c == 0xf4) hi = 0x8f; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (avail < n || p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    return n;
}

/*
 * Parses a string starting at the opening quote. When `out` is non-NULL the
 * decoded UTF-8 bytes are appended to it; otherwise the string is only
 * validated. Raw (non-escaped) characters must be well-formed UTF-8.
 */
static int parse_string(Parser *ps, Buf *out) {
    ps->p++; /* opening quote */
    for (;;) {
        if (ps->p >= ps->end) return fail(ps, "unterminated string");
        unsigned char c = (unsigned char)*ps->p;
        if (c == '"') {
            ps->p++;
            return 1;
        }
        if (c < 0x20) return fail(ps, "control character in string");
        if (c != '\\') {
            size_t n = utf8_len((const unsigned char *)ps->p, (const unsigned char *)ps->end);
            if (n == 0) return fail(ps, "invalid UTF-8 in string");
            if (out)
                for (size_t i = 0; i < n; i++) buf_push(out, ps->p[i]);
            ps->p += n;
            continue;
        }
        ps->p++; /* backslash */
        if (ps->p >= ps->end) return fail(ps, "unterminated string");
        char e = *ps->p++;
        char simple = 0;
        switch (e) {
        case '"': simple = '"'; break;
        case '\\': simple = '\\'; break;
        case '/': simple = '/'; break;
        case 'b': simple = '\b'; break;
        case 'f': simple = '\f'; break;
        case 'n': simple = '\n'; break;
        case 'r': simple = '\r'; break;
        case 't': simple = '\t'; break;
        case 'u': {
            unsigned cp;
            if (!hex4(ps, &cp)) return 0;
            if (cp >= 0xdc00 && cp <= 0xdfff) return fail(ps, "unpaired UTF-16 low surrogate");
            if (cp >= 0xd800 && cp <= 0xdbff) {
                /* A high surrogate must be followed by an escaped low one. */
                unsigned lo;
                if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
                    return fail(ps, "unpaired UTF-16 high surrogate");
                ps->p += 2;
                if (!hex4(ps, &lo)) return 0;
                if (lo < 0xdc00 || lo > 0xdfff) return fail(ps, "unpaired UTF-16 high surrogate");
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (out) put_utf8(out, cp);
            continue;
        }
        default:
            ps->p--; /* point the error at the bad escape letter */
            return fail(ps, "invalid escape in string");
        }
        if (out) buf_push(out, simple);
    }
}

/* Validates a number per the JSON grammar and converts it with strtod. */
static int parse_number(Parser *ps, double *out) {
    char *s = ps->p;
    if (ps->p < ps->end && *ps->p == '-') ps->p++;
    if (ps->p < ps->end && *ps->p == '0') {
        ps->p++;
    } else if (ps->p < ps->end && *ps->p >= '1' && *ps->p <= '9') {
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
    } else {
        return fail(ps, "invalid number");
    }
    if (ps->p < ps->end && *ps->p == '.') {
        ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') return fail(ps, "invalid number");
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-')) ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') return fail(ps, "invalid number");
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
    }
    /* strtod accepts more than JSON does (hex, inf, ...), so it only ever sees
     * the validated span: terminate it temporarily. The buffer is ours. */
    char saved = *ps->p;
    *ps->p = '\0';
    *out = strtod(s, NULL);
    *ps->p = saved;
    return 1;
}

static int match_literal(Parser *ps, const char *lit) {
    size_t n = strlen(lit);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, lit, n) != 0)
        return fail(ps, "invalid literal");
    ps->p += n;
    return 1;
}

/* Validates (and discards) any JSON value. */
static int skip_value(Parser *ps, int depth) {
    if (depth > MAX_DEPTH) {
        snprintf(ps->err, sizeof ps->err, "nesting too deep at offset %zu", (size_t)(ps->p - ps->start));
        return 0;
    }
    skip_ws(ps);
    if (ps->p >= ps->end) return fail(ps, "expected a value");
    double ignored;
    switch (*ps->p) {
    case '"': return parse_string(ps, NULL);
    case 't': return match_literal(ps, "true");
    case 'f': return match_literal(ps, "false");
    case 'n': return match_literal(ps, "null");
    case '[':
        ps->p++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ']') { ps->p++; return 1; }
        for (;;) {
            if (!skip_value(ps, depth + 1)) return 0;
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
            if (ps->p < ps->end && *ps->p == ']') { ps->p++; return 1; }
            return fail(ps, "expected ',' or ']' in array");
        }
    case '{':
        ps->p++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == '}') { ps->p++; return 1; }
        for (;;) {
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != '"') return fail(ps, "expected a string key");
            if (!parse_string(ps, NULL)) return 0;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') return fail(ps, "expected ':' after key");
            ps->p++;
            if (!skip_value(ps, depth + 1)) return 0;
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
            if (ps->p < ps->end && *ps->p == '}') { ps->p++; return 1; }
            return fail(ps, "expected ',' or '}' in object");
        }
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) return parse_number(ps, &ignored);
        return fail(ps, "expected a value");
    }
}

/* What we extract from the top-level object. Duplicate keys: last one wins. */
typedef enum { FIELD_ABSENT, FIELD_OK, FIELD_WRONG_TYPE } FieldState;

typedef struct {
    FieldState text_state;
    Buf text;
    FieldState rounds_state;
    double rounds;
} Params;

static int key_is(const Buf *key, const char *name) {
    return key->len == strlen(name) && memcmp(key->data, name, key->len) == 0;
}

static int parse_params(Parser *ps, Params *out) {
    skip_ws(ps);
    if (ps->p >= ps->end) {
        snprintf(ps->err, sizeof ps->err, "empty input");
        return 0;
    }
    if (*ps->p != '{') {
        /* Validate anyway so the message says "not an object" only for valid JSON. */
        if (!skip_value(ps, 0)) return 0;
        snprintf(ps->err, sizeof ps->err, "top-level value is not an object");
        return 0;
    }
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
    } else {
        Buf key = {0};
        for (;;) {
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != '"') { free(key.data); return fail(ps, "expected a string key"); }
            key.len = 0;
            /* Keys are decoded too, so "te\u0078t" is the same key as "text". */
            if (!parse_string(ps, &key)) { free(key.data); return 0; }
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') { free(key.data); return fail(ps, "expected ':' after key"); }
            ps->p++;
            skip_ws(ps);
            int ok;
            if (key_is(&key, "text") && ps->p < ps->end && *ps->p == '"') {
                out->text.len = 0;
                ok = parse_string(ps, &out->text);
                out->text_state = FIELD_OK;
            } else if (key_is(&key, "rounds") && ps->p < ps->end &&
                       (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))) {
                ok = parse_number(ps, &out->rounds);
                out->rounds_state = FIELD_OK;
            } else {
                if (key_is(&key, "text")) out->text_state = FIELD_WRONG_TYPE;
                if (key_is(&key, "rounds")) out->rounds_state = FIELD_WRONG_TYPE;
                ok = skip_value(ps, 1);
            }
            if (!ok) { free(key.data); return 0; }
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
            if (ps->p < ps->end && *ps->p == '}') { ps->p++; break; }
            free(key.data);
            return fail(ps, "expected ',' or '}' in object");
        }
        free(key.data);
    }
    skip_ws(ps);
    if (ps->p < ps->end) return fail(ps, "trailing data after object");
    return 1;
}

/* ------------------------------------------------------------------------- */

/* Prints {"error":"<message>"}. Messages are our own ASCII text; quotes and
 * backslashes are escaped anyway so the result is always valid JSON. */
static void print_error(const char *prefix, const char *message) {
    char out[2 * 256 + 1]; /* worst case: every byte escaped */
    size_t n = 0;
    for (int part = 0; part < 2; part++) {
        for (const char *p = part ? message : prefix; *p && n + 2 < sizeof out; p++) {
            if (*p == '"' || *p == '\\') out[n++] = '\\';
            out[n++] = *p;
        }
    }
    out[n] = '\0';
    printf("{\"error\":\"%s\"}\n", out);
}

/* Hashes the parameters and prints the result (or an error) to stdout. */
static void run(Params *params) {
    if (params->text_state != FIELD_OK) {
        print_error("", "parameter 'text' (a string) is required");
        fputs("hasher: missing parameter 'text'\n", stderr);
        return;
    }

    long rounds = 1;
    if (params->rounds_state != FIELD_ABSENT) {
        double r = params->rounds;
        /* Accept any JSON number with an integral value in range (e.g. 1e3).
         * The range check comes first so the cast to long is always defined. */
        if (params->rounds_state != FIELD_OK || !(r >= 1 && r <= MAX_ROUNDS) || r != (double)(long)r) {
            print_error("", "parameter 'rounds' must be an integer between 1 and 1000000");
            fputs("hasher: invalid parameter 'rounds'\n", stderr);
            return;
        }
        rounds = (long)r;
    }

    /* An empty string never allocates, so data may be NULL. */
    const uint8_t *text = (const uint8_t *)(params->text.data ? params->text.data : "");
    uint8_t digest[32];
    sha256(text, params->text.len, digest);
    for (long i = 1; i < rounds; i++) sha256(digest, sizeof digest, digest);

    char hex[65];
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", digest[i]);

    printf("{\"sha256\":\"%s\",\"length\":%zu,\"rounds\":%ld}\n", hex, params->text.len, rounds);
    fprintf(stderr, "hasher: hashed %zu bytes, %ld rounds\n", params->text.len, rounds);
}

int main(void) {
    Buf input = read_stdin();
    Parser ps = {.start = input.data, .p = input.data, .end = input.data + input.len};
    Params params = {0};

    if (parse_params(&ps, &params)) {
        run(&params);
    } else {
        print_error("input is not a JSON object: ", ps.err);
        fprintf(stderr, "hasher: rejected input (%s)\n", ps.err);
    }

    free(params.text.data);
    free(input.data);
    /* Errors are reported in the JSON result, not through the exit status. */
    return 0;
}
