import CaffeProto

/// Caffe's InnerProduct (fully connected) layer: `y = x·Wᵀ + b`.
///
/// The input is viewed as a matrix (M, K): M = product of the axes before `axis`, K = product of
/// `axis` and the axes after it. Weights are (N, K), or (K, N) with `transpose: true`; the bias
/// is (N). The top keeps the axes before `axis` and replaces the rest by N.
public final class InnerProductLayer: Layer {
    override public var exactBottoms: Int? { 1 }
    override public var exactTops: Int? { 1 }

    private var numOutput = 0   // N
    private var inputSize = 0   // K
    private var rows = 0        // M
    private var biasTerm = true
    private var transpose = false
    /// M ones: turns the bias into a rank-1 gemm and its gradient into one gemv (Caffe's trick).
    private let biasMultiplier = Blob(hasDiff: false)

    override public func setUp(bottom: [Blob], top: [Blob]) throws {
        let p = param.innerProductParam
        try require(p.numOutput > 0, "\(label): inner_product_param.num_output must be positive, got \(p.numOutput)")
        numOutput = Int(p.numOutput)
        biasTerm = p.biasTerm
        transpose = p.transpose
        let axis = try canonicalAxis(bottom[0])
        inputSize = bottom[0].count(from: axis)
        let weightShape = transpose ? [inputSize, numOutput] : [numOutput, inputSize]
        blobs = [try makeParamBlob(weightShape, filler: p.weightFiller)]
        if biasTerm { blobs.append(try makeParamBlob([numOutput], filler: p.biasFiller)) }
    }

    override public func reshape(bottom: [Blob], top: [Blob]) throws {
        let axis = try canonicalAxis(bottom[0])
        let k = bottom[0].count(from: axis)
        try require(k == inputSize,
                    "\(label): input size incompatible with inner product parameters: bottom \(bottom[0].shape) has \(k) elements from axis \(axis), expected \(inputSize)")
        rows = bottom[0].count(0, axis)
        try top[0].reshape(Array(bottom[0].shape[..<axis]) + [numOutput])
        if biasTerm {
            try biasMultiplier.reshape([rows])
            setAll(rows, 1, biasMultiplier.data)
        }
    }

    private func canonicalAxis(_ b: Blob) throws -> Int {
        let a = Int(param.innerProductParam.axis)
        try require(a >= -b.numAxes && a < b.numAxes,
                    "\(label): inner_product_param.axis \(a) is out of range for bottom of shape \(b.shape)")
        return b.canonicalAxis(a)
    }

    override public func forward(bottom: [Blob], top: [Blob]) throws {
        // x (M,K), W (N,K) or (K,N), y (M,N)
        let x = bottom[0].data, w = blobs[0].data, y = top[0].data
        gemm(false, !transpose, rows, numOutput, inputSize, 1, x, w, 0, y)
        if biasTerm {
            // y += ones(M,1) · b(1,N)
            gemm(false, false, rows, numOutput, 1, 1, biasMultiplier.data, blobs[1].data, 1, y)
        }
    }

    override public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        let dy = top[0].diff, x = bottom[0].data
        if paramPropagateDown[0] {
            if transpose {
                // dW (K,N) += xᵀ (K,M) · dy (M,N)
                gemm(true, false, inputSize, numOutput, rows, 1, x, dy, 1, blobs[0].diff)
            } else {
                // dW (N,K) += dyᵀ (N,M) · x (M,K)
                gemm(true, false, numOutput, inputSize, rows, 1, dy, x, 1, blobs[0].diff)
            }
        }
        if biasTerm && paramPropagateDown[1] {
            // db (N) += dyᵀ (N,M) · ones (M)
            gemv(true, rows, numOutput, 1, dy, biasMultiplier.data, 1, blobs[1].diff)
        }
        if propagateDown[0] {
            // dx (M,K) = dy (M,N) · W (N,K)   [or · Wᵀ when W is (K,N)]
            gemm(false, transpose, rows, inputSize, numOutput, 1, dy, blobs[0].data, 0, bottom[0].diff)
        }
    }
}
