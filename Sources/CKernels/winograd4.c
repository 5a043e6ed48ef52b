// Winograd F(4×4, 5×5) for 5×5 stride-1 convolutions whose outputs tile by 4 (LeNet's conv2,
// CIFAR-10 quick's convolutions) (see include/ckernels.h).
//
// Each 4×4 block of outputs ("tile") comes from the 8×8 input patch under it:
//   Y = Aᵀ [ Σ_c (G g Gᵀ) ⊙ (Bᵀ d B) ] A
// on the points 0, ±1, ±2, ±1/2 and ∞: 64 products per tile, input and output channel for 16
// outputs, against F(2×2, 5×5)'s 144 (4 tiles of 36) and a direct convolution's 400, and a
// quarter as many tiles to transform. A 12² plane (LeNet's conv2) has only 4 tiles, too few to
// fill a vector, so the vector lanes are 8 images: a group of 8 images is interleaved into
// (C, H, W, 8) planes, every transform works on whole vectors of the 8, and the products
// M_ξ (K, T) = U_ξ (K, C) · V_ξ (C, T) take T = 8 × tiles columns (ck_wino_products). Lanes never
// mix, so an image's result does not depend on its group, its lane or the thread count.
//
// The transforms are AVX2 code on both kernel levels, the products the shared AVX2/AVX-512
// kernels that give the same bits, so both paths give the same bits (KernelPathTests). U is
// computed in double and rounded once, as for F(2×2, 5×5).
#include "ckernels.h"
#include "winograd_internal.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#include <string.h>

#define WT __attribute__((target("avx2,fma")))
#define LANES 8     // images per group
#define NP 64       // points ξ of the 8×8 domain

typedef struct {
    int th, tw;      // tiles down and across: outH / 4, outW / 4
    int hq, wq;      // the padded plane the tiles read: outH + 4, outW + 4
    int block;       // tiles per block: V and M (64 · (C + K) · 8 · block floats) stay in L2
} w4geom_t;

static w4geom_t w4_geometry(int k, int c, int out_h, int out_w) {
    w4geom_t g;
    g.th = out_h / 4;
    g.tw = out_w / 4;
    g.hq = out_h + 4;
    g.wq = out_w + 4;
    int tiles = g.th * g.tw, b = 160000 / (NP * LANES * (rows_of(c) + rows_of(k)));
    if (b < 2) b = 2;
    g.block = b > tiles ? tiles : b;
    return g;
}

int ck_wino4_applies(int k, int c, int out_h, int out_w) {
    return ck_isa() >= 1 && k > 0 && c > 0 && out_h > 0 && out_w > 0 && out_h % 4 == 0 && out_w % 4 == 0;
}

long ck_wino4_weights(int k, int c) { return (long)NP * rows_of(k) * c; }

long ck_wino4_scratch(int k, int c, int out_h, int out_w) {
    w4geom_t g = w4_geometry(k, c, out_h, out_w);
    long t = (long)g.block * LANES, plane = (long)g.hq * g.wq * LANES;
    long forward = c * plane + NP * (c * t + 24) + NP * (rows_of(k) * t + 24);
    long adjoint = c * plane + (long)k * out_h * out_w * LANES + NP * (k * t + 24) + NP * (rows_of(c) * t + 24);
    return (forward > adjoint ? forward : adjoint) + 16;
}

// G of F(4, 5) (8 × 5): row j evaluates the kernel at point j (0, 1, −1, 2, −2, 1/2, −1/2, ∞),
// scaled by 1 / Π_{l≠j} (a_j − a_l) (the sign of row 0 moved into Bᵀ's).
static const double G4[8][5] = {
    {1, 0, 0, 0, 0},
    {-2.0 / 9, -2.0 / 9, -2.0 / 9, -2.0 / 9, -2.0 / 9},
    {-2.0 / 9, 2.0 / 9, -2.0 / 9, 2.0 / 9, -2.0 / 9},
    {1.0 / 90, 1.0 / 45, 2.0 / 45, 4.0 / 45, 8.0 / 45},
    {1.0 / 90, -1.0 / 45, 2.0 / 45, -4.0 / 45, 8.0 / 45},
    {32.0 / 45, 16.0 / 45, 8.0 / 45, 4.0 / 45, 2.0 / 45},
    {32.0 / 45, -16.0 / 45, 8.0 / 45, -4.0 / 45, 2.0 / 45},
    {0, 0, 0, 0, 1}};

