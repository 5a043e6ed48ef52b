import CaffeProto
import Foundation
import SparkNet

/// Caffe's `compute_image_mean`: the per-pixel mean (C×H×W) of a data set, written as the
/// BlobProto (num 1, channels, height, width, data) that `transform_param.mean_file` loads.
public enum ImageMean {
    /// The mean of `input`: an .h5 file with a `data` dataset N×C×H×W (uint8 or float, as
    /// convert-imageset writes), or an LMDB directory of Datums (raw, float or encoded).
    public static func compute(_ input: String) throws -> (shape: [Int], mean: [Float], count: Int) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: input, isDirectory: &isDir) else {
            throw SparkNetError("'\(input)' not found; expected an .h5 file or an LMDB directory")
        }
        return isDir.boolValue ? try fromLMDB(input) : try fromHDF5(input)
    }

    private static func fromHDF5(_ path: String) throws -> (shape: [Int], mean: [Float], count: Int) {
        guard HDF5Contents.isHDF5(path) else {
            throw SparkNetError("'\(path)' is neither an HDF5 file nor an LMDB directory")
        }
        let file = try HDF5File.openSerial(path)
        let (dims, values) = try file.readAll("data")
        guard dims.count == 4, dims[0] > 0 else {
            throw SparkNetError("HDF5 file '\(path)': dataset 'data' has shape \(dims), expected N×C×H×W with N > 0")
        }
        let size = dims[1] * dims[2] * dims[3]
        var sum = [Double](repeating: 0, count: size)
        for i in 0..<dims[0] {
            for j in 0..<size { sum[j] += Double(values[i * size + j]) }
        }
        return (Array(dims[1...]), sum.map { Float($0 / Double(dims[0])) }, dims[0])
    }

    private static func fromLMDB(_ path: String) throws -> (shape: [Int], mean: [Float], count: Int) {
        let db = try LMDBReader(path: path)
        guard db.count > 0 else { throw SparkNetError("LMDB '\(path)' holds no records") }
        var shape: [Int] = []
        var sum: [Double] = []
        var n = 0
        try db.forEach { key, value in
            let name = String(decoding: key, as: UTF8.self)
            let (s, v) = try datumValues(value, source: "LMDB '\(path)' record '\(name)'")
            if shape.isEmpty { shape = s; sum = [Double](repeating: 0, count: v.count) }
            guard s == shape else {
                throw SparkNetError("LMDB '\(path)' record '\(name)' is \(s.map(String.init).joined(separator: "×")), the first record \(shape.map(String.init).joined(separator: "×")); the mean needs one size")
            }
            for j in 0..<v.count { sum[j] += Double(v[j]) }
            n += 1
            return true
        }
        return (shape, sum.map { Float($0 / Double(n)) }, n)
    }

    /// A Datum's shape (C, H, W) and values; `source` names the record in errors. Protobuf
    /// parses many byte strings as a message of unknown fields, so a Datum must also hold data
    /// that fits its shape.
    static func datumValues(_ bytes: UnsafeRawBufferPointer, source: String) throws -> ([Int], [Float]) {
        let notDatum = SparkNetError("\(source) is not a Caffe Datum (expected channels/height/width with data or float_data, or encoded image bytes)")
        guard let d = try? Caffe_Datum(serializedBytes: Array(bytes)) else { throw notDatum }
        if d.encoded {
            let img = try ImageCodec.decode([UInt8](d.data), gray: false, source: source)
            return ([img.channels, img.height, img.width], img.pixels.map(Float.init))
        }
        let shape = [Int(d.channels), Int(d.height), Int(d.width)]
        let size = shape.reduce(1, *)
        guard shape.allSatisfy({ $0 > 0 }) else { throw notDatum }
        if d.data.count == size { return (shape, d.data.map(Float.init)) }
        if d.floatData.count == size { return (shape, d.floatData) }
        throw notDatum
    }

    /// Writes `mean` as Caffe's BlobProto (legacy 4-D shape 1×C×H×W), atomically.
    public static func write(shape: [Int], mean: [Float], to path: String) throws {
        var blob = Caffe_BlobProto()
        blob.num = 1
        blob.channels = Int32(shape[0])
        blob.height = Int32(shape[1])
        blob.width = Int32(shape[2])
        blob.data = mean
        try AtomicFile.write(try blob.serializedData(), to: path)
    }
}
