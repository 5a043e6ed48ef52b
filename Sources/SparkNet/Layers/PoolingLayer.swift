import CaffeProto

/// Caffe's Pooling layer over (N, C, H, W): MAX or AVE over kh×kw windows with zero padding and
/// stride, or over the whole plane with `global_pooling`. STOCHASTIC pooling is refused.
///
/// Output size follows Caffe: ceil((H + 2·pad − k) / stride) + 1 (or floor with
/// `round_mode: FLOOR`), minus one when padding would make the last window start in the padding.
/// AVE divides by the window size clipped to the PADDED image (Caffe's divisor), and sums only
/// the pixels inside the image. MAX remembers the argmax (index within the H×W plane) for
/// backward; with a second top that mask is output as floats, as in Caffe.
public final class PoolingLayer: Layer {
    override public var exactBottoms: Int? { 1 }
    override public var minTops: Int? { 1 }
    override public var maxTops: Int? { method == .max ? 2 : 1 }

    private var method: Caffe_PoolingParameter.PoolMethod { param.poolingParam.pool }
    private var globalPooling = false
    private var kernelH = 0, kernelW = 0
    private var strideH = 1, strideW = 1
    private var padH = 0, padW = 0
    private var channels = 0, height = 0, width = 0
    private var pooledH = 0, pooledW = 0
    /// Argmax of each output (plane-relative index), when there is no mask top: (N, C, pH, pW).
    private var mask: UnsafeMutablePointer<Int32> = .allocate(capacity: 1)
    private var maskCapacity = 1
    /// MAX over 2×2 windows, stride 2, no padding, tiling the plane exactly, no mask top (LeNet's
    /// pooling): forward keeps no argmax; backward finds it again from the bottom (the first
    /// element of the window equal to the window's maximum, which is exactly Caffe's argmax),
    /// so forward vectorises and backward writes every bottom gradient once, without zeroing.
    private var tiledMax2x2 = false
    /// The vectorised MAX/AVE kernels for the current shape (all but the tiled 2×2 case), and
    /// the floats of workspace they use.
    private var kernels = PoolingKernels(height: 1, width: 1, kernelH: 1, kernelW: 1, strideH: 1, strideW: 1,
                                         padH: 0, padW: 0, pooledH: 1, pooledW: 1)
    private var scratchFloats = 0
    /// Threads over planes (`Parallel.threads` at reshape; 1 for small blobs), each with its own
    /// `scratchFloats` of workspace.
    private var poolThreads = 1

    deinit { mask.deallocate() }

    override public func setUp(bottom: [Blob], top: [Blob]) throws {
        let p = param.poolingParam
        switch p.pool {
        case .max, .ave: break
        case .stochastic:
            throw SparkNetError("\(label): STOCHASTIC pooling is not supported (use MAX or AVE)")
        }
        globalPooling = p.globalPooling
        if globalPooling {
            try require(!(p.hasKernelSize || p.hasKernelH || p.hasKernelW),
                        "\(label): with global_pooling the kernel size cannot be specified")
        } else {
            try require(p.hasKernelSize != (p.hasKernelH && p.hasKernelW),
                        "\(label): the kernel size is kernel_size OR kernel_h and kernel_w, not both")
            try require(p.hasKernelSize || (p.hasKernelH && p.hasKernelW),
                        "\(label): pooling needs kernel_size, or both kernel_h and kernel_w")
        }
        try require((!p.hasPad && p.hasPadH && p.hasPadW) || (!p.hasPadH && !p.hasPadW),
                    "\(label): padding is pad OR pad_h and pad_w")
        try require((!p.hasStride && p.hasStrideH && p.hasStrideW) || (!p.hasStrideH && !p.hasStrideW),
                    "\(label): stride is stride OR stride_h and stride_w")
        if p.hasPadH { padH = Int(p.padH); padW = Int(p.padW) } else { padH = Int(p.pad); padW = padH }
        if p.hasStrideH { strideH = Int(p.strideH); strideW = Int(p.strideW) } else { strideH = Int(p.stride); strideW = strideH }
        try require(bottom[0].numAxes == 4,
                    "\(label): bottom must have 4 axes (num, channels, height, width), got \(bottom[0].shape)")
        if globalPooling {
            kernelH = bottom[0].shape[2]; kernelW = bottom[0].shape[3]
            try require(padH == 0 && padW == 0 && strideH == 1 && strideW == 1,
                        "\(label): with global_pooling only pad = 0 and stride = 1 are allowed")
        } else if p.hasKernelSize {
            kernelH = Int(p.kernelSize); kernelW = kernelH
        } else {
            kernelH = Int(p.kernelH); kernelW = Int(p.kernelW)
        }
        try require(kernelH > 0 && kernelW > 0, "\(label): kernel dimensions must be positive, got \(kernelH)x\(kernelW)")
        try require(strideH > 0 && strideW > 0, "\(label): stride must be positive, got \(strideH)x\(strideW)")
        if padH != 0 || padW != 0 {
            try require(padH < kernelH && padW < kernelW,
                        "\(label): pad (\(padH)x\(padW)) must be smaller than the kernel (\(kernelH)x\(kernelW))")
        }
    }