// U (ξ, K'/4, C, 4) = G g Gᵀ, rows [o0, o1), zero past K; g as in ck_wino_pack_weights (flip 0:
// w (K, C, 5, 5); 1: w (C, K, 5, 5) rotated by 180°; 2: w (C, K, 5, 5) as it is). In double, the
// four rows of a block of U at once (lanes), each lane the same products and sums in the same
// order as one kernel alone; lanes past K transform zeros.
WT void ck_wino4_pack_weights(const float *w, int k, int c, int flip, int o0, int o1, float *u) {
    int kp = rows_of(k);
    long xs = (long)kp * c;
    if (o1 > kp) o1 = kp;
    for (int ob = o0 / KB * KB; ob < o1; ob += KB)
        for (int i = 0; i < c; i++) {
            __m256d g[5][5], t[8][5];
            for (int a = 0; a < 5; a++)
                for (int b = 0; b < 5; b++) {
                    double lane[4];
                    for (int l = 0; l < 4; l++) {
                        int o = ob + l;
                        const float *src = flip ? w + ((long)i * k + o) * 25 : w + ((long)o * c + i) * 25;
                        lane[l] = o < k ? (flip == 1 ? src[(4 - a) * 5 + (4 - b)] : src[a * 5 + b]) : 0.0;
                    }
                    g[a][b] = _mm256_loadu_pd(lane);
                }
            for (int p = 0; p < 8; p++)                 // G g
                for (int b = 0; b < 5; b++) {
                    __m256d sum = _mm256_setzero_pd();
                    for (int a = 0; a < 5; a++) sum = _mm256_add_pd(sum, _mm256_mul_pd(_mm256_set1_pd(G4[p][a]), g[a][b]));
                    t[p][b] = sum;
                }
            float *dst = u + ((long)(ob / KB) * c + i) * KB;
            int l0 = o0 > ob ? o0 - ob : 0, l1 = o1 - ob < KB ? o1 - ob : KB;
            for (int p = 0; p < 8; p++)                 // (G g) Gᵀ
                for (int q = 0; q < 8; q++) {
                    __m256d sum = _mm256_setzero_pd();
                    for (int b = 0; b < 5; b++) sum = _mm256_add_pd(sum, _mm256_mul_pd(t[p][b], _mm256_set1_pd(G4[q][b])));
                    __m128 r = _mm256_cvtpd_ps(sum);
                    float *out = dst + (p * 8 + q) * xs;
                    if (l0 == 0 && l1 == KB) _mm_storeu_ps(out, r);
                    else {
                        float f[4];
                        _mm_storeu_ps(f, r);
                        for (int l = l0; l < l1; l++) out[l] = f[l];
                    }
                }
        }
}

#define SET(x) _mm256_set1_ps(x)

