import Foundation

/// Caffe's Adam (Kingma & Ba), β₁ = momentum, β₂ = momentum2, ε = delta, t = iter + 1:
/// m ← (1 − β₁)·g + β₁·m;  v ← (1 − β₂)·g² + β₂·v;
/// update = localRate · √(1 − β₂ᵗ) / (1 − β₁ᵗ) · m / (√v + ε).
/// Caffe keeps m for every param, then v for every param (history_ = [m…, v…]).
public struct AdamRule: UpdateRule {
    public let beta1: Float
    public let beta2: Float
    public let delta: Float
    public var type: String { "Adam" }
    public var historyCount: Int { 2 }
    public init(beta1: Float, beta2: Float, delta: Float) {
        self.beta1 = beta1; self.beta2 = beta2; self.delta = delta
    }

    /// Caffe's bias correction at iteration `iter` (computed in double, as C++ `pow(float, int)`).
    public func correction(iter: Int) -> Float {
        let t = Double(iter + 1)
        return Float((1 - Foundation.pow(Double(beta2), t)).squareRoot() / (1 - Foundation.pow(Double(beta1), t)))
    }

    public func computeUpdate(_ p: ParamSlice, localRate: Float, iter: Int) {
        guard let v = p.history2 else { return }
        let g = p.gradient, m = p.history
        let b1 = beta1, b2 = beta2, eps = delta
        let scale = localRate * correction(iter: iter)
        for i in 0..<p.count {
            m[i] = (1 - b1) * g[i] + b1 * m[i]
            v[i] = (1 - b2) * (g[i] * g[i]) + b2 * v[i]
            let u = m[i] / (v[i].squareRoot() + eps)
            g[i] = scale * u
        }
    }
}
