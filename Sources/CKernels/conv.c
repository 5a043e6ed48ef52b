// Implicit-GEMM convolution on AVX2/FMA, or AVX-512 where present (see include/ckernels.h).
//
// The product y (M, P) = A (M, K) · B (K, P), with B = im2col(x) and P = outH·outW, is computed
// BLIS-style: B is packed 16 positions × KC taps at a time (16 KB, stays in L1) straight from the
// image; A is packed once per call into blocks of up to MR rows (k-major); the micro-kernel keeps
// its MR×16 tile in registers. AVX2 (16 ymm registers): MR = 6, 12 accumulators; row blocks are
// balanced (M = 32 → 6,6,5,5,5,5) so every block keeps at least 8 accumulators busy, which hides
// the FMA latency. AVX-512 (32 zmm registers): MR = 16, one zmm per row, so the 16–64-channel
// layers of residual nets split into whole blocks of 16 (no 5-row remainder blocks) and each
// packed B row is loaded once per 16 FMAs. Both compute every output element with the same FMAs
// in the same order, so the two paths give the same bits.
#include "ckernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#include <string.h>

#include <stdlib.h>

#define CK_TARGET __attribute__((target("avx2,fma")))
#define CK_TARGET512 __attribute__((target("avx512f,avx2,fma")))
#define NR 16        // positions per panel: two ymm vectors, or one zmm
#define KC 256       // taps per packed panel: 256·16 floats = 16 KB
#define MR_AVX2 6
#define MR_AVX512 16
#define MR_LIMIT 16

// The CPU's best path: 2 AVX-512, 1 AVX2/FMA, 0 none (callers use im2col + sgemm).
static int hardware_level(void) {
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return 0;
    // AVX-512 with VL (every AVX-512 x86 CPU since Skylake-SP): the weight-gradient kernel
    // uses ymm16–31.
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") ? 2 : 1;
}

static int isa_level = -1;   // set once; callers may run on several threads

static int level_from_env(int hw) {
    const char *force = getenv("SPARKNET_CPU");
    if (!force || !*force || !strcmp(force, "auto")) return hw;
    int want = !strcmp(force, "avx512") ? 2 : !strcmp(force, "avx2") ? 1 : !strcmp(force, "portable") ? 0 : hw;
    return want < hw ? want : hw;
}

int ck_isa(void) {
    int a = __atomic_load_n(&isa_level, __ATOMIC_RELAXED);
    if (a < 0) {
        a = level_from_env(hardware_level());
        __atomic_store_n(&isa_level, a, __ATOMIC_RELAXED);
    }
    return a;
}

int ck_force_isa(int level) {
    int hw = hardware_level();
    int a = level < 0 ? level_from_env(hw) : (level < hw ? level : hw);
    __atomic_store_n(&isa_level, a, __ATOMIC_RELAXED);
    return a;
}

int ck_available(void) { return ck_isa() >= 1; }

static int mr_max(void) { return ck_isa() >= 2 ? MR_AVX512 : MR_AVX2; }

// Row blocks: nb = ⌈M/MR⌉ blocks; the first M mod nb get one row more.
static inline int block_count(int m, int mr) { return (m + mr - 1) / mr; }
// Inner-dimension chunks: ⌈k/KC⌉ balanced chunks of at most KC.
static inline int chunk_step(int k) { int n = (k + KC - 1) / KC; return (k + n - 1) / n; }
static inline void block_rows(int m, int mrmax, int b, int *r0, int *mr) {
    int nb = block_count(m, mrmax), base = m / nb, extra = m % nb;
    *mr = base + (b < extra ? 1 : 0);
    *r0 = b * base + (b < extra ? b : extra);
}

void ck_pack_a(const float *a, int m, int k, long lda, float *packed) {
    int mx = mr_max(), nb = block_count(m, mx);
    for (int b = 0; b < nb; b++) {
        int r0, mr;
        block_rows(m, mx, b, &r0, &mr);
        float *dst = packed + (long)r0 * k;   // (k, mr)
        for (int i = 0; i < mr; i++) {
            const float *src = a + (long)(r0 + i) * lda;
            for (int kk = 0; kk < k; kk++) dst[(long)kk * mr + i] = src[kk];
        }
    }
}

