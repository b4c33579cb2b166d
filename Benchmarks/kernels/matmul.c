/*
 * matmul.c - compute kernel for the engine benchmark (WASI *command* module).
 *
 * Input  (stdin):  a JSON object; read and ignored (every call does the same work).
 * Output (stdout): {"n":128,"reps":R,"checksum":<integer>}
 *
 * Multiplies two 128x128 double matrices, filled deterministically, REPS times
 * (each product, scaled, feeds the next, so no repetition can be optimised
 * away), and prints a checksum of the result as an integer (scaled by 1e6). Imports nothing but fd_read/fd_write and
 * proc_exit: no clock and no randomness, so the output is the same under every
 * engine and on every run.
 */

#include <math.h>
#include <stdio.h>

#define N 128
#define REPS 8

static double a[N][N], b[N][N], c[N][N];

/* Reads stdin to its end so the host sees the parameters consumed, then drops them. */
static void drain_stdin(void) {
    char buf[4096];
    while (fread(buf, 1, sizeof buf, stdin) == sizeof buf) {
    }
}

/* c = a * b, i-k-j order so the inner loop walks rows of b and c. */
static void multiply(void) {
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) c[i][j] = 0.0;
        for (int k = 0; k < N; k++) {
            double aik = a[i][k];
            for (int j = 0; j < N; j++) c[i][j] += aik * b[k][j];
        }
    }
}

int main(void) {
    drain_stdin();

    /* Small values keep the products in range over the repetitions. */
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) {
            a[i][j] = (double)((i * 7 + j * 3) % 17 - 8) / 64.0;
            b[i][j] = (double)((i * 5 + j * 11) % 13 - 6) / 64.0;
        }
    }

    for (int r = 0; r < REPS; r++) {
        multiply();
        /* The next round multiplies the result, scaled to [-1, 1] so the values neither
           vanish nor overflow, by b again. */
        double max = 0.0;
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) max = fabs(c[i][j]) > max ? fabs(c[i][j]) : max;
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) a[i][j] = c[i][j] / max;
    }

    /* A weighted sum, so a transposed or permuted result gives another checksum. */
    double sum = 0.0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) sum += a[i][j] * (double)(1 + (i * N + j) % 7);

    printf("{\"n\":%d,\"reps\":%d,\"checksum\":%lld}\n", N, REPS, llround(sum * 1e6));
    return 0;
}
