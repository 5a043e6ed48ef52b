import CKernels
import CaffeProto
import Foundation

/// Caffe's Convolution layer for two spatial axes: `y = W ∗ x + b`, with zero padding, stride,
/// dilation and groups.
///
/// Blobs: weights (num_output, C/group, kh, kw) and, with `bias_term`, bias (num_output).
/// Several bottoms are allowed (same shape); bottom i gives top i with the same weights.
///
/// Unlike Caffe (one im2col + gemm per image), the minibatch is unrolled a chunk of images at a
/// time into one column matrix (C·kh·kw, chunk·outH·outW) in the shared workspace, so each group
/// is one sgemm per chunk. The chunk is as many images as fit `columnBudget` floats (at least
/// one): measured on LeNet and CIFAR-10 quick, sgemm runs as fast or faster on an L2-sized
/// column block than on the whole batch's, and the workspace stays small (the memory target).
/// The result (M, chunk·outHW) is then scattered to the top's (N, M, outHW) layout with the bias.
///
/// On CPUs with AVX2/FMA (AVX-512 where present) the kernels of Sources/CKernels take over
/// (`usesImplicitGEMM`; `kernelPath` says which):
/// - forward: `ck_conv2d` packs the taps straight from the (padded) image and writes each output
///   plane with its bias (no column matrix);
/// - weight and bias gradient (column stride 1, outW a multiple of 8): `ck_conv2d_weight_grad`
///   reads images and top gradients in place;
/// - input gradient: for stride-1 "same-size" convolutions, a convolution of the padded top
///   gradient with the flipped, transposed kernel (no col2im); otherwise dcol = Wᵀ·dy per image
///   by `ck_conv2d_input_grad`, which adds each tile straight into the image (col2im fused in).
/// - Winograd F(2×2, 3×3) and F(2×2, 5×5) (`winogradFits`) for all three, the input gradient as
///   a transposed convolution or, where that does not fit, as the forward pass's adjoint.
/// Everything else keeps the im2col + sgemm path above. docs/performance.md has the measurements.
public final class ConvolutionLayer: Layer {
    /// Whether this CPU runs the AVX2/FMA implicit-GEMM kernels (and SPARKNET_CPU=portable does
    /// not turn them off).
    public static let kernelsAvailable = ck_available() != 0

    /// The kernels' instruction set, chosen once from the CPU's features: "avx512", "avx2", or
    /// "portable" (im2col + OpenBLAS). SPARKNET_CPU=avx2 or portable forces a lower one.
    public static var kernelPath: String { Self.pathNames[Int(ck_isa())] }
    static let pathNames = ["portable", "avx2", "avx512"]

    /// Tests: runs the kernels on `path` (at most what the CPU runs; nil: as chosen at start-up)
    /// and returns the path in effect. Call only while no convolution runs.
    @discardableResult
    public static func forceKernelPath(_ path: String?) -> String {
        let level = path.flatMap { pathNames.firstIndex(of: $0) } ?? -1
        return pathNames[Int(ck_force_isa(Int32(level)))]
    }
    /// Whether this layer uses them (tests turn it off to check both paths against each other);
    /// stays false where the CPU lacks them.
    public var usesImplicitGEMM = ConvolutionLayer.kernelsAvailable {
        didSet { usesImplicitGEMM = usesImplicitGEMM && Self.kernelsAvailable }
    }
    override public var minBottoms: Int? { 1 }
    override public var minTops: Int? { 1 }
    override public var equalBottomTopCount: Bool { true }

    private var geometry = ConvGeometry(channels: 0, height: 0, width: 0, kernelH: 1, kernelW: 1)
    private var channelAxis = 1
    private var numOutput = 0     // M
    private var group = 1
    private var biasTerm = true
    private var num = 0           // N: product of the axes before the channel axis
    private var kernelDim = 0     // (C/group)·kh·kw: rows of one group's column block
    private var chunk = 1         // images unrolled at once
    /// With zero padding: the same convolution seen on explicitly padded images (no padding
    /// left). im2col then only copies interior rows: every tap of a padded net (CIFAR-10 quick,
    /// pad 2) takes the fast path, for one extra copy of the (small) input chunk.
    private var padded: ConvGeometry? = nil
    /// Floats of one padded image, and of one chunk of them (0 without padding).
    private var paddedImage: Int { padded.map { $0.channels * $0.height * $0.width } ?? 0 }
    /// Per-thread scratch of the fused input gradient: a padded image, or a strided 1×1
    /// convolution's dense gradient (C, outH, outW).
    private var inputGradImage: Int {
        max(paddedImage, stridedPointwise ? geometry.channels * geometry.outputSpatial : 0)
    }
    private var paddedCount: Int { paddedImage * chunk }

    /// Floats of one chunk's column matrix (about one core's L2 cache).
    static let columnBudget = 1 << 18

    /// Input gradient as a convolution of the top gradient (padded by `transposedPad`), when
    /// stride is 1 and that convolution does not work much on zeros (the unpadded LeNet case
    /// would do 2.25× the work: there col2im stays).
    private var implicitBackward = false
    private var transposedPad = (h: 0, w: 0)
    /// Weight gradient read straight from the images (column stride 1, outW a multiple of 8),
    /// `weightGradChunk` padded images at a time.
    private var implicitWeightGrad = false
    private var weightGradChunk = 1
    /// Floats of the kernels' scratch: a padded input image (forward) or a padded top-gradient
    /// image (input gradient) per thread, `threadScratch` floats apart, or one chunk of padded
    /// images (weight gradient).
    private var implicitScratch = 0
    private var threadScratch = 0
    /// Threads the kernels may use (`Parallel.threads` when the workspace was reserved).
    private var kernelThreads = 1
    /// Winograd F(2×2, 3×3) or F(2×2, 5×5) for the forward pass and for the input gradient (the
    /// transposed convolution), where `winogradFits` holds for that direction.
    private var winogradForward = false
    private var winogradBackward = false
    /// The input gradient as the Winograd forward pass run backwards (`ck_wino_conv_adjoint`), where
    /// the forward pass runs Winograd and the transposed convolution does not: LeNet's conv2
    /// (pad 0, 8² → 12²), whose transposed convolution would compute 12² outputs from a 16² padded
    /// top gradient, 2.25× the real multiplies (backward 2.7 against 4.4 ms with the direct kernel).
    private var winogradAdjoint = false
    /// Which of the three Winograd passes (forward, transposed, adjoint) run F(4×4, 5×5)
    /// (`ck_wino4_*`) instead of F(2×2, 5×5): 5×5 kernels whose outputs tile by 4, in groups of 8
    /// images. LeNet's conv2 forward 0.95 → 0.57 ms, its adjoint 1.19 → 0.55 (C harness).
    private var winograd4 = Set<WinogradPass>()
    /// The weight gradient runs Winograd where the forward pass does. `winogradChunk` images of
    /// transforms at a time; floats of that chunk, of a thread's padded images, of the whole.
    private var winogradWeightGrad = false
    private var winogradChunk = 1
    private var winogradChunkFloats = 0
    private var winogradPadFloats = 0
    /// A strided stem on few channels run as a stride-1 convolution of its phase planes
    /// (ConvolutionPhases): the forward pass and the weight gradient, `phaseChunk` split images
    /// at a time for the latter.
    private var phases: ConvolutionPhases? = nil
    private var phaseChunk = 1
    /// Floats of the phase paths' workspace: the packed weights and a split image per thread
    /// (forward); a chunk of split images and, where outW is not a multiple of 8, of widened top
    /// gradients (weight gradient).
    private var phaseScratch: Int {
        guard let ph = phases else { return 0 }
        return max(numOutput * ph.taps + kernelThreads * ph.imageFloats, phaseChunk * (ph.gradImageFloats + phaseGradFloats))
    }
    /// Floats of one image's top gradient widened to gradWidth (0 when outW is a multiple of 8).
    private var phaseGradFloats: Int {
        guard let ph = phases, ph.gradWidth != ph.outputW else { return 0 }
        return numOutput * ph.outputH * ph.gradWidth
    }
    private var winogradWeightScratch: Int {
        winogradU + winogradChunkFloats + kernelThreads * winogradPadFloats
    }
    /// Points ξ of the transformed tile: 16 for F(2×2, 3×3), 36 for F(2×2, 5×5) (winograd.c).
    private var winogradPoints: Int {
        winograd4.contains(.forward) ? 64 : (geometry.kernelH + 1) * (geometry.kernelH + 1)
    }
    /// Floats of the transformed weights of one group, either way round (or, for the weight
    /// gradient, of dU).
    private var winogradU: Int {
        let (m, c, ks) = (Int32(numOutput / group), Int32(geometry.channels / group), Int32(geometry.kernelH))
        let four = winograd4.isEmpty ? 0 : max(Int(ck_wino4_weights(m, c)), Int(ck_wino4_weights(c, m)))
        return max(Int(ck_wino_weights(m, c, ks)), Int(ck_wino_weights(c, m, ks)), four)
    }
    /// Floats before the kernels' per-thread scratch: packed weights (2·M·Kg), or all groups'
    /// transformed weights.
    private var kernelWeights: Int { max(2 * numOutput * kernelDim, group * winogradU) }

