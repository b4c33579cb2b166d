/*
 * jointstats.c - Tabula example function for multi-party jobs (WASI *command* module).
 *
 * A job runs one function once over inputs sealed by several parties. The function gets
 * them all as one JSON object:
 *
 * Input  (stdin):  {"job": "<job id>", "inputs": {"<slot>": <that party's input>, ...}}
 *                  where each party's input is {"values": [<numbers>...]}
 * Output (stdout): {"parties":<slots>,"count":<values>,"sum":<sum>,"mean":<sum/count>,
 *                   "min":<min>,"max":<max>,"perParty":{"<slot>":<its number of values>,...}}
 *                  mean, min and max are null when there are no values at all.
 * Errors (stdout): {"error":"..."}, naming the slot and what is wrong with its input
 * Log    (stderr): "jointstats: P parties, N values"
 *
 * The statistic is joint: every party learns the totals, nobody learns another party's
 * values. So nothing this function writes - result, error or log - contains an input value:
 * errors say which slot and which position is wrong and what kind of value was found, never
 * its text, and JSON syntax errors give an offset but not the offending byte.
 *
 * "job" and any other top-level member, and any member of a party's input other than
 * "values", are ignored, so the platform and parties may add fields later. A slot or a
 * "values" array that appears twice is an error rather than "last one wins": in a joint
 * computation silently dropping or double-counting a party's data is worse than refusing.
 *
 * Everything is self-contained: the module needs wasi-libc only and imports nothing but
 * wasi_snapshot_preview1. Input is untrusted: the reader never reads past it, checks UTF-8,
 * and refuses nesting deeper than MAX_DEPTH containers so hostile input cannot exhaust the
 * (small, fixed) wasm stack through recursion.
 */

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Containers (objects and arrays) that may enclose one another; the parameters themselves
 * use four levels (top object, inputs, party object, values). */
#define MAX_DEPTH 64

/* How much of a slot name an error message repeats. */
#define MAX_NAME_IN_MESSAGE 64

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
        fputs("jointstats: out of memory\n", stderr);
        exit(1);
    }
    b->data = p;
    b->cap = cap;
}

