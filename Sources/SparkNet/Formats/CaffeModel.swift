import Foundation
import CaffeProto
import SwiftProtobuf

/// Caffe's binary model files (`.caffemodel`): a NetParameter holding every layer's definition
/// and its learnable blobs.
public enum CaffeModel {
    static let expected = "expected a binary .caffemodel (a Caffe NetParameter protobuf)"

    /// Writes `net` as Caffe's `Net::ToProto` + `WriteProtoToBinaryFile` would, atomically.
    public static func write(_ net: Net, to path: String, writeDiff: Bool = false) throws {
        let bytes: Data
        do {
            bytes = try net.toProto(writeDiff: writeDiff).serializedBytes()
        } catch {
            throw SparkNetError("\(path): cannot encode the model: \(error)")
        }
        try AtomicFile.write(bytes, to: path)
    }

    /// Reads a binary `.caffemodel` and upgrades it to the current format (V1 `layers`, ...).
    /// Missing, empty, truncated, corrupt and HDF5 files give errors naming the file.
    public static func read(_ path: String) throws -> Caffe_NetParameter {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw SparkNetError("\(path): model file not found; \(Self.expected)")
        }
        guard !isDir.boolValue else { throw SparkNetError("\(path): is a directory; \(Self.expected)") }
        // A device (a learned_net naming /dev/zero) would be read forever.
        guard (try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType) == .typeRegular else {
            throw SparkNetError("\(path): not a regular file; \(Self.expected)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SparkNetError("\(path): cannot read the model file; \(Self.expected)")
        }
        return try decode(data, source: path)
    }

    /// Decodes a `.caffemodel`'s bytes (`source` names them in errors) and upgrades the net, as
    /// `read` does after reading the file.
    public static func decode(_ data: Data, source path: String) throws -> Caffe_NetParameter {
        guard !data.isEmpty else { throw SparkNetError("\(path): the model file is empty; \(Self.expected)") }
        if data.starts(with: [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]) {
            throw SparkNetError("\(path): is an HDF5 model (snapshot_format: HDF5), which is not supported; \(Self.expected)")
        }
        let param: Caffe_NetParameter
        do {
            param = try Caffe_NetParameter(serializedBytes: data)
        } catch {
            throw SparkNetError("\(path): not a valid model file, truncated or corrupt (\(error)); \(Self.expected)")
        }
        guard !param.layer.isEmpty || !param.layers.isEmpty else {
            throw SparkNetError("\(path): holds no layers (truncated or corrupt, or not a model); \(Self.expected)")
        }
        let upgraded = try NetUpgrade.upgrade(param, source: path)
        // A file cut inside a blob, or garbage that happens to parse, leaves values that do not
        // fill the declared shapes.
        for lp in upgraded.layer {
            for (i, b) in lp.blobs.enumerated() {
                let n = try BlobCodec.count(of: b, what: "\(path): layer '\(lp.name)' blob \(i)")
                let values = b.doubleData.isEmpty ? b.data.count : b.doubleData.count
                try require(values == n,
                            "\(path): layer '\(lp.name)' blob \(i) declares shape \(BlobCodec.shape(of: b)) (\(n) values) but holds \(values) values; the file is truncated or corrupt")
            }
        }
        return upgraded
    }
}

extension Net {
    /// The net as Caffe's `Net::ToProto`: its name and every instantiated layer's full
    /// LayerParameter (phase filled in, as Caffe's Net::Init does) with `blobs` replaced by the
    /// current blobs (shape + data, and diff when `writeDiff`).
    public func toProto(writeDiff: Bool) -> Caffe_NetParameter {
        var p = Caffe_NetParameter()
        p.name = name
        p.layer = layers.map { layer in
            var lp = layer.param
            if !lp.hasPhase { lp.phase = phase }
            lp.blobs = layer.blobs.map { BlobCodec.proto($0, writeDiff: writeDiff) }
            return lp
        }
        return p
    }

    /// Copies learned blobs from `model` (Caffe's `CopyTrainedLayersFrom`): layers are matched by
    /// name, source layers the net does not have are skipped, and each matched layer must have
    /// the same number of blobs with the same shapes. `source` names the file in messages.
    public func copyTrainedLayers(from model: Caffe_NetParameter, source: String,
                                  log: ((String) -> Void)? = nil) throws {
        var indexOfName: [String: Int] = [:]
        for (i, l) in layers.enumerated() where indexOfName[l.name] == nil { indexOfName[l.name] = i }
        for src in model.layer {
            guard let t = indexOfName[src.name] else {
                log?("Ignoring source layer \(src.name)")
                continue
            }
            let target = layers[t]
            try require(target.blobs.count == src.blobs.count,
                        "\(source): layer '\(src.name)': the file has \(src.blobs.count) blobs, the net's \(target.label) has \(target.blobs.count) (incompatible number of blobs)")
            for (j, proto) in src.blobs.enumerated() {
                let blob = target.blobs[j]
                guard BlobCodec.shapeMatches(proto, blob) else {
                    throw SparkNetError("\(source): cannot copy param \(j) of layer '\(src.name)': shape mismatch; the file has shape \(BlobCodec.shape(of: proto)), the net's \(target.label) expects \(blob.shape). To learn this layer from scratch rather than copying it, rename the layer.")
                }
                try BlobCodec.load(proto, into: blob, what: "\(source): layer '\(src.name)' blob \(j)")
            }
        }
    }

    /// Reads a `.caffemodel` and copies its learned layers (Caffe's `CopyTrainedLayersFrom(file)`).
    public func copyTrainedLayers(fromFile path: String, log: ((String) -> Void)? = nil) throws {
        try copyTrainedLayers(from: try CaffeModel.read(path), source: path, log: log)
    }
}
