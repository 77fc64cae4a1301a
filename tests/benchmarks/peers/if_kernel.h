/* IF kernel, included twice by if_pair.c with REAL = double / float (as the W2 peer includes w2_kernel.h).
 * B independent if-sync pairs: two `cif` neurons joined both ways by `two_stage` conductance synapses,
 * classic RK4 on the coupled 6-dimensional system (v1, v2, x12, g12, x21, g21):
 *   tau_m dv/dt = -v + E_m - R_m i_bg + R_m i_in,   i_bg = 1e-3 (g_exc (v - E_exc) + g_inh (v - E_inh))
 *   i_in = I_ext - 1e-3 g (v - E_syn)   (nS mV -> nA)      tau_syn dx/dt = -x,   tau_syn dg/dt = x - g
 * and after each step the work synsweep's kernel does for this circuit (engine/models/cif.py,
 * engine/synapses/abstract.py, engine/kernel/emit.py):
 *   - spike: v >= thr and not refractory; v <- v_reset, ref <- round(t_ref / dt) steps, else ref <- max(ref - 1, 0);
 *     a refractory neuron's v is held (dv/dt = 0);
 *   - the spike's jump of the synapse it drives, propagated from the crossing (interpolated linearly within the
 *     step) to the step's end: lag = dt (v_after - thr) / (v_after - v_before), e = exp(-lag / tau_syn),
 *     x += g_star e, g += g_star (lag / tau_syn) e; in a second pass over the tile, only in steps in which a
 *     neuron of the tile spiked (as the engine does);
 *   - the divergence check: the first step at which |v| of a neuron leaves the bound, in a pass only in steps in
 *     which some lane left it;
 *   - spike counts and the running sums of a Pearson correlation of v1, v2, every step.
 * With LEAN defined, the refractory counter, the within-step timing (x jumps by g_star at the step's end) and the
 * divergence check are left out: the peer's first version, one loop per step.
 * Structure of arrays, pair index innermost, branch-free main loop (gcc vectorises it, -fopt-info-vec).
 * Required macros: REAL, SFX. */
#define CAT_(p, q) p##q
#define CAT(p, q) CAT_(p, q)

typedef struct { REAL tau_m, R_m, E_m, v_reset, thr, g_exc, g_inh, E_exc, E_inh, E_syn, t_ref; } CAT(cifp, SFX);

static inline __attribute__((always_inline)) REAL CAT(dv, SFX)(const CAT(cifp, SFX) *P, REAL v, REAL i_in)
{
    REAL i_bg = (REAL)0.001 * (P->g_exc * (v - P->E_exc) + P->g_inh * (v - P->E_inh));
    return (-v + P->E_m - P->R_m * i_bg + P->R_m * i_in) / P->tau_m;
}

/* the derivatives of one RK stage at (v1, v2, x12, g12, x21, g21); s12 is n1 -> n2, s21 is n2 -> n1;
 * r1, r2: the neurons' refractory steps left (v held while > 0) */
static inline __attribute__((always_inline)) void CAT(stage, SFX)(const CAT(cifp, SFX) *P, REAL i1, REAL i2,
    REAL ts, REAL r1, REAL r2, const REAL *y, REAL *k)
{
    REAL c1 = i1 + (REAL)0.001 * (-y[5] * (y[0] - P->E_syn));
    REAL c2 = i2 + (REAL)0.001 * (-y[3] * (y[1] - P->E_syn));
    REAL d1 = CAT(dv, SFX)(P, y[0], c1), d2 = CAT(dv, SFX)(P, y[1], c2);
#ifdef LEAN
    (void)r1; (void)r2;
    k[0] = d1; k[1] = d2;
#else
    k[0] = r1 > 0 ? (REAL)0 : d1;
    k[1] = r2 > 0 ? (REAL)0 : d2;
#endif
    k[2] = -y[2] / ts; k[3] = (y[2] - y[3]) / ts;
    k[4] = -y[4] / ts; k[5] = (y[4] - y[5]) / ts;
}

/* one spike's jump of (x, g), propagated from its crossing to the step's end (see the header) */
static inline void CAT(jump, SFX)(const CAT(cifp, SFX) *P, REAL dt, REAL vb, REAL va, REAL gs, REAL ts,
    REAL *x, REAL *g)
{
    REAL f = (va - P->thr) / fmax(va - vb, (REAL)1e-30);
    REAL lag = fmin(fmax(f, (REAL)0), (REAL)1) * dt, e = (REAL)exp(-lag / ts);
    *x += gs * e;
    *g += gs * (lag / ts) * e;
}

/* advance pairs [lo, hi) by nsteps RK4 steps; VB, VA: scratch rows for the event pass (v before the step; v
 * after it where the neuron spiked, else thr - 1, below any spike: a finite mark, as -ffast-math assumes no inf);
 * D: the first step out of bounds, -1 while none */
