import CaffeProto

/// A directed acyclic graph of layers built from a Caffe NetParameter (Caffe's Net).
///
/// All learnable blobs are views into one contiguous weight arena (`weights`), and their
/// gradients into a second (`gradients`), in the order layers and blobs appear in the prototxt.
/// Averaging a model is then one collective on one buffer, whatever the number of layers.
public final class Net {
    public let name: String
    public let phase: Caffe_Phase
    public let context: NetContext
    /// The instantiated (phase-filtered, split-inserted) definition.
    public let definition: Caffe_NetParameter

    public private(set) var layers: [Layer] = []
    public private(set) var bottoms: [[Blob]] = []
    public private(set) var tops: [[Blob]] = []
    public private(set) var bottomNeedBackward: [[Bool]] = []
    public private(set) var layerNeedBackward: [Bool] = []

    public private(set) var blobNames: [String] = []
    public private(set) var blobs: [Blob] = []
    private var blobIndex: [String: Int] = [:]
    /// Loss weight of each blob (0 for blobs that are not losses).
    public private(set) var blobLossWeights: [Float] = []
    /// Blobs no layer consumes: what `forward` reports (losses, accuracy, ...).
    public private(set) var outputBlobIndices: [Int] = []

    /// Learnable blobs that own their storage, in arena order.
    public private(set) var learnableParams: [Blob] = []
    public private(set) var paramLrMult: [Float] = []
    public private(set) var paramDecayMult: [Float] = []
    /// (layer index, blob index within the layer) of each learnable param.
    public private(set) var paramOwners: [(layer: Int, blob: Int)] = []
    /// Offset of each learnable param in the arenas.
    public private(set) var paramOffsets: [Int] = []
    /// For each learnable param, the lowest-numbered layer that uses it (its owner, or a layer
    /// sharing it): once `backward()` has passed that layer, the param's gradient is final.
    public private(set) var paramLastBackwardLayer: [Int] = []

    /// The chain each layer belongs to, if it runs fused with its neighbours (`FusedChain`).
    private var chainOf: [FusedChain?] = []
    /// The ranges of layers that run as one pass (`FusedChain`; none without
    /// `context.fusesLayers`).
    public var fusedLayers: [ClosedRange<Int>] {
        chainOf.indices.compactMap { l in chainOf[l].flatMap { $0.layers.lowerBound == l ? $0.layers : nil } }
    }

    /// The weight arena: every learnable blob's data, contiguous.
    public let weights: UnsafeMutableBufferPointer<Float>
    /// The gradient arena, laid out like `weights`.
    public let gradients: UnsafeMutableBufferPointer<Float>

    public var layerNames: [String] { layers.map(\.name) }
    public var outputBlobs: [Blob] { outputBlobIndices.map { blobs[$0] } }
    public var outputBlobNames: [String] { outputBlobIndices.map { blobNames[$0] } }

