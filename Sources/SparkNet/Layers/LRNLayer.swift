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
        top[0].reshape(b.shape)
        scale.reshape(b.shape)
        let plane = height * width
        switch region {
        case .acrossChannels:
            // forward: padded squares (C + n − 1, H·W); backward: padded ratios of the same size
            // plus the running accumulator and its product with x (2 · H·W).
            context.workspace.reserve((channels + size - 1) * plane + 2 * plane)
        case .withinChannel:
            // squares or ratios of one plane + the row-pass box sum of one plane
            context.workspace.reserve(2 * plane)
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
        let plane = height * width, C = channels, n = size
        let x = bottom.data, y = top.data, s = scale.data
        // padded (C + n − 1, H·W): x² with prePad zero channels before and after
        let padded = context.workspace.buffer((C + n - 1) * plane + 2 * plane)
        setAll((C + n - 1) * plane, 0, padded)
        let alphaOverSize = alpha / Float(n)
        for img in 0..<num {
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
        }
        let total = bottom.count
        let negBeta = -beta
        for j in 0..<total { y[j] = x[j] * powf(s[j], negBeta) }
    }

    private func crossChannelBackward(_ top: Blob, _ bottom: Blob) {
        let plane = height * width, C = channels, n = size
        let dy = top.diff, y = top.data, x = bottom.data, s = scale.data, dx = bottom.diff
        let ws = context.workspace.buffer((C + n - 1) * plane + 2 * plane)
        let paddedRatio = ws                                  // (C + n − 1, H·W)
        let accum = ws + (C + n - 1) * plane                  // (H·W)
        let accumTimesX = accum + plane                       // (H·W)
        setAll((C + n - 1) * plane, 0, paddedRatio)
        let cacheRatio = 2 * alpha * beta / Float(n)
        let negBeta = -beta
        // dx = dy · scale^−β  − 2αβ/n · x · Σ_window dy·y/scale
        for j in 0..<bottom.count { dx[j] = dy[j] * powf(s[j], negBeta) }
        let inversePrePad = n - (n + 1) / 2
        for img in 0..<num {
            let off = img * C * plane
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
        let negBeta = -beta
        for j in 0..<bottom.count { y[j] = x[j] * powf(s[j], negBeta) }
    }

    private func withinChannelBackward(_ top: Blob, _ bottom: Blob) {
        // dx_i = dy_i · s_i^−β − 2αβ/n² · x_i · Σ_{o ∋ i} dy_o · y_o / s_o
        // (the window is symmetric, so "windows containing i" is the window centred on i)
        let plane = height * width
        let dy = top.diff, y = top.data, x = bottom.data, s = scale.data, dx = bottom.diff
        let ws = context.workspace.buffer(2 * plane)
        let ratio = ws, tmp = ws + plane
        let coeff = 2 * alpha * beta / Float(size * size)
        let negBeta = -beta
        for pl in 0..<(num * channels) {
            let off = pl * plane
            for j in 0..<plane { ratio[j] = dy[off + j] * y[off + j] / s[off + j] }
            let d = dx + off
            // d = box sum of the ratios; the row pass reads `ratio` into `tmp`, so `d` is free
            boxSum(ratio, d, tmp, radius: prePad)
            for j in 0..<plane {
                d[j] = dy[off + j] * powf(s[off + j], negBeta) - coeff * x[off + j] * d[j]
            }
        }
    }
}