    /// Floats of the column matrix: C·kh·kw · chunk·outHW.
    private var columnCount: Int { geometry.columnCount(batch: chunk) }
    /// Floats of the output (or top-gradient) matrix (M, chunk·outHW).
    private var outputCount: Int { numOutput * chunk * geometry.outputSpatial }

    override public func setUp(bottom: [Blob], top: [Blob]) throws {
        let p = param.convolutionParam
        let b0 = bottom[0]
        let axisParam = Int(p.axis)
        try require(axisParam >= -b0.numAxes && axisParam < b0.numAxes,
                    "\(label): convolution_param.axis \(axisParam) is out of range for bottom of shape \(b0.shape)")
        channelAxis = b0.canonicalAxis(axisParam)
        let spatialAxes = b0.numAxes - channelAxis - 1
        try require(spatialAxes == 2,
                    "\(label): only 2-D convolution is supported: bottom \(b0.shape) has \(spatialAxes) spatial axes after channel axis \(channelAxis), expected 2 (N-d convolution is not implemented)")

        // Kernel: kernel_size (once or per axis) xor kernel_h/kernel_w.
        var kh = 0, kw = 0
        if p.hasKernelH || p.hasKernelW {
            try require(p.kernelSize.isEmpty,
                        "\(label): give either kernel_size or kernel_h/kernel_w, not both")
            try require(p.hasKernelH && p.hasKernelW,
                        "\(label): kernel_h and kernel_w must be given together")
            kh = Int(p.kernelH); kw = Int(p.kernelW)
        } else {
            let k = p.kernelSize
            try require(k.count == 1 || k.count == 2,
                        "\(label): kernel_size must be given once or once per spatial axis (2), got \(k.count) values")
            kh = Int(k[0]); kw = Int(k[k.count == 1 ? 0 : 1])
        }
        try require(kh > 0 && kw > 0, "\(label): kernel dimensions must be positive, got \(kh)x\(kw)")

        func pair(_ values: [UInt32], hasHW: Bool, h: UInt32, w: UInt32, name: String,
                  default d: Int) throws -> (Int, Int) {
            if hasHW {
                try require(values.isEmpty, "\(label): give either \(name) or \(name)_h/\(name)_w, not both")
                return (Int(h), Int(w))
            }
            try require(values.count <= 2,
                        "\(label): \(name) must be given once or once per spatial axis (2), got \(values.count) values")
            if values.isEmpty { return (d, d) }
            return (Int(values[0]), Int(values[values.count == 1 ? 0 : 1]))
        }
        let (sh, sw) = try pair(p.stride, hasHW: p.hasStrideH || p.hasStrideW, h: p.strideH, w: p.strideW,
                                name: "stride", default: 1)
        try require(sh > 0 && sw > 0, "\(label): stride must be positive, got \(sh)x\(sw)")
        let (ph, pw) = try pair(p.pad, hasHW: p.hasPadH || p.hasPadW, h: p.padH, w: p.padW,
                                name: "pad", default: 0)
        let (dh, dw) = try pair(p.dilation, hasHW: false, h: 0, w: 0, name: "dilation", default: 1)
        try require(dh > 0 && dw > 0, "\(label): dilation must be positive, got \(dh)x\(dw)")

        let channels = b0.shape[channelAxis]
        try require(p.numOutput > 0, "\(label): convolution_param.num_output must be positive, got \(p.numOutput)")
        numOutput = Int(p.numOutput)
        group = Int(p.group)
        try require(group > 0, "\(label): group must be positive, got \(group)")
        try require(channels % group == 0,
                    "\(label): input channels (\(channels)) must be a multiple of group (\(group))")
        try require(numOutput % group == 0,
                    "\(label): num_output (\(numOutput)) must be a multiple of group (\(group))")
        geometry = ConvGeometry(channels: channels, height: 0, width: 0, kernelH: kh, kernelW: kw,
                                padH: ph, padW: pw, strideH: sh, strideW: sw, dilationH: dh, dilationW: dw)
        kernelDim = channels / group * kh * kw
        biasTerm = p.biasTerm
        blobs = [try makeParamBlob([numOutput, channels / group, kh, kw], filler: p.weightFiller)]
        if biasTerm { blobs.append(try makeParamBlob([numOutput], filler: p.biasFiller)) }
    }

