/// The vectorised kernels of PoolingLayer (MAX and AVE, forward and backward, any kernel,
/// stride and padding): eight windows of an output row at a time, one SIMD8 lane each, with
/// Caffe's results to the bit.
///
/// Each image row is first copied into a *polyphase row*: the row padded by `padW` on the left
/// (and on the right as far as the last group of windows reaches), split by padded column
/// modulo `strideW` into `strideW` phases of `phaseLength` floats. Tap kj of window pw is then
/// at phase kj % strideW, index pw + kj / strideW: the same tap of eight consecutive windows is
/// eight consecutive floats, one unaligned load whatever the stride, and no window needs
/// clipping because the padding holds a value that cannot change the result (see each kernel).
///
/// Planes are pipelined: a plane `planesAhead` further is copied in (or, backward, zeroed) a
/// few rows at a time while this one is computed, so that its cache misses overlap the
/// arithmetic, and its stores have reached the cache before unaligned loads read them back (a
/// load straddling stores still in flight waits for them, and so for their cache misses).
struct PoolingKernels {
    let height: Int, width: Int
    let kernelH: Int, kernelW: Int
    let strideH: Int, strideW: Int
    let padH: Int, padW: Int
    let pooledH: Int, pooledW: Int
    /// `pooledW` rounded up to whole groups of eight windows.
    let groupedW: Int
    /// Indices of a phase up to its last image pixel, in whole groups of eight: what backward
    /// accumulates (the padding to the right gets nothing worth keeping).
    let pixelsW: Int
    /// Floats in one phase of a polyphase row: as far as the taps of `groupedW` windows reach,
    /// and at least `pixelsW`.
    let phaseLength: Int

    init(height: Int, width: Int, kernelH: Int, kernelW: Int, strideH: Int, strideW: Int,
         padH: Int, padW: Int, pooledH: Int, pooledW: Int) {
        self.height = height; self.width = width
        self.kernelH = kernelH; self.kernelW = kernelW
        self.strideH = strideH; self.strideW = strideW
        self.padH = padH; self.padW = padW
        self.pooledH = pooledH; self.pooledW = pooledW
        groupedW = (pooledW + 7) / 8 * 8
        pixelsW = ((width - 1 + padW) / strideW + 8) / 8 * 8
        phaseLength = max(groupedW + (kernelW - 1) / strideW, pixelsW)
    }

    /// Floats in one polyphase row: `strideW` phases.
    var rowPitch: Int { strideW * phaseLength }

    /// Rows of the image window row `ph` covers (empty when a stride above the kernel starts
    /// the last window past the image).
    @inline(__always)
    private func rows(_ ph: Int) -> Range<Int> {
        let hs = ph * strideH - padH
        let h0 = max(hs, 0)
        return h0..<max(h0, min(hs + kernelH, height))
    }

    /// Planes the pipelined loops work ahead: about 2K floats in flight, so that a plane's cache
    /// misses are served before its turn, however small the planes.
    private var planesAhead: Int { max(1, 2048 / max(1, height * width)) }

    /// Floats of scratch (from the net's workspace) the kernels need, forward and backward,
    /// for MAX (`max`) or AVE pooling.
    func scratchFloats(max: Bool) -> Int {
        if shape == .oneColumn { return 0 }
        let ring = (planesAhead + 1) * height * rowPitch
        if max { return ring + 2 * height * groupedW }
        let shares = (planesAhead + 1) * pooledH * ((kernelW - 1) / strideW + pixelsW)
        return Swift.max(ring, shares + height * rowPitch) + pooledH * groupedW
    }

    /// Offset of tap kj in a polyphase row: (kj % strideW)·phaseLength + kj / strideW, without
    /// dividing for strides 1 and 2; `sW` is `strideW`, a constant in the specialised kernels,
    /// where this folds away.
    @inline(__always)
    private func tap(_ kj: Int, _ sW: Int) -> Int {
        sW == 1 ? kj : sW == 2 ? (kj & 1) * phaseLength + kj >> 1 : (kj % sW) * phaseLength + kj / sW
    }

    /// Whether `done` rows of the plane ahead are fewer than due after step ph of this plane's
    /// pooledH steps: spreads its rows evenly over them, without dividing.
    @inline(__always)
    private func behind(_ done: Int, step ph: Int) -> Bool { done * pooledH < (ph + 1) * height }