// lanes [0, n) set, n in 0…8
static const int mask_table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
CK_TARGET static inline __m256i lane_mask(int n) {
    return _mm256_loadu_si256((const __m256i *)(mask_table + 8 - n));
}

// The micro-kernel: C (MR, ncols ≤ 16, row stride ldc) = [C or bias or 0] + Apanel (kc, MR)ᵀ ·
// Bpanel (kc, 16). `init`: 0 starts from the bias (or 0), 1 from C.
#define KERNEL(MR)                                                                              \
    CK_TARGET static void kernel_##MR(int kc, const float *restrict pa, const float *restrict pb, \
                                      float *c, long ldc, int init, const float *bias,         \
                                      int ncols) {                                             \
        __m256 lo[MR], hi[MR];                                                                 \
        __m256i m0 = lane_mask(ncols >= 8 ? 8 : ncols);                                        \
        __m256i m1 = lane_mask(ncols >= 16 ? 8 : (ncols > 8 ? ncols - 8 : 0));                 \
        int full = ncols == NR;                                                                \
        for (int i = 0; i < MR; i++) {                                                         \
            if (init) {                                                                        \
                const float *ci = c + i * ldc;                                                 \
                lo[i] = full ? _mm256_loadu_ps(ci) : _mm256_maskload_ps(ci, m0);               \
                hi[i] = full ? _mm256_loadu_ps(ci + 8) : _mm256_maskload_ps(ci + 8, m1);       \
            } else {                                                                           \
                lo[i] = bias ? _mm256_set1_ps(bias[i]) : _mm256_setzero_ps();                  \
                hi[i] = lo[i];                                                                 \
            }                                                                                  \
        }                                                                                      \
        for (int k = 0; k < kc; k++) {                                                         \
            __m256 b0 = _mm256_load_ps(pb + k * NR);                                           \
            __m256 b1 = _mm256_load_ps(pb + k * NR + 8);                                       \
            for (int i = 0; i < MR; i++) {                                                     \
                __m256 ai = _mm256_broadcast_ss(pa + k * MR + i);                              \
                lo[i] = _mm256_fmadd_ps(ai, b0, lo[i]);                                        \
                hi[i] = _mm256_fmadd_ps(ai, b1, hi[i]);                                        \
            }                                                                                  \
        }                                                                                      \
        for (int i = 0; i < MR; i++) {                                                         \
            float *ci = c + i * ldc;                                                           \
            if (full) {                                                                        \
                _mm256_storeu_ps(ci, lo[i]);                                                   \
                _mm256_storeu_ps(ci + 8, hi[i]);                                               \
            } else {                                                                           \
                _mm256_maskstore_ps(ci, m0, lo[i]);                                            \
                _mm256_maskstore_ps(ci + 8, m1, hi[i]);                                        \
            }                                                                                  \
        }                                                                                      \
    }

KERNEL(1)
KERNEL(2)
KERNEL(3)
KERNEL(4)
KERNEL(5)
KERNEL(6)

// The same micro-kernel on AVX-512: one zmm per row of the tile, the A element broadcast from
// memory into each FMA.
#define KERNEL512(MR)                                                                           \
    CK_TARGET512 static void kernel512_##MR(int kc, const float *restrict pa,                    \
                                            const float *restrict pb, float *c, long ldc,       \
                                            int init, const float *bias, int ncols) {           \
        __m512 acc[MR];                                                                        \
        __mmask16 mask = ncols >= NR ? (__mmask16)0xFFFF : (__mmask16)((1u << ncols) - 1);     \
        for (int i = 0; i < MR; i++) {                                                         \
            if (init) acc[i] = _mm512_maskz_loadu_ps(mask, c + i * ldc);                       \
            else acc[i] = bias ? _mm512_set1_ps(bias[i]) : _mm512_setzero_ps();                \
        }                                                                                      \
        for (int k = 0; k < kc; k++) {                                                         \
            __m512 b = _mm512_load_ps(pb + k * NR);                                            \
            for (int i = 0; i < MR; i++)                                                       \
                acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(pa[k * MR + i]), b, acc[i]);           \
        }                                                                                      \
        for (int i = 0; i < MR; i++) _mm512_mask_storeu_ps(c + i * ldc, mask, acc[i]);          \
    }

