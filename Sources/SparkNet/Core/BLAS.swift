import CBLAS

// Thin wrappers over OpenBLAS with Caffe's conventions (row-major; lda/ldb derived from the
// transposes), so layer code reads like Caffe's math_functions.

/// C(m×n) = alpha·op(A)·op(B) + beta·C, row-major; op(A) is m×k, op(B) is k×n.
/// With at least 2^20 multiply-adds, the wider of C's two sides is cut into `gemmBlocks` blocks
/// (multiples of 16 columns or rows), one single-threaded sgemm each, shared by `Parallel.threads`.
public func gemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
                 _ alpha: Float, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                 _ beta: Float, _ c: UnsafeMutablePointer<Float>) {
    let ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans
    let lda = transA ? m : k, ldb = transB ? k : n
    guard m * n * k >= 1 << 20 && max(m, n) >= 32 else {
        cblas_sgemm(CblasRowMajor, ta, tb, blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda),
                    b, blasint(ldb), beta, c, blasint(n))
        return
    }
    // A large product is cut into `gemmBlocks` blocks of columns (or rows) whatever the thread
    // count, one sgemm call each, and threads take whole blocks: OpenBLAS's result for an element
    // depends on the call's shape, so cutting by thread count would change the bits with it.
    let splitN = n >= m
    let dim = splitN ? n : m
    let width = ((dim + gemmBlocks - 1) / gemmBlocks + 15) / 16 * 16
    let blocks = (dim + width - 1) / width
    Parallel.forEachRange(blocks) { _, r in
        for block in r {
            let lo = block * width, hi = min(dim, lo + width)
            if splitN {
                // C[:, lo..<hi] = op(A) · op(B)[:, lo..<hi]
                cblas_sgemm(CblasRowMajor, ta, tb, blasint(m), blasint(hi - lo), blasint(k), alpha, a, blasint(lda),
                            b + (transB ? lo * k : lo), blasint(ldb), beta, c + lo, blasint(n))
            } else {
                // C[lo..<hi, :] = op(A)[lo..<hi, :] · op(B)
                cblas_sgemm(CblasRowMajor, ta, tb, blasint(hi - lo), blasint(n), blasint(k), alpha,
                            a + (transA ? lo : lo * k), blasint(lda),
                            b, blasint(ldb), beta, c + lo * n, blasint(n))
            }
        }
    }
}

/// Blocks a large `gemm` is cut into (enough for 1, 2 or 4 threads to share evenly).
let gemmBlocks = 4

/// y = alpha·op(A)·x + beta·y, A is m×n row-major.
@inline(__always)
public func gemv(_ transA: Bool, _ m: Int, _ n: Int, _ alpha: Float, _ a: UnsafePointer<Float>,
                 _ x: UnsafePointer<Float>, _ beta: Float, _ y: UnsafeMutablePointer<Float>) {
    cblas_sgemv(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, blasint(m), blasint(n), alpha, a,
                blasint(n), x, 1, beta, y, 1)
}

/// y += alpha·x
@inline(__always)
public func axpy(_ n: Int, _ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    cblas_saxpy(blasint(n), alpha, x, 1, y, 1)
}

/// y = alpha·x + beta·y
@inline(__always)
public func axpby(_ n: Int, _ alpha: Float, _ x: UnsafePointer<Float>, _ beta: Float,
                  _ y: UnsafeMutablePointer<Float>) {
    cblas_saxpby(blasint(n), alpha, x, 1, beta, y, 1)
}

/// x *= alpha
@inline(__always)
public func scal(_ n: Int, _ alpha: Float, _ x: UnsafeMutablePointer<Float>) {
    cblas_sscal(blasint(n), alpha, x, 1)
}

/// Σ x·y
@inline(__always)
public func dot(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
    cblas_sdot(blasint(n), x, 1, y, 1)
}

/// Σ |x|
@inline(__always)
public func asum(_ n: Int, _ x: UnsafePointer<Float>) -> Float {
    cblas_sasum(blasint(n), x, 1)
}

/// y = x
@inline(__always)
public func copy(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    if n > 0 && x != UnsafePointer(y) { y.update(from: x, count: n) }
}

/// x = value
@inline(__always)
public func setAll(_ n: Int, _ value: Float, _ x: UnsafeMutablePointer<Float>) {
    if n > 0 { x.update(repeating: value, count: n) }
}