    /// Builds a net from `param` for `phase`, keeping the layers whose include/exclude rules
    /// match the state (phase, `level`, `stages`), as Caffe's FilterNet does.
    public init(param rawParam: Caffe_NetParameter, phase: Caffe_Phase, level: Int = 0,
                stages: [String] = [], context: NetContext = NetContext()) throws {
        self.phase = phase
        self.context = context
        _ = Parallel.threads   // the engine takes OpenBLAS's threads over before any BLAS call
        let upgraded = try NetUpgrade.upgrade(rawParam, source: rawParam.name)
        var state = Caffe_NetState()
        state.phase = phase
        state.level = Int32(level)
        state.stage = stages
        if upgraded.hasState {
            // Caffe merges the prototxt's state with the caller's phase.
            state.level = upgraded.state.level
            state.stage = Array(Set(upgraded.state.stage + stages)).sorted()
        }
        var filtered = NetStateFilter.filter(upgraded, state: state)
        filtered = try SplitInsertion.insertSplits(filtered)
        definition = filtered
        name = filtered.name

        // Build layers and wire blobs.
        var blobNeedBackward: [Bool] = []
        var available: Set<String> = []
        var paramNames: [String: Int] = [:]  // ParamSpec.name -> learnable index
        var sharedBindings: [(layer: Int, blob: Int, owner: Int)] = []
        var ownerDefs: [(layer: Int, blob: Int)] = []

        for (layerID, lp) in filtered.layer.enumerated() {
            let layer = try LayerRegistry.make(lp, phase: phase, context: context)
            var bVec: [Blob] = [], bNeed: [Bool] = []
            var needBackward = false
            if lp.propagateDown.count > 0 {
                try require(lp.propagateDown.count == lp.bottom.count,
                            "\(layer.label): propagate_down has \(lp.propagateDown.count) entries but the layer has \(lp.bottom.count) bottoms")
            }
            for (bi, bname) in lp.bottom.enumerated() {
                guard let idx = blobIndex[bname], available.contains(bname) else {
                    throw SparkNetError("\(layer.label): unknown bottom blob '\(bname)' (no earlier layer produces it in the \(phase == .train ? "TRAIN" : "TEST") phase)")
                }
                available.remove(bname)
                bVec.append(blobs[idx])
                var need = blobNeedBackward[idx]
                if lp.propagateDown.count > 0 { need = lp.propagateDown[bi] }
                bNeed.append(need)
                needBackward = needBackward || blobNeedBackward[idx]
            }
            var tVec: [Blob] = []
            for (ti, tname) in lp.top.enumerated() {
                if ti < lp.bottom.count && lp.bottom[ti] == tname {
                    // In place: the top is the bottom blob itself.
                    let idx = blobIndex[tname]!
                    tVec.append(blobs[idx])
                    available.insert(tname)
                    continue
                }
                if blobIndex[tname] != nil {
                    throw SparkNetError("\(layer.label): top blob '\(tname)' is produced by more than one layer")
                }
                let blob = Blob()
                blobIndex[tname] = blobs.count
                blobNames.append(tname)
                blobs.append(blob)
                blobNeedBackward.append(false)
                blobLossWeights.append(0)
                available.insert(tname)
                tVec.append(blob)
            }
            if let scale = layer as? ScaleLayer, let p = layers.indices.last {
                scale.reuseSavedOutput(of: layers[p], bottom: bottoms[p], top: tops[p], ownBottom: bVec, ownTop: tVec)
            }
            try layer.setUpAndReshape(bottom: bVec, top: tVec)
            try Net.copyEmbeddedBlobs(lp, into: layer)

            // Loss weights: explicit, or 1 on the first top of a loss layer.
            var weightsOfTops = lp.lossWeight
            if weightsOfTops.isEmpty && layer.isLoss { weightsOfTops = [1] }
            try require(weightsOfTops.count <= tVec.count,
                        "\(layer.label): loss_weight has \(weightsOfTops.count) entries but the layer has \(tVec.count) tops")
            for (ti, w) in weightsOfTops.enumerated() where w != 0 {
                blobLossWeights[blobIndex[lp.top[ti]]!] = w
            }

            // Learnable params, ParamSpec sharing by name.
            for (pi, _) in layer.blobs.enumerated() {
                let mult = layer.paramMultipliers(pi)
                let needParam = mult.lr != 0
                layer.paramPropagateDown[pi] = needParam
                needBackward = needBackward || needParam
                let pname = pi < lp.param.count ? lp.param[pi].name : ""
                if !pname.isEmpty, let owner = paramNames[pname] {
                    let o = ownerDefs[owner]
                    let ownerBlob = layers[o.layer].blobs[o.blob]
                    let strict = pi < lp.param.count && lp.param[pi].shareMode == .strict
                    if strict {
                        try require(ownerBlob.shape == layer.blobs[pi].shape,
                                    "\(layer.label): shared param '\(pname)' has shape \(layer.blobs[pi].shape), its owner has \(ownerBlob.shape)")
                    } else {
                        try require(ownerBlob.count == layer.blobs[pi].count,
                                    "\(layer.label): shared param '\(pname)' has \(layer.blobs[pi].count) elements, its owner has \(ownerBlob.count)")
                    }
                    sharedBindings.append((layerID, pi, owner))
                } else {
                    if !pname.isEmpty { paramNames[pname] = ownerDefs.count }
                    ownerDefs.append((layerID, pi))
                    paramLrMult.append(mult.lr)
                    paramDecayMult.append(mult.decay)
                }
            }
            if needBackward {
                for t in lp.top { blobNeedBackward[blobIndex[t]!] = true }
            }
            layers.append(layer)
            bottoms.append(bVec)
            tops.append(tVec)
            bottomNeedBackward.append(bNeed)
            layerNeedBackward.append(needBackward)
        }

        // Prune backward for layers that do not reach a loss (Caffe's Net::Init).
        var underLoss: Set<String> = [], skipBackprop: Set<String> = []
        for l in stride(from: layers.count - 1, through: 0, by: -1) {
            let lp = filtered.layer[l]
            var contributes = false, skipPropagate = true
            for t in lp.top {
                let idx = blobIndex[t]!
                if blobLossWeights[idx] != 0 || underLoss.contains(t) { contributes = true }
                if !skipBackprop.contains(t) { skipPropagate = false }
                if contributes && !skipPropagate { break }
            }
            if layerNeedBackward[l] && skipPropagate {
                layerNeedBackward[l] = false
                for b in bottomNeedBackward[l].indices { bottomNeedBackward[l][b] = false }
            }
            if !contributes { layerNeedBackward[l] = false }
            for (bi, b) in lp.bottom.enumerated() {
                if contributes { underLoss.insert(b) } else { bottomNeedBackward[l][bi] = false }
                if !bottomNeedBackward[l][bi] { skipBackprop.insert(b) }
            }
        }
        if filtered.forceBackward {
            for l in layers.indices {
                layerNeedBackward[l] = true
                for b in bottomNeedBackward[l].indices {
                    bottomNeedBackward[l][b] = bottomNeedBackward[l][b] || layers[l].allowForceBackward(b)
                }
                for p in layers[l].paramPropagateDown.indices { layers[l].paramPropagateDown[p] = true }
            }
        }

        // Outputs: blobs still available (not consumed) at the end.
        let names = blobNames
        outputBlobIndices = names.indices.filter { available.contains(names[$0]) }

        // The arenas.
        var total = 0
        for o in ownerDefs {
            paramOffsets.append(total)
            total += layers[o.layer].blobs[o.blob].count
        }
        weights = UnsafeMutableBufferPointer(start: allocateFloats(max(total, 1)), count: max(total, 1))
        gradients = UnsafeMutableBufferPointer(start: allocateFloats(max(total, 1)), count: max(total, 1))
        weights.initialize(repeating: 0)
        gradients.initialize(repeating: 0)
        let w = weights.baseAddress!, g = gradients.baseAddress!
        for (i, o) in ownerDefs.enumerated() {
            let blob = layers[o.layer].blobs[o.blob]
            blob.bind(data: w + paramOffsets[i], diff: g + paramOffsets[i])
            learnableParams.append(blob)
        }
        paramLastBackwardLayer = ownerDefs.map(\.layer)
        for s in sharedBindings {
            let blob = layers[s.layer].blobs[s.blob]
            let off = paramOffsets[s.owner]
            blob.bind(data: w + off, diff: g + off, copyValues: false)
            paramLastBackwardLayer[s.owner] = min(paramLastBackwardLayer[s.owner], s.layer)
        }
        paramOwners = ownerDefs
        // Shared params bound after set-up: reshape once more so no layer caches a stale size.
        try reshape()
        chainOf = Array(repeating: nil, count: layers.count)
        if context.fusesLayers {
            for c in FusedChain.find(in: self) { for l in c.layers { chainOf[l] = c } }
        }
    }

