// im2col / col2im over a whole minibatch (Caffe's im2col_cpu / col2im_cpu, batched).
//
// Caffe unrolls one image at a time into a (C·kh·kw, outH·outW) column matrix and runs one gemm
// per image. Here the whole batch is unrolled into ONE matrix
//
//     columns (C·kh·kw, N·outH·outW):  row r = (c·kh + ki)·kw + kj,  column n·outH·outW + oh·outW + ow
//
// so a convolution is one large gemm per group (group g owns the contiguous rows
// [g·(C/group)·kh·kw, (g+1)·(C/group)·kh·kw)). Values are Caffe's exactly (same taps, zero padding).

/// The geometry of a 2-D convolution (or of its im2col unrolling): input planes, kernel, zero
/// padding, stride and dilation, as in Caffe's ConvolutionParameter for two spatial axes.
public struct ConvGeometry: Equatable, Sendable {
    public var channels: Int
    public var height: Int
    public var width: Int
    public var kernelH: Int
    public var kernelW: Int
    public var padH: Int
    public var padW: Int
    public var strideH: Int
    public var strideW: Int
    public var dilationH: Int
    public var dilationW: Int

    public init(channels: Int, height: Int, width: Int, kernelH: Int, kernelW: Int,
                padH: Int = 0, padW: Int = 0, strideH: Int = 1, strideW: Int = 1,
                dilationH: Int = 1, dilationW: Int = 1) {
        self.channels = channels; self.height = height; self.width = width
        self.kernelH = kernelH; self.kernelW = kernelW
        self.padH = padH; self.padW = padW
        self.strideH = strideH; self.strideW = strideW
        self.dilationH = dilationH; self.dilationW = dilationW
    }

    /// Caffe's output height: (H + 2·pad − (dilation·(k − 1) + 1)) / stride + 1, C division.
    public var outputH: Int { (height + 2 * padH - (dilationH * (kernelH - 1) + 1)) / strideH + 1 }
    /// Caffe's output width (as `outputH`).
    public var outputW: Int { (width + 2 * padW - (dilationW * (kernelW - 1) + 1)) / strideW + 1 }
    /// outH · outW
    public var outputSpatial: Int { outputH * outputW }
    /// Rows of the column matrix: C · kh · kw.
    public var columnRows: Int { channels * kernelH * kernelW }
    /// Floats of the column matrix for `batch` images: C·kh·kw · batch·outH·outW.
    public func columnCount(batch: Int) -> Int { columnRows * batch * outputSpatial }
}

/// The output positions o in [lo, hi) whose input coordinate `o·stride + offset` lies in [0, size).
@inline(__always)
func validRange(offset: Int, stride: Int, size: Int, outputs: Int) -> (lo: Int, hi: Int) {
    // lo = smallest o ≥ 0 with o·stride + offset ≥ 0
    let lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride
    // hi = 1 + largest o with o·stride + offset ≤ size − 1
    let last = size - 1 - offset
    let hi = last < 0 ? 0 : last / stride + 1
    let l = min(lo, outputs), h = min(hi, outputs)
    return (l, max(l, h))
}

// Rows of a column block are short (outW floats: 8…30 in LeNet-sized nets), so memcpy/memset
// calls per row cost more than the copy. These move short spans with unaligned SIMD loads and
// stores (about 2x faster im2col on LeNet's conv2 than per-row memcpy) and fall back to
// memcpy/memset for long spans.

@inline(__always)
private func copySpan(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    if n >= 64 { dst.update(from: src, count: n); return }
    let s = UnsafeRawPointer(src), d = UnsafeMutableRawPointer(dst)
    var i = 0
    while i &+ 8 <= n {
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self),
                     toByteOffset: i &* 4, as: SIMD8<Float>.self)
        i &+= 8
    }
    if i &+ 4 <= n {
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: i &* 4, as: SIMD4<Float>.self),
                     toByteOffset: i &* 4, as: SIMD4<Float>.self)
        i &+= 4
    }
    // written out so the optimizer does not turn the tail back into a memcpy call
    if i < n { dst[i] = src[i] }
    if i &+ 1 < n { dst[i &+ 1] = src[i &+ 1] }
    if i &+ 2 < n { dst[i &+ 2] = src[i &+ 2] }
}

@inline(__always)
private func zeroSpan(_ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    if n >= 64 { dst.update(repeating: 0, count: n); return }
    let d = UnsafeMutableRawPointer(dst)
    var i = 0
    while i &+ 8 <= n { d.storeBytes(of: SIMD8<Float>(), toByteOffset: i &* 4, as: SIMD8<Float>.self); i &+= 8 }
    if i &+ 4 <= n { d.storeBytes(of: SIMD4<Float>(), toByteOffset: i &* 4, as: SIMD4<Float>.self); i &+= 4 }
    if i < n { dst[i] = 0 }
    if i &+ 1 < n { dst[i &+ 1] = 0 }
    if i &+ 2 < n { dst[i &+ 2] = 0 }
}

