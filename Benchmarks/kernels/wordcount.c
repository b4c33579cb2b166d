/*
 * wordcount.c - compute kernel for the engine benchmark (WASI *command* module).
 *
 * Input  (stdin):  a JSON object; read and ignored (every call does the same work).
 * Output (stdout): {"bytes":B,"words":W,"distinct":D,"top":T,"checksum":C}
 *
 * Generates about 1 MB of text, words of 2 to 6 letters from an 8-letter
 * alphabet separated by spaces, with a fixed-seed xorshift generator (no
 * randomness import), then counts the distinct words in an open-addressing hash
 * table (FNV-1a). Branchy, byte-wise work, unlike the numeric kernels.
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define TEXT_BYTES (1 << 20)
#define TABLE_SLOTS (1 << 19) /* power of two, well above the distinct words possible */

typedef struct {
    uint32_t start; /* offset of the word in text; meaningful when count > 0 */
    uint32_t len;
    uint32_t count;
} Slot;

static char text[TEXT_BYTES + 8];
static Slot table[TABLE_SLOTS];

static void drain_stdin(void) {
    char buf[4096];
    while (fread(buf, 1, sizeof buf, stdin) == sizeof buf) {
    }
}

/* xorshift32: fixed seed, so every call generates the same text. */
static uint32_t rng_state;
static uint32_t next_random(void) {
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return rng_state = x;
}

static uint32_t generate(void) {
    static const char alphabet[8] = {'a', 'e', 'i', 'n', 'o', 'r', 's', 't'};
    uint32_t n = 0;
    rng_state = 2463534242u;
    while (n + 7 < TEXT_BYTES) {
        uint32_t r = next_random();
        uint32_t len = 2 + r % 5;
        r >>= 3; /* 3 bits per letter: 6 letters fit in the 29 bits left */
        for (uint32_t i = 0; i < len; i++) {
            text[n++] = alphabet[r & 7];
            r >>= 3;
        }
        text[n++] = ' ';
    }
    return n;
}

static uint32_t fnv1a(const char *s, uint32_t len) {
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

int main(void) {
    drain_stdin();

    uint32_t bytes = generate();
    /* The table is static and a sandbox may be reused: clear it on every call. */
    memset(table, 0, sizeof table);

    uint32_t words = 0, distinct = 0, top = 0;
    uint32_t i = 0;
    while (i < bytes) {
        while (i < bytes && text[i] == ' ') i++;
        uint32_t start = i;
        while (i < bytes && text[i] != ' ') i++;
        uint32_t len = i - start;
        if (len == 0) break;
        words++;

        uint32_t slot = fnv1a(text + start, len) & (TABLE_SLOTS - 1);
        for (;;) {
            Slot *s = &table[slot];
            if (s->count == 0) {
                s->start = start;
                s->len = len;
                s->count = 1;
                distinct++;
                break;
            }
            if (s->len == len && memcmp(text + s->start, text + start, len) == 0) {
                s->count++;
                break;
            }
            slot = (slot + 1) & (TABLE_SLOTS - 1);
        }
    }

    /* Order-independent checksum over (word, count) pairs, plus the largest count. */
    uint32_t checksum = 0;
    for (uint32_t s = 0; s < TABLE_SLOTS; s++) {
        if (table[s].count == 0) continue;
        if (table[s].count > top) top = table[s].count;
        checksum += fnv1a(text + table[s].start, table[s].len) * table[s].count;
    }

    printf("{\"bytes\":%u,\"words\":%u,\"distinct\":%u,\"top\":%u,\"checksum\":%u}\n",
           bytes, words, distinct, top, checksum);
    return 0;
}
