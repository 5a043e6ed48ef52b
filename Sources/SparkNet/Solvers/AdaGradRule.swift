import Foundation

/// Caffe's AdaGrad: h ← h + g²; update = localRate · g / (√h + delta).
public struct AdaGradRule: UpdateRule {
    public let delta: Float
    public var type: String { "AdaGrad" }
    public var historyCount: Int { 1 }
    public init(delta: Float) { self.delta = delta }

    public func computeUpdate(_ p: ParamSlice, localRate: Float, iter: Int) {
        let g = p.gradient, h = p.history
        for i in 0..<p.count {
            h[i] = g[i] * g[i] + h[i]
            let u = g[i] / (h[i].squareRoot() + delta)
            g[i] = localRate * u
        }
    }
}
