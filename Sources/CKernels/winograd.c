// Winograd F(2×2, 3×3) for 3×3 stride-1 convolutions, and F(2×2, 5×5) for 5×5 ones (see
// include/ckernels.h).
//
// Each 2×2 block of outputs ("tile") comes from the 4×4 input patch under it:
//   Y = Aᵀ [ Σ_c (G g_kc Gᵀ) ⊙ (Bᵀ d_c B) ] A
// so the 36 multiplies per tile, channel and output of a direct 3×3 convolution become 16, in 16
// independent products M_ξ (K, T) = U_ξ (K, C) · V_ξ (C, T), one per point ξ of the 4×4 domain.
// Bᵀ and Aᵀ hold only 0 and ±1: the transforms are adds, run 8 tiles per ymm vector. Tiles are
// taken a few tile rows at a time so that V and M (16·(C + K)·T floats) stay in the L2 cache.
//
// F(2×2, 5×5) is the same with 6×6 input tiles: 36 products per tile instead of 100, on the
// points 0, ±1, ±2 and ∞ (Bᵀ is the one of F(4×4, 3×3); G has 1/4, 1/6, 1/12 and 1/24). U and
// the weight gradient's last step are computed in double and rounded once.
//
// Lane order: the 8 tiles of a vector sit in the order (0, 1, 4, 5 | 2, 3, 6, 7), which is what
// _mm256_shuffle_ps gives when it splits 16 consecutive floats into even and odd columns, and
// what _mm256_unpacklo/hi_ps turn back into 16 consecutive outputs. The products do not care.
//
// The transforms are AVX2 code on both kernel levels; the products have an AVX2 and an AVX-512
// kernel that compute each element with the same FMAs in the same order, so AVX-512 and AVX2
// give the same bits (KernelPathTests).
#include "ckernels.h"
#include "winograd_internal.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#include <string.h>

#define WT __attribute__((target("avx2,fma")))

// Tile geometry of one convolution: tiles_w rounded up to whole vectors of 8.
typedef struct {
    int tiles_h, tiles_w, tiles_wp;   // tiles_wp: a multiple of 8, or 4 when paired
    int paired;                        // rows of ≤ 4 tiles: two tile rows per vector
    int tiles_hp;                      // tile rows, even when paired
    int half;                          // tiles per tile row in one vector: 8, or 4 when paired
    int hq, wq;                        // the padded image read by the input transform
    int rows_per_block;                // tile rows per block (V and M stay in L2)
} wgeom_t;

// Points ξ of the transformed domain: (ks + 1)², 16 for 3×3 kernels, 36 for 5×5.
static inline int points_of(int ks) { return (ks + 1) * (ks + 1); }

static wgeom_t wino_geometry(int k, int c, int out_h, int out_w, int ks) {
    wgeom_t g;
    k = rows_of(k);   // U and M carry rows of zeros past K; only K rows are written out
    int np = points_of(ks);
    g.tiles_h = (out_h + 1) / 2;
    g.tiles_w = (out_w + 1) / 2;
    g.paired = g.tiles_w <= 4;
    g.tiles_wp = g.paired ? 4 : (g.tiles_w + 7) / 8 * 8;
    g.tiles_hp = g.paired ? (g.tiles_h + 1) / 2 * 2 : g.tiles_h;
    g.half = g.paired ? 4 : 8;
    g.hq = 2 * g.tiles_hp + ks - 1;
    g.wq = 2 * g.tiles_wp + ks - 1;
    // Tiles per block: ξ·(C + K)·T floats ≈ 256 KB keeps V and M in L2. But each block reads
    // all of U (ξ·K·C floats) once: where U passes 1 MB, blocks keep at least 64 tiles. For
    // AlexNet's 384 × 256 channels the L2 rule gave 8 tiles, and streaming 6 MB of U per 8
    // tiles cost more than the multiplies saved (0.91× the direct kernel; 1.07× with 56). For
    // 5×5 the bar is 512 KB: AlexNet's conv2 (880 KB of U) ran 7 % faster with 64 tiles.
    int budget = 65536 / (np * (c + k));
    if ((long)k * c * np > (ks == 5 ? 131072 : 262144) && budget < 64) budget = 64;
    int rows = budget / g.tiles_wp;
    if (g.paired) rows = rows / 2 * 2;
    g.rows_per_block = rows < 1 + g.paired ? 1 + g.paired : (rows > g.tiles_hp ? g.tiles_hp : rows);
    return g;
}

long ck_wino_scratch(int k, int c, int out_h, int out_w, int ks) {
    wgeom_t g = wino_geometry(k, c, out_h, out_w, ks);
    long t = (long)g.rows_per_block * g.tiles_wp;
    return (long)c * g.hq * g.wq + points_of(ks) * ((c + rows_of(k)) * t + 48) + 16;
}

long ck_wino_weights(int k, int c, int ks) { return (long)points_of(ks) * rows_of(k) * c; }

int ck_wino_applies(int k, int c) { return ck_isa() >= 1 && k > 0 && c > 0; }

// G of F(2, 5) (6 × 5): row j evaluates the kernel at point j (0, 1, −1, 2, −2, ∞) and divides
// by Π_{l≠j} (a_j − a_l).
static const double G5[6][5] = {
    {1.0 / 4, 0, 0, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6, 1.0 / 3, 2.0 / 3},
    {1.0 / 24, -1.0 / 12, 1.0 / 6, -1.0 / 3, 2.0 / 3},
    {0, 0, 0, 0, 1}};

