/// A strided convolution on few input channels (the 7×7/2 stem of ResNets and GoogLeNet,
/// AlexNet's 11×11/4) seen as a stride-1 convolution (space-to-depth).
///
/// With stride s, output (oh, ow) reads the padded input at (s·oh + i, s·ow + j). Writing
/// i = s·a + p and j = s·b + q, the input splits into s² phase planes
/// X[c, p, q][r][t] = xpad[c][s·r + p][s·t + q], and
///
///     y[m][oh][ow] = Σ_(c,p,q) Σ_(a,b) W'[m][c,p,q][a][b] · X[c,p,q][oh + a][ow + b]
///
/// with W'[m][c,p,q][a][b] = W[m][c][s·a + p][s·b + q] (0 where s·a + p ≥ kh or s·b + q ≥ kw):
/// C·s² channels, a ⌈kh/s⌉ × ⌈kw/s⌉ kernel, stride 1. The stride-1 kernels pack their panels
/// from contiguous rows and read the weight gradient in place, where the strided stem gathered
/// every tap one lane at a time (ResNet-style's conv1 ran at 27 GFLOP/s). The kernels take the
/// real taps only, as a list of offsets into the phase planes in the layer's own (c, i, j)
/// order (ck_conv2d_taps): W is used as it is, and the zero taps of W', (⌈k/s⌉·s / k)² more
/// multiplies (192 against 147 taps for 7×7/2 on 3 channels), are never computed.
struct ConvolutionPhases: Equatable {
    let stride: Int
    let channels: Int, height: Int, width: Int
    let padH: Int, padW: Int
    let kernelH: Int, kernelW: Int
    let outputH: Int, outputW: Int

    /// The split of `g`, where it pays: equal strides above 1 that the kernel covers, no
    /// dilation, at most 4 input channels per group (first layers: with many channels the
    /// stride-s gathers are a small share of the work, and the zero taps would cost more).
    init?(_ g: ConvGeometry, group: Int) {
        let s = g.strideH
        guard s > 1, g.strideW == s, g.dilationH == 1, g.dilationW == 1, group == 1, g.channels <= 4,
              g.kernelH >= s, g.kernelW >= s, g.outputH > 0, g.outputW > 0 else { return nil }
        stride = s
        channels = g.channels; height = g.height; width = g.width
        padH = g.padH; padW = g.padW
        kernelH = g.kernelH; kernelW = g.kernelW
        outputH = g.outputH; outputW = g.outputW
        forwardTaps = offsets(planeWidth: phaseWidth)
        gradTaps = offsets(planeWidth: gradPlaneWidth)
    }

    /// Tap (c, i, j) of the layer's kernel, in its weights' order, as an offset into a split
    /// image of planes phaseHeight × planeWidth: channel (c, p, q), row a, column b for
    /// (i, j) = (s·a + p, s·b + q).
    private func offsets(planeWidth: Int) -> [Int] {
        let s = stride
        var out: [Int] = []
        for c in 0..<channels {
            for i in 0..<kernelH {
                for j in 0..<kernelW {
                    let (a, p) = i.quotientAndRemainder(dividingBy: s), (b, q) = j.quotientAndRemainder(dividingBy: s)
                    out.append((((c * s + p) * s + q) * phaseHeight + a) * planeWidth + b)
                }
            }
        }
        return out
    }

    /// The real taps (C·kh·kw) as offsets into a split image of width phaseWidth (forward pass)
    /// and gradPlaneWidth (weight gradient); set once the geometry is.
    private(set) var forwardTaps: [Int] = []
    private(set) var gradTaps: [Int] = []
    /// Columns of the weights the kernels take: C·kh·kw, the layer's own.
    var taps: Int { channels * kernelH * kernelW }

    /// Channels of the split image: C·s², in (c, p, q) order.
    var phaseChannels: Int { channels * stride * stride }
    /// The stride-1 kernel: ⌈kh/s⌉ × ⌈kw/s⌉.
    var phaseKernelH: Int { (kernelH + stride - 1) / stride }
    var phaseKernelW: Int { (kernelW + stride - 1) / stride }
    /// A phase plane: exactly what the stride-1 kernel reads for the output (rows past the
    /// padded input are zero).
    var phaseHeight: Int { outputH + phaseKernelH - 1 }
    var phaseWidth: Int { outputW + phaseKernelW - 1 }
    /// Floats of one split image: (C·s², phaseHeight, phaseWidth).
    var imageFloats: Int { phaseChannels * phaseHeight * phaseWidth }
    /// The weight gradient's output width: outW rounded up to whole 8-position vectors (the
    /// kernel reads rows 8 at a time; the top gradient is copied with zero columns where outW
    /// is not a multiple of 8, AlexNet's 55), and its planes' width.
    var gradWidth: Int { (outputW + 7) / 8 * 8 }
    var gradPlaneWidth: Int { gradWidth + phaseKernelW - 1 }
    /// Floats of one split image for the weight gradient: (C·s², phaseHeight, gradPlaneWidth).
    var gradImageFloats: Int { phaseChannels * phaseHeight * gradPlaneWidth }
    /// The stride-1 convolution's geometry (for the kernels' calls).
    var phaseGeometry: ConvGeometry {
        ConvGeometry(channels: phaseChannels, height: phaseHeight, width: phaseWidth,
                     kernelH: phaseKernelH, kernelW: phaseKernelW)
    }

    /// out (C·s², phaseHeight, width) = the phase planes of one image x (C, H, W), zero where
    /// they fall in the padding or past it; `width` is phaseWidth or (weight gradient)
    /// gradPlaneWidth.
    func split(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, width Wq: Int) {
        let s = stride, Hq = phaseHeight
        for c in 0..<channels {
            for p in 0..<s {
                // rows r with 0 ≤ s·r + p − padH < H
                let rows = validRange(offset: p - padH, stride: s, size: height, outputs: Hq)
                for q in 0..<s {
                    let plane = out + ((c * s + p) * s + q) * Hq * Wq
                    let cols = validRange(offset: q - padW, stride: s, size: width, outputs: Wq)
                    setAll(rows.lo * Wq, 0, plane)
                    for r in rows.lo..<rows.hi {
                        let row = plane + r * Wq
                        let src = x + (c * height + s * r + p - padH) * width + q - padW
                        for t in 0..<cols.lo { row[t] = 0 }
                        for t in cols.lo..<cols.hi { row[t] = src[s * t] }
                        for t in cols.hi..<Wq { row[t] = 0 }
                    }
                    setAll((Hq - rows.hi) * Wq, 0, plane + rows.hi * Wq)
                }
            }
        }
    }
}
