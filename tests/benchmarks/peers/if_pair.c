/* IF peer in C: B independent if-sync pairs (seed 002: synsweep's `cif` neurons joined both ways by `two_stage`
 * synapses with the `coba` output, workflows/specs/if_sync.yaml), classic RK4 on the coupled 6-dimensional system,
 * dt = 0.01 ms, one thread. The kernel (if_kernel.h) does the work synsweep's kernel does for this circuit: the same
 * equations and RK4 step, the refractory counter, each spike's jump of the synapse it drives propagated from the
 * spike's time within the step, the divergence check; and keeps spike counts and the running sums of a Pearson
 * correlation of v1, v2 every step, as the W2 peer does. Built with -DLEAN it leaves out the refractory counter, the
 * within-step timing and the divergence check (one loop per step: the peer's first version; its spike totals differ
 * from the engine's by ~0.05%).
 * Every parameter is a runtime value (a kernel that reads them from memory), the background conductances included.
 * Build: gcc -O3 -march=native -ffast-math -o if_pair if_pair.c -lm   (-DLEAN for the lean variant)
 * usage: if_pair --B N [--steps S] [--prec d|f] [--tile K]
 * Pair p (0-based): I1 = I2 = 3 + (p mod 101) / 100 nA, g_star = 15 + 45 p / (B - 1) nS,
 * tau_syn = 5 + 15 (p mod 7) / 6 ms; E_m = v_reset = -70 mV, thr = -54 mV, tau_m 10 ms, R_m 10 MOhm, t_ref 0,
 * E_syn 0 mV; v1(0) = -60, v2(0) = -70 mV, x = g = 0.
 * Prints one JSON line timing the integration proper (set-up excluded), like the W1 and W2 peers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REAL double
#define SFX _d
#include "if_kernel.h"
#undef REAL
#undef SFX
#define REAL float
#define SFX _f
#include "if_kernel.h"
#undef REAL
#undef SFX

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static volatile double guard = 1.0; /* keeps the parameters runtime values, never folded constants */

#define NROWS 23
#define DEFINE_RUN(REALT, SFXN)                                                                                 \
    static double run_##SFXN(int B, int nsteps, double dt, int tile, long *s1, long *s2, long *nbad)            \
    {                                                                                                           \
        size_t st = (size_t)((B + 15) / 16 * 16);                                                               \
        REALT *buf = aligned_alloc(64, sizeof(REALT) * NROWS * st), *row[NROWS];                                \
        long *D = malloc(sizeof(long) * st);                                                                    \
        for (int r = 0; r < NROWS; r++) row[r] = buf + r * st;                                                  \
        REALT *I1 = row[0], *I2 = row[1], *GS = row[2], *TS = row[3], *V1 = row[4], *V2 = row[5];              \
        for (int p = 0; p < B; p++) {                                                                           \
            for (int r = 6; r < NROWS; r++) row[r][p] = 0;                                                      \
            I1[p] = I2[p] = (REALT)(3.0 + (p % 101) / 100.0);                                                   \
            GS[p] = (REALT)(15.0 + (B > 1 ? 45.0 * p / (double)(B - 1) : 0.0));                                 \
            TS[p] = (REALT)(5.0 + 15.0 * (p % 7) / 6.0);                                                        \
            V1[p] = (REALT)-60.0; V2[p] = (REALT)-70.0; D[p] = -1;                                              \
        }                                                                                                       \
        double k = guard;                                                                                       \
        cifp_##SFXN P = {(REALT)(10.0 * k), (REALT)(10.0 * k), (REALT)(-70.0 * k), (REALT)(-70.0 * k),          \
                         (REALT)(-54.0 * k), (REALT)(0.0 * k), (REALT)(0.0 * k), (REALT)(0.0 * k),              \
                         (REALT)(-100.0 * k), (REALT)(0.0 * k), (REALT)(0.0 * k)};                              \
        double t0 = now_s();                                                                                    \
        for (int lo = 0; lo < B; lo += tile) {                                                                  \
            int hi = lo + tile < B ? lo + tile : B;                                                             \
            run_range_##SFXN(lo, hi, nsteps, (REALT)dt, P, I1, I2, GS, TS, V1, V2, row[6], row[7], row[8],      \
                             row[9], row[10], row[11], row[12], row[13], row[14], row[15], row[16], row[17],    \
                             row[18], row[19], row[20], row[21], row[22], D);                                   \
        }                                                                                                       \
        double el = now_s() - t0;                                                                               \
        *s1 = *s2 = *nbad = 0;                                                                                  \
        for (int p = 0; p < B; p++) { *s1 += (long)row[12][p]; *s2 += (long)row[13][p]; *nbad += D[p] >= 0; }  \
        free(buf);                                                                                              \
        free(D);                                                                                                \
        return el;                                                                                              \
    }

DEFINE_RUN(double, d)
DEFINE_RUN(float, f)

int main(int argc, char **argv)
{
    int B = 997, steps = 10000, tile = 0;
    char prec = 'd';
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--B")) B = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--steps")) steps = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--tile")) tile = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--prec")) prec = argv[++a][0];
    }
    if (tile <= 0) tile = prec == 'f' ? 256 : 128;
    long s1, s2, nbad;
    double el = prec == 'f' ? run_f(B, steps, 0.01, tile, &s1, &s2, &nbad)
                            : run_d(B, steps, 0.01, tile, &s1, &s2, &nbad);
#ifdef LEAN
    const char *impl = "c_if_vec_lean";
#else
    const char *impl = "c_if_vec";
#endif
    printf("{\"impl\": \"%s\", \"prec\": \"%s\", \"B\": %d, \"steps\": %d, \"tile\": %d, \"time_s\": %.6f, "
           "\"neuron_steps_per_s\": %.6e, \"spikes1_total\": %ld, \"spikes2_total\": %ld, \"diverged\": %ld}\n",
           impl, prec == 'f' ? "float32" : "float64", B, steps, tile, el, 2.0 * B * (double)steps / el, s1, s2, nbad);
    return 0;
}
