/*
 * secret.c - Tabula example function (WASI command module) that reads a tenant secret.
 *
 * The key broker releases a namespace's secrets to attested nodes; the enclave gives a function
 * those its manifest entry names as environment variables, TABULA_SECRET_<NAME>, for one
 * invocation (docs/broker.md). This function answers with the GREETING secret, or null when it
 * may not read it, and how many secrets it sees:
 *
 *   {"greeting":"hello","secrets":1}
 *
 * A real function would use the secret (a database password, an API key) and never return it.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static void print_json_string(const char *text) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\') {
            printf("\\%c", *p);
        } else if (*p < 0x20) {
            printf("\\u%04x", *p);
        } else {
            putchar(*p);
        }
    }
    putchar('"');
}

int main(void) {
    int count = 0;
    for (char **entry = environ; entry && *entry; entry++) {
        if (strncmp(*entry, "TABULA_SECRET_", 14) == 0) count++;
    }
    const char *greeting = getenv("TABULA_SECRET_GREETING");
    printf("{\"greeting\":");
    if (greeting) {
        print_json_string(greeting);
    } else {
        printf("null");
    }
    printf(",\"secrets\":%d}", count);
    return 0;
}