    override public func reshape(bottom: [Blob], top: [Blob]) throws {
        let b0 = bottom[0]
        try require(b0.numAxes == channelAxis + 3,
                    "\(label): bottom has shape \(b0.shape); the number of axes may not change (expected \(channelAxis + 3))")
        try require(b0.shape[channelAxis] == geometry.channels,
                    "\(label): bottom \(b0.shape) has \(b0.shape[channelAxis]) channels, expected \(geometry.channels)")
        for (i, b) in bottom.enumerated() where i > 0 {
            try require(b.shape == b0.shape,
                        "\(label): all bottoms must have the same shape: bottom[\(i)] \(b.shape) vs bottom[0] \(b0.shape)")
        }
        for (i, t) in top.enumerated() {
            try require(t !== bottom[i], "\(label): cannot compute in place (top '\(param.top[safe: i] ?? "")' is its bottom)")
        }
        num = b0.count(0, channelAxis)
        geometry.height = b0.shape[channelAxis + 1]
        geometry.width = b0.shape[channelAxis + 2]
        let outH = geometry.outputH, outW = geometry.outputW
        try require(outH > 0 && outW > 0,
                    "\(label): the kernel (\(geometry.kernelH)x\(geometry.kernelW), dilation \(geometry.dilationH)x\(geometry.dilationW), pad \(geometry.padH)x\(geometry.padW)) does not fit the \(geometry.height)x\(geometry.width) input; output would be \(outH)x\(outW)")
        let topShape = Array(b0.shape[..<channelAxis]) + [numOutput, outH, outW]
        for t in top { try t.reshape(topShape) }
        let perImage = max(1, geometry.columnCount(batch: 1))
        chunk = max(1, min(num, Self.columnBudget / perImage))
        if geometry.padH > 0 || geometry.padW > 0 {
            var pg = geometry
            pg.height += 2 * geometry.padH; pg.width += 2 * geometry.padW
            pg.padH = 0; pg.padW = 0
            padded = pg
        } else {
            padded = nil
        }
        let g = geometry
        let ptH = (g.kernelH - 1) * g.dilationH - g.padH, ptW = (g.kernelW - 1) * g.dilationW - g.padW
        transposedPad = (ptH, ptW)
        implicitBackward = g.strideH == 1 && g.strideW == 1 && ptH >= 0 && ptW >= 0
            && 5 * g.height * g.width <= 6 * g.outputSpatial
        implicitWeightGrad = g.strideW == 1 && outW % 8 == 0
        let inputImage = (padded ?? g).channels * (padded ?? g).height * (padded ?? g).width
        weightGradChunk = max(1, min(num, Self.columnBudget / max(1, inputImage)))
        let gradImage = numOutput * (outH + 2 * ptH) * (outW + 2 * ptW)
        kernelThreads = Parallel.threads
        let (mg, cg) = (numOutput / group, g.channels / group)
        winogradForward = allowsWinograd && Self.winogradFits(g, outputs: mg, inputs: cg, pad: (g.padH, g.padW),
                                                              outW: outW)
        winogradBackward = allowsWinograd && implicitBackward
            && Self.winogradFits(g, outputs: cg, inputs: mg, pad: (ptH, ptW), outW: g.width)
        winogradAdjoint = winogradForward && !winogradBackward
        // F(4×4, 5×5) where a pass's outputs tile by 4: the forward pass and its adjoint share the
        // forward tiles; the transposed convolution's outputs are the input's H × W.
        winograd4 = []
        if g.kernelH == 5 && allowsWinograd4 {
            let (m, c) = (Int32(mg), Int32(cg))
            if winogradForward && ck_wino4_applies(m, c, Int32(outH), Int32(outW)) != 0 {
                winograd4.insert(.forward)
                if winogradAdjoint { winograd4.insert(.adjoint) }
            }
            if winogradBackward && ck_wino4_applies(c, m, Int32(g.height), Int32(g.width)) != 0 {
                winograd4.insert(.transposed)
            }
        }
        let wino4Scratch = max(
            winograd4.contains(.forward) ? Int(ck_wino4_scratch(Int32(mg), Int32(cg), Int32(outH), Int32(outW))) : 0,
            winograd4.contains(.transposed) ? Int(ck_wino4_scratch(Int32(cg), Int32(mg), Int32(g.height), Int32(g.width))) : 0)
        let winoScratch = max(wino4Scratch,
            winogradForward ? Int(ck_wino_scratch(Int32(mg), Int32(cg), Int32(outH), Int32(outW), Int32(g.kernelH))) : 0,
            winogradBackward ? Int(ck_wino_scratch(Int32(cg), Int32(mg), Int32(g.height), Int32(g.width), Int32(g.kernelH))) : 0,
            winogradAdjoint
                ? Int(ck_wino_adjoint_scratch(Int32(mg), Int32(cg), Int32(outH), Int32(outW), Int32(g.kernelH))) : 0)
        threadScratch = max(inputImage, implicitBackward ? gradImage : 0, winoScratch)
        winogradWeightGrad = winogradForward
        if winogradWeightGrad {
            let (m, c, oh, ow) = (Int32(mg), Int32(cg), Int32(outH), Int32(outW))
            // 4 MB of transforms per chunk: each chunk costs two hand-offs to the threads, and
            // with 1 MB chunks (2 images of ResNet-20's stage 1) the backward pass ran 1.7× slower
            // on 2 threads than on 1. Whole multiples of 4 images, so that 2 or 4 threads split
            // each chunk's transforms evenly (CIFAR-10 quick's conv2: 7 → 8); a fixed count, not
            // the thread count's, because the chunks set the order of the sums.
            // F(2×2, 5×5) takes at most 8 images: its transforms hold 36 floats per tile and
            // channel (9× LeNet's top gradient), and 8 images of LeNet's conv2 (1.3 MB) ran faster
            // than 24 (4 MB) at 1 thread (8.1–8.3 against 8.9–9.1 ms a step) and kept its peak RSS
            // at 1.44× the analytic footprint rather than 1.67×; CIFAR-10 quick's conv3 (20 → 8
            // images) measured equal at 1 and 2 threads. 3×3 layers keep 4 MB: 8-image chunks cost
            // ResNet-20 4 % at 2 threads (49.9–50.2 against 48.0–48.4 ms).
            let fit = 4 * Self.columnBudget / Int(ck_wino_wgrad_image(m, c, oh, ow, Int32(g.kernelH)))
            winogradChunk = max(1, min(num, fit >= 4 ? (fit + 3) / 4 * 4 : fit, g.kernelH == 5 ? 8 : num))
            winogradChunkFloats = Int(ck_wino_wgrad_scratch(m, c, oh, ow, Int32(winogradChunk), Int32(g.kernelH)))
            winogradPadFloats = Int(ck_wino_wgrad_pad(m, c, oh, ow, Int32(g.kernelH)))
            if winograd4.contains(.forward) {
                // F(4×4, 5×5): two groups of 8 images a chunk (LeNet's conv2: 1.15 MB of
                // transforms; one group, 8 images, left too few tiles per dU element: 0.96 against
                // 0.65 ms in a C harness, three or four groups 0.80–0.84)
                winogradChunk = min(16, num)
                winogradChunkFloats = Int(ck_wino4_wgrad_scratch(m, c, oh, ow, Int32((winogradChunk + 7) / 8)))
                winogradPadFloats = Int(ck_wino4_wgrad_pad(m, c, oh, ow))
            }
        }
        phases = ConvolutionPhases(g, group: group)
        phaseChunk = phases.map { max(1, min(num, Self.columnBudget / $0.gradImageFloats)) } ?? 1
        implicitScratch = max(kernelThreads * threadScratch,
                              implicitWeightGrad && padded != nil ? weightGradChunk * inputImage : 0)
        try context.workspace.reserve(max(columnCount + outputCount + paddedCount + 2 * numOutput * kernelDim
                                          + kernelThreads * inputGradImage,   // backward
                                      kernelWeights + implicitScratch,
                                      winogradWeightGrad ? winogradWeightScratch : 0,
                                      phaseScratch))
    }

