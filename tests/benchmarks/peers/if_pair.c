/* IF peer in C: B independent pairs of integrate-and-fire neurons with conductance synapses (synsweep's
 * `cif` neurons joined both ways by `two_stage` synapses with the `coba` output: the if-sync pair of seed 002,
 * workflows/specs/if_sync.yaml), classic RK4 on the coupled 6-dimensional system, dt = 0.01 ms, one thread.
 * The same equations and RK4 step as synsweep's kernel for this circuit (engine/models/cif.py,
 * engine/synapses/abstract.py); the kernel also does what this peer leaves out (so spike totals differ by
 * ~0.05%): the refractory counter (t_ref, 0 here), each jump of x propagated from the spike's time within the
 * step to the step's end (an exponential per spike), and the divergence check of every point:
 *   tau_m dv/dt = -v + E_m - R_m i_bg + R_m i_in,  i_bg = 1e-3 (g_exc (v - E_exc) + g_inh (v - E_inh))
 *   i_in = I_ext - 1e-3 g (v - E_syn)   (nS mV -> nA)      tau_syn dx/dt = -x,  tau_syn dg/dt = x - g
 * after each step: v >= thr -> spike, v = v_reset; a spike of the presynaptic neuron adds g_star to x.
 * Every parameter is a runtime value (a kernel that reads them from memory), the background conductances
 * included. Spike counts and the running sums of a Pearson correlation of v1, v2 are kept every step, as the
 * W2 peer does, branch-free so that the pair loop stays vectorised.
 * Build: gcc -O3 -march=native -ffast-math -o if_pair if_pair.c -lm
 * usage: if_pair --B N [--steps S] [--prec d|f] [--tile K]
 * Pair p (0-based): I1 = I2 = 3 + (p mod 101) / 100 nA, g_star = 15 + 45 p / (B - 1) nS,
 * tau_syn = 5 + 15 (p mod 7) / 6 ms; E_m = v_reset = -70 mV, thr = -54 mV, tau_m 10 ms, R_m 10 MOhm,
 * E_syn 0 mV; v1(0) = -60, v2(0) = -70 mV, x = g = 0.
 * Prints one JSON line timing the integration proper (set-up excluded), like the W1 and W2 peers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static volatile double guard = 1.0; /* keeps the parameters runtime values, never folded constants */