    /// The common square kernels and strides, for which the kernels are specialised with them
    /// as constants (a `KernelShape` type each): the loops over taps, phases and a whole
    /// window's rows unroll, and the windows' chains of dependent operations overlap. With one
    /// window a row (global pooling, mostly) there is nothing to spread over the lanes: Caffe's
    /// loops as they are.
    private enum Shape { case k3s2, k2s2, k3s1, other, oneColumn }

    private var shape: Shape {
        if pooledW == 1 { return .oneColumn }
        switch (kernelH, kernelW, strideW) {
        case (3, 3, 2): return .k3s2
        case (2, 2, 2): return .k2s2
        case (3, 3, 1): return .k3s1
        default: return .other
        }
    }

    /// Caffe's AVE divisor of every window into `div` (pooledH, groupedW): the window clipped
    /// to the PADDED image; 1 for the lanes past `pooledW`.
    private func divisors(_ div: UnsafeMutablePointer<Float>) {
        for ph in 0..<pooledH {
            let hs = ph * strideH - padH
            let poolH = min(hs + kernelH, height + padH) - hs
            for pw in 0..<groupedW {
                let ws = pw * strideW - padW
                div[ph * groupedW + pw] = pw < pooledW ? Float(poolH * (min(ws + kernelW, width + padW) - ws)) : 1
            }
        }
    }

    // MARK: polyphase rows

