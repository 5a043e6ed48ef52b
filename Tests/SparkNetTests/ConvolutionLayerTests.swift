import CaffeProto
import Foundation
import Testing
@testable import SparkNet
import SparkNetTestSupport

/// A direct 7-loop convolution with Caffe's definition (zero padding, stride, dilation, groups).
/// x (N, C, H, W), w (M, C/G, kh, kw), b (M) -> (N, M, oH, oW)
private func naiveConvolution(_ x: [Float], n N: Int, c C: Int, h H: Int, w W: Int,
                              weights w: [Float], bias: [Float]?, m M: Int, group G: Int,
                              kh: Int, kw: Int, ph: Int = 0, pw: Int = 0, sh: Int = 1, sw: Int = 1,
                              dh: Int = 1, dw: Int = 1) -> (out: [Float], oh: Int, ow: Int) {
    let oH = (H + 2 * ph - (dh * (kh - 1) + 1)) / sh + 1
    let oW = (W + 2 * pw - (dw * (kw - 1) + 1)) / sw + 1
    let Cg = C / G, Mg = M / G
    var y = [Float](repeating: 0, count: N * M * oH * oW)
    for n in 0..<N {
        for m in 0..<M {
            let g = m / Mg
            for oh in 0..<oH {
                for ow in 0..<oW {
                    var acc = Double(bias?[m] ?? 0)
                    for cg in 0..<Cg {
                        let c = g * Cg + cg
                        for i in 0..<kh {
                            for j in 0..<kw {
                                let ih = oh * sh - ph + i * dh, iw = ow * sw - pw + j * dw
                                if ih < 0 || ih >= H || iw < 0 || iw >= W { continue }
                                acc += Double(x[((n * C + c) * H + ih) * W + iw])
                                    * Double(w[((m * Cg + cg) * kh + i) * kw + j])
                            }
                        }
                    }
                    y[((n * M + m) * oH + oh) * oW + ow] = Float(acc)
                }
            }
        }
    }
    return (y, oH, oW)
}

private func maxRelativeError(_ a: [Float], _ b: [Float]) -> Float {
    var worst: Float = 0
    for (x, y) in zip(a, b) { worst = max(worst, abs(x - y) / max(1, abs(y))) }
    return worst
}

@Suite struct ConvolutionLayerTests {
    /// One configuration: the conv_param body and the bottom shape.
    struct Config: CustomStringConvertible, Sendable {
        var name: String
        var convParam: String
        var shape: [Int]
        var m: Int, group: Int, kh: Int, kw: Int
        var ph = 0, pw = 0, sh = 1, sw = 1, dh = 1, dw = 1
        var bias = true
        var description: String { name }
    }

    static let configs: [Config] = [
        Config(name: "pad+stride", convParam: "num_output: 4 kernel_size: 3 pad: 1 stride: 2",
               shape: [2, 3, 6, 5], m: 4, group: 1, kh: 3, kw: 3, ph: 1, pw: 1, sh: 2, sw: 2),
        Config(name: "dilation", convParam: "num_output: 3 kernel_size: 3 dilation: 2 pad: 1",
               shape: [2, 2, 7, 6], m: 3, group: 1, kh: 3, kw: 3, ph: 1, pw: 1, dh: 2, dw: 2),
        Config(name: "group 2", convParam: "num_output: 4 kernel_size: 2 group: 2 stride: 1",
               shape: [2, 4, 5, 5], m: 4, group: 2, kh: 2, kw: 2),
        Config(name: "no bias", convParam: "num_output: 3 kernel_size: 3 bias_term: false",
               shape: [2, 2, 5, 5], m: 3, group: 1, kh: 3, kw: 3, bias: false),
        Config(name: "1x1", convParam: "num_output: 5 kernel_size: 1",
               shape: [3, 4, 3, 4], m: 5, group: 1, kh: 1, kw: 1),
        Config(name: "rect h/w", convParam: "num_output: 2 kernel_h: 3 kernel_w: 2 pad_h: 2 pad_w: 0 stride_h: 1 stride_w: 3",
               shape: [2, 2, 5, 7], m: 2, group: 1, kh: 3, kw: 2, ph: 2, pw: 0, sh: 1, sw: 3),
        Config(name: "per-axis lists + dilation + group", convParam: "num_output: 4 kernel_size: 2 kernel_size: 3 pad: 1 pad: 2 stride: 2 stride: 1 dilation: 1 dilation: 2 group: 2",
               shape: [2, 2, 6, 6], m: 4, group: 2, kh: 2, kw: 3, ph: 1, pw: 2, sh: 2, sw: 1, dh: 1, dw: 2),
        // same-size convolutions: the input gradient is a convolution of the padded top gradient
        Config(name: "same pad", convParam: "num_output: 4 kernel_size: 3 pad: 1",
               shape: [2, 3, 6, 5], m: 4, group: 1, kh: 3, kw: 3, ph: 1, pw: 1),
        Config(name: "same pad + dilation + group", convParam: "num_output: 4 kernel_size: 3 pad: 2 dilation: 2 group: 2",
               shape: [2, 4, 7, 6], m: 4, group: 2, kh: 3, kw: 3, ph: 2, pw: 2, dh: 2, dw: 2),
        Config(name: "same pad rect", convParam: "num_output: 3 kernel_h: 5 kernel_w: 3 pad_h: 2 pad_w: 1",
               shape: [2, 2, 6, 7], m: 3, group: 1, kh: 5, kw: 3, ph: 2, pw: 1),
        Config(name: "1x1 no bias", convParam: "num_output: 3 kernel_size: 1 bias_term: false",
               shape: [2, 5, 4, 3], m: 3, group: 1, kh: 1, kw: 1, bias: false),
        Config(name: "1x1 stride 2", convParam: "num_output: 4 kernel_size: 1 stride: 2",
               shape: [2, 3, 5, 6], m: 4, group: 1, kh: 1, kw: 1, sh: 2, sw: 2),
    ]