    /// A 1×1 convolution with a stride: its im2col is a plain subsampling copy, after which
    /// OpenBLAS's sgemm runs the forward pass faster than the implicit kernels, which gather
    /// every tap at the stride (ResNet-style's res3a_branch1, 256 → 512 at 56² → 28²: 9.3
    /// against 12.1 ms; res3a_branch2a: 2.9 against 6.4 ms). The backward pass keeps the kernels.
    private var stridedPointwise: Bool {
        geometry.kernelH == 1 && geometry.kernelW == 1 && (geometry.strideH > 1 || geometry.strideW > 1)
            && geometry.padH == 0 && geometry.padW == 0
    }

    override public func forward(bottom: [Blob], top: [Blob]) throws {
        if usesImplicitGEMM, let ph = phases { forwardPhases(ph, bottom: bottom, top: top); return }
        if usesImplicitGEMM && winogradForward { forwardWinograd(bottom: bottom, top: top); return }
        if usesImplicitGEMM && !stridedPointwise { forwardImplicit(bottom: bottom, top: top); return }
        let M = numOutput, G = group, Mg = M / G, Kg = kernelDim
        let HW = geometry.outputSpatial
        let imageSize = geometry.channels * geometry.height * geometry.width
        let ws = context.workspace.buffer(columnCount + outputCount + paddedCount)
        let col = ws                              // (G, Kg, nb·HW)
        let out = ws + columnCount                // (M, nb·HW)
        let scratch = out + outputCount           // (nb, C, H + 2·padH, W + 2·padW) when padded
        let w = blobs[0].data                     // (G, Mg, Kg)
        let bias: UnsafeMutablePointer<Float>? = biasTerm ? blobs[1].data : nil
        for (b, t) in zip(bottom, top) {
            let y = t.data
            for n0 in stride(from: 0, to: num, by: chunk) {
                let nb = min(chunk, num - n0)
                let cols = nb * HW                // columns of this chunk
                unroll(b.data + n0 * imageSize, batch: nb, col, scratch: scratch)
                for g in 0..<G {
                    // out_g (Mg, nb·HW) = W_g (Mg, Kg) · col_g (Kg, nb·HW)
                    gemm(false, false, Mg, cols, Kg, 1, w + g * Mg * Kg, col + g * Kg * cols, 0, out + g * Mg * cols)
                }
                // scatter (M, nb, HW) -> top (N, M, HW) rows n0..<n0+nb, adding bias[m]
                for n in 0..<nb {
                    for m in 0..<M {
                        let src = out + m * cols + n * HW
                        let dst = y + ((n0 + n) * M + m) * HW
                        let bm: Float = bias?[m] ?? 0
                        for p in 0..<HW { dst[p] = src[p] + bm }
                    }
                }
            }
        }
    }

