import Testing
import SparkNet
import SparkNetTestSupport

/// Split, Flatten, Reshape and single-bottom Concat share their bottom's storage instead of
/// copying it (Caffe's ShareData/ShareDiff).
@Suite struct SharedBlobTests {
    /// data (2×3×2×2) → ip → Split → {Flatten → ip_a, Reshape → ip_b} summed by Eltwise, plus a
    /// single-bottom Concat; every view feeds a learnable layer, so gradients flow through all.
    static let viewsNet = """
    force_backward: true
    layer { name: "in" type: "Input" top: "data" top: "label"
            input_param { shape { dim: 2 dim: 3 dim: 2 dim: 2 } shape { dim: 2 } } }
    layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
            convolution_param { num_output: 4 kernel_size: 1 weight_filler { type: "gaussian" std: 0.5 } } }
    layer { name: "flat" type: "Flatten" bottom: "conv" top: "flat" }
    layer { name: "resh" type: "Reshape" bottom: "conv" top: "resh" reshape_param { shape { dim: 0 dim: -1 } } }
    layer { name: "cat" type: "Concat" bottom: "resh" top: "cat" }
    layer { name: "ip_a" type: "InnerProduct" bottom: "flat" top: "a"
            inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.5 } } }
    layer { name: "ip_b" type: "InnerProduct" bottom: "cat" top: "b"
            inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.5 } } }
    layer { name: "sum" type: "Eltwise" bottom: "a" bottom: "b" top: "s" }
    layer { name: "loss" type: "SoftmaxWithLoss" bottom: "s" bottom: "label" top: "loss" }
    """

    @Test func viewsAllocateNoDataBlob() throws {
        let net = try Fixtures.net(Self.viewsNet)
        let conv = try #require(net.blob(named: "conv"))
        let split0 = try #require(net.blob(named: "conv_conv_0_split_0"))
        let split1 = try #require(net.blob(named: "conv_conv_0_split_1"))
        let flat = try #require(net.blob(named: "flat")), resh = try #require(net.blob(named: "resh"))
        let cat = try #require(net.blob(named: "cat"))
        // Split: the tops are the bottom's data, each with its own diff.
        #expect(split0.data == conv.data && split1.data == conv.data)
        #expect(split0.diff != conv.diff && split1.diff != conv.diff && split0.diff != split1.diff)
        // Flatten, Reshape, one-bottom Concat: views, data and diff.
        #expect(flat.data == split0.data && flat.diff == split0.diff)
        #expect(resh.data == split1.data && resh.diff == split1.diff)
        #expect(cat.data == resh.data && cat.diff == resh.diff)
        #expect(flat.shape == [2, 16] && resh.shape == [2, 16] && cat.shape == [2, 16])
        // One data memory for conv, its two split tops and the three views.
        let convLike = net.blobs.filter { $0.count == conv.count }
        #expect(convLike.count == 6)
        #expect(Set(convLike.map { UInt(bitPattern: $0.data) }).count == 1)
    }

    @Test func viewsFollowTheirBottomWhenItGrows() throws {
        let net = try Fixtures.net(Self.viewsNet)
        let data = try #require(net.blob(named: "data")), label = try #require(net.blob(named: "label"))
        try data.reshape([16, 3, 2, 2]); try label.reshape([16])
        try net.reshape()
        let conv = try #require(net.blob(named: "conv")), flat = try #require(net.blob(named: "flat"))
        let split1 = try #require(net.blob(named: "conv_conv_0_split_1"))
        #expect(flat.data == conv.data && flat.shape == [16, 16])
        #expect(split1.data == conv.data)
        try net.forward()
        #expect(flat.dataArray == conv.dataArray)
    }

    /// The net's gradient through the views, against central differences of its loss.
    @Test func gradientThroughViewsMatchesFiniteDifferences() throws {
        let net = try Fixtures.net(Self.viewsNet)
        let data = try #require(net.blob(named: "data")), label = try #require(net.blob(named: "label"))
        data.setData(Fixtures.gaussianBlob(data.shape, seed: 5).dataArray)
        label.setData([1, 2])
        net.clearParamDiffs()
        try net.forwardBackward()
        let analytic = data.diffArray, weightGrad = Array(net.gradients)
        #expect(analytic.contains { $0 != 0 })
        let h: Float = 1e-2
        func numeric(_ p: UnsafeMutablePointer<Float>) throws -> Float {
            let x = p.pointee
            p.pointee = x + h; let plus = try net.forward()
            p.pointee = x - h; let minus = try net.forward()
            p.pointee = x
            return (plus - minus) / (2 * h)
        }
        for i in 0..<data.count {
            let n = try numeric(data.data + i)
            #expect(abs(n - analytic[i]) <= 1e-3 * max(1, abs(n)), "data[\(i)]: \(analytic[i]) vs \(n)")
        }
        for i in stride(from: 0, to: net.weights.count, by: 3) {
            let n = try numeric(net.weights.baseAddress! + i)
            #expect(abs(n - weightGrad[i]) <= 1e-3 * max(1, abs(n)), "weight[\(i)]: \(weightGrad[i]) vs \(n)")
        }
    }

    /// conv → BatchNorm → Scale → loss, with BatchNorm and Scale in place (ResNet's; the Scale then
    /// reads the BatchNorm's saved output instead of saving its own copy) or not: bit-identical
    /// losses, input gradients and parameter gradients over a few SGD-like steps.
    @Test func scaleReusingBatchNormOutputIsExact() throws {
        func net(inPlace: Bool) throws -> Net {
            let n = inPlace ? "c" : "n", s = inPlace ? "c" : "s"
            return try Fixtures.net("""
            force_backward: true
            layer { name: "in" type: "Input" top: "data" top: "label"
                    input_param { shape { dim: 4 dim: 3 dim: 5 dim: 5 } shape { dim: 4 } } }
            layer { name: "conv" type: "Convolution" bottom: "data" top: "c"
                    convolution_param { num_output: 6 kernel_size: 3 weight_filler { type: "gaussian" std: 0.5 } } }
            layer { name: "bn" type: "BatchNorm" bottom: "c" top: "\(n)" }
            layer { name: "sc" type: "Scale" bottom: "\(n)" top: "\(s)"
                    scale_param { bias_term: true filler { type: "gaussian" std: 1 } bias_filler { type: "gaussian" std: 1 } } }
            layer { name: "ip" type: "InnerProduct" bottom: "\(s)" top: "ip"
                    inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.5 } } }
            layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
            """)
        }
        let a = try net(inPlace: true), b = try net(inPlace: false)
        for n in [a, b] {
            n.blob(named: "data")!.setData(Fixtures.gaussianBlob([4, 3, 5, 5], seed: 9).dataArray)
            n.blob(named: "label")!.setData([0, 2, 1, 2])
        }
        #expect(Array(a.weights) == Array(b.weights))
        for _ in 0..<3 {
            a.clearParamDiffs(); b.clearParamDiffs()
            let la = try a.forwardBackward(), lb = try b.forwardBackward()
            #expect(la.bitPattern == lb.bitPattern)
            #expect(a.blob(named: "data")!.diffArray == b.blob(named: "data")!.diffArray)
            #expect(Array(a.gradients) == Array(b.gradients))
            #expect(a.gradients.contains { $0 != 0 })
            a.update(); b.update()
        }
    }

    @Test func singleBottomConcatGradient() throws {
        try expectGradientsMatch("name: \"c\" type: \"Concat\"", [Fixtures.gaussianBlob([2, 3, 2])])
    }
}