    private func makeLayer(_ c: Config, extra: String = "") throws -> Layer {
        try Fixtures.layer("""
        name: "conv" type: "Convolution"
        convolution_param { \(c.convParam) \(extra)
          weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "gaussian" std: 0.5 } }
        """)
    }

    @Test(arguments: configs)
    func forwardMatchesNaiveConvolution(_ c: Config) throws {
        let layer = try makeLayer(c)
        let x = Fixtures.gaussianBlob(c.shape, seed: 3)
        let top = Blob()
        try layer.setUpAndReshape(bottom: [x], top: [top])
        #expect(layer.blobs[0].shape == [c.m, c.shape[1] / c.group, c.kh, c.kw])
        #expect(layer.blobs.count == (c.bias ? 2 : 1))
        try layer.forward(bottom: [x], top: [top])
        let ref = naiveConvolution(x.dataArray, n: c.shape[0], c: c.shape[1], h: c.shape[2], w: c.shape[3],
                                   weights: layer.blobs[0].dataArray, bias: c.bias ? layer.blobs[1].dataArray : nil,
                                   m: c.m, group: c.group, kh: c.kh, kw: c.kw, ph: c.ph, pw: c.pw,
                                   sh: c.sh, sw: c.sw, dh: c.dh, dw: c.dw)
        #expect(top.shape == [c.shape[0], c.m, ref.oh, ref.ow])
        #expect(maxRelativeError(top.dataArray, ref.out) < 1e-5)
    }

    @Test(arguments: configs)
    func gradientsMatchFiniteDifferences(_ c: Config) throws {
        let layer = try makeLayer(c)
        let x = Fixtures.gaussianBlob(c.shape, seed: 5)
        let r = try GradientChecker().check(layer, bottom: [x], top: [Blob()])
        #expect(r.failures.isEmpty, "\(r.failures.prefix(5))")
        #expect(r.probed > x.count / 2)
    }