KERNEL512(1) KERNEL512(2) KERNEL512(3) KERNEL512(4) KERNEL512(5) KERNEL512(6) KERNEL512(7)
KERNEL512(8) KERNEL512(9) KERNEL512(10) KERNEL512(11) KERNEL512(12) KERNEL512(13) KERNEL512(14)
KERNEL512(15) KERNEL512(16)

typedef void (*kernel_fn)(int, const float *, const float *, float *, long, int, const float *, int);
static const kernel_fn kernels_avx2[MR_AVX2 + 1] = {0, kernel_1, kernel_2, kernel_3, kernel_4, kernel_5, kernel_6};
static const kernel_fn kernels_avx512[MR_AVX512 + 1] = {
    0, kernel512_1, kernel512_2, kernel512_3, kernel512_4, kernel512_5, kernel512_6, kernel512_7, kernel512_8,
    kernel512_9, kernel512_10, kernel512_11, kernel512_12, kernel512_13, kernel512_14, kernel512_15, kernel512_16};
static inline const kernel_fn *kernel_table(void) { return ck_isa() >= 2 ? kernels_avx512 : kernels_avx2; }

// A panel's 16 positions as contiguous pieces of the image: lanes [lane, lane + len) read
// x[tap + offset …], len ≤ 8. A row of positions (stride 1) gives pieces of 8.
typedef struct {
    int count;
    int lane[NR];
    int len[NR];
    long offset[NR];
} pieces_t;

static void panel_pieces(int j0, int nj, int out_w, int sh, int sw, int w, pieces_t *p) {
    p->count = 0;
    int jj = 0;
    while (jj < nj) {
        int j = j0 + jj, oh = j / out_w, ow = j % out_w;
        long off = (long)oh * sh * w + (long)ow * sw;
        // a piece runs along the output row while the input is contiguous (stride 1), ≤ 8 lanes
        int len = 1;
        if (sw == 1) {
            int room = out_w - ow;
            len = nj - jj < room ? nj - jj : room;
            if (len > 8) len = 8;
        }
        p->lane[p->count] = jj;
        p->len[p->count] = len;
        p->offset[p->count] = off;
        p->count++;
        jj += len;
    }
}

// Bpanel (kc, 16) for taps [k0, k0 + kc) of the positions described by `p` (lanes ≥ nj are 0).
// Tap t reads x + tap_off[t] when given (ck_conv2d_taps), else tap (c, i, j) of kh × kw.
CK_TARGET static void pack_b(const float *x, int h, int w, int kh, int kw, int dh, int dw,
                             int k0, int kc, const pieces_t *p, int nj, float *restrict pb,
                             const long *tap_off) {
    int taps = kh * kw;
    int c = k0 / taps, rem = k0 % taps, i = rem / kw, j = rem % kw;
    long plane = (long)h * w;
    // two full pieces of 8 (a row of ≥ 16 positions, or two rows of 8): the common case
    int two8 = p->count == 2 && p->len[0] == 8 && p->len[1] == 8;
    long o0 = p->offset[0], o1 = p->count > 1 ? p->offset[1] : 0;
    for (int kk = 0; kk < kc; kk++) {
        const float *src = tap_off ? x + tap_off[k0 + kk] : x + c * plane + (long)i * dh * w + (long)j * dw;
        float *d = pb + kk * NR;
        if (two8) {
            // The next panel's line of this tap: a panel reads one line from each of up to 256
            // channel planes, more streams than the hardware prefetchers follow (1×1 layers of
            // 256 channels ran at 78 GFLOP/s without this, 101 with it).
            _mm_prefetch((const char *)(src + o0 + NR), _MM_HINT_T0);
            _mm256_store_ps(d, _mm256_loadu_ps(src + o0));
            _mm256_store_ps(d + 8, _mm256_loadu_ps(src + o1));
        } else {
            // Full 8-lane stores: a piece's extra lanes are overwritten by the pieces after it
            // (in lane order) or land in the next tap's row or the slack; masked stores are slow.
            for (int q = 0; q < p->count; q++) {
                int len = p->len[q];
                const float *s = src + p->offset[q];
                __m256 v = len == 8 ? _mm256_loadu_ps(s) : _mm256_maskload_ps(s, lane_mask(len));
                _mm256_storeu_ps(d + p->lane[q], v);
            }
        }
        if (++j == kw) { j = 0; if (++i == kh) { i = 0; c++; } }
    }
    if (nj < NR) {
        // lanes ≥ nj are zero (the pieces' spill may have written there)
        for (int kk = 0; kk < kc; kk++) memset(pb + kk * NR + nj, 0, sizeof(float) * (size_t)(NR - nj));
    }
}