    override public func reshape(bottom: [Blob], top: [Blob]) throws {
        let b = bottom[0]
        try require(b.numAxes == 4,
                    "\(label): bottom must have 4 axes (num, channels, height, width), got \(b.shape)")
        try require(top[0] !== b, "\(label): cannot compute in place")
        channels = b.shape[1]; height = b.shape[2]; width = b.shape[3]
        if globalPooling { kernelH = height; kernelW = width }
        // Caffe computes the size in float, then ceil (default) or floor.
        let floor = param.poolingParam.roundMode == .floor
        func pooled(_ size: Int, _ pad: Int, _ k: Int, _ s: Int) -> Int {
            let q = Float(size + 2 * pad - k) / Float(s)
            return Int(floor ? q.rounded(.down) : q.rounded(.up)) + 1
        }
        pooledH = pooled(height, padH, kernelH, strideH)
        pooledW = pooled(width, padW, kernelW, strideW)
        if padH != 0 || padW != 0 {
            // The last window must start strictly inside the image, not in the padding.
            if (pooledH - 1) * strideH >= height + padH { pooledH -= 1 }
            if (pooledW - 1) * strideW >= width + padW { pooledW -= 1 }
        }
        try require(pooledH > 0 && pooledW > 0,
                    "\(label): the \(kernelH)x\(kernelW) kernel (pad \(padH)x\(padW)) does not fit the \(height)x\(width) input")
        let shape = [b.shape[0], channels, pooledH, pooledW]
        try top[0].reshape(shape)
        if top.count > 1 { try top[1].reshape(shape) }
        tiledMax2x2 = method == .max && top.count == 1 && !globalPooling && kernelH == 2 && kernelW == 2
            && strideH == 2 && strideW == 2 && padH == 0 && padW == 0
            && height == 2 * pooledH && width == 2 * pooledW
        kernels = PoolingKernels(height: height, width: width, kernelH: kernelH, kernelW: kernelW,
                                 strideH: strideH, strideW: strideW, padH: padH, padW: padW,
                                 pooledH: pooledH, pooledW: pooledW)
        scratchFloats = tiledMax2x2 ? 0 : kernels.scratchFloats(max: method == .max)
        // below ~64 K inputs a hand-off to another thread costs more than it saves
        poolThreads = b.count >= 1 << 16 ? Parallel.threads : 1
        try context.workspace.reserve(scratchFloats * poolThreads)
        if method == .max && top.count == 1 && !tiledMax2x2 {
            let n = top[0].count
            if n > maskCapacity {
                mask.deallocate()
                mask = .allocate(capacity: n)
                maskCapacity = n
            }
        }
    }

    override public func forward(bottom: [Blob], top: [Blob]) throws {
        if method == .stochastic { throw SparkNetError("\(label): STOCHASTIC pooling is not supported") }
        let planes = bottom[0].shape[0] * channels
        let inPlane = height * width, outPlane = pooledH * pooledW
        let ws = context.workspace.buffer(scratchFloats * poolThreads)
        // the argmax goes to the Int32 mask, or with a mask top to its floats
        let topMask: UnsafeMutablePointer<Float>? = top.count > 1 ? top[1].data : nil
        let mask = self.mask
        Parallel.forEachRange(planes, limit: poolThreads) { part, r in
            let x = bottom[0].data + r.lowerBound * inPlane, y = top[0].data + r.lowerBound * outPlane
            let scratch = ws + part * scratchFloats, o = r.lowerBound * outPlane
            if tiledMax2x2 {
                forwardTiledMax2x2(x, y, planes: r.count)
            } else if method == .max {
                kernels.maxForward(x, y, planes: r.count, mask: topMask == nil ? mask + o : nil,
                                   topMask: topMask.map { $0 + o }, scratch: scratch)
            } else {
                kernels.aveForward(x, y, planes: r.count, scratch: scratch)
            }
        }
    }