    /// The implicit-GEMM kernels (AVX2) and im2col + sgemm agree on CIFAR- and LeNet-sized
    /// shapes, forward and backward (both input-gradient routes), up to summation order.
    @Test(arguments: [
        ("num_output: 32 kernel_size: 5 pad: 2", [3, 32, 16, 16]),    // CIFAR conv2
        ("num_output: 20 kernel_size: 5", [3, 1, 28, 28]),            // LeNet conv1
        ("num_output: 50 kernel_size: 5", [3, 20, 12, 12]),           // LeNet conv2: col2im route
        ("num_output: 6 kernel_size: 3 pad: 1 stride: 2 group: 2", [2, 4, 9, 11]),
        ("num_output: 7 kernel_size: 3 pad: 1", [2, 3, 5, 21]),        // partial 16-position panels
        ("num_output: 6 kernel_size: 3 pad: 1 group: 2", [2, 4, 5, 16]),
        ("num_output: 5 kernel_size: 3 pad: 2 dilation: 2 bias_term: false", [2, 3, 6, 8]),
        ("num_output: 3 kernel_h: 3 kernel_w: 1 stride_h: 2 stride_w: 1", [40, 2, 9, 8]),  // several image chunks
        ("num_output: 2 kernel_size: 3", [2, 1, 70, 130]),           // > 1024 vectors per image
        ("num_output: 4 kernel_size: 3 stride: 2 dilation: 2", [2, 3, 11, 12]),  // 1-lane pieces
        ("num_output: 300 kernel_size: 2", [1, 2, 5, 7]),            // M > 256: chunks of Wᵀ's columns
        // strided 1×1: the input gradient as a dense product, then spread
        ("num_output: 6 kernel_size: 1 stride: 2 group: 2", [2, 4, 9, 11]),
        ("num_output: 300 kernel_size: 1 stride_h: 3 stride_w: 2 bias_term: false", [2, 3, 7, 10]),
    ])
    func implicitGEMMMatchesIm2col(_ convParam: String, _ shape: [Int]) throws {
        try #require(ConvolutionLayer.kernelsAvailable, "no AVX2/FMA on this CPU")
        var results: [[[Float]]] = []
        for implicit in [true, false] {
            let layer = try Fixtures.layer("""
            name: "conv" type: "Convolution"
            convolution_param { \(convParam)
              weight_filler { type: "gaussian" std: 0.1 } bias_filler { type: "gaussian" std: 0.5 } }
            """) as! ConvolutionLayer
            layer.usesImplicitGEMM = implicit
            // top data, bottom diff, weight diff
            results.append(Array(try Fixtures.forwardBackward(layer, shape: shape).prefix(3)))
        }
        for (a, b) in zip(results[0], results[1]) {
            #expect(a.count == b.count)
            let scale = max(1, b.map { abs($0) }.max() ?? 1)
            let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-5 * scale, "max difference \(worst) (scale \(scale))")
        }
    }

    @Test func handComputedValues() throws {
        // 1 image, 1 channel 3x3 = 1...9, 2x2 kernel of ones, bias 0.5, stride 1, pad 0.
        let layer = try Fixtures.layer("""
        name: "c" type: "Convolution"
        convolution_param { num_output: 1 kernel_size: 2
          weight_filler { type: "constant" value: 1 } bias_filler { type: "constant" value: 0.5 } }
        """)
        let x = Blob(shape: [1, 1, 3, 3], values: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        let top = Blob()
        try layer.setUpAndReshape(bottom: [x], top: [top])
        try layer.forward(bottom: [x], top: [top])
        #expect(top.shape == [1, 1, 2, 2])
        #expect(top.dataArray == [12.5, 16.5, 24.5, 28.5])
        // backward: dW = Σ dy·x-window, db = Σ dy, dx = full correlation with the kernel
        top.setDiff([1, 0, 0, 2])
        layer.backward(top: [top], propagateDown: [true], bottom: [x])
        #expect(layer.blobs[0].diffArray == [11, 14, 20, 23] as [Float])   // [1+10, 2+12, 4+16, 5+18]
        #expect(layer.blobs[1].diffArray == [3])
        #expect(x.diffArray == [1, 1, 0, 1, 3, 2, 0, 2, 2])
    }

    @Test func paramGradientsAccumulateAndPropagateDownIsHonoured() throws {
        let c = Self.configs[2]
        let layer = try makeLayer(c)
        let x = Fixtures.gaussianBlob(c.shape, seed: 9)
        let top = Blob()
        try layer.setUpAndReshape(bottom: [x], top: [top])
        try layer.forward(bottom: [x], top: [top])
        copy(top.count, top.data, top.diff)
        setAll(x.count, 42, x.diff)
        layer.backward(top: [top], propagateDown: [false], bottom: [x])
        #expect(x.diffArray.allSatisfy { $0 == 42 })      // untouched
        let once = layer.blobs[0].diffArray, bOnce = layer.blobs[1].diffArray
        #expect(once.contains { $0 != 0 })
        layer.backward(top: [top], propagateDown: [false], bottom: [x])
        #expect(maxRelativeError(layer.blobs[0].diffArray, once.map { 2 * $0 }) < 1e-6)
        #expect(maxRelativeError(layer.blobs[1].diffArray, bOnce.map { 2 * $0 }) < 1e-6)
        // no param gradient wanted: params unchanged, bottom diff written
        layer.paramPropagateDown = [false, false]
        layer.blobs[0].zeroDiff(); layer.blobs[1].zeroDiff()
        layer.backward(top: [top], propagateDown: [true], bottom: [x])
        #expect(layer.blobs[0].diffArray.allSatisfy { $0 == 0 })
        #expect(layer.blobs[1].diffArray.allSatisfy { $0 == 0 })
        #expect(x.diffArray.contains { $0 != 42 })
    }

    @Test func twoBottomsShareTheWeights() throws {
        let c = Self.configs[0]
        let layer = try makeLayer(c)
        let x0 = Fixtures.gaussianBlob(c.shape, seed: 11), x1 = Fixtures.gaussianBlob(c.shape, seed: 12)
        let t0 = Blob(), t1 = Blob()
        try layer.setUpAndReshape(bottom: [x0, x1], top: [t0, t1])
        try layer.forward(bottom: [x0, x1], top: [t0, t1])
        let ref1 = naiveConvolution(x1.dataArray, n: c.shape[0], c: c.shape[1], h: c.shape[2], w: c.shape[3],
                                    weights: layer.blobs[0].dataArray, bias: layer.blobs[1].dataArray,
                                    m: c.m, group: 1, kh: 3, kw: 3, ph: 1, pw: 1, sh: 2, sw: 2)
        #expect(maxRelativeError(t1.dataArray, ref1.out) < 1e-5)
        let r = try GradientChecker(maxProbesPerBlob: 60).check(layer, bottom: [x0, x1], top: [t0, t1])
        #expect(r.failures.isEmpty, "\(r.failures.prefix(5))")
        #expect(r.probed > 100)
    }

    @Test func channelAxisTwoWithFiveAxes() throws {
        // axis 2 of (2, 3, C=2, 4, 4): the first two axes are independent images.
        let layer = try Fixtures.layer("""
        name: "c" type: "Convolution"
        convolution_param { num_output: 2 kernel_size: 3 pad: 1 axis: 2
          weight_filler { type: "gaussian" std: 0.5 } }
        """)
        let x = Fixtures.gaussianBlob([2, 3, 2, 4, 4], seed: 2)
        let top = Blob()
        try layer.setUpAndReshape(bottom: [x], top: [top])
        try layer.forward(bottom: [x], top: [top])
        #expect(top.shape == [2, 3, 2, 4, 4])
        let ref = naiveConvolution(x.dataArray, n: 6, c: 2, h: 4, w: 4, weights: layer.blobs[0].dataArray,
                                   bias: layer.blobs[1].dataArray, m: 2, group: 1, kh: 3, kw: 3, ph: 1, pw: 1)
        #expect(maxRelativeError(top.dataArray, ref.out) < 1e-5)
    }

    @Test func badConfigurationsAreRefusedByName() throws {
        func expectError(_ convParam: String, shape: [Int] = [1, 4, 5, 5], mentioning word: String) {
            do {
                let layer = try Fixtures.layer("name: \"badconv\" type: \"Convolution\" convolution_param { \(convParam) }")
                try layer.setUpAndReshape(bottom: [Blob(shape: shape)], top: [Blob()])
                Issue.record("expected an error for \(convParam) on \(shape)")
            } catch let e as SparkNetError {
                #expect(e.message.contains("badconv"))
                #expect(e.message.contains(word), "\(e.message)")
            } catch { Issue.record("unexpected \(error)") }
        }
        expectError("num_output: 2 kernel_size: 3", shape: [1, 4, 5, 5, 5], mentioning: "2-D")
        expectError("num_output: 2 kernel_size: 3 group: 3", mentioning: "group")
        expectError("num_output: 3 kernel_size: 3 group: 2", mentioning: "group")
        expectError("num_output: 2", mentioning: "kernel_size")
        expectError("num_output: 2 kernel_size: 3 kernel_h: 3 kernel_w: 3", mentioning: "kernel")
        expectError("num_output: 2 kernel_size: 7", mentioning: "does not fit")
        expectError("kernel_size: 3", mentioning: "num_output")
        expectError("num_output: 2 kernel_size: 3 stride: 0", mentioning: "stride")
    }
}

