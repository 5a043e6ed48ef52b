import Foundation

/// Caffe's AdaDelta (Zeiler 2012), `momentum` being the decay ρ:
/// h ← (1 − ρ)·g² + ρ·h;  u = g · √((h₂ + delta) / (h + delta));
/// h₂ ← (1 − ρ)·u² + ρ·h₂;  update = localRate · u.
/// Caffe keeps h for every param, then h₂ for every param (history_ = [h…, h₂…]).
public struct AdaDeltaRule: UpdateRule {
    public let momentum: Float
    public let delta: Float
    public var type: String { "AdaDelta" }
    public var historyCount: Int { 2 }
    public init(momentum: Float, delta: Float) { self.momentum = momentum; self.delta = delta }

    public func computeUpdate(_ p: ParamSlice, localRate: Float, iter: Int) {
        guard let h2 = p.history2 else { return }
        let g = p.gradient, h = p.history, m = momentum, oneMinus = 1 - momentum
        for i in 0..<p.count {
            h[i] = oneMinus * (g[i] * g[i]) + m * h[i]
            let ratio = (delta + h2[i]) / (delta + h[i])
            let u = g[i] * ratio.squareRoot()
            h2[i] = oneMinus * (u * u) + m * h2[i]
            g[i] = localRate * u
        }
    }
}
