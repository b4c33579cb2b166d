/*
 * sieve.c - compute kernel for the engine benchmark (WASI *command* module).
 *
 * Input  (stdin):  a JSON object; read and ignored (every call does the same work).
 * Output (stdout): {"limit":2000000,"primes":148933,"last":1999993}
 *
 * Sieve of Eratosthenes up to 2,000,000 over a byte array (memory-bound inner
 * loop with strided stores). No clock or random imports: deterministic output.
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define LIMIT 2000000

static uint8_t composite[LIMIT + 1];

static void drain_stdin(void) {
    char buf[4096];
    while (fread(buf, 1, sizeof buf, stdin) == sizeof buf) {
    }
}

int main(void) {
    drain_stdin();

    /* The array is static and a sandbox may be reused: clear it on every call. */
    memset(composite, 0, sizeof composite);
    composite[0] = composite[1] = 1;
    for (uint32_t i = 2; (uint64_t)i * i <= LIMIT; i++) {
        if (composite[i]) continue;
        for (uint32_t j = i * i; j <= LIMIT; j += i) composite[j] = 1;
    }

    uint32_t count = 0, last = 0;
    for (uint32_t i = 2; i <= LIMIT; i++) {
        if (!composite[i]) {
            count++;
            last = i;
        }
    }

    printf("{\"limit\":%d,\"primes\":%u,\"last\":%u}\n", LIMIT, count, last);
    return 0;
}
