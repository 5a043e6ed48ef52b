import CBLAS

// Thin wrappers over OpenBLAS with Caffe's conventions (row-major; lda/ldb derived from the
// transposes), so layer code reads like Caffe's math_functions.

/// C(m×n) = alpha·op(A)·op(B) + beta·C, row-major; op(A) is m×k, op(B) is k×n.
/// With several `Parallel.threads` and at least 2^20 multiply-adds, the wider of C's two sides is
/// split into blocks of 16-column (or row) multiples, one single-threaded sgemm per thread.
public func gemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
                 _ alpha: Float, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                 _ beta: Float, _ c: UnsafeMutablePointer<Float>) {
    let ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans
    let lda = transA ? m : k, ldb = transB ? k : n
    guard Parallel.threads > 1 && m * n * k >= 1 << 20 && max(m, n) >= 32 else {
        cblas_sgemm(CblasRowMajor, ta, tb, blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda),
                    b, blasint(ldb), beta, c, blasint(n))
        return
    }
    let splitN = n >= m
    let units = ((splitN ? n : m) + 15) / 16
    Parallel.forEachRange(units) { _, r in
        let lo = 16 * r.lowerBound, hi = min(splitN ? n : m, 16 * r.upperBound)
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