    /// The image columns of `src` (W) into the polyphase row `dst`, its padding left as it is.
    @inline(__always)
    private func copyToPhases(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>) {
        let W = width, sW = strideW, L = phaseLength, pd = padW
        switch sW {
        case 1:
            (dst + pd).update(from: src, count: W)
        case 2:
            // even columns to one phase, odd ones to the other
            let even = dst + ((pd & 1) * L + pd >> 1), odd = dst + (((pd + 1) & 1) * L + (pd + 1) >> 1)
            var i = 0
            while 2 * i + 16 <= W {
                let v = UnsafeRawPointer(src + 2 * i).loadUnaligned(as: SIMD16<Float>.self)
                UnsafeMutableRawPointer(even + i).storeBytes(of: v.evenHalf, as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(odd + i).storeBytes(of: v.oddHalf, as: SIMD8<Float>.self)
                i += 8
            }
            if 2 * i + 8 <= W {
                let v = UnsafeRawPointer(src + 2 * i).loadUnaligned(as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(even + i).storeBytes(of: v.evenHalf, as: SIMD4<Float>.self)
                UnsafeMutableRawPointer(odd + i).storeBytes(of: v.oddHalf, as: SIMD4<Float>.self)
                i += 4
            }
            while 2 * i < W {
                even[i] = src[2 * i]
                if 2 * i + 1 < W { odd[i] = src[2 * i + 1] }
                i += 1
            }
        default:
            var phase = pd % sW, index = pd / sW
            for c in 0..<W {
                dst[phase * L + index] = src[c]
                phase += 1
                if phase == sW { phase = 0; index += 1 }
            }
        }
    }

    /// The inverse of `copyToPhases`: the image columns of the polyphase row `src` into `dst` (W).
    @inline(__always)
    private func copyFromPhases(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>) {
        let W = width, sW = strideW, L = phaseLength, pd = padW
        switch sW {
        case 1:
            dst.update(from: src + pd, count: W)
        case 2:
            let even = src + ((pd & 1) * L + pd >> 1), odd = src + (((pd + 1) & 1) * L + (pd + 1) >> 1)
            var i = 0
            while 2 * i + 16 <= W {
                var v = SIMD16<Float>()
                v.evenHalf = UnsafeRawPointer(even + i).loadUnaligned(as: SIMD8<Float>.self)
                v.oddHalf = UnsafeRawPointer(odd + i).loadUnaligned(as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(dst + 2 * i).storeBytes(of: v, as: SIMD16<Float>.self)
                i += 8
            }
            if 2 * i + 8 <= W {
                var v = SIMD8<Float>()
                v.evenHalf = UnsafeRawPointer(even + i).loadUnaligned(as: SIMD4<Float>.self)
                v.oddHalf = UnsafeRawPointer(odd + i).loadUnaligned(as: SIMD4<Float>.self)
                UnsafeMutableRawPointer(dst + 2 * i).storeBytes(of: v, as: SIMD8<Float>.self)
                i += 4
            }
            while 2 * i < W {
                dst[2 * i] = even[i]
                if 2 * i + 1 < W { dst[2 * i + 1] = odd[i] }
                i += 1
            }
        default:
            var phase = pd % sW, index = pd / sW
            for c in 0..<W {
                dst[c] = src[phase * L + index]
                phase += 1
                if phase == sW { phase = 0; index += 1 }
            }
        }
    }

    // MARK: MAX

    /// y (planes, pH, pW) = max over each window of x (planes, H, W), and its argmax (index in
    /// the plane, −1 when nothing beat −FLT_MAX) into `mask`, or as floats into `topMask`.
    ///
    /// Caffe scans a window row-major with strict `>` from −FLT_MAX, so it keeps the first
    /// maximum. Done separably with the same rule, first the maximum of each image row over
    /// each window's columns, then over the window's rows, it picks the same element: the first
    /// row holding the maximum, and in it the first column. The padding is −FLT_MAX, which never
    /// beats anything. NaN never compares greater, so it is skipped as in Caffe.
    func maxForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, planes: Int,
                    mask: UnsafeMutablePointer<Int32>?, topMask: UnsafeMutablePointer<Float>?,
                    scratch: UnsafeMutablePointer<Float>) {
        switch shape {
        case .k3s2: maxForward(x, y, planes, mask, topMask, scratch, K3S2())
        case .k2s2: maxForward(x, y, planes, mask, topMask, scratch, K2S2())
        case .k3s1: maxForward(x, y, planes, mask, topMask, scratch, K3S1())
        case .other: maxForward(x, y, planes, mask, topMask, scratch, AnyKernel(kH: kernelH, kW: kernelW, sW: strideW))
        case .oneColumn: scalarForward(x, y, planes: planes, max: true, mask: mask, topMask: topMask)
        }
    }

    private func maxForward<K: KernelShape>(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ planes: Int,
                                            _ mask: UnsafeMutablePointer<Int32>?, _ topMask: UnsafeMutablePointer<Float>?,
                                            _ scratch: UnsafeMutablePointer<Float>, _ k: K) {
        let kH = k.kH, kW = k.kW, sW = k.sW
        let H = height, W = width, pH = pooledH, pW = pooledW, gW = groupedW
        let pitch = rowPitch
        let lowest = SIMD8<Float>(repeating: -Float.greatestFiniteMagnitude)
        // a ring of planes in polyphase rows, (ahead + 1, H, pitch): plane q in slot q % (ahead + 1)
        let ahead = planesAhead, planeFloats = H * pitch
        let phases = scratch
        phases.update(repeating: -Float.greatestFiniteMagnitude, count: (ahead + 1) * planeFloats)
        // each image row's maximum over each window's columns, and where (Int32s, only ever
        // read and written as raw bytes): (H, gW) each
        let rowBest = phases + (ahead + 1) * planeFloats
        let rowArg = UnsafeMutableRawPointer(rowBest + H * gW)
        // image column of each lane's first tap in group 0
        let laneColumn = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7) &* Int32(sW) &- Int32(padW)
        let yEnd = y + planes * pH * pW
        let maskEnd = mask.map { $0 + planes * pH * pW }, topMaskEnd = topMask.map { $0 + planes * pH * pW }

        for h in 0..<(min(ahead, planes) * H) { copyToPhases(x + h * W, phases + h * pitch) }
        var ring = PlaneRing(base: phases, stride: planeFloats, ahead: ahead)
        for pl in 0..<planes {
            let (cur, next) = ring.advance()
            let nextX: UnsafePointer<Float>? = pl + ahead < planes ? x + (pl + ahead) * H * W : nil
            for h in 0..<H {
                if let nx = nextX { copyToPhases(nx + h * W, next + h * pitch) }
                let row = cur + h * pitch
                let rowIndex = laneColumn &+ Int32(truncatingIfNeeded: h * W)
                var g = 0
                while g < gW {
                    let r = UnsafeRawPointer(row + g)
                    // The first tap takes its place unless it does not beat −FLT_MAX; its index
                    // is then wrong, but only while the maximum is −FLT_MAX, which ends as −1.
                    let first = r.loadUnaligned(as: SIMD8<Float>.self)
                    var best = lowest.replacing(with: first, where: first .> lowest)
                    let groupIndex = rowIndex &+ Int32(truncatingIfNeeded: g * sW)
                    var arg = groupIndex
                    for kj in 1..<kW {
                        let v = r.loadUnaligned(fromByteOffset: tap(kj, sW) * 4, as: SIMD8<Float>.self)
                        let gt = v .> best
                        best.replace(with: v, where: gt)
                        arg.replace(with: groupIndex &+ Int32(truncatingIfNeeded: kj), where: gt)
                    }
                    UnsafeMutableRawPointer(rowBest + (h * gW + g)).storeBytes(of: best, as: SIMD8<Float>.self)
                    rowArg.storeBytes(of: arg, toByteOffset: (h * gW + g) * 4, as: SIMD8<Int32>.self)
                    g += 8
                }
            }
            for ph in 0..<pH {
                let window = rows(ph)
                let o = (pl * pH + ph) * pW
                var g = 0
                while g < gW {
                    var best = lowest, arg = SIMD8<Int32>(repeating: -1)
                    @inline(__always) func take(_ h: Int, first: Bool) {
                        let v = UnsafeRawPointer(rowBest + (h * gW + g)).loadUnaligned(as: SIMD8<Float>.self)
                        let i = rowArg.loadUnaligned(fromByteOffset: (h * gW + g) * 4, as: SIMD8<Int32>.self)
                        if first {
                            best = v; arg = i
                        } else {
                            let gt = v .> best
                            best.replace(with: v, where: gt)
                            arg.replace(with: i, where: gt)
                        }
                    }
                    if window.count == kH {
                        for i in 0..<kH { take(window.lowerBound + i, first: i == 0) }
                    } else {
                        for h in window { take(h, first: h == window.lowerBound) }
                    }
                    // nothing beat −FLT_MAX (only NaN/−inf/−FLT_MAX or no pixel): Caffe's −1
                    arg.replace(with: -1, where: best .== lowest)
                    let n = pW - g
                    Self.store(best, y + (o + g), count: n, end: yEnd)
                    if let tm = topMask, let end = topMaskEnd {
                        Self.store(SIMD8<Float>(arg), tm + (o + g), count: n, end: end)
                    } else if let mk = mask, let end = maskEnd {
                        Self.store(arg, mk + (o + g), count: n, end: end)
                    }
                    g += 8
                }
            }
        }
    }

    /// dx (planes, H, W) = Σ over windows whose argmax (from `mask`, or the floats of
    /// `topMask`) is the pixel, of the window's dy (planes, pH, pW), added in window order
    /// from 0 as Caffe; −1 adds nothing.
    func maxBackward(_ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, planes: Int,
                     mask: UnsafePointer<Int32>?, topMask: UnsafePointer<Float>?) {
        let W = width, pH = pooledH, pW = pooledW
        let plane = height * W, outputs = pH * pW
        let ahead = planesAhead
        dx.update(repeating: 0, count: min(ahead, planes) * plane)
        for pl in 0..<planes {
            let d = dx + pl * plane, g = dy + pl * outputs
            let next: UnsafeMutablePointer<Float>? = pl + ahead < planes ? d + ahead * plane : nil
            var zeroed = 0                  // rows of the plane ahead
            for ph in 0..<pH {
                if let nx = next {
                    let first = zeroed
                    while behind(zeroed, step: ph) { zeroed += 1 }
                    (nx + first * W).update(repeating: 0, count: (zeroed - first) * W)
                }
                let j0 = ph * pW
                if let tm = topMask.map({ $0 + pl * outputs }) {
                    for j in j0..<(j0 + pW) {
                        let v = tm[j]
                        if v >= 0 && v < Float(plane) { d[Int(v)] += g[j] }
                    }
                } else if let mk = mask.map({ $0 + pl * outputs }) {
                    for j in j0..<(j0 + pW) {
                        let i = Int(mk[j])
                        if UInt(bitPattern: i) < UInt(plane) { d[i] += g[j] }
                    }
                }
            }
        }
    }

    // MARK: AVE

    /// y (planes, pH, pW) = the sum of each window of x (planes, H, W) over Caffe's divisor.
    ///
    /// Each lane sums its window row-major from 0, as Caffe. The padding is 0, and adding +0
    /// changes no sum: a sum that starts at +0 is never −0 (x + y is −0 only if both are).
    func aveForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, planes: Int,
                    scratch: UnsafeMutablePointer<Float>) {
        switch shape {
        case .k3s2: aveForward(x, y, planes, scratch, K3S2())
        case .k2s2: aveForward(x, y, planes, scratch, K2S2())
        case .k3s1: aveForward(x, y, planes, scratch, K3S1())
        case .other: aveForward(x, y, planes, scratch, AnyKernel(kH: kernelH, kW: kernelW, sW: strideW))
        case .oneColumn: scalarForward(x, y, planes: planes, max: false, mask: nil, topMask: nil)
        }
    }

