import CaffeProto
import Foundation
import SparkNet

/// Caffe `Datum` records of an LMDB, by index in key order: raw (`data` bytes C×H×W, or
/// `float_data`) or encoded (a JPEG or PNG file's bytes, decoded by libjpeg-turbo or libpng).
/// `LMDBReader`'s cursor walks forward; an index behind it restarts from the first key (once per
/// pass of the data, or at a resume).
final class LMDBRecords: RecordReader {
    var count: Int { reader.count }
    let what: String
    private let reader: LMDBReader
    private let path: String
    private let layer: String
    private let forceGray: Bool

    /// Opens `path` read-only. `layer` names the layer in errors; `forceGray` decodes encoded
    /// records to one channel (transform_param.force_gray).
    init(path: String, layer: String, forceGray: Bool) throws {
        self.path = path
        self.layer = layer
        self.forceGray = forceGray
        what = "LMDB '\(path)'"
        guard FileManager.default.fileExists(atPath: path) else {
            throw SparkNetError("\(layer): LMDB '\(path)' (data_param.source) not found (relative to the current directory \(FileManager.default.currentDirectoryPath))")
        }
        do {
            reader = try LMDBReader(path: path)
        } catch let e as SparkNetError {
            throw SparkNetError("\(layer): \(e.message)")
        }
    }

    func read(_ index: Int) throws -> DecodedRecord {
        let (k, datum): (String, Caffe_Datum)
        do {
            (k, datum) = try reader.withRecord(index) { key, value in
                let k = String(decoding: key, as: UTF8.self)
                guard let d = try? Caffe_Datum(serializedBytes: Array(value)) else {
                    throw SparkNetError("LMDB '\(path)' record \(index) (key '\(k)') is not a Caffe Datum")
                }
                return (k, d)
            }
        } catch let e as SparkNetError {
            throw SparkNetError("\(layer): \(e.message)")
        }
        let name = "\(index) (key '\(k)')"
        let label = Float(datum.label)
        if datum.encoded {
            let img = try ImageCodec.decode(Array(datum.data), gray: forceGray, source: "LMDB '\(path)' key '\(k)'")
            return DecodedRecord(shape: [img.channels, img.height, img.width], bytes: img.pixels, label: label, name: name)
        }
        let shape = [Int(datum.channels), Int(datum.height), Int(datum.width)]
        let n = shape.reduce(1, *)
        try require(n > 0, "\(layer): LMDB '\(path)' record \(name) is not a Caffe Datum (no channels, height and width)")
        let dims = "\(shape[0])×\(shape[1])×\(shape[2]) = \(n)"
        if !datum.data.isEmpty {
            try require(datum.data.count == n, "\(layer): LMDB '\(path)' record \(name): \(datum.data.count) data bytes, expected \(dims)")
            return DecodedRecord(shape: shape, bytes: Array(datum.data), label: label, name: name)
        }
        try require(datum.floatData.count == n, "\(layer): LMDB '\(path)' record \(name): \(datum.floatData.count) float_data values, expected \(dims)")
        return DecodedRecord(shape: shape, floats: datum.floatData, label: label, name: name)
    }
}