// U (ξ, K'/4, C, 4) = G g Gᵀ for each (output k, input c), zero past K; g is w[k][c] (flip = 0),
// or the flipped w[c][k] of the transposed convolution (flip = 1: w is (C, K, ks, ks) and g[a][b] =
// w[c][k][ks − 1 − a][ks − 1 − b]), or w[c][k] as it is (flip = 2: the forward pass's U with
// its rows and columns swapped, for ck_wino_conv_adjoint). Plain C without FMA, so every path computes the same U.
void ck_wino_pack_weights(const float *w, int k, int c, int ks, int flip, int o0, int o1, float *u) {
    int taps = ks * ks, kp = rows_of(k), np = points_of(ks);
    long xs = (long)kp * c;                                 // between the ξ of U
    for (int o = o0 > k ? o0 : k; o < o1 && o < kp; o++)
        for (int i = 0; i < c; i++)
            for (int xi = 0; xi < np; xi++) u[xi * xs + ((long)(o / KB) * c + i) * KB + o % KB] = 0.0f;
    for (int o = o0; o < o1 && o < k; o++) {
        for (int i = 0; i < c; i++) {
            const float *src = flip ? w + ((long)i * k + o) * taps : w + ((long)o * c + i) * taps;
            float *dst = u + ((long)(o / KB) * c + i) * KB + o % KB;
            if (ks == 5) {
                double g[5][5], t[6][5];
                for (int a = 0; a < 5; a++)
                    for (int b = 0; b < 5; b++) g[a][b] = flip == 1 ? src[(4 - a) * 5 + (4 - b)] : src[a * 5 + b];
                for (int p = 0; p < 6; p++)                 // G g
                    for (int b = 0; b < 5; b++) {
                        double sum = 0;
                        for (int a = 0; a < 5; a++) sum += G5[p][a] * g[a][b];
                        t[p][b] = sum;
                    }
                for (int p = 0; p < 6; p++)                 // (G g) Gᵀ
                    for (int q = 0; q < 6; q++) {
                        double sum = 0;
                        for (int b = 0; b < 5; b++) sum += t[p][b] * G5[q][b];
                        dst[(p * 6 + q) * xs] = (float)sum;
                    }
                continue;
            }
            float g[3][3];
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++) g[a][b] = flip == 1 ? src[(2 - a) * 3 + (2 - b)] : src[a * 3 + b];
            float t[4][3];   // G g
            for (int b = 0; b < 3; b++) {
                t[0][b] = g[0][b];
                t[1][b] = 0.5f * ((g[0][b] + g[1][b]) + g[2][b]);
                t[2][b] = 0.5f * ((g[0][b] - g[1][b]) + g[2][b]);
                t[3][b] = g[2][b];
            }
            for (int a = 0; a < 4; a++) {   // (G g) Gᵀ
                float r[4] = {t[a][0], 0.5f * ((t[a][0] + t[a][1]) + t[a][2]),
                              0.5f * ((t[a][0] - t[a][1]) + t[a][2]), t[a][2]};
                for (int b = 0; b < 4; b++) dst[(a * 4 + b) * xs] = r[b];
            }
        }
    }
}

// 8 floats from r, or (paired: half = 4) 4 from r and 4 from r + gap (the next tile row).
WT static inline __m256 ld8(const float *r, long gap, int half) {
    if (half == 8) return _mm256_loadu_ps(r);
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(r)), _mm_loadu_ps(r + gap), 1);
}

// Bᵀ d B for 8 tiles of one tile row of channel plane `x` (row stride wq), starting at column
// 2·tx0, written to v[ξ·vs + 0…7].
WT static inline void input_tile8(const float *x, long wq, float *v, long vs, int half) {
    __m256 d[4][4];
    long gap = 2 * wq;
    for (int i = 0; i < 4; i++) {
        const float *r = x + i * wq;
        __m256 a = ld8(r, gap, half), b = ld8(r + half, gap, half);
        __m256 a2 = ld8(r + 2, gap, half), b2 = ld8(r + 2 + half, gap, half);
        d[i][0] = _mm256_shuffle_ps(a, b, 0x88);
        d[i][1] = _mm256_shuffle_ps(a, b, 0xDD);
        d[i][2] = _mm256_shuffle_ps(a2, b2, 0x88);
        d[i][3] = _mm256_shuffle_ps(a2, b2, 0xDD);
    }
    __m256 r[4][4];
    for (int j = 0; j < 4; j++) {   // Bᵀ d
        r[0][j] = _mm256_sub_ps(d[0][j], d[2][j]);
        r[1][j] = _mm256_add_ps(d[1][j], d[2][j]);
        r[2][j] = _mm256_sub_ps(d[2][j], d[1][j]);
        r[3][j] = _mm256_sub_ps(d[1][j], d[3][j]);
    }
    for (int i = 0; i < 4; i++) {   // (Bᵀ d) B
        _mm256_storeu_ps(v + (i * 4 + 0) * vs, _mm256_sub_ps(r[i][0], r[i][2]));
        _mm256_storeu_ps(v + (i * 4 + 1) * vs, _mm256_add_ps(r[i][1], r[i][2]));
        _mm256_storeu_ps(v + (i * 4 + 2) * vs, _mm256_sub_ps(r[i][2], r[i][1]));
        _mm256_storeu_ps(v + (i * 4 + 3) * vs, _mm256_sub_ps(r[i][1], r[i][3]));
    }
}

// Bᵀ of F(2, 5) (and F(4, 3)) along one direction: 6 values → 6, with FMAs.
WT static inline void bt6(const __m256 d[6], __m256 o[6]) {
    __m256 four = _mm256_set1_ps(4.0f), five = _mm256_set1_ps(5.0f), two = _mm256_set1_ps(2.0f);
    __m256 p = _mm256_fnmadd_ps(four, d[2], d[4]), q = _mm256_fnmadd_ps(four, d[1], d[3]);
    __m256 s = _mm256_sub_ps(d[4], d[2]), t = _mm256_sub_ps(d[3], d[1]);
    o[0] = _mm256_fmadd_ps(four, d[0], _mm256_fnmadd_ps(five, d[2], d[4]));
    o[1] = _mm256_add_ps(p, q);
    o[2] = _mm256_sub_ps(p, q);
    o[3] = _mm256_fmadd_ps(two, t, s);
    o[4] = _mm256_fnmadd_ps(two, t, s);
    o[5] = _mm256_fmadd_ps(four, d[1], _mm256_fnmadd_ps(five, d[3], d[5]));
}

// Bᵀ d B for 8 tiles of F(2×2, 5×5): the 6×6 patches at columns 2·tx0 + 2·lane of rows 0…5 of
// `x`, written to v[ξ·vs + 0…7] (ξ = 6·row + column of the transformed tile).
WT static inline void input_tile8_5(const float *x, long wq, float *v, long vs, int half) {
    __m256 rows[6][6];
    long gap = 2 * wq;
    for (int i = 0; i < 6; i++) {   // d B, row by row
        const float *r = x + i * wq;
        __m256 d[6];
        for (int j = 0; j < 6; j += 2) {
            __m256 a = ld8(r + j, gap, half), b = ld8(r + j + half, gap, half);
            d[j] = _mm256_shuffle_ps(a, b, 0x88);
            d[j + 1] = _mm256_shuffle_ps(a, b, 0xDD);
        }
        bt6(d, rows[i]);
    }
    for (int q = 0; q < 6; q++) {   // Bᵀ (d B), column by column
        __m256 col[6] = {rows[0][q], rows[1][q], rows[2][q], rows[3][q], rows[4][q], rows[5][q]}, o[6];
        bt6(col, o);
        for (int p = 0; p < 6; p++) _mm256_storeu_ps(v + (p * 6 + q) * vs, o[p]);
    }
}

