import Foundation

/// Reductions and per-channel maps over contiguous floats in eight SIMD lanes. Each result is
/// summed in a fixed order (lane by lane, then the lanes left to right, then the tail), so a
/// layer that gives each thread whole channels gets the same bits on any thread count.
/// (OpenBLAS's sdot/saxpy pick their kernel by CPU and run one thread; these are for the small
/// per-channel passes of BatchNorm and Scale, where a call per plane would cost more.)
/// No `addProduct`: built for baseline x86-64, it becomes a libm `fmaf` call per lane.
typealias Lanes = SIMD8<Float>

@inline(__always) private func load(_ p: UnsafePointer<Float>) -> Lanes {
    UnsafeRawPointer(p).loadUnaligned(as: Lanes.self)
}

@inline(__always) private func store(_ v: Lanes, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lanes.self)
}

/// Σ x[i].
func laneSum(_ n: Int, _ x: UnsafePointer<Float>) -> Float {
    var acc = Lanes(), i = 0
    while i &+ 8 <= n { acc += load(x + i); i &+= 8 }
    var s = acc.sum()
    while i < n { s += x[i]; i &+= 1 }
    return s
}

/// Σ (x[i] − m)².
func laneSquaredDeviations(_ n: Int, _ x: UnsafePointer<Float>, from m: Float) -> Float {
    var acc = Lanes(), i = 0
    let mv = Lanes(repeating: m)
    while i &+ 8 <= n { let d = load(x + i) - mv; acc += d * d; i &+= 8 }
    var s = acc.sum()
    while i < n { let d = x[i] - m; s += d * d; i &+= 1 }
    return s
}

/// (Σ a[i]·b[i], Σ a[i]).
func laneDotAndSum(_ n: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) -> (dot: Float, sum: Float) {
    var d = Lanes(), s = Lanes(), i = 0
    while i &+ 8 <= n { let av = load(a + i); d += av * load(b + i); s += av; i &+= 8 }
    var dot = d.sum(), sum = s.sum()
    while i < n { dot += a[i] * b[i]; sum += a[i]; i &+= 1 }
    return (dot, sum)
}

/// y[i] = x[i]·k + c (y may be x).
func laneAffine(_ n: Int, _ x: UnsafePointer<Float>, _ k: Float, _ c: Float, _ y: UnsafeMutablePointer<Float>) {
    let kv = Lanes(repeating: k), cv = Lanes(repeating: c)
    var i = 0
    while i &+ 8 <= n { store(load(x + i) * kv + cv, y + i); i &+= 8 }
    while i < n { y[i] = x[i] * k + c; i &+= 1 }
}

/// y[i] = z[i] = (x[i] − m)·k (y may be x).
func laneNormalize(_ n: Int, _ x: UnsafePointer<Float>, _ m: Float, _ k: Float,
                   _ y: UnsafeMutablePointer<Float>, _ z: UnsafeMutablePointer<Float>) {
    let mv = Lanes(repeating: m), kv = Lanes(repeating: k)
    var i = 0
    while i &+ 8 <= n { let t = (load(x + i) - mv) * kv; store(t, y + i); store(t, z + i); i &+= 8 }
    while i < n { let t = (x[i] - m) * k; y[i] = t; z[i] = t; i &+= 1 }
}

/// dx[i] = (dy[i] + a·yN[i] + g)·k (dx may be dy): BatchNorm's input gradient.
func laneNormGradient(_ n: Int, _ dy: UnsafePointer<Float>, _ yN: UnsafePointer<Float>, _ a: Float, _ g: Float,
                      _ k: Float, _ dx: UnsafeMutablePointer<Float>) {
    let av = Lanes(repeating: a), gv = Lanes(repeating: g), kv = Lanes(repeating: k)
    var i = 0
    while i &+ 8 <= n { store((load(dy + i) + av * load(yN + i) + gv) * kv, dx + i); i &+= 8 }
    while i < n { dx[i] = (dy[i] + a * yN[i] + g) * k; i &+= 1 }
}

/// y[i] = x[i]^−β for x > 0 (LRN's scale). β = 0.75 (Caffe's and AlexNet's default), 0.5 and 1
/// take square roots and a division in lanes instead of powf per element (several times faster);
/// results may differ from powf in the last bit.
func laneNegativePower(_ n: Int, _ x: UnsafePointer<Float>, _ beta: Float, _ y: UnsafeMutablePointer<Float>) {
    @inline(__always) func each(_ f: (Lanes) -> Lanes, _ g: (Float) -> Float) {
        var i = 0
        while i &+ 8 <= n { store(f(load(x + i)), y + i); i &+= 8 }
        while i < n { y[i] = g(x[i]); i &+= 1 }
    }
    let one = Lanes(repeating: 1)
    switch beta {
    case 0.75: each({ let r = $0.squareRoot(); return one / (r * r.squareRoot()) },
                    { let r = $0.squareRoot(); return 1 / (r * r.squareRoot()) })
    case 0.5: each({ one / $0.squareRoot() }, { 1 / $0.squareRoot() })
    case 1: each({ one / $0 }, { 1 / $0 })
    default: for i in 0..<n { y[i] = powf(x[i], -beta) }
    }
}

