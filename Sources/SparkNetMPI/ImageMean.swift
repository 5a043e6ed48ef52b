import CHDF5
import CHDF5Guard
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

    /// Sums `data` in slabs of rows (about 64 MiB as floats), so the file may exceed memory.
    private static func fromHDF5(_ path: String) throws -> (shape: [Int], mean: [Float], count: Int) {
        guard HDF5Contents.isHDF5(path) else {
            throw SparkNetError("'\(path)' is neither an HDF5 file nor an LMDB directory")
        }
        let file = try HDF5File.openSerial(path)
        let dims = try file.datasetInfo("data").dims
        guard dims.count == 4, dims[0] > 0 else {
            throw SparkNetError("HDF5 file '\(path)': dataset 'data' has shape \(dims), expected N×C×H×W with N > 0")
        }
        let n = dims[0], size = dims[1] * dims[2] * dims[3]
        let slab = max(1, (16 << 20) / max(size, 1))
        var sum = [Double](repeating: 0, count: size)
        var buffer = [Float](repeating: 0, count: slab * size)
        let ds = try file.guarded("opening dataset 'data'") { h5g_dopen(file.id, "data") }
        defer { h5g_dclose(ds) }
        let fspace = try file.guarded("reading the shape of dataset 'data'") { h5g_dget_space(ds) }
        defer { H5Sclose(fspace) }
        for lo in stride(from: 0, to: n, by: slab) {
            let rows = min(slab, n - lo)
            var start: [hsize_t] = [hsize_t(lo), 0, 0, 0]
            var count = [hsize_t(rows)] + dims[1...].map { hsize_t($0) }
            H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, nil, &count, nil)
            let mspace = H5Screate_simple(4, &count, nil)
            defer { H5Sclose(mspace) }
            let status = try file.guarded("reading rows \(lo)..<\(lo + rows) of dataset 'data'") {
                h5g_dread(ds, ch5_t_native_float(), mspace, fspace, ch5_p_default(), &buffer)
            }
            guard status >= 0 else {
                throw SparkNetError("HDF5 file '\(path)': reading rows \(lo)..<\(lo + rows) of dataset 'data' failed")
            }
            for r in 0..<rows {
                for j in 0..<size { sum[j] += Double(buffer[r * size + j]) }
            }
        }
        return (Array(dims[1...]), sum.map { Float($0 / Double(n)) }, n)
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
