import Testing
import SparkNet
import SparkNetTestSupport

/// A blob whose values are a seeded permutation of 0, 0.05, 0.1, … shifted to be centred on 0:
/// all distinct and at least 0.05 apart, so a ±0.01 probe never changes which one is the max.
private func distinctBlob(_ shape: [Int], seed: UInt64) -> Blob {
    let b = Blob(shape: shape)
    var idx = Array(0..<b.count)
    var rng = RandomGenerator(seed: seed)
    for i in stride(from: idx.count - 1, to: 0, by: -1) { idx.swapAt(i, rng.index(below: i + 1)) }
    for i in 0..<b.count { b.data[i] = Float(idx[i]) * 0.05 - Float(b.count) * 0.025 }
    return b
}

@Suite struct PoolingLayerTests {
    private func pooling(_ body: String, name: String = "pool") throws -> Layer {
        try Fixtures.layer("name: \"\(name)\" type: \"Pooling\" pooling_param { \(body) }")
    }

    private func run(_ layer: Layer, _ x: Blob, tops: Int = 1) throws -> [Blob] {
        let top = (0..<tops).map { _ in Blob() }
        try layer.setUpAndReshape(bottom: [x], top: top)
        try layer.forward(bottom: [x], top: top)
        return top
    }

    @Test func ceilRoundingOfTheOutputSize() throws {
        // 6x6, kernel 3, stride 2: ceil(3/2) + 1 = 3 (floor would give 2)
        let t = try run(try pooling("pool: MAX kernel_size: 3 stride: 2"), Fixtures.gaussianBlob([2, 3, 6, 6]))
        #expect(t[0].shape == [2, 3, 3, 3])
        let f = try run(try pooling("pool: MAX kernel_size: 3 stride: 2 round_mode: FLOOR"), Fixtures.gaussianBlob([2, 3, 6, 6]))
        #expect(f[0].shape == [2, 3, 2, 2])
        // 7x5 with kernel 3 stride 2: 3x2
        let odd = try run(try pooling("pool: AVE kernel_size: 3 stride: 2"), Fixtures.gaussianBlob([1, 1, 7, 5]))
        #expect(odd[0].shape == [1, 1, 3, 2])
    }

    @Test func lastWindowMustStartInsideTheImage() throws {
        // 5x5, kernel 2, stride 3, pad 1: ceil(5/3) + 1 = 3, but window 2 would start at
        // 2·3 − 1 = 5 = H (in the padding), so Caffe clips to 2.
        let t = try run(try pooling("pool: MAX kernel_size: 2 stride: 3 pad: 1"), Fixtures.gaussianBlob([1, 2, 5, 5]))
        #expect(t[0].shape == [1, 2, 2, 2])
    }

    @Test func maxValuesAndMask() throws {
        // 4x4 = 1…16, kernel 2 stride 2
        let x = Blob(shape: [1, 1, 4, 4], values: (1...16).map(Float.init))
        let t = try run(try pooling("pool: MAX kernel_size: 2 stride: 2"), x, tops: 2)
        #expect(t[0].dataArray == [6, 8, 14, 16])
        #expect(t[1].dataArray == [5, 7, 13, 15])        // index within the H×W plane
        // 6x6 kernel 3 stride 2 (3x3 output, the last column/row windows are cut by the border)
        let y = Blob(shape: [1, 1, 6, 6], values: [
            9, 1, 2, 3, 4, 0,
            0, 0, 0, 0, 0, 0,
            0, 0, 5, 0, 0, 7,
            0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0,
            0, 8, 0, 0, 0, 6].map { Float($0) })
        let u = try run(try pooling("pool: MAX kernel_size: 3 stride: 2"), y, tops: 2)
        #expect(u[0].dataArray == [9, 5, 7, 5, 5, 7, 8, 0, 6])
        #expect(u[1].dataArray == [0, 14, 17, 14, 14, 17, 31, 26, 35])  // all-zero window: first zero wins
        // backward routes each top gradient to its argmax (and sums when shared)
        let layer = try pooling("pool: MAX kernel_size: 3 stride: 2")
        let top = Blob()
        try layer.setUpAndReshape(bottom: [y], top: [top])
        try layer.forward(bottom: [y], top: [top])
        top.setDiff([1, 2, 3, 4, 5, 6, 7, 8, 9])
        layer.backward(top: [top], propagateDown: [true], bottom: [y])
        var want = [Float](repeating: 0, count: 36)
        want[0] = 1; want[14] = 2 + 4 + 5; want[17] = 3 + 6; want[31] = 7; want[26] = 8; want[35] = 9
        #expect(y.diffArray == want)
    }