    override public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown[0], method != .stochastic else { return }
        let planes = bottom[0].shape[0] * channels
        let inPlane = height * width, outPlane = pooledH * pooledW
        let ws = context.workspace.buffer(scratchFloats * poolThreads)
        let topMask: UnsafePointer<Float>? = top.count > 1 ? UnsafePointer(top[1].data) : nil
        let mask = UnsafePointer(self.mask)
        Parallel.forEachRange(planes, limit: poolThreads) { part, r in
            let dx = bottom[0].diff + r.lowerBound * inPlane, dy = top[0].diff + r.lowerBound * outPlane
            let o = r.lowerBound * outPlane
            if tiledMax2x2 {
                backwardTiledMax2x2(bottom[0].data + r.lowerBound * inPlane, dy, dx, planes: r.count)
            } else if method == .max {
                kernels.maxBackward(dy, dx, planes: r.count, mask: topMask == nil ? mask + o : nil,
                                    topMask: topMask.map { $0 + o })
            } else {
                kernels.aveBackward(dy, dx, planes: r.count, scratch: ws + part * scratchFloats)
            }
        }
    }

    /// y (planes, H/2, W/2) = max over each 2×2 window of x (planes, H, W). Caffe's rule (strict
    /// `>` from −FLT_MAX, in window order) as lane-wise selects, four windows at a time.
    private func forwardTiledMax2x2(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, planes: Int) {
        let W = width, pH = pooledH, pW = pooledW
        let floor = SIMD4<Float>(repeating: -Float.greatestFiniteMagnitude)
        for pl in 0..<planes {
            for ph in 0..<pH {
                let r0 = x + (pl * pH + ph) * 2 * W, r1 = r0 + W
                let out = y + (pl * pH + ph) * pW
                var pw = 0
                while pw &+ 4 <= pW {
                    let v0 = UnsafeRawPointer(r0 + 2 * pw).loadUnaligned(as: SIMD8<Float>.self)
                    let v1 = UnsafeRawPointer(r1 + 2 * pw).loadUnaligned(as: SIMD8<Float>.self)
                    let a = v0.evenHalf, b = v0.oddHalf, e = v1.evenHalf, f = v1.oddHalf
                    var best = floor
                    best = best.replacing(with: a, where: a .> best)
                    best = best.replacing(with: b, where: b .> best)
                    best = best.replacing(with: e, where: e .> best)
                    best = best.replacing(with: f, where: f .> best)
                    UnsafeMutableRawPointer(out + pw).storeBytes(of: best, as: SIMD4<Float>.self)
                    pw &+= 4
                }
                while pw < pW {
                    var best = -Float.greatestFiniteMagnitude
                    if r0[2 * pw] > best { best = r0[2 * pw] }
                    if r0[2 * pw + 1] > best { best = r0[2 * pw + 1] }
                    if r1[2 * pw] > best { best = r1[2 * pw] }
                    if r1[2 * pw + 1] > best { best = r1[2 * pw + 1] }
                    out[pw] = best
                    pw &+= 1
                }
            }
        }
    }

    /// dx (planes, H, W): each window's gradient dy goes to its first element equal to the
    /// window's maximum (Caffe's argmax); the others get 0. A window whose maximum stayed at
    /// −FLT_MAX (only NaN/−inf/−FLT_MAX) had argmax −1 in Caffe: no gradient.
    private func backwardTiledMax2x2(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                     _ dx: UnsafeMutablePointer<Float>, planes: Int) {
        let W = width, pH = pooledH, pW = pooledW
        let lowest = -Float.greatestFiniteMagnitude
        for pl in 0..<planes {
            for ph in 0..<pH {
                let o = (pl * pH + ph) * 2 * W
                let r0 = x + o, r1 = r0 + W
                let d0 = dx + o, d1 = d0 + W
                let g = dy + (pl * pH + ph) * pW
                var pw = 0
                while pw &+ 4 <= pW {
                    // four windows at once, as in forward
                    let v0 = UnsafeRawPointer(r0 + 2 * pw).loadUnaligned(as: SIMD8<Float>.self)
                    let v1 = UnsafeRawPointer(r1 + 2 * pw).loadUnaligned(as: SIMD8<Float>.self)
                    let a = v0.evenHalf, b = v0.oddHalf, e = v1.evenHalf, f = v1.oddHalf
                    var best = SIMD4<Float>(repeating: lowest)
                    best = best.replacing(with: a, where: a .> best)
                    best = best.replacing(with: b, where: b .> best)
                    best = best.replacing(with: e, where: e .> best)
                    best = best.replacing(with: f, where: f .> best)
                    let zero = SIMD4<Float>()
                    let gv = zero.replacing(with: UnsafeRawPointer(g + pw).loadUnaligned(as: SIMD4<Float>.self),
                                            where: best .> lowest)
                    let ta = a .== best
                    let tb = (b .== best) .& .!ta
                    let te = (e .== best) .& .!(ta .| tb)
                    let tf = .!(ta .| tb .| te)
                    var w0 = SIMD8<Float>(), w1 = SIMD8<Float>()
                    w0.evenHalf = zero.replacing(with: gv, where: ta)
                    w0.oddHalf = zero.replacing(with: gv, where: tb)
                    w1.evenHalf = zero.replacing(with: gv, where: te)
                    w1.oddHalf = zero.replacing(with: gv, where: tf)
                    UnsafeMutableRawPointer(d0 + 2 * pw).storeBytes(of: w0, as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(d1 + 2 * pw).storeBytes(of: w1, as: SIMD8<Float>.self)
                    pw &+= 4
                }
                while pw < pW {
                    defer { pw &+= 1 }
                    let c = 2 * pw
                    let a = r0[c], b = r0[c + 1], e = r1[c], f = r1[c + 1]
                    var best = lowest
                    best = a > best ? a : best
                    best = b > best ? b : best
                    best = e > best ? e : best
                    best = f > best ? f : best
                    let gv: Float = best > lowest ? g[pw] : 0
                    let ta = a == best, tb = !ta && b == best, te = !ta && !tb && e == best
                    let tf = !ta && !tb && !te
                    d0[c] = ta ? gv : 0
                    d0[c + 1] = tb ? gv : 0
                    d1[c] = te ? gv : 0
                    d1[c + 1] = tf ? gv : 0
                }
            }
        }
    }
}
