// Winograd F(2×2, 3×3) for 3×3 stride-1 convolutions (see include/ckernels.h).
//
// Each 2×2 block of outputs ("tile") comes from the 4×4 input patch under it:
//   Y = Aᵀ [ Σ_c (G g_kc Gᵀ) ⊙ (Bᵀ d_c B) ] A
// so the 36 multiplies per tile, channel and output of a direct 3×3 convolution become 16, in 16
// independent products M_ξ (K, T) = U_ξ (K, C) · V_ξ (C, T), one per point ξ of the 4×4 domain.
// Bᵀ and Aᵀ hold only 0 and ±1: the transforms are adds, run 8 tiles per ymm vector. Tiles are
// taken a few tile rows at a time so that V and M (16·(C + K)·T floats) stay in the L2 cache.
//
// Lane order: the 8 tiles of a vector sit in the order (0, 1, 4, 5 | 2, 3, 6, 7), which is what
// _mm256_shuffle_ps gives when it splits 16 consecutive floats into even and odd columns, and
// what _mm256_unpacklo/hi_ps turn back into 16 consecutive outputs. The products do not care.
//
// One code path (AVX2/FMA) serves both kernel levels, so AVX-512 and AVX2 give the same bits.
#include "ckernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#include <string.h>

#define WT __attribute__((target("avx2,fma")))
#define KB 4          // output channels per micro-kernel block

// Tile geometry of one convolution: tiles_w rounded up to whole vectors of 8.
typedef struct {
    int tiles_h, tiles_w, tiles_wp;   // tiles_wp: multiple of 8
    int hq, wq;                        // the padded image read by the input transform
    int rows_per_block;                // tile rows per block (V and M stay in L2)
} wgeom_t;

static wgeom_t wino_geometry(int k, int c, int out_h, int out_w) {
    wgeom_t g;
    g.tiles_h = (out_h + 1) / 2;
    g.tiles_w = (out_w + 1) / 2;
    g.tiles_wp = (g.tiles_w + 7) / 8 * 8;
    g.hq = 2 * g.tiles_h + 2;
    g.wq = 2 * g.tiles_wp + 2;
    int budget = 4096 / (c + k);        // tiles per block: 16·(C + K)·T floats ≈ 256 KB
    int rows = budget / g.tiles_wp;
    g.rows_per_block = rows < 1 ? 1 : (rows > g.tiles_h ? g.tiles_h : rows);
    return g;
}

long ck_wino_scratch(int k, int c, int out_h, int out_w) {
    wgeom_t g = wino_geometry(k, c, out_h, out_w);
    long t = (long)g.rows_per_block * g.tiles_wp;
    return (long)c * g.hq * g.wq + 16 * ((long)(c + k) * t + 48) + 16;
}

int ck_wino_applies(int k, int c) { return ck_isa() >= 1 && k % KB == 0 && c > 0; }

// U (16, K/4, C, 4) = G g Gᵀ for each (output k, input c); g is w[k][c] (flip = 0), or the
// flipped w[c][k] of the transposed convolution (flip = 1: w is (C, K, 3, 3) and g[a][b] =
// w[c][k][2 − a][2 − b]). Plain C without FMA, so every path computes the same U.
void ck_wino_pack_weights(const float *w, int k, int c, int flip, float *u) {
    for (int o = 0; o < k; o++) {
        for (int i = 0; i < c; i++) {
            float g[3][3];
            const float *src = flip ? w + ((long)i * k + o) * 9 : w + ((long)o * c + i) * 9;
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++) g[a][b] = flip ? src[(2 - a) * 3 + (2 - b)] : src[a * 3 + b];
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
                for (int b = 0; b < 4; b++) {
                    int xi = a * 4 + b;
                    u[(((long)xi * (k / KB) + o / KB) * c + i) * KB + o % KB] = r[b];
                }
            }
        }
    }
}

// Bᵀ d B for 8 tiles of one tile row of channel plane `x` (row stride wq), starting at column
// 2·tx0, written to v[ξ·vs + 0…7].
WT static inline void input_tile8(const float *x, long wq, float *v, long vs) {
    __m256 d[4][4];
    for (int i = 0; i < 4; i++) {
        const float *r = x + i * wq;
        __m256 a = _mm256_loadu_ps(r), b = _mm256_loadu_ps(r + 8);
        __m256 a2 = _mm256_loadu_ps(r + 2), b2 = _mm256_loadu_ps(r + 10);
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

// Aᵀ m A + bias for 8 tiles: m[ξ·ms + 0…7] → y rows 0 and 1 (row stride ldy), up to `cols`
// outputs of each (16 for a whole vector), `rows` rows (1 or 2).
WT static inline void output_tile8(const float *m, long ms, float bias, float *y, long ldy, int rows, int cols) {
    __m256 t[2][4];
    for (int j = 0; j < 4; j++) {   // Aᵀ m
        __m256 m0 = _mm256_loadu_ps(m + (0 * 4 + j) * ms), m1 = _mm256_loadu_ps(m + (1 * 4 + j) * ms);
        __m256 m2 = _mm256_loadu_ps(m + (2 * 4 + j) * ms), m3 = _mm256_loadu_ps(m + (3 * 4 + j) * ms);
        t[0][j] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
        t[1][j] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
    }
    __m256 b = _mm256_set1_ps(bias);
    for (int i = 0; i < rows; i++) {   // (Aᵀ m) A
        __m256 even = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(t[i][0], t[i][1]), t[i][2]), b);
        __m256 odd = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(t[i][1], t[i][2]), t[i][3]), b);
        __m256 lo = _mm256_unpacklo_ps(even, odd), hi = _mm256_unpackhi_ps(even, odd);
        float *yr = y + i * ldy;
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