// out (planes, hq, wq) = x (planes, h, w) at (pad, pad), zero around it (the padding, and the
// rows and columns that round the tiles up).
static void pad_planes(const float *x, int planes, int h, int w, int pad, int hq, int wq, float *out) {
    long plane = (long)hq * wq;
    memset(out, 0, (size_t)(planes * plane) * sizeof(float));
    for (int p = 0; p < planes; p++)
        for (int r = 0; r < h; r++)
            memcpy(out + p * plane + (long)(r + pad) * wq + pad, x + ((long)p * h + r) * w, (size_t)w * sizeof(float));
}

// Whether the tiles read the image as it is: no padding, and no rows or columns past it
// (LeNet's conv2, 12² under 4 × 4 tiles of 6²), so the padded copy is skipped.
static inline int in_place(const wgeom_t *g, int h, int w, int pad) { return pad == 0 && g->hq == h && g->wq == w; }

// Bᵀ d B of tile rows [ty0, ty0 + rows) of every channel of the padded image xp (C planes):
// channel ci goes to v + ci·ld, tile (ty, tx) at ty·tiles_wp + tx.
WT static void transform_input(const float *xp, const wgeom_t *g, int c, int ks, int ty0, int rows,
                               float *v, long ld, long vs) {
    long plane = (long)g->hq * g->wq;
    for (int ci = 0; ci < c; ci++) {
        const float *src = xp + ci * plane;
        for (int ty = 0; ty < rows; ty += 1 + g->paired)
            for (int tx = 0; tx < g->tiles_wp; tx += g->half) {
                const float *patch = src + (long)(2 * (ty0 + ty)) * g->wq + 2 * tx;
                float *vt = v + (long)ci * ld + ty * g->tiles_wp + tx;
                if (ks == 5) input_tile8_5(patch, g->wq, vt, vs, g->half);
                else input_tile8(patch, g->wq, vt, vs, g->half);
            }
    }
}

// Aᵀ along one direction: F(2, 3)'s 4 values, or F(2, 5)'s 6, → 2.
WT __attribute__((always_inline)) static inline void at_pair(const __m256 *m, const int ks, __m256 *y0, __m256 *y1) {
    if (ks == 5) {
        __m256 a = _mm256_add_ps(m[1], m[2]), b = _mm256_sub_ps(m[1], m[2]);
        __m256 c = _mm256_add_ps(m[3], m[4]), d = _mm256_sub_ps(m[3], m[4]);
        *y0 = _mm256_add_ps(_mm256_add_ps(m[0], a), c);
        *y1 = _mm256_add_ps(_mm256_fmadd_ps(_mm256_set1_ps(2.0f), d, b), m[5]);
    } else {
        *y0 = _mm256_add_ps(_mm256_add_ps(m[0], m[1]), m[2]);
        *y1 = _mm256_sub_ps(_mm256_sub_ps(m[1], m[2]), m[3]);
    }
}

// Aᵀ m A + bias for 8 tiles: m[ξ·ms + 0…7] → y rows 0 and 1 (row stride ldy), up to `cols`
// outputs of each (16 for a whole vector), `rows` rows (1 or 2). Paired (half = 4): the upper
// 4 tiles go to rows 2 and 3 (`rows2` of them), at most 8 columns each.
WT __attribute__((always_inline)) static inline void output_tile8(const float *m, long ms, const int ks, float bias,
                                                                 float *y, long ldy, int rows, int cols,
                                                                 int half, int rows2) {
    const int n = ks + 1;
    __m256 t[2][6];
    for (int j = 0; j < n; j++) {   // Aᵀ m
        __m256 col[6];
        for (int i = 0; i < n; i++) col[i] = _mm256_loadu_ps(m + (i * n + j) * ms);
        at_pair(col, ks, &t[0][j], &t[1][j]);
    }
    __m256 b = _mm256_set1_ps(bias);
    for (int i = 0; i < rows; i++) {   // (Aᵀ m) A
        __m256 even, odd;
        at_pair(t[i], ks, &even, &odd);
        even = _mm256_add_ps(even, b);
        odd = _mm256_add_ps(odd, b);
        __m256 lo = _mm256_unpacklo_ps(even, odd), hi = _mm256_unpackhi_ps(even, odd);
        float *yr = y + i * ldy;
        if (half == 4 && cols == 8) {
            _mm256_storeu_ps(yr, _mm256_permute2f128_ps(lo, hi, 0x20));
            if (i < rows2) _mm256_storeu_ps(yr + 2 * ldy, _mm256_permute2f128_ps(lo, hi, 0x31));
            continue;
        }
        if (half == 4) {
            float tmp[16];
            _mm256_storeu_ps(tmp, _mm256_permute2f128_ps(lo, hi, 0x20));
            _mm256_storeu_ps(tmp + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
            memcpy(yr, tmp, (size_t)cols * sizeof(float));
            if (i < rows2) memcpy(yr + 2 * ldy, tmp + 8, (size_t)cols * sizeof(float));
            continue;
        }
        if (cols >= 16) {
            _mm256_storeu_ps(yr, lo);
            _mm256_storeu_ps(yr + 8, hi);
        } else {
            float tmp[16];
            _mm256_storeu_ps(tmp, lo);
            _mm256_storeu_ps(tmp + 8, hi);
            memcpy(yr, tmp, (size_t)cols * sizeof(float));
        }
    }
}

// M_ξ (K, T) = U_ξ (K, C) · V_ξ (C, T) for one ξ, T a multiple of 8; blocks of 4 rows × 16 (or
// 8) tiles in registers, the sum over c in order.
WT static void products(const float *restrict u, const float *restrict v, float *restrict m, int k, int c, int t) {
    for (int kb = 0; kb < k / KB; kb++) {
        const float *ub = u + (long)kb * c * KB;
        float *mb = m + (long)kb * KB * t;
        int j = 0;
        for (; j + 16 <= t; j += 16) {
            __m256 acc[KB][2];
            for (int r = 0; r < KB; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
            const float *vj = v + j;
            for (int i = 0; i < c; i++) {
                __m256 b0 = _mm256_loadu_ps(vj + (long)i * t), b1 = _mm256_loadu_ps(vj + (long)i * t + 8);
                for (int r = 0; r < KB; r++) {
                    __m256 a = _mm256_broadcast_ss(ub + i * KB + r);
                    acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
                    acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
                }
            }
            for (int r = 0; r < KB; r++) {
                _mm256_storeu_ps(mb + (long)r * t + j, acc[r][0]);
                _mm256_storeu_ps(mb + (long)r * t + j + 8, acc[r][1]);
            }
        }
        for (; j < t; j += 8) {
            __m256 acc[KB];
            for (int r = 0; r < KB; r++) acc[r] = _mm256_setzero_ps();
            for (int i = 0; i < c; i++) {
                __m256 b0 = _mm256_loadu_ps(v + (long)i * t + j);
                for (int r = 0; r < KB; r++)
                    acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(ub + i * KB + r), b0, acc[r]);
            }
            for (int r = 0; r < KB; r++) _mm256_storeu_ps(mb + (long)r * t + j, acc[r]);
        }
    }
}

// The same products on AVX-512: R rows (16, 8 or 4) × 16 tiles, one zmm accumulator per row,
// the U element broadcast from memory into each FMA. Every element is the same chain of FMAs
// over c, from 0, as in `products`, so both give the same bits.
#define WT512 __attribute__((target("avx512f,avx2,fma")))
WT512 __attribute__((always_inline)) static inline void product_rows512(const float *restrict u, const float *restrict vj,
                                                                       float *restrict mj, int c, int t, int k0,
                                                                       const int rows, __mmask16 mask) {
    __m512 acc[16];
    for (int r = 0; r < rows; r++) acc[r] = _mm512_setzero_ps();
    for (int i = 0; i < c; i++) {
        __m512 b = _mm512_maskz_loadu_ps(mask, vj + (long)i * t);
        for (int r = 0; r < rows; r++) {
            int kr = k0 + r;
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(u[((long)(kr / KB) * c + i) * KB + kr % KB]), b, acc[r]);
        }
    }
    for (int r = 0; r < rows; r++) _mm512_mask_storeu_ps(mj + (long)(k0 + r) * t, mask, acc[r]);
}

