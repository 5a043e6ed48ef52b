import Foundation

/// Caffe's RMSProp: h ← (1 − rms_decay)·g² + rms_decay·h; update = localRate · g / (√h + delta).
public struct RMSPropRule: UpdateRule {
    public let rmsDecay: Float
    public let delta: Float
    public var type: String { "RMSProp" }
    public var historyCount: Int { 1 }
    public init(rmsDecay: Float, delta: Float) { self.rmsDecay = rmsDecay; self.delta = delta }

    public func computeUpdate(_ p: ParamSlice, localRate: Float, iter: Int) {
        let g = p.gradient, h = p.history, d = rmsDecay, oneMinus = 1 - rmsDecay
        for i in 0..<p.count {
            h[i] = oneMinus * (g[i] * g[i]) + d * h[i]
            let u = g[i] / (h[i].squareRoot() + delta)
            g[i] = localRate * u
        }
    }
}
