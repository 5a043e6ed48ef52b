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
        top[0].reshape(shape)
        if top.count > 1 { top[1].reshape(shape) }
        if method == .max && top.count == 1 {
            let n = top[0].count
            if n > maskCapacity {
                mask.deallocate()
                mask = .allocate(capacity: n)
                maskCapacity = n
            }
        }
    }

    override public func forward(bottom: [Blob], top: [Blob]) throws {
        let x = bottom[0].data, y = top[0].data
        let planes = bottom[0].shape[0] * channels
        let H = height, W = width, pH = pooledH, pW = pooledW
        switch method {
        case .max:
            let topMask: UnsafeMutablePointer<Float>? = top.count > 1 ? top[1].data : nil
            for pl in 0..<planes {
                let src = x + pl * H * W          // (H, W)
                let dst = y + pl * pH * pW        // (pH, pW)
                for ph in 0..<pH {
                    let hs = ph * strideH - padH
                    let h0 = max(hs, 0), h1 = min(hs + kernelH, H)
                    for pw in 0..<pW {
                        let wsStart = pw * strideW - padW
                        let w0 = max(wsStart, 0), w1 = min(wsStart + kernelW, W)
                        var best = -Float.greatestFiniteMagnitude
                        var arg = -1
                        for h in h0..<max(h0, h1) {
                            for w in w0..<max(w0, w1) where src[h * W + w] > best {
                                best = src[h * W + w]
                                arg = h * W + w
                            }
                        }
                        let o = pl * pH * pW + ph * pW + pw
                        dst[ph * pW + pw] = best
                        if let tm = topMask { tm[o] = Float(arg) } else { mask[o] = Int32(arg) }
                    }
                }
            }
        case .ave:
            for pl in 0..<planes {
                let src = x + pl * H * W
                let dst = y + pl * pH * pW
                for ph in 0..<pH {
                    var hs = ph * strideH - padH
                    var he = min(hs + kernelH, H + padH)
                    let poolH = he - hs
                    hs = max(hs, 0); he = min(he, H)
                    for pw in 0..<pW {
                        var ws = pw * strideW - padW
                        var we = min(ws + kernelW, W + padW)
                        // Caffe's divisor: the window clipped to the padded image
                        let poolSize = Float(poolH * (we - ws))
                        ws = max(ws, 0); we = min(we, W)
                        var s: Float = 0
                        for h in hs..<max(hs, he) {
                            for w in ws..<max(ws, we) { s += src[h * W + w] }
                        }
                        dst[ph * pW + pw] = s / poolSize
                    }
                }
            }
        case .stochastic:
            throw SparkNetError("\(label): STOCHASTIC pooling is not supported")
        }
    }

    override public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown[0] else { return }
        let dx = bottom[0].diff, dy = top[0].diff
        setAll(bottom[0].count, 0, dx)
        let planes = bottom[0].shape[0] * channels
        let H = height, W = width, pH = pooledH, pW = pooledW
        switch method {
        case .max:
            let topMask: UnsafeMutablePointer<Float>? = top.count > 1 ? top[1].data : nil
            for pl in 0..<planes {
                let d = dx + pl * H * W
                for j in 0..<(pH * pW) {
                    let o = pl * pH * pW + j
                    let idx = topMask.map { Int($0[o]) } ?? Int(mask[o])
                    // -1: the window held no number above -FLT_MAX (NaN/-inf); it has no gradient
                    if idx >= 0 && idx < H * W { d[idx] += dy[o] }
                }
            }
        case .ave:
            for pl in 0..<planes {
                let d = dx + pl * H * W
                let g = dy + pl * pH * pW
                for ph in 0..<pH {
                    var hs = ph * strideH - padH
                    var he = min(hs + kernelH, H + padH)
                    let poolH = he - hs
                    hs = max(hs, 0); he = min(he, H)
                    for pw in 0..<pW {
                        var ws = pw * strideW - padW
                        var we = min(ws + kernelW, W + padW)
                        let share = g[ph * pW + pw] / Float(poolH * (we - ws))
                        ws = max(ws, 0); we = min(we, W)
                        for h in hs..<max(hs, he) {
                            for w in ws..<max(ws, we) { d[h * W + w] += share }
                        }
                    }
                }
            }
        case .stochastic:
            break
        }
    }
}
