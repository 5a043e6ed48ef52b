import Testing
import CaffeProto
import SparkNet
import SparkNetTestSupport

/// Per-channel mean and biased variance of x (N, C, S…) in double precision.
private func channelStats(_ x: Blob) -> (mean: [Double], variance: [Double]) {
    let N = x.shape[0], C = x.numAxes > 1 ? x.shape[1] : 1, S = x.count / (N * C)
    var mean = [Double](repeating: 0, count: C), v = [Double](repeating: 0, count: C)
    for n in 0..<N { for c in 0..<C { for s in 0..<S { mean[c] += Double(x.data[(n * C + c) * S + s]) } } }
    for c in 0..<C { mean[c] /= Double(N * S) }
    for n in 0..<N {
        for c in 0..<C {
            for s in 0..<S { let d = Double(x.data[(n * C + c) * S + s]) - mean[c]; v[c] += d * d }
        }
    }
    for c in 0..<C { v[c] /= Double(N * S) }
    return (mean, v)
}

@Suite struct BatchNormLayerTests {
    private func layer(_ body: String = "", phase: Caffe_Phase = .train, extra: String = "") throws -> Layer {
        try Fixtures.layer("name: \"bn\" type: \"BatchNorm\" batch_norm_param { \(body) } \(extra)", phase: phase)
    }

    @Test func trainForwardNormalizesAndUpdatesRunningStatistics() throws {
        let x = Fixtures.gaussianBlob([3, 2, 2, 3], std: 2, seed: 31)
        for i in 0..<x.count where (i / 6) % 2 == 1 { x.data[i] += 5 }   // channel 1 off-centre
        let l = try layer("moving_average_fraction: 0.9 eps: 0.001")
        let top = Blob()
        try l.setUpAndReshape(bottom: [x], top: [top])
        #expect(l.blobs.map(\.shape) == [[2], [2], [1]])
        for i in 0..<3 {
            let m = l.paramMultipliers(i)
            #expect(m.lr == 0)
            #expect(m.decay == 0)
        }
        try l.forward(bottom: [x], top: [top])
        let (mean, variance) = channelStats(x)
        for i in 0..<x.count {
            let c = (i / 6) % 2
            let want = (Double(x.data[i]) - mean[c]) / (variance[c] + 0.001).squareRoot()
            #expect(abs(Double(top.data[i]) - want) < 1e-4)
        }
        let m = Double(x.count / 2)
        #expect(l.blobs[2].data[0] == 1)
        for c in 0..<2 {
            #expect(abs(Double(l.blobs[0].data[c]) - mean[c]) < 1e-4)
            #expect(abs(Double(l.blobs[1].data[c]) - variance[c] * m / (m - 1)) < 1e-4)
        }
        // a second pass: factor 0.9·1 + 1, sums λ·old + new
        try l.forward(bottom: [x], top: [top])
        #expect(abs(l.blobs[2].data[0] - 1.9) < 1e-6)
        for c in 0..<2 {
            #expect(abs(Double(l.blobs[0].data[c]) - 1.9 * mean[c]) < 1e-4)
            #expect(abs(Double(l.blobs[1].data[c]) - 1.9 * variance[c] * m / (m - 1)) < 1e-4)
        }
    }