    private func aveForward<K: KernelShape>(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ planes: Int,
                                            _ scratch: UnsafeMutablePointer<Float>, _ k: K) {
        let kH = k.kH, kW = k.kW, sW = k.sW
        let H = height, W = width, pH = pooledH, pW = pooledW, gW = groupedW
        let pitch = rowPitch
        // a ring of planes in polyphase rows, (ahead + 1, H, pitch): plane q in slot q % (ahead + 1)
        let ahead = planesAhead, planeFloats = H * pitch
        let phases = scratch
        phases.update(repeating: 0, count: (ahead + 1) * planeFloats)
        let div = phases + (ahead + 1) * planeFloats      // (pH, gW)
        divisors(div)
        let yEnd = y + planes * pH * pW

        for h in 0..<(min(ahead, planes) * H) { copyToPhases(x + h * W, phases + h * pitch) }
        var ring = PlaneRing(base: phases, stride: planeFloats, ahead: ahead)
        for pl in 0..<planes {
            let (cur, next) = ring.advance()
            let nextX: UnsafePointer<Float>? = pl + ahead < planes ? x + (pl + ahead) * H * W : nil
            var copied = 0                  // rows of the plane ahead
            for ph in 0..<pH {
                if let nx = nextX {
                    while behind(copied, step: ph) {
                        copyToPhases(nx + copied * W, next + copied * pitch)
                        copied += 1
                    }
                }
                let window = rows(ph)
                let o = (pl * pH + ph) * pW
                var g = 0
                while g < gW {
                    var s = SIMD8<Float>()
                    @inline(__always) func add(_ h: Int) {
                        let r = UnsafeRawPointer(cur + (h * pitch + g))
                        for kj in 0..<kW {
                            s += r.loadUnaligned(fromByteOffset: tap(kj, sW) * 4, as: SIMD8<Float>.self)
                        }
                    }
                    if window.count == kH {
                        for i in 0..<kH { add(window.lowerBound + i) }
                    } else {
                        for h in window { add(h) }
                    }
                    let q = s / UnsafeRawPointer(div + (ph * gW + g)).loadUnaligned(as: SIMD8<Float>.self)
                    Self.store(q, y + (o + g), count: pW - g, end: yEnd)
                    g += 8
                }
            }
        }
    }