CK_TARGET static void conv2d_avx2(const float *packed_a, int m, int ch, const float *x, int h, int w,
                                  int kh, int kw, int sh, int sw, int dh, int dw,
                                  float *y, int out_h, int out_w, const float *bias, int accumulate,
                                  const long *taps) {
    _Alignas(64) float pb[KC * NR + 8];   // + 8: the last piece's spill
    int k = ch * kh * kw;
    long positions = (long)out_h * out_w;
    const kernel_fn *kernels = kernel_table();
    int mx = mr_max(), nb = block_count(m, mx);
    int kstep = chunk_step(k);
    pieces_t pieces;
    for (long j0 = 0; j0 < positions; j0 += NR) {
        int nj = positions - j0 < NR ? (int)(positions - j0) : NR;
        panel_pieces((int)j0, nj, out_w, sh, sw, w, &pieces);
        for (int k0 = 0; k0 < k; k0 += kstep) {
            int kc = k - k0 < kstep ? k - k0 : kstep;
            pack_b(x, h, w, kh, kw, dh, dw, k0, kc, &pieces, nj, pb, taps);
            int init = accumulate || k0 > 0;
            for (int b = 0; b < nb; b++) {
                int r0, mr;
                block_rows(m, mx, b, &r0, &mr);
                kernels[mr](kc, packed_a + (long)r0 * k + (long)k0 * mr, pb,
                            y + r0 * positions + j0, positions, init, bias ? bias + r0 : 0, nj);
            }
        }
    }
}

// ---- weight gradient -------------------------------------------------------------------------
//
// dW[m][k] = Σ_n Σ_(oh, ow) dY_n[m][oh][ow] · x_n[tap_k + oh·sh·W + ow]: both factors are
// contiguous along ow when the column stride is 1, so the kernel reads them in place (no im2col,
// no packing), keeps 4 rows × 3 taps of 8-lane partial sums in registers over a chunk of images,
// and reduces each to a scalar once per chunk.
#define WG_MR 4
#define WG_NK 3

CK_TARGET static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#define WGRAD(MR, NK) WGRAD_AS(MR, NK, wgrad_, CK_TARGET)
#define WGRAD_AS(MR, NK, NAME, TARGET)                                                             \
    TARGET static void NAME##MR##x##NK(const float *dy, long plane, const float *x,           \
                                              const long *off, const int *vx, const int *vd,      \
                                              int vectors, float *dw, long ldw) {                 \
        __m256 acc[MR][NK];                                                                      \
        for (int i = 0; i < MR; i++)                                                             \
            for (int j = 0; j < NK; j++) acc[i][j] = _mm256_setzero_ps();                        \
        const float *xs[NK];                                                                     \
        for (int j = 0; j < NK; j++) xs[j] = x + off[j];                                         \
        for (int v = 0; v < vectors; v++) {                                                      \
            __m256 xv[NK];                                                                       \
            for (int j = 0; j < NK; j++) xv[j] = _mm256_loadu_ps(xs[j] + vx[v]);                 \
            const float *d = dy + vd[v];                                                         \
            for (int i = 0; i < MR; i++) {                                                       \
                __m256 di = _mm256_loadu_ps(d + i * plane);                                      \
                for (int j = 0; j < NK; j++) acc[i][j] = _mm256_fmadd_ps(di, xv[j], acc[i][j]);   \
            }                                                                                    \
        }                                                                                        \
        for (int i = 0; i < MR; i++)                                                             \
            for (int j = 0; j < NK; j++) dw[i * ldw + j] += hsum(acc[i][j]);                     \
    }

