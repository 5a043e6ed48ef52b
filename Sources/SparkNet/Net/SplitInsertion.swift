import CaffeProto

/// Caffe's InsertSplits: where one top feeds several bottoms (or is both a loss and an input),
/// a Split layer gives each consumer its own copy, so gradients add up. Names follow Caffe's,
/// so logs and saved models match Caffe's.
enum SplitInsertion {
    struct Index: Hashable { let layer: Int; let slot: Int }

    static func layerName(_ layer: String, _ blob: String, _ idx: Int) -> String {
        "\(layer)_\(blob)_\(idx)_split"
    }

    static func blobName(_ layer: String, _ blob: String, _ idx: Int, _ k: Int) -> String {
        "\(blob)_\(layer)_\(idx)_split_\(k)"
    }

    static func insertSplits(_ param: Caffe_NetParameter) throws -> Caffe_NetParameter {
        var lastTop: [String: Index] = [:]
        var source: [Index: Index] = [:]
        var consumers: [Index: Int] = [:]
        var lossWeight: [Index: Float] = [:]
        for (i, lp) in param.layer.enumerated() {
            for (j, b) in lp.bottom.enumerated() {
                guard let t = lastTop[b] else {
                    throw SparkNetError("layer '\(lp.name)' (\(lp.type)): unknown bottom blob '\(b)' (no earlier layer produces it)")
                }
                source[Index(layer: i, slot: j)] = t
                consumers[t, default: 0] += 1
            }
            for (j, t) in lp.top.enumerated() { lastTop[t] = Index(layer: i, slot: j) }
            for (j, w) in lp.lossWeight.enumerated() where w != 0 {
                let t = Index(layer: i, slot: j)
                lossWeight[t] = w
                consumers[t, default: 0] += 1
            }
        }
        var out = param
        out.layer = []
        var splitUsed: [Index: Int] = [:]
        for (i, lp0) in param.layer.enumerated() {
            var lp = lp0
            for j in lp.bottom.indices {
                let t = source[Index(layer: i, slot: j)]!
                if consumers[t, default: 0] > 1 {
                    let k = splitUsed[t, default: 0]
                    lp.bottom[j] = blobName(param.layer[t.layer].name, lp0.bottom[j], t.slot, k)
                    splitUsed[t] = k + 1
                }
            }
            var splits: [Caffe_LayerParameter] = []
            for j in lp.top.indices {
                let t = Index(layer: i, slot: j)
                let count = consumers[t, default: 0]
                guard count > 1 else { continue }
                var s = Caffe_LayerParameter()
                s.name = layerName(lp.name, lp.top[j], j)
                s.type = "Split"
                s.bottom = [lp.top[j]]
                let w = lossWeight[t]
                for k in 0..<count {
                    s.top.append(blobName(lp.name, lp.top[j], j, k))
                    if let w { s.lossWeight.append(k == 0 ? w : 0) }
                }
                if w != nil {
                    lp.lossWeight = []
                    splitUsed[t, default: 0] += 1
                }
                splits.append(s)
            }
            out.layer.append(lp)
            out.layer.append(contentsOf: splits)
        }
        return out
    }
}
