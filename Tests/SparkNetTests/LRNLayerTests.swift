import Foundation
import Testing
import SparkNet
import SparkNetTestSupport

/// Caffe's LRN by definition, in double precision.
private func naiveLRN(_ x: Blob, size: Int, alpha: Double, beta: Double, k: Double, within: Bool) -> [Float] {
    let N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    let pre = (size - 1) / 2
    func at(_ n: Int, _ c: Int, _ h: Int, _ w: Int) -> Double { Double(x.data[((n * C + c) * H + h) * W + w]) }
    var y = [Float](repeating: 0, count: x.count)
    for n in 0..<N {
        for c in 0..<C {
            for h in 0..<H {
                for w in 0..<W {
                    var s = 0.0
                    let scale: Double
                    if within {
                        for i in (h - pre)...(h + pre) where i >= 0 && i < H {
                            for j in (w - pre)...(w + pre) where j >= 0 && j < W { s += at(n, c, i, j) * at(n, c, i, j) }
                        }
                        scale = 1 + alpha / Double(size * size) * s
                    } else {
                        for cc in (c - pre)...(c + pre) where cc >= 0 && cc < C { s += at(n, cc, h, w) * at(n, cc, h, w) }
                        scale = k + alpha / Double(size) * s
                    }
                    y[((n * C + c) * H + h) * W + w] = Float(at(n, c, h, w) * pow(scale, -beta))
                }
            }
        }
    }
    return y
}

@Suite struct LRNLayerTests {
    struct Config: CustomStringConvertible, Sendable {
        var name: String, body: String, size: Int, alpha: Double, beta: Double, k: Double, within: Bool
        var shape: [Int]
        var description: String { name }
    }

    static let configs: [Config] = [
        Config(name: "across, defaults", body: "", size: 5, alpha: 1, beta: 0.75, k: 1, within: false, shape: [2, 7, 3, 3]),
        Config(name: "across, size 3 alpha 0.5 beta 0.6 k 2", body: "local_size: 3 alpha: 0.5 beta: 0.6 k: 2",
               size: 3, alpha: 0.5, beta: 0.6, k: 2, within: false, shape: [2, 4, 2, 3]),
        Config(name: "across, fewer channels than the window", body: "local_size: 5 alpha: 2",
               size: 5, alpha: 2, beta: 0.75, k: 1, within: false, shape: [1, 2, 3, 2]),
        Config(name: "within, size 3", body: "norm_region: WITHIN_CHANNEL local_size: 3 alpha: 2 beta: 0.75",
               size: 3, alpha: 2, beta: 0.75, k: 1, within: true, shape: [2, 2, 4, 5]),
        Config(name: "within, size 5 (k ignored)", body: "norm_region: WITHIN_CHANNEL local_size: 5 alpha: 3 beta: 0.5 k: 7",
               size: 5, alpha: 3, beta: 0.5, k: 7, within: true, shape: [1, 2, 3, 6]),
    ]

    private func layer(_ body: String) throws -> Layer {
        try Fixtures.layer("name: \"norm\" type: \"LRN\" lrn_param { \(body) }")
    }

    @Test(arguments: configs)
    func forwardMatchesDefinition(_ c: Config) throws {
        let x = Fixtures.gaussianBlob(c.shape, seed: 13)
        let l = try layer(c.body)
        let top = Blob()
        try l.setUpAndReshape(bottom: [x], top: [top])
        try l.forward(bottom: [x], top: [top])
        #expect(top.shape == x.shape)
        let ref = naiveLRN(x, size: c.size, alpha: c.alpha, beta: c.beta, k: c.k, within: c.within)
        var worst: Float = 0
        for (a, b) in zip(top.dataArray, ref) { worst = max(worst, abs(a - b) / max(abs(b), 1e-3)) }
        #expect(worst < 1e-5)
    }

    @Test(arguments: configs)
    func gradientsMatchFiniteDifferences(_ c: Config) throws {
        let x = Fixtures.gaussianBlob(c.shape, seed: 14)
        let r = try GradientChecker().check(try layer(c.body), bottom: [x], top: [Blob()])
        #expect(r.failures.isEmpty, "\(r.failures.prefix(5))")
        #expect(r.probed == x.count)
    }

    @Test func handComputedAcrossChannels() throws {
        // one pixel, 3 channels (1, 2, 3), size 3, alpha 3, beta 1, k 1:
        // scale = 1 + (3/3)·Σ window x²  = [1+1+4, 1+1+4+9, 1+4+9] = [6, 15, 14]
        let x = Blob(shape: [1, 3, 1, 1], values: [1, 2, 3])
        let l = try layer("local_size: 3 alpha: 3 beta: 1 k: 1")
        let top = Blob()
        try l.setUpAndReshape(bottom: [x], top: [top])
        try l.forward(bottom: [x], top: [top])
        let want: [Float] = [1.0 / 6, 2.0 / 15, 3.0 / 14]
        for (a, b) in zip(top.dataArray, want) { #expect(abs(a - b) < 1e-6) }
    }

    @Test func refusesEvenSizeAndInPlace() throws {
        #expect(throws: SparkNetError.self) {
            try layer("local_size: 4").setUpAndReshape(bottom: [Blob(shape: [1, 2, 2, 2])], top: [Blob()])
        }
        let x = Blob(shape: [1, 2, 2, 2])
        #expect(throws: SparkNetError.self) { try layer("").setUpAndReshape(bottom: [x], top: [x]) }
        #expect(throws: SparkNetError.self) {
            try layer("").setUpAndReshape(bottom: [Blob(shape: [2, 3])], top: [Blob()])
        }
    }
}