WGRAD(1, 1) WGRAD(1, 2) WGRAD(1, 3)
WGRAD(2, 1) WGRAD(2, 2) WGRAD(2, 3)
WGRAD(3, 1) WGRAD(3, 2) WGRAD(3, 3)
WGRAD(4, 1) WGRAD(4, 2) WGRAD(4, 3)

// The same kernel on the AVX-512 path, where VL gives 32 vector registers: 6 rows × 4 taps of
// 8-lane sums (10 loads per 24 FMAs instead of 7 per 12). Each dW element is still the 8-lane sum over
// the segment's vectors in order, reduced by hsum: the block shape does not change a bit.
#define WG_MR512 6
#define WG_NK512 4
#define CK_TARGET_VL __attribute__((target("avx512f,avx512vl,avx2,fma")))
#define WGRAD512(MR, NK) WGRAD_AS(MR, NK, wgrad512_, CK_TARGET_VL)
WGRAD512(1, 1) WGRAD512(1, 2) WGRAD512(1, 3) WGRAD512(1, 4)
WGRAD512(2, 1) WGRAD512(2, 2) WGRAD512(2, 3) WGRAD512(2, 4)
WGRAD512(3, 1) WGRAD512(3, 2) WGRAD512(3, 3) WGRAD512(3, 4)
WGRAD512(4, 1) WGRAD512(4, 2) WGRAD512(4, 3) WGRAD512(4, 4)
WGRAD512(5, 1) WGRAD512(5, 2) WGRAD512(5, 3) WGRAD512(5, 4)
WGRAD512(6, 1) WGRAD512(6, 2) WGRAD512(6, 3) WGRAD512(6, 4)

typedef void (*wgrad_fn)(const float *, long, const float *, const long *, const int *, const int *,
                         int, float *, long);
static const wgrad_fn wgrads[WG_MR][WG_NK] = {
    {wgrad_1x1, wgrad_1x2, wgrad_1x3}, {wgrad_2x1, wgrad_2x2, wgrad_2x3},
    {wgrad_3x1, wgrad_3x2, wgrad_3x3}, {wgrad_4x1, wgrad_4x2, wgrad_4x3}};
static const wgrad_fn wgrads512[WG_MR512][WG_NK512] = {
    {wgrad512_1x1, wgrad512_1x2, wgrad512_1x3, wgrad512_1x4},
    {wgrad512_2x1, wgrad512_2x2, wgrad512_2x3, wgrad512_2x4},
    {wgrad512_3x1, wgrad512_3x2, wgrad512_3x3, wgrad512_3x4},
    {wgrad512_4x1, wgrad512_4x2, wgrad512_4x3, wgrad512_4x4},
    {wgrad512_5x1, wgrad512_5x2, wgrad512_5x3, wgrad512_5x4},
    {wgrad512_6x1, wgrad512_6x2, wgrad512_6x3, wgrad512_6x4}};


CK_TARGET static void bias_grad(const float *dy, long dy_image, long plane, int m, int images, float *db) {
    for (int i = 0; i < m; i++) {
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        float tail = 0;
        for (int n = 0; n < images; n++) {
            const float *d = dy + n * dy_image + i * plane;
            long p = 0;
            for (; p + 16 <= plane; p += 16) {
                a0 = _mm256_add_ps(a0, _mm256_loadu_ps(d + p));
                a1 = _mm256_add_ps(a1, _mm256_loadu_ps(d + p + 8));
            }
            for (; p < plane; p++) tail += d[p];
        }
        db[i] += hsum(_mm256_add_ps(a0, a1)) + tail;
    }
}

