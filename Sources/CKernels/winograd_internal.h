// Shared between winograd.c and winograd4.c; not part of the module's API.
#ifndef WINOGRAD_INTERNAL_H
#define WINOGRAD_INTERNAL_H

/// M (K, T) = U (K, C) · V (C, T) for one point ξ: U in row blocks of 4 (K a multiple of 4),
/// T a multiple of 8; each element the same chain of FMAs over c, from 0, on AVX2 and AVX-512.
void ck_wino_products(const float *u, const float *v, float *m, int k, int c, int t);

#endif