// Bᵀ along one direction, 8 points → 8:
//   [1  0 −21/4  0    21/4  0   −1 0]   [0 −1/2 1/4  5/2 −5/4 −2   1 0]
//   [0  1  1    −17/4 −17/4 1    1 0]   [0  2   4   −5/2 −5    1/2 1 0]
//   [0 −1  1     17/4 −17/4 −1   1 0]   [0 −2   4    5/2 −5   −1/2 1 0]
//   [0 1/2 1/4  −5/2  −5/4  2    1 0]   [0 −1   0    21/4 0  −21/4 0 1]
WT static inline void bt8(const __m256 d[8], __m256 o[8]) {
    __m256 s1 = _mm256_fnmadd_ps(SET(4.25f), d[4], _mm256_add_ps(d[2], d[6]));
    __m256 s2 = _mm256_fnmadd_ps(SET(4.25f), d[3], _mm256_add_ps(d[1], d[5]));
    __m256 s3 = _mm256_fnmadd_ps(SET(1.25f), d[4], _mm256_fmadd_ps(SET(0.25f), d[2], d[6]));
    __m256 s4 = _mm256_fmadd_ps(SET(2.0f), d[5], _mm256_fnmadd_ps(SET(2.5f), d[3], _mm256_mul_ps(SET(0.5f), d[1])));
    __m256 s5 = _mm256_fnmadd_ps(SET(5.0f), d[4], _mm256_fmadd_ps(SET(4.0f), d[2], d[6]));
    __m256 s6 = _mm256_fmadd_ps(SET(0.5f), d[5], _mm256_fnmadd_ps(SET(2.5f), d[3], _mm256_mul_ps(SET(2.0f), d[1])));
    o[0] = _mm256_fmadd_ps(SET(5.25f), _mm256_sub_ps(d[4], d[2]), _mm256_sub_ps(d[0], d[6]));
    o[1] = _mm256_add_ps(s1, s2);
    o[2] = _mm256_sub_ps(s1, s2);
    o[3] = _mm256_add_ps(s3, s4);
    o[4] = _mm256_sub_ps(s3, s4);
    o[5] = _mm256_add_ps(s5, s6);
    o[6] = _mm256_sub_ps(s5, s6);
    o[7] = _mm256_fmadd_ps(SET(5.25f), _mm256_sub_ps(d[3], d[5]), _mm256_sub_ps(d[7], d[1]));
}

// B (the transpose of Bᵀ) along one direction, 8 → 8: the adjoint of bt8.
WT static inline void b8(const __m256 e[8], __m256 o[8]) {
    __m256 p = _mm256_add_ps(e[1], e[2]), q = _mm256_sub_ps(e[1], e[2]);
    __m256 r = _mm256_add_ps(e[3], e[4]), s = _mm256_sub_ps(e[3], e[4]);
    __m256 u = _mm256_add_ps(e[5], e[6]), v = _mm256_sub_ps(e[5], e[6]);
    o[0] = e[0];
    o[1] = _mm256_sub_ps(_mm256_fmadd_ps(SET(2.0f), v, _mm256_fmadd_ps(SET(0.5f), s, q)), e[7]);
    o[2] = _mm256_fnmadd_ps(SET(5.25f), e[0], _mm256_fmadd_ps(SET(4.0f), u, _mm256_fmadd_ps(SET(0.25f), r, p)));
    o[3] = _mm256_fmadd_ps(SET(5.25f), e[7], _mm256_fnmadd_ps(SET(2.5f), _mm256_add_ps(s, v), _mm256_mul_ps(SET(-4.25f), q)));
    o[4] = _mm256_fmadd_ps(SET(5.25f), e[0],
                           _mm256_fnmadd_ps(SET(5.0f), u, _mm256_fnmadd_ps(SET(1.25f), r, _mm256_mul_ps(SET(-4.25f), p))));
    o[5] = _mm256_fnmadd_ps(SET(5.25f), e[7], _mm256_fmadd_ps(SET(0.5f), v, _mm256_fmadd_ps(SET(2.0f), s, q)));
    o[6] = _mm256_sub_ps(_mm256_add_ps(_mm256_add_ps(p, r), u), e[0]);
    o[7] = e[7];
}

// Aᵀ along one direction, 8 → 4: rows [1 1 1 1 1 1 1 0], [0 1 −1 2 −2 1/2 −1/2 0],
// [0 1 1 4 4 1/4 1/4 0], [0 1 −1 8 −8 1/8 −1/8 1].
WT static inline void at8(const __m256 m[8], __m256 y[4]) {
    __m256 a = _mm256_add_ps(m[1], m[2]), b = _mm256_sub_ps(m[1], m[2]);
    __m256 c = _mm256_add_ps(m[3], m[4]), d = _mm256_sub_ps(m[3], m[4]);
    __m256 e = _mm256_add_ps(m[5], m[6]), f = _mm256_sub_ps(m[5], m[6]);
    y[0] = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(m[0], a), c), e);
    y[1] = _mm256_fmadd_ps(SET(0.5f), f, _mm256_fmadd_ps(SET(2.0f), d, b));
    y[2] = _mm256_fmadd_ps(SET(0.25f), e, _mm256_fmadd_ps(SET(4.0f), c, a));
    y[3] = _mm256_add_ps(_mm256_fmadd_ps(SET(0.125f), f, _mm256_fmadd_ps(SET(8.0f), d, b)), m[7]);
}

