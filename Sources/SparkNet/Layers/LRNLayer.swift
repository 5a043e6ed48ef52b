import CaffeProto
import Foundation

/// Caffe's LRN (local response normalization) layer over (N, C, H, W): `y = x · scale^−β`.
///
/// - ACROSS_CHANNELS: scale = k + α/n · Σ x² over the n channels centred on the channel
///   (zero padded at the ends).
/// - WITHIN_CHANNEL: scale = 1 + α/n² · Σ x² over the n×n spatial window centred on the pixel,
///   zero padded by (n−1)/2 — what Caffe's split/square/AVE-pool/power/product composition
///   computes (with that padding every AVE window has the full n² divisor). `k` is unused there,
///   as in Caffe.
///
/// `scale` is kept for backward (a layer-owned blob). Not in place: backward needs x and y.
public final class LRNLayer: Layer {
    override public var exactBottoms: Int? { 1 }
    override public var exactTops: Int? { 1 }

    private var size = 5
    private var prePad = 2
    private var alpha: Float = 1
    private var beta: Float = 0.75
    private var k: Float = 1
    private var region: Caffe_LRNParameter.NormRegion = .acrossChannels
    private var num = 0, channels = 0, height = 0, width = 0
    /// (N, C, H, W): the denominator base of each output, saved by forward for backward.
    private let scale = Blob(hasDiff: false)
    /// Threads the ACROSS_CHANNELS passes may use (the workspace holds that many scratches).
    private var crossThreads = 1
    private var crossScratch: Int { (channels + size - 1) * height * width + 2 * height * width }

    override public func setUp(bottom: [Blob], top: [Blob]) throws {
        let p = param.lrnParam
        size = Int(p.localSize)
        try require(size % 2 == 1, "\(label): local_size must be odd, got \(size)")
        prePad = (size - 1) / 2
        alpha = p.alpha
        beta = p.beta
        k = p.k
        region = p.normRegion
    }

    override public func reshape(bottom: [Blob], top: [Blob]) throws {
        let b = bottom[0]
        try require(b.numAxes == 4,
                    "\(label): bottom must have 4 axes (num, channels, height, width), got \(b.shape)")
        try require(top[0] !== b, "\(label): cannot compute in place (backward needs both the input and the output)")
        num = b.shape[0]; channels = b.shape[1]; height = b.shape[2]; width = b.shape[3]
        try top[0].reshape(b.shape)
        try scale.reshape(b.shape)
        let plane = height * width
        switch region {
        case .acrossChannels:
            // per thread: forward padded squares (C + n − 1, H·W); backward padded ratios of the
            // same size plus the running accumulator and its product with x (2 · H·W).
            crossThreads = Parallel.threads
            try context.workspace.reserve(crossThreads * crossScratch)
        case .withinChannel:
            // squares or ratios of one plane + the row-pass box sum of one plane
            try context.workspace.reserve(2 * plane)
        }
    }

    override public func forward(bottom: [Blob], top: [Blob]) throws {
        switch region {
        case .acrossChannels: crossChannelForward(bottom[0], top[0])
        case .withinChannel: withinChannelForward(bottom[0], top[0])
        }
    }