@Suite struct Im2colTests {
    static let geometries: [ConvGeometry] = [
        ConvGeometry(channels: 2, height: 5, width: 6, kernelH: 3, kernelW: 3, padH: 1, padW: 1, strideH: 2, strideW: 2),
        ConvGeometry(channels: 3, height: 7, width: 5, kernelH: 2, kernelW: 3, padH: 2, padW: 0, strideH: 1, strideW: 1, dilationH: 2, dilationW: 1),
        ConvGeometry(channels: 1, height: 4, width: 4, kernelH: 1, kernelW: 1),
        ConvGeometry(channels: 2, height: 6, width: 7, kernelH: 3, kernelW: 2, padH: 0, padW: 1, strideH: 3, strideW: 2, dilationH: 1, dilationW: 3),
        ConvGeometry(channels: 1, height: 3, width: 3, kernelH: 3, kernelW: 3, padH: 2, padW: 2, strideH: 1, strideW: 1),
        // long rows (memcpy path) and 1x1 with padding (SIMD8 + SIMD4 + scalar tail spans)
        ConvGeometry(channels: 1, height: 3, width: 70, kernelH: 2, kernelW: 3, padH: 1, padW: 1),
        ConvGeometry(channels: 2, height: 4, width: 13, kernelH: 1, kernelW: 1, padH: 1, padW: 1),
        // unpadded, unit stride: the interior-tap fast path, 8-wide rows (LeNet's conv2) and 5-wide
        ConvGeometry(channels: 2, height: 12, width: 12, kernelH: 5, kernelW: 5),
        ConvGeometry(channels: 2, height: 6, width: 7, kernelH: 3, kernelW: 3, strideH: 2),
        ConvGeometry(channels: 1, height: 5, width: 20, kernelH: 5, kernelW: 5),       // 16-wide rows
        ConvGeometry(channels: 2, height: 4, width: 34, kernelH: 3, kernelW: 3),       // 32-wide rows
    ]

    @Test(arguments: geometries)
    func im2colMatchesDefinitionAndCol2imIsItsAdjoint(_ g: ConvGeometry) {
        let batch = 3
        let x = Fixtures.gaussianBlob([batch, g.channels, g.height, g.width], seed: 21)
        let n = g.columnCount(batch: batch)
        let col = UnsafeMutablePointer<Float>.allocate(capacity: n)
        defer { col.deallocate() }
        col.initialize(repeating: .nan, count: n)          // every element must be written
        im2col(x.data, batch: batch, g, col)
        let oH = g.outputH, oW = g.outputW, ld = batch * oH * oW
        var mismatches = 0
        for c in 0..<g.channels {
            for i in 0..<g.kernelH {
                for j in 0..<g.kernelW {
                    let row = (c * g.kernelH + i) * g.kernelW + j
                    for b in 0..<batch {
                        for oh in 0..<oH {
                            for ow in 0..<oW {
                                let ih = oh * g.strideH - g.padH + i * g.dilationH
                                let iw = ow * g.strideW - g.padW + j * g.dilationW
                                let inside = ih >= 0 && ih < g.height && iw >= 0 && iw < g.width
                                let want: Float = inside ? x.data[((b * g.channels + c) * g.height + ih) * g.width + iw] : 0
                                if col[row * ld + (b * oH + oh) * oW + ow] != want { mismatches += 1 }
                            }
                        }
                    }
                }
            }
        }
        #expect(mismatches == 0)

        // <col2im(c), x> == <c, im2col(x)>
        let c = Fixtures.gaussianBlob([n], seed: 22)
        let back = Blob(shape: x.shape)
        setAll(back.count, 99, back.data)                 // col2im overwrites
        col2im(c.data, batch: batch, g, back.data)
        var lhs = 0.0, rhs = 0.0
        for k in 0..<x.count { lhs += Double(back.data[k]) * Double(x.data[k]) }
        for k in 0..<n { rhs += Double(c.data[k]) * Double(col[k]) }
        #expect(abs(lhs - rhs) < 1e-3 * max(1, abs(rhs)))
    }
}

/// The AVX-512 and AVX2 kernel paths compute each output with the same FMAs in the same order, so
/// they must agree bit for bit, forward and backward, on residual-net shapes (16–64 channels,
/// 3×3 and 1×1, stride 1 and 2) and on shapes whose rows split into uneven blocks. Runs every path
/// this CPU has (on a CPU without AVX-512 both runs take AVX2, and the test still passes).
/// A Convolution layer with `convParam` and Gaussian fillers (the kernel-path suites' layer).
private func convLayer(_ convParam: String) throws -> ConvolutionLayer {
    try Fixtures.layer("""
    name: "conv" type: "Convolution" convolution_param { \(convParam) \(WinogradTests.conv) }
    """) as! ConvolutionLayer
}

