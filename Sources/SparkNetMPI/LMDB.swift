import CLMDB
import Foundation
import SparkNet

/// Throws a `SparkNetError` "`what`: liblmdb's message" unless `rc` is MDB_SUCCESS.
private func lmdbCheck(_ rc: Int32, _ what: @autoclosure () -> String) throws {
    guard rc == 0 else { throw SparkNetError("\(what()): \(String(cString: mdb_strerror(rc)))") }
}

/// A read-only LMDB database (Caffe's `Data` layer sources, convert-imageset's output): one
/// read transaction held open for the reader's life, so the count and the order are a snapshot.
public final class LMDBReader {
    /// The database directory.
    public let path: String
    private var env: OpaquePointer?
    private var txn: OpaquePointer?
    private var dbi: MDB_dbi = 0
    /// The number of records.
    public let count: Int

    /// Opens the LMDB directory `path` (holding data.mdb) read-only.
    public init(path: String) throws {
        self.path = path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw SparkNetError("LMDB '\(path)' not found")
        }
        guard isDir.boolValue else {
            throw SparkNetError("LMDB '\(path)' is a file; an LMDB is a directory holding data.mdb")
        }
        guard FileManager.default.fileExists(atPath: path + "/data.mdb") else {
            throw SparkNetError("LMDB '\(path)': no data.mdb in the directory; not an LMDB")
        }
        try lmdbCheck(mdb_env_create(&env), "LMDB '\(path)': cannot create an environment")
        // As Caffe opens it: read-only, no thread-local reader slots; without the lock file
        // where the directory is read-only (then no writer can be running).
        var rc = mdb_env_open(env, path, UInt32(MDB_RDONLY | MDB_NOTLS), 0o664)
        if rc == EACCES || rc == EROFS {
            rc = mdb_env_open(env, path, UInt32(MDB_RDONLY | MDB_NOTLS | MDB_NOLOCK), 0o664)
        }
        try lmdbCheck(rc, "cannot open LMDB '\(path)'")
        try lmdbCheck(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn), "cannot read LMDB '\(path)'")
        try lmdbCheck(mdb_dbi_open(txn, nil, 0, &dbi), "cannot open LMDB '\(path)''s database")
        var stat = MDB_stat()
        try lmdbCheck(mdb_stat(txn, dbi, &stat), "cannot read LMDB '\(path)'")
        count = Int(stat.ms_entries)
    }

    deinit {
        if let cursor { mdb_cursor_close(cursor) }
        if let txn { mdb_txn_abort(txn) }
        if let env { mdb_env_close(env) }
    }

    private var cursor: OpaquePointer?
    /// The index `cursor` points at (-1: not positioned yet).
    private var cursorIndex = -1

    /// Calls `body` with record `index` (in key order) through one long-lived cursor that moves
    /// forward, restarting from the first key when `index` is behind it: reading in order costs
    /// one step per record. The bytes are LMDB's memory map, valid only during the call. For one
    /// thread at a time (a data source's prefetch queue).
    public func withRecord<R>(_ index: Int, _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard index >= 0 && index < count else {
            throw SparkNetError("LMDB '\(path)': record \(index) out of range (\(count) records)")
        }
        if cursor == nil {
            try lmdbCheck(mdb_cursor_open(txn, dbi, &cursor), "cannot read LMDB '\(path)'")
        }
        var key = MDB_val(), value = MDB_val()
        if cursorIndex < 0 || index < cursorIndex {
            try lmdbCheck(mdb_cursor_get(cursor, &key, &value, MDB_FIRST), "cannot read LMDB '\(path)'")
            cursorIndex = 0
        } else {
            try lmdbCheck(mdb_cursor_get(cursor, &key, &value, MDB_GET_CURRENT), "cannot read LMDB '\(path)'")
        }
        while cursorIndex < index {
            try lmdbCheck(mdb_cursor_get(cursor, &key, &value, MDB_NEXT), "cannot read LMDB '\(path)' record \(cursorIndex + 1)")
            cursorIndex += 1
        }
        return try body(UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size),
                        UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size))
    }

    /// Calls `body` with each record in key order until it returns false. The value's bytes are
    /// LMDB's memory map: valid only during the call.
    public func forEach(_ body: (_ key: [UInt8], _ value: UnsafeRawBufferPointer) throws -> Bool) throws {
        var cursor: OpaquePointer?
        try lmdbCheck(mdb_cursor_open(txn, dbi, &cursor), "cannot read LMDB '\(path)'")
        defer { mdb_cursor_close(cursor) }
        var key = MDB_val(), value = MDB_val()
        var op = MDB_FIRST
        while true {
            let rc = mdb_cursor_get(cursor, &key, &value, op)
            if rc == MDB_NOTFOUND { return }
            try lmdbCheck(rc, "LMDB '\(path)': reading a record failed")
            op = MDB_NEXT
            let k = [UInt8](UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size))
            if try !body(k, UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size)) { return }
        }
    }

    /// The `index`-th record in key order (a cursor walk from the first key: O(index)).
    public func record(at index: Int) throws -> (key: [UInt8], value: [UInt8]) {
        guard index >= 0 && index < count else {
            throw SparkNetError("LMDB '\(path)': record \(index) out of range (\(count) records)")
        }
        var i = 0
        var found: (key: [UInt8], value: [UInt8])?
        try forEach { k, v in
            if i == index { found = (k, [UInt8](v)); return false }
            i += 1
            return true
        }
        return found!
    }
}

