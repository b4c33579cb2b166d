/*
 * transform.c - Tabula example function (WASI *reactor* module).
 *
 * The host calls _initialize once, snapshots linear memory, and then calls the
 * exported "main" (() -> i32) once per invocation, rewinding memory afterwards.
 *
 * Input (stdin):
 *   {"records":   [{...}, ...],          required, array of objects
 *    "select":    ["field", ...],        optional, keep only these fields (in this order)
 *    "uppercase": ["field", ...],        optional, ASCII-uppercase these string fields
 *    "sortBy":    "field"}               optional, stable sort on this field
 *
 * Output (stdout):
 *   {"records":[...],"count":N,"stats":{"<field>":{"min":..,"max":..,"sum":..,"mean":..}}}
 *
 * Pipeline order: uppercase -> sortBy -> select -> stats. Sorting sees the full
 * (uppercased) records, so one can sort by a field that is not selected. Stats
 * cover every output field whose values are all numbers, over the records that
 * have it.
 *
 * Sort order: numbers (numerically) < strings (bytewise) < other values
 * (true/false/null/arrays/objects, kept in input order) < missing field.
 *
 * Errors are returned as {"error":"..."}; a line is logged to stderr either way.
 */

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 128 /* nesting limit: parser and serializer recurse, and the
                         * default wasm stack is only 64 KiB (~250 B per level) */

/* ------------------------------------------------------------------------- */
/* Memory helpers                                                            */
/* ------------------------------------------------------------------------- */

static void *xrealloc(void *p, size_t n) {
    p = realloc(p, n ? n : 1);
    if (!p) {
        /* No way to build a JSON result without memory; trap instead. */
        fputs("transform: out of memory\n", stderr);
        abort();
    }
    return p;
}

/* Growable byte buffer, used for decoded strings and for the output. */
typedef struct {
    char *data;
    size_t len, cap;
} Buf;

