import Testing
import SparkNet
import SparkNetTestSupport

/// The fast paths added for speed (issue 4) against the definitions: convolution over several
/// column chunks of the minibatch, and MAX pooling over exactly tiled 2×2 windows (no argmax
/// kept, found again in backward).
@Suite struct PerformancePathTests {
    // MARK: convolution in chunks

    /// x (N, C, H, W) ∗ w (M, C, k, k) + b, stride 1, no padding; and the gradients of
    /// Σ y·dy with respect to w, b and x. Double accumulation.
    private func naiveConv(x: [Float], n N: Int, c C: Int, h H: Int, w W: Int, weights w: [Float],
                           bias: [Float], m M: Int, k: Int, dy: [Float])
        -> (y: [Float], dw: [Float], db: [Float], dx: [Float]) {
        let oH = H - k + 1, oW = W - k + 1
        var y = [Float](repeating: 0, count: N * M * oH * oW)
        var dw = [Double](repeating: 0, count: w.count), db = [Double](repeating: 0, count: M)
        var dx = [Double](repeating: 0, count: x.count)
        for n in 0..<N {
            for m in 0..<M {
                for oh in 0..<oH {
                    for ow in 0..<oW {
                        let o = ((n * M + m) * oH + oh) * oW + ow
                        var acc = Double(bias[m])
                        let g = Double(dy[o])
                        db[m] += g
                        for c in 0..<C {
                            for i in 0..<k {
                                for j in 0..<k {
                                    let xi = ((n * C + c) * H + oh + i) * W + ow + j
                                    let wi = ((m * C + c) * k + i) * k + j
                                    acc += Double(x[xi]) * Double(w[wi])
                                    dw[wi] += g * Double(x[xi])
                                    dx[xi] += g * Double(w[wi])
                                }
                            }
                        }
                        y[o] = Float(acc)
                    }
                }
            }
        }
        return (y, dw.map { Float($0) }, db.map { Float($0) }, dx.map { Float($0) })
    }

    private func maxRelativeError(_ a: [Float], _ b: [Float]) -> Float {
        var worst: Float = 0
        for (x, y) in zip(a, b) { worst = max(worst, abs(x - y) / max(1, abs(y))) }
        return worst
    }

    /// 5 images of 2×72×72 with a 3×3 kernel: 88,200 column floats per image, so the layer
    /// unrolls 2 images at a time (chunks 2, 2, 1) under its 2^18-float column budget.
    @Test func convolutionOverSeveralChunksMatchesTheDefinition() throws {
        let (N, C, H, W, M, k) = (5, 2, 72, 72, 3, 3)
        let layer = try Fixtures.layer("""
        name: "conv" type: "Convolution"
        convolution_param { num_output: \(M) kernel_size: \(k)
          weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "gaussian" std: 0.5 } }
        """)
        let x = Fixtures.gaussianBlob([N, C, H, W], seed: 31)
        let top = Blob()
        try layer.setUpAndReshape(bottom: [x], top: [top])
        #expect(ConvGeometry(channels: C, height: H, width: W, kernelH: k, kernelW: k).columnCount(batch: 1) * 2
                <= 1 << 18)
        try layer.forward(bottom: [x], top: [top])
        let dy = Fixtures.gaussianBlob(top.shape, seed: 32)
        top.setDiff(dy.dataArray)
        layer.blobs[0].zeroDiff(); layer.blobs[1].zeroDiff()
        layer.backward(top: [top], propagateDown: [true], bottom: [x])