/// Two runs' outputs agree value by value within `tolerance` of each output's largest value,
/// and none of the reference outputs is all zeros.
private func expectAgree(_ results: [[Float]], _ reference: [[Float]], tolerance: Float) {
    for (a, b) in zip(results, reference) {
        #expect(a.count == b.count && b.contains { $0 != 0 })
        let scale = max(1, b.map { abs($0) }.max() ?? 1)
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= tolerance * scale, "max difference \(worst) (scale \(scale))")
    }
}

/// Winograd F(2×2, 3×3) (Sources/CKernels/winograd.c) against the direct kernels on the same
/// layer: forward, input gradient (the transposed convolution) and weight gradient, and a
/// finite-difference check through it.
@Suite struct WinogradTests {
    static let conv = "weight_filler { type: \"gaussian\" std: 0.1 } bias_filler { type: \"gaussian\" std: 0.5 }"

    private func layer(_ convParam: String, winograd: Bool) throws -> ConvolutionLayer {
        let l = try convLayer(convParam)
        l.allowsWinograd = winograd
        return l
    }

    @Test(arguments: [
        ("num_output: 16 kernel_size: 3 pad: 1 bias_term: false", [3, 16, 32, 32], true, true),  // ResNet-20 stage 1
        ("num_output: 32 kernel_size: 3 pad: 1", [2, 32, 16, 16], true, true),                   // stage 2, bias
        ("num_output: 8 kernel_size: 3 pad: 1", [2, 8, 9, 14], true, true),       // odd height, 7 tiles in a row of 8
        ("num_output: 8 kernel_size: 3 pad: 1", [2, 8, 28, 30], true, true),      // 14 and 15 tiles: partial vectors
        ("num_output: 8 kernel_size: 3", [2, 8, 10, 18], true, true),             // pad 0: dx as the adjoint
        ("num_output: 12 kernel_size: 3 pad: 2", [2, 8, 6, 14], true, true),      // pad 2: the input gradient pads 0
        ("num_output: 10 kernel_size: 3 pad: 1", [2, 8, 16, 16], true, true),     // 10 outputs run as 12
        ("num_output: 64 kernel_size: 3 pad: 1", [2, 64, 8, 8], true, true),      // stage 3: two tile rows per vector
        ("num_output: 8 kernel_size: 3 pad: 1", [3, 8, 5, 7], true, true),       // paired, odd height and width
        ("num_output: 8 kernel_size: 3 pad: 1", [2, 8, 10, 10], false, false),   // 5 tiles a row: direct
        ("num_output: 16 kernel_size: 3 pad: 1", [2, 3, 16, 16], false, true),   // 3 inputs: forward direct; dx as 4
        ("num_output: 16 kernel_size: 3 pad: 1 group: 2", [2, 16, 13, 13], true, true),  // groups, AlexNet's 13²
        ("num_output: 16 kernel_size: 3 pad: 1 stride: 2", [2, 16, 32, 32], false, false),
        ("num_output: 32 kernel_size: 5 pad: 2", [2, 32, 16, 16], true, true),     // 5×5: CIFAR-10 quick conv2
        ("num_output: 64 kernel_size: 5 pad: 2 bias_term: false", [2, 32, 8, 8], true, true),  // conv3, paired
        ("num_output: 8 kernel_size: 5 pad: 4", [2, 8, 5, 27], true, true),       // pad 4: the input gradient pads 0
        ("num_output: 8 kernel_size: 5", [2, 8, 11, 18], true, true),             // pad 0: adjoint, paired odd rows
        ("num_output: 16 kernel_size: 5 pad: 2 group: 2", [2, 16, 17, 16], true, true), // groups, odd height
        ("num_output: 50 kernel_size: 5", [2, 20, 12, 12], true, true),           // LeNet conv2: 50 outputs as 52
        ("num_output: 12 kernel_size: 5 pad: 1", [2, 9, 13, 18], true, true),     // adjoint with pad 1, 9 inputs as 12
        ("num_output: 16 kernel_size: 3 group: 2", [2, 16, 9, 18], true, true),   // adjoint per group
        ("num_output: 6 kernel_size: 3", [9, 8, 6, 18], true, true),              // 6 outputs: a last block of 2 rows
    ])
    func matchesTheDirectKernels(_ convParam: String, _ shape: [Int], _ forward: Bool, _ backward: Bool) throws {
        try #require(ConvolutionLayer.kernelsAvailable, "no AVX2/FMA on this CPU")
        try #require(getenv("SPARKNET_WINOGRAD").map { String(cString: $0) } != "0", "Winograd turned off")
        var results: [[[Float]]] = []
        for winograd in [true, false] {
            let l = try layer(convParam, winograd: winograd)
            results.append(try Fixtures.forwardBackward(l, shape: shape))
            let paths = l.winogradPaths
            #expect(paths.forward == (winograd && forward) && paths.backward == (winograd && backward),
                    "\(paths)")
        }
        expectAgree(results[0], results[1], tolerance: 2e-5)
    }

    @Test(arguments: [
        ("num_output: 8 kernel_size: 3 pad: 1", [2, 8, 5, 14]),
        ("num_output: 8 kernel_size: 3 pad: 1 bias_term: false", [1, 8, 4, 16]),
        ("num_output: 8 kernel_size: 3 pad: 1", [2, 8, 3, 7]),                   // paired
        ("num_output: 16 kernel_size: 3 pad: 1 group: 2", [1, 16, 4, 8]),        // groups
        ("num_output: 8 kernel_size: 5 pad: 2", [2, 8, 4, 14]),                  // 5×5
        ("num_output: 10 kernel_size: 5 pad: 2", [1, 8, 6, 8]),                  // 10 outputs as 12
        ("num_output: 6 kernel_size: 5", [2, 8, 8, 12]),                         // adjoint, 6 outputs (F(4×4, 5×5))
        ("num_output: 8 kernel_size: 5 pad: 2", [1, 8, 8, 16]),                  // F(4×4, 5×5) forward and transposed
        ("num_output: 8 kernel_size: 3", [1, 8, 6, 18]),                         // adjoint, 3×3
    ])
    func gradientsMatchFiniteDifferences(_ convParam: String, _ shape: [Int]) throws {
        try #require(ConvolutionLayer.kernelsAvailable, "no AVX2/FMA on this CPU")
        let l = try layer(convParam, winograd: true)
        let x = Fixtures.gaussianBlob(shape, seed: 5)
        // The objective Σ top²/2 is quadratic in the input and the weights, so centred
        // differences are exact at any step: 0.1 rather than Caffe's 0.01 keeps Winograd's
        // rounding (larger for F(2×2, 5×5), whose transforms hold 4, 5 and 1/24) from swamping
        // the difference.
        let r = try GradientChecker(stepsize: 1e-1).check(l, bottom: [x], top: [Blob()])
        #expect(l.winogradPaths == (true, true) || getenv("SPARKNET_WINOGRAD") != nil)
        #expect(r.failures.isEmpty, "\(r.failures.prefix(5))")
        #expect(r.probed > x.count / 2)
    }

    /// F(4×4, 5×5) (groups of 8 images, one per lane) where a pass's outputs tile by 4, against
    /// F(2×2, 5×5) and the direct kernels: 19 images make weight-gradient chunks of 16 and 3
    /// (groups of 8, 8 and 3), 9 images groups of 8 and 1; with pad 3 the transposed
    /// convolution's 6 × 14 outputs keep F(2×2, 5×5); with pad 1 the adjoint crops its padding.
    @Test(arguments: [
        ("num_output: 50 kernel_size: 5", [19, 20, 12, 12], ["forward", "adjoint"]),            // LeNet conv2
        ("num_output: 12 kernel_size: 5 pad: 2", [9, 8, 16, 16], ["forward", "transposed"]),    // CIFAR-10 quick
        ("num_output: 16 kernel_size: 5 pad: 2 group: 2 bias_term: false", [3, 16, 12, 8], ["forward", "transposed"]),
        ("num_output: 10 kernel_size: 5 pad: 3", [2, 8, 6, 14], ["forward"]),
        ("num_output: 10 kernel_size: 5 pad: 1", [2, 8, 10, 10], ["forward", "adjoint"]),
        ("num_output: 8 kernel_size: 5 pad: 2", [2, 8, 14, 16], [String]()),                   // 14 rows: no
    ])
    func winograd4MatchesF2AndTheDirectKernels(_ convParam: String, _ shape: [Int], _ passes: [String]) throws {
        try #require(ConvolutionLayer.kernelsAvailable, "no AVX2/FMA on this CPU")
        try #require(getenv("SPARKNET_WINOGRAD").map { String(cString: $0) } != "0", "Winograd turned off")
        var results: [[[Float]]] = []
        for (winograd, four) in [(true, true), (true, false), (false, false)] {
            let l = try layer(convParam, winograd: winograd)
            l.allowsWinograd4 = four
            results.append(try Fixtures.forwardBackward(l, shape: shape))
            #expect(l.winograd4Passes == (four ? Set(passes) : []), "\(l.winograd4Passes)")
        }
        expectAgree(results[0], results[2], tolerance: 2e-5)
        expectAgree(results[0], results[1], tolerance: 2e-5)
        #expect(passes.isEmpty || results[0][0] != results[1][0])   // a different route
    }

    /// The input gradient takes the adjoint only where the transposed convolution does not fit:
    /// LeNet's conv2 (pad 0: its transposed convolution would pad 8² to 16²) and a row of 9
    /// tiles, not ResNet's pad-1 layers, and on a 5×5 chunk of at most 8 images the weight
    /// gradient still sums every image (the weight gradients above cover 2 images).
    @Test func adjointWhereTheTransposeDoesNotFit() throws {
        try #require(ConvolutionLayer.kernelsAvailable, "no AVX2/FMA on this CPU")
        try #require(getenv("SPARKNET_WINOGRAD").map { String(cString: $0) } != "0", "Winograd turned off")
        for (param, shape, adjoint) in [("num_output: 50 kernel_size: 5", [11, 20, 12, 12], true),
                                        ("num_output: 8 kernel_size: 3", [2, 8, 6, 18], true),
                                        ("num_output: 16 kernel_size: 3 pad: 1", [2, 16, 8, 8], false)] {
            let l = try layer(param, winograd: true)
            let with = try Fixtures.forwardBackward(l, shape: shape)
            #expect(l.winogradAdjointPath == adjoint && l.winogradPaths == (true, true), "\(param)")
            let d = try layer(param, winograd: false)
            let without = try Fixtures.forwardBackward(d, shape: shape)
            #expect(!d.winogradAdjointPath)
            expectAgree(with, without, tolerance: 2e-5)
        }
    }
}