    deinit {
        weights.deallocate()
        gradients.deallocate()
    }

    /// Builds a net from a prototxt file.
    public convenience init(prototxt path: String, phase: Caffe_Phase, level: Int = 0,
                            stages: [String] = [], context: NetContext = NetContext()) throws {
        let param = try Prototxt.readNet(path)
        try self.init(param: param, phase: phase, level: level, stages: stages, context: context)
    }

    /// Number of floats in the weight arena.
    public var parameterCount: Int { paramOffsets.last.map { $0 + learnableParams.last!.count } ?? 0 }

    public func blob(named name: String) -> Blob? { blobIndex[name].map { blobs[$0] } }
    public func layer(named name: String) -> Layer? { layers.first { $0.name == name } }

    /// Reshapes every layer for the current input shapes.
    public func reshape() throws {
        for l in layers.indices {
            try layers[l].namingLayer { try layers[l].reshape(bottom: bottoms[l], top: tops[l]) }
        }
    }

    /// Runs layer `l` forward (a fused chain's first layer runs the chain, the others nothing).
    @inline(__always)
    public func forwardLayer(_ l: Int) throws {
        if let c = chainOf[l] {
            if l == c.layers.lowerBound { c.forward(self) }
            return
        }
        try layers[l].forward(bottom: bottoms[l], top: tops[l])
    }

    /// Runs layer `l` backward if it needs to, or `always` (as `caffe time`; the layer then
    /// honours the propagate-down flags alone). A chain fused in backward runs at its last layer.
    @inline(__always)
    public func backwardLayer(_ l: Int, always: Bool = false) {
        guard always || layerNeedBackward[l] else { return }
        if let c = chainOf[l], c.fusesBackward {
            if l == c.layers.upperBound { c.backward(self) }
            return
        }
        layers[l].backward(top: tops[l], propagateDown: bottomNeedBackward[l], bottom: bottoms[l])
    }

