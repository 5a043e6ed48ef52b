/// Caffe's Nesterov accelerated gradient: h' ← localRate·g + momentum·h;
/// update = (1 + momentum)·h' − momentum·h (step back, then over-step).
public struct NesterovRule: UpdateRule {
    public let momentum: Float
    public var type: String { "Nesterov" }
    public var historyCount: Int { 1 }
    public init(momentum: Float) { self.momentum = momentum }

    public func computeUpdate(_ p: ParamSlice, localRate: Float, iter: Int) {
        let g = p.gradient, h = p.history, m = momentum
        for i in 0..<p.count {
            let old = h[i]
            h[i] = localRate * g[i] + m * old
            g[i] = (1 + m) * h[i] + (-m) * old
        }
    }
}