static void CAT(run_range, SFX)(int lo, int hi, int nsteps, REAL dt, CAT(cifp, SFX) Pv,
    const REAL *restrict I1, const REAL *restrict I2, const REAL *restrict GS, const REAL *restrict TS,
    REAL *restrict V1, REAL *restrict V2, REAL *restrict X12, REAL *restrict G12, REAL *restrict X21,
    REAL *restrict G21, REAL *restrict R1, REAL *restrict R2, REAL *restrict c1, REAL *restrict c2,
    REAL *restrict sx, REAL *restrict sy, REAL *restrict sxx, REAL *restrict syy, REAL *restrict sxy,
    REAL *restrict VB1, REAL *restrict VA1, REAL *restrict VB2, REAL *restrict VA2, long *restrict D)
{
    const CAT(cifp, SFX) *P = &Pv;
    const REAL a10 = (REAL)0.5 * dt, a21 = (REAL)0.5 * dt, a32 = dt;
    const REAL b0 = dt / (REAL)6, b1 = dt / (REAL)3, b2 = dt / (REAL)3, b3 = dt / (REAL)6;
    const REAL ref_steps = (REAL)floor(P->t_ref / dt + (REAL)0.5), bound = (REAL)1e4;
#ifdef LEAN
    (void)R1; (void)R2; (void)VB1; (void)VA1; (void)VB2; (void)VA2; (void)D; (void)bound; (void)ref_steps;
#endif
    for (int s = 0; s < nsteps; s++) {
#ifndef LEAN
        int any = 0, out = 0;  /* whether a neuron of the tile spiked, left the bounds */
#endif
#pragma GCC ivdep
        for (int i = lo; i < hi; i++) {
            REAL i1 = I1[i], i2 = I2[i], ts = TS[i];
#ifdef LEAN
            REAL r1 = 0, r2 = 0;
#else
            REAL r1 = R1[i], r2 = R2[i];
#endif
            REAL y[6] = {V1[i], V2[i], X12[i], G12[i], X21[i], G21[i]};
            REAL k0[6], k1[6], k2[6], k3[6], z[6], n[6];
            CAT(stage, SFX)(P, i1, i2, ts, r1, r2, y, k0);
            for (int r = 0; r < 6; r++) z[r] = y[r] + a10 * k0[r];
            CAT(stage, SFX)(P, i1, i2, ts, r1, r2, z, k1);
            for (int r = 0; r < 6; r++) z[r] = y[r] + a21 * k1[r];
            CAT(stage, SFX)(P, i1, i2, ts, r1, r2, z, k2);
            for (int r = 0; r < 6; r++) z[r] = y[r] + a32 * k2[r];
            CAT(stage, SFX)(P, i1, i2, ts, r1, r2, z, k3);
            for (int r = 0; r < 6; r++) n[r] = y[r] + (b0 * k0[r] + b1 * k1[r] + b2 * k2[r] + b3 * k3[r]);
            int up1 = (n[0] >= P->thr) & (r1 <= 0), up2 = (n[1] >= P->thr) & (r2 <= 0);
            REAL v1 = up1 ? P->v_reset : n[0], v2 = up2 ? P->v_reset : n[1];
            V1[i] = v1; V2[i] = v2; G12[i] = n[3]; G21[i] = n[5];
#ifdef LEAN
            X12[i] = n[2] + (up1 ? GS[i] : (REAL)0);
            X21[i] = n[4] + (up2 ? GS[i] : (REAL)0);
#else
            X12[i] = n[2]; X21[i] = n[4];
            R1[i] = up1 ? ref_steps : (r1 > 1 ? r1 - 1 : (REAL)0);
            R2[i] = up2 ? ref_steps : (r2 > 1 ? r2 - 1 : (REAL)0);
            VB1[i] = y[0]; VA1[i] = up1 ? n[0] : P->thr - 1;
            VB2[i] = y[1]; VA2[i] = up2 ? n[1] : P->thr - 1;
            any |= up1 | up2;
            out |= !((fabs(v1) <= bound) & (fabs(v2) <= bound));
#endif
            c1[i] += up1 ? (REAL)1 : (REAL)0; c2[i] += up2 ? (REAL)1 : (REAL)0;
            /* running sums for Pearson r (v shifted by E_m against cancellation) */
            REAL p = v1 - P->E_m, q = v2 - P->E_m;
            sx[i] += p; sy[i] += q; sxx[i] += p * p; syy[i] += q * q; sxy[i] += p * q;
        }
#ifndef LEAN
        for (int i = lo; any && i < hi; i++) {
            if (VA1[i] >= P->thr) CAT(jump, SFX)(P, dt, VB1[i], VA1[i], GS[i], TS[i], &X12[i], &G12[i]);
            if (VA2[i] >= P->thr) CAT(jump, SFX)(P, dt, VB2[i], VA2[i], GS[i], TS[i], &X21[i], &G21[i]);
        }
        for (int i = lo; out && i < hi; i++)
            if (D[i] < 0 && !(fabs(V1[i]) <= bound && fabs(V2[i]) <= bound)) D[i] = s;
#endif
    }
}

#undef CAT
#undef CAT_