WT512 static void products512(const float *restrict u, const float *restrict v, float *restrict m, int k, int c, int t) {
    int k0 = 0;
    for (; k0 < k; ) {
        int left = k - k0;
        for (int j = 0; j < t; j += 16) {
            __mmask16 mask = t - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (t - j)) - 1);
            if (left >= 16) product_rows512(u, v + j, m + j, c, t, k0, 16, mask);
            else if (left >= 8) product_rows512(u, v + j, m + j, c, t, k0, 8, mask);
            else product_rows512(u, v + j, m + j, c, t, k0, 4, mask);
        }
        k0 += left >= 16 ? 16 : (left >= 8 ? 8 : 4);
    }
}

void ck_wino_products(const float *u, const float *v, float *m, int k, int c, int t) {
    (ck_isa() >= 2 ? products512 : products)(u, v, m, k, c, t);
}

// One image; ks a constant in each of the two copies ck_wino_conv calls.
WT __attribute__((always_inline)) static inline void wino_conv(const float *u, int k, int c, const int ks,
                                                              const float *x, int h, int w, int pad, int out_h,
                                                              int out_w, const float *bias, float *y, float *scratch) {
    wgeom_t g = wino_geometry(k, c, out_h, out_w, ks);
    const int np = points_of(ks), kp = rows_of(k);
    long plane = (long)g.hq * g.wq;
    float *xp = scratch;                              // (C, hq, wq), zero outside the image
    float *v = xp + c * plane;                        // (ξ, C, T)
    const float *src = x;
    if (!in_place(&g, h, w, pad)) {
        pad_planes(x, c, h, w, pad, g.hq, g.wq, xp);
        src = xp;
    }
    int step = 1 + g.paired;
    for (int ty0 = 0; ty0 < g.tiles_hp; ty0 += g.rows_per_block) {
        int rows = g.tiles_hp - ty0 < g.rows_per_block ? g.tiles_hp - ty0 : g.rows_per_block;
        int t = rows * g.tiles_wp;
        v = xp + c * plane;
        // Strides between the ξ of V and M: padded off powers of two, or the 16 streams of the
        // transforms (8 KB apart for C = 16, 128 tiles) fight over one set of the L1 cache.
        long vs = (long)c * t + 24, ms = (long)kp * t + 24;
        float *m = v + np * vs;                       // (ξ, K', T)
        transform_input(src, &g, c, ks, ty0, rows, v, t, vs);
        for (int xi = 0; xi < np; xi++)
            (ck_isa() >= 2 ? products512 : products)(u + (long)xi * kp * c, v + xi * vs, m + xi * ms, kp, c, t);
        for (int ki = 0; ki < k; ki++) {
            float b = bias ? bias[ki] : 0.0f;
            for (int ty = 0; ty < rows; ty += step) {
                int oy = 2 * (ty0 + ty);
                if (oy >= out_h) break;
                int nrows = out_h - oy < 2 ? out_h - oy : 2;
                int nrows2 = out_h - oy - 2 < 0 ? 0 : (out_h - oy - 2 < 2 ? out_h - oy - 2 : 2);
                for (int tx = 0; tx < g.tiles_wp; tx += g.half) {
                    int ox = 2 * tx;
                    if (ox >= out_w) break;
                    int cols = out_w - ox < 2 * g.half ? out_w - ox : 2 * g.half;
                    output_tile8(m + (long)ki * t + ty * g.tiles_wp + tx, ms, ks, b,
                                 y + ((long)ki * out_h + oy) * out_w + ox, out_w, nrows, cols, g.half, nrows2);
                }
            }
        }
    }
}

WT int ck_wino_conv(const float *u, int k, int c, int ks, const float *x, int h, int w, int pad,
                    float *y, const float *bias, float *scratch) {
    if (!ck_wino_applies(k, c) || (ks != 3 && ks != 5)) return -1;
    int out_h = h + 2 * pad - (ks - 1), out_w = w + 2 * pad - (ks - 1);
    if (out_h <= 0 || out_w <= 0 || pad < 0 || pad > ks - 1) return -1;
    if (ks == 5) wino_conv(u, k, c, 5, x, h, w, pad, out_h, out_w, bias, y, scratch);
    else wino_conv(u, k, c, 3, x, h, w, pad, out_h, out_w, bias, y, scratch);
    return 0;
}

// ---- Weight gradient: dU_ξ (K, C) = Σ_t (A dY_t Aᵀ)_ξ (V_t)_ξ, then dW = Gᵀ dU G. ----

long ck_wino_wgrad_image(int k, int c, int out_h, int out_w, int ks) {
    wgeom_t g = wino_geometry(k, c, out_h, out_w, ks);
    return (long)points_of(ks) * (c + k) * g.tiles_hp * g.tiles_wp;
}