    override public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown[0] else { return }
        switch region {
        case .acrossChannels: crossChannelBackward(top[0], bottom[0])
        case .withinChannel: withinChannelBackward(top[0], bottom[0])
        }
    }

    // MARK: ACROSS_CHANNELS (Caffe's CrossChannelForward_cpu / CrossChannelBackward_cpu)

    private func crossChannelForward(_ bottom: Blob, _ top: Blob) {
        let plane = height * width, C = channels, n = size, per = crossScratch
        let x = bottom.data, y = top.data, s = scale.data
        let ws = context.workspace.buffer(crossThreads * per)
        let alphaOverSize = alpha / Float(n), k = k, prePad = prePad
        // images split over threads, each with its own padded scratch
        Parallel.forEachRange(num, limit: crossThreads) { part, images in
            // padded (C + n − 1, H·W): x² with prePad zero channels before and after
            let padded = ws + part * per
            setAll((C + n - 1) * plane, 0, padded)
            for img in images {
                let xi = x + img * C * plane, si = s + img * C * plane
                let sq = padded + prePad * plane
                for j in 0..<(C * plane) { sq[j] = xi[j] * xi[j] }
                // first channel: k + α/n · Σ_{c < n} padded[c]
                setAll(plane, k, si)
                for c in 0..<n { axpy(plane, alphaOverSize, padded + c * plane, si) }
                // sliding window: add the head, subtract the tail
                for c in 1..<max(C, 1) {
                    let cur = si + c * plane
                    copy(plane, cur - plane, cur)
                    axpy(plane, alphaOverSize, padded + (c + n - 1) * plane, cur)
                    axpy(plane, -alphaOverSize, padded + (c - 1) * plane, cur)
                }
                // y = x · scale^−β
                let yi = y + img * C * plane
                laneNegativePower(C * plane, si, beta, yi)
                for j in 0..<(C * plane) { yi[j] *= xi[j] }
            }
        }
    }

    private func crossChannelBackward(_ top: Blob, _ bottom: Blob) {
        let plane = height * width, C = channels, n = size, per = crossScratch
        let dy = top.diff, y = top.data, x = bottom.data, s = scale.data, dx = bottom.diff
        let ws = context.workspace.buffer(crossThreads * per)
        let cacheRatio = 2 * alpha * beta / Float(n), beta = beta
        let inversePrePad = n - (n + 1) / 2
        // dx = dy · scale^−β  − 2αβ/n · x · Σ_window dy·y/scale, images split over threads
        Parallel.forEachRange(num, limit: crossThreads) { part, images in
            let paddedRatio = ws + part * per                      // (C + n − 1, H·W)
            let accum = paddedRatio + (C + n - 1) * plane          // (H·W)
            let accumTimesX = accum + plane                        // (H·W)
            setAll((C + n - 1) * plane, 0, paddedRatio)
            for img in images {
                let off = img * C * plane
                laneNegativePower(C * plane, s + off, beta, dx + off)
                for j in 0..<(C * plane) { dx[off + j] *= dy[off + j] }
                let ratio = paddedRatio + inversePrePad * plane
                for j in 0..<(C * plane) { ratio[j] = dy[off + j] * y[off + j] / s[off + j] }
                setAll(plane, 0, accum)
                for c in 0..<(n - 1) { axpy(plane, 1, paddedRatio + c * plane, accum) }
                for c in 0..<C {
                    axpy(plane, 1, paddedRatio + (c + n - 1) * plane, accum)
                    let xc = x + off + c * plane
                    for j in 0..<plane { accumTimesX[j] = xc[j] * accum[j] }
                    axpy(plane, -cacheRatio, accumTimesX, dx + off + c * plane)
                    axpy(plane, -1, paddedRatio + c * plane, accum)
                }
            }
        }
    }

    // MARK: WITHIN_CHANNEL

    /// dst = Σ of src over the (2r+1)×(2r+1) window centred on each pixel, zero outside the
    /// (H, W) plane. Separable: a row pass into `tmp`, then a column pass.
    private func boxSum(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                        _ tmp: UnsafeMutablePointer<Float>, radius r: Int) {
        let H = height, W = width
        for h in 0..<H {
            let row = src + h * W, out = tmp + h * W
            for w in 0..<W {
                var acc: Float = 0
                for j in max(0, w - r)..<min(W, w + r + 1) { acc += row[j] }
                out[w] = acc
            }
        }
        for h in 0..<H {
            let out = dst + h * W
            setAll(W, 0, out)
            for i in max(0, h - r)..<min(H, h + r + 1) { axpy(W, 1, tmp + i * W, out) }
        }
    }

    private func withinChannelForward(_ bottom: Blob, _ top: Blob) {
        let plane = height * width
        let x = bottom.data, y = top.data, s = scale.data
        let ws = context.workspace.buffer(2 * plane)
        let sq = ws, tmp = ws + plane
        let alphaOverArea = alpha / Float(size * size)
        for pl in 0..<(num * channels) {
            let xp = x + pl * plane, sp = s + pl * plane
            for j in 0..<plane { sq[j] = xp[j] * xp[j] }
            boxSum(sq, sp, tmp, radius: prePad)
            for j in 0..<plane { sp[j] = 1 + alphaOverArea * sp[j] }
        }
        laneNegativePower(bottom.count, s, beta, y)
        for j in 0..<bottom.count { y[j] *= x[j] }
    }

    private func withinChannelBackward(_ top: Blob, _ bottom: Blob) {
        // dx_i = dy_i · s_i^−β − 2αβ/n² · x_i · Σ_{o ∋ i} dy_o · y_o / s_o
        // (the window is symmetric, so "windows containing i" is the window centred on i)
        let plane = height * width
        let dy = top.diff, y = top.data, x = bottom.data, s = scale.data, dx = bottom.diff
        let ws = context.workspace.buffer(2 * plane)
        let ratio = ws, tmp = ws + plane
        let coeff = 2 * alpha * beta / Float(size * size)
        for pl in 0..<(num * channels) {
            let off = pl * plane
            for j in 0..<plane { ratio[j] = dy[off + j] * y[off + j] / s[off + j] }
            let d = dx + off
            // d = box sum of the ratios; the row pass reads `ratio` into `tmp`, so `d` is free
            boxSum(ratio, d, tmp, radius: prePad)
            laneNegativePower(plane, s + off, beta, ratio)   // the ratios are summed: reuse
            for j in 0..<plane {
                d[j] = dy[off + j] * ratio[j] - coeff * x[off + j] * d[j]
            }
        }
    }
}
