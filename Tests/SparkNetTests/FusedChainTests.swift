import Foundation
import Testing
import CaffeProto
import SparkNet
import SparkNetTestSupport

/// The Net's fused chains (BatchNorm → Scale (→ ReLU), Eltwise SUM → ReLU, in place, as ResNet
/// prototxts write them): same results as the layers run one by one, right gradients, same bits
/// on any thread count.
@Suite(.serialized) struct FusedChainTests {
    /// A small residual net with every chain kind: BatchNorm → Scale → ReLU, BatchNorm → Scale
    /// (no ReLU), Eltwise SUM → leaky ReLU, and BatchNorm → Scale without bias → leaky ReLU.
    /// Planes of 5×7 and 32×33 leave SIMD tails; `large` has Eltwise blobs big enough to be split
    /// across threads, in several blocks.
    private static func text(_ bn: String = "", large: Bool = false) -> String {
        let (shape, c) = large ? ("dim: 8 dim: 3 dim: 32 dim: 33", 8) : ("dim: 2 dim: 3 dim: 5 dim: 7", 4)
        let conv = "weight_filler { type: \"gaussian\" std: 0.1 } bias_filler { type: \"gaussian\" std: 0.1 }"
        let scale = "filler { type: \"gaussian\" mean: 1 std: 0.2 } bias_filler { type: \"gaussian\" std: 0.2 }"
        return """
        name: "fused" force_backward: true
        layer { name: "in" type: "Input" top: "data" top: "target"
                input_param { shape { \(shape) } shape { dim: \(large ? 8 : 2) dim: 5 } } }
        layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
                convolution_param { num_output: \(c) kernel_size: 3 pad: 1 \(conv) } }
        layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1" \(bn) }
        layer { name: "scale1" type: "Scale" bottom: "conv1" top: "conv1" scale_param { bias_term: true \(scale) } }
        layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
        layer { name: "conv2" type: "Convolution" bottom: "conv1" top: "conv2"
                convolution_param { num_output: \(c) kernel_size: 3 pad: 1 \(conv) } }
        layer { name: "bn2" type: "BatchNorm" bottom: "conv2" top: "conv2" \(bn) }
        layer { name: "scale2" type: "Scale" bottom: "conv2" top: "conv2" scale_param { bias_term: true \(scale) } }
        layer { name: "sum" type: "Eltwise" bottom: "conv2" bottom: "conv1" top: "sum" }
        layer { name: "relu2" type: "ReLU" bottom: "sum" top: "sum" relu_param { negative_slope: 0.1 } }
        layer { name: "conv3" type: "Convolution" bottom: "sum" top: "conv3"
                convolution_param { num_output: \(c) kernel_size: 1 \(conv) } }
        layer { name: "bn3" type: "BatchNorm" bottom: "conv3" top: "conv3" \(bn) }
        layer { name: "scale3" type: "Scale" bottom: "conv3" top: "conv3" scale_param { filler { type: "gaussian" mean: 1 std: 0.2 } } }
        layer { name: "relu3" type: "ReLU" bottom: "conv3" top: "conv3" relu_param { negative_slope: 0.2 } }
        layer { name: "ip" type: "InnerProduct" bottom: "conv3" top: "ip"
                inner_product_param { num_output: 5 weight_filler { type: "gaussian" std: 0.05 } } }
        layer { name: "loss" type: "EuclideanLoss" bottom: "ip" bottom: "target" top: "loss" }
        """
    }

    private func net(_ text: String, phase: Caffe_Phase = .train, fused: Bool) throws -> Net {
        let context = NetContext(seed: 5)
        context.fusesLayers = fused
        let net = try Fixtures.net(text, phase: phase, context: context)
        for (name, seed) in [("data", 11), ("target", 12)] {
            let b = net.blob(named: name)!
            b.setData(Fixtures.gaussianBlob(b.shape, seed: UInt64(seed)).dataArray)
        }
        return net
    }