/// Strided stems on few channels run as stride-1 convolutions of their phase planes
/// (ConvolutionPhases): against im2col + sgemm on the same layer (forward, input gradient, weight
/// and bias gradients), and a finite-difference check through the phase path.
@Suite struct ConvolutionPhaseTests {
    private func layer(_ convParam: String, implicit: Bool) throws -> ConvolutionLayer {
        let l = try convLayer(convParam)
        l.usesImplicitGEMM = implicit
        return l
    }

    @Test(arguments: [
        ("num_output: 16 kernel_size: 7 pad: 3 stride: 2", [2, 3, 32, 32], true),   // the ResNet stem, outW 16
        ("num_output: 8 kernel_size: 11 stride: 4", [2, 3, 35, 35], true),         // AlexNet's conv1, outW 7
        ("num_output: 5 kernel_size: 3 pad: 1 stride: 2", [2, 3, 9, 11], true),   // odd sizes, zero taps
        ("num_output: 4 kernel_size: 4 pad: 1 stride: 2 bias_term: false", [2, 1, 14, 14], true), // no zero taps
        ("num_output: 6 kernel_h: 5 kernel_w: 3 pad_h: 2 pad_w: 0 stride: 2", [2, 3, 17, 33], true), // rectangular
        ("num_output: 20 kernel_size: 7 pad: 3 stride: 2", [3, 4, 16, 32], true),  // 20 rows: 16 + 4
        ("num_output: 8 kernel_size: 3 pad: 1 stride: 2", [2, 8, 16, 16], false),  // 8 channels: not split
        ("num_output: 8 kernel_size: 3 stride_h: 2 stride_w: 1", [2, 3, 9, 9], false),  // unequal strides
        ("num_output: 8 kernel_size: 1 stride: 2", [2, 3, 8, 8], false),           // the kernel skips inputs
        ("num_output: 8 kernel_size: 3 stride: 2 dilation: 2", [2, 3, 11, 11], false),
        ("num_output: 8 kernel_size: 3 stride: 2 group: 2", [2, 4, 9, 9], false),
    ])
    func matchesIm2col(_ convParam: String, _ shape: [Int], _ split: Bool) throws {
        try #require(ConvolutionLayer.kernelsAvailable, "no AVX2/FMA on this CPU")
        var results: [[[Float]]] = []
        for implicit in [true, false] {
            let l = try layer(convParam, implicit: implicit)
            results.append(try Fixtures.forwardBackward(l, shape: shape))
            #expect(l.phasePath == (implicit && split))
        }
        #expect(results[0].count == results[1].count)
        expectAgree(results[0], results[1], tolerance: 1e-5)
    }

