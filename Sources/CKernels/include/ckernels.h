// Hand-written AVX2/FMA kernels for the convolution layer (implicit-GEMM convolution).
//
// OpenBLAS runs the large sgemm calls near the core's peak, but a convolution through it pays for
// an explicit im2col matrix, a zeroing pass (beta = 0), OpenBLAS's own packing of that matrix, and
// a scatter of the result into the (N, M, H, W) layout. Here the column matrix is never built: the
// B operand is packed straight from the image, 16 output positions at a time, and the micro-kernel
// writes its tile into the output plane (with the bias) directly.
#ifndef CKERNELS_H
#define CKERNELS_H

#ifdef __cplusplus
extern "C" {
#endif

/// One part of a parallel region: part p of ck_parallel's `parts`.
typedef void (*ck_part_fn)(void *ctx, int part);

/// Runs fn(ctx, p) for p in 0..<parts, part 0 on the calling thread and the others on a pool of
/// worker threads (started on first use, kept), and returns 1 when all are done. A region started
/// from inside a part, or while another thread's region runs, runs its parts serially here.
/// Returns 0 without running anything where there is no pool (not Linux).
int ck_parallel(int parts, ck_part_fn fn, void *ctx);

/// 1 when the kernels run here (x86-64 with AVX2 and FMA, and not forced off), else 0: callers
/// then fall back to im2col + sgemm.
int ck_available(void);

/// The kernel path in use: 2 AVX-512 (F and VL), 1 AVX2/FMA, 0 none (im2col + sgemm). Chosen once from the
/// CPU's features; the environment variable SPARKNET_CPU=avx2|portable (or avx512, auto) forces a
/// lower one. Both kernel paths give the same bits.
int ck_isa(void);

/// Tests: sets the path to `level` (at most what the CPU runs; -1: as at start-up) and returns
/// it. Only while no convolution runs: weights packed for one path are not valid for another.
int ck_force_isa(int level);

/// Packs A (M × K, row stride lda) into the layout ck_conv2d reads: row blocks of at most 6 rows,
/// each stored k-major. `packed` holds M·K floats.
void ck_pack_a(const float *a, int m, int k, long lda, float *packed);

/// One image of a 2-D convolution without padding (the caller pads):
///   y (M, outH, outW) = A (M, C·kh·kw) · columns(x) [+ bias[m]]      (accumulate = 0)
///   y (M, outH, outW) += A · columns(x)                               (accumulate = 1)
/// x is (C, H, W); columns(x) is Caffe's im2col of x (row (c·kh + i)·kw + j, column oh·outW + ow)
/// for the given stride and dilation, never materialised. `packed_a` comes from ck_pack_a.
/// Returns 0, or -1 when the kernels are not available on this CPU.
int ck_conv2d(const float *packed_a, int m, int c, const float *x, int h, int w,
              int kh, int kw, int sh, int sw, int dh, int dw,
              float *y, int out_h, int out_w, const float *bias, int accumulate);

/// ck_conv2d over an explicit list of K taps (stride 1): row t of the column matrix is the
/// image read from x + taps[t] (in floats), position (oh, ow) at oh·w + ow from there:
///   y (M, outH, outW) = A (M, K) · columns [+ bias[m]]   (accumulate = 0; 1 adds into y)
/// A convolution whose taps are not a full kh × kw rectangle per channel (the phase-split stem
/// without its zero taps). `packed_a` comes from ck_pack_a(a, M, K). Returns 0, or -1.
int ck_conv2d_taps(const float *packed_a, int m, int k, const long *taps, const float *x, int w,
                   float *y, int out_h, int out_w, const float *bias, int accumulate);

/// ck_conv2d_weight_grad over the same tap list: dweights (M, K; row stride ldw) += Σ_n dy_n ·
/// columns(x_n)ᵀ, images x_image floats apart (each tap's offset is within an image), and
/// dbias += Σ dy when given. outW must be a multiple of 8. Returns 0, or -1.
int ck_conv2d_weight_grad_taps(int m, int k, const long *taps, const float *x, long x_image, int w,
                               const float *dy, long dy_image, int out_h, int out_w, int images,
                               float *dweights, long ldw, float *dbias);

/// The weight (and bias) gradient of a 2-D convolution with column stride 1, over `images`
/// images of x (C, H, W) at `x_image` floats apart (unpadded: the caller pads) and of the top
/// gradient dy (M, outH, outW) at `dy_image` floats apart:
///   dweights (M, C·kh·kw; row stride ldw) += Σ_n dy_n · columns(x_n)ᵀ
///   dbias (M) += Σ_n Σ_positions dy_n          (when dbias is not NULL)
/// Returns 0, or -1 when the kernels are not available or outW is not a multiple of 8.
int ck_conv2d_weight_grad(int m, int c, const float *x, long x_image, int h, int w,
                          int kh, int kw, int sh, int dh, int dw,
                          const float *dy, long dy_image, int out_h, int out_w, int images,
                          float *dweights, long ldw, float *dbias);

/// The input gradient of one image (and group) of a 2-D convolution, col2im fused in:
///   dx (C, H, W) += col2im(Wᵀ · dy)
/// Wᵀ is (K = C·kh·kw, M) with its rows in (c, j, i) order (row (c·kw + j)·kh + i holds tap
/// (c, i, j)), packed by ck_pack_a; dy is (M, outH, outW); dx is the unpadded image
/// of the (padded) input geometry H × W, accumulated (the caller zeroes it). Any stride and
/// dilation. Returns 0, or -1 when the kernels are not available on this CPU.
int ck_conv2d_input_grad(const float *packed_wt, int k, int m, const float *dy, int out_h, int out_w,
                         int kh, int kw, int sh, int sw, int dh, int dw, float *dx, int h, int w);


/// Winograd F(2×2, 3×3) for stride-1, dilation-1 convolutions with 3×3 kernels (ks = 3), and
/// F(2×2, 5×5) for 5×5 ones (ks = 5) (winograd.c): per 2×2 output tile, input and output
/// channel 16 multiplies instead of 36, or 36 instead of 100. ξ below is the (ks + 1)² points.
/// ck_wino_applies: 1 when it runs here for K output channels and C input channels, else 0.
/// K' below is K rounded up to a multiple of 4 (rows of zeros).
int ck_wino_applies(int k, int c);

/// Floats of U (ξ, K', C), and of the weight gradient's dU.
long ck_wino_weights(int k, int c, int ks);

/// Floats of scratch one ck_wino_conv call needs (per thread).
long ck_wino_scratch(int k, int c, int out_h, int out_w, int ks);

/// Rows [o0, o1) of U (ck_wino_weights floats, K' rows; rows past K are zeros) from the
/// kernels: w (K, C, ks, ks) when flip = 0; with flip = 1, w is (C, K, ks, ks) and each kernel
/// is read transposed and rotated by 180° (the input gradient's convolution); with flip = 2, w is
/// (C, K, ks, ks) read transposed only (ck_wino_conv_adjoint). Threads may take disjoint row
/// ranges. The same plain C on every path.
void ck_wino_pack_weights(const float *w, int k, int c, int ks, int flip, int o0, int o1, float *u);

/// y (K, outH, outW) = ks×ks stride-1 convolution of x (C, H, W), zero-padded by `pad` (< ks) on
/// each side (outH = H + 2·pad − ks + 1), [+ bias[k]], overwriting y. `scratch` holds
/// ck_wino_scratch(K, C, outH, outW, ks) floats. Returns 0, or -1 when it does not apply.
int ck_wino_conv(const float *u, int k, int c, int ks, const float *x, int h, int w, int pad,
                 float *y, const float *bias, float *scratch);

/// The input gradient of ck_wino_conv's convolution run backwards (no transposed convolution):
///   dx (C, h, w) = the gradient of Σ y·dy with respect to x, y = ck_wino_conv(x) (pad `pad`)
/// per 2×2 tile: E_ξ = U_ξᵀ · (A dY Aᵀ)_ξ, then B E Bᵀ added into the padded image where the forward
/// pass read the tile. `u` is ck_wino_pack_weights(w, C, K, ks, 2, u) (the forward pass's U with
/// rows and columns swapped); dy is (K, outH, outW); dx is written, not accumulated. `scratch`
/// holds ck_wino_adjoint_scratch floats. Returns 0, or -1 where ck_wino_conv would.
long ck_wino_adjoint_scratch(int k, int c, int out_h, int out_w, int ks);
int ck_wino_conv_adjoint(const float *u, int k, int c, int ks, const float *dy, int h, int w, int pad,
                         float *dx, float *scratch);

/// The Winograd weight gradient: dW (K, C, ks, ks) += Σ_n correlation of x_n
/// (C, H, W) zero-padded by `pad` with dy_n (K, outH, outW), in three steps over a chunk of images:
/// 1. ck_wino_wgrad_transform: planes [p0, p1) of the chunk, C + K per image (its input's
///    channels, then its top gradient's; threads take disjoint ranges, so one image's transforms
///    can be shared) into `chunk` (ck_wino_wgrad_scratch floats for `images` images); `pads` is
///    the calling thread's own ck_wino_wgrad_pad floats;
/// 2. ck_wino_wgrad_reduce: dU (ξ, K, C) += the chunk's products for ξ in [xi0, xi1)
///    (threads take disjoint ranges; each dU element is summed in one order whatever the thread
///    count);
/// 3. ck_wino_wgrad_finish, once after the last chunk: dW += Gᵀ dU G for the outputs in
///    [o0, o1) (threads take disjoint ranges).
/// ck_wino_wgrad_image: the chunk floats one image takes.
long ck_wino_wgrad_image(int k, int c, int out_h, int out_w, int ks);
long ck_wino_wgrad_pad(int k, int c, int out_h, int out_w, int ks);
long ck_wino_wgrad_scratch(int k, int c, int out_h, int out_w, int images, int ks);
void ck_wino_wgrad_transform(int k, int c, int ks, const float *x, long x_image, int h, int w, int pad,
                             const float *dy, long dy_image, int images, int p0, int p1,
                             float *chunk, float *pads);
void ck_wino_wgrad_reduce(int k, int c, int ks, int out_h, int out_w, int images, const float *chunk,
                          int xi0, int xi1, float *du);
void ck_wino_wgrad_finish(int k, int c, int ks, const float *du, int o0, int o1, float *dw);

/// Winograd F(4×4, 5×5) (winograd4.c) for 5×5 stride-1 convolutions whose outputs tile by 4:
/// 64 products per 4×4 tile, input and output channel (F(2×2, 5×5): 144 for the same outputs).
/// The lanes of its vectors are 8 images, so it runs on groups of up to 8 images.
/// ck_wino4_applies: 1 when it runs here for K outputs, C inputs and an outH × outW output.
int ck_wino4_applies(int k, int c, int out_h, int out_w);

/// Floats of U (64, K', C), K' = K rounded up to a multiple of 4.
long ck_wino4_weights(int k, int c);

/// Floats of scratch one ck_wino4_conv or ck_wino4_conv_adjoint call needs (per thread), for K
/// outputs and C inputs of the forward convolution (the adjoint's k and c).
long ck_wino4_scratch(int k, int c, int out_h, int out_w);

/// Rows [o0, o1) of U from the kernels, `flip` as in ck_wino_pack_weights (0: w (K, C, 5, 5);
/// 1: w (C, K, 5, 5) rotated by 180°; 2: w (C, K, 5, 5) read transposed). Plain C, every path.
void ck_wino4_pack_weights(const float *w, int k, int c, int flip, int o0, int o1, float *u);

/// For `images` (1…8) images x_n = x + n·x_image (C, H, W): y_n = y + n·y_image (K, outH, outW)
/// = the 5×5 stride-1 convolution of x_n zero-padded by `pad` (≤ 4) [+ bias[k]], overwritten.
/// Returns 0, or -1 where it does not apply.
int ck_wino4_conv(const float *u, int k, int c, const float *x, long x_image, int images, int h, int w,
                  int pad, float *y, long y_image, const float *bias, float *scratch);

/// The input gradient of ck_wino4_conv's convolution run backwards, as ck_wino_conv_adjoint:
/// dx_n (C, h, w) = the gradient of Σ y·dy_n with respect to x_n, dy_n (K, outH, outW); `u` is
/// ck_wino4_pack_weights(w, C, K, 2, …); dx is written, not accumulated. Returns 0, or -1.
int ck_wino4_conv_adjoint(const float *u, int k, int c, const float *dy, long dy_image, int images, int h,
                          int w, int pad, float *dx, long dx_image, float *scratch);

/// The F(4×4, 5×5) weight gradient, in the three steps of ck_wino_wgrad_* over a chunk of
/// `images` images (x_n = x + n·x_image, dy_n = dy + n·dy_image), in groups of 8:
/// transform units [p0, p1) (each group's C input planes, then its K top-gradient planes) into
/// `chunk` (ck_wino4_wgrad_scratch floats for ⌈images / 8⌉ groups), `pads` the calling thread's
/// ck_wino4_wgrad_pad floats; reduce dU (64, K, C) += the chunk's products for ξ in [xi0, xi1);
/// finish dW (K, C, 5, 5) += Gᵀ dU G for the outputs in [o0, o1). Threads take disjoint ranges.
long ck_wino4_wgrad_scratch(int k, int c, int out_h, int out_w, int groups);
long ck_wino4_wgrad_pad(int k, int c, int out_h, int out_w);
void ck_wino4_wgrad_transform(int k, int c, const float *x, long x_image, const float *dy, long dy_image,
                              int images, int h, int w, int pad, int p0, int p1, float *chunk, float *pads);
void ck_wino4_wgrad_reduce(int k, int c, int out_h, int out_w, int images, const float *chunk, int xi0, int xi1,
                           float *du);
void ck_wino4_wgrad_finish(int k, int c, const float *du, int o0, int o1, float *dw);

/// Caffe's SGD update of n parameters in one pass (update.c), element by element:
///   g' = g + decay·w (one fused multiply-add; skipped when decay is 0)
///   h = rate·g' + momentum·h;  g = h;  w = scale·(w − h)  (w − h when scale is 1)
/// The same bits on the AVX-512 and AVX2 paths. Returns 0, or -1 on the portable path.
int ck_sgd_step(float *w, float *g, float *h, long n, float decay, float rate, float momentum, float scale);

#ifdef __cplusplus
}
#endif
#endif
