import CLMDB
import CaffeProto
import Foundation
import SparkNet

/// Caffe `Datum` records of an LMDB, by index in key order: raw (`data` bytes C×H×W, or
/// `float_data`) or encoded (a JPEG or PNG file's bytes, decoded by libjpeg-turbo or libpng).
/// A read-only cursor walks forward; an index behind it restarts from the first key (once per
/// pass of the data, or at a resume).
final class LMDBRecords: RecordReader {
    private(set) var count = 0
    let what: String
    private let path: String
    private let layer: String
    private let forceGray: Bool
    private var env: OpaquePointer?
    private var txn: OpaquePointer?
    private var cursor: OpaquePointer?
    private var dbi: MDB_dbi = 0
    /// The index the cursor points at (-1: not yet positioned).
    private var cursorIndex = -1

    /// Opens `path` read-only. `layer` names the layer in errors; `forceGray` decodes encoded
    /// records to one channel (transform_param.force_gray).
    init(path: String, layer: String, forceGray: Bool) throws {
        self.path = path
        self.layer = layer
        self.forceGray = forceGray
        what = "LMDB '\(path)'"
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw SparkNetError("\(layer): LMDB '\(path)' (data_param.source) not found (relative to the current directory \(FileManager.default.currentDirectoryPath))")
        }
        try require(isDir.boolValue, "\(layer): data_param.source '\(path)' is a file; an LMDB is a directory holding data.mdb")
        try check(mdb_env_create(&env), "cannot create an LMDB environment")
        // As Caffe opens it: read-only, no thread-local reader slots; without the lock file
        // where the directory is read-only (no writer can be running then).
        var rc = mdb_env_open(env, path, UInt32(MDB_RDONLY | MDB_NOTLS), 0o664)
        if rc == EACCES || rc == EROFS {
            rc = mdb_env_open(env, path, UInt32(MDB_RDONLY | MDB_NOTLS | MDB_NOLOCK), 0o664)
        }
        try check(rc, "cannot open LMDB '\(path)'")
        try check(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn), "cannot read LMDB '\(path)'")
        try check(mdb_dbi_open(txn, nil, 0, &dbi), "cannot open LMDB '\(path)''s database")
        try check(mdb_cursor_open(txn, dbi, &cursor), "cannot read LMDB '\(path)'")
        var stat = MDB_stat()
        try check(mdb_stat(txn, dbi, &stat), "cannot read LMDB '\(path)'")
        count = Int(stat.ms_entries)
    }

    deinit {
        if let cursor { mdb_cursor_close(cursor) }
        if let txn { mdb_txn_abort(txn) }
        if let env { mdb_env_close(env) }
    }

    private func check(_ rc: Int32, _ message: String) throws {
        guard rc == 0 else { throw SparkNetError("\(layer): \(message): \(String(cString: mdb_strerror(rc)))") }
    }

    func read(_ index: Int) throws -> DecodedRecord {
        var key = MDB_val(), value = MDB_val()
        if cursorIndex < 0 || index < cursorIndex {
            try check(mdb_cursor_get(cursor, &key, &value, MDB_FIRST), "cannot read LMDB '\(path)'")
            cursorIndex = 0
        } else {
            try check(mdb_cursor_get(cursor, &key, &value, MDB_GET_CURRENT), "cannot read LMDB '\(path)'")
        }
        while cursorIndex < index {
            try check(mdb_cursor_get(cursor, &key, &value, MDB_NEXT), "cannot read LMDB '\(path)' record \(cursorIndex + 1)")
            cursorIndex += 1
        }
        let k = String(decoding: UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size), as: UTF8.self)
        let name = "\(index) (key '\(k)')"
        let datum: Caffe_Datum
        do {
            datum = try Caffe_Datum(serializedBytes: Array(UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size)))
        } catch {
            throw SparkNetError("\(layer): LMDB '\(path)' record \(name) is not a Caffe Datum")
        }
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