WT static void wino_conv(const float *u, int k, int c, const float *x, int h, int w, int pad,
                         int out_h, int out_w, const float *bias, float *y, float *scratch) {
    wgeom_t g = wino_geometry(k, c, out_h, out_w);
    long plane = (long)g.hq * g.wq;
    float *xp = scratch;                              // (C, hq, wq), zero outside the image
    float *v = xp + c * plane;                        // (16, C, T)
    // The padded image: x sits at (pad, pad); the rest (the padding, and the columns and rows
    // that round the tiles up) is zero.
    for (int ci = 0; ci < c; ci++) {
        float *dst = xp + ci * plane;
        memset(dst, 0, (size_t)plane * sizeof(float));
        for (int r = 0; r < h; r++) {
            int row = r + pad;
            if (row >= g.hq) break;
            int cols = w;
            if (pad + cols > g.wq) cols = g.wq - pad;
            memcpy(dst + (long)row * g.wq + pad, x + ((long)ci * h + r) * w, (size_t)cols * sizeof(float));
        }
    }
    memset(xp + c * plane, 0, 16 * sizeof(float));    // slack read past the last row by no lane
    (void)w;
    for (int ty0 = 0; ty0 < g.tiles_h; ty0 += g.rows_per_block) {
        int rows = g.tiles_h - ty0 < g.rows_per_block ? g.tiles_h - ty0 : g.rows_per_block;
        int t = rows * g.tiles_wp;
        v = xp + c * plane;
        // Strides between the ξ of V and M: padded off powers of two, or the 16 streams of the
        // transforms (8 KB apart for C = 16, 128 tiles) fight over one set of the L1 cache.
        long vs = (long)c * t + 24, ms = (long)k * t + 24;
        float *m = v + 16 * vs;                       // (16, K, T)
        for (int ci = 0; ci < c; ci++)
            for (int ty = 0; ty < rows; ty++)
                for (int tx = 0; tx < g.tiles_wp; tx += 8)
                    input_tile8(xp + ci * plane + (long)(2 * (ty0 + ty)) * g.wq + 2 * tx, g.wq,
                                v + (long)ci * t + ty * g.tiles_wp + tx, vs);
        for (int xi = 0; xi < 16; xi++)
            products(u + (long)xi * k * c, v + xi * vs, m + xi * ms, k, c, t);
        for (int ki = 0; ki < k; ki++) {
            float b = bias ? bias[ki] : 0.0f;
            for (int ty = 0; ty < rows; ty++) {
                int oy = 2 * (ty0 + ty);
                int nrows = out_h - oy < 2 ? out_h - oy : 2;
                for (int tx = 0; tx < g.tiles_wp; tx += 8) {
                    int ox = 2 * tx;
                    if (ox >= out_w) break;
                    int cols = out_w - ox < 16 ? out_w - ox : 16;
                    output_tile8(m + (long)ki * t + ty * g.tiles_wp + tx, ms, b,
                                 y + ((long)ki * out_h + oy) * out_w + ox, out_w, nrows, cols);
                }
            }
        }
    }
}

int ck_wino_conv3x3(const float *u, int k, int c, const float *x, int h, int w, int pad,
                    float *y, const float *bias, float *scratch) {
    if (!ck_wino_applies(k, c)) return -1;
    int out_h = h + 2 * pad - 2, out_w = w + 2 * pad - 2;
    if (out_h <= 0 || out_w <= 0 || pad < 0 || pad > 2) return -1;
    wino_conv(u, k, c, x, h, w, pad, out_h, out_w, bias, y, scratch);
    return 0;
}

#else
long ck_wino_scratch(int k, int c, int out_h, int out_w) { (void)k; (void)c; (void)out_h; (void)out_w; return 0; }
int ck_wino_applies(int k, int c) { (void)k; (void)c; return 0; }
void ck_wino_pack_weights(const float *w, int k, int c, int flip, float *u) {
    (void)w; (void)k; (void)c; (void)flip; (void)u;
}
int ck_wino_conv3x3(const float *u, int k, int c, const float *x, int h, int w, int pad,
                    float *y, const float *bias, float *scratch) {
    (void)u; (void)k; (void)c; (void)x; (void)h; (void)w; (void)pad; (void)y; (void)bias; (void)scratch;
    return -1;
}
#endif
