import CKernels
import CaffeProto
import Dispatch
import Foundation
import Testing
import SparkNet
import SparkNetTestSupport

/// The engine's own threads (`Parallel`): the layers that split their work give bit-identical
/// results for any thread count, and so does `gemm`, which cuts large products the same way at
/// every thread count.
@Suite(.serialized) struct ParallelTests {
    private func with<T>(threads: Int, _ body: () throws -> T) rethrows -> T {
        let saved = Parallel.forcedThreads
        Parallel.forcedThreads = threads
        defer { Parallel.forcedThreads = saved }
        return try body()
    }

    /// Forward and backward of a fresh layer at `threads`: [top, bottom diff, param diffs…].
    private func run(_ text: String, shape: [Int], threads: Int) throws -> [[Float]] {
        try with(threads: threads) { try Fixtures.forwardBackward(try Fixtures.layer(text), shape: shape) }
    }

    /// `run` at 2 and 3 threads, twice each (a race need not show on every run), gives `one`'s bits.
    private func expectSameBits(_ one: [[Float]], _ run: (Int) throws -> [[Float]]) rethrows {
        for threads in [2, 3, 2, 3] {
            let many = try run(threads)
            #expect(many.count == one.count)
            for (i, (a, b)) in zip(many, one).enumerated() {
                let differing = zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count
                #expect(a.count == b.count && differing == 0,
                        "output \(i) at \(threads) threads: \(differing) of \(b.count) values differ")
            }
        }
    }

    private static let conv = "weight_filler { type: \"gaussian\" std: 0.1 } bias_filler { type: \"gaussian\" std: 0.5 }"

    @Test(arguments: [
        // LeNet conv2: input gradient through the fused col2im kernel, per image
        ("type: \"Convolution\" convolution_param { num_output: 50 kernel_size: 5 \(conv) }", [7, 20, 12, 12]),
        // F(4×4, 5×5): groups of 8 images over the threads, the last group of 3 (forward and
        // adjoint), then of 3 (forward and transposed)
        ("type: \"Convolution\" convolution_param { num_output: 50 kernel_size: 5 \(conv) }", [19, 20, 12, 12]),
        ("type: \"Convolution\" convolution_param { num_output: 12 kernel_size: 5 pad: 2 \(conv) }", [19, 8, 16, 16]),
        // CIFAR-like same padding: transposed-convolution input gradient, padded weight-gradient chunk
        ("type: \"Convolution\" convolution_param { num_output: 12 kernel_size: 5 pad: 2 \(conv) }", [5, 6, 16, 16]),
        // strided, padded, grouped: fused input gradient through per-thread padded scratch, im2col weights
        ("type: \"Convolution\" convolution_param { num_output: 6 kernel_size: 3 pad: 1 stride: 2 group: 2 \(conv) }",
         [5, 4, 9, 11]),
        // outW not a multiple of 8: the weight gradient through im2col + gemm (its blocks)
        ("type: \"Convolution\" convolution_param { num_output: 8 kernel_size: 3 pad: 1 \(conv) }", [8, 8, 32, 33]),
        // Winograd F(2×2, 3×3): forward and input gradient an image per thread
        ("type: \"Convolution\" convolution_param { num_output: 16 kernel_size: 3 pad: 1 \(conv) }", [5, 16, 16, 16]),
        // and its weight gradient over several chunks of images (threads take images, then ξ)
        ("type: \"Convolution\" convolution_param { num_output: 16 kernel_size: 3 pad: 1 \(conv) }", [5, 16, 64, 64]),
        // a 7×7/2 stem on phase planes: forward an image per thread, weight gradient rows per
        // thread (outW 15, widened to 16; and 16, read in place)
        ("type: \"Convolution\" convolution_param { num_output: 20 kernel_size: 7 pad: 3 stride: 2 \(conv) }", [5, 3, 30, 30]),
        ("type: \"Convolution\" convolution_param { num_output: 20 kernel_size: 7 pad: 3 stride: 2 \(conv) }", [3, 3, 32, 32]),
        // a strided 1×1: its input gradient dense, then spread, an image per thread
        ("type: \"Convolution\" convolution_param { num_output: 40 kernel_size: 1 stride: 2 \(conv) }", [5, 24, 16, 16]),
        // tiled 2×2 MAX (LeNet's), 3×3/2 MAX with the argmax mask, padded MAX, AVE
        ("type: \"Pooling\" pooling_param { pool: MAX kernel_size: 2 stride: 2 }", [4, 8, 96, 96]),
        ("type: \"Pooling\" pooling_param { pool: MAX kernel_size: 3 stride: 2 }", [5, 8, 63, 64]),
        ("type: \"Pooling\" pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 }", [5, 8, 63, 64]),
        ("type: \"Pooling\" pooling_param { pool: AVE kernel_size: 3 stride: 2 }", [5, 8, 63, 64]),
        ("type: \"ReLU\"", [5, 16, 32, 32]),
        ("type: \"ReLU\" relu_param { negative_slope: 0.1 }", [5, 16, 32, 32]),
    ])
    func layersGiveTheSameBitsOnAnyThreadCount(_ body: String, _ shape: [Int]) throws {
        let text = "name: \"l\" \(body)"
        let one = try run(text, shape: shape, threads: 1)
        try expectSameBits(one) { try run(text, shape: shape, threads: $0) }
    }

    @Test(arguments: [
        // ResNet's: batch statistics (TRAIN) and stored ones; odd plane sizes leave SIMD tails
        ("type: \"BatchNorm\"", [[6, 16, 15, 15]]),
        ("type: \"BatchNorm\" batch_norm_param { use_global_stats: true }", [[3, 8, 9, 7]]),
        ("type: \"Scale\" scale_param { bias_term: true filler { type: \"gaussian\" std: 1 } }", [[6, 16, 15, 15]]),
        ("type: \"Scale\" scale_param { axis: 0 }", [[24, 5, 9, 7], [24]]),
        // AlexNet's LRN, across channels and within
        ("type: \"LRN\" lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 }", [[3, 16, 13, 13]]),
        ("type: \"LRN\" lrn_param { local_size: 3 norm_region: WITHIN_CHANNEL }", [[3, 8, 13, 13]]),
        // GoogLeNet's channel Concat, ResNet's Eltwise SUM (and with coefficients)
        ("type: \"Concat\"", [[4, 16, 28, 28], [4, 32, 28, 28], [4, 8, 28, 28]]),
        ("type: \"Eltwise\"", [[4, 16, 32, 33], [4, 16, 32, 33]]),
        ("type: \"Eltwise\" eltwise_param { coeff: 0.5 coeff: -2 coeff: 3 }", [[4, 16, 32, 33], [4, 16, 32, 33], [4, 16, 32, 33]]),
    ])
    func deepNetLayersGiveTheSameBitsOnAnyThreadCount(_ body: String, _ shapes: [[Int]]) throws {
        let text = "name: \"l\" \(body)"
        func run(threads: Int) throws -> [[Float]] {
            try with(threads: threads) { try Fixtures.forwardBackward(try Fixtures.layer(text), shapes: shapes) }
        }
        let one = try run(threads: 1)
        // the top and the bottoms' gradients (BatchNorm's statistics get no gradient)
        #expect(one.prefix(1 + shapes.count).allSatisfy { $0.contains { $0 != 0 } },
                "an output is all zeros: the test would be vacuous")
        try expectSameBits(one, run)
    }

    /// Split's backward (a residual net's shortcut) sums its tops' diffs block by block on the
    /// threads: (dy0 + dy1) + dy2 for every element, whatever the thread count.
    @Test func splitBackwardSumsTheTopsOnAnyThreadCount() throws {
        let shape = [3, 16, 45, 45]                       // 97,200 values: 6 blocks, the last partial
        let dys = (0..<3).map { Fixtures.gaussianBlob(shape, seed: 60 + UInt64($0)).dataArray }
        let want = (0..<dys[0].count).map { (dys[0][$0] + dys[1][$0]) + dys[2][$0] }
        for threads in [1, 2, 3, 2] {
            let got: [Float] = try with(threads: threads) {
                let layer = try Fixtures.layer("name: \"s\" type: \"Split\"")
                let x = Fixtures.gaussianBlob(shape, seed: 59)
                let tops = [Blob(), Blob(), Blob()]
                try layer.setUpAndReshape(bottom: [x], top: tops)
                for (t, dy) in zip(tops, dys) { t.setDiff(dy) }
                layer.backward(top: tops, propagateDown: [true], bottom: [x])
                return x.diffArray
            }
            let differing = zip(got, want).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(got.count == want.count && differing == 0, "\(differing) values differ at \(threads) threads")
        }
    }

    @Test func gemmSplitAgreesWithOneCall() {
        // (m, n, k): split along n, along m, and with blocks that are not multiples of 16
        for (m, n, k) in [(64, 500, 800), (500, 64, 800), (70, 33, 600)] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let a = Fixtures.gaussianBlob([m * k], seed: 1).dataArray
                let b = Fixtures.gaussianBlob([k * n], seed: 2).dataArray
                let c0 = Fixtures.gaussianBlob([m * n], seed: 3).dataArray
                func product(threads: Int) -> [Float] {
                    with(threads: threads) {
                        var c = c0
                        c.withUnsafeMutableBufferPointer { cp in
                            gemm(ta, tb, m, n, k, 0.75, a, b, 0.5, cp.baseAddress!)
                        }
                        return c
                    }
                }
                let one = product(threads: 1)
                // a direct Double reference for one element per row, so a wrong block shows
                var worst: Double = 0
                for i in 0..<m {
                    let j = (i * 7) % n
                    var s: Double = 0
                    for p in 0..<k {
                        let av = ta ? a[p * m + i] : a[i * k + p], bv = tb ? b[j * k + p] : b[p * n + j]
                        s += Double(av) * Double(bv)
                    }
                    worst = max(worst, abs(0.75 * s + 0.5 * Double(c0[i * n + j]) - Double(one[i * n + j])))
                }
                #expect(worst < 1e-3, "\(m)×\(n)×\(k) \(ta) \(tb): single call off by \(worst)")
                for threads in [2, 3] {
                    let many = product(threads: threads)
                    let differing = zip(many, one).filter { $0.bitPattern != $1.bitPattern }.count
                    #expect(differing == 0, "\(m)×\(n)×\(k) \(ta) \(tb) at \(threads) threads: \(differing) values differ")
                }
            }
        }
    }

    /// The worker pool behind `Parallel` (ck_parallel): every part of every region runs exactly
    /// once, for any part count, when a part opens a region of its own (run serially), and when
    /// several threads open regions at once (one of them gets the pool, the others run serially).
    @Test func poolRunsEveryPartExactlyOnce() {
        final class Counts: @unchecked Sendable {
            var parts: [Int]
            var nested: [Int]
            init(_ n: Int) { parts = Array(repeating: 0, count: n); nested = Array(repeating: 0, count: 3) }
        }
        @Sendable func region(_ counts: Counts, parts: Int, nest: Bool) {
            let fn: ck_part_fn = nest
                ? { ctx, p in
                    let c = Unmanaged<Counts>.fromOpaque(ctx!).takeUnretainedValue()
                    c.parts[Int(p)] += 1
                    if p == 1 {
                        ck_parallel(3, { ctx, q in
                            Unmanaged<Counts>.fromOpaque(ctx!).takeUnretainedValue().nested[Int(q)] += 1
                        }, ctx)
                    }
                }
                : { ctx, p in Unmanaged<Counts>.fromOpaque(ctx!).takeUnretainedValue().parts[Int(p)] += 1 }
            #expect(ck_parallel(Int32(parts), fn, Unmanaged.passUnretained(counts).toOpaque()) == 1)
        }
        for parts in 1...8 {
            let counts = Counts(parts)
            for round in 1...300 {
                region(counts, parts: parts, nest: parts >= 2 && round % 3 == 0)
            }
            #expect(counts.parts == Array(repeating: 300, count: parts), "\(parts) parts")
            #expect(counts.nested == Array(repeating: parts >= 2 ? 100 : 0, count: 3), "\(parts) parts, nested")
        }
        let callers = (0..<3).map { _ in Counts(4) }
        DispatchQueue.concurrentPerform(iterations: 3) { t in
            for _ in 0..<500 { region(callers[t], parts: 4, nest: false) }
        }
        for (t, c) in callers.enumerated() {
            #expect(c.parts == [500, 500, 500, 500], "caller \(t)")
        }
    }

    /// The solver's update runs in blocks on the threads (weight decay, the rule, weights −=
    /// update): three steps of each kind of rule give the same weights, bit for bit, at 1, 2
    /// and 3 threads. The InnerProduct's 120,000 weights take several blocks.
    @Test(arguments: ["type: \"SGD\" momentum: 0.9 weight_decay: 0.001",
                      "type: \"Adam\" momentum: 0.9 momentum2: 0.999 weight_decay: 0.01 regularization_type: \"L1\" iter_size: 2",
                      "type: \"AdaDelta\" momentum: 0.95 delta: 1e-6 base_lr: 1"])
    func solverUpdateGivesTheSameBitsOnAnyThreadCount(_ rule: String) throws {
        let net = """
            name: "wide"
            layer { name: "in" type: "Input" top: "x" top: "t"
                    input_param { shape { dim: 4 dim: 400 } shape { dim: 4 dim: 300 } } }
            layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y"
                    inner_product_param { num_output: 300 weight_filler { type: "gaussian" std: 0.05 } } }
            layer { name: "loss" type: "EuclideanLoss" bottom: "y" bottom: "t" top: "loss" }
            """
        func weights(threads: Int) throws -> [Float] {
            try with(threads: threads) {
                var text = "net_param { \(net) } lr_policy: \"fixed\" max_iter: 10 display: 0 random_seed: 3 "
                text += "snapshot_after_train: false " + rule
                if !rule.contains("base_lr") { text += " base_lr: 0.01" }
                let solver = try Solver(param: try Caffe_SolverParameter(textFormatString: text), context: NetContext())
                for (i, blob) in solver.net.blobs.enumerated() where solver.net.blobNames[i] == "x" || solver.net.blobNames[i] == "t" {
                    for j in 0..<blob.count { blob.data[j] = Float(sin(Double(j) * 0.37 + Double(i))) }
                }
                try solver.step(3)
                return Array(solver.net.weights)
            }
        }
        let one = try weights(threads: 1)
        #expect(one.count == 120_300)
        for threads in [2, 3] {
            let many = try weights(threads: threads)
            let differing = zip(many, one).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(differing == 0, "\(threads) threads: \(differing) of \(one.count) weights differ")
        }
    }
}
