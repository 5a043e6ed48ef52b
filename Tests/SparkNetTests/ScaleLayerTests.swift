import Testing
import SparkNet
import SparkNetTestSupport

@Suite struct ScaleLayerTests {
    private func layer(_ body: String) throws -> Layer {
        try Fixtures.layer("name: \"sc\" type: \"Scale\" scale_param { \(body) }")
    }

    /// y = x·s (+ b) by definition: s and b index (outer, d, inner) by d.
    private func reference(_ x: Blob, _ s: [Float], _ b: [Float]?, axis: Int, scaleAxes: Int) -> [Float] {
        let outer = x.count(0, axis), dim = s.count, inner = x.count(from: axis + scaleAxes)
        var y = [Float](repeating: 0, count: x.count)
        for n in 0..<outer {
            for d in 0..<dim {
                for i in 0..<inner {
                    let o = (n * dim + d) * inner + i
                    y[o] = x.data[o] * s[d] + (b?[d] ?? 0)
                }
            }
        }
        return y
    }

    @Test func defaultIsPerChannelScaleFilledWithOnes() throws {
        let l = try layer("")
        let x = Fixtures.gaussianBlob([2, 3, 2, 2], seed: 41)
        let top = Blob()
        try l.setUpAndReshape(bottom: [x], top: [top])
        #expect(l.blobs.count == 1)
        #expect(l.blobs[0].shape == [3])
        #expect(l.blobs[0].dataArray == [1, 1, 1])
        l.blobs[0].setData([2, -1, 0.5])
        try l.forward(bottom: [x], top: [top])
        #expect(top.dataArray == reference(x, [2, -1, 0.5], nil, axis: 1, scaleAxes: 1))
    }

    struct Config: CustomStringConvertible, Sendable {
        var name: String, body: String, shape: [Int], scaleShape: [Int]?   // scaleShape: 2 bottoms
        var blobShapes: [[Int]]
        var axis: Int      // where s applies (canonical; 0 for a scalar s)
        var description: String { name }
    }

    static let configs: [Config] = [
        Config(name: "1 bottom, per channel", body: "filler { type: \"gaussian\" std: 1 }",
               shape: [2, 3, 2, 3], scaleShape: nil, blobShapes: [[3]], axis: 1),
        Config(name: "1 bottom + bias", body: "bias_term: true filler { type: \"gaussian\" std: 1 } bias_filler { type: \"gaussian\" std: 1 }",
               shape: [2, 3, 2, 3], scaleShape: nil, blobShapes: [[3], [3]], axis: 1),
        Config(name: "1 bottom, axis 1 num_axes 2", body: "num_axes: 2 bias_term: true filler { type: \"gaussian\" std: 1 } bias_filler { type: \"gaussian\" std: 1 }",
               shape: [2, 3, 2, 3], scaleShape: nil, blobShapes: [[3, 2], [3, 2]], axis: 1),
        Config(name: "1 bottom, axis 0 num_axes -1 (elementwise)", body: "axis: 0 num_axes: -1 filler { type: \"gaussian\" std: 1 }",
               shape: [2, 3, 2], scaleShape: nil, blobShapes: [[2, 3, 2]], axis: 0),
        Config(name: "1 bottom, num_axes 0 (scalar)", body: "num_axes: 0 bias_term: true filler { type: \"constant\" value: 1.5 } bias_filler { type: \"constant\" value: 0.3 }",
               shape: [2, 3, 2], scaleShape: nil, blobShapes: [[], []], axis: 0),
        Config(name: "1 bottom, negative axis", body: "axis: -1 filler { type: \"gaussian\" std: 1 }",
               shape: [2, 3, 4], scaleShape: nil, blobShapes: [[4]], axis: 2),
        Config(name: "2 bottoms, axis 1", body: "", shape: [2, 3, 2, 3], scaleShape: [3], blobShapes: [], axis: 1),
        Config(name: "2 bottoms, axis 1, (C, H) scale + bias", body: "bias_term: true bias_filler { type: \"gaussian\" std: 1 }",
               shape: [2, 3, 2, 3], scaleShape: [3, 2], blobShapes: [[3, 2]], axis: 1),
        Config(name: "2 bottoms, axis 0, elementwise", body: "axis: 0", shape: [2, 3, 2], scaleShape: [2, 3, 2], blobShapes: [], axis: 0),
        Config(name: "2 bottoms, scalar scale", body: "axis: 2", shape: [2, 3, 2], scaleShape: [], blobShapes: [], axis: 0),
    ]

    private func bottoms(_ c: Config) -> [Blob] {
        var b = [Fixtures.gaussianBlob(c.shape, seed: 42)]
        if let s = c.scaleShape { b.append(Fixtures.gaussianBlob(s, seed: 43)) }
        return b
    }