long ck_wino_wgrad_pad(int k, int c, int out_h, int out_w, int ks) {
    wgeom_t g = wino_geometry(k, c, out_h, out_w, ks);
    return (long)c * g.hq * g.wq + (long)k * 2 * g.tiles_hp * 2 * g.tiles_wp + 32;
}

// A dY Aᵀ for 8 tiles: rows r and r + ld of the padded top gradient, columns 2·tx0 … 2·tx0 + 15,
// into the 4×4 (ks = 3) or 6×6 (ks = 5) domain.
WT static inline void grad_tile8(const float *d, long ld, float *out, long os, int half, int ks) {
    __m256 e[2], o[2];
    for (int i = 0; i < 2; i++) {
        __m256 a = ld8(d + i * ld, 2 * ld, half), b = ld8(d + i * ld + half, 2 * ld, half);
        e[i] = _mm256_shuffle_ps(a, b, 0x88);
        o[i] = _mm256_shuffle_ps(a, b, 0xDD);
    }
    __m256 zero = _mm256_setzero_ps();
    if (ks == 5) {
        // A of F(2, 5) takes (y0, y1) to [y0, y0 + y1, y0 − y1, y0 + 2·y1, y0 − 2·y1, y1]
        __m256 two = _mm256_set1_ps(2.0f);
        __m256 re[6] = {e[0], _mm256_add_ps(e[0], e[1]), _mm256_sub_ps(e[0], e[1]),
                        _mm256_fmadd_ps(two, e[1], e[0]), _mm256_fnmadd_ps(two, e[1], e[0]), e[1]};
        __m256 ro[6] = {o[0], _mm256_add_ps(o[0], o[1]), _mm256_sub_ps(o[0], o[1]),
                        _mm256_fmadd_ps(two, o[1], o[0]), _mm256_fnmadd_ps(two, o[1], o[0]), o[1]};
        for (int i = 0; i < 6; i++) {
            float *r = out + i * 6 * os;
            _mm256_storeu_ps(r, re[i]);
            _mm256_storeu_ps(r + os, _mm256_add_ps(re[i], ro[i]));
            _mm256_storeu_ps(r + 2 * os, _mm256_sub_ps(re[i], ro[i]));
            _mm256_storeu_ps(r + 3 * os, _mm256_fmadd_ps(two, ro[i], re[i]));
            _mm256_storeu_ps(r + 4 * os, _mm256_fnmadd_ps(two, ro[i], re[i]));
            _mm256_storeu_ps(r + 5 * os, ro[i]);
        }
        return;
    }
    // rows: [y0, y0 + y1, y0 − y1, −y1], for the even and the odd column
    __m256 re[4] = {e[0], _mm256_add_ps(e[0], e[1]), _mm256_sub_ps(e[0], e[1]), _mm256_sub_ps(zero, e[1])};
    __m256 ro[4] = {o[0], _mm256_add_ps(o[0], o[1]), _mm256_sub_ps(o[0], o[1]), _mm256_sub_ps(zero, o[1])};
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(out + (i * 4 + 0) * os, re[i]);
        _mm256_storeu_ps(out + (i * 4 + 1) * os, _mm256_add_ps(re[i], ro[i]));
        _mm256_storeu_ps(out + (i * 4 + 2) * os, _mm256_sub_ps(re[i], ro[i]));
        _mm256_storeu_ps(out + (i * 4 + 3) * os, _mm256_sub_ps(zero, ro[i]));
    }
}

// ---- Input gradient as the forward pass run backwards: per tile, E_ξ (C, T) = U_ξᵀ (C, K) ·
// (A dY Aᵀ)_ξ (K, T), then B E Bᵀ added into the padded input gradient where the forward pass read
// the tile's patch. Unlike the transposed convolution (dy padded by ks − 1 − pad, then
// ck_wino_conv), it computes no outputs over that padding: LeNet's conv2 (pad 0, 8² → 12²)
// takes 16 tiles an image this way, 48 as a transposed convolution. ----

// B along one direction (the transpose of Bᵀ): n = 4 (F(2, 3)) or 6 (F(2, 5)) values → n.
WT __attribute__((always_inline)) static inline void b_apply(const __m256 *e, __m256 *o, const int ks) {
    if (ks == 5) {
        __m256 four = _mm256_set1_ps(4.0f), five = _mm256_set1_ps(5.0f), two = _mm256_set1_ps(2.0f);
        __m256 s12 = _mm256_add_ps(e[1], e[2]), s34 = _mm256_add_ps(e[3], e[4]);
        __m256 d21 = _mm256_sub_ps(e[2], e[1]), d43 = _mm256_sub_ps(e[4], e[3]);
        o[0] = _mm256_mul_ps(four, e[0]);
        o[1] = _mm256_fmadd_ps(four, _mm256_add_ps(d21, e[5]), _mm256_mul_ps(two, d43));
        o[2] = _mm256_sub_ps(_mm256_setzero_ps(), _mm256_fmadd_ps(five, e[0], _mm256_fmadd_ps(four, s12, s34)));
        o[3] = _mm256_fnmadd_ps(five, e[5], _mm256_fnmadd_ps(two, d43, _mm256_sub_ps(_mm256_setzero_ps(), d21)));
        o[4] = _mm256_add_ps(_mm256_add_ps(e[0], s12), s34);
        o[5] = e[5];
    } else {
        o[0] = e[0];
        o[1] = _mm256_add_ps(_mm256_sub_ps(e[1], e[2]), e[3]);
        o[2] = _mm256_sub_ps(_mm256_add_ps(e[1], e[2]), e[0]);
        o[3] = _mm256_sub_ps(_mm256_setzero_ps(), e[3]);
    }
}

WT static inline void add8(float *x, __m256 v) { _mm256_storeu_ps(x, _mm256_add_ps(_mm256_loadu_ps(x), v)); }