    /// dx (planes, H, W) = Σ over the windows holding each pixel of dy (planes, pH, pW) over
    /// the window's divisor.
    ///
    /// Caffe adds each window's share to its pixels from 0, window after window, and a pixel's
    /// sum depends on that order. Rows of windows go in order. Within a row, pixel i of phase p
    /// gets the share of window i − m for each tap p + m·strideW: taking m from the largest
    /// down adds them window after window, in registers, one load and store per pixel group.
    /// Shares land in polyphase rows (padding included, then dropped); lanes past `pooledW`
    /// add +0, which changes no sum (see `aveForward`).
    func aveBackward(_ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, planes: Int,
                     scratch: UnsafeMutablePointer<Float>) {
        switch shape {
        case .k3s2: aveBackward(dy, dx, planes, scratch, K3S2())
        case .k2s2: aveBackward(dy, dx, planes, scratch, K2S2())
        case .k3s1: aveBackward(dy, dx, planes, scratch, K3S1())
        case .other: aveBackward(dy, dx, planes, scratch, AnyKernel(kH: kernelH, kW: kernelW, sW: strideW))
        case .oneColumn: scalarAveBackward(dy, dx, planes: planes)
        }
    }

    private func aveBackward<K: KernelShape>(_ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ planes: Int,
                                             _ scratch: UnsafeMutablePointer<Float>, _ k: K) {
        let kW = k.kW, sW = k.sW
        let H = height, W = width, pH = pooledH, pW = pooledW, gW = groupedW
        let L = phaseLength, pitch = rowPitch
        // each window row's shares after `lead` zeros (windows −1, −2, … for the taps m > 0), a
        // ring of planes, (ahead + 1, pH, lead + pixelsW); lanes past pW stay 0
        let lead = (kW - 1) / sW, reach = pixelsW, shareRow = lead + reach
        let ahead = planesAhead, planeShares = pH * shareRow
        let shares = scratch
        let sums = shares + (ahead + 1) * planeShares                           // (H, pitch)
        let div = sums + H * pitch                                               // (pH, gW)
        scratch.update(repeating: 0, count: (ahead + 1) * planeShares + H * pitch)
        divisors(div)

        /// dy / divisor of window row `ph` of plane `pl`, into `to` (lead + pixelsW).
        func share(_ pl: Int, _ ph: Int, to: UnsafeMutablePointer<Float>) {
            let top = dy + (pl * pH + ph) * pW, d = div + ph * gW, s = to + lead
            var pw = 0
            while pw + 8 <= pW {
                let q = UnsafeRawPointer(top + pw).loadUnaligned(as: SIMD8<Float>.self)
                    / UnsafeRawPointer(d + pw).loadUnaligned(as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(s + pw).storeBytes(of: q, as: SIMD8<Float>.self)
                pw += 8
            }
            if pw + 4 <= pW {
                let q = UnsafeRawPointer(top + pw).loadUnaligned(as: SIMD4<Float>.self)
                    / UnsafeRawPointer(d + pw).loadUnaligned(as: SIMD4<Float>.self)
                UnsafeMutableRawPointer(s + pw).storeBytes(of: q, as: SIMD4<Float>.self)
                pw += 4
            }
            while pw < pW { s[pw] = top[pw] / d[pw]; pw += 1 }
        }

        for q in 0..<min(ahead, planes) {
            for ph in 0..<pH { share(q, ph, to: shares + (q * pH + ph) * shareRow) }
        }
        var ring = PlaneRing(base: shares, stride: planeShares, ahead: ahead)
        for pl in 0..<planes {
            let (cur, next) = ring.advance()
            let d = dx + pl * H * W
            var done = 0                    // image rows written to dx (and their sums zeroed)
            for ph in 0..<pH {
                if pl + ahead < planes { share(pl + ahead, ph, to: next + ph * shareRow) }
                let s = cur + (ph * shareRow + lead)
                for h in rows(ph) {
                    for p in 0..<sW {
                        // taps of phase p: p, p + sW, …
                        let count = p < kW ? (kW - 1 - p) / sW + 1 : 0
                        if count == 0 { continue }
                        let r = sums + (h * pitch + p * L)
                        var g = 0
                        while g < reach {
                            let pr = UnsafeMutableRawPointer(r + g)
                            var v = pr.loadUnaligned(as: SIMD8<Float>.self)
                            var m = count - 1
                            while m >= 0 {
                                v += UnsafeRawPointer(s + (g - m)).loadUnaligned(as: SIMD8<Float>.self)
                                m -= 1
                            }
                            pr.storeBytes(of: v, as: SIMD8<Float>.self)
                            g += 8
                        }
                    }
                }
                // rows above the next window row's first are final
                let final = ph + 1 < pH ? min(H, max(0, (ph + 1) * strideH - padH)) : H
                while done < final {
                    let r = sums + done * pitch
                    copyFromPhases(r, d + done * W)
                    // zeroed by stores shaped like the adds' (same address and width), which
                    // the next plane's loads can take their values from while still in flight
                    for p in 0..<sW {
                        var g = 0
                        while g < reach {
                            UnsafeMutableRawPointer(r + (p * L + g)).storeBytes(of: SIMD8<Float>(), as: SIMD8<Float>.self)
                            g += 8
                        }
                    }
                    done += 1
                }
            }
        }
    }

    // MARK: one window a row

    /// The window of output (ph, pw): its rows and columns in the image, and Caffe's AVE divisor.
    @inline(__always)
    private func window(_ ph: Int, _ pw: Int) -> (rows: Range<Int>, columns: Range<Int>, divisor: Float) {
        let hs = ph * strideH - padH, ws = pw * strideW - padW
        let he = min(hs + kernelH, height + padH), we = min(ws + kernelW, width + padW)
        let h0 = max(hs, 0), w0 = max(ws, 0)
        return (h0..<max(h0, min(he, height)), w0..<max(w0, min(we, width)), Float((he - hs) * (we - ws)))
    }

    /// Caffe's forward loops: MAX (strict `>` from −FLT_MAX, argmax into `mask` or `topMask`)
    /// or AVE (the window summed row-major from 0, over the divisor).
    private func scalarForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, planes: Int, max: Bool,
                               mask: UnsafeMutablePointer<Int32>?, topMask: UnsafeMutablePointer<Float>?) {
        let H = height, W = width, pH = pooledH, pW = pooledW
        for pl in 0..<planes {
            let src = x + pl * H * W
            for ph in 0..<pH {
                for pw in 0..<pW {
                    let o = (pl * pH + ph) * pW + pw
                    let win = window(ph, pw)
                    if max {
                        var best = -Float.greatestFiniteMagnitude, arg = -1
                        for h in win.rows {
                            for w in win.columns where src[h * W + w] > best { best = src[h * W + w]; arg = h * W + w }
                        }
                        y[o] = best
                        if let tm = topMask { tm[o] = Float(arg) } else { mask?[o] = Int32(truncatingIfNeeded: arg) }
                    } else {
                        var s: Float = 0
                        for h in win.rows {
                            for w in win.columns { s += src[h * W + w] }
                        }
                        y[o] = s / win.divisor
                    }
                }
            }
        }
    }