// A (the transpose of Aᵀ) along one direction, 4 → 8: the adjoint of at8.
WT static inline void a8(const __m256 y[4], __m256 o[8]) {
    __m256 ev = _mm256_add_ps(y[0], y[2]), od = _mm256_add_ps(y[1], y[3]);
    __m256 ev2 = _mm256_fmadd_ps(SET(4.0f), y[2], y[0]), od2 = _mm256_fmadd_ps(SET(8.0f), y[3], _mm256_mul_ps(SET(2.0f), y[1]));
    __m256 ev3 = _mm256_fmadd_ps(SET(0.25f), y[2], y[0]);
    __m256 od3 = _mm256_fmadd_ps(SET(0.125f), y[3], _mm256_mul_ps(SET(0.5f), y[1]));
    o[0] = y[0];
    o[1] = _mm256_add_ps(ev, od);
    o[2] = _mm256_sub_ps(ev, od);
    o[3] = _mm256_add_ps(ev2, od2);
    o[4] = _mm256_sub_ps(ev2, od2);
    o[5] = _mm256_add_ps(ev3, od3);
    o[6] = _mm256_sub_ps(ev3, od3);
    o[7] = y[3];
}

// r[j] (8 floats) ← element j of each r[i]: an 8 × 8 transpose.
WT static inline void transpose8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// dst[j·8 + n] = src_n[j] for j < count: `count` floats of each of nb ≤ 8 images (src + n·stride)
// interleaved, lanes past nb zero.
WT static void interleave(const float *src, long stride, int nb, int count, float *dst) {
    int j = 0;
    for (; j + 8 <= count; j += 8) {
        __m256 r[8];
        for (int n = 0; n < 8; n++) r[n] = n < nb ? _mm256_loadu_ps(src + n * stride + j) : _mm256_setzero_ps();
        transpose8(r);
        for (int i = 0; i < 8; i++) _mm256_storeu_ps(dst + (long)(j + i) * LANES, r[i]);
    }
    for (; j < count; j++)
        for (int n = 0; n < LANES; n++) dst[(long)j * LANES + n] = n < nb ? src[n * stride + j] : 0.0f;
}

// The inverse: dst_n[j] = src[j·8 + n] for the nb images.
WT static void deinterleave(const float *src, int nb, int count, float *dst, long stride) {
    int j = 0;
    for (; j + 8 <= count; j += 8) {
        __m256 r[8];
        for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + (long)(j + i) * LANES);
        transpose8(r);
        for (int n = 0; n < nb; n++) _mm256_storeu_ps(dst + n * stride + j, r[n]);
    }
    for (; j < count; j++)
        for (int n = 0; n < nb; n++) dst[n * stride + j] = src[(long)j * LANES + n];
}

// Bᵀ d B of one tile: d the 8 × 8 patch at x (row stride ld, columns LANES apart), into v[ξ·vs].
WT static inline void input_tile(const float *x, long ld, float *v, long vs) {
    __m256 t[8][8];
    for (int i = 0; i < 8; i++) {   // d B, row by row
        __m256 d[8];
        for (int j = 0; j < 8; j++) d[j] = _mm256_loadu_ps(x + i * ld + j * LANES);
        bt8(d, t[i]);
    }
    for (int q = 0; q < 8; q++) {   // Bᵀ (d B), column by column
        __m256 col[8], o[8];
        for (int p = 0; p < 8; p++) col[p] = t[p][q];
        bt8(col, o);
        for (int p = 0; p < 8; p++) _mm256_storeu_ps(v + (p * 8 + q) * vs, o[p]);
    }
}

