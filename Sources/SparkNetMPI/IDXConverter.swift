import CZlib
import Foundation
import SparkNet

/// Converts MNIST-format IDX files (images `idx3-ubyte`, labels `idx1-ubyte`, gzipped or not)
/// into Caffe's HDF5Data layout: `data` float32 N×1×H×W (pixels × scale) and `label` float32 N.
public enum IDXConverter {
    /// An IDX file's dims and its unsigned-byte payload.
    public struct IDXArray {
        public let dims: [Int]
        public let bytes: [UInt8]
    }

    /// What `convert` wrote.
    public struct Summary {
        public let count: Int
        public let height: Int
        public let width: Int
        public let labelRange: ClosedRange<Int>
    }

    /// Reads an IDX file of unsigned bytes (type 0x08); `.gz` or plain (zlib reads both).
    public static func readIDX(_ path: String) throws -> IDXArray {
        guard FileManager.default.fileExists(atPath: path) else {
            throw SparkNetError("IDX file '\(path)' not found")
        }
        guard let gz = gzopen(path, "rb") else { throw SparkNetError("cannot open IDX file '\(path)'") }
        defer { gzclose(gz) }
        var raw = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(gz, $0.baseAddress, UInt32($0.count)) }
            if n < 0 { throw SparkNetError("IDX file '\(path)': corrupt or truncated gzip data") }
            if n == 0 { break }
            raw.append(contentsOf: chunk[0..<Int(n)])
        }
        guard raw.count >= 4, raw[0] == 0, raw[1] == 0 else {
            throw SparkNetError("IDX file '\(path)': bad magic number, expected an IDX file (00 00 08 nd)")
        }
        guard raw[2] == 0x08 else {
            throw SparkNetError("IDX file '\(path)': element type 0x\(String(raw[2], radix: 16)), expected 0x08 (unsigned byte)")
        }
        let nd = Int(raw[3])
        guard nd >= 1, raw.count >= 4 + 4 * nd else {
            throw SparkNetError("IDX file '\(path)': header truncated (\(nd) dims)")
        }
        var dims: [Int] = []
        for d in 0..<nd {
            let o = 4 + 4 * d
            dims.append(Int(raw[o]) << 24 | Int(raw[o + 1]) << 16 | Int(raw[o + 2]) << 8 | Int(raw[o + 3]))
        }
        let expected = dims.reduce(1, *)
        let have = raw.count - 4 - 4 * nd
        guard have == expected else {
            throw SparkNetError("IDX file '\(path)': \(have) bytes of data, expected \(expected) for dims \(dims)")
        }
        return IDXArray(dims: dims, bytes: Array(raw[(4 + 4 * nd)...]))
    }

    /// Writes `output` (atomically: temp file, fsync, rename) from an images and a labels file.
    /// One process only (rank 0 under mpirun): the serial HDF5 driver.
    @discardableResult
    public static func convert(images: String, labels: String, output: String,
                               scale: Float = 0.00390625) throws -> Summary {
        let img = try readIDX(images)
        let lab = try readIDX(labels)
        guard img.dims.count == 3 else {
            throw SparkNetError("IDX file '\(images)': dims \(img.dims), expected images N×H×W (idx3-ubyte)")
        }
        guard lab.dims.count == 1 else {
            throw SparkNetError("IDX file '\(labels)': dims \(lab.dims), expected labels N (idx1-ubyte)")
        }
        let (n, h, w) = (img.dims[0], img.dims[1], img.dims[2])
        guard lab.dims[0] == n else {
            throw SparkNetError("IDX files disagree: '\(images)' has \(n) images, '\(labels)' has \(lab.dims[0]) labels")
        }
        guard n > 0 else { throw SparkNetError("IDX file '\(images)' holds no images") }
        let data = img.bytes.map { Float($0) * scale }
        let label = lab.bytes.map { Float($0) }
        try writeAtomically(output) { tmp in
            let file = try HDF5File.create(tmp)
            try data.withUnsafeBufferPointer { try file.writeFloat("data", dims: [n, 1, h, w], values: $0) }
            try label.withUnsafeBufferPointer { try file.writeFloat("label", dims: [n], values: $0) }
            file.flush()
        }
        let lo = Int(lab.bytes.min() ?? 0), hi = Int(lab.bytes.max() ?? 0)
        return Summary(count: n, height: h, width: w, labelRange: lo...hi)
    }

    /// Runs `write` on a temporary path beside `path`, fsyncs it and renames it over `path`;
    /// removes the temporary file if anything fails, so no half-written file is left.
    public static func writeAtomically(_ path: String, _ write: (String) throws -> Void) throws {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty, !FileManager.default.fileExists(atPath: dir) {
            throw SparkNetError("cannot write '\(path)': directory '\(dir)' does not exist")
        }
        let tmp = path + ".tmp.\(getpid())"
        do {
            try write(tmp)
            try AtomicFile.publish(tmp, as: path)
        } catch {
            unlink(tmp)
            throw error
        }
    }
}