// B E Bᵀ for 8 tiles (E_ξ at e[ξ·es + lane]) added into x (row stride wq): rows 0…ks, columns
// 2·tile + 0…ks, tiles in the lane order of input_tile8 (paired: the upper 4 lanes are the next
// tile row, 2 rows down). Rows are added in order, so the result does not depend on threads.
WT __attribute__((always_inline)) static inline void adjoint_tile8(const float *e, long es, const int ks, float *x,
                                                                  long wq, int half) {
    const int n = ks + 1;
    __m256 f[6][6];
    for (int q = 0; q < n; q++) {   // B along ξ's row index
        __m256 col[6], o[6];
        for (int p = 0; p < n; p++) col[p] = _mm256_loadu_ps(e + (p * n + q) * es);
        b_apply(col, o, ks);
        for (int i = 0; i < n; i++) f[i][q] = o[i];
    }
    for (int i = 0; i < n; i++) {   // then along its column index, and into the patch rows
        __m256 dd[6];
        b_apply(f[i], dd, ks);
        float *xr = x + i * wq;
        for (int j = 0; j < n; j += 2) {
            __m256 lo = _mm256_unpacklo_ps(dd[j], dd[j + 1]), hi = _mm256_unpackhi_ps(dd[j], dd[j + 1]);
            if (half == 8) {
                add8(xr + j, lo);
                add8(xr + j + 8, hi);
            } else {
                add8(xr + j, _mm256_permute2f128_ps(lo, hi, 0x20));
                add8(xr + j + 2 * wq, _mm256_permute2f128_ps(lo, hi, 0x31));
            }
        }
    }
}

long ck_wino_adjoint_scratch(int k, int c, int out_h, int out_w, int ks) {
    wgeom_t g = wino_geometry(c, k, out_h, out_w, ks);   // rows are the input channels here
    long t = (long)g.rows_per_block * g.tiles_wp;
    return (long)c * g.hq * g.wq + (long)k * 2 * g.tiles_hp * 2 * g.tiles_wp
        + points_of(ks) * ((k + rows_of(c)) * t + 48) + 16;
}

WT __attribute__((always_inline)) static inline void wino_adjoint(const float *u, int k, int c, const int ks,
                                                                 const float *dy, int out_h, int out_w, int pad,
                                                                 float *dx, int h, int w, float *scratch) {
    wgeom_t g = wino_geometry(c, k, out_h, out_w, ks);
    const int np = points_of(ks), cp = rows_of(c);
    long plane = (long)g.hq * g.wq, dh = 2L * g.tiles_hp, dw = 2L * g.tiles_wp;
    float *xp = scratch;                          // (C, hq, wq): the padded input gradient
    float *dp = xp + c * plane;                   // (K, dh, dw): dy, where the tiles overhang it
    float *d = dp + k * dh * dw;                  // (ξ, K, T), then E (ξ, C', T)
    int direct = in_place(&g, h, w, pad);         // the tiles add straight into dx
    if (direct) xp = dx;
    memset(xp, 0, (size_t)(c * plane) * sizeof(float));
    const float *src = dy;
    if (dh != out_h || dw != out_w) {
        pad_planes(dy, k, out_h, out_w, 0, (int)dh, (int)dw, dp);
        src = dp;
    }
    int step = 1 + g.paired;
    for (int ty0 = 0; ty0 < g.tiles_hp; ty0 += g.rows_per_block) {
        int rows = g.tiles_hp - ty0 < g.rows_per_block ? g.tiles_hp - ty0 : g.rows_per_block;
        int t = rows * g.tiles_wp;
        long ds = (long)k * t + 24, es = (long)cp * t + 24;
        float *e = d + np * ds;
        for (int ki = 0; ki < k; ki++)
            for (int ty = 0; ty < rows; ty += step)
                for (int tx = 0; tx < g.tiles_wp; tx += g.half)
                    grad_tile8(src + ((long)ki * dh + 2 * (ty0 + ty)) * dw + 2 * tx, dw,
                               d + (long)ki * t + ty * g.tiles_wp + tx, ds, g.half, ks);
        for (int xi = 0; xi < np; xi++)
            (ck_isa() >= 2 ? products512 : products)(u + (long)xi * cp * k, d + xi * ds, e + xi * es, cp, k, t);
        for (int ci = 0; ci < c; ci++)
            for (int ty = 0; ty < rows; ty += step)
                for (int tx = 0; tx < g.tiles_wp; tx += g.half)
                    adjoint_tile8(e + (long)ci * t + ty * g.tiles_wp + tx, es, ks,
                                  xp + ci * plane + (long)(2 * (ty0 + ty)) * g.wq + 2 * tx, g.wq, g.half);
    }
    if (direct) return;
    for (int ci = 0; ci < c; ci++)
        for (int r = 0; r < h; r++)
            memcpy(dx + ((long)ci * h + r) * w, xp + ci * plane + (long)(r + pad) * g.wq + pad, (size_t)w * sizeof(float));
}

WT int ck_wino_conv_adjoint(const float *u, int k, int c, int ks, const float *dy, int h, int w, int pad,
                            float *dx, float *scratch) {
    if (!ck_wino_applies(k, c) || (ks != 3 && ks != 5)) return -1;
    int out_h = h + 2 * pad - (ks - 1), out_w = w + 2 * pad - (ks - 1);
    if (out_h <= 0 || out_w <= 0 || pad < 0 || pad > ks - 1) return -1;
    if (ks == 5) wino_adjoint(u, k, c, 5, dy, out_h, out_w, pad, dx, h, w, scratch);
    else wino_adjoint(u, k, c, 3, dy, out_h, out_w, pad, dx, h, w, scratch);
    return 0;
}

// Strides of the chunk's transforms: V (ξ, C, Tc) then D (ξ, K, Tc), Tc = images · T1.
static inline long wg_vs(int c, long tc) { return (long)c * tc + 24; }
static inline long wg_ds(int k, long tc) { return (long)k * tc + 24; }

long ck_wino_wgrad_scratch(int k, int c, int out_h, int out_w, int images, int ks) {
    wgeom_t g = wino_geometry(k, c, out_h, out_w, ks);
    long tc = (long)images * g.tiles_hp * g.tiles_wp;
    return points_of(ks) * (wg_vs(c, tc) + wg_ds(k, tc));
}

