/// Benchmark inputs: what `sparknet-mpi time` and the bench feed a net whose data comes from
/// Input layers (deploy or benchmark nets), so that no data files are needed.
extension Net {
    /// Fills every top of every Input layer: labels (a top that some loss or Accuracy layer takes
    /// as bottom 1 or later) get random classes in [0, C), with C the size of axis 1 of that
    /// layer's bottom 0; everything else gets uniform noise in [0, 1). Zeros would do for the
    /// arithmetic, but noise keeps max pooling's and ReLU's branches as irregular as real data.
    public func fillInputsWithNoise(seed: UInt64 = 1701) {
        var rng = RandomGenerator(seed: seed)
        for (l, layer) in layers.enumerated() where layer.type == "Input" {
            for top in tops[l] {
                var classes = 0
                for (k, consumer) in layers.enumerated() where consumer.isLoss || consumer.type == "Accuracy" {
                    let b = bottoms[k]
                    if b.count > 1, b.dropFirst().contains(where: { $0 === top }), b[0].numAxes > 1 {
                        classes = b[0].shape[1]
                    }
                }
                let x = top.data
                if classes > 0 {
                    for i in 0..<top.count { x[i] = Float(rng.index(below: classes)) }
                } else {
                    for i in 0..<top.count { x[i] = rng.nextUnit() }
                }
            }
        }
    }
}