    @Test func averageUsesCaffesPaddedDivisor() throws {
        // 4x4 ones, kernel 3 stride 2 pad 1 -> 3x3. The divisor is the window clipped to the
        // PADDED image (H + pad), the sum covers only pixels inside the image.
        let x = Blob(shape: [1, 1, 4, 4], values: [Float](repeating: 1, count: 16))
        let t = try run(try pooling("pool: AVE kernel_size: 3 stride: 2 pad: 1"), x)
        #expect(t[0].shape == [1, 1, 3, 3])
        let want: [Float] = [4.0 / 9, 6.0 / 9, 2.0 / 6, 6.0 / 9, 1, 3.0 / 6, 2.0 / 6, 3.0 / 6, 1.0 / 4]
        for (a, b) in zip(t[0].dataArray, want) { #expect(abs(a - b) < 1e-6) }
        // 3x3 = 1…9 with the same window: every window sees a 2x2 corner, divisor 9
        let y = Blob(shape: [1, 1, 3, 3], values: (1...9).map(Float.init))
        let u = try run(try pooling("pool: AVE kernel_size: 3 stride: 2 pad: 1"), y)
        let wantU: [Float] = [12.0 / 9, 16.0 / 9, 24.0 / 9, 28.0 / 9]
        for (a, b) in zip(u[0].dataArray, wantU) { #expect(abs(a - b) < 1e-6) }
    }

    @Test func globalPooling() throws {
        let x = Fixtures.gaussianBlob([2, 3, 4, 5], seed: 4)
        let mx = try run(try pooling("pool: MAX global_pooling: true"), x)
        let av = try run(try pooling("pool: AVE global_pooling: true"), x)
        #expect(mx[0].shape == [2, 3, 1, 1])
        for p in 0..<6 {
            let plane = Array(x.dataArray[(p * 20)..<(p * 20 + 20)])
            #expect(mx[0].data[p] == plane.max()!)
            #expect(abs(av[0].data[p] - plane.reduce(0, +) / 20) < 1e-6)
        }
    }

    struct Config: CustomStringConvertible, Sendable {
        var name: String, body: String, shape: [Int]
        var description: String { name }
    }

    static let gradientConfigs: [Config] = [
        Config(name: "MAX k3 s2", body: "pool: MAX kernel_size: 3 stride: 2", shape: [2, 2, 6, 6]),
        Config(name: "MAX pad", body: "pool: MAX kernel_size: 3 stride: 2 pad: 1", shape: [2, 2, 5, 5]),
        Config(name: "MAX rect h/w", body: "pool: MAX kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 1 pad_h: 1 pad_w: 1", shape: [1, 2, 6, 5]),
        Config(name: "MAX ceil odd", body: "pool: MAX kernel_size: 3 stride: 2", shape: [2, 2, 7, 5]),
        Config(name: "MAX global", body: "pool: MAX global_pooling: true", shape: [2, 3, 3, 4]),
        Config(name: "AVE k3 s2", body: "pool: AVE kernel_size: 3 stride: 2", shape: [2, 2, 6, 6]),
        Config(name: "AVE pad", body: "pool: AVE kernel_size: 3 stride: 2 pad: 1", shape: [2, 2, 4, 4]),
        Config(name: "AVE ceil odd + clip", body: "pool: AVE kernel_size: 2 stride: 3 pad: 1", shape: [2, 2, 5, 5]),
        Config(name: "AVE rect h/w", body: "pool: AVE kernel_h: 2 kernel_w: 3 stride_h: 1 stride_w: 2 pad_h: 1 pad_w: 0", shape: [1, 2, 5, 7]),
        Config(name: "AVE global", body: "pool: AVE global_pooling: true", shape: [2, 3, 3, 4]),
    ]

    @Test(arguments: gradientConfigs)
    func gradientsMatchFiniteDifferences(_ c: Config) throws {
        let x = distinctBlob(c.shape, seed: 17)
        let r = try GradientChecker().check(try pooling(c.body), bottom: [x], top: [Blob()])
        #expect(r.failures.isEmpty, "\(r.failures.prefix(5))")
        #expect(r.probed == x.count)
    }

    @Test func maskTopGivesTheSameGradient() throws {
        let x = distinctBlob([2, 2, 5, 5], seed: 8)
        let a = try pooling("pool: MAX kernel_size: 3 stride: 2 pad: 1")
        let b = try pooling("pool: MAX kernel_size: 3 stride: 2 pad: 1")
        let ta = try run(a, x), tb = try run(b, x, tops: 2)
        #expect(ta[0].dataArray == tb[0].dataArray)
        let g = Fixtures.gaussianBlob(ta[0].shape, seed: 3)
        ta[0].setDiff(g.dataArray); tb[0].setDiff(g.dataArray)
        a.backward(top: ta, propagateDown: [true], bottom: [x])
        let da = x.diffArray
        x.zeroDiff()
        b.backward(top: tb, propagateDown: [true], bottom: [x])
        #expect(x.diffArray == da)
        #expect(da.contains { $0 != 0 })
    }

    @Test func badConfigurationsAreRefusedByName() throws {
        func expectError(_ body: String, tops: Int = 1, mentioning word: String) {
            do {
                let layer = try pooling(body, name: "badpool")
                try layer.setUpAndReshape(bottom: [Blob(shape: [1, 2, 5, 5])], top: (0..<tops).map { _ in Blob() })
                Issue.record("expected an error for \(body)")
            } catch let e as SparkNetError {
                #expect(e.message.contains("badpool"))
                #expect(e.message.contains(word), "\(e.message)")
            } catch { Issue.record("unexpected \(error)") }
        }
        expectError("pool: STOCHASTIC kernel_size: 2", mentioning: "STOCHASTIC")
        expectError("pool: MAX kernel_size: 2 kernel_h: 2 kernel_w: 2", mentioning: "kernel")
        expectError("pool: MAX stride: 2", mentioning: "kernel")
        expectError("pool: MAX global_pooling: true kernel_size: 2", mentioning: "global_pooling")
        expectError("pool: MAX global_pooling: true stride: 2", mentioning: "global_pooling")
        expectError("pool: MAX kernel_size: 2 pad: 2", mentioning: "pad")
        expectError("pool: AVE kernel_size: 2", tops: 2, mentioning: "top")
        expectError("pool: MAX kernel_size: 7", mentioning: "does not fit")
    }
}