// Planes [q0, q1) of image n: planes below c are the input's channels (padded, then Bᵀ d B
// into V), the rest the top gradient's (A dY Aᵀ into D).
WT static void transform_planes(int k, int c, int ks, const wgeom_t *g, const float *xn, int h, int w, int pad,
                                const float *dn, int out_h, int out_w, long t0, long tc, int q0, int q1,
                                float *chunk, float *pads) {
    long vs = wg_vs(c, tc), ds = wg_ds(k, tc);
    float *v = chunk, *d = chunk + points_of(ks) * vs;
    long plane = (long)g->hq * g->wq, dh = 2L * g->tiles_hp, dw = 2L * g->tiles_wp;
    float *xp = pads, *dp = pads + c * plane;
    int c0 = q0 < c ? q0 : c, c1 = q1 < c ? q1 : c;
    if (c1 > c0) {
        const float *xsrc = xn + (long)c0 * h * w;
        if (!in_place(g, h, w, pad)) {
            pad_planes(xsrc, c1 - c0, h, w, pad, g->hq, g->wq, xp);
            xsrc = xp;
        }
        transform_input(xsrc, g, c1 - c0, ks, 0, g->tiles_hp, v + t0 + (long)c0 * tc, tc, vs);
    }
    int k0 = (q0 > c ? q0 : c) - c, k1 = (q1 > c ? q1 : c) - c;
    if (k1 <= k0) return;
    // The top gradient needs a copy only where the tiles overhang it (odd sizes, rows rounded up
    // to whole vectors); ResNet's 32², 16² and 8² planes are read in place.
    const float *dsrc = dn + (long)k0 * out_h * out_w;
    if (dh != out_h || dw != out_w) {
        pad_planes(dsrc, k1 - k0, out_h, out_w, 0, (int)dh, (int)dw, dp);
        dsrc = dp;
    }
    for (int ki = k0; ki < k1; ki++)
        for (int ty = 0; ty < g->tiles_hp; ty += 1 + g->paired)
            for (int tx = 0; tx < g->tiles_wp; tx += g->half)
                grad_tile8(dsrc + ((ki - k0) * dh + 2 * ty) * dw + 2 * tx, dw,
                           d + (long)ki * tc + t0 + ty * g->tiles_wp + tx, ds, g->half, ks);
}

WT void ck_wino_wgrad_transform(int k, int c, int ks, const float *x, long x_image, int h, int w, int pad,
                             const float *dy, long dy_image, int images, int p0, int p1,
                             float *chunk, float *pads) {
    int out_h = h + 2 * pad - (ks - 1), out_w = w + 2 * pad - (ks - 1);
    wgeom_t g = wino_geometry(k, c, out_h, out_w, ks);
    long t1 = (long)g.tiles_hp * g.tiles_wp, tc = images * t1;
    int per = c + k;
    for (int p = p0; p < p1;) {
        int n = p / per, q0 = p % per, q1 = p1 - n * per < per ? p1 - n * per : per;
        transform_planes(k, c, ks, &g, x + n * x_image, h, w, pad, dy + n * dy_image, out_h, out_w, n * t1, tc,
                         q0, q1, chunk, pads);
        p = n * per + q1;
    }
}

// The sums of four 8-lane accumulators, [Σa, Σb, Σc, Σd], each added as
// ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)) whichever four go in together.
#define WVL __attribute__((target("avx512f,avx512vl,avx2,fma")))
#define SUMS4(a, b, c, d) ({                                                                      \
        __m256 s_ = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));                   \
        _mm_add_ps(_mm256_castps256_ps128(s_), _mm256_extractf128_ps(s_, 1)); })

// du (kr rows × cb ≤ 4 columns of dU_ξ, row stride c) += Σ_t D_ξ[k][t] · V_ξ[c][t]: each element
// an 8-lane chain of FMAs over t in order, then SUMS4, so neither the block shape nor the kernel
// path changes its bits. Columns past cb sum zeros and are not stored.
#define REDUCE_BLOCK(attr, name)                                                                     \
attr __attribute__((always_inline)) static inline void name(const float *d, const float *v, long tc,  \
                                                            float *du, int c, const int kr, const int cb) { \
    __m256 acc[8][4];                                                                                \
    for (int r = 0; r < kr; r++)                                                                     \
        for (int j = 0; j < 4; j++) acc[r][j] = _mm256_setzero_ps();                                 \
    for (long t = 0; t < tc; t += 8) {                                                               \
        __m256 vv[4];                                                                                \
        for (int j = 0; j < cb; j++) vv[j] = _mm256_loadu_ps(v + j * tc + t);                       \
        for (int r = 0; r < kr; r++) {                                                               \
            __m256 dr = _mm256_loadu_ps(d + r * tc + t);                                             \
            for (int j = 0; j < cb; j++) acc[r][j] = _mm256_fmadd_ps(dr, vv[j], acc[r][j]);          \
        }                                                                                            \
    }                                                                                                \
    for (int r = 0; r < kr; r++) {                                                                   \
        __m128 s = SUMS4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]);                                \
        float *o = du + r * c;                                                                       \
        if (cb == 4) { _mm_storeu_ps(o, _mm_add_ps(_mm_loadu_ps(o), s)); continue; }                 \
        float t4[4];                                                                                 \
        _mm_storeu_ps(t4, s);                                                                        \
        for (int j = 0; j < cb; j++) o[j] += t4[j];                                                  \
    }                                                                                                \
}

// reduce_block over all of C for kr rows (a constant in each copy).
#define REDUCE_ROWS(attr, name, block)                                                               \
attr __attribute__((always_inline)) static inline void name(const float *dk, const float *v, long tc, \
                                                            float *duk, int c, const int kr) {      \
    int ci = 0;                                                                                      \
    for (; ci + 4 <= c; ci += 4) block(dk, v + (long)ci * tc, tc, duk + ci, c, kr, 4);              \
    switch (c - ci) {                                                                                \
    case 3: block(dk, v + (long)ci * tc, tc, duk + ci, c, kr, 3); break;                             \
    case 2: block(dk, v + (long)ci * tc, tc, duk + ci, c, kr, 2); break;                             \
    case 1: block(dk, v + (long)ci * tc, tc, duk + ci, c, kr, 1); break;                             \
    }                                                                                                \
}

// dU_ξ for ξ in [xi0, xi1), rows in blocks of `rows` (a constant in each copy): 2 on AVX2,
// whose 16 registers hold 8 accumulators, 4 columns and a row of D; 6 on AVX-512VL (32).
#define REDUCE(attr, name, rowfn, rows)                                                              \
attr static void name(int k, int c, long tc, const float *v, long vs, const float *d, long ds,       \
                      int xi0, int xi1, float *du) {                                                 \
    for (int xi = xi0; xi < xi1; xi++) {                                                             \
        for (int kb = 0; kb < k; kb += rows) {                                                       \
            const float *dk = d + xi * ds + (long)kb * tc, *vx = v + xi * vs;                        \
            float *duk = du + ((long)xi * k + kb) * c;                                               \
            switch (k - kb < rows ? k - kb : rows) {                                                 \
            case 1: rowfn(dk, vx, tc, duk, c, 1); break;                                             \
            case 2: rowfn(dk, vx, tc, duk, c, 2); break;                                             \
            case 3: rowfn(dk, vx, tc, duk, c, 3); break;                                             \
            case 4: rowfn(dk, vx, tc, duk, c, 4); break;                                             \
            case 5: rowfn(dk, vx, tc, duk, c, 5); break;                                             \
            default: rowfn(dk, vx, tc, duk, c, 6); break;                                            \
            }                                                                                        \
        }                                                                                            \
    }                                                                                                \
}