    @Test(arguments: [
        ("num_output: 4 kernel_size: 5 pad: 2 stride: 2", [2, 3, 11, 15]),        // outW 8: the gradient read in place
        ("num_output: 3 kernel_size: 3 pad: 1 stride: 2 bias_term: false", [2, 2, 7, 6]),  // outW 3: widened to 8
    ])
    func gradientsMatchFiniteDifferences(_ convParam: String, _ shape: [Int]) throws {
        try #require(ConvolutionLayer.kernelsAvailable, "no AVX2/FMA on this CPU")
        let l = try layer(convParam, implicit: true)
        let x = Fixtures.gaussianBlob(shape, seed: 5)
        let r = try GradientChecker().check(l, bottom: [x], top: [Blob()])
        #expect(l.phasePath)
        #expect(r.failures.isEmpty, "\(r.failures.prefix(5))")
        #expect(r.probed > x.count / 2)
    }

    /// The split itself against its definition: X[c, p, q][r][t] = xpad[c][s·r + p][s·t + q].
    @Test func splitMatchesItsDefinition() throws {
        let g = ConvGeometry(channels: 2, height: 7, width: 9, kernelH: 5, kernelW: 3, padH: 2, padW: 1,
                             strideH: 2, strideW: 2)
        let ph = try #require(ConvolutionPhases(g, group: 1))
        #expect(ph.phaseChannels == 8 && ph.phaseKernelH == 3 && ph.phaseKernelW == 2)
        #expect(ph.phaseHeight == g.outputH + 2 && ph.phaseWidth == g.outputW + 1)
        let x = (0..<(2 * 7 * 9)).map { Float($0 + 1) }
        var out = [Float](repeating: .nan, count: ph.imageFloats)
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { ph.split(xp.baseAddress!, into: $0.baseAddress!, width: ph.phaseWidth) }
        }
        var checked = 0
        for c in 0..<2 { for p in 0..<2 { for q in 0..<2 {
            for r in 0..<ph.phaseHeight { for t in 0..<ph.phaseWidth {
                let (h, w) = (2 * r + p - 2, 2 * t + q - 1)
                let want: Float = h >= 0 && h < 7 && w >= 0 && w < 9 ? x[(c * 7 + h) * 9 + w] : 0
                #expect(out[(((c * 2 + p) * 2 + q) * ph.phaseHeight + r) * ph.phaseWidth + t] == want)
                checked += 1
            } }
        } } }
        #expect(checked == ph.imageFloats)
    }
}

