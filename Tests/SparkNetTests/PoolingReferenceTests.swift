import Testing
import SparkNet
import SparkNetTestSupport

/// Every Pooling path (vectorised, tiled 2×2, scalar edges) against Caffe's CPU loops written
/// out, bit for bit: outputs, argmax mask and bottom gradients, including AVE's summation order
/// (each window summed row-major from 0, each bottom gradient accumulated from 0 in window
/// order), on data with ties, ±0, NaN, −inf and −FLT_MAX.
@Suite struct PoolingReferenceTests {
    struct Case: CustomStringConvertible, Sendable {
        var pool: String
        var kernel: (h: Int, w: Int)
        var stride: (h: Int, w: Int) = (1, 1)
        var pad: (h: Int, w: Int) = (0, 0)
        var shape: [Int]
        var tops = 1
        var global = false
        var floor = false
        var description: String {
            "\(pool) k\(kernel) s\(stride) p\(pad) \(shape) tops \(tops)\(global ? " global" : "")\(floor ? " floor" : "")"
        }

        var prototxt: String {
            var p = "pool: \(pool)"
            if global {
                p += " global_pooling: true"
            } else {
                p += " kernel_h: \(kernel.h) kernel_w: \(kernel.w) stride_h: \(stride.h) stride_w: \(stride.w)"
                p += " pad_h: \(pad.h) pad_w: \(pad.w)"
            }
            if floor { p += " round_mode: FLOOR" }
            return "name: \"pool\" type: \"Pooling\" pooling_param { \(p) }"
        }
    }

    static let cases: [Case] = [
        // CIFAR-10 quick: pool1 (the last window overhangs the edge), pool2, pool3
        Case(pool: "MAX", kernel: (3, 3), stride: (2, 2), shape: [2, 3, 32, 32]),
        Case(pool: "MAX", kernel: (3, 3), stride: (2, 2), shape: [2, 3, 32, 32], tops: 2),
        Case(pool: "AVE", kernel: (3, 3), stride: (2, 2), shape: [2, 3, 16, 16]),
        Case(pool: "AVE", kernel: (3, 3), stride: (2, 2), shape: [2, 3, 8, 8]),
        // LeNet: tiled 2×2 (one top) and the generic 2×2 (mask top, or an odd size)
        Case(pool: "MAX", kernel: (2, 2), stride: (2, 2), shape: [2, 3, 24, 24]),
        Case(pool: "MAX", kernel: (2, 2), stride: (2, 2), shape: [2, 3, 8, 8], tops: 2),
        Case(pool: "MAX", kernel: (2, 2), stride: (2, 2), shape: [1, 2, 9, 11]),
        Case(pool: "AVE", kernel: (2, 2), stride: (2, 2), shape: [1, 2, 9, 11]),
        // padding 1, stride 1, odd sizes, more than two window groups in a row
        Case(pool: "MAX", kernel: (3, 3), stride: (2, 2), pad: (1, 1), shape: [1, 2, 9, 21]),
        Case(pool: "AVE", kernel: (3, 3), stride: (2, 2), pad: (1, 1), shape: [1, 2, 9, 21]),
        Case(pool: "MAX", kernel: (3, 3), stride: (1, 1), pad: (1, 1), shape: [1, 2, 7, 13], tops: 2),
        Case(pool: "AVE", kernel: (3, 3), stride: (1, 1), pad: (1, 1), shape: [1, 2, 7, 13]),
        Case(pool: "MAX", kernel: (3, 3), stride: (2, 2), shape: [2, 2, 13, 17]),
        Case(pool: "AVE", kernel: (3, 3), stride: (2, 2), shape: [2, 2, 13, 17]),
        Case(pool: "MAX", kernel: (5, 5), stride: (2, 2), pad: (2, 2), shape: [1, 2, 11, 43]),
        Case(pool: "AVE", kernel: (5, 5), stride: (2, 2), pad: (2, 2), shape: [1, 2, 11, 43]),
        Case(pool: "MAX", kernel: (2, 2), stride: (1, 1), shape: [2, 1, 5, 12]),
        Case(pool: "AVE", kernel: (3, 3), stride: (2, 2), shape: [1, 2, 12, 12], floor: true),
        // rectangular windows, stride above 2, a pad of 1 with an odd stride
        Case(pool: "MAX", kernel: (3, 2), stride: (2, 1), pad: (1, 1), shape: [1, 2, 6, 5]),
        Case(pool: "AVE", kernel: (2, 3), stride: (1, 2), pad: (1, 0), shape: [1, 2, 5, 7]),
        Case(pool: "MAX", kernel: (2, 2), stride: (3, 3), pad: (1, 1), shape: [2, 2, 5, 5]),
        Case(pool: "AVE", kernel: (2, 2), stride: (3, 3), pad: (1, 1), shape: [2, 2, 5, 5]),
        Case(pool: "MAX", kernel: (3, 3), stride: (3, 3), shape: [1, 2, 10, 20], tops: 2),
        Case(pool: "AVE", kernel: (3, 3), stride: (3, 3), pad: (1, 2), shape: [1, 2, 10, 20]),
        // stride above the kernel: the last window starts past the image (Caffe keeps it)
        Case(pool: "MAX", kernel: (1, 1), stride: (3, 3), shape: [1, 2, 5, 5]),
        Case(pool: "AVE", kernel: (1, 1), stride: (3, 3), shape: [1, 2, 5, 5]),
        // global pooling
        Case(pool: "MAX", kernel: (0, 0), shape: [2, 3, 6, 7], global: true),
        Case(pool: "AVE", kernel: (0, 0), shape: [2, 3, 6, 7], global: true),
    ]