static void buf_reserve(Buf *b, size_t extra) {
    if (b->len + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra) cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

static void buf_put(Buf *b, const char *s, size_t n) {
    buf_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static void buf_putc(Buf *b, char c) { buf_put(b, &c, 1); }
static void buf_puts(Buf *b, const char *s) { buf_put(b, s, strlen(s)); }

/* ------------------------------------------------------------------------- */
/* JSON values                                                               */
/* ------------------------------------------------------------------------- */

typedef enum { J_NULL, J_FALSE, J_TRUE, J_NUMBER, J_STRING, J_ARRAY, J_OBJECT } JType;

typedef struct JValue JValue;

typedef struct {
    char *s; /* decoded UTF-8, may contain NUL bytes, so always use len */
    size_t len;
} JStr;

typedef struct {
    JStr key;
    JValue *value;
} JMember;

struct JValue {
    JType type;
    union {
        double num;
        JStr str;
        struct { JValue **items; size_t len, cap; } arr;
        struct { JMember *items; size_t len, cap; } obj;
    } u;
};

static void json_free(JValue *v) {
    if (!v) return;
    switch (v->type) {
    case J_STRING:
        free(v->u.str.s);
        break;
    case J_ARRAY:
        for (size_t i = 0; i < v->u.arr.len; i++) json_free(v->u.arr.items[i]);
        free(v->u.arr.items);
        break;
    case J_OBJECT:
        for (size_t i = 0; i < v->u.obj.len; i++) {
            free(v->u.obj.items[i].key.s);
            json_free(v->u.obj.items[i].value);
        }
        free(v->u.obj.items);
        break;
    default:
        break;
    }
    free(v);
}

static int str_eq(JStr a, const char *s, size_t n) {
    return a.len == n && memcmp(a.s, s, n) == 0;
}

/* Linear lookup: records are small, and it keeps member order intact. */
static JValue *obj_get(const JValue *obj, const char *key, size_t klen) {
    for (size_t i = 0; i < obj->u.obj.len; i++)
        if (str_eq(obj->u.obj.items[i].key, key, klen)) return obj->u.obj.items[i].value;
    return NULL;
}

static JValue *obj_get_cstr(const JValue *obj, const char *key) {
    return obj_get(obj, key, strlen(key));
}

/* ------------------------------------------------------------------------- */
/* JSON parser (RFC 8259)                                                    */
/* ------------------------------------------------------------------------- */

typedef struct {
    const char *start, *p, *end;
    char err[160]; /* first error; non-empty means parsing failed */
} Parser;

static JValue *fail(Parser *ps, const char *what) {
    if (ps->err[0]) return NULL; /* keep the first (innermost) error */
    if (ps->p >= ps->end) {
        snprintf(ps->err, sizeof ps->err, "%s at end of input", what);
        return NULL;
    }
    unsigned char c = (unsigned char)*ps->p;
    size_t off = (size_t)(ps->p - ps->start);
    /* Only echo printable ASCII; anything else is shown as a byte value. */
    if (c >= 0x20 && c < 0x7f)
        snprintf(ps->err, sizeof ps->err, "%s: unexpected '%c' at offset %zu", what, c, off);
    else
        snprintf(ps->err, sizeof ps->err, "%s: unexpected byte 0x%02x at offset %zu", what, c, off);
    return NULL;
}

/* For errors about a whole token, where echoing one byte would mislead. */
static JValue *fail_at(Parser *ps, const char *what, const char *where) {
    if (!ps->err[0])
        snprintf(ps->err, sizeof ps->err, "%s at offset %zu", what, (size_t)(where - ps->start));
    return NULL;
}

static void skip_ws(Parser *ps) {
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int peek(Parser *ps, char c) { return ps->p < ps->end && *ps->p == c; }

static int is_digit(Parser *ps) { return ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9'; }

static JValue *new_value(JType t) {
    JValue *v = xrealloc(NULL, sizeof *v);
    memset(v, 0, sizeof *v);
    v->type = t;
    return v;
}

static int hex4(Parser *ps, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        if (ps->p >= ps->end) {
            fail(ps, "truncated unicode escape");
            return 0;
        }
        char c = *ps->p;
        unsigned d;
        if (c >= '0' && c <= '9') d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') d = (unsigned)(c - 'A' + 10);
        else {
            fail(ps, "invalid unicode escape");
            return 0;
        }
        v = v * 16 + d;
        ps->p++;
    }
    *out = v;
    return 1;
}

static void put_utf8(Buf *b, unsigned cp) {
    char tmp[4];
    size_t n;
    if (cp < 0x80) {
        tmp[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        tmp[0] = (char)(0xc0 | (cp >> 6));
        tmp[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        tmp[0] = (char)(0xe0 | (cp >> 12));
        tmp[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        tmp[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        tmp[0] = (char)(0xf0 | (cp >> 18));
        tmp[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        tmp[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        tmp[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    buf_put(b, tmp, n);
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

/* Parses a string at the opening quote into *out (malloc'd). */
static int parse_string(Parser *ps, JStr *out) {
    Buf b = {0};
    ps->p++; /* opening quote */
    for (;;) {
        if (ps->p >= ps->end) goto bad_end;
        unsigned char c = (unsigned char)*ps->p;
        if (c == '"') break;
        if (c < 0x20) {
            fail(ps, "control character in string");
            goto bad;
        }
        if (c != '\\') {
            /* Copy a run of plain characters at once. */
            const char *run = ps->p;
            while (ps->p < ps->end && *ps->p != '"' && *ps->p != '\\' &&
                   (unsigned char)*ps->p >= 0x20) {
                size_t n = utf8_len((const unsigned char *)ps->p, (const unsigned char *)ps->end);
                if (n == 0) {
                    fail(ps, "invalid UTF-8 in string");
                    goto bad;
                }
                ps->p += n;
            }
            buf_put(&b, run, (size_t)(ps->p - run));
            continue;
        }
        ps->p++; /* backslash */
        if (ps->p >= ps->end) goto bad_end;
        char e = *ps->p++;
        switch (e) {
        case '"': buf_putc(&b, '"'); break;
        case '\\': buf_putc(&b, '\\'); break;
        case '/': buf_putc(&b, '/'); break;
        case 'b': buf_putc(&b, '\b'); break;
        case 'f': buf_putc(&b, '\f'); break;
        case 'n': buf_putc(&b, '\n'); break;
        case 'r': buf_putc(&b, '\r'); break;
        case 't': buf_putc(&b, '\t'); break;
        case 'u': {
            unsigned cp, lo;
            if (!hex4(ps, &cp)) goto bad;
            if (cp >= 0xdc00 && cp <= 0xdfff) {
                fail(ps, "unpaired UTF-16 low surrogate");
                goto bad;
            }
            if (cp >= 0xd800 && cp <= 0xdbff) {
                /* UTF-8 cannot encode lone surrogates: require the low half. */
                if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u') {
                    fail(ps, "unpaired UTF-16 high surrogate");
                    goto bad;
                }
                ps->p += 2;
                if (!hex4(ps, &lo)) goto bad;
                if (lo < 0xdc00 || lo > 0xdfff) {
                    fail(ps, "unpaired UTF-16 high surrogate");
                    goto bad;
                }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            put_utf8(&b, cp);
            break;
        }
        default:
            ps->p--; /* point the error at the escape letter */
            fail(ps, "invalid escape in string");
            goto bad;
        }
    }
    ps->p++; /* closing quote */
    buf_reserve(&b, 1);
    b.data[b.len] = '\0'; /* convenience only; embedded NULs are possible */
    out->s = b.data;
    out->len = b.len;
    return 1;
bad_end:
    fail(ps, "unterminated string");
bad:
    free(b.data);
    return 0;
}

static JValue *parse_number(Parser *ps) {
    const char *s = ps->p;
    if (peek(ps, '-')) ps->p++;
    if (peek(ps, '0')) {
        ps->p++;
    } else if (is_digit(ps)) {
        while (is_digit(ps)) ps->p++;
    } else {
        return fail(ps, "invalid number");
    }
    if (peek(ps, '.')) {
        ps->p++;
        if (!is_digit(ps)) return fail(ps, "invalid number");
        while (is_digit(ps)) ps->p++;
    }
    if (peek(ps, 'e') || peek(ps, 'E')) {
        ps->p++;
        if (peek(ps, '+') || peek(ps, '-')) ps->p++;
        if (!is_digit(ps)) return fail(ps, "invalid number");
        while (is_digit(ps)) ps->p++;
    }
    /* strtod accepts more than JSON (hex, inf, nan), so hand it a copy of
     * exactly the span validated above. */
    size_t n = (size_t)(ps->p - s);
    char small[64];
    char *tmp = n < sizeof small ? small : xrealloc(NULL, n + 1);
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    double num = strtod(tmp, NULL);
    if (tmp != small) free(tmp);
    /* Overflow gives +-inf, which has no JSON representation on the way out. */
    if (!isfinite(num)) return fail_at(ps, "number out of range", s);
    JValue *v = new_value(J_NUMBER);
    v->u.num = num;
    return v;
}

static JValue *parse_literal(Parser *ps, const char *lit, JType t) {
    size_t n = strlen(lit);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, lit, n) != 0)
        return fail(ps, "invalid literal");
    ps->p += n;
    return new_value(t);
}

static JValue *parse_value(Parser *ps, int depth);

static JValue *parse_array(Parser *ps, int depth) {
    JValue *arr = new_value(J_ARRAY);
    ps->p++; /* '[' */
    skip_ws(ps);
    if (peek(ps, ']')) {
        ps->p++;
        return arr;
    }
    for (;;) {
        JValue *item = parse_value(ps, depth + 1);
        if (!item) break;
        if (arr->u.arr.len == arr->u.arr.cap) {
            arr->u.arr.cap = arr->u.arr.cap ? arr->u.arr.cap * 2 : 8;
            arr->u.arr.items = xrealloc(arr->u.arr.items, arr->u.arr.cap * sizeof(JValue *));
        }
        arr->u.arr.items[arr->u.arr.len++] = item;
        skip_ws(ps);
        if (peek(ps, ',')) { ps->p++; continue; }
        if (peek(ps, ']')) { ps->p++; return arr; }
        fail(ps, "expected ',' or ']' in array");
        break;
    }
    json_free(arr);
    return NULL;
}

static JValue *parse_object(Parser *ps, int depth) {
    JValue *obj = new_value(J_OBJECT);
    ps->p++; /* '{' */
    skip_ws(ps);
    if (peek(ps, '}')) {
        ps->p++;
        return obj;
    }
    for (;;) {
        JStr key;
        skip_ws(ps);
        if (!peek(ps, '"')) {
            fail(ps, "expected a string key");
            break;
        }
        if (!parse_string(ps, &key)) break;
        skip_ws(ps);
        if (!peek(ps, ':')) {
            free(key.s);
            fail(ps, "expected ':' after key");
            break;
        }
        ps->p++;
        JValue *val = parse_value(ps, depth + 1);
        if (!val) {
            free(key.s);
            break;
        }
        /* Duplicate keys: the last value wins but keeps the first position,
         * so the serialized output never repeats a key. */
        JMember *m = NULL;
        for (size_t i = 0; i < obj->u.obj.len; i++)
            if (str_eq(obj->u.obj.items[i].key, key.s, key.len)) m = &obj->u.obj.items[i];
        if (m) {
            free(key.s);
            json_free(m->value);
            m->value = val;
        } else {
            if (obj->u.obj.len == obj->u.obj.cap) {
                obj->u.obj.cap = obj->u.obj.cap ? obj->u.obj.cap * 2 : 8;
                obj->u.obj.items = xrealloc(obj->u.obj.items, obj->u.obj.cap * sizeof(JMember));
            }
            obj->u.obj.items[obj->u.obj.len++] = (JMember){key, val};
        }
        skip_ws(ps);
        if (peek(ps, ',')) { ps->p++; continue; }
        if (peek(ps, '}')) { ps->p++; return obj; }
        fail(ps, "expected ',' or '}' in object");
        break;
    }
    json_free(obj);
    return NULL;
}

static JValue *parse_value(Parser *ps, int depth) {
    if (depth > MAX_DEPTH) return fail_at(ps, "nesting too deep", ps->p);
    skip_ws(ps);
    if (ps->p >= ps->end) return fail(ps, "expected a value");
    switch (*ps->p) {
    case '{': return parse_object(ps, depth);
    case '[': return parse_array(ps, depth);
    case 't': return parse_literal(ps, "true", J_TRUE);
    case 'f': return parse_literal(ps, "false", J_FALSE);
    case 'n': return parse_literal(ps, "null", J_NULL);
    case '"': {
        JStr s;
        if (!parse_string(ps, &s)) return NULL;
        JValue *v = new_value(J_STRING);
        v->u.str = s;
        return v;
    }
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) return parse_number(ps);
        return fail(ps, "expected a value");
    }
}

/* Parses a complete document; NULL (with ps->err set) on error. */
static JValue *parse_document(Parser *ps) {
    skip_ws(ps);
    if (ps->p >= ps->end) {
        snprintf(ps->err, sizeof ps->err, "empty input");
        return NULL;
    }
    JValue *v = parse_value(ps, 0);
    if (!v) return NULL;
    skip_ws(ps);
    if (ps->p < ps->end) {
        json_free(v);
        return fail(ps, "trailing data after value");
    }
    return v;
}

/* ------------------------------------------------------------------------- */
/* JSON serializer                                                           */
/* ------------------------------------------------------------------------- */

static void put_string(Buf *b, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    buf_putc(b, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': buf_puts(b, "\\\""); break;
        case '\\': buf_puts(b, "\\\\"); break;
        case '\b': buf_puts(b, "\\b"); break;
        case '\f': buf_puts(b, "\\f"); break;
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
 * Numbers: integral values (below 2^53, where doubles are exact) print as
 * plain integers; everything else uses the shortest of %.15g/%.16g/%.17g that
 * reads back as the same double, so 0.1 prints as 0.1, not 0.10000000000000001.
 * JSON has no NaN/Infinity: the parser rejects numbers that overflow, so they
 * can only come from an overflowing sum, which is written as null.
 */
static void put_number(Buf *b, double v) {
    char tmp[40];
    if (!isfinite(v)) {
        buf_puts(b, "null");
        return;
    }
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

static void put_value(Buf *b, const JValue *v) {
    switch (v->type) {
    case J_NULL: buf_puts(b, "null"); break;
    case J_FALSE: buf_puts(b, "false"); break;
    case J_TRUE: buf_puts(b, "true"); break;
    case J_NUMBER: put_number(b, v->u.num); break;
    case J_STRING: put_string(b, v->u.str.s, v->u.str.len); break;
    case J_ARRAY:
        buf_putc(b, '[');
        for (size_t i = 0; i < v->u.arr.len; i++) {
            if (i) buf_putc(b, ',');
            put_value(b, v->u.arr.items[i]);
        }
        buf_putc(b, ']');
        break;
    case J_OBJECT:
        buf_putc(b, '{');
        for (size_t i = 0; i < v->u.obj.len; i++) {
            if (i) buf_putc(b, ',');
            put_string(b, v->u.obj.items[i].key.s, v->u.obj.items[i].key.len);
            buf_putc(b, ':');
            put_value(b, v->u.obj.items[i].value);
        }
        buf_putc(b, '}');
        break;
    }
}

/* ------------------------------------------------------------------------- */
/* The transformation                                                        */
/* ------------------------------------------------------------------------- */

/* Per-field running statistics, in order of first appearance in the output. */
typedef struct {
    JStr name; /* borrowed from the parsed input */
    int all_numbers;
    size_t n;
    double min, max, sum;
} FieldStats;

typedef struct {
    FieldStats *items;
    size_t len, cap;
} StatsTable;

static void stats_add(StatsTable *t, JStr name, const JValue *v) {
    FieldStats *fs = NULL;
    for (size_t i = 0; i < t->len; i++)
        if (str_eq(t->items[i].name, name.s, name.len)) { fs = &t->items[i]; break; }
    if (!fs) {
        if (t->len == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 8;
            t->items = xrealloc(t->items, t->cap * sizeof *t->items);
        }
        fs = &t->items[t->len++];
        *fs = (FieldStats){.name = name, .all_numbers = 1};
    }
    if (v->type != J_NUMBER) {
        fs->all_numbers = 0;
        return;
    }
    double x = v->u.num;
    if (fs->n == 0 || x < fs->min) fs->min = x;
    if (fs->n == 0 || x > fs->max) fs->max = x;
    fs->sum += x;
    fs->n++;
}

/* Sort entries carry the original index so qsort (not stable) acts stable. */
typedef struct {
    JValue *record;
    const JValue *key; /* NULL when the record lacks the sort field */
    size_t index;
} SortEntry;

static int sort_rank(const JValue *k) {
    if (!k) return 3;
    if (k->type == J_NUMBER) return 0;
    if (k->type == J_STRING) return 1;
    return 2;
}

static int compare_entries(const void *pa, const void *pb) {
    const SortEntry *a = pa, *b = pb;
    int ra = sort_rank(a->key), rb = sort_rank(b->key);
    int c = (ra > rb) - (ra < rb);
    if (c == 0 && ra == 0) {
        c = (a->key->u.num > b->key->u.num) - (a->key->u.num < b->key->u.num);
    } else if (c == 0 && ra == 1) {
        const JStr *x = &a->key->u.str, *y = &b->key->u.str;
        size_t n = x->len < y->len ? x->len : y->len;
        c = memcmp(x->s, y->s, n);
        if (c == 0) c = (x->len > y->len) - (x->len < y->len);
    }
    if (c == 0) c = (a->index > b->index) - (a->index < b->index);
    return c;
}

/* Checks that v is an array of strings; "absent" is fine too. */
static int is_string_array(const JValue *v) {
    if (!v) return 1;
    if (v->type != J_ARRAY) return 0;
    for (size_t i = 0; i < v->u.arr.len; i++)
        if (v->u.arr.items[i]->type != J_STRING) return 0;
    return 1;
}

static int list_contains(const JValue *list, size_t upto, JStr s) {
    for (size_t i = 0; i < upto; i++)
        if (str_eq(list->u.arr.items[i]->u.str, s.s, s.len)) return 1;
    return 0;
}

/* Emits one record (after select) and feeds its fields into the stats. */
static void put_record(Buf *out, const JValue *rec, const JValue *select, StatsTable *stats) {
    int first = 1;
    buf_putc(out, '{');
    size_t n = select ? select->u.arr.len : rec->u.obj.len;
    for (size_t i = 0; i < n; i++) {
        JStr key;
        const JValue *val;
        if (select) {
            key = select->u.arr.items[i]->u.str;
            if (list_contains(select, i, key)) continue; /* duplicate in select */
            val = obj_get(rec, key.s, key.len);
            if (!val) continue; /* absent fields are omitted, not null */
        } else {
            key = rec->u.obj.items[i].key;
            val = rec->u.obj.items[i].value;
        }
        if (!first) buf_putc(out, ',');
        first = 0;
        put_string(out, key.s, key.len);
        buf_putc(out, ':');
        put_value(out, val);
        stats_add(stats, key, val);
    }
    buf_putc(out, '}');
}

static void error_result(Buf *out, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    out->len = 0;
    buf_puts(out, "{\"error\":");
    put_string(out, msg, strlen(msg));
    buf_puts(out, "}");
    fprintf(stderr, "transform: error: %s\n", msg);
}

/* Runs one invocation: `in` is the raw stdin, the result goes to `out`. */
static void transform(const char *in, size_t in_len, Buf *out) {
    Parser ps = {.start = in, .p = in, .end = in + in_len};
    JValue *doc = parse_document(&ps);
    if (!doc) {
        error_result(out, "input is not a JSON object: %s", ps.err);
        return;
    }
    if (doc->type != J_OBJECT) {
        error_result(out, "input is not a JSON object: top-level value is not an object");
        json_free(doc);
        return;
    }

    JValue *records = obj_get_cstr(doc, "records");
    JValue *select = obj_get_cstr(doc, "select");
    JValue *upper = obj_get_cstr(doc, "uppercase");
    JValue *sort_by = obj_get_cstr(doc, "sortBy");

    if (!records || records->type != J_ARRAY) {
        error_result(out, "parameter 'records' (an array of objects) is required");
        goto done;
    }
    for (size_t i = 0; i < records->u.arr.len; i++) {
        if (records->u.arr.items[i]->type != J_OBJECT) {
            error_result(out, "records[%zu] is not an object", i);
            goto done;
        }
    }
    if (!is_string_array(select)) {
        error_result(out, "parameter 'select' must be an array of strings");
        goto done;
    }
    if (!is_string_array(upper)) {
        error_result(out, "parameter 'uppercase' must be an array of strings");
        goto done;
    }
    if (sort_by && sort_by->type != J_STRING) {
        error_result(out, "parameter 'sortBy' must be a string");
        goto done;
    }

    size_t count = records->u.arr.len;

    /* 1. uppercase (ASCII only; multi-byte UTF-8 sequences are left alone). */
    if (upper) {
        for (size_t i = 0; i < count; i++) {
            for (size_t f = 0; f < upper->u.arr.len; f++) {
                JStr name = upper->u.arr.items[f]->u.str;
                JValue *v = obj_get(records->u.arr.items[i], name.s, name.len);
                if (!v || v->type != J_STRING) continue;
                for (size_t k = 0; k < v->u.str.len; k++)
                    if (v->u.str.s[k] >= 'a' && v->u.str.s[k] <= 'z') v->u.str.s[k] -= 'a' - 'A';
            }
        }
    }

    /* 2. stable sort */
    SortEntry *entries = xrealloc(NULL, count * sizeof *entries);
    for (size_t i = 0; i < count; i++) {
        JValue *rec = records->u.arr.items[i];
        entries[i].record = rec;
        entries[i].key = sort_by ? obj_get(rec, sort_by->u.str.s, sort_by->u.str.len) : NULL;
        entries[i].index = i;
    }
    if (sort_by && count > 1) qsort(entries, count, sizeof *entries, compare_entries);

    /* 3. select + serialize, 4. stats over what was emitted */
    StatsTable stats = {0};
    buf_puts(out, "{\"records\":[");
    for (size_t i = 0; i < count; i++) {
        if (i) buf_putc(out, ',');
        put_record(out, entries[i].record, select, &stats);
    }
    buf_puts(out, "],\"count\":");
    put_number(out, (double)count);
    buf_puts(out, ",\"stats\":{");
    int first = 1;
    for (size_t i = 0; i < stats.len; i++) {
        const FieldStats *fs = &stats.items[i];
        if (!fs->all_numbers || fs->n == 0) continue;
        if (!first) buf_putc(out, ',');
        first = 0;
        put_string(out, fs->name.s, fs->name.len);
        buf_puts(out, ":{\"min\":");
        put_number(out, fs->min);
        buf_puts(out, ",\"max\":");
        put_number(out, fs->max);
        buf_puts(out, ",\"sum\":");
        put_number(out, fs->sum);
        buf_puts(out, ",\"mean\":");
        put_number(out, fs->sum / (double)fs->n);
        buf_putc(out, '}');
    }
    buf_puts(out, "}}");
    fprintf(stderr, "transform: %zu records in, %zu out\n", count, count);

    free(stats.items);
    free(entries);
done:
    json_free(doc);
}

/* ------------------------------------------------------------------------- */
/* Entry point                                                               */
/* ------------------------------------------------------------------------- */

static Buf read_stdin(void) {
    Buf b = {0};
    for (;;) {
        buf_reserve(&b, 4096);
        size_t n = fread(b.data + b.len, 1, b.cap - b.len, stdin);
        b.len += n;
        if (n == 0) break;
    }
    return b;
}

/*
 * Exported as "main" (the name the Tabula runtime calls on reactors). The C
 * function cannot itself be called main: that would make it the libc entry
 * point with a different signature.
 */
__attribute__((export_name("main"))) int tabula_main(void) {
    /* The runtime rewinds memory after each call, but clear the EOF flag so
     * the function also behaves if an instance is ever reused without that. */
    clearerr(stdin);

    Buf in = read_stdin();
    Buf out = {0};
    transform(in.data, in.len, &out);
    buf_putc(&out, '\n');
    fwrite(out.data, 1, out.len, stdout);
    /* No exit() runs in a reactor, so nothing else would flush stdout. */
    fflush(stdout);

    free(in.data);
    free(out.data);
    return 0;
}