REDUCE_BLOCK(WT, reduce_block)
REDUCE_ROWS(WT, reduce_rows, reduce_block)
REDUCE(WT, reduce_avx2, reduce_rows, 2)
REDUCE_BLOCK(WVL, reduce_block_vl)
REDUCE_ROWS(WVL, reduce_rows_vl, reduce_block_vl)
REDUCE(WVL, reduce_vl, reduce_rows_vl, 6)

void ck_wino_reduce(int k, int c, long tc, const float *v, long vs, const float *d, long ds, int xi0, int xi1,
                    float *du) {
    (ck_isa() >= 2 ? reduce_vl : reduce_avx2)(k, c, tc, v, vs, d, ds, xi0, xi1, du);
}

void ck_wino_wgrad_reduce(int k, int c, int ks, int out_h, int out_w, int images, const float *chunk,
                          int xi0, int xi1, float *du) {
    wgeom_t g = wino_geometry(k, c, out_h, out_w, ks);
    long tc = (long)images * g.tiles_hp * g.tiles_wp;   // dU (ξ, K, C)
    long vs = wg_vs(c, tc), ds = wg_ds(k, tc);
    const float *v = chunk, *d = chunk + points_of(ks) * vs;
    ck_wino_reduce(k, c, tc, v, vs, d, ds, xi0, xi1, du);
}

// dW (K, C, ks, ks) += Gᵀ dU G, dU (ξ, K, C); plain C like the weight transform (double for
// 5×5, whose G is not exact in float).
void ck_wino_wgrad_finish(int k, int c, int ks, const float *du, int o0, int o1, float *dw) {
    long xs = (long)k * c;
    for (int o = o0; o < o1; o++) {
        for (int i = 0; i < c; i++) {
            const float *src = du + (long)o * c + i;
            float *dst = dw + ((long)o * c + i) * ks * ks;
            if (ks == 5) {
                double t[5][6];
                for (int a = 0; a < 5; a++)         // Gᵀ dU
                    for (int q = 0; q < 6; q++) {
                        double sum = 0;
                        for (int p = 0; p < 6; p++) sum += G5[p][a] * src[(p * 6 + q) * xs];
                        t[a][q] = sum;
                    }
                for (int a = 0; a < 5; a++)         // (Gᵀ dU) G
                    for (int b = 0; b < 5; b++) {
                        double sum = 0;
                        for (int q = 0; q < 6; q++) sum += t[a][q] * G5[q][b];
                        dst[a * 5 + b] += (float)sum;
                    }
                continue;
            }
            float m[4][4], t[3][4];
            for (int xi = 0; xi < 16; xi++) m[xi / 4][xi % 4] = src[xi * xs];
            for (int q = 0; q < 4; q++) {   // Gᵀ dU
                t[0][q] = m[0][q] + 0.5f * ((m[1][q] + m[2][q]));
                t[1][q] = 0.5f * (m[1][q] - m[2][q]);
                t[2][q] = 0.5f * ((m[1][q] + m[2][q])) + m[3][q];
            }
            for (int a = 0; a < 3; a++) {   // (Gᵀ dU) G
                float r[3] = {t[a][0] + 0.5f * (t[a][1] + t[a][2]), 0.5f * (t[a][1] - t[a][2]),
                              0.5f * (t[a][1] + t[a][2]) + t[a][3]};
                for (int b = 0; b < 3; b++) dst[a * 3 + b] += r[b];
            }
        }
    }
}

#else
// Not x86-64: ck_wino_applies says no, and nothing else is called.
long ck_wino_scratch(int k, int c, int out_h, int out_w, int ks) { (void)k; (void)c; (void)out_h; (void)out_w; (void)ks; return 0; }
long ck_wino_wgrad_image(int k, int c, int out_h, int out_w, int ks) { (void)k; (void)c; (void)out_h; (void)out_w; (void)ks; return 0; }
long ck_wino_adjoint_scratch(int k, int c, int out_h, int out_w, int ks) { (void)k; (void)c; (void)out_h; (void)out_w; (void)ks; return 0; }
int ck_wino_conv_adjoint(const float *u, int k, int c, int ks, const float *dy, int h, int w, int pad,
                            float *dx, float *scratch) {
    (void)u; (void)k; (void)c; (void)ks; (void)dy; (void)h; (void)w; (void)pad; (void)dx; (void)scratch;
    return -1;
}
long ck_wino_wgrad_pad(int k, int c, int out_h, int out_w, int ks) { (void)k; (void)c; (void)out_h; (void)out_w; (void)ks; return 0; }
long ck_wino_wgrad_scratch(int k, int c, int out_h, int out_w, int images, int ks) {
    (void)k; (void)c; (void)out_h; (void)out_w; (void)images; (void)ks; return 0;
}
void ck_wino_wgrad_transform(int k, int c, int ks, const float *x, long x_image, int h, int w, int pad,
                             const float *dy, long dy_image, int images, int p0, int p1,
                             float *chunk, float *pads) {
    (void)k; (void)c; (void)ks; (void)x; (void)x_image; (void)h; (void)w; (void)pad; (void)dy; (void)dy_image;
    (void)images; (void)p0; (void)p1; (void)chunk; (void)pads;
}
void ck_wino_wgrad_reduce(int k, int c, int ks, int out_h, int out_w, int images, const float *chunk,
                          int xi0, int xi1, float *du) {
    (void)k; (void)c; (void)ks; (void)out_h; (void)out_w; (void)images; (void)chunk; (void)xi0; (void)xi1; (void)du;
}
void ck_wino_wgrad_finish(int k, int c, int ks, const float *du, int o0, int o1, float *dw) {
    (void)k; (void)c; (void)ks; (void)du; (void)o0; (void)o1; (void)dw;
}
int ck_wino_applies(int k, int c) { (void)k; (void)c; return 0; }
long ck_wino_weights(int k, int c, int ks) { (void)k; (void)c; (void)ks; return 0; }
void ck_wino_pack_weights(const float *w, int k, int c, int ks, int flip, int o0, int o1, float *u) {
    (void)w; (void)k; (void)c; (void)ks; (void)flip; (void)o0; (void)o1; (void)u;
}
int ck_wino_conv(const float *u, int k, int c, int ks, const float *x, int h, int w, int pad,
                    float *y, const float *bias, float *scratch) {
    (void)u; (void)k; (void)c; (void)ks; (void)x; (void)h; (void)w; (void)pad; (void)y; (void)bias; (void)scratch;
    return -1;
}
#endif