// Fused BatchNorm → Scale (→ ReLU) (see FusedChain): the same operations, in the same order, as
// laneNormalize, laneAffine, ReLULayer and laneDotAndSum/laneNormGradient, one pass instead of
// three. `slope` nil: no ReLU. Swift's max(p, 0) is `0 >= p ? 0 : p`, min(p, 0) `0 < p ? 0 : p`.

/// ReLULayer's forward: max(p, 0) + slope·min(p, 0) (just max(p, 0) for slope 0).
@inline(__always) private func relu(_ p: Lanes, _ slope: Float?) -> Lanes {
    guard let slope else { return p }
    let zero = Lanes(), positive = p.replacing(with: zero, where: p .<= zero)
    return slope == 0 ? positive : positive + Lanes(repeating: slope) * p.replacing(with: zero, where: p .> zero)
}

@inline(__always) private func relu(_ p: Float, _ slope: Float?) -> Float {
    guard let slope else { return p }
    return slope == 0 ? max(p, 0) : max(p, 0) + slope * min(p, 0)
}

/// ReLULayer's backward: dy·(p > 0 ? 1 : slope). p > 0 exactly where the ReLU's output is, for
/// slope ≥ 0.
@inline(__always) private func reluGradient(_ dy: Lanes, _ p: Lanes, _ slope: Float?) -> Lanes {
    guard let slope else { return dy }
    return dy * Lanes(repeating: slope).replacing(with: 1, where: p .> 0)
}

@inline(__always) private func reluGradient(_ dy: Float, _ p: Float, _ slope: Float?) -> Float {
    guard let slope else { return dy }
    return dy * (p > 0 ? 1 : slope)
}

/// z[i] = (x[i] − m)·k, y[i] = relu(z[i]·s + b) (y may be x).
func laneNormalizeAffineReLU(_ n: Int, _ x: UnsafePointer<Float>, _ m: Float, _ k: Float, _ s: Float, _ b: Float,
                             _ slope: Float?, _ y: UnsafeMutablePointer<Float>, _ z: UnsafeMutablePointer<Float>) {
    let mv = Lanes(repeating: m), kv = Lanes(repeating: k), sv = Lanes(repeating: s), bv = Lanes(repeating: b)
    var i = 0
    while i &+ 8 <= n {
        let t = (load(x + i) - mv) * kv
        store(t, z + i); store(relu(t * sv + bv, slope), y + i)
        i &+= 8
    }
    while i < n { let t = (x[i] - m) * k; z[i] = t; y[i] = relu(t * s + b, slope); i &+= 1 }
}

/// With g = reluGradient(dy, z·s + b) (the Scale's output gradient) and h = g·s (the
/// BatchNorm's): (Σ g·z, Σ g) for the Scale's scale and bias, (Σ h·z, Σ h) for the BatchNorm.
func laneAffineReLUSums(_ n: Int, _ dy: UnsafePointer<Float>, _ z: UnsafePointer<Float>, _ s: Float, _ b: Float,
                        _ slope: Float?) -> (scaleDot: Float, scaleSum: Float, normDot: Float, normSum: Float) {
    let sv = Lanes(repeating: s), bv = Lanes(repeating: b), zero = Lanes()
    var gz = Lanes(), g = Lanes(), hz = Lanes(), h = Lanes(), i = 0
    while i &+ 8 <= n {
        let zv = load(z + i)
        let gv = reluGradient(load(dy + i), zv * sv + bv, slope), hv = gv * sv + zero
        gz += gv * zv; g += gv; hz += hv * zv; h += hv
        i &+= 8
    }
    var r = (scaleDot: gz.sum(), scaleSum: g.sum(), normDot: hz.sum(), normSum: h.sum())
    while i < n {
        let gi = reluGradient(dy[i], z[i] * s + b, slope), hi = gi * s + 0
        r.scaleDot += gi * z[i]; r.scaleSum += gi; r.normDot += hi * z[i]; r.normSum += hi
        i &+= 1
    }
    return r
}

/// dx[i] = (h[i] + a·z[i] + g)·k with h as in laneAffineReLUSums (dx may be dy).
func laneAffineReLUNormGradient(_ n: Int, _ dy: UnsafePointer<Float>, _ z: UnsafePointer<Float>, _ s: Float,
                                _ b: Float, _ slope: Float?, _ a: Float, _ g: Float, _ k: Float,
                                _ dx: UnsafeMutablePointer<Float>) {
    let sv = Lanes(repeating: s), bv = Lanes(repeating: b), zero = Lanes()
    let av = Lanes(repeating: a), gv = Lanes(repeating: g), kv = Lanes(repeating: k)
    var i = 0
    while i &+ 8 <= n {
        let zv = load(z + i)
        let hv = reluGradient(load(dy + i), zv * sv + bv, slope) * sv + zero
        store((hv + av * zv + gv) * kv, dx + i)
        i &+= 8
    }
    while i < n { dx[i] = (reluGradient(dy[i], z[i] * s + b, slope) * s + 0 + a * z[i] + g) * k; i &+= 1 }
}