// Aᵀ m A + bias of one tile (m[ξ·ms]), its 4 × 4 outputs stored to the nb images at y
// (row stride w, images y_image apart).
WT static inline void output_tile(const float *m, long ms, float bias, float *y, long y_image, int w, int nb) {
    __m256 t[4][8];
    for (int q = 0; q < 8; q++) {   // Aᵀ m, column by column
        __m256 col[8], o[4];
        for (int p = 0; p < 8; p++) col[p] = _mm256_loadu_ps(m + (p * 8 + q) * ms);
        at8(col, o);
        for (int i = 0; i < 4; i++) t[i][q] = o[i];
    }
    __m256 r[16], b = SET(bias);
    for (int i = 0; i < 4; i++) {   // (Aᵀ m) A, row by row
        __m256 o[4];
        at8(t[i], o);
        for (int j = 0; j < 4; j++) r[i * 4 + j] = _mm256_add_ps(o[j], b);
    }
    transpose8(r);                  // r[n]: image n's rows 0 and 1, r[8 + n] its rows 2 and 3
    transpose8(r + 8);
    for (int n = 0; n < nb; n++) {
        float *yn = y + n * y_image;
        _mm_storeu_ps(yn, _mm256_castps256_ps128(r[n]));
        _mm_storeu_ps(yn + w, _mm256_extractf128_ps(r[n], 1));
        _mm_storeu_ps(yn + 2 * w, _mm256_castps256_ps128(r[8 + n]));
        _mm_storeu_ps(yn + 3 * w, _mm256_extractf128_ps(r[8 + n], 1));
    }
}

// A dY Aᵀ of one tile: dY the 4 × 4 top gradient at dy (row stride ld, columns LANES apart),
// into d[ξ·ds].
WT static inline void grad_tile(const float *dy, long ld, float *d, long ds) {
    __m256 t[4][8];
    for (int i = 0; i < 4; i++) {   // dY Aᵀ, row by row
        __m256 y[4];
        for (int j = 0; j < 4; j++) y[j] = _mm256_loadu_ps(dy + i * ld + j * LANES);
        a8(y, t[i]);
    }
    for (int q = 0; q < 8; q++) {   // A (dY Aᵀ), column by column
        __m256 col[4] = {t[0][q], t[1][q], t[2][q], t[3][q]}, o[8];
        a8(col, o);
        for (int p = 0; p < 8; p++) _mm256_storeu_ps(d + (p * 8 + q) * ds, o[p]);
    }
}

// B E Bᵀ of one tile (E at e[ξ·es]) added into the 8 × 8 patch at x (row stride ld).
WT static inline void adjoint_tile(const float *e, long es, float *x, long ld) {
    __m256 f[8][8];
    for (int q = 0; q < 8; q++) {   // B along ξ's row index
        __m256 col[8], o[8];
        for (int p = 0; p < 8; p++) col[p] = _mm256_loadu_ps(e + (p * 8 + q) * es);
        b8(col, o);
        for (int i = 0; i < 8; i++) f[i][q] = o[i];
    }
    for (int i = 0; i < 8; i++) {   // then along its column index, into patch row i
        __m256 o[8];
        b8(f[i], o);
        float *xr = x + i * ld;
        for (int j = 0; j < 8; j++) _mm256_storeu_ps(xr + j * LANES, _mm256_add_ps(_mm256_loadu_ps(xr + j * LANES), o[j]));
    }
}