    /// Caffe's AVE backward loops: each window's share added to its pixels, window after window.
    private func scalarAveBackward(_ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, planes: Int) {
        let H = height, W = width, pH = pooledH, pW = pooledW
        for pl in 0..<planes {
            let d = dx + pl * H * W
            d.update(repeating: 0, count: H * W)
            for ph in 0..<pH {
                for pw in 0..<pW {
                    let win = window(ph, pw)
                    let share = dy[(pl * pH + ph) * pW + pw] / win.divisor
                    for h in win.rows {
                        for w in win.columns { d[h * W + w] += share }
                    }
                }
            }
        }
    }

    // MARK: stores

    /// v to p, or only its first `count` lanes when all eight would pass `end`. Lanes past a
    /// row's last window fall on the next output row, written later (rows go in order), so
    /// only the last group of a blob needs trimming.
    @inline(__always)
    private static func store<T: SIMDScalar>(_ v: SIMD8<T>, _ p: UnsafeMutablePointer<T>, count: Int,
                                             end: UnsafeMutablePointer<T>) {
        if end - p >= 8 {
            UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<T>.self)
        } else {
            for l in 0..<min(count, 8) { p[l] = v[l] }
        }
    }
}

/// A window's height and width and the horizontal stride: constants in the common shapes'
/// types, so that the kernels specialised for them unroll.
private protocol KernelShape {
    var kH: Int { get }
    var kW: Int { get }
    var sW: Int { get }
}

