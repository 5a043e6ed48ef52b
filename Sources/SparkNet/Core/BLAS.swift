import CBLAS

// Thin wrappers over OpenBLAS with Caffe's conventions (row-major; lda/ldb derived from the
// transposes), so layer code reads like Caffe's math_functions.

/// C(m×n) = alpha·op(A)·op(B) + beta·C, row-major; op(A) is m×k, op(B) is k×n.
@inline(__always)
public func gemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
                 _ alpha: Float, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                 _ beta: Float, _ c: UnsafeMutablePointer<Float>) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                blasint(m), blasint(n), blasint(k), alpha, a, blasint(transA ? m : k),
                b, blasint(transB ? k : n), beta, c, blasint(n))
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

/// Number of threads OpenBLAS uses.
public var blasThreads: Int { Int(openblas_get_num_threads()) }
