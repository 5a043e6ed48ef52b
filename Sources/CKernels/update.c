// The SGD solver's whole update of a block of parameters in one pass (see include/ckernels.h).
#include "ckernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#include <math.h>

// One element: the same operations as the vector loops, fmaf being exact like the FMA, and no
// other multiply and add fused (the vector loops round both products).
static inline void step1(float *w, float *g, float *h, float decay, float rate, float momentum, float scale,
                         int unscaled) {
#pragma clang fp contract(off)
    float gi = decay != 0.0f ? fmaf(decay, *w, *g) : *g;
    float hi = rate * gi + momentum * *h;
    float d = *w - hi;
    *h = hi;
    *g = hi;
    *w = unscaled ? d : scale * d;
}

#define STEP(vec, P, n_)                                                                             \
    for (; i + n_ <= n; i += n_) {                                                                   \
        vec wv = P##_loadu_ps(w + i), gv = P##_loadu_ps(g + i);                                      \
        if (decay != 0.0f) gv = P##_fmadd_ps(P##_set1_ps(decay), wv, gv);                             \
        vec hv = P##_add_ps(P##_mul_ps(P##_set1_ps(rate), gv), P##_mul_ps(P##_set1_ps(momentum), P##_loadu_ps(h + i))); \
        vec d = P##_sub_ps(wv, hv);                                                                  \
        P##_storeu_ps(h + i, hv);                                                                    \
        P##_storeu_ps(g + i, hv);                                                                    \
        P##_storeu_ps(w + i, unscaled ? d : P##_mul_ps(P##_set1_ps(scale), d));                      \
    }

// The whole block: vector steps of n_ lanes, then the scalar tail.
#define SGD(attr, name, vec, P, n_)                                                                  \
    attr static void name(float *w, float *g, float *h, long n, float decay, float rate, float momentum, \
                          float scale) {                                                              \
        int unscaled = scale == 1.0f;                                                                \
        long i = 0;                                                                                  \
        STEP(vec, P, n_)                                                                             \
        for (; i < n; i++) step1(w + i, g + i, h + i, decay, rate, momentum, scale, unscaled);       \
    }
SGD(__attribute__((target("avx512f,avx2,fma"))), sgd512, __m512, _mm512, 16)
SGD(__attribute__((target("avx2,fma"))), sgd256, __m256, _mm256, 8)

int ck_sgd_step(float *w, float *g, float *h, long n, float decay, float rate, float momentum, float scale) {
    int level = ck_isa();
    if (level >= 2) sgd512(w, g, h, n, decay, rate, momentum, scale);
    else if (level == 1) sgd256(w, g, h, n, decay, rate, momentum, scale);
    else return -1;
    return 0;
}

#else
int ck_sgd_step(float *w, float *g, float *h, long n, float decay, float rate, float momentum, float scale) {
    (void)w, (void)g, (void)h, (void)n, (void)decay, (void)rate, (void)momentum, (void)scale;
    return -1;
}
#endif