// Tap t reads x + tap_off[t] when `tap_off` is given (then c is the tap count, kh = kw = 1).
static int weight_grad(int m, int c, const float *x, long x_image, int h, int w,
                       int kh, int kw, int sh, int dh, int dw,
                       const float *dy, long dy_image, int out_h, int out_w, int images,
                       float *dweights, long ldw, float *dbias, const long *tap_off) {
    if (!ck_available() || out_w % 8 != 0) return -1;
    long plane = (long)out_h * out_w, row = (long)sh * w, hw = (long)h * w;
    int k = c * kh * kw, taps = kh * kw;
    // images per chunk: their inputs and top gradients stay in L2 between the taps' passes
    long bytes = ((tap_off ? x_image : (long)c * hw) + (long)m * plane) * (long)sizeof(float);
    int chunk = (int)(256 * 1024 / (bytes > 0 ? bytes : 1));
    if (chunk < 1) chunk = 1;
    if (chunk > images) chunk = images;
    // The chunk's 8-position vectors as one flat loop, up to SEGMENT at a time (tables on the
    // stack, no allocation): offsets into x (tap 0) and into dy (row 0).
    enum { SEGMENT = 1024 };
    int vx[SEGMENT], vd[SEGMENT];
    int per_image = (int)(plane / 8), per_row = out_w / 8;
    int wide = ck_isa() >= 2;
    int mb = wide ? WG_MR512 : WG_MR, kb = wide ? WG_NK512 : WG_NK;
    for (int n0 = 0; n0 < images; n0 += chunk) {
        int nb = images - n0 < chunk ? images - n0 : chunk;
        const float *xc = x + n0 * x_image, *dyc = dy + n0 * dy_image;
        int vectors = nb * per_image;
        for (int v0 = 0; v0 < vectors; v0 += SEGMENT) {
            int len = vectors - v0 < SEGMENT ? vectors - v0 : SEGMENT;
            for (int v = 0; v < len; v++) {
                int n = (v0 + v) / per_image, r = (v0 + v) % per_image;
                int oh = r / per_row, ow = r % per_row * 8;
                vx[v] = (int)(n * x_image + oh * row + ow);
                vd[v] = (int)(n * dy_image + (long)oh * out_w + ow);
            }
            for (int m0 = 0; m0 < m; m0 += mb) {
                int mr = m - m0 < mb ? m - m0 : mb;
                for (int k0 = 0; k0 < k; k0 += kb) {
                    int nk = k - k0 < kb ? k - k0 : kb;
                    long off[WG_NK512];
                    for (int j = 0; j < nk; j++) {
                        int t = k0 + j, ci = t / taps, r = t % taps;
                        off[j] = tap_off ? tap_off[t] : ci * hw + (long)(r / kw) * dh * w + (long)(r % kw) * dw;
                    }
                    wgrad_fn fn = wide ? wgrads512[mr - 1][nk - 1] : wgrads[mr - 1][nk - 1];
                    fn(dyc + m0 * plane, plane, xc, off, vx, vd, len, dweights + m0 * ldw + k0, ldw);
                }
            }
        }
        if (dbias) bias_grad(dyc, dy_image, plane, m, nb, dbias);
    }
    return 0;
}

int ck_conv2d_weight_grad(int m, int c, const float *x, long x_image, int h, int w,
                          int kh, int kw, int sh, int dh, int dw,
                          const float *dy, long dy_image, int out_h, int out_w, int images,
                          float *dweights, long ldw, float *dbias) {
    return weight_grad(m, c, x, x_image, h, w, kh, kw, sh, dh, dw, dy, dy_image, out_h, out_w, images,
                       dweights, ldw, dbias, 0);
}

int ck_conv2d_weight_grad_taps(int m, int k, const long *taps, const float *x, long x_image, int w,
                               const float *dy, long dy_image, int out_h, int out_w, int images,
                               float *dweights, long ldw, float *dbias) {
    return weight_grad(m, k, x, x_image, 1, w, 1, 1, 1, 1, 1, dy, dy_image, out_h, out_w, images,
                       dweights, ldw, dbias, taps);
}