    override public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        let M = numOutput, G = group, Mg = M / G, Kg = kernelDim
        let HW = geometry.outputSpatial
        let imageSize = geometry.channels * geometry.height * geometry.width
        let needW = paramPropagateDown[0]
        let needB = biasTerm && paramPropagateDown[1]
        let ws = context.workspace.buffer(columnCount + outputCount + paddedCount + 2 * M * Kg
                                              + kernelThreads * inputGradImage)
        let col = ws                              // (G, Kg, nb·HW)
        let dOut = ws + columnCount               // (M, nb·HW)
        let scratch = dOut + outputCount          // padded images, when padded
        for (i, (b, t)) in zip(bottom, top).enumerated() {
            let needX = propagateDown[i]
            if !(needW || needB || needX) { continue }
            let dy = t.diff                       // (N, M, HW)
            // The kernels' weight gradient also sums the bias gradient.
            let winoW = needW && winogradWeightGrad && usesImplicitGEMM
            if winoW { weightGradWinograd(x: b.data, dy: dy) }
            let phaseW = needW && usesImplicitGEMM && phases != nil
            if phaseW, let ph = phases { weightGradPhases(ph, x: b.data, dy: dy, db: needB ? blobs[1].diff : nil) }
            let kernelW = needW && implicitWeightGrad && usesImplicitGEMM && !winoW && !phaseW
            if kernelW { weightGradImplicit(x: b.data, dy: dy, db: needB ? blobs[1].diff : nil) }
            if needB && !kernelW && !phaseW {
                // db[m] += Σ_n Σ_p dy[n, m, p]   (per image, in Caffe's order)
                let db = blobs[1].diff
                for n in 0..<num {
                    for m in 0..<M {
                        let src = dy + (n * M + m) * HW
                        var s: Float = 0
                        for p in 0..<HW { s += src[p] }
                        db[m] += s
                    }
                }
            }
            let colNeedW = needW && !kernelW && !winoW && !phaseW
            var colNeedX = needX
            if needX && winogradAdjoint && usesImplicitGEMM {
                winogradConvolve(.adjoint, dy, height: geometry.outputH, width: geometry.outputW, pad: geometry.padH,
                                 into: b.diff, bias: nil)
                colNeedX = false
            } else if needX && implicitBackward && usesImplicitGEMM {
                if winogradBackward { backwardInputWinograd(dy: dy, dx: b.diff) }
                else { backwardInputImplicit(dy: dy, dx: b.diff) }
                colNeedX = false
            }
            if !(colNeedW || colNeedX) { continue }
            // dcol = Wᵀ·dy through the kernels with col2im fused into the write-back: no column
            // block, no β = 0 pass, no gather.
            let kernelX = colNeedX && usesImplicitGEMM
            if kernelX {
                packTransposedWeights(into: ws + columnCount + outputCount + paddedCount)
                let packedWT = ws + columnCount + outputCount + paddedCount + M * Kg
                // per image; per-thread padded images after packedWT
                Parallel.forEachRange(num, limit: kernelThreads) { part, images in
                    for n in images {
                        backwardInputFused(packedWT: packedWT, dy: dy + n * M * HW, dx: b.diff + n * imageSize,
                                           scratch: packedWT + M * Kg + part * inputGradImage)
                    }
                }
            }
            if !(colNeedW || (colNeedX && !kernelX)) { continue }
            for n0 in stride(from: 0, to: num, by: chunk) {
                let nb = min(chunk, num - n0)
                let cols = nb * HW
                // gather top diff (N, M, HW) rows n0..<n0+nb -> dOut (M, nb·HW)
                for n in 0..<nb {
                    for m in 0..<M {
                        (dOut + m * cols + n * HW).update(from: dy + ((n0 + n) * M + m) * HW, count: HW)
                    }
                }
                if colNeedW {
                    // columns are recomputed (cheap: an L2-sized chunk); keeping forward's would
                    // cost a batch-sized buffer per layer
                    unroll(b.data + n0 * imageSize, batch: nb, col, scratch: scratch)
                    let dw = blobs[0].diff
                    for g in 0..<G {
                        // dW_g (Mg, Kg) += dOut_g (Mg, nb·HW) · col_gᵀ (nb·HW, Kg)
                        gemm(false, true, Mg, Kg, cols, 1, dOut + g * Mg * cols, col + g * Kg * cols, 1, dw + g * Mg * Kg)
                    }
                }
                if colNeedX && !kernelX {
                    let w = blobs[0].data
                    for g in 0..<G {
                        // dcol_g (Kg, nb·HW) = W_gᵀ (Kg, Mg) · dOut_g (Mg, nb·HW)
                        gemm(true, false, Kg, cols, Mg, 1, w + g * Mg * Kg, dOut + g * Mg * cols, 0, col + g * Kg * cols)
                    }
                    fold(col, batch: nb, into: b.diff + n0 * imageSize, scratch: scratch)
                }
            }
        }
    }

    /// y (N, M, outH, outW) = W ∗ x + b, one image and group at a time through `ck_conv2d`.
    private func forwardImplicit(bottom: [Blob], top: [Blob]) {
        let M = numOutput, G = group, Mg = M / G, Kg = kernelDim
        let g = geometry, src = padded ?? g
        let Cg = g.channels / G, HW = g.outputSpatial
        let planeIn = src.height * src.width
        let imageSize = g.channels * g.height * g.width
        let ws = context.workspace.buffer(2 * M * Kg + implicitScratch)
        let packedW = ws                          // (G, Mg, Kg) in the kernel's row-block layout
        let w = blobs[0].data                     // (G, Mg, Kg)
        for gi in 0..<G { ck_pack_a(w + gi * Mg * Kg, Int32(Mg), Int32(Kg), Kg, packedW + gi * Mg * Kg) }
        let bias: UnsafeMutablePointer<Float>? = biasTerm ? blobs[1].data : nil
        for (b, t) in zip(bottom, top) {
            Parallel.forEachRange(num, limit: kernelThreads) { part, images in
                let xpad = ws + 2 * M * Kg + part * threadScratch   // (C, H + 2·padH, W + 2·padW)
                for n in images {
                    var x = UnsafePointer(b.data + n * imageSize)
                    if padded != nil {
                        pad(x, planes: g.channels, height: g.height, width: g.width, padH: g.padH, padW: g.padW,
                            into: xpad)
                        x = UnsafePointer(xpad)
                    }
                    for gi in 0..<G {
                        _ = ck_conv2d(packedW + gi * Mg * Kg, Int32(Mg), Int32(Cg), x + gi * Cg * planeIn,
                                      Int32(src.height), Int32(src.width), Int32(g.kernelH), Int32(g.kernelW),
                                      Int32(g.strideH), Int32(g.strideW), Int32(g.dilationH), Int32(g.dilationW),
                                      t.data + (n * M + gi * Mg) * HW, Int32(g.outputH), Int32(g.outputW),
                                      bias.map { $0 + gi * Mg }, 0)
                    }
                }
            }
        }
    }

    /// y (N, M, outH, outW) = W' ∗ split(x) + b: each image's phase planes through the stride-1
    /// kernel (ConvolutionPhases), images split over the threads.
    private func forwardPhases(_ ph: ConvolutionPhases, bottom: [Blob], top: [Blob]) {
        let M = numOutput, K = ph.taps, pg = ph.phaseGeometry
        let imageSize = geometry.channels * geometry.height * geometry.width, HW = geometry.outputSpatial
        let ws = context.workspace.buffer(phaseScratch)
        let packedW = ws                          // (M, C·kh·kw) in the kernel's row-block layout
        ck_pack_a(blobs[0].data, Int32(M), Int32(K), K, packedW)
        let bias: UnsafeMutablePointer<Float>? = biasTerm ? blobs[1].data : nil
        for (b, t) in zip(bottom, top) {
            Parallel.forEachRange(num, limit: kernelThreads) { part, images in
                let xs = ws + M * K + part * ph.imageFloats   // (C·s², Hq, Wq)
                for n in images {
                    ph.split(b.data + n * imageSize, into: xs, width: pg.width)
                    _ = ck_conv2d_taps(packedW, Int32(M), Int32(K), ph.forwardTaps, xs, Int32(pg.width),
                                       t.data + n * M * HW, Int32(ph.outputH), Int32(ph.outputW), bias, 0)
                }
            }
        }
    }

    /// dW (M, C, kh, kw) += Σ_n dy_n ⋆ split(x_n), through the stride-1 kernel on the phase planes
    /// (the real taps only); db (M) += Σ dy. `phaseChunk` images at a time.
    private func weightGradPhases(_ ph: ConvolutionPhases, x: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                                  db: UnsafeMutablePointer<Float>?) {
        let M = numOutput, K = ph.taps, HW = geometry.outputSpatial
        let imageSize = geometry.channels * geometry.height * geometry.width
        let (oh, ow, gw) = (ph.outputH, ph.outputW, ph.gradWidth), widened = gw != ow
        let gradImage = widened ? M * oh * gw : M * HW
        let xs = context.workspace.buffer(phaseScratch)   // (chunk, C·s², Hq, gw + kb − 1)
        let dys = xs + phaseChunk * ph.gradImageFloats   // (chunk, M, oh, gw) when widened
        let dw = blobs[0].diff
        for n0 in stride(from: 0, to: num, by: phaseChunk) {
            let nb = min(phaseChunk, num - n0)
            Parallel.forEachRange(nb, limit: kernelThreads) { _, images in
                for n in images {
                    ph.split(x + (n0 + n) * imageSize, into: xs + n * ph.gradImageFloats, width: ph.gradPlaneWidth)
                    guard widened else { continue }
                    // zero columns past outW: they add nothing to dW or db
                    for row in 0..<(M * oh) {
                        let dst = dys + n * gradImage + row * gw
                        dst.update(from: dy + (n0 + n) * M * HW + row * ow, count: ow)
                        setAll(gw - ow, 0, dst + ow)
                    }
                }
            }
            let g0 = widened ? UnsafePointer(dys) : dy + n0 * M * HW
            // threads take pairs of dW rows (independent; the kernel works in blocks of rows)
            Parallel.forEachRange((M + 1) / 2, limit: kernelThreads) { _, pairs in
                let m0 = 2 * pairs.lowerBound, rows = min(M, 2 * pairs.upperBound) - m0
                _ = ck_conv2d_weight_grad_taps(Int32(rows), Int32(K), ph.gradTaps, xs, ph.gradImageFloats,
                                               Int32(ph.gradPlaneWidth), g0 + m0 * oh * gw, gradImage,
                                               Int32(oh), Int32(gw), Int32(nb), dw + m0 * K, K, db.map { $0 + m0 })
            }
        }
    }

    /// Tests: whether this layer runs its forward pass and its weight gradient on phase planes.
    public var phasePath: Bool { usesImplicitGEMM && phases != nil }

    /// Whether Winograd F(2×2, 3×3) or F(2×2, 5×5) takes a convolution with `outputs` and `inputs`
    /// channels per group: 3×3 or 5×5, stride 1, no dilation, padding below the kernel
    /// size, the kernels on, and
    /// - at least 8 input channels: with fewer the transforms outweigh the saved multiplies (a
    ///   first layer on 1–3 channels ran 2× slower with F(2×2, 3×3), CIFAR-10 quick's 5×5 conv1 on
    ///   3 channels 1.5× slower with F(2×2, 5×5));
    /// - output rows whose 2×2 tiles fill the vectors of 8 tiles (rows of 4 tiles go two to a
    ///   vector) to at least 7/8: outW 7–8, 13–16, 27–32, 41–48, … A row of 9 tiles would
    ///   compute 16, and stays direct.
    static func winogradFits(_ g: ConvGeometry, outputs: Int, inputs: Int, pad: (Int, Int), outW: Int) -> Bool {
        let tiles = (outW + 1) / 2, computed = tiles <= 4 ? 4 : (tiles + 7) / 8 * 8
        guard !disableWinograd, g.kernelH == g.kernelW, g.kernelH == 3 || g.kernelH == 5, g.strideH == 1,
              g.strideW == 1, g.dilationH == 1, g.dilationW == 1, pad.0 == pad.1, (0..<g.kernelH).contains(pad.0),
              inputs >= 8, 8 * tiles >= 7 * computed else { return false }
        return ck_wino_applies(Int32(outputs), Int32(inputs)) != 0
    }

    /// SPARKNET_WINOGRAD=0 keeps every convolution on the direct kernels (comparisons, tests);
    /// the command line refuses values other than 0 and 1.
    static let disableWinograd = getenv("SPARKNET_WINOGRAD").map { String(cString: $0) == "0" } ?? false

    /// Tests: whether this layer's forward pass and input gradient run Winograd, the latter as a
    /// transposed convolution or as the forward pass's adjoint (the weight gradient does where the
    /// forward pass does).
    public var winogradPaths: (forward: Bool, backward: Bool) {
        (usesImplicitGEMM && winogradForward, usesImplicitGEMM && (winogradBackward || winogradAdjoint))
    }

    /// Tests: whether the input gradient runs as the Winograd forward pass's adjoint.
    public var winogradAdjointPath: Bool { usesImplicitGEMM && winogradAdjoint }

    /// Tests: turns Winograd off (or back on where it fits) for this layer, before the next reshape.
    public var allowsWinograd = true
    /// Tests: keeps 5×5 layers on F(2×2, 5×5) (false), before the next reshape.
    public var allowsWinograd4 = true

    /// Tests: the Winograd passes that run F(4×4, 5×5): "forward", "transposed", "adjoint".
    public var winograd4Passes: Set<String> {
        usesImplicitGEMM ? Set(winograd4.map { "\($0)" }) : []
    }

    /// y (N, M, outH, outW) = W ∗ x + b through Winograd F(2×2, 3×3) or F(2×2, 5×5).
    private func forwardWinograd(bottom: [Blob], top: [Blob]) {
        let g = geometry
        let bias: UnsafeMutablePointer<Float>? = biasTerm ? blobs[1].data : nil
        for (b, t) in zip(bottom, top) {
            winogradConvolve(.forward, UnsafePointer(b.data), height: g.height, width: g.width, pad: g.padH,
                             into: t.data, bias: bias)
        }
    }

    /// dx (N, C, H, W) = dy ∗ W' (the rotated, transposed kernels), padded by k − 1 − pad, through
    /// Winograd: the same adjoint as `backwardInputImplicit`.
    private func backwardInputWinograd(dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>) {
        winogradConvolve(.transposed, dy, height: geometry.outputH, width: geometry.outputW,
                         pad: transposedPad.h, into: dx, bias: nil)
    }

    /// The three Winograd passes over images: the layer's own convolution (x → y), its transpose
    /// (dy → dx as a convolution with the kernels rotated and transposed) and its adjoint (dy → dx
    /// as the forward pass run backwards, `ck_wino_conv_adjoint`).
    private enum WinogradPass { case forward, transposed, adjoint }

    /// One Winograd pass per image and group, images split over the threads; `height`, `width` and
    /// `pad` are the source's (for the adjoint, the top gradient's size and the layer's pad).
    private func winogradConvolve(_ pass: WinogradPass, _ src: UnsafePointer<Float>, height: Int, width: Int, pad: Int,
                                  into dst: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>?) {
        let G = group, Mg = numOutput / G, Cg = geometry.channels / G
        let (outs, ins) = pass == .forward ? (Mg, Cg) : (Cg, Mg)       // per group
        let planeSrc = height * width
        let planeDst = pass == .forward ? geometry.outputSpatial : geometry.height * geometry.width
        let ks = Int32(geometry.kernelH), taps = geometry.kernelH * geometry.kernelW
        let ws = context.workspace.buffer(kernelWeights + implicitScratch)
        let w = blobs[0].data                     // (G, Mg, Cg, k, k)
        let flip: Int32 = pass == .forward ? 0 : (pass == .transposed ? 1 : 2)
        let four = winograd4.contains(pass)
        let rows = (outs + 3) / 4 * 4             // U (G, ξ, rows, ins); the threads take rows
        Parallel.forEachRange(G * rows, limit: kernelThreads) { _, r in
            for gi in r.lowerBound / rows...(r.upperBound - 1) / rows {
                let o0 = max(r.lowerBound - gi * rows, 0), o1 = min(r.upperBound - gi * rows, rows)
                let wg = w + gi * Mg * Cg * taps, u = ws + gi * winogradU
                if four {
                    ck_wino4_pack_weights(wg, Int32(outs), Int32(ins), flip, Int32(o0), Int32(o1), u)
                } else {
                    ck_wino_pack_weights(wg, Int32(outs), Int32(ins), ks, flip, Int32(o0), Int32(o1), u)
                }
            }
        }
        let (h, wd) = (Int32(geometry.height), Int32(geometry.width))
        if four {
            // groups of 8 images, one per vector lane
            let imageSrc = G * ins * planeSrc, imageDst = G * outs * planeDst
            Parallel.forEachRange((num + 7) / 8, limit: kernelThreads) { part, groups in
                let scratch = ws + kernelWeights + part * threadScratch
                for q in groups {
                    let n0 = q * 8, nb = Int32(min(8, num - n0))
                    for gi in 0..<G {
                        let from = src + n0 * imageSrc + gi * ins * planeSrc, to = dst + n0 * imageDst + gi * outs * planeDst
                        if pass == .adjoint {
                            _ = ck_wino4_conv_adjoint(ws + gi * winogradU, Int32(ins), Int32(outs), from, imageSrc, nb,
                                                      h, wd, Int32(pad), to, imageDst, scratch)
                        } else {
                            _ = ck_wino4_conv(ws + gi * winogradU, Int32(outs), Int32(ins), from, imageSrc, nb,
                                              Int32(height), Int32(width), Int32(pad), to, imageDst,
                                              bias.map { $0 + gi * outs }, scratch)
                        }
                    }
                }
            }
            return
        }
        Parallel.forEachRange(num, limit: kernelThreads) { part, images in
            let scratch = ws + kernelWeights + part * threadScratch
            for n in images {
                for gi in 0..<G {
                    let from = src + (n * G + gi) * ins * planeSrc, to = dst + (n * G + gi) * outs * planeDst
                    if pass == .adjoint {
                        _ = ck_wino_conv_adjoint(ws + gi * winogradU, Int32(ins), Int32(outs), ks, from, h, wd,
                                                 Int32(pad), to, scratch)
                    } else {
                        _ = ck_wino_conv(ws + gi * winogradU, Int32(outs), Int32(ins), ks, from, Int32(height),
                                         Int32(width), Int32(pad), to, bias.map { $0 + gi * outs }, scratch)
                    }
                }
            }
        }
    }

    /// dW (M, Cg, 3, 3) += Σ_n dy_n ⋆ x_n through Winograd, per group: a chunk of images is
    /// transformed (threads take channel planes), its products summed into dU (threads take ξ), and dU
    /// turned into dW once at the end.
    private func weightGradWinograd(x: UnsafePointer<Float>, dy: UnsafePointer<Float>) {
        let M = numOutput, C = geometry.channels, G = group, Mg = M / G, Cg = C / G, g = geometry
        let ks = Int32(g.kernelH), taps = g.kernelH * g.kernelW
        let imageIn = C * g.height * g.width, imageOut = M * g.outputSpatial
        let planeIn = g.height * g.width, planeOut = g.outputSpatial
        let (m, c, h, w, pad) = (Int32(Mg), Int32(Cg), Int32(g.height), Int32(g.width), Int32(g.padH))
        let (oh, ow) = (Int32(g.outputH), Int32(g.outputW))
        let du = context.workspace.buffer(winogradWeightScratch)      // (ξ, Mg, Cg)
        let chunk = du + winogradU, pads = chunk + winogradChunkFloats
        let four = winograd4.contains(.forward)
        for gi in 0..<G {
            setAll(winogradU, 0, du)
            for n0 in stride(from: 0, to: num, by: winogradChunk) {
                let nb = Int32(min(winogradChunk, num - n0))
                let xs = x + n0 * imageIn + gi * Cg * planeIn, dys = dy + n0 * imageOut + gi * Mg * planeOut
                // threads take planes (C + K an image, or a group of 8 images): a chunk of one
                // image (AlexNet's conv2) is shared too
                let units = four ? (Int(nb) + 7) / 8 * (Cg + Mg) : Int(nb) * (Cg + Mg)
                Parallel.forEachRange(units, limit: kernelThreads) { part, planes in
                    let (p0, p1, scratch) = (Int32(planes.lowerBound), Int32(planes.upperBound), pads + part * winogradPadFloats)
                    if four {
                        ck_wino4_wgrad_transform(m, c, xs, imageIn, dys, imageOut, nb, h, w, pad, p0, p1, chunk, scratch)
                    } else {
                        ck_wino_wgrad_transform(m, c, ks, xs, imageIn, h, w, pad, dys, imageOut, nb, p0, p1, chunk, scratch)
                    }
                }
                Parallel.forEachRange(winogradPoints, limit: kernelThreads) { _, points in
                    let (xi0, xi1) = (Int32(points.lowerBound), Int32(points.upperBound))
                    if four {
                        ck_wino4_wgrad_reduce(m, c, oh, ow, nb, chunk, xi0, xi1, du)
                    } else {
                        ck_wino_wgrad_reduce(m, c, ks, oh, ow, nb, chunk, xi0, xi1, du)
                    }
                }
            }
            let dw = blobs[0].diff + gi * Mg * Cg * taps
            Parallel.forEachRange(Mg, limit: kernelThreads) { _, r in
                if four {
                    ck_wino4_wgrad_finish(m, c, du, Int32(r.lowerBound), Int32(r.upperBound), dw)
                } else {
                    ck_wino_wgrad_finish(m, c, ks, du, Int32(r.lowerBound), Int32(r.upperBound), dw)
                }
            }
        }
    }

    /// Wᵀ per group, (G, Kg, Mg), rows in (c, j, i) order as `ck_conv2d_input_grad` takes them,
    /// in the kernels' packed layout at `buffer + M·Kg` (the first M·Kg floats hold the transpose).
    private func packTransposedWeights(into buffer: UnsafeMutablePointer<Float>) {
        let M = numOutput, G = group, Mg = M / G, Kg = kernelDim
        let kh = geometry.kernelH, kw = geometry.kernelW, taps = kh * kw
        let w = UnsafePointer(blobs[0].data)
        for g in 0..<G {
            let wg = w + g * Mg * Kg, tg = buffer + g * Mg * Kg
            for k in 0..<Kg {
                let t = k % taps, row = k - t + (t % kw) * kh + t / kw   // (c, i, j) → (c, j, i)
                for m in 0..<Mg { tg[row * Mg + m] = wg[m * Kg + k] }
            }
            ck_pack_a(tg, Int32(Kg), Int32(Mg), Mg, buffer + M * Kg + g * Mg * Kg)
        }
    }

    /// dW (G, Mg, Kg) += Σ_n dy_n · columns(x_n)ᵀ and db (M) += Σ dy, per group, a chunk of
    /// (padded) images at a time.
    private func weightGradImplicit(x: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                                    db: UnsafeMutablePointer<Float>?) {
        let M = numOutput, G = group, Mg = M / G, Kg = kernelDim
        let g = geometry, src = padded ?? g
        let Cg = g.channels / G, outH = g.outputH, outW = g.outputW, HW = g.outputSpatial
        let planeIn = src.height * src.width, imageIn = g.channels * planeIn
        let imageSize = g.channels * g.height * g.width
        let xpad = context.workspace.buffer(2 * M * Kg + implicitScratch) + 2 * M * Kg
        let dw = blobs[0].diff
        for n0 in stride(from: 0, to: num, by: weightGradChunk) {
            let nb = min(weightGradChunk, num - n0)
            var xs = x + n0 * imageSize
            if padded != nil {
                Parallel.forEachRange(nb, limit: kernelThreads) { _, r in
                    pad(xs + r.lowerBound * imageSize, planes: r.count * g.channels, height: g.height, width: g.width,
                        padH: g.padH, padW: g.padW, into: xpad + r.lowerBound * imageIn)
                }
                xs = UnsafePointer(xpad)
            }
            let chunkX = xs
            for gi in 0..<G {
                // threads take pairs of dW rows (independent; the kernel works in blocks of 4)
                Parallel.forEachRange((Mg + 1) / 2, limit: kernelThreads) { _, pairs in
                    let m0 = gi * Mg + 2 * pairs.lowerBound, rows = min(Mg, 2 * pairs.upperBound) - 2 * pairs.lowerBound
                    _ = ck_conv2d_weight_grad(Int32(rows), Int32(Cg), chunkX + gi * Cg * planeIn, imageIn,
                                              Int32(src.height), Int32(src.width), Int32(g.kernelH), Int32(g.kernelW),
                                              Int32(g.strideH), Int32(g.dilationH), Int32(g.dilationW),
                                              dy + n0 * M * HW + m0 * HW, M * HW, Int32(outH), Int32(outW),
                                              Int32(nb), dw + m0 * Kg, Kg, db.map { $0 + m0 })
                }
            }
        }
    }

    /// dx (N, C, H, W) = dy padded by (kh−1)·dh − padH (and w) ∗ W', stride 1, where
    /// W'[c, m, i, j] = W[m, c, kh−1−i, kw−1−j] per group: the adjoint of the stride-1 forward.
    private func backwardInputImplicit(dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>) {
        let M = numOutput, G = group, Mg = M / G, Kg = kernelDim
        let g = geometry, kh = g.kernelH, kw = g.kernelW, taps = kh * kw
        let Cg = g.channels / G, outH = g.outputH, outW = g.outputW
        let Hq = outH + 2 * transposedPad.h, Wq = outW + 2 * transposedPad.w
        let ws = context.workspace.buffer(2 * M * Kg + implicitScratch)
        let flipped = ws                          // (G, Cg, Mg·kh·kw)
        let packedW = ws + M * Kg
        let w = UnsafePointer(blobs[0].data)      // (G, Mg, Cg, kh, kw)
        for gi in 0..<G {
            let wg = w + gi * Mg * Kg, fg = flipped + gi * Mg * Kg
            for c in 0..<Cg {
                for m in 0..<Mg {
                    let src = wg + (m * Cg + c) * taps, dst = fg + (c * Mg + m) * taps
                    for t in 0..<taps { dst[t] = src[taps - 1 - t] }
                }
            }
            ck_pack_a(fg, Int32(Cg), Int32(Mg * taps), Mg * taps, packedW + gi * Mg * Kg)
        }
        let imageIn = g.channels * g.height * g.width, imageOut = M * outH * outW
        let unpadded = transposedPad == (0, 0)
        let pads = transposedPad
        Parallel.forEachRange(num, limit: kernelThreads) { part, images in
            let dypad = ws + 2 * M * Kg + part * threadScratch   // (M, Hq, Wq)
            for n in images {
                var src = dy + n * imageOut
                if !unpadded {
                    pad(src, planes: M, height: outH, width: outW, padH: pads.h, padW: pads.w, into: dypad)
                    src = UnsafePointer(dypad)
                }
                for gi in 0..<G {
                    _ = ck_conv2d(packedW + gi * Mg * Kg, Int32(Cg), Int32(Mg), src + gi * Mg * Hq * Wq,
                                  Int32(Hq), Int32(Wq), Int32(kh), Int32(kw), 1, 1,
                                  Int32(g.dilationH), Int32(g.dilationW),
                                  dx + n * imageIn + gi * Cg * g.height * g.width,
                                  Int32(g.height), Int32(g.width), nil, 0)
                }
            }
        }
    }

    /// dx (C, H, W) = col2im(Wᵀ · dy) for one image, per group through `ck_conv2d_input_grad`
    /// (col2im fused into the kernel), through the padded scratch when padded.
    private func backwardInputFused(packedWT: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                                    dx: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let M = numOutput, G = group, Mg = M / G, Kg = kernelDim
        let g = geometry, src = padded ?? g, HW = g.outputSpatial
        let Cg = g.channels / G, planeIn = src.height * src.width
        if stridedPointwise {
            // A strided 1×1 convolution's input gradient is Wᵀ·dy at the stride's points and zero
            // between them: the dense product through the forward kernel, then spread. The fused
            // kernel gathered 1-lane pieces (ResNet-style's res3a_branch1, 256 → 512 at 56² → 28²,
            // 4 images: 11.5 → 9.0 ms; res3a_branch2a 3.5 → 2.4 ms).
            for gi in 0..<G {
                _ = ck_conv2d(packedWT + gi * Mg * Kg, Int32(Cg), Int32(Mg), dy + gi * Mg * HW,
                              Int32(g.outputH), Int32(g.outputW), 1, 1, 1, 1, 1, 1,
                              scratch + gi * Cg * HW, Int32(g.outputH), Int32(g.outputW), nil, 0)
            }
            col2im(scratch, batch: 1, g, dx)   // a 1×1 kernel's columns, spread at the stride
            return
        }
        let target = padded == nil ? dx : scratch
        setAll(g.channels * planeIn, 0, target)
        for gi in 0..<G {
            _ = ck_conv2d_input_grad(packedWT + gi * Mg * Kg, Int32(Kg), Int32(Mg), dy + gi * Mg * HW,
                                     Int32(g.outputH), Int32(g.outputW), Int32(g.kernelH), Int32(g.kernelW),
                                     Int32(g.strideH), Int32(g.strideW), Int32(g.dilationH), Int32(g.dilationW),
                                     target + gi * Cg * planeIn, Int32(src.height), Int32(src.width))
        }
        if padded != nil { crop(scratch, planes: g.channels, into: dx) }
    }

    /// im2col of `batch` images (batch, C, H, W), through the padded scratch when padded.
    private func unroll(_ x: UnsafePointer<Float>, batch nb: Int, _ col: UnsafeMutablePointer<Float>,
                        scratch: UnsafeMutablePointer<Float>) {
        guard let pg = padded else { im2col(x, batch: nb, geometry, col); return }
        let H = geometry.height, W = geometry.width, pH = geometry.padH, pW = geometry.padW
        pad(x, planes: nb * geometry.channels, height: H, width: W, padH: pH, padW: pW, into: scratch)
        im2col(scratch, batch: nb, pg, col)
    }

    /// col2im into `batch` images (overwritten), through the padded scratch when padded.
    private func fold(_ col: UnsafePointer<Float>, batch nb: Int, into dx: UnsafeMutablePointer<Float>,
                      scratch: UnsafeMutablePointer<Float>) {
        guard let pg = padded else { col2im(col, batch: nb, geometry, dx); return }
        col2im(col, batch: nb, pg, scratch)
        crop(scratch, planes: nb * geometry.channels, into: dx)
    }

    /// dx (planes, H, W) = the interior of a padded gradient (planes, H + 2·padH, W + 2·padW):
    /// the border's share belongs to the zeros.
    private func crop(_ paddedDiff: UnsafePointer<Float>, planes: Int, into dx: UnsafeMutablePointer<Float>) {
        let H = geometry.height, W = geometry.width, pH = geometry.padH, pW = geometry.padW
        let Hp = H + 2 * pH, Wp = W + 2 * pW
        for plane in 0..<planes {
            let src = paddedDiff + plane * Hp * Wp + pH * Wp + pW
            let dst = dx + plane * H * W
            for h in 0..<H { (dst + h * W).update(from: src + h * Wp, count: W) }
        }
    }
}

/// out (planes, H + 2·padH, W + 2·padW) = x (planes, H, W) with a zero border.
private func pad(_ x: UnsafePointer<Float>, planes: Int, height H: Int, width W: Int, padH pH: Int, padW pW: Int,
                 into out: UnsafeMutablePointer<Float>) {
    let Wp = W + 2 * pW, Hp = H + 2 * pH
    for plane in 0..<planes {
        let src = x + plane * H * W
        let dst = out + plane * Hp * Wp
        setAll(pH * Wp, 0, dst)
        for h in 0..<H {
            let row = dst + (pH + h) * Wp
            for j in 0..<pW { row[j] = 0; row[pW + W + j] = 0 }
            (row + pW).update(from: src + h * W, count: W)
        }
        setAll(pH * Wp, 0, dst + (pH + H) * Wp)
    }
}

extension Array {
    /// The element at `i`, or nil when out of range.
    fileprivate subscript(safe i: Int) -> Element? { i >= 0 && i < count ? self[i] : nil }
}
