import Testing
import SparkNet
import SparkNetTestSupport

@Suite struct CommonLayerTests {
    // MARK: Concat
    @Test func concatGradientAxis0() throws {
        try expectGradientsMatch("name: \"c\" type: \"Concat\" concat_param { axis: 0 }",
                                 [Fixtures.gaussianBlob([2, 3, 2], seed: 1), Fixtures.gaussianBlob([3, 3, 2], seed: 2)])
    }

    @Test func concatGradientAxis1() throws {
        try expectGradientsMatch("name: \"c\" type: \"Concat\"",
                                 [Fixtures.gaussianBlob([2, 3, 2], seed: 1), Fixtures.gaussianBlob([2, 1, 2], seed: 2),
                                  Fixtures.gaussianBlob([2, 2, 2], seed: 3)])
    }

    @Test func concatForwardValues() throws {
        let a = Blob(shape: [2, 2], values: [1, 2, 3, 4]), b = Blob(shape: [2, 1], values: [5, 6])
        let (_, t) = try runForward("name: \"c\" type: \"Concat\" concat_param { concat_dim: 1 }", [a, b])
        #expect(t[0].shape == [2, 3])
        #expect(t[0].dataArray == [1, 2, 5, 3, 4, 6])
        let (_, t0) = try runForward("name: \"c\" type: \"Concat\" concat_param { axis: -2 }", [a, Blob(shape: [1, 2], values: [7, 8])])
        #expect(t0[0].shape == [3, 2])
        #expect(t0[0].dataArray == [1, 2, 3, 4, 7, 8])
        let m = errorMessage { _ = try runForward("name: \"cat\" type: \"Concat\" concat_param { axis: 0 }", [a, b]) }
        #expect(m?.contains("cat") == true)
    }

    // MARK: Eltwise
    @Test func eltwiseSumGradient() throws {
        try expectGradientsMatch("name: \"e\" type: \"Eltwise\" eltwise_param { operation: SUM coeff: 1 coeff: -0.5 coeff: 2 }",
                                 [Fixtures.gaussianBlob([2, 3], seed: 1), Fixtures.gaussianBlob([2, 3], seed: 2),
                                  Fixtures.gaussianBlob([2, 3], seed: 3)])
    }

    @Test func eltwiseProdGradient() throws {
        let bottoms = { [Fixtures.uniformBlob([2, 3], -1, 1, seed: 1), Fixtures.uniformBlob([2, 3], -1, 1, seed: 2),
                         Fixtures.uniformBlob([2, 3], 0.5, 1.5, seed: 3)] }
        try expectGradientsMatch("name: \"e\" type: \"Eltwise\" eltwise_param { operation: PROD }", bottoms())
        try expectGradientsMatch("name: \"e\" type: \"Eltwise\" eltwise_param { operation: PROD stable_prod_grad: false }", bottoms())
    }

    @Test func eltwiseMaxGradient() throws {
        let a = Fixtures.gaussianBlob([3, 4], seed: 1), b = Fixtures.gaussianBlob([3, 4], seed: 2)
        let c = Fixtures.gaussianBlob([3, 4], seed: 3)
        // Keep the three inputs apart so a probe never flips the winner.
        for i in 0..<a.count {
            b.data[i] = a.data[i] + (b.data[i] >= 0 ? 0.3 : -0.3) + b.data[i]
            c.data[i] = a.data[i] + (c.data[i] >= 0 ? 0.15 : -0.15)
        }
        try expectGradientsMatch("name: \"e\" type: \"Eltwise\" eltwise_param { operation: MAX }", [a, b, c])
    }