WT int ck_wino4_conv(const float *u, int k, int c, const float *x, long x_image, int images, int h, int w,
                     int pad, float *y, long y_image, const float *bias, float *scratch) {
    int out_h = h + 2 * pad - 4, out_w = w + 2 * pad - 4;
    if (images < 1 || images > LANES || pad < 0 || pad > 4 || !ck_wino4_applies(k, c, out_h, out_w)) return -1;
    w4geom_t g = w4_geometry(k, c, out_h, out_w);
    int kp = rows_of(k), tiles = g.th * g.tw;
    long plane = (long)g.hq * g.wq * LANES, ld = (long)g.wq * LANES;
    float *xi = scratch, *v = xi + c * plane;       // (C, hq, wq, 8), then V (ξ, C, T)
    memset(xi, 0, (size_t)(c * plane) * sizeof(float));
    for (int ci = 0; ci < c; ci++)
        for (int r = 0; r < h; r++)
            interleave(x + ((long)ci * h + r) * w, x_image, images, w, xi + ci * plane + (r + pad) * ld + pad * LANES);
    for (int t0 = 0; t0 < tiles; t0 += g.block) {
        int nt = tiles - t0 < g.block ? tiles - t0 : g.block;
        long t = (long)nt * LANES, vs = c * t + 24, ms = kp * t + 24;
        float *m = v + NP * vs;                     // M (ξ, K', T)
        for (int ci = 0; ci < c; ci++)
            for (int i = 0; i < nt; i++) {
                int ty = (t0 + i) / g.tw, tx = (t0 + i) % g.tw;
                input_tile(xi + ci * plane + 4 * ty * ld + 4 * tx * LANES, ld, v + ci * t + i * LANES, vs);
            }
        for (int xi_ = 0; xi_ < NP; xi_++)
            ck_wino_products(u + (long)xi_ * kp * c, v + xi_ * vs, m + xi_ * ms, kp, c, (int)t);
        for (int ki = 0; ki < k; ki++)
            for (int i = 0; i < nt; i++) {
                int ty = (t0 + i) / g.tw, tx = (t0 + i) % g.tw;
                output_tile(m + ki * t + i * LANES, ms, bias ? bias[ki] : 0.0f,
                            y + ((long)ki * out_h + 4 * ty) * out_w + 4 * tx, y_image, out_w, images);
            }
    }
    return 0;
}

WT int ck_wino4_conv_adjoint(const float *u, int k, int c, const float *dy, long dy_image, int images, int h,
                             int w, int pad, float *dx, long dx_image, float *scratch) {
    int out_h = h + 2 * pad - 4, out_w = w + 2 * pad - 4;
    if (images < 1 || images > LANES || pad < 0 || pad > 4 || !ck_wino4_applies(k, c, out_h, out_w)) return -1;
    w4geom_t g = w4_geometry(k, c, out_h, out_w);
    int cp = rows_of(c), tiles = g.th * g.tw, spatial = out_h * out_w;
    long plane = (long)g.hq * g.wq * LANES, ld = (long)g.wq * LANES, dplane = (long)spatial * LANES;
    float *dxi = scratch;                           // (C, hq, wq, 8): the padded input gradient
    float *dyi = dxi + c * plane;                   // (K, outH, outW, 8)
    float *d = dyi + k * dplane;                    // D (ξ, K, T), then E (ξ, C', T)
    memset(dxi, 0, (size_t)(c * plane) * sizeof(float));
    for (int ki = 0; ki < k; ki++) interleave(dy + (long)ki * spatial, dy_image, images, spatial, dyi + ki * dplane);
    for (int t0 = 0; t0 < tiles; t0 += g.block) {
        int nt = tiles - t0 < g.block ? tiles - t0 : g.block;
        long t = (long)nt * LANES, ds = k * t + 24, es = cp * t + 24;
        float *e = d + NP * ds;
        for (int ki = 0; ki < k; ki++)
            for (int i = 0; i < nt; i++) {
                int ty = (t0 + i) / g.tw, tx = (t0 + i) % g.tw;
                grad_tile(dyi + ki * dplane + ((long)4 * ty * out_w + 4 * tx) * LANES, (long)out_w * LANES,
                          d + ki * t + i * LANES, ds);
            }
        for (int xi_ = 0; xi_ < NP; xi_++)
            ck_wino_products(u + (long)xi_ * cp * k, d + xi_ * ds, e + xi_ * es, cp, k, (int)t);
        // Tiles add into the patches they share in order, so the sums do not depend on threads.
        for (int ci = 0; ci < c; ci++)
            for (int i = 0; i < nt; i++) {
                int ty = (t0 + i) / g.tw, tx = (t0 + i) % g.tw;
                adjoint_tile(e + ci * t + i * LANES, es, dxi + ci * plane + 4 * ty * ld + 4 * tx * LANES, ld);
            }
    }
    for (int ci = 0; ci < c; ci++)
        for (int r = 0; r < h; r++)
            deinterleave(dxi + ci * plane + (r + pad) * ld + pad * LANES, images, w, dx + ((long)ci * h + r) * w, dx_image);
    return 0;
}