/// Writes an LMDB database from one process: records are put in one write transaction per
/// `batch` puts (as Caffe commits every 1000), and the map grows when it is full.
public final class LMDBWriter {
    public let path: String
    private var env: OpaquePointer?
    private var txn: OpaquePointer?
    private var dbi: MDB_dbi = 0
    /// The current map size (bytes): 64 MiB, doubled whenever a commit finds the map full.
    public private(set) var mapSize = 1 << 26
    private var pending: [(key: [UInt8], value: [UInt8])] = []
    private let batch: Int

    /// Creates the directory `path` (which must not exist) and an empty database in it.
    public init(path: String, batch: Int = 1000) throws {
        self.path = path
        self.batch = batch
        guard mkdir(path, 0o775) == 0 else {
            throw SparkNetError("cannot create LMDB directory '\(path)': \(String(cString: strerror(errno)))")
        }
        try lmdbCheck(mdb_env_create(&env), "LMDB '\(path)': cannot create an environment")
        try lmdbCheck(mdb_env_set_mapsize(env, mapSize), "LMDB '\(path)': cannot set the map size")
        try lmdbCheck(mdb_env_open(env, path, 0, 0o664), "cannot open LMDB '\(path)' for writing")
    }

    deinit {
        if let txn { mdb_txn_abort(txn) }
        if let env { mdb_env_close(env) }
    }

    /// Adds a record (committed by a later `commit`, or when `batch` records are pending).
    public func put(key: [UInt8], value: [UInt8]) throws {
        pending.append((key, value))
        if pending.count >= batch { try commit() }
    }

    /// Commits what is pending, flushes the database to disk and closes it.
    public func close() throws {
        try commit()
        try lmdbCheck(mdb_env_sync(env, 1), "LMDB '\(path)': sync failed")
        mdb_env_close(env)
        env = nil
    }

    /// Writes the pending records in one transaction; on MDB_MAP_FULL doubles the map and
    /// retries the whole batch (LMDB cannot grow the map inside a transaction).
    public func commit() throws {
        while true {
            let rc = try writePending()
            if rc == 0 { pending.removeAll(); return }
            guard rc == MDB_MAP_FULL else { try lmdbCheck(rc, "LMDB '\(path)': writing records failed"); return }
            mapSize *= 2
            try lmdbCheck(mdb_env_set_mapsize(env, mapSize), "LMDB '\(path)': cannot grow the map to \(mapSize) bytes")
        }
    }

    /// Puts and commits `pending`; returns the first non-zero LMDB code (the txn then aborted).
    private func writePending() throws -> Int32 {
        try lmdbCheck(mdb_txn_begin(env, nil, 0, &txn), "LMDB '\(path)': cannot begin a transaction")
        try lmdbCheck(mdb_dbi_open(txn, nil, 0, &dbi), "LMDB '\(path)': cannot open the database")
        for var r in pending {
            let rc = r.key.withUnsafeMutableBytes { k in
                r.value.withUnsafeMutableBytes { v in
                    var mk = MDB_val(mv_size: k.count, mv_data: k.baseAddress)
                    var mv = MDB_val(mv_size: v.count, mv_data: v.baseAddress)
                    return mdb_put(txn, dbi, &mk, &mv, 0)
                }
            }
            if rc != 0 { mdb_txn_abort(txn); txn = nil; return rc }
        }
        let rc = mdb_txn_commit(txn)
        txn = nil
        return rc
    }
}