// ---- input gradient through col2im, fused ---------------------------------------------------
//
// dcol (K, P) = Wᵀ (K, M) · dy (M, P) is the same product as a 1×1 convolution of dy, but each
// 6×16 tile is added straight into dx where col2im would put it: row (c, i, j) and positions
// (oh, ow) land on dx[c][oh·sh + i·dh][ow·sw + j·dw], in pieces that are contiguous when sw = 1.
// The column matrix never reaches memory and the image stays in L1. Wᵀ's rows come in (c, j, i)
// order (i fastest) rather than im2col's (c, i, j): consecutive rows then add into the same or
// disjoint ranges of dx, never into ranges one float apart, whose read-after-write would miss
// store forwarding and serialise the adds.
CK_TARGET static void input_grad_avx2(const float *packed_wt, int k, int m, const float *dy,
                                      int out_h, int out_w, int kh, int kw, int sh, int sw,
                                      int dh, int dw, float *dx, int h, int w) {
    _Alignas(64) float pb[KC * NR];
    _Alignas(64) float tile[MR_LIMIT * NR + 8];   // + 8: a piece's 8-lane read past the last row
    long positions = (long)out_h * out_w, plane = (long)h * w;
    const kernel_fn *kernels = kernel_table();
    int mx = mr_max(), nb = block_count(k, mx);
    int kstep = chunk_step(m);
    pieces_t pieces;
    for (long j0 = 0; j0 < positions; j0 += NR) {
        int nj = positions - j0 < NR ? (int)(positions - j0) : NR;
        panel_pieces((int)j0, nj, out_w, sh, sw, w, &pieces);
        __m256i m0 = lane_mask(nj >= 8 ? 8 : nj), m1 = lane_mask(nj > 8 ? nj - 8 : 0);
        for (int k0 = 0; k0 < m; k0 += kstep) {
            int kc = m - k0 < kstep ? m - k0 : kstep;
            for (int kk = 0; kk < kc; kk++) {   // Bpanel (kc, 16): dy rows, lanes ≥ nj zero
                const float *s = dy + (long)(k0 + kk) * positions + j0;
                _mm_prefetch((const char *)(s + NR), _MM_HINT_T0);   // as in pack_b
                _mm256_store_ps(pb + kk * NR, nj == NR ? _mm256_loadu_ps(s) : _mm256_maskload_ps(s, m0));
                _mm256_store_ps(pb + kk * NR + 8, nj == NR ? _mm256_loadu_ps(s + 8) : _mm256_maskload_ps(s + 8, m1));
            }
            int rc = 0, ri = 0, rj = 0;   // the next row's (c, j, i), i fastest
            for (int b = 0; b < nb; b++) {
                int r0, mr;
                block_rows(k, mx, b, &r0, &mr);
                kernels[mr](kc, packed_wt + (long)r0 * m + (long)k0 * mr, pb, tile, NR, 0, 0, NR);
                for (int i = 0; i < mr; i++) {
                    float *base = dx + rc * plane + (long)ri * dh * w + (long)rj * dw;
                    if (++ri == kh) { ri = 0; if (++rj == kw) { rj = 0; rc++; } }
                    const float *ti = tile + i * NR;
                    for (int q = 0; q < pieces.count; q++) {
                        float *d = base + pieces.offset[q];
                        const float *s = ti + pieces.lane[q];
                        int len = pieces.len[q];
                        if (len == 8) {
                            _mm256_storeu_ps(d, _mm256_add_ps(_mm256_loadu_ps(d), _mm256_loadu_ps(s)));
                        } else if (len == 1) {
                            d[0] += s[0];
                        } else {
                            __m256i lm = lane_mask(len);
                            _mm256_maskstore_ps(d, lm, _mm256_add_ps(_mm256_maskload_ps(d, lm), _mm256_loadu_ps(s)));
                        }
                    }
                }
            }
        }
    }
}