// ---- Weight gradient: dU_ξ (K, C) = Σ_t (A dY_t Aᵀ)_ξ (Bᵀ d_t B)_ξ over a chunk of groups,
// then dW = Gᵀ dU G. The chunk holds V (ξ, C, Tc) then D (ξ, K, Tc), Tc = groups · tiles · 8. ----

static inline long w4_vs(int c, long tc) { return (long)c * tc + 24; }
static inline long w4_ds(int k, long tc) { return (long)k * tc + 24; }

long ck_wino4_wgrad_scratch(int k, int c, int out_h, int out_w, int groups) {
    long tc = (long)groups * (out_h / 4) * (out_w / 4) * LANES;
    return NP * (w4_vs(c, tc) + w4_ds(k, tc));
}

long ck_wino4_wgrad_pad(int k, int c, int out_h, int out_w) {
    (void)k, (void)c;
    long in = (long)(out_h + 4) * (out_w + 4), out = (long)out_h * out_w;
    return (in > out ? in : out) * LANES + 16;
}

WT void ck_wino4_wgrad_transform(int k, int c, const float *x, long x_image, const float *dy, long dy_image,
                                 int images, int h, int w, int pad, int p0, int p1, float *chunk, float *pads) {
    int out_h = h + 2 * pad - 4, out_w = w + 2 * pad - 4;
    w4geom_t g = w4_geometry(k, c, out_h, out_w);
    int tiles = g.th * g.tw, groups = (images + LANES - 1) / LANES, per = c + k, spatial = out_h * out_w;
    long tc = (long)groups * tiles * LANES, vs = w4_vs(c, tc), ds = w4_ds(k, tc);
    long ld = (long)g.wq * LANES, plane = (long)g.hq * ld;
    float *v = chunk, *d = chunk + NP * vs;
    for (int p = p0; p < p1; p++) {
        int q = p / per, i = p % per, n0 = q * LANES, nb = images - n0 < LANES ? images - n0 : LANES;
        long t0 = (long)q * tiles * LANES;
        if (i < c) {                                 // input plane i: padded, interleaved, Bᵀ d B
            memset(pads, 0, (size_t)plane * sizeof(float));
            for (int r = 0; r < h; r++)
                interleave(x + n0 * x_image + ((long)i * h + r) * w, x_image, nb, w, pads + (r + pad) * ld + pad * LANES);
            for (int tt = 0; tt < tiles; tt++)
                input_tile(pads + 4 * (tt / g.tw) * ld + 4 * (tt % g.tw) * LANES, ld,
                           v + i * tc + t0 + tt * LANES, vs);
        } else {                                     // top-gradient plane i − C: A dY Aᵀ
            int ki = i - c;
            interleave(dy + n0 * dy_image + (long)ki * spatial, dy_image, nb, spatial, pads);
            for (int tt = 0; tt < tiles; tt++)
                grad_tile(pads + ((long)4 * (tt / g.tw) * out_w + 4 * (tt % g.tw)) * LANES, (long)out_w * LANES,
                          d + ki * tc + t0 + tt * LANES, ds);
        }
    }
}

void ck_wino4_wgrad_reduce(int k, int c, int out_h, int out_w, int images, const float *chunk, int xi0, int xi1,
                           float *du) {
    long tc = (long)((images + LANES - 1) / LANES) * (out_h / 4) * (out_w / 4) * LANES;
    long vs = w4_vs(c, tc);
    ck_wino_reduce(k, c, tc, chunk, vs, chunk + NP * vs, w4_ds(k, tc), xi0, xi1, du);
}