    /// Caffe's pooled size: ceil (or floor) of (size + 2·pad − k) / stride, plus one, less one
    /// when padding would start the last window in the padding.
    private static func pooledSize(_ size: Int, _ k: Int, _ s: Int, _ p: Int, floor: Bool) -> Int {
        let q = Float(size + 2 * p - k) / Float(s)
        var n = Int(floor ? q.rounded(.down) : q.rounded(.up)) + 1
        if p > 0 && (n - 1) * s >= size + p { n -= 1 }
        return n
    }

    /// Caffe's PoolingLayer<float>::Forward_cpu and Backward_cpu over x (N, C, H, W), with dy
    /// for the top gradient: y, the argmax (−1 for none) and dx.
    private static func reference(_ c: Case, x: [Float], dy: [Float])
        -> (y: [Float], arg: [Int], dx: [Float], pooled: (Int, Int)) {
        let (planes, H, W) = (c.shape[0] * c.shape[1], c.shape[2], c.shape[3])
        let (kH, kW) = c.global ? (H, W) : c.kernel
        let (sH, sW) = c.stride, (pdH, pdW) = c.pad
        let pH = pooledSize(H, kH, sH, pdH, floor: c.floor), pW = pooledSize(W, kW, sW, pdW, floor: c.floor)
        var y = [Float](repeating: 0, count: planes * pH * pW), arg = [Int](repeating: -1, count: y.count)
        var dx = [Float](repeating: 0, count: x.count)
        for pl in 0..<planes {
            let xo = pl * H * W
            for ph in 0..<pH {
                for pw in 0..<pW {
                    let o = (pl * pH + ph) * pW + pw
                    var hs = ph * sH - pdH, ws = pw * sW - pdW
                    var he = min(hs + kH, H + pdH), we = min(ws + kW, W + pdW)
                    let poolSize = (he - hs) * (we - ws)
                    hs = max(hs, 0); ws = max(ws, 0); he = min(he, H); we = min(we, W)
                    if c.pool == "MAX" {
                        var best = -Float.greatestFiniteMagnitude
                        for h in hs..<max(hs, he) {
                            for w in ws..<max(ws, we) where x[xo + h * W + w] > best {
                                best = x[xo + h * W + w]; arg[o] = h * W + w
                            }
                        }
                        y[o] = best
                        if arg[o] >= 0 { dx[xo + arg[o]] += dy[o] }
                    } else {
                        var s: Float = 0
                        for h in hs..<max(hs, he) {
                            for w in ws..<max(ws, we) { s += x[xo + h * W + w] }
                        }
                        y[o] = s / Float(poolSize)
                        let share = dy[o] / Float(poolSize)
                        for h in hs..<max(hs, he) {
                            for w in ws..<max(ws, we) { dx[xo + h * W + w] += share }
                        }
                    }
                }
            }
        }
        return (y, arg, dx, (pH, pW))
    }

    /// Bitwise equality, NaN equal to NaN; the first difference for the message.
    private static func firstDifference(_ a: [Float], _ b: [Float]) -> String? {
        if a.count != b.count { return "counts \(a.count) vs \(b.count)" }
        for i in a.indices where a[i].bitPattern != b[i].bitPattern && !(a[i].isNaN && b[i].isNaN) {
            return "[\(i)]: \(a[i]) vs reference \(b[i])"
        }
        return nil
    }

    /// Gaussian data quantised to a few levels (many ties) with ±0 sprinkled in; with `specials`
    /// also NaN, −inf and −FLT_MAX, and the first plane's top-left 3×3 corner only those (a MAX
    /// window there has no argmax).
    private static func data(_ shape: [Int], seed: UInt64, specials: Bool) -> Blob {
        let x = Fixtures.gaussianBlob(shape, seed: seed)
        var rng = RandomGenerator(seed: seed + 1)
        for i in 0..<x.count { x.data[i] = (x.data[i] * 4).rounded() / 4 }
        let odd: [Float] = specials ? [.nan, -.infinity, -.greatestFiniteMagnitude, 0, -0.0] : [0, -0.0]
        for i in 0..<x.count where rng.index(below: 6) == 0 { x.data[i] = odd[rng.index(below: odd.count)] }
        if specials {
            for h in 0..<min(3, shape[2]) {
                for w in 0..<min(3, shape[3]) { x.data[h * shape[3] + w] = odd[(h + w) % 3] }
            }
        }
        return x
    }

    @Test(arguments: cases)
    func matchesCaffeBitForBit(_ c: Case) throws {
        for specials in [false, true] {
            let x = Self.data(c.shape, seed: 61, specials: specials)
            let layer = try Fixtures.layer(c.prototxt)
            let tops = (0..<c.tops).map { _ in Blob() }
            try layer.setUpAndReshape(bottom: [x], top: tops)
            try layer.forward(bottom: [x], top: tops)
            let dy = Fixtures.gaussianBlob(tops[0].shape, seed: 62)
            let ref = Self.reference(c, x: x.dataArray, dy: dy.dataArray)
            #expect(tops[0].shape == [c.shape[0], c.shape[1], ref.pooled.0, ref.pooled.1])
            #expect(Self.firstDifference(tops[0].dataArray, ref.y) == nil, "forward \(c)")
            if c.tops == 2 { #expect(tops[1].dataArray == ref.arg.map(Float.init), "mask \(c)") }

            // forward twice: scratch left by the first pass must not leak into the second
            try layer.forward(bottom: [x], top: tops)
            #expect(Self.firstDifference(tops[0].dataArray, ref.y) == nil, "second forward \(c)")

            tops[0].setDiff(dy.dataArray)
            setAll(x.count, 7, x.diff)                     // backward overwrites the bottom diff
            layer.backward(top: tops, propagateDown: [true], bottom: [x])
            #expect(Self.firstDifference(x.diffArray, ref.dx) == nil, "backward \(c)")
        }
    }
}