    @Test func globalStatisticsUseTheScaledRunningSums() throws {
        // TEST phase defaults to use_global_stats
        let l = try layer("eps: 0.01", phase: .test)
        let x = Fixtures.gaussianBlob([2, 3, 4], seed: 32)
        let top = Blob()
        try l.setUpAndReshape(bottom: [x], top: [top])
        l.blobs[0].setData([2, -4, 6])        // mean sums
        l.blobs[1].setData([8, 2, 18])        // variance sums
        l.blobs[2].setData([2])               // factor: mean = [1, −2, 3], var = [4, 1, 9]
        try l.forward(bottom: [x], top: [top])
        let mean: [Float] = [1, -2, 3], v: [Float] = [4, 1, 9]
        for i in 0..<x.count {
            let c = (i / 4) % 3
            #expect(abs(top.data[i] - (x.data[i] - mean[c]) / (v[c] + 0.01).squareRoot()) < 1e-5)
        }
        #expect(l.blobs[2].data[0] == 2)      // not updated
        // factor 0 means zero statistics (Caffe)
        l.blobs[2].setData([0])
        try l.forward(bottom: [x], top: [top])
        for i in 0..<x.count { #expect(abs(top.data[i] - x.data[i] / (0.01 as Float).squareRoot()) < 1e-4) }
        // explicit use_global_stats: false in TEST normalizes by the batch
        let t = try layer("use_global_stats: false", phase: .test)
        let top2 = Blob()
        try t.setUpAndReshape(bottom: [x], top: [top2])
        try t.forward(bottom: [x], top: [top2])
        #expect(t.blobs[2].data[0] == 1)
    }

    @Test func trainGradients() throws {
        let x = Fixtures.gaussianBlob([3, 2, 2, 3], seed: 33)
        let r = try GradientChecker(projectionSeed: 5).check(try layer(), bottom: [x], top: [Blob()])
        #expect(r.failures.isEmpty, "\(r.failures.prefix(5))")
        #expect(r.probed == x.count)
    }

    @Test func trainGradients2D() throws {
        // (N, C) input: spatial size 1
        let x = Fixtures.gaussianBlob([5, 3], seed: 34)
        let r = try GradientChecker(projectionSeed: 6).check(try layer("eps: 0.0001"), bottom: [x], top: [Blob()])
        #expect(r.failures.isEmpty, "\(r.failures.prefix(5))")
        #expect(r.probed == x.count)
    }

    @Test func globalStatsGradients() throws {
        let l = try layer("use_global_stats: true")
        let x = Fixtures.gaussianBlob([2, 3, 2, 2], seed: 35)
        try l.setUpAndReshape(bottom: [x], top: [Blob()])
        l.blobs[0].setData([0.5, -1, 2]); l.blobs[1].setData([1, 3, 0.5]); l.blobs[2].setData([1])
        let r = try GradientChecker(projectionSeed: 7).check(l, bottom: [x], top: [Blob()])
        #expect(r.failures.isEmpty, "\(r.failures.prefix(5))")
        #expect(r.probed == x.count)          // statistics are not probed: no gradient flows to them
    }

    @Test(arguments: [false, true])
    func inPlaceMatchesOutOfPlace(_ global: Bool) throws {
        let body = "use_global_stats: \(global)"
        let a = try layer(body), b = try layer(body)
        let x = Fixtures.gaussianBlob([2, 3, 3, 2], seed: 36)
        let xin = Blob(shape: x.shape, values: x.dataArray)
        let top = Blob()
        try a.setUpAndReshape(bottom: [x], top: [top])
        try b.setUpAndReshape(bottom: [xin], top: [xin])
        for l in [a, b] { l.blobs[0].setData([1, 2, 3]); l.blobs[1].setData([2, 2, 2]); l.blobs[2].setData([1]) }
        try a.forward(bottom: [x], top: [top])
        try b.forward(bottom: [xin], top: [xin])
        #expect(xin.dataArray == top.dataArray)
        let g = Fixtures.gaussianBlob(x.shape, seed: 37)
        top.setDiff(g.dataArray); xin.setDiff(g.dataArray)
        // a later in-place layer may clobber the top data; backward must not depend on it
        setAll(xin.count, 123, xin.data)
        a.backward(top: [top], propagateDown: [true], bottom: [x])
        b.backward(top: [xin], propagateDown: [true], bottom: [xin])
        for (p, q) in zip(x.diffArray, xin.diffArray) { #expect(abs(p - q) < 1e-6) }
        #expect(x.diffArray.contains { $0 != 0 })
    }

    @Test func learningRateOnStatisticsIsRefused() throws {
        let l = try layer("", extra: "param { lr_mult: 0 } param { lr_mult: 1 } param { lr_mult: 0 }")
        do {
            try l.setUpAndReshape(bottom: [Blob(shape: [2, 3])], top: [Blob()])
            Issue.record("expected an error")
        } catch let e as SparkNetError {
            #expect(e.message.contains("bn") && e.message.contains("lr_mult"))
        }
        // lr_mult 0 everywhere (the usual prototxt) is fine
        let ok = try layer("", extra: "param { lr_mult: 0 } param { lr_mult: 0 } param { lr_mult: 0 }")
        try ok.setUpAndReshape(bottom: [Blob(shape: [2, 3])], top: [Blob()])
    }

    @Test func inANetTheStatisticsAreNotLearnedButAreSaved() throws {
        let net = try Fixtures.net("""
        layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 4 dim: 2 dim: 3 dim: 3 } } }
        layer { name: "bn" type: "BatchNorm" bottom: "x" top: "x" }
        """)
        let bn = net.layers.first { $0.name == "bn" }!
        #expect(bn.paramPropagateDown == [false, false, false])
        #expect(bn.blobs.count == 3)
    }
}