int ck_conv2d_input_grad(const float *packed_wt, int k, int m, const float *dy, int out_h, int out_w,
                         int kh, int kw, int sh, int sw, int dh, int dw, float *dx, int h, int w) {
    if (!ck_available()) return -1;
    input_grad_avx2(packed_wt, k, m, dy, out_h, out_w, kh, kw, sh, sw, dh, dw, dx, h, w);
    return 0;
}

int ck_conv2d(const float *packed_a, int m, int c, const float *x, int h, int w,
              int kh, int kw, int sh, int sw, int dh, int dw,
              float *y, int out_h, int out_w, const float *bias, int accumulate) {
    if (!ck_available()) return -1;
    conv2d_avx2(packed_a, m, c, x, h, w, kh, kw, sh, sw, dh, dw, y, out_h, out_w, bias, accumulate, 0);
    return 0;
}

int ck_conv2d_taps(const float *packed_a, int m, int k, const long *taps, const float *x, int w,
                   float *y, int out_h, int out_w, const float *bias, int accumulate) {
    if (!ck_available()) return -1;
    conv2d_avx2(packed_a, m, k, x, 1, w, 1, 1, 1, 1, 1, 1, y, out_h, out_w, bias, accumulate, taps);
    return 0;
}

#else  // not x86-64: callers use im2col + sgemm

int ck_available(void) { return 0; }
int ck_isa(void) { return 0; }
int ck_force_isa(int level) { (void)level; return 0; }

void ck_pack_a(const float *a, int m, int k, long lda, float *packed) {
    (void)a; (void)m; (void)k; (void)lda; (void)packed;
}

int ck_conv2d_weight_grad(int m, int c, const float *x, long x_image, int h, int w,
                          int kh, int kw, int sh, int dh, int dw,
                          const float *dy, long dy_image, int out_h, int out_w, int images,
                          float *dweights, long ldw, float *dbias) {
    (void)m; (void)c; (void)x; (void)x_image; (void)h; (void)w; (void)kh; (void)kw; (void)sh;
    (void)dh; (void)dw; (void)dy; (void)dy_image; (void)out_h; (void)out_w; (void)images;
    (void)dweights; (void)ldw; (void)dbias;
    return -1;
}

int ck_conv2d_input_grad(const float *packed_wt, int k, int m, const float *dy, int out_h, int out_w,
                         int kh, int kw, int sh, int sw, int dh, int dw, float *dx, int h, int w) {
    (void)packed_wt; (void)k; (void)m; (void)dy; (void)out_h; (void)out_w; (void)kh; (void)kw;
    (void)sh; (void)sw; (void)dh; (void)dw; (void)dx; (void)h; (void)w;
    return -1;
}

int ck_conv2d(const float *packed_a, int m, int c, const float *x, int h, int w,
              int kh, int kw, int sh, int sw, int dh, int dw,
              float *y, int out_h, int out_w, const float *bias, int accumulate) {
    (void)packed_a; (void)m; (void)c; (void)x; (void)h; (void)w; (void)kh; (void)kw; (void)sh;
    (void)sw; (void)dh; (void)dw; (void)y; (void)out_h; (void)out_w; (void)bias; (void)accumulate;
    return -1;
}

int ck_conv2d_taps(const float *packed_a, int m, int k, const long *taps, const float *x, int w,
                   float *y, int out_h, int out_w, const float *bias, int accumulate) {
    (void)packed_a; (void)m; (void)k; (void)taps; (void)x; (void)w; (void)y; (void)out_h; (void)out_w;
    (void)bias; (void)accumulate;
    return -1;
}

int ck_conv2d_weight_grad_taps(int m, int k, const long *taps, const float *x, long x_image, int w,
                               const float *dy, long dy_image, int out_h, int out_w, int images,
                               float *dweights, long ldw, float *dbias) {
    (void)m; (void)k; (void)taps; (void)x; (void)x_image; (void)w; (void)dy; (void)dy_image;
    (void)out_h; (void)out_w; (void)images; (void)dweights; (void)ldw; (void)dbias;
    return -1;
}

#endif