    /// Called after every layer's forward and backward pass in `forward()` and `backward()`;
    /// the distributed trainer lets its communication make progress there.
    public var afterLayer: (() -> Void)?
    /// Called with the layer's index after every layer's backward pass in `backward()` (layers
    /// that need none included): gradients whose `paramLastBackwardLayer` is that index are
    /// final, so a driver can start sending them while the earlier layers compute.
    public var afterBackwardLayer: ((Int) -> Void)?

    /// Forward through all layers; returns the weighted sum of the loss blobs.
    @discardableResult
    public func forward() throws -> Float {
        for l in layers.indices {
            try forwardLayer(l)
            afterLayer?()
        }
        return currentLoss
    }

    /// Σ loss_weight · Σ blob, over the loss blobs, from the last forward.
    public var currentLoss: Float {
        var loss: Float = 0
        for (i, w) in blobLossWeights.enumerated() where w != 0 {
            let b = blobs[i]
            for j in 0..<b.count { loss += w * b.data[j] }
        }
        return loss
    }

    /// Backward through all layers; loss blobs start from their loss weight.
    public func backward() {
        for (i, w) in blobLossWeights.enumerated() where w != 0 {
            setAll(blobs[i].count, w, blobs[i].diff)
        }
        for l in stride(from: layers.count - 1, through: 0, by: -1) {
            backwardLayer(l)
            afterBackwardLayer?(l)
            afterLayer?()
        }
    }

    /// forward() then backward(); returns the loss.
    @discardableResult
    public func forwardBackward() throws -> Float {
        let loss = try forward()
        backward()
        return loss
    }

    /// Zeroes the gradient arena.
    public func clearParamDiffs() {
        setAll(gradients.count, 0, gradients.baseAddress!)
    }

    /// weights -= gradients (after the solver has turned gradients into the update).
    public func update() {
        let w = weights.baseAddress!, g = UnsafePointer(gradients.baseAddress!)
        Parallel.forEachBlock(weights.count) { r in axpy(r.count, -1, g + r.lowerBound, w + r.lowerBound) }
    }

    /// weights = scale·(weights − gradients), in one pass over the arenas. The model average
    /// folds its 1/K into the last update of a round this way, so the exchange is a bare sum
    /// instead of a sum and a second pass over the weights. Each element is rounded as
    /// `scale * (w - g)`: with `scale` a power of two it equals `update()` followed by a scale,
    /// bit for bit; `scale` 1 is `update()`.
    public func update(scale: Float) {
        guard scale != 1 else { return update() }
        let w0 = weights.baseAddress!, g0 = UnsafePointer(gradients.baseAddress!)
        Parallel.forEachBlock(weights.count) { r in
            Self.update(w0 + r.lowerBound, g0 + r.lowerBound, r.count, scale: scale)
        }
    }

    /// w[0..<n] = scale·(w − g).
    private static func update(_ w: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ n: Int, scale: Float) {
        // Explicit vectors: the loop must not depend on the autovectorizer proving that the
        // two arenas do not overlap.
        let s = SIMD8<Float>(repeating: scale)
        var i = 0
        while i &+ 8 <= n {
            let wv = UnsafeRawPointer(w + i).loadUnaligned(as: SIMD8<Float>.self)
            let gv = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(w + i).storeBytes(of: s * (wv - gv), as: SIMD8<Float>.self)
            i &+= 8
        }
        while i < n {
            w[i] = scale * (w[i] - g[i])
            i &+= 1
        }
    }

    /// Copies learnable blobs from `other` for every layer of the same name and equal blob shapes
    /// (how a test net follows its train net, Caffe's ShareTrainedLayersWith).
    public func copyParams(from other: Net) {
        var byName: [String: Layer] = [:]
        for l in other.layers where !l.blobs.isEmpty { byName[l.name] = l }
        for l in layers where !l.blobs.isEmpty {
            guard let src = byName[l.name], src.blobs.count == l.blobs.count else { continue }
            for (d, s) in zip(l.blobs, src.blobs) where d.shape == s.shape && d.data != s.data {
                copy(d.count, s.data, d.data)
            }
        }
    }

    /// Weights a LayerParameter carries in `blobs` (a prototxt or model that embeds them).
    static func copyEmbeddedBlobs(_ lp: Caffe_LayerParameter, into layer: Layer) throws {
        guard !lp.blobs.isEmpty else { return }
        try require(lp.blobs.count == layer.blobs.count,
                    "\(layer.label): the definition carries \(lp.blobs.count) blobs, the layer has \(layer.blobs.count)")
        for (i, proto) in lp.blobs.enumerated() {
            try BlobCodec.load(proto, into: layer.blobs[i], what: "\(layer.label) blob \(i)")
        }
    }
}