    @Test func eltwiseForwardValues() throws {
        let a = { Blob(shape: [3], values: [1, 5, 3]) }, b = { Blob(shape: [3], values: [4, 2, 3]) }
        let (_, s) = try runForward("name: \"e\" type: \"Eltwise\" eltwise_param { coeff: 1 coeff: -2 }", [a(), b()])
        #expect(s[0].dataArray == [-7, 1, -3])
        let (_, p) = try runForward("name: \"e\" type: \"Eltwise\" eltwise_param { operation: PROD }", [a(), b()])
        #expect(p[0].dataArray == [4, 10, 9])
        let ba = a(), bb = b()
        let (l, m) = try runForward("name: \"e\" type: \"Eltwise\" eltwise_param { operation: MAX }", [ba, bb])
        #expect(m[0].dataArray == [4, 5, 3])
        m[0].setDiff([10, 20, 30])
        l.backward(top: m, propagateDown: [true, true], bottom: [ba, bb])
        #expect(ba.diffArray == [0, 20, 0])
        #expect(bb.diffArray == [10, 0, 30])  // a tie goes to the later bottom, as in Caffe
        let e = errorMessage { _ = try runForward("name: \"e\" type: \"Eltwise\" eltwise_param { operation: PROD coeff: 1 coeff: 2 }", [a(), b()]) }
        #expect(e?.contains("summation") == true)
        let e2 = errorMessage { _ = try runForward("name: \"e\" type: \"Eltwise\" eltwise_param { coeff: 1 }", [a(), b()]) }
        #expect(e2?.contains("one coefficient per bottom") == true)
    }

    // MARK: Flatten / Reshape
    @Test func flattenGradientAndShapes() throws {
        try expectGradientsMatch("name: \"f\" type: \"Flatten\"", [Fixtures.gaussianBlob([2, 3, 2, 2])])
        func shape(_ p: String) throws -> [Int] {
            try runForward("name: \"f\" type: \"Flatten\" \(p)", [Blob(shape: [2, 3, 4, 5])]).tops[0].shape
        }
        #expect(try shape("") == [2, 60])
        #expect(try shape("flatten_param { axis: 2 }") == [2, 3, 20])
        #expect(try shape("flatten_param { axis: 1 end_axis: 2 }") == [2, 12, 5])
        #expect(try shape("flatten_param { axis: 0 }") == [120])
        #expect(try shape("flatten_param { axis: -2 end_axis: -2 }") == [2, 3, 4, 5])
        let (_, t) = try runForward("name: \"f\" type: \"Flatten\"", [Blob(shape: [1, 2, 2], values: [1, 2, 3, 4])])
        #expect(t[0].dataArray == [1, 2, 3, 4])
    }

    @Test func reshapeGradient() throws {
        try expectGradientsMatch("name: \"r\" type: \"Reshape\" reshape_param { shape { dim: 0 dim: -1 dim: 2 } }",
                                 [Fixtures.gaussianBlob([2, 3, 2, 2])])
    }

    @Test func reshapeInfersShapes() throws {
        func shape(_ p: String, _ bottom: [Int] = [2, 3, 4, 5]) throws -> [Int] {
            try runForward("name: \"r\" type: \"Reshape\" reshape_param { \(p) }", [Blob(shape: bottom)]).tops[0].shape
        }
        #expect(try shape("shape { dim: 0 dim: -1 }") == [2, 60])
        #expect(try shape("shape { dim: 0 dim: 0 dim: -1 }") == [2, 3, 20])
        #expect(try shape("shape { dim: -1 dim: 4 dim: 5 }") == [6, 4, 5])
        #expect(try shape("shape { dim: 3 dim: 1 } axis: 1 num_axes: 1") == [2, 3, 1, 4, 5])
        #expect(try shape("shape { dim: 1 } axis: -1 num_axes: 0") == [2, 3, 4, 5, 1])
        #expect(try shape("shape { dim: 1 } axis: 0 num_axes: 0") == [1, 2, 3, 4, 5])
        #expect(try shape("shape { dim: -1 } axis: 1 num_axes: 2") == [2, 12, 5])
        #expect(try shape("shape { dim: 0 dim: 2 dim: -1 } axis: 1") == [2, 3, 2, 10])
        let m = errorMessage { _ = try shape("shape { dim: -1 dim: -1 }") }
        #expect(m?.contains("-1") == true)
        let m2 = errorMessage { _ = try shape("shape { dim: 7 dim: -1 }") }
        #expect(m2?.contains("divisible") == true)
        let m3 = errorMessage { _ = try shape("shape { dim: 7 dim: 5 }") }
        #expect(m3?.contains("count") == true)
        let m4 = errorMessage { _ = try shape("shape { dim: 0 dim: 0 }", [6]) }
        #expect(m4?.contains("0") == true)
    }