    /// Gives `nets` the BatchNorm statistics of three training steps (for global statistics).
    private func trainStatistics(large: Bool = false, into nets: Net...) throws {
        let train = try net(Self.text(large: large), fused: false)
        for _ in 0..<3 { try train.forward() }
        for n in nets { n.copyParams(from: train) }
    }

    /// Two forward-backward steps (the running statistics move between them): every blob's
    /// data and diff, the weight arena (with BatchNorm's statistics) and the gradient arena.
    private func run(_ net: Net, backward: Bool = true) throws -> [[Float]] {
        net.clearParamDiffs()
        for _ in 0..<2 {
            try net.forward()
            if backward { net.backward() }
        }
        // The Eltwise's top is left with its ReLU's output gradient when fused (no layer reads
        // it), its input gradient when not.
        let diffs = net.blobNames.indices.filter { net.blobNames[$0] != "sum" }.map { net.blobs[$0].diffArray }
        return net.blobs.map(\.dataArray) + (backward ? diffs : [])
            + [Array(net.weights), Array(net.gradients)]
    }

    private func expectSame(_ a: [[Float]], _ b: [[Float]], _ what: String,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.count == b.count, sourceLocation: sourceLocation)
        for (i, (x, y)) in zip(a, b).enumerated() {
            let worst = zip(x, y).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
            #expect(x.count == y.count && worst <= 1e-5, "\(what): array \(i) differs by \(worst)",
                    sourceLocation: sourceLocation)
        }
    }

    @Test func findsResNetsChains() throws {
        let fused = try net(Self.text(), fused: true)
        let names = fused.fusedLayers.map { fused.layerNames[$0].joined(separator: "+") }
        #expect(names == ["bn1+scale1+relu1", "bn2+scale2", "sum+relu2", "bn3+scale3+relu3"])
        #expect(try net(Self.text(), fused: false).fusedLayers.isEmpty)
    }

    @Test func leavesOtherShapesAlone() throws {
        // a ReLU not in place (bn1 + scale1 still fuse), a ReLU with a slope below 0, and a
        // BatchNorm not in place (the Scale then keeps its own copy of x) are not fused
        var t = Self.text()
        for (old, new) in [
            ("bottom: \"conv1\" top: \"conv1\" }", "bottom: \"conv1\" top: \"r1\" }"),
            ("bottom: \"conv1\" top: \"conv2\"", "bottom: \"r1\" top: \"conv2\""),
            ("bottom: \"conv2\" bottom: \"conv1\"", "bottom: \"conv2\" bottom: \"r1\""),
            ("negative_slope: 0.1", "negative_slope: -0.1"),
            ("bottom: \"conv3\" top: \"conv3\"  }", "bottom: \"conv3\" top: \"bn3\" }"),
            ("bottom: \"conv3\" top: \"conv3\" scale_param", "bottom: \"bn3\" top: \"bn3\" scale_param"),
            ("bottom: \"conv3\" top: \"conv3\" relu_param", "bottom: \"bn3\" top: \"bn3\" relu_param"),
            ("bottom: \"conv3\" top: \"ip\"", "bottom: \"bn3\" top: \"ip\""),
        ] {
            #expect(t.contains(old), "\(old)")
            t = t.replacingOccurrences(of: old, with: new)
        }
        let fused = try net(t, fused: true)
        #expect(fused.fusedLayers.map { fused.layerNames[$0].joined(separator: "+") } == ["bn1+scale1", "bn2+scale2"])
        expectSame(try run(fused), try run(try net(t, fused: false)), "other shapes")
    }

    @Test(arguments: ["", "batch_norm_param { use_global_stats: true }"], [false, true])
    func trainMatchesTheLayersOneByOne(_ bn: String, large: Bool) throws {
        let fused = try net(Self.text(bn, large: large), fused: true)
        let plain = try net(Self.text(bn, large: large), fused: false)
        #expect(fused.fusedLayers.count == 4)
        if !bn.isEmpty { try trainStatistics(large: large, into: fused, plain) }
        let a = try run(fused), b = try run(plain)
        expectSame(a, b, bn.isEmpty ? "batch statistics" : "global statistics")
        #expect(a.last!.contains { $0 != 0 } && fused.blob(named: "data")!.diffArray.contains { $0 != 0 })
    }

    @Test func testPhaseMatchesTheLayersOneByOne() throws {
        // TEST: use_global_stats by default
        let fused = try net(Self.text(), phase: .test, fused: true)
        let plain = try net(Self.text(), phase: .test, fused: false)
        #expect(fused.fusedLayers.count == 4)
        try trainStatistics(into: fused, plain)
        expectSame(try run(fused, backward: false), try run(plain, backward: false), "TEST phase")
    }

    /// Centred differences of the net's loss (Caffe's step 1e-2 and threshold 1e-3) against the
    /// fused backward, for the input, every Scale's scale and bias, and some convolution weights.
    /// Like Caffe's checker, probes whose step moves a ReLU's input across its kink are skipped
    /// (there the loss has no derivative): those where a rectified blob changes sign.
    @Test func fusedGradientsMatchFiniteDifferences() throws {
        let step: Float = 1e-2
        for bn in ["", "batch_norm_param { use_global_stats: true }"] {
            let net = try net(Self.text(bn), fused: true)
            if !bn.isEmpty { try trainStatistics(into: net) }
            net.clearParamDiffs()
            try net.forwardBackward()
            var probes: [(name: String, value: UnsafeMutablePointer<Float>, analytic: Float)] = []
            let data = net.blob(named: "data")!
            for i in stride(from: 0, to: data.count, by: 7) { probes.append(("data[\(i)]", data.data + i, data.diff[i])) }
            for name in ["conv1", "scale1", "conv2", "scale2", "conv3", "scale3"] {
                for (bi, b) in net.layer(named: name)!.blobs.enumerated() {
                    for i in stride(from: 0, to: b.count, by: name.hasPrefix("conv") ? 5 : 1) {
                        probes.append(("\(name).\(bi)[\(i)]", b.data + i, b.diff[i]))
                    }
                }
            }
            func signs() -> [Bool] { ["conv1", "sum", "conv3"].flatMap { net.blob(named: $0)!.dataArray.map { $0 > 0 } } }
            let base = signs()
            var failures: [String] = [], checked: [String] = []
            for p in probes {
                let x = p.value.pointee
                p.value.pointee = x + step
                let plus = try net.forward()
                let kinkPlus = signs() != base
                p.value.pointee = x - step
                let minus = try net.forward()
                let kinkMinus = signs() != base
                p.value.pointee = x
                if kinkPlus || kinkMinus { continue }
                checked.append(String(p.name.prefix { $0 != "[" }))
                let numeric = (plus - minus) / (2 * step)
                if abs(numeric - p.analytic) > 1e-3 * max(abs(numeric), abs(p.analytic), 1) {
                    failures.append("\(p.name): analytic \(p.analytic), numeric \(numeric)")
                }
            }
            #expect(failures.isEmpty, "\(bn): \(failures.count) of \(checked.count): \(failures.prefix(5))")
            // (a convolution's bias moves a whole channel past the ReLU's kink with global statistics)
            let wanted: Set = ["data", "conv1.0", "scale1.0", "scale1.1", "conv2.0", "scale2.0", "scale2.1", "conv3.0", "scale3.0"]
            #expect(Set(checked).isSuperset(of: wanted) && checked.count >= probes.count / 2,
                    "\(bn): \(checked.count) of \(probes.count) probed away from kinks: \(Set(checked).sorted())")
        }
    }

    @Test func sameBitsOnAnyThreadCount() throws {
        func run(threads: Int) throws -> [[Float]] {
            let saved = Parallel.forcedThreads
            Parallel.forcedThreads = threads
            defer { Parallel.forcedThreads = saved }
            let net = try net(Self.text(large: true), fused: true)
            return try self.run(net)
        }
        let one = try run(threads: 1)
        for threads in [2, 3, 2, 3] {
            let many = try run(threads: threads)
            for (i, (a, b)) in zip(many, one).enumerated() {
                let differing = zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count
                #expect(a.count == b.count && differing == 0,
                        "array \(i) at \(threads) threads: \(differing) of \(b.count) values differ")
            }
        }
    }
}