    @Test(arguments: configs)
    func forwardMatchesDefinition(_ c: Config) throws {
        let l = try layer(c.body)
        let b = bottoms(c)
        let top = Blob()
        try l.setUpAndReshape(bottom: b, top: [top])
        #expect(l.blobs.map(\.shape) == c.blobShapes)
        try l.forward(bottom: b, top: [top])
        let scaleBlob = b.count > 1 ? b[1] : l.blobs[0]
        let biasTerm = c.body.contains("bias_term: true")
        let bias = biasTerm ? l.blobs.last!.dataArray : nil
        let want = reference(b[0], scaleBlob.dataArray, bias, axis: c.axis, scaleAxes: scaleBlob.numAxes)
        for (p, q) in zip(top.dataArray, want) { #expect(abs(p - q) < 1e-6) }
    }

    @Test(arguments: configs)
    func gradientsMatchFiniteDifferences(_ c: Config) throws {
        let b = bottoms(c)
        let l = try layer(c.body)
        let r = try GradientChecker().check(l, bottom: b, top: [Blob()])
        #expect(r.failures.isEmpty, "\(r.failures.prefix(5))")
        let paramCount = l.blobs.reduce(0) { $0 + $1.count }
        #expect(r.probed == b.reduce(0) { $0 + $1.count } + paramCount)
    }

    @Test(arguments: [false, true])
    func inPlaceMatchesOutOfPlace(_ twoBottoms: Bool) throws {
        let body = "bias_term: true filler { type: \"gaussian\" std: 1 } bias_filler { type: \"gaussian\" std: 1 }"
        let a = try layer(body), b = try layer(body)
        let x = Fixtures.gaussianBlob([2, 3, 2, 2], seed: 44)
        let xin = Blob(shape: x.shape, values: x.dataArray)
        let s = Fixtures.gaussianBlob([3], seed: 45)
        let ba = twoBottoms ? [x, s] : [x], bb = twoBottoms ? [xin, s] : [xin]
        let top = Blob()
        try a.setUpAndReshape(bottom: ba, top: [top])
        try b.setUpAndReshape(bottom: bb, top: [xin])
        for (p, q) in zip(a.blobs, b.blobs) { q.setData(p.dataArray) }
        try a.forward(bottom: ba, top: [top])
        try b.forward(bottom: bb, top: [xin])
        #expect(xin.dataArray == top.dataArray)
        let g = Fixtures.gaussianBlob(x.shape, seed: 46)
        top.setDiff(g.dataArray); xin.setDiff(g.dataArray)
        let prop = twoBottoms ? [true, true] : [true]
        a.backward(top: [top], propagateDown: prop, bottom: ba)
        let sDiffA = s.diffArray
        b.backward(top: [xin], propagateDown: prop, bottom: bb)
        for (p, q) in zip(x.diffArray, xin.diffArray) { #expect(abs(p - q) < 1e-6) }
        for (p, q) in zip(a.blobs, b.blobs) {
            for (u, v) in zip(p.diffArray, q.diffArray) { #expect(abs(u - v) < 1e-5) }
        }
        if twoBottoms { for (u, v) in zip(sDiffA, s.diffArray) { #expect(abs(u - v) < 1e-5) } }
    }

    @Test func paramGradientsAccumulateButBottomScaleGradientIsOverwritten() throws {
        let l = try layer("bias_term: true filler { type: \"gaussian\" std: 1 }")
        let x = Fixtures.gaussianBlob([2, 3, 2], seed: 47)
        let top = Blob()
        try l.setUpAndReshape(bottom: [x], top: [top])
        try l.forward(bottom: [x], top: [top])
        copy(top.count, top.data, top.diff)
        l.backward(top: [top], propagateDown: [true], bottom: [x])
        let s1 = l.blobs[0].diffArray, b1 = l.blobs[1].diffArray
        l.backward(top: [top], propagateDown: [true], bottom: [x])
        for (p, q) in zip(l.blobs[0].diffArray, s1) { #expect(abs(p - 2 * q) < 1e-5) }
        for (p, q) in zip(l.blobs[1].diffArray, b1) { #expect(abs(p - 2 * q) < 1e-5) }

        let two = try layer("")
        let s = Fixtures.gaussianBlob([3], seed: 48)
        let t2 = Blob()
        try two.setUpAndReshape(bottom: [x, s], top: [t2])
        try two.forward(bottom: [x, s], top: [t2])
        copy(t2.count, t2.data, t2.diff)
        two.backward(top: [t2], propagateDown: [true, true], bottom: [x, s])
        let once = s.diffArray
        two.backward(top: [t2], propagateDown: [true, true], bottom: [x, s])
        #expect(s.diffArray == once)
    }

    @Test func shapeMismatchesAreRefusedByName() throws {
        func expectError(_ body: String, _ shapes: [[Int]], mentioning word: String) {
            do {
                let l = try Fixtures.layer("name: \"badscale\" type: \"Scale\" scale_param { \(body) }")
                try l.setUpAndReshape(bottom: shapes.map { Blob(shape: $0) }, top: [Blob()])
                Issue.record("expected an error for \(body) \(shapes)")
            } catch let e as SparkNetError {
                #expect(e.message.contains("badscale"))
                #expect(e.message.contains(word), "\(e.message)")
            } catch { Issue.record("unexpected \(error)") }
        }
        expectError("", [[2, 3, 4], [4]], mentioning: "mismatch")
        expectError("axis: 2 num_axes: 2", [[2, 3, 4]], mentioning: "extends past")
        expectError("axis: 3", [[2, 3, 4]], mentioning: "axis")
        expectError("num_axes: -2", [[2, 3, 4]], mentioning: "num_axes")
        expectError("", [[2, 3], [3, 1, 1]], mentioning: "extends past")
    }
}
