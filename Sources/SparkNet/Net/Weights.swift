/// One parameter blob's values with its shape (row-major, Caffe's layout).
public struct WeightBlob: Equatable, Sendable, CustomStringConvertible {
    public var shape: [Int]
    public var values: [Float]

    /// Throws unless `values` fills `shape` exactly.
    public init(shape: [Int], values: [Float]) throws {
        let n = shape.reduce(1, *)
        try require(shape.allSatisfy { $0 >= 0 } && values.count == n,
                    "WeightBlob: \(values.count) values for shape \(shape), expected \(n)")
        self.shape = shape
        self.values = values
    }

    /// For values known to fill the shape (copied from a Blob).
    init(checkedShape shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
    }

    /// A blob of `shape` filled with `value`.
    public init(shape: [Int], repeating value: Float = 0) {
        self.shape = shape
        values = Array(repeating: value, count: max(0, shape.reduce(1, *)))
    }

    public var count: Int { values.count }
    public var description: String { "\(shape) (\(values.count) values)" }
}

/// A net's parameter blobs keyed by layer name, in the order the layers appear in the net
/// (SparkNet's WeightCollection). This is how weights travel between nets, ranks and the user:
/// `net.exportWeights()` takes a copy, `net.setWeights(_:)` writes one back.
///
/// Arithmetic (`+`, `scaled(by:)`) needs both operands to have the same layers, blob counts and
/// shapes; averaging K models is `(w1 + w2 + ... + wK).scaled(by: 1 / Float(K))`.
public struct Weights: Equatable, Sendable, CustomStringConvertible {
    /// Layer names in net order.
    public private(set) var layerNames: [String] = []
    private var blobsOfLayer: [String: [WeightBlob]] = [:]

    /// No layers.
    public init() {}

    /// Layers in the given order; throws on a repeated layer name.
    public init(_ layers: [(name: String, blobs: [WeightBlob])]) throws {
        for l in layers {
            try require(blobsOfLayer[l.name] == nil, "Weights: layer '\(l.name)' appears twice")
            layerNames.append(l.name)
            blobsOfLayer[l.name] = l.blobs
        }
    }

    /// The blobs of `layer`, or nil if the collection has no such layer. Setting a new name
    /// appends the layer at the end; setting nil removes it.
    public subscript(layer: String) -> [WeightBlob]? {
        get { blobsOfLayer[layer] }
        set {
            if let newValue {
                if blobsOfLayer[layer] == nil { layerNames.append(layer) }
                blobsOfLayer[layer] = newValue
            } else if blobsOfLayer.removeValue(forKey: layer) != nil {
                layerNames.removeAll { $0 == layer }
            }
        }
    }

    /// (name, blobs) of every layer, in order.
    public var layers: [(name: String, blobs: [WeightBlob])] {
        layerNames.map { ($0, blobsOfLayer[$0]!) }
    }

    /// Number of floats over all blobs.
    public var parameterCount: Int {
        blobsOfLayer.values.reduce(0) { $0 + $1.reduce(0) { $0 + $1.count } }
    }

    public var description: String {
        "Weights(" + layers.map { l in "\(l.name): " + l.blobs.map { "\($0.shape)" }.joined(separator: " ") }
            .joined(separator: ", ") + ")"
    }

    /// Throws unless `other` has the same layers (any order), blob counts and shapes.
    public func checkSameLayout(as other: Weights, operation: String) throws {
        for name in layerNames where other.blobsOfLayer[name] == nil {
            throw SparkNetError("Weights \(operation): layer '\(name)' is missing from the other operand")
        }
        for name in other.layerNames where blobsOfLayer[name] == nil {
            throw SparkNetError("Weights \(operation): layer '\(name)' is missing from the first operand")
        }
        for name in layerNames {
            let a = blobsOfLayer[name]!, b = other.blobsOfLayer[name]!
            try require(a.count == b.count,
                        "Weights \(operation): layer '\(name)' has \(a.count) blobs in the first operand and \(b.count) in the other")
            for (i, (x, y)) in zip(a, b).enumerated() {
                try require(x.shape == y.shape && x.count == y.count,
                            "Weights \(operation): layer '\(name)' blob \(i) has shape \(x.shape) (\(x.count) values) in the first operand and \(y.shape) (\(y.count) values) in the other")
            }
        }
    }