@Suite(.serialized) struct KernelPathTests {
    @Test(arguments: [
        ("num_output: 16 kernel_size: 3 pad: 1 bias_term: false", [4, 16, 32, 32]),   // ResNet-20 stage 1
        ("num_output: 32 kernel_size: 3 pad: 1 stride: 2 bias_term: false", [4, 16, 32, 32]),
        ("num_output: 64 kernel_size: 3 pad: 1 bias_term: false", [4, 64, 8, 8]),     // stage 3
        ("num_output: 12 kernel_size: 3 pad: 1", [2, 8, 14, 14]),      // Winograd: 8 + 4 rows, 8-tile remainders
        ("num_output: 64 kernel_size: 1 stride: 2 bias_term: false", [4, 32, 16, 16]), // projection
        ("num_output: 50 kernel_size: 5", [3, 20, 12, 12]),                           // Winograd 5×5, 52 rows
        ("num_output: 32 kernel_size: 5 pad: 2", [2, 32, 16, 16]),                    // Winograd 5×5, 8-tile rows
        ("num_output: 20 kernel_size: 5", [3, 1, 28, 28]),                            // 10,10
        ("num_output: 7 kernel_size: 3 pad: 1", [2, 3, 5, 21]),                       // partial panels
        ("num_output: 300 kernel_size: 2", [1, 2, 5, 7]),
        ("num_output: 71 kernel_size: 1 bias_term: false", [2, 13, 16, 16]),  // weight gradient: 6 × 4 blocks, 5 × 1 remainders
        ("num_output: 13 kernel_size: 5 pad: 2", [2, 11, 8, 8]),       // Winograd weight gradient: 6 + 6 + 1 rows, 4 + 4 + 3 columns
        ("num_output: 11 kernel_size: 3 pad: 1", [2, 9, 16, 16]),      // 6 + 5 rows, 4 + 4 + 1 columns
        ("num_output: 20 kernel_size: 7 pad: 3 stride: 2", [2, 3, 32, 32]),          // the stem's real taps on phase planes
        ("num_output: 40 kernel_size: 1 stride: 2", [2, 24, 16, 16]),                 // strided 1×1: dense input gradient, spread
    ])
    func avx512MatchesAVX2BitForBit(_ convParam: String, _ shape: [Int]) throws {
        try #require(ConvolutionLayer.kernelsAvailable, "no AVX2/FMA on this CPU")
        defer { ConvolutionLayer.forceKernelPath(nil) }
        var results: [String: [[Float]]] = [:]
        for path in ["avx512", "avx2"] {
            let ran = ConvolutionLayer.forceKernelPath(path)
            let layer = try Fixtures.layer("""
            name: "conv" type: "Convolution"
            convolution_param { \(convParam)
              weight_filler { type: "gaussian" std: 0.1 } bias_filler { type: "gaussian" std: 0.5 } }
            """) as! ConvolutionLayer
            results[path] = Array(try Fixtures.forwardBackward(layer, shape: shape).prefix(3))
            #expect(ran == path || (path == "avx512" && ran == "avx2"))
        }
        let a = try #require(results["avx512"]), b = try #require(results["avx2"])
        for (x, y) in zip(a, b) {
            #expect(x.count == y.count && x.contains { $0 != 0 })
            #expect(x.map(\.bitPattern) == y.map(\.bitPattern))
        }
    }

    /// The fused SGD step (`ck_sgd_step`: decay, momentum, weights) gives the same bits on AVX-512
    /// and AVX2, with and without weight decay and with a pending update scale (the model
    /// average's 1/K), and agrees with the solver's separate passes (the portable path).
    @Test(arguments: [("momentum: 0.9 weight_decay: 0.001", Float(1)), ("momentum: 0.9", Float(1)),
                      ("momentum: 0.8 weight_decay: 0.01", Float(0.5))])
    func sgdStepMatchesAcrossPaths(_ rule: String, _ scale: Float) throws {
        defer { ConvolutionLayer.forceKernelPath(nil) }
        let net = """
            name: "wide"
            layer { name: "in" type: "Input" top: "x" top: "t"
                    input_param { shape { dim: 4 dim: 40 } shape { dim: 4 dim: 37 } } }
            layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y"
                    inner_product_param { num_output: 37 weight_filler { type: "gaussian" std: 0.05 }
                                          bias_filler { type: "gaussian" std: 0.5 } } }
            layer { name: "loss" type: "EuclideanLoss" bottom: "y" bottom: "t" top: "loss" }
            """
        var results: [String: [Float]] = [:]
        for path in ["avx512", "avx2", "portable"] {
            ConvolutionLayer.forceKernelPath(path)
            let text = "net_param { \(net) } lr_policy: \"fixed\" base_lr: 0.05 max_iter: 10 display: 0 "
                + "random_seed: 3 snapshot_after_train: false type: \"SGD\" " + rule
            let solver = try Solver(param: try Caffe_SolverParameter(textFormatString: text), context: NetContext())
            for (i, blob) in solver.net.blobs.enumerated() where ["x", "t"].contains(solver.net.blobNames[i]) {
                for j in 0..<blob.count { blob.data[j] = Float(sin(Double(j) * 0.37 + Double(i))) }
            }
            for _ in 0..<3 {
                solver.nextUpdateScale = scale
                try solver.step(1)
            }
            results[path] = Array(solver.net.weights) + Array(solver.net.gradients)
        }
        let a = try #require(results["avx512"]), b = try #require(results["avx2"]), c = try #require(results["portable"])
        #expect(a.count == 40 * 37 + 37 + 1480 + 37 && a.contains { $0 != 0 })
        #expect(a.map(\.bitPattern) == b.map(\.bitPattern))
        let worst = zip(a, c).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 1
        #expect(worst < 1e-5, "fused against separate passes: \(worst)")
    }

    @Test func pathNamesAndForcing() {
        defer { ConvolutionLayer.forceKernelPath(nil) }
        let start = ConvolutionLayer.kernelPath
        #expect(["avx512", "avx2", "portable"].contains(start))
        #expect(ConvolutionLayer.forceKernelPath("portable") == "portable")
        #expect(ConvolutionLayer.kernelPath == "portable")
        if ConvolutionLayer.kernelsAvailable {
            #expect(ConvolutionLayer.forceKernelPath("avx2") == "avx2")
        }
        #expect(ConvolutionLayer.forceKernelPath(nil) == start)
    }
}