#define DEFINE_RUN(REAL, SFX)                                                                                   \
    typedef struct { REAL tau_m, R_m, E_m, v_reset, thr, g_exc, g_inh, E_exc, E_inh, E_syn; } cifp_##SFX;        \
                                                                                                                \
    static inline __attribute__((always_inline)) REAL dv_##SFX(const cifp_##SFX *P, REAL v, REAL i_in)          \
    {                                                                                                           \
        REAL i_bg = (REAL)0.001 * (P->g_exc * (v - P->E_exc) + P->g_inh * (v - P->E_inh));                      \
        return (-v + P->E_m - P->R_m * i_bg + P->R_m * i_in) / P->tau_m;                                         \
    }                                                                                                           \
                                                                                                                \
    /* the derivatives of one RK stage at (v1, v2, x12, g12, x21, g21); s12 is n1 -> n2, s21 is n2 -> n1 */      \
    static inline __attribute__((always_inline)) void stage_##SFX(                                              \
        const cifp_##SFX *P, REAL i1, REAL i2, REAL ts, REAL v1, REAL v2, REAL x12, REAL g12, REAL x21,         \
        REAL g21, REAL *k)                                                                                      \
    {                                                                                                           \
        REAL c1 = i1 + (REAL)0.001 * (-g21 * (v1 - P->E_syn));                                                  \
        REAL c2 = i2 + (REAL)0.001 * (-g12 * (v2 - P->E_syn));                                                  \
        k[0] = dv_##SFX(P, v1, c1);                                                                             \
        k[1] = dv_##SFX(P, v2, c2);                                                                             \
        k[2] = -x12 / ts; k[3] = (x12 - g12) / ts;                                                              \
        k[4] = -x21 / ts; k[5] = (x21 - g21) / ts;                                                              \
    }                                                                                                           \
                                                                                                                \
    static void run_range_##SFX(int lo, int hi, int nsteps, REAL dt, cifp_##SFX Pv,                            \
        const REAL *restrict I1, const REAL *restrict I2, const REAL *restrict GS, const REAL *restrict TS,     \
        REAL *restrict V1, REAL *restrict V2, REAL *restrict X12, REAL *restrict G12, REAL *restrict X21,       \
        REAL *restrict G21, REAL *restrict c1, REAL *restrict c2, REAL *restrict sx, REAL *restrict sy,         \
        REAL *restrict sxx, REAL *restrict syy, REAL *restrict sxy)                                             \
    {                                                                                                           \
        const cifp_##SFX *P = &Pv;                                                                              \
        const REAL a10 = (REAL)0.5 * dt, a21 = (REAL)0.5 * dt, a32 = dt;                                        \
        const REAL b0 = dt / (REAL)6, b1 = dt / (REAL)3, b2 = dt / (REAL)3, b3 = dt / (REAL)6;                  \
        for (int s = 0; s < nsteps; s++) {                                                                      \
            _Pragma("GCC ivdep")                                                                                \
            for (int i = lo; i < hi; i++) {                                                                     \
                REAL i1 = I1[i], i2 = I2[i], ts = TS[i];                                                        \
                REAL y[6] = {V1[i], V2[i], X12[i], G12[i], X21[i], G21[i]};                                     \
                REAL k0[6], k1[6], k2[6], k3[6], z[6];                                                          \
                stage_##SFX(P, i1, i2, ts, y[0], y[1], y[2], y[3], y[4], y[5], k0);                             \
                for (int r = 0; r < 6; r++) z[r] = y[r] + a10 * k0[r];                                          \
                stage_##SFX(P, i1, i2, ts, z[0], z[1], z[2], z[3], z[4], z[5], k1);                             \
                for (int r = 0; r < 6; r++) z[r] = y[r] + a21 * k1[r];                                          \
                stage_##SFX(P, i1, i2, ts, z[0], z[1], z[2], z[3], z[4], z[5], k2);                             \
                for (int r = 0; r < 6; r++) z[r] = y[r] + a32 * k2[r];                                          \
                stage_##SFX(P, i1, i2, ts, z[0], z[1], z[2], z[3], z[4], z[5], k3);                             \
                REAL n[6];                                                                                      \
                for (int r = 0; r < 6; r++) n[r] = y[r] + b0 * k0[r] + b1 * k1[r] + b2 * k2[r] + b3 * k3[r];    \
                REAL sp1 = n[0] >= P->thr ? (REAL)1 : (REAL)0, sp2 = n[1] >= P->thr ? (REAL)1 : (REAL)0;         \
                REAL v1 = sp1 > 0 ? P->v_reset : n[0], v2 = sp2 > 0 ? P->v_reset : n[1];                         \
                V1[i] = v1; V2[i] = v2;                                                                         \
                X12[i] = n[2] + sp1 * GS[i]; G12[i] = n[3];                                                     \
                X21[i] = n[4] + sp2 * GS[i]; G21[i] = n[5];                                                     \
                c1[i] += sp1; c2[i] += sp2;                                                                     \
                /* running sums for Pearson r (v shifted by E_m against cancellation) */                        \
                REAL p = v1 - P->E_m, q = v2 - P->E_m;                                                          \
                sx[i] += p; sy[i] += q; sxx[i] += p * p; syy[i] += q * q; sxy[i] += p * q;                      \
            }                                                                                                   \
        }                                                                                                       \
    }                                                                                                           \
                                                                                                                \
    static double run_##SFX(int B, int nsteps, double dt, int tile, long *s1, long *s2)                        \
    {                                                                                                           \
        size_t st = (size_t)((B + 15) / 16 * 16);                                                               \
        REAL *buf = aligned_alloc(64, sizeof(REAL) * 17 * st);                                                  \
        REAL *I1 = buf, *I2 = buf + st, *GS = buf + 2 * st, *TS = buf + 3 * st, *V1 = buf + 4 * st,             \
             *V2 = buf + 5 * st, *X12 = buf + 6 * st, *G12 = buf + 7 * st, *X21 = buf + 8 * st,                 \
             *G21 = buf + 9 * st, *c1 = buf + 10 * st, *c2 = buf + 11 * st, *sx = buf + 12 * st,                \
             *sy = buf + 13 * st, *sxx = buf + 14 * st, *syy = buf + 15 * st, *sxy = buf + 16 * st;             \
        for (int p = 0; p < B; p++) {                                                                           \
            I1[p] = I2[p] = (REAL)(3.0 + (p % 101) / 100.0);                                                    \
            GS[p] = (REAL)(15.0 + (B > 1 ? 45.0 * p / (double)(B - 1) : 0.0));                                 \
            TS[p] = (REAL)(5.0 + 15.0 * (p % 7) / 6.0);                                                         \
            V1[p] = (REAL)-60.0; V2[p] = (REAL)-70.0;                                                           \
            X12[p] = G12[p] = X21[p] = G21[p] = 0;                                                              \
            c1[p] = c2[p] = sx[p] = sy[p] = sxx[p] = syy[p] = sxy[p] = 0;                                       \
        }                                                                                                       \
        double k = guard;                                                                                       \
        cifp_##SFX P = {(REAL)(10.0 * k), (REAL)(10.0 * k), (REAL)(-70.0 * k), (REAL)(-70.0 * k),               \
                        (REAL)(-54.0 * k), (REAL)(0.0 * k), (REAL)(0.0 * k), (REAL)(0.0 * k),                   \
                        (REAL)(-100.0 * k), (REAL)(0.0 * k)};                                                   \
        double t0 = now_s();                                                                                    \
        for (int lo = 0; lo < B; lo += tile) {                                                                  \
            int hi = lo + tile < B ? lo + tile : B;                                                             \
            run_range_##SFX(lo, hi, nsteps, (REAL)dt, P, I1, I2, GS, TS, V1, V2, X12, G12, X21, G21, c1, c2,   \
                            sx, sy, sxx, syy, sxy);                                                             \
        }                                                                                                       \
        double el = now_s() - t0;                                                                               \
        *s1 = *s2 = 0;                                                                                          \
        for (int p = 0; p < B; p++) { *s1 += (long)c1[p]; *s2 += (long)c2[p]; }                                 \
        free(buf);                                                                                              \
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
    long s1, s2;
    double el = prec == 'f' ? run_f(B, steps, 0.01, tile, &s1, &s2) : run_d(B, steps, 0.01, tile, &s1, &s2);
    printf("{\"impl\": \"c_if_vec\", \"prec\": \"%s\", \"B\": %d, \"steps\": %d, \"tile\": %d, \"time_s\": %.6f, "
           "\"neuron_steps_per_s\": %.6e, \"spikes1_total\": %ld, \"spikes2_total\": %ld}\n",
           prec == 'f' ? "float32" : "float64", B, steps, tile, el, 2.0 * B * (double)steps / el, s1, s2);
    return 0;
}
