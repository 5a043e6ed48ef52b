/// Caffe's SGD with momentum: h ← localRate·g + momentum·h; update = h.
public struct SGDRule: UpdateRule {
    public let momentum: Float
    public var type: String { "SGD" }
    public var historyCount: Int { 1 }
    public init(momentum: Float) { self.momentum = momentum }

    public func computeUpdate(_ p: ParamSlice, localRate: Float, iter: Int) {
        let g = p.gradient, h = p.history, m = momentum
        for i in 0..<p.count {
            h[i] = localRate * g[i] + m * h[i]
            g[i] = h[i]
        }
    }
}