    /// Adds `other` element-wise; throws unless the layouts match.
    public mutating func add(_ other: Weights) throws {
        try checkSameLayout(as: other, operation: "add")
        for name in layerNames {
            let b = other.blobsOfLayer[name]!
            var a = blobsOfLayer.removeValue(forKey: name)!  // unique: add in place
            for i in a.indices where a[i].count > 0 {
                b[i].values.withUnsafeBufferPointer { src in
                    a[i].values.withUnsafeMutableBufferPointer { dst in
                        axpy(dst.count, 1, src.baseAddress!, dst.baseAddress!)
                    }
                }
            }
            blobsOfLayer[name] = a
        }
    }

    /// The element-wise sum; throws unless the layouts match.
    public static func + (lhs: Weights, rhs: Weights) throws -> Weights {
        var sum = lhs
        try sum.add(rhs)
        return sum
    }

    /// Multiplies every value by `factor`.
    public mutating func scale(by factor: Float) {
        for name in layerNames {
            var a = blobsOfLayer.removeValue(forKey: name)!
            for i in a.indices where a[i].count > 0 {
                a[i].values.withUnsafeMutableBufferPointer { scal($0.count, factor, $0.baseAddress!) }
            }
            blobsOfLayer[name] = a
        }
    }

    /// Every value multiplied by `factor`.
    public func scaled(by factor: Float) -> Weights {
        var w = self
        w.scale(by: factor)
        return w
    }

    /// Whether the layouts match and every value differs by at most `tolerance`.
    public func isApproximatelyEqual(to other: Weights, tolerance: Float) -> Bool {
        guard (try? checkSameLayout(as: other, operation: "compare")) != nil else { return false }
        for name in layerNames {
            for (x, y) in zip(blobsOfLayer[name]!, other.blobsOfLayer[name]!) {
                for (a, b) in zip(x.values, y.values) where !(abs(a - b) <= tolerance) { return false }
            }
        }
        return true
    }

    /// Equal layer order, blobs, shapes and values.
    public static func == (lhs: Weights, rhs: Weights) -> Bool {
        lhs.layerNames == rhs.layerNames && lhs.blobsOfLayer == rhs.blobsOfLayer
    }
}

extension Net {
    /// The layers that hold parameter blobs, first of each name, in net order.
    private var layersWithBlobs: [Layer] {
        var seen: Set<String> = []
        return layers.filter { !$0.blobs.isEmpty && seen.insert($0.name).inserted }
    }

    /// A copy of every parameter blob (learned weights and statistics such as BatchNorm's), keyed
    /// by layer name in net order. Layers sharing a param each list it.
    public func exportWeights() -> Weights {
        var w = Weights()
        for l in layersWithBlobs {
            w[l.name] = l.blobs.map { b in
                WeightBlob(checkedShape: b.shape, values: b.dataArray)
            }
        }
        return w
    }

    /// Writes `weights` into the net's parameter blobs. The collection must name exactly the net's
    /// layers that have blobs, with the same blob counts and shapes; nothing is written unless
    /// all of it matches.
    public func setWeights(_ weights: Weights) throws {
        let targets = layersWithBlobs
        let names = Set(targets.map(\.name))
        for name in weights.layerNames where !names.contains(name) {
            let known = targets.map(\.name).joined(separator: ", ")
            throw SparkNetError("setWeights: the weights have layer '\(name)', which net '\(self.name)' does not have (layers with parameters: \(known))")
        }
        for l in targets {
            guard let blobs = weights[l.name] else {
                throw SparkNetError("setWeights: \(l.label) has \(l.blobs.count) parameter blobs but the weights have no layer '\(l.name)'")
            }
            try require(blobs.count == l.blobs.count,
                        "setWeights: \(l.label) has \(l.blobs.count) parameter blobs, the weights have \(blobs.count)")
            for (i, (b, src)) in zip(l.blobs, blobs).enumerated() {
                try require(b.shape == src.shape && src.values.count == b.count,
                            "setWeights: \(l.label) blob \(i): the weights have shape \(src.shape) (\(src.values.count) values), the net expects \(b.shape)")
            }
        }
        for l in targets {
            for (b, src) in zip(l.blobs, weights[l.name]!) where b.count > 0 {
                src.values.withUnsafeBufferPointer { b.data.update(from: $0.baseAddress!, count: b.count) }
            }
        }
    }
}