private struct K3S2: KernelShape { var kH: Int { 3 }; var kW: Int { 3 }; var sW: Int { 2 } }
private struct K2S2: KernelShape { var kH: Int { 2 }; var kW: Int { 2 }; var sW: Int { 2 } }
private struct K3S1: KernelShape { var kH: Int { 3 }; var kW: Int { 3 }; var sW: Int { 1 } }
private struct AnyKernel: KernelShape { let kH: Int, kW: Int, sW: Int }

/// A ring of `ahead + 1` plane buffers of `stride` floats: while plane pl is computed in
/// `current`, plane pl + ahead is filled into `next`, the buffer plane pl − 1 used.
struct PlaneRing {
    let base: UnsafeMutablePointer<Float>
    let stride: Int
    let ahead: Int
    private var slot = 0

    init(base: UnsafeMutablePointer<Float>, stride: Int, ahead: Int) {
        self.base = base; self.stride = stride; self.ahead = ahead
    }

    /// The buffers of the next plane and of the plane `ahead` further; then moves on one plane.
    @inline(__always)
    mutating func advance() -> (current: UnsafeMutablePointer<Float>, next: UnsafeMutablePointer<Float>) {
        let current = base + slot * stride, next = base + (slot == 0 ? ahead : slot - 1) * stride
        slot = slot == ahead ? 0 : slot + 1
        return (current, next)
    }
}
