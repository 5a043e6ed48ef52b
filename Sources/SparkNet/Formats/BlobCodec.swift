import CaffeProto

/// Converts between `Blob` and Caffe's BlobProto.
public enum BlobCodec {
    /// The shape a BlobProto declares: `shape.dim`, or the legacy num/channels/height/width.
    public static func shape(of proto: Caffe_BlobProto) -> [Int] {
        if proto.hasNum || proto.hasChannels || proto.hasHeight || proto.hasWidth {
            return [Int(proto.num), Int(proto.channels), Int(proto.height), Int(proto.width)]
        }
        return proto.shape.dim.map { Int($0) }
    }

    /// The number of values the shape of `proto` declares; refuses negative axes and products
    /// that overflow (a corrupt file can declare any shape), naming `what`.
    public static func count(of proto: Caffe_BlobProto, what: String) throws -> Int {
        let shape = shape(of: proto)
        var n = 1
        for d in shape {
            try require(d >= 0, "\(what): shape \(shape) has a negative axis; the file is corrupt")
            let (product, overflow) = n.multipliedReportingOverflow(by: d)
            try require(!overflow, "\(what): shape \(shape) declares more values than can exist; the file is corrupt")
            n = product
        }
        return n
    }

    /// Caffe's ShapeEquals: legacy 4-D shapes match the trailing axes, right-aligned.
    public static func shapeMatches(_ proto: Caffe_BlobProto, _ blob: Blob) -> Bool {
        if proto.hasNum || proto.hasChannels || proto.hasHeight || proto.hasWidth {
            return blob.numAxes <= 4 &&
                blob.legacyShape(-4) == Int(proto.num) && blob.legacyShape(-3) == Int(proto.channels) &&
                blob.legacyShape(-2) == Int(proto.height) && blob.legacyShape(-1) == Int(proto.width)
        }
        return proto.shape.dim.map { Int($0) } == blob.shape
    }

    /// Copies `proto`'s values into `blob`, checking the shape and the value count.
    public static func load(_ proto: Caffe_BlobProto, into blob: Blob, what: String) throws {
        try require(shapeMatches(proto, blob),
                    "\(what): shape mismatch: the file has \(shape(of: proto)), the net expects \(blob.shape)")
        let n = blob.count
        if !proto.doubleData.isEmpty {
            try require(proto.doubleData.count == n,
                        "\(what): \(proto.doubleData.count) values for \(n) elements")
            for i in 0..<n { blob.data[i] = Float(proto.doubleData[i]) }
        } else {
            try require(proto.data.count == n, "\(what): \(proto.data.count) values for \(n) elements")
            proto.data.withUnsafeBufferPointer { blob.data.update(from: $0.baseAddress!, count: n) }
        }
    }

    /// A BlobProto with `shape` and `data` (and `diff` when asked), as Caffe's Blob::ToProto.
    public static func proto(_ blob: Blob, writeDiff: Bool = false) -> Caffe_BlobProto {
        var p = Caffe_BlobProto()
        p.shape.dim = blob.shape.map { Int64($0) }
        p.data = blob.dataArray
        if writeDiff { p.diff = blob.diffArray }
        return p
    }
}