/// dst[0..<n] += src[0..<n]
@inline(__always)
private func addSpan(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    let s = UnsafeRawPointer(src), d = UnsafeMutableRawPointer(dst)
    var i = 0
    while i &+ 8 <= n {
        let v = d.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
            + s.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
        d.storeBytes(of: v, toByteOffset: i &* 4, as: SIMD8<Float>.self)
        i &+= 8
    }
    while i < n { dst[i] += src[i]; i &+= 1 }
}

/// For each of `batch` images (`imageStride` floats apart): copies `rows` rows of `width` floats,
/// `rowStride` apart in the image, into the dense (rows, width) block of `dst` (blocks contiguous).
@inline(__always)
private func copyRows(_ src: UnsafePointer<Float>, imageStride: Int, rowStride: Int, rows: Int, width: Int,
                      _ dst: UnsafeMutablePointer<Float>, batch: Int) {
    var s = src, d = dst
    if width == 8 {
        for _ in 0..<batch {
            var ss = UnsafeRawPointer(s)
            var dd = UnsafeMutableRawPointer(d)
            for _ in 0..<rows {
                dd.storeBytes(of: ss.loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
                ss += rowStride &* 4
                dd += 32
            }
            s += imageStride
            d += rows &* 8
        }
        return
    }
    if width == 16 || width == 32 {
        // CIFAR-sized rows: whole SIMD8 moves, no tail
        let vectors = width / 8
        for _ in 0..<batch {
            var ss = UnsafeRawPointer(s)
            var dd = UnsafeMutableRawPointer(d)
            for _ in 0..<rows {
                for v in 0..<vectors {
                    dd.storeBytes(of: ss.loadUnaligned(fromByteOffset: v &* 32, as: SIMD8<Float>.self),
                                  toByteOffset: v &* 32, as: SIMD8<Float>.self)
                }
                ss += rowStride &* 4
                dd += width &* 4
            }
            s += imageStride
            d += rows &* width
        }
        return
    }
    for _ in 0..<batch {
        var ss = s, dd = d
        for _ in 0..<rows {
            copySpan(ss, dd, width)
            ss += rowStride
            dd += width
        }
        s += imageStride
        d += rows &* width
    }
}

/// The adjoint of `copyRows`: adds each image's dense (rows, width) block of `src` into `rows`
/// rows of `width` floats, `rowStride` apart, of that image (images `imageStride` apart).
@inline(__always)
private func addRows(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, imageStride: Int,
                     rowStride: Int, rows: Int, width: Int, batch: Int) {
    var s = src, d = dst
    if width == 8 {
        for _ in 0..<batch {
            var ss = UnsafeRawPointer(s)
            var dd = UnsafeMutableRawPointer(d)
            for _ in 0..<rows {
                let v = dd.loadUnaligned(as: SIMD8<Float>.self) + ss.loadUnaligned(as: SIMD8<Float>.self)
                dd.storeBytes(of: v, as: SIMD8<Float>.self)
                ss += 32
                dd += rowStride &* 4
            }
            s += rows &* 8
            d += imageStride
        }
        return
    }
    for _ in 0..<batch {
        var ss = s, dd = d
        for _ in 0..<rows {
            addSpan(ss, dd, width)
            ss += width
            dd += rowStride
        }
        s += rows &* width
        d += imageStride
    }
}

/// Unrolls `batch` images (batch, C, H, W) into `columns` (C·kh·kw, batch·outH·outW), zero padded.
/// `columns` must hold `g.columnCount(batch:)` floats; every one of them is written.
public func im2col(_ image: UnsafePointer<Float>, batch: Int, _ g: ConvGeometry,
                   _ columns: UnsafeMutablePointer<Float>) {
    let H = g.height, W = g.width, C = g.channels
    let outH = g.outputH, outW = g.outputW
    let outHW = outH * outW
    guard outH > 0, outW > 0, batch > 0 else { return }
    let ld = batch * outHW          // floats per column-matrix row
    let plane = H * W
    let kh = g.kernelH, kw = g.kernelW

    // 1x1, stride 1, no pad: each column row is one image plane, copied whole.
    if kh == 1 && kw == 1 && g.strideH == 1 && g.strideW == 1 && g.padH == 0 && g.padW == 0 {
        for c in 0..<C {
            for n in 0..<batch {
                (columns + c * ld + n * outHW).update(from: image + (n * C + c) * plane, count: plane)
            }
        }
        return
    }

    // Row (c, ki, kj) outer, image n inner: each column row is written sequentially, and the
    // batch's planes of channel c stay in cache across its kh·kw rows.
    let imageStride = C * plane
    for c in 0..<C {
        for ki in 0..<kh {
            let rowOffset = ki * g.dilationH - g.padH           // ih = oh·strideH + rowOffset
            let (ohLo, ohHi) = validRange(offset: rowOffset, stride: g.strideH, size: H, outputs: outH)
            for kj in 0..<kw {
                let colOffset = kj * g.dilationW - g.padW       // iw = ow·strideW + colOffset
                let (owLo, owHi) = validRange(offset: colOffset, stride: g.strideW, size: W, outputs: outW)
                let span = owHi - owLo
                let row = columns + ((c * kh + ki) * kw + kj) * ld
                if g.strideW == 1 && ohLo == 0 && ohHi == outH && owLo == 0 && owHi == outW {
                    // Interior tap (no padding reached), unit column stride: every block row is
                    // one short contiguous copy. Hot path of unpadded nets (LeNet): the generic
                    // loop below spends more on bookkeeping than on the copy.
                    copyRows(image + c * plane + rowOffset * W + colOffset, imageStride: imageStride,
                             rowStride: g.strideH * W, rows: outH, width: outW, row, batch: batch)
                    continue
                }
                for n in 0..<batch {
                    let src = image + (n * C + c) * plane       // (H, W) plane
                    let dst = row + n * outHW                   // (outH, outW) block
                    if ohLo > 0 { zeroSpan(dst, ohLo * outW) }
                    if ohHi < outH { zeroSpan(dst + ohHi * outW, (outH - ohHi) * outW) }
                    for oh in ohLo..<ohHi {
                        let srow = src + (oh * g.strideH + rowOffset) * W + colOffset
                        let drow = dst + oh * outW
                        if owLo > 0 { zeroSpan(drow, owLo) }
                        if span > 0 {
                            if g.strideW == 1 {
                                copySpan(srow + owLo, drow + owLo, span)
                            } else {
                                let sw = g.strideW
                                for ow in owLo..<owHi { drow[ow] = srow[ow * sw] }
                            }
                        }
                        if owHi < outW { zeroSpan(drow + owHi, outW - owHi) }
                    }
                }
            }
        }
    }
}

/// The adjoint of `im2col`: sums `columns` (C·kh·kw, batch·outH·outW) back into `image`
/// (batch, C, H, W), which is OVERWRITTEN (zeroed first, as Caffe's col2im_cpu).
public func col2im(_ columns: UnsafePointer<Float>, batch: Int, _ g: ConvGeometry,
                   _ image: UnsafeMutablePointer<Float>) {
    let H = g.height, W = g.width, C = g.channels
    let plane = H * W
    image.update(repeating: 0, count: batch * C * plane)
    let outH = g.outputH, outW = g.outputW
    let outHW = outH * outW
    guard outH > 0, outW > 0, batch > 0 else { return }
    let ld = batch * outHW
    let kh = g.kernelH, kw = g.kernelW

    if kh == 1 && kw == 1 && g.strideH == 1 && g.strideW == 1 && g.padH == 0 && g.padW == 0 {
        for c in 0..<C {
            for n in 0..<batch {
                (image + (n * C + c) * plane).update(from: columns + c * ld + n * outHW, count: plane)
            }
        }
        return
    }

    // Same order as im2col: the columns are read sequentially.
    for c in 0..<C {
        for ki in 0..<kh {
            let rowOffset = ki * g.dilationH - g.padH
            let (ohLo, ohHi) = validRange(offset: rowOffset, stride: g.strideH, size: H, outputs: outH)
            for kj in 0..<kw {
                let colOffset = kj * g.dilationW - g.padW
                let (owLo, owHi) = validRange(offset: colOffset, stride: g.strideW, size: W, outputs: outW)
                if owHi <= owLo { continue }
                let row = columns + ((c * kh + ki) * kw + kj) * ld
                if g.strideW == 1 && ohLo == 0 && ohHi == outH && owLo == 0 && owHi == outW {
                    // interior tap: the adjoint of im2col's fast path
                    addRows(row, into: image + c * plane + rowOffset * W + colOffset, imageStride: C * plane,
                            rowStride: g.strideH * W, rows: outH, width: outW, batch: batch)
                    continue
                }
                for n in 0..<batch {
                    let dstPlane = image + (n * C + c) * plane
                    let src = row + n * outHW
                    for oh in ohLo..<ohHi {
                        let drow = dstPlane + (oh * g.strideH + rowOffset) * W + colOffset
                        let srow = src + oh * outW
                        if g.strideW == 1 {
                            addSpan(srow + owLo, drow + owLo, owHi - owLo)
                        } else {
                            let sw = g.strideW
                            for ow in owLo..<owHi { drow[ow * sw] += srow[ow] }
                        }
                    }
                }
            }
        }
    }
}