static void buf_put(Buf *b, const char *s, size_t n) {
    buf_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static void buf_putc(Buf *b, char c) { buf_put(b, &c, 1); }

static void buf_puts(Buf *b, const char *s) { buf_put(b, s, strlen(s)); }

/*
 * Reads all of stdin. One spare byte always follows the data (not counted in len):
 * parse_number briefly writes a NUL there when a number ends the input.
 */
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
/* JSON reader                                                               */
/*                                                                           */
/* No tree is built: one pass walks the document, validating all of it, and  */
/* the functions for the parts we need (inputs, slots, values) accumulate    */
/* the statistics as they go. A syntax error stops the pass; a problem with  */
/* the meaning (a string where a number belongs) is remembered, the first    */
/* one only, and the pass goes on so that the syntax of the rest is still    */
/* checked: invalid JSON is reported as such wherever the problem is.        */
/* ------------------------------------------------------------------------- */

typedef struct {
    char *start, *p, *end;
    char syntax[128]; /* first syntax error; non-empty stops parsing */
    char meaning[256]; /* first error in the parameters' meaning */
} Parser;

/* Records a syntax error at the current position and returns 0 (to be returned on). */
static int fail(Parser *ps, const char *what) {
    if (ps->syntax[0]) return 0; /* keep the first (innermost) error */
    if (ps->p >= ps->end)
        snprintf(ps->syntax, sizeof ps->syntax, "%s at end of input", what);
    else
        snprintf(ps->syntax, sizeof ps->syntax, "%s at offset %zu", what, (size_t)(ps->p - ps->start));
    return 0;
}

/* Records an error in the parameters' meaning unless one is recorded already. */
static void complain(Parser *ps, const char *fmt, ...) {
    if (ps->meaning[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->meaning, sizeof ps->meaning, fmt, ap);
    va_end(ap);
}

static int at(const Parser *ps, char c) { return ps->p < ps->end && *ps->p == c; }

static void skip_ws(Parser *ps) {
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

/* What kind of value starts here, for messages ("a string, not a number"). */
static const char *kind_at(const Parser *ps) {
    if (ps->p >= ps->end) return "nothing";
    switch (*ps->p) {
    case '"': return "a string";
    case '{': return "an object";
    case '[': return "an array";
    case 't':
    case 'f': return "a boolean";
    case 'n': return "null";
    default: return "a number";
    }
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
    char s[4];
    size_t n;
    if (cp < 0x80) {
        s[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        s[0] = (char)(0xc0 | (cp >> 6));
        s[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        s[0] = (char)(0xe0 | (cp >> 12));
        s[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        s[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        s[0] = (char)(0xf0 | (cp >> 18));
        s[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        s[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        s[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    buf_put(b, s, n);
}

/*
 * Length of the well-formed UTF-8 sequence at p (1..4), or 0 if it is not
 * well-formed (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
 * JSON text must be UTF-8, and checking here keeps invalid bytes out of results
 * (slot names are echoed in "perParty").
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
 * decoded UTF-8 bytes are appended to it (so "valu\u0065s" is the key "values");
 * otherwise the string is only validated.
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
            if (out) buf_put(out, ps->p, n);
            ps->p += n;
            continue;
        }
        ps->p++; /* backslash */
        if (ps->p >= ps->end) return fail(ps, "unterminated string");
        char e = *ps->p++;
        char simple;
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
        if (out) buf_putc(out, simple);
    }
}

static int is_digit(const Parser *ps) { return ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9'; }

/*
 * Validates a number per the JSON grammar and, when `out` is non-NULL, converts
 * it with strtod. A value beyond the range of a double converts to +-infinity,
 * which the caller refuses.
 */
static int parse_number(Parser *ps, double *out) {
    char *s = ps->p;
    if (at(ps, '-')) ps->p++;
    if (at(ps, '0')) {
        ps->p++;
    } else if (is_digit(ps)) {
        while (is_digit(ps)) ps->p++;
    } else {
        return fail(ps, "invalid number");
    }
    if (at(ps, '.')) {
        ps->p++;
        if (!is_digit(ps)) return fail(ps, "invalid number");
        while (is_digit(ps)) ps->p++;
    }
    if (at(ps, 'e') || at(ps, 'E')) {
        ps->p++;
        if (at(ps, '+') || at(ps, '-')) ps->p++;
        if (!is_digit(ps)) return fail(ps, "invalid number");
        while (is_digit(ps)) ps->p++;
    }
    if (!out) return 1;
    /* strtod accepts more than JSON does (hex, inf, nan, ...), so it only ever
     * sees the validated span: terminate it temporarily. The buffer is ours and
     * has a spare byte after the end of the input (read_stdin). */
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

/*
 * Opens a container at depth `depth` (1 for the top-level object): consumes the
 * bracket. Refusing depth > MAX_DEPTH bounds the recursion of skip_value.
 */
static int open_container(Parser *ps, int depth) {
    if (depth > MAX_DEPTH) return fail(ps, "nesting deeper than 64 levels");
    ps->p++;
    skip_ws(ps);
    return 1;
}

/*
 * Walks the members of the object at ps->p (which must be '{'), calling
 * member(ps, key, depth, ctx) with ps->p at each value; the callback must consume
 * the value. Keys are decoded into `key`, which the caller owns.
 */
typedef int (*MemberFn)(Parser *ps, const Buf *key, int depth, void *ctx);

static int walk_object(Parser *ps, int depth, Buf *key, MemberFn member, void *ctx) {
    if (!open_container(ps, depth)) return 0;
    if (at(ps, '}')) { ps->p++; return 1; }
    for (;;) {
        skip_ws(ps);
        if (!at(ps, '"')) return fail(ps, "expected a string key");
        key->len = 0;
        if (!parse_string(ps, key)) return 0;
        skip_ws(ps);
        if (!at(ps, ':')) return fail(ps, "expected ':' after key");
        ps->p++;
        skip_ws(ps);
        if (ps->p >= ps->end) return fail(ps, "expected a value");
        if (!member(ps, key, depth, ctx)) return 0;
        skip_ws(ps);
        if (at(ps, ',')) { ps->p++; continue; }
        if (at(ps, '}')) { ps->p++; return 1; }
        return fail(ps, "expected ',' or '}' in object");
    }
}

/* Validates (and discards) any JSON value; `depth` counts the containers around it. */
static int skip_value(Parser *ps, int depth) {
    skip_ws(ps);
    if (ps->p >= ps->end) return fail(ps, "expected a value");
    switch (*ps->p) {
    case '"': return parse_string(ps, NULL);
    case 't': return match_literal(ps, "true");
    case 'f': return match_literal(ps, "false");
    case 'n': return match_literal(ps, "null");
    case '[':
        if (!open_container(ps, depth + 1)) return 0;
        if (at(ps, ']')) { ps->p++; return 1; }
        for (;;) {
            if (!skip_value(ps, depth + 1)) return 0;
            skip_ws(ps);
            if (at(ps, ',')) { ps->p++; continue; }
            if (at(ps, ']')) { ps->p++; return 1; }
            return fail(ps, "expected ',' or ']' in array");
        }
    case '{': {
        if (!open_container(ps, depth + 1)) return 0;
        if (at(ps, '}')) { ps->p++; return 1; }
        for (;;) {
            skip_ws(ps);
            if (!at(ps, '"')) return fail(ps, "expected a string key");
            if (!parse_string(ps, NULL)) return 0;
            skip_ws(ps);
            if (!at(ps, ':')) return fail(ps, "expected ':' after key");
            ps->p++;
            if (!skip_value(ps, depth + 1)) return 0;
            skip_ws(ps);
            if (at(ps, ',')) { ps->p++; continue; }
            if (at(ps, '}')) { ps->p++; return 1; }
            return fail(ps, "expected ',' or '}' in object");
        }
    }
    default:
        if (*ps->p == '-' || is_digit(ps)) return parse_number(ps, NULL);
        return fail(ps, "expected a value");
    }
}

static int key_is(const Buf *key, const char *name) {
    return key->len == strlen(name) && memcmp(key->data, name, key->len) == 0;
}

/* ------------------------------------------------------------------------- */
/* The statistic                                                             */
/* ------------------------------------------------------------------------- */

typedef struct {
    Buf name;      /* decoded slot name */
    size_t count;  /* its number of values */
    int values_seen;
} Slot;

typedef struct {
    Slot *slots;
    size_t nslots, cap;
    int inputs_seen;
    size_t count;
    /* Neumaier's compensated sum: with thousands of values of mixed magnitude a
     * plain running sum loses low digits, and how many would depend on the order
     * of the slots; the compensation keeps the total close to exact. */
    double sum, compensation;
    double min, max;
    Buf key; /* scratch for the keys of party objects */
} Job;

/*
 * How many bytes of the slot's name an error message repeats: at most
 * MAX_NAME_IN_MESSAGE, cut at a character boundary so the message stays UTF-8.
 * (A name holding "\u0000" stops early in %.*s, which is harmless in a message.)
 */
static int name_len_for_message(const Slot *slot) {
    size_t n = slot->name.len;
    if (n > MAX_NAME_IN_MESSAGE) {
        n = MAX_NAME_IN_MESSAGE;
        while (n > 0 && ((unsigned char)slot->name.data[n] & 0xc0) == 0x80) n--;
    }
    return (int)n;
}

#define SLOT_FMT "slot '%.*s%s'"
#define SLOT_ARGS(s) name_len_for_message(s), (s)->name.data ? (s)->name.data : "", \
                     (size_t)name_len_for_message(s) < (s)->name.len ? "..." : ""

static void add_value(Job *job, double x) {
    double t = job->sum + x;
    if (fabs(job->sum) >= fabs(x))
        job->compensation += (job->sum - t) + x;
    else
        job->compensation += (x - t) + job->sum;
    job->sum = t;
    if (job->count == 0 || x < job->min) job->min = x;
    if (job->count == 0 || x > job->max) job->max = x;
    job->count++;
}

/* Parses one party's "values" array (ps->p at '['), adding its numbers. */
static int parse_values(Parser *ps, int depth, Job *job, Slot *slot) {
    if (!open_container(ps, depth + 1)) return 0;
    if (at(ps, ']')) { ps->p++; return 1; }
    for (size_t i = 0;; i++) {
        skip_ws(ps);
        if (ps->p < ps->end && (*ps->p == '-' || is_digit(ps))) {
            double x;
            if (!parse_number(ps, &x)) return 0;
            if (!isfinite(x))
                complain(ps, SLOT_FMT ": values[%zu] is too large for a double", SLOT_ARGS(slot), i);
            else
                add_value(job, x);
            slot->count++;
        } else {
            /* Say what kind of value it is, never what it is. */
            complain(ps, SLOT_FMT ": values[%zu] is %s, not a number", SLOT_ARGS(slot), i, kind_at(ps));
            if (!skip_value(ps, depth + 1)) return 0;
        }
        skip_ws(ps);
        if (at(ps, ',')) { ps->p++; continue; }
        if (at(ps, ']')) { ps->p++; return 1; }
        return fail(ps, "expected ',' or ']' in array");
    }
}

typedef struct {
    Job *job;
    Slot *slot;
} PartyCtx;

/* One member of a party's input object. */
static int party_member(Parser *ps, const Buf *key, int depth, void *ctx) {
    PartyCtx *pc = ctx;
    Slot *slot = pc->slot;
    if (!key_is(key, "values")) return skip_value(ps, depth);
    if (slot->values_seen) complain(ps, SLOT_FMT ": 'values' appears twice", SLOT_ARGS(slot));
    slot->values_seen = 1;
    if (!at(ps, '[')) {
        complain(ps, SLOT_FMT ": 'values' must be an array of numbers, not %s", SLOT_ARGS(slot), kind_at(ps));
        return skip_value(ps, depth);
    }
    return parse_values(ps, depth, pc->job, slot);
}

/* One member of "inputs": a slot and its party's input. */
static int input_member(Parser *ps, const Buf *key, int depth, void *ctx) {
    Job *job = ctx;
    if (job->nslots == job->cap) {
        job->cap = job->cap ? job->cap * 2 : 8;
        job->slots = realloc(job->slots, job->cap * sizeof *job->slots);
        if (!job->slots) {
            fputs("jointstats: out of memory\n", stderr);
            exit(1);
        }
    }
    Slot *slot = &job->slots[job->nslots++];
    *slot = (Slot){0};
    buf_put(&slot->name, key->data ? key->data : "", key->len);

    if (!at(ps, '{')) {
        complain(ps, SLOT_FMT ": input must be an object with a 'values' array, not %s",
                 SLOT_ARGS(slot), kind_at(ps));
        return skip_value(ps, depth);
    }
    PartyCtx pc = {job, slot};
    if (!walk_object(ps, depth + 1, &job->key, party_member, &pc)) return 0;
    if (!slot->values_seen) complain(ps, SLOT_FMT ": input has no 'values' array", SLOT_ARGS(slot));
    return 1;
}

/* One member of the parameters object. */
static int top_member(Parser *ps, const Buf *key, int depth, void *ctx) {
    Job *job = ctx;
    if (!key_is(key, "inputs")) return skip_value(ps, depth); /* "job" and the rest */
    if (job->inputs_seen) complain(ps, "'inputs' appears twice");
    job->inputs_seen = 1;
    if (!at(ps, '{')) {
        complain(ps, "'inputs' must be an object of slot names and inputs, not %s", kind_at(ps));
        return skip_value(ps, depth);
    }
    Buf key2 = {0}; /* walk_object's key is in use by our caller */
    int ok = walk_object(ps, depth + 1, &key2, input_member, job);
    free(key2.data);
    return ok;
}

static int compare_slot_names(const void *pa, const void *pb) {
    const Slot *a = *(const Slot *const *)pa, *b = *(const Slot *const *)pb;
    size_t n = a->name.len < b->name.len ? a->name.len : b->name.len;
    int c = n ? memcmp(a->name.data, b->name.data, n) : 0;
    if (c == 0) c = (a->name.len > b->name.len) - (a->name.len < b->name.len);
    return c;
}

/* A slot named twice would count one party twice or drop one: refuse. Sorting
 * keeps this O(n log n) however many slots hostile input names. */
static void check_duplicate_slots(Parser *ps, Job *job) {
    if (job->nslots < 2) return;
    const Slot **sorted = malloc(job->nslots * sizeof *sorted);
    if (!sorted) {
        fputs("jointstats: out of memory\n", stderr);
        exit(1);
    }
    for (size_t i = 0; i < job->nslots; i++) sorted[i] = &job->slots[i];
    qsort(sorted, job->nslots, sizeof *sorted, compare_slot_names);
    for (size_t i = 1; i < job->nslots; i++) {
        if (compare_slot_names(&sorted[i - 1], &sorted[i]) == 0) {
            complain(ps, SLOT_FMT " appears twice in 'inputs'", SLOT_ARGS(sorted[i]));
            break;
        }
    }
    free(sorted);
}

/* ------------------------------------------------------------------------- */
/* JSON writer                                                               */
/* ------------------------------------------------------------------------- */

static void put_string(Buf *b, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    buf_putc(b, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': buf_puts(b, "\\\""); break;
        case '\\': buf_puts(b, "\\\\"); break;
        case '\n': buf_puts(b, "\\n"); break;
        case '\r': buf_puts(b, "\\r"); break;
        case '\t': buf_puts(b, "\\t"); break;
        default:
            if (c < 0x20) {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                buf_put(b, esc, sizeof esc);
            } else {
                buf_putc(b, (char)c);
            }
        }
    }
    buf_putc(b, '"');
}

/*
 * Numbers: integral values (below 2^53, where doubles are exact) print as plain
 * integers; everything else uses the shortest of %.15g/%.16g/%.17g that reads
 * back as the same double, so 0.1 prints as 0.1, not 0.10000000000000001.
 */
static void put_number(Buf *b, double v) {
    char tmp[40];
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        snprintf(tmp, sizeof tmp, "%lld", (long long)v); /* also turns -0 into 0 */
    } else {
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, v);
            if (strtod(tmp, NULL) == v) break;
        }
        /* printf pads exponents to two digits ("2.5e-08"); write them like
         * JavaScript does instead ("2.5e-8", "1e+300"). */
        char *e = strchr(tmp, 'e');
        if (e) {
            char *digits = e + 2; /* past 'e' and the sign printf always emits */
            char *nz = digits;
            while (nz[0] == '0' && nz[1] != '\0') nz++;
            memmove(digits, nz, strlen(nz) + 1);
        }
    }
    buf_puts(b, tmp);
}

static void put_number_or_null(Buf *b, int present, double v) {
    if (present) put_number(b, v);
    else buf_puts(b, "null");
}

/* Replaces whatever was written with {"error":"<message>"}. */
static void put_error(Buf *out, const char *prefix, const char *message) {
    out->len = 0;
    Buf msg = {0};
    buf_puts(&msg, prefix);
    buf_puts(&msg, message);
    buf_puts(out, "{\"error\":");
    put_string(out, msg.data, msg.len);
    buf_putc(out, '}');
    fprintf(stderr, "jointstats: error: %.*s\n", (int)msg.len, msg.data);
    free(msg.data);
}

/* ------------------------------------------------------------------------- */
/* Entry point                                                               */
/* ------------------------------------------------------------------------- */

/* Computes the result (or an error) for the parameters in `in`. */
static void run(char *in, size_t in_len, Buf *out) {
    Parser ps = {.start = in, .p = in, .end = in + in_len};
    Job job = {0};
    Buf key = {0};

    skip_ws(&ps);
    if (ps.p >= ps.end) {
        put_error(out, "", "the parameters are empty");
        goto done;
    }
    if (!at(&ps, '{')) {
        /* Validate anyway so "not an object" is said only of valid JSON. */
        const char *kind = kind_at(&ps);
        if (skip_value(&ps, 0)) {
            skip_ws(&ps);
            if (ps.p < ps.end) fail(&ps, "trailing data after the parameters");
            complain(&ps, "the parameters must be a JSON object, not %s", kind);
        }
    } else if (walk_object(&ps, 1, &key, top_member, &job)) {
        skip_ws(&ps);
        if (ps.p < ps.end) fail(&ps, "trailing data after the parameters");
    }
    if (ps.syntax[0]) {
        put_error(out, "the parameters are not valid JSON: ", ps.syntax);
        goto done;
    }
    if (!job.inputs_seen) complain(&ps, "the parameters have no 'inputs' object");
    check_duplicate_slots(&ps, &job);
    double sum = job.sum + job.compensation;
    /* Values are finite (checked), but their sum can still exceed a double. */
    if (!isfinite(sum)) complain(&ps, "the sum of the values is too large for a double");
    if (ps.meaning[0]) {
        put_error(out, "", ps.meaning);
        goto done;
    }

    buf_puts(out, "{\"parties\":");
    put_number(out, (double)job.nslots);
    buf_puts(out, ",\"count\":");
    put_number(out, (double)job.count);
    buf_puts(out, ",\"sum\":");
    put_number(out, sum);
    buf_puts(out, ",\"mean\":");
    put_number_or_null(out, job.count > 0, sum / (double)job.count);
    buf_puts(out, ",\"min\":");
    put_number_or_null(out, job.count > 0, job.min);
    buf_puts(out, ",\"max\":");
    put_number_or_null(out, job.count > 0, job.max);
    buf_puts(out, ",\"perParty\":{");
    for (size_t i = 0; i < job.nslots; i++) {
        if (i) buf_putc(out, ',');
        put_string(out, job.slots[i].name.data ? job.slots[i].name.data : "", job.slots[i].name.len);
        buf_putc(out, ':');
        put_number(out, (double)job.slots[i].count);
    }
    buf_puts(out, "}}");
    fprintf(stderr, "jointstats: %zu parties, %zu values\n", job.nslots, job.count);

done:
    for (size_t i = 0; i < job.nslots; i++) free(job.slots[i].name.data);
    free(job.slots);
    free(job.key.data);
    free(key.data);
}

int main(void) {
    Buf in = read_stdin();
    Buf out = {0};
    run(in.data, in.len, &out);
    buf_putc(&out, '\n');
    fwrite(out.data, 1, out.len, stdout);
    free(in.data);
    free(out.data);
    /* Errors are reported in the JSON result, not through the exit status. */
    return 0;
}