        let ref = naiveConv(x: x.dataArray, n: N, c: C, h: H, w: W, weights: layer.blobs[0].dataArray,
                            bias: layer.blobs[1].dataArray, m: M, k: k, dy: dy.dataArray)
        #expect(top.shape == [N, M, H - k + 1, W - k + 1])
        #expect(maxRelativeError(top.dataArray, ref.y) < 1e-4)
        #expect(maxRelativeError(x.diffArray, ref.dx) < 1e-4)
        // the weight and bias gradients sum 5·70·70 products: relative to their size
        let scale = ref.dw.map { abs($0) }.max() ?? 1
        #expect(maxRelativeError(layer.blobs[0].diffArray.map { $0 / scale }, ref.dw.map { $0 / scale }) < 1e-4)
        let bscale = ref.db.map { abs($0) }.max() ?? 1
        #expect(maxRelativeError(layer.blobs[1].diffArray.map { $0 / bscale }, ref.db.map { $0 / bscale }) < 1e-4)
    }

    // MARK: tiled 2×2 MAX pooling

    private func pool2x2(tops: Int) throws -> (Layer, [Blob]) {
        let layer = try Fixtures.layer("name: \"pool\" type: \"Pooling\" pooling_param { pool: MAX kernel_size: 2 stride: 2 }")
        return (layer, (0..<tops).map { _ in Blob() })
    }

    /// Bitwise equality that treats NaN as equal to NaN.
    private func same(_ a: [Float], _ b: [Float]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
    }

    /// The tiled path (one top) against the generic path (a mask top forces it), on data with
    /// ties, NaN, −inf, −FLT_MAX and ±0: same outputs, same gradients (Caffe's first argmax).
    /// Widths 14 and 6 give 7 and 3 windows a row: the four-wide SIMD loop and its scalar tail.
    @Test(arguments: [[2, 3, 8, 14], [1, 2, 4, 6]])
    func tiledMaxPoolingMatchesTheGenericPath(_ shape: [Int]) throws {
        let x = Fixtures.gaussianBlob(shape, seed: 41)
        var rng = RandomGenerator(seed: 42)
        let specials: [Float] = [.nan, -.infinity, -.greatestFiniteMagnitude, 0, -0.0, 1, 1, 1]
        for i in 0..<x.count where rng.index(below: 3) == 0 { x.data[i] = specials[rng.index(below: specials.count)] }
        // one window of only NaN/−inf: no gradient in Caffe (argmax −1)
        x.data[0] = .nan; x.data[1] = -.infinity; x.data[shape[3]] = .nan; x.data[shape[3] + 1] = -.greatestFiniteMagnitude

        let (fast, ft) = try pool2x2(tops: 1)
        let (generic, gt) = try pool2x2(tops: 2)
        try fast.setUpAndReshape(bottom: [x], top: ft)
        try generic.setUpAndReshape(bottom: [x], top: gt)
        try fast.forward(bottom: [x], top: ft)
        try generic.forward(bottom: [x], top: gt)
        #expect(same(ft[0].dataArray, gt[0].dataArray))
        #expect(ft[0].data[0] == -.greatestFiniteMagnitude)

        let dy = Fixtures.gaussianBlob(ft[0].shape, seed: 43)
        ft[0].setDiff(dy.dataArray); gt[0].setDiff(dy.dataArray)
        setAll(x.count, 7, x.diff)                         // backward overwrites
        fast.backward(top: ft, propagateDown: [true], bottom: [x])
        let fastDx = x.diffArray
        setAll(x.count, 7, x.diff)
        generic.backward(top: gt, propagateDown: [true], bottom: [x])
        #expect(same(fastDx, x.diffArray))
        #expect(fastDx[0] == 0 && fastDx[1] == 0)
    }

    @Test func tiledMaxPoolingGradientMatchesFiniteDifferences() throws {
        // distinct values ≥ 0.05 apart: a ±0.01 probe never changes the argmax
        let x = Blob(shape: [2, 2, 6, 10])
        var idx = Array(0..<x.count)
        var rng = RandomGenerator(seed: 44)
        for i in stride(from: idx.count - 1, to: 0, by: -1) { idx.swapAt(i, rng.index(below: i + 1)) }
        for i in 0..<x.count { x.data[i] = Float(idx[i]) * 0.05 - Float(x.count) * 0.025 }
        let (layer, top) = try pool2x2(tops: 1)
        let r = try GradientChecker().check(layer, bottom: [x], top: top)
        #expect(r.failures.isEmpty, "\(r.failures.prefix(5))")
        #expect(r.probed == x.count)
    }

    // MARK: vectorised MAX pooling (stride 1 and 2)

    struct PoolCase: CustomStringConvertible, Sendable {
        var body: String, shape: [Int], k: Int, s: Int, p: Int
        var description: String { "\(body) \(shape)" }
    }

    static let poolCases: [PoolCase] = [
        PoolCase(body: "kernel_size: 3 stride: 2", shape: [2, 3, 32, 32], k: 3, s: 2, p: 0),   // CIFAR-10 quick pool1
        PoolCase(body: "kernel_size: 3 stride: 2 pad: 1", shape: [1, 2, 9, 21], k: 3, s: 2, p: 1),
        PoolCase(body: "kernel_size: 3 stride: 1 pad: 1", shape: [1, 2, 7, 13], k: 3, s: 1, p: 1),
        PoolCase(body: "kernel_size: 2 stride: 1", shape: [2, 1, 5, 12], k: 2, s: 1, p: 0),
    ]

    /// Caffe's MAX pooling, written out: outputs, argmax (plane index, −1 for none).
    private func naiveMaxPool(_ x: [Float], shape: [Int], k: Int, s: Int, p: Int, pooled: (Int, Int))
        -> (y: [Float], arg: [Int]) {
        let (planes, H, W) = (shape[0] * shape[1], shape[2], shape[3])
        let (pH, pW) = pooled
        var y = [Float](), arg = [Int]()
        for pl in 0..<planes {
            for ph in 0..<pH {
                for pw in 0..<pW {
                    let hs = ph * s - p, ws = pw * s - p
                    var best = -Float.greatestFiniteMagnitude, a = -1
                    for h in max(hs, 0)..<max(max(hs, 0), min(hs + k, H)) {
                        for w in max(ws, 0)..<max(max(ws, 0), min(ws + k, W)) where x[pl * H * W + h * W + w] > best {
                            best = x[pl * H * W + h * W + w]; a = h * W + w
                        }
                    }
                    y.append(best); arg.append(a)
                }
            }
        }
        return (y, arg)
    }

    @Test(arguments: poolCases)
    func vectorisedMaxPoolingMatchesTheDefinition(_ c: PoolCase) throws {
        let x = Fixtures.gaussianBlob(c.shape, seed: 51)
        var rng = RandomGenerator(seed: 52)
        let specials: [Float] = [.nan, -.infinity, -.greatestFiniteMagnitude, 0, -0.0, 1, 1]
        for i in 0..<x.count where rng.index(below: 4) == 0 { x.data[i] = specials[rng.index(below: specials.count)] }
        for withMaskTop in [false, true] {
            let layer = try Fixtures.layer("name: \"pool\" type: \"Pooling\" pooling_param { pool: MAX \(c.body) }")
            let tops = (0..<(withMaskTop ? 2 : 1)).map { _ in Blob() }
            try layer.setUpAndReshape(bottom: [x], top: tops)
            try layer.forward(bottom: [x], top: tops)
            let ref = naiveMaxPool(x.dataArray, shape: c.shape, k: c.k, s: c.s, p: c.p,
                                   pooled: (tops[0].shape[2], tops[0].shape[3]))
            #expect(same(tops[0].dataArray, ref.y))
            if withMaskTop { #expect(tops[1].dataArray == ref.arg.map { Float($0) }) }
            // backward: dx[arg] += dy
            let dy = Fixtures.gaussianBlob(tops[0].shape, seed: 53)
            tops[0].setDiff(dy.dataArray)
            setAll(x.count, 5, x.diff)
            layer.backward(top: tops, propagateDown: [true], bottom: [x])
            var want = [Float](repeating: 0, count: x.count)
            let plane = c.shape[2] * c.shape[3], per = tops[0].shape[2] * tops[0].shape[3]
            for (o, a) in ref.arg.enumerated() where a >= 0 { want[(o / per) * plane + a] += dy.data[o] }
            #expect(x.diffArray == want)
        }
    }
}
