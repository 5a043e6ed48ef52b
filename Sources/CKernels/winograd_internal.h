// Shared between winograd.c and winograd4.c; not part of the module's API.
#ifndef WINOGRAD_INTERNAL_H
#define WINOGRAD_INTERNAL_H

/// U's rows come in blocks of KB (output channels per micro-kernel block); rows_of rounds a
/// channel count up to whole blocks (rows of zeros past it: LeNet's 50 outputs run as 52).
#define KB 4
static inline int rows_of(int k) { return (k + KB - 1) / KB * KB; }

/// M (K, T) = U (K, C) · V (C, T) for one point ξ: U in row blocks of 4 (K a multiple of 4),
/// T a multiple of 8; each element the same chain of FMAs over c, from 0, on AVX2 and AVX-512.
void ck_wino_products(const float *u, const float *v, float *m, int k, int c, int t);

/// dU_ξ (K, C) += Σ_t D_ξ[k][t] · V_ξ[c][t] for ξ in [xi0, xi1): V (ξ, C, tc) at v (ξ stride vs),
/// D (ξ, K, tc) at d (stride ds), tc a multiple of 8; each element an 8-lane chain over t in
/// order, the lanes then summed in a fixed tree, the same on AVX2 and AVX-512.
void ck_wino_reduce(int k, int c, long tc, const float *v, long vs, const float *d, long ds, int xi0, int xi1,
                    float *du);

#endif