    // MARK: Split / Silence / Dropout
    @Test func splitGradientSumsTops() throws {
        try expectGradientsMatch("name: \"s\" type: \"Split\"", [Fixtures.gaussianBlob([2, 3])], tops: 3)
        let x = Blob(shape: [2], values: [1, 2])
        let (l, t) = try runForward("name: \"s\" type: \"Split\"", [x], tops: 2)
        #expect(t.map(\.dataArray) == [[1, 2], [1, 2]])
        t[0].setDiff([1, 10]); t[1].setDiff([100, 1000])
        l.backward(top: t, propagateDown: [true], bottom: [x])
        #expect(x.diffArray == [101, 1010])
    }

    @Test func silenceZeroesBottomDiffs() throws {
        let a = Fixtures.gaussianBlob([2, 3]), b = Fixtures.gaussianBlob([4])
        a.setDiff(Array(repeating: 7, count: 6)); b.setDiff(Array(repeating: 7, count: 4))
        let (l, t) = try runForward("name: \"s\" type: \"Silence\"", [a, b], tops: 0)
        #expect(t.isEmpty)
        l.backward(top: [], propagateDown: [true, false], bottom: [a, b])
        #expect(a.diffArray.allSatisfy { $0 == 0 })
        #expect(b.diffArray.allSatisfy { $0 == 7 })
        try expectGradientsMatch("name: \"s\" type: \"Silence\"", [Fixtures.gaussianBlob([2, 3])], tops: 0)
    }

    @Test func dropoutGradientTrainAndTest() throws {
        try expectGradientsMatch("name: \"d\" type: \"Dropout\" dropout_param { dropout_ratio: 0.4 }",
                                 [Fixtures.gaussianBlob([4, 5])], phase: .train)
        try expectGradientsMatch("name: \"d\" type: \"Dropout\"", [Fixtures.gaussianBlob([4, 5])], phase: .test)
    }

    @Test func dropoutScalesInTrainAndPassesInTest() throws {
        let x = Fixtures.uniformBlob([1000], 1, 2)
        let (_, t) = try runForward("name: \"d\" type: \"Dropout\" dropout_param { dropout_ratio: 0.3 }", [x])
        var kept = 0
        for i in 0..<x.count {
            let y = t[0].data[i]
            if y != 0 {
                kept += 1
                #expect(abs(y - x.data[i] / 0.7) < 1e-5)
            }
        }
        #expect(kept > 620 && kept < 780)  // ~700 expected
        let (_, t2) = try runForward("name: \"d\" type: \"Dropout\" dropout_param { dropout_ratio: 0.3 }", [x], phase: .test)
        #expect(t2[0].dataArray == x.dataArray)
        // Same seed, same mask.
        let a = try runForward("name: \"d\" type: \"Dropout\"", [x], context: NetContext(seed: 3)).tops[0].dataArray
        let b = try runForward("name: \"d\" type: \"Dropout\"", [x], context: NetContext(seed: 3)).tops[0].dataArray
        #expect(a == b)
        let m = errorMessage { _ = try runForward("name: \"drop\" type: \"Dropout\" dropout_param { dropout_ratio: 1 }", [x]) }
        #expect(m?.contains("drop") == true)
    }

    // MARK: Input
    @Test func inputShapes() throws {
        let (_, one) = try runForward("name: \"in\" type: \"Input\" input_param { shape { dim: 2 dim: 3 } }", [], tops: 2)
        #expect(one.map(\.shape) == [[2, 3], [2, 3]])
        let (_, each) = try runForward("name: \"in\" type: \"Input\" input_param { shape { dim: 2 dim: 3 } shape { dim: 2 } }", [], tops: 2)
        #expect(each.map(\.shape) == [[2, 3], [2]])
        let m = errorMessage {
            _ = try runForward("name: \"in\" type: \"Input\" input_param { shape { dim: 1 } shape { dim: 2 } }", [], tops: 3)
        }
        #expect(m?.contains("in") == true)
        let m2 = errorMessage { _ = try runForward("name: \"in\" type: \"Input\" input_param { shape { dim: -3 } }", []) }
        #expect(m2 != nil)
    }
}
