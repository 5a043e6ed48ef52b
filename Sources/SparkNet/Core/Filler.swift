import CaffeProto

/// Caffe's fillers: constant, uniform, gaussian, positive_unitball, xavier, msra, bilinear.
public enum Filler {
    /// Fills `blob.data` as `p` says. Fan-in is count/dim(0), fan-out count/dim(1), as in Caffe.
    public static func fill(_ blob: Blob, _ p: Caffe_FillerParameter, rng: inout RandomGenerator,
                            label: String = "") throws {
        let n = blob.count
        let x = blob.data
        guard n > 0 else { return }
        let fanIn = blob.numAxes > 0 ? n / max(blob.shape[0], 1) : n
        let fanOut = blob.numAxes > 1 ? n / max(blob.shape[1], 1) : n
        func scaleN() -> Float {
            switch p.varianceNorm {
            case .fanIn: return Float(fanIn)
            case .fanOut: return Float(fanOut)
            case .average: return Float(fanIn + fanOut) / 2
            }
        }
        switch p.type {
        case "constant":
            setAll(n, p.value, x)
        case "uniform":
            for i in 0..<n { x[i] = rng.uniform(p.min, p.max) }
        case "gaussian":
            for i in 0..<n { x[i] = rng.gaussian(mean: p.mean, std: p.std) }
            if p.sparse >= 0 {
                // Caffe: keep each weight with probability sparse/num_outputs.
                let numOutputs = blob.numAxes > 0 ? blob.shape[0] : 1
                let keep = Float(p.sparse) / Float(numOutputs)
                for i in 0..<n where rng.nextUnit() >= keep { x[i] = 0 }
            }
        case "positive_unitball":
            for i in 0..<n { x[i] = rng.nextUnit() }
            let dim = n / max(blob.shape.first ?? 1, 1)
            for r in 0..<(n / max(dim, 1)) {
                var s: Float = 0
                for j in 0..<dim { s += x[r * dim + j] }
                for j in 0..<dim { x[r * dim + j] /= s }
            }
        case "xavier":
            let scale = (3 / scaleN()).squareRoot()
            for i in 0..<n { x[i] = rng.uniform(-scale, scale) }
        case "msra":
            let std = (2 / scaleN()).squareRoot()
            for i in 0..<n { x[i] = rng.gaussian(mean: 0, std: std) }
        case "bilinear":
            try require(blob.numAxes == 4 && blob.shape[2] == blob.shape[3],
                        "\(label): bilinear filler needs a 4-D blob with square kernels")
            let k = blob.shape[3]
            let f = Float((k + 1) / 2)
            let c = Float(2 * f - 1 - Float(f).truncatingRemainder(dividingBy: 2)) / (2 * f)
            for i in 0..<n {
                let xx = Float(i % k), yy = Float((i / k) % k)
                x[i] = (1 - abs(xx / f - c)) * (1 - abs(yy / f - c))
            }
        default:
            throw SparkNetError("\(label): unknown filler type '\(p.type)' (expected constant, uniform, gaussian, positive_unitball, xavier, msra or bilinear)")
        }
    }
}
