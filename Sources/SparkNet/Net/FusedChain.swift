/// Consecutive layers that the Net runs as one pass over memory: ResNet's in-place
/// `BatchNorm → Scale (→ ReLU)` and `Eltwise SUM → ReLU`. Run one by one, each of these layers
/// streams the whole activation through memory in forward and again in backward, for a few
/// operations per element; fused, forward normalizes, scales, shifts and rectifies a channel in
/// one pass, and backward takes the ReLU, Scale and BatchNorm gradients in one.
///
/// Fused only when the layers are consecutive and in place on one blob (the Eltwise's top for
/// the ReLU), so no other layer can see the intermediate values; a ReLU with a negative slope
/// below 0 is not fused (its in-place backward reads the sign of its output, which is not the
/// input's). The layers stay separate objects (weights, .caffemodel, `time` rows): the chain's
/// first layer does the work in forward and its last in backward, the others nothing. The
/// operations and their order are the unfused layers', so the results are too (but for the
/// Eltwise's top's diff, which keeps the ReLU's output gradient: no layer reads it).
/// `NetContext.fusesLayers` (SPARKNET_NO_FUSION=1) turns fusion off.
struct FusedChain {
    enum Kind {
        case normalize(BatchNormLayer, ScaleLayer, ReLULayer?)
        case sum(EltwiseLayer, ReLULayer)
    }
    let kind: Kind
    let layers: ClosedRange<Int>
    /// Backward is fused when every layer of the chain has its backward to do (it can be
    /// otherwise: BatchNorm on a data blob); if not, each layer runs its own, which works on the
    /// fused forward's state as on its own.
    let fusesBackward: Bool

    /// The chains of `net`, which is set up.
    static func find(in net: Net) -> [FusedChain] {
        var chains: [FusedChain] = [], l = 0
        /// Layer i, when it is a ReLU in place on `blob` with a slope ≥ 0.
        func relu(_ i: Int, on blob: Blob) -> ReLULayer? {
            guard i < net.layers.count, let r = net.layers[i] as? ReLULayer, net.bottoms[i][0] === blob,
                  net.tops[i][0] === blob, r.param.reluParam.negativeSlope >= 0 else { return nil }
            return r
        }
        while l < net.layers.count {
            var chain: (Kind, Int)?
            if let bn = net.layers[l] as? BatchNormLayer, l + 1 < net.layers.count,
               let scale = net.layers[l + 1] as? ScaleLayer, scale.fusedAfterBatchNorm(slope: nil) != nil {
                // the Scale is in place right after this in-place BatchNorm (`reuseSavedOutput`)
                let r = relu(l + 2, on: net.tops[l][0])
                chain = (.normalize(bn, scale, r), r == nil ? l + 1 : l + 2)
            } else if let sum = net.layers[l] as? EltwiseLayer, sum.sums, let r = relu(l + 1, on: net.tops[l][0]) {
                chain = (.sum(sum, r), l + 1)
            }
            guard let (kind, last) = chain else { l += 1; continue }
            let isSum = if case .sum = kind { true } else { false }
            let backward = (l...last).allSatisfy { net.layerNeedBackward[$0] }
                && (l + 1...last).allSatisfy { net.bottomNeedBackward[$0][0] }
                && (isSum || net.bottomNeedBackward[l][0])
            chains.append(FusedChain(kind: kind, layers: l...last, fusesBackward: backward))
            l = last + 1
        }
        return chains
    }

    private func slope(_ r: ReLULayer?) -> Float? { r?.param.reluParam.negativeSlope }

    func forward(_ net: Net) {
        let l = layers.lowerBound
        switch kind {
        case let .normalize(bn, scale, relu):
            bn.forward(bottom: net.bottoms[l], top: net.tops[l], then: scale.fusedAfterBatchNorm(slope: slope(relu)))
        case let .sum(sum, relu):
            sum.forward(bottom: net.bottoms[l], top: net.tops[l], reluSlope: slope(relu))
        }
    }

    func backward(_ net: Net) {
        let l = layers.lowerBound
        switch kind {
        case let .normalize(bn, scale, relu):
            bn.backward(top: net.tops[l], bottom: net.bottoms[l], through: scale.fusedAfterBatchNorm(slope: slope(relu)))
        case let .sum(sum, relu):
            sum.backward(top: net.tops[l], propagateDown: net.bottomNeedBackward[l], bottom: net.bottoms[l],
                         reluSlope: slope(relu))
        }
    }
}