// Gᵀ dU G for `lanes` (≤ 4) consecutive inputs at once, in double: each lane the same products
// and sums in the same order as one input alone, so the lanes do not change the bits.
WT static void finish_block(const float *src, long xs, int lanes, float *dst) {
    __m256d t[5][8];
    for (int a = 0; a < 5; a++)                 // Gᵀ dU
        for (int q = 0; q < 8; q++) {
            __m256d sum = _mm256_setzero_pd();
            for (int p = 0; p < 8; p++) {
                const float *e = src + (p * 8 + q) * xs;
                __m256d v;
                if (lanes == 4) v = _mm256_cvtps_pd(_mm_loadu_ps(e));
                else {
                    double lane[4] = {0, 0, 0, 0};
                    for (int l = 0; l < lanes; l++) lane[l] = e[l];
                    v = _mm256_loadu_pd(lane);
                }
                sum = _mm256_add_pd(sum, _mm256_mul_pd(_mm256_set1_pd(G4[p][a]), v));
            }
            t[a][q] = sum;
        }
    for (int a = 0; a < 5; a++)                 // (Gᵀ dU) G
        for (int b = 0; b < 5; b++) {
            __m256d sum = _mm256_setzero_pd();
            for (int q = 0; q < 8; q++) sum = _mm256_add_pd(sum, _mm256_mul_pd(t[a][q], _mm256_set1_pd(G4[q][b])));
            double r[4];
            _mm256_storeu_pd(r, sum);
            for (int l = 0; l < lanes; l++) dst[l * 25 + a * 5 + b] += (float)r[l];
        }
}

WT void ck_wino4_wgrad_finish(int k, int c, const float *du, int o0, int o1, float *dw) {
    long xs = (long)k * c;
    for (int o = o0; o < o1; o++)
        for (int i = 0; i < c; i += 4)
            finish_block(du + (long)o * c + i, xs, c - i < 4 ? c - i : 4, dw + ((long)o * c + i) * 25);
}

#else
long ck_wino4_wgrad_scratch(int k, int c, int out_h, int out_w, int groups) {
    (void)k, (void)c, (void)out_h, (void)out_w, (void)groups;
    return 0;
}
long ck_wino4_wgrad_pad(int k, int c, int out_h, int out_w) { (void)k, (void)c, (void)out_h, (void)out_w; return 0; }
void ck_wino4_wgrad_transform(int k, int c, const float *x, long x_image, const float *dy, long dy_image,
                              int images, int h, int w, int pad, int p0, int p1, float *chunk, float *pads) {
    (void)k, (void)c, (void)x, (void)x_image, (void)dy, (void)dy_image, (void)images, (void)h, (void)w, (void)pad;
    (void)p0, (void)p1, (void)chunk, (void)pads;
}
void ck_wino4_wgrad_reduce(int k, int c, int out_h, int out_w, int images, const float *chunk, int xi0, int xi1,
                           float *du) {
    (void)k, (void)c, (void)out_h, (void)out_w, (void)images, (void)chunk, (void)xi0, (void)xi1, (void)du;
}
void ck_wino4_wgrad_finish(int k, int c, const float *du, int o0, int o1, float *dw) {
    (void)k, (void)c, (void)du, (void)o0, (void)o1, (void)dw;
}
int ck_wino4_applies(int k, int c, int out_h, int out_w) { (void)k, (void)c, (void)out_h, (void)out_w; return 0; }
long ck_wino4_weights(int k, int c) { (void)k, (void)c; return 0; }
long ck_wino4_scratch(int k, int c, int out_h, int out_w) { (void)k, (void)c, (void)out_h, (void)out_w; return 0; }
void ck_wino4_pack_weights(const float *w, int k, int c, int flip, int o0, int o1, float *u) {
    (void)w, (void)k, (void)c, (void)flip, (void)o0, (void)o1, (void)u;
}
int ck_wino4_conv(const float *u, int k, int c, const float *x, long x_image, int images, int h, int w,
                  int pad, float *y, long y_image, const float *bias, float *scratch) {
    (void)u, (void)k, (void)c, (void)x, (void)x_image, (void)images, (void)h, (void)w, (void)pad, (void)y;
    (void)y_image, (void)bias, (void)scratch;
    return -1;
}
int ck_wino4_conv_adjoint(const float *u, int k, int c, const float *dy, long dy_image, int images, int h,
                          int w, int pad, float *dx, long dx_image, float *scratch) {
    (void)u, (void)k, (void)c, (void)dy, (void)dy_image, (void)images, (void)h, (void)w, (void)pad, (void)dx;
    (void)dx_image, (void)scratch;
    return -1;
}
#endif
