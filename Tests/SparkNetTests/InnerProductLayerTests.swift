import Testing
import SparkNet
import SparkNetTestSupport

@Suite struct InnerProductLayerTests {
    static let fillers = "weight_filler { type: \"gaussian\" std: 1 } bias_filler { type: \"gaussian\" std: 1 }"

    @Test func gradientWithBias() throws {
        try expectGradientsMatch("""
            name: "ip" type: "InnerProduct" inner_product_param { num_output: 4 \(Self.fillers) }
            """, [Fixtures.gaussianBlob([2, 3, 2, 2])])
    }

    @Test func gradientWithoutBias() throws {
        try expectGradientsMatch("""
            name: "ip" type: "InnerProduct" inner_product_param { num_output: 4 bias_term: false \(Self.fillers) }
            """, [Fixtures.gaussianBlob([2, 3, 2, 2])])
    }

    @Test func gradientTransposed() throws {
        try expectGradientsMatch("""
            name: "ip" type: "InnerProduct" inner_product_param { num_output: 4 transpose: true \(Self.fillers) }
            """, [Fixtures.gaussianBlob([3, 5])])
    }

    @Test func gradientAxis2() throws {
        try expectGradientsMatch("""
            name: "ip" type: "InnerProduct" inner_product_param { num_output: 3 axis: 2 \(Self.fillers) }
            """, [Fixtures.gaussianBlob([2, 3, 4])])
    }

    @Test func shapesFollowAxisAndTranspose() throws {
        let (l, t) = try runForward("""
            name: "ip" type: "InnerProduct" inner_product_param { num_output: 3 axis: 2 transpose: true }
            """, [Blob(shape: [2, 5, 4, 2])])
        #expect(t[0].shape == [2, 5, 3])
        #expect(l.blobs.map(\.shape) == [[8, 3], [3]])
        let (l2, t2) = try runForward("""
            name: "ip" type: "InnerProduct" inner_product_param { num_output: 3 bias_term: false }
            """, [Blob(shape: [2, 5, 4])])
        #expect(t2[0].shape == [2, 3])
        #expect(l2.blobs.map(\.shape) == [[3, 20]])
    }

    @Test func exactForward() throws {
        // y = x·Wᵀ + b with W (3,2) = [[1,0],[0,1],[1,1]], b = [1,2,3]
        let x = Blob(shape: [2, 2], values: [1, 2, -1, 4])
        let layer = try makeLayer("name: \"ip\" type: \"InnerProduct\" inner_product_param { num_output: 3 }")
        let top = Blob()
        try layer.setUpAndReshape(bottom: [x], top: [top])
        layer.blobs[0].setData([1, 0, 0, 1, 1, 1])
        layer.blobs[1].setData([1, 2, 3])
        try layer.forward(bottom: [x], top: [top])
        #expect(top.dataArray == [2, 4, 6, 0, 6, 6])

        // The same product with the transposed (K,N) layout.
        let lt = try makeLayer("name: \"ip\" type: \"InnerProduct\" inner_product_param { num_output: 3 transpose: true }")
        try lt.setUpAndReshape(bottom: [x], top: [top])
        lt.blobs[0].setData([1, 0, 1, 0, 1, 1])
        lt.blobs[1].setData([1, 2, 3])
        try lt.forward(bottom: [x], top: [top])
        #expect(top.dataArray == [2, 4, 6, 0, 6, 6])
    }

    @Test func paramGradientsAccumulate() throws {
        let x = Fixtures.gaussianBlob([3, 4])
        let layer = try makeLayer("""
            name: "ip" type: "InnerProduct" inner_product_param { num_output: 2 \(Self.fillers) }
            """)
        let top = Blob()
        try layer.setUpAndReshape(bottom: [x], top: [top])
        try layer.forward(bottom: [x], top: [top])
        top.setDiff((0..<top.count).map { Float($0) - 2 })
        layer.backward(top: [top], propagateDown: [true], bottom: [x])
        let once = layer.blobs.map(\.diffArray)
        let dx = x.diffArray
        layer.backward(top: [top], propagateDown: [true], bottom: [x])
        for (b, g) in zip(layer.blobs, once) { expectClose(b.diffArray, g.map { 2 * $0 }) }
        expectClose(x.diffArray, dx)  // bottom diffs are overwritten, not accumulated
    }

    @Test func wrongInputSizeIsAnError() throws {
        let layer = try makeLayer("name: \"fc\" type: \"InnerProduct\" inner_product_param { num_output: 2 }")
        let top = Blob()
        let x = Blob(shape: [2, 3])
        try layer.setUpAndReshape(bottom: [x], top: [top])
        try x.reshape([2, 4])
        let m = errorMessage { try layer.reshape(bottom: [x], top: [top]) }
        #expect(m?.contains("fc") == true)
        let m2 = errorMessage { _ = try runForward("name: \"fc\" type: \"InnerProduct\"", [x]) }
        #expect(m2?.contains("num_output") == true)
    }
}
