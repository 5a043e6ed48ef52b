import CHDF5
import CHDF5Guard
import CMPI
import Foundation
import SparkNet

/// A thin owner of an HDF5 file id: opened collectively (MPI-IO) for reading, or serially
/// (sec2) for writing. Errors name the file; HDF5's own error stack is silenced.
///
/// Calls that parse a file's metadata or data (open, dataset open, read, visit) go through
/// CHDF5Guard's `h5g_` wrappers, because HDF5 1.10 can crash on a corrupt file; `guarded`
/// turns such a fault into one error naming the file.
final class HDF5File {
    let path: String
    let id: hid_t
    /// Set once a call on this file faulted inside libhdf5: nothing more is read from it.
    private(set) var corrupt = false

    private init(path: String, id: hid_t) {
        self.path = path
        self.id = id
    }

    deinit { h5g_fclose(id) }

    /// Runs `call` (one `h5g_` wrapper) and throws when it faulted inside libhdf5; `what`
    /// says what was being done ("opening dataset 'data'").
    func guarded<T>(_ what: String, _ call: () -> T) throws -> T {
        guard !corrupt else { throw Self.corruptFile(path, what, signal: 0) }
        let result = call()
        let signal = h5g_take_fault()
        guard signal == 0 else {
            corrupt = true
            throw Self.corruptFile(path, what, signal: signal)
        }
        return result
    }

    static func corruptFile(_ path: String, _ what: String, signal: Int32) -> SparkNetError {
        let names: [Int32: String] = [SIGSEGV: "SIGSEGV", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGILL: "SIGILL"]
        let how = signal == 0 ? "an earlier read of it failed" : "the HDF5 library faulted (\(names[signal] ?? "signal \(signal)")) \(what)"
        return SparkNetError("HDF5 file '\(path)' is corrupt: \(how); rewrite the file (h5py, or sparknet-mpi convert-imageset)")
    }

    /// Opens `path` read-only with the file access list `fapl`, guarded.
    private static func open(_ path: String, fapl: hid_t) throws -> HDF5File {
        let id = h5g_fopen(path, ch5_f_acc_rdonly(), fapl)
        let signal = h5g_take_fault()
        guard signal == 0 else { throw corruptFile(path, "opening it", signal: signal) }
        guard id >= 0 else {
            throw SparkNetError("cannot open HDF5 file '\(path)': not an HDF5 file, or unreadable")
        }
        return HDF5File(path: path, id: id)
    }

    /// Opens `path` read-only on every rank of MPI_COMM_WORLD at once (a collective call).
    static func openCollective(_ path: String) throws -> HDF5File {
        MPIEnvironment.initialize()
        ch5_silence_errors()
        let fapl = H5Pcreate(ch5_p_file_access())
        defer { H5Pclose(fapl) }
        H5Pset_fapl_mpio(fapl, cmpi_comm_world(), cmpi_info_null())
        return try open(path, fapl: fapl)
    }

    /// Creates (truncating) `path` with the default serial driver; for one writer.
    static func create(_ path: String) throws -> HDF5File {
        ch5_silence_errors()
        let id = H5Fcreate(path, ch5_f_acc_trunc(), ch5_p_default(), ch5_p_default())
        guard id >= 0 else { throw SparkNetError("cannot create HDF5 file '\(path)'") }
        return HDF5File(path: path, id: id)
    }

    /// Creates (truncating) `path` on every rank of MPI_COMM_WORLD at once (MPI-IO; collective).
    static func createCollective(_ path: String) throws -> HDF5File {
        MPIEnvironment.initialize()
        ch5_silence_errors()
        let fapl = H5Pcreate(ch5_p_file_access())
        defer { H5Pclose(fapl) }
        H5Pset_fapl_mpio(fapl, cmpi_comm_world(), cmpi_info_null())
        let id = H5Fcreate(path, ch5_f_acc_trunc(), ch5_p_default(), fapl)
        guard id >= 0 else { throw SparkNetError("cannot create HDF5 file '\(path)'") }
        return HDF5File(path: path, id: id)
    }

    /// Collectively creates dataset `name` of shape `dims` (file type `fileType`, chunked by
    /// `chunk`) in a file made by `createCollective`; every rank passes the same arguments.
    /// The caller closes the returned id (H5Dclose, also collective).
    func createDatasetCollective(_ name: String, dims: [Int], chunk: [Int], fileType: hid_t) throws -> hid_t {
        var hdims = dims.map { hsize_t($0) }
        let fspace = H5Screate_simple(Int32(dims.count), &hdims, nil)
        defer { H5Sclose(fspace) }
        let dcpl = H5Pcreate(ch5_p_dataset_create())
        defer { H5Pclose(dcpl) }
        var hchunk = chunk.map { hsize_t($0) }
        H5Pset_chunk(dcpl, Int32(chunk.count), &hchunk)
        let ds = H5Dcreate2(id, name, fileType, fspace, ch5_p_default(), dcpl, ch5_p_default())
        guard ds >= 0 else { throw SparkNetError("HDF5 file '\(path)': cannot create dataset '\(name)'") }
        return ds
    }

    /// Collectively writes rows `rows` (axis 0) of dataset `ds` (shape `dims`) from `values`
    /// in `memType`. Every rank calls it, the same number of times; a rank with no rows (this
    /// round) selects nothing.
    func writeRowsCollective(_ ds: hid_t, dims: [Int], rows: Range<Int>, memType: hid_t,
                             values: UnsafeRawPointer?) throws {
        let fspace = H5Dget_space(ds)
        defer { H5Sclose(fspace) }
        let mspace = Self.selectRows(rows, of: dims, in: fspace)
        defer { H5Sclose(mspace) }
        let dxpl = Self.collectiveTransfer()
        defer { H5Pclose(dxpl) }
        var dummy: UInt8 = 0
        let status = withUnsafeMutablePointer(to: &dummy) { d in
            H5Dwrite(ds, memType, mspace, fspace, dxpl, rows.isEmpty ? UnsafeRawPointer(d) : values)
        }
        guard status >= 0 else {
            throw SparkNetError("HDF5 file '\(path)': writing rows \(rows) failed")
        }
    }

    /// Opens `path` read-only with the serial driver (for one process, e.g. `inspect`).
    static func openSerial(_ path: String) throws -> HDF5File {
        ch5_silence_errors()
        return try open(path, fapl: ch5_p_default())
    }

    /// Shape and element class of a dataset, checked to be numeric.
    struct DatasetInfo {
        let dims: [Int]
        let isInteger: Bool
    }

    /// The dims of dataset `name`, which must exist and hold floats or integers.
    func datasetInfo(_ name: String) throws -> DatasetInfo {
        guard try guarded("looking up '\(name)'", { h5g_lexists(id, name) }) > 0 else {
            throw SparkNetError("HDF5 file '\(path)' has no dataset '\(name)'")
        }
        let ds = try guarded("opening dataset '\(name)'") { h5g_dopen(id, name) }
        guard ds >= 0 else { throw SparkNetError("HDF5 file '\(path)': '\(name)' is not a dataset") }
        defer { h5g_dclose(ds) }
        let type = try guarded("reading the type of dataset '\(name)'") { h5g_dget_type(ds) }
        guard type >= 0 else { throw SparkNetError("HDF5 file '\(path)': cannot read the type of dataset '\(name)'") }
        defer { H5Tclose(type) }
        let cls = H5Tget_class(type)
        guard cls == H5T_FLOAT || cls == H5T_INTEGER else {
            throw SparkNetError("HDF5 file '\(path)': dataset '\(name)' holds neither floats nor integers")
        }
        guard Self.isPlainNumber(type, float: cls == H5T_FLOAT) else {
            throw SparkNetError("HDF5 file '\(path)': dataset '\(name)' holds \(H5Tget_size(type))-byte \(cls == H5T_FLOAT ? "floats" : "integers") of an unusual layout (corrupt?); expected IEEE float32/float64 or 1, 2, 4 or 8-byte integers")
        }
        let space = try guarded("reading the shape of dataset '\(name)'") { h5g_dget_space(ds) }
        defer { H5Sclose(space) }
        let nd = Int(H5Sget_simple_extent_ndims(space))
        guard nd >= 0 else { throw SparkNetError("HDF5 file '\(path)': cannot read the shape of dataset '\(name)'") }
        var dims = [hsize_t](repeating: 0, count: max(nd, 1))
        var maxDims = dims
        H5Sget_simple_extent_dims(space, &dims, &maxDims)
        let shape = dims.prefix(nd).map { Int(exactly: $0) ?? -1 }
        // No memory limit here: a streamed dataset may exceed memory (the sources check what
        // they hold); the storage checks below refuse shapes the file cannot hold.
        let n = try elementCount(shape, of: name)
        // A shape the file cannot hold: unchunked data must be stored whole (HDF5 1.10 reads a
        // too-short contiguous block past its buffer), and chunks cannot expand beyond deflate's
        // 1032:1, so a corrupt header cannot make a small file ask for gigabytes of fill values.
        let (logical, overflow) = n.multipliedReportingOverflow(by: H5Tget_size(type))
        // What the chunk index claims is stored, but never more than the file holds: a corrupt
        // index claimed 1.9 GB in a 3 KB file, and reading its 8.5 M chunks took 22 GB.
        let claimed = Int(clamping: try guarded("sizing dataset '\(name)'") { h5g_dget_storage_size(ds) })
        let fileBytes = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? Int.max
        let stored = min(claimed, fileBytes)
        let dcpl = try guarded("reading the layout of dataset '\(name)'") { h5g_dget_create_plist(ds) }
        guard dcpl >= 0 else { throw SparkNetError("HDF5 file '\(path)': cannot read the layout of dataset '\(name)'") }
        defer { H5Pclose(dcpl) }
        let chunked = H5Pget_layout(dcpl) == H5D_CHUNKED
        guard !overflow, chunked ? logical <= max(1 << 20, stored &* 1100) : logical == stored else {
            throw SparkNetError("HDF5 file '\(path)': dataset '\(name)' declares shape \(shape) but stores only \(stored) bytes; the file is truncated, corrupt or was never written")
        }
        // Chunks no larger than the dataset may grow to (HDF5 1.10 copies an oversized chunk
        // past its buffers), nor than 64 MiB beyond the data.
        if chunked {
            var chunk = [hsize_t](repeating: 0, count: max(nd, 1))
            let rank = Int(H5Pget_chunk(dcpl, Int32(chunk.count), &chunk))
            let bytes = chunk.prefix(max(rank, 0)).reduce(Double(H5Tget_size(type))) { $0 * Double($1) }
            guard rank == nd, zip(chunk, maxDims).prefix(nd).allSatisfy({ $0 >= 1 && $0 <= $1 }),
                  bytes <= Double(max(logical, 64 << 20)) else {
                throw SparkNetError("HDF5 file '\(path)': dataset '\(name)' of shape \(shape) has chunks of \(chunk.prefix(max(rank, 0)).map { Int(clamping: $0) }), larger than the dataset; the file is corrupt")
            }
        }
        return DatasetInfo(dims: shape, isInteger: cls == H5T_INTEGER)
    }

    /// Whether `type` is an IEEE float32/float64 or a whole-byte integer. HDF5's conversion
    /// trusts the type's bit fields, and a corrupt type message (a 3-byte float with 32 bits of
    /// fields) makes H5Dread write past its buffers, so anything else is refused first.
    static func isPlainNumber(_ type: hid_t, float: Bool) -> Bool {
        let size = H5Tget_size(type)
        let order = H5Tget_order(type)
        guard H5Tget_precision(type) == 8 * size, H5Tget_offset(type) == 0,
              order == H5T_ORDER_LE || order == H5T_ORDER_BE else { return false }
        guard float else { return [1, 2, 4, 8].contains(size) }
        var sign = 0, ePos = 0, eSize = 0, mPos = 0, mSize = 0
        guard H5Tget_fields(type, &sign, &ePos, &eSize, &mPos, &mSize) >= 0 else { return false }
        let fields = [sign, ePos, eSize, mPos, mSize], bias = H5Tget_ebias(type)
        return (size == 4 && fields == [31, 23, 8, 0, 23] && bias == 127) ||
               (size == 8 && fields == [63, 52, 11, 0, 52] && bias == 1023)
    }

    /// The number of values of `dims`, refused with a message naming dataset `name` when it
    /// overflows or, as floats, would not fit in this machine's memory (a corrupt or absurd
    /// shape must not reach an allocation).
    func floatCount(_ dims: [Int], of name: String) throws -> Int {
        let n = try elementCount(dims, of: name)
        let memory = ProcessInfo.processInfo.physicalMemory
        try require(UInt64(n) <= memory / 4,
                    "HDF5 file '\(path)': dataset '\(name)' of shape \(dims) needs \(n / (1 << 30) * 4) GiB as floats, more than this machine's \(memory >> 30) GiB of memory")
        return n
    }

    /// Reads a whole dataset as float with the current (serial) access.
    func readAll(_ name: String) throws -> (dims: [Int], values: [Float]) {
        let info = try datasetInfo(name)
        let n = try floatCount(info.dims, of: name)
        let ds = try guarded("opening dataset '\(name)'") { h5g_dopen(id, name) }
        guard ds >= 0 else { throw SparkNetError("HDF5 file '\(path)': '\(name)' is not a dataset") }
        defer { h5g_dclose(ds) }
        var status: herr_t = 0
        let values = try [Float](unsafeUninitializedCapacity: n) { buf, initialized in
            initialized = n
            status = n == 0 ? 0 : try guarded("reading dataset '\(name)'") {
                h5g_dread(ds, ch5_t_native_float(), ch5_s_all(), ch5_s_all(), ch5_p_default(), buf.baseAddress)
            }
        }
        guard status >= 0 else { throw SparkNetError("HDF5 file '\(path)': reading dataset '\(name)' failed") }
        return (info.dims, values)
    }

    /// Writes a float32 dataset `name` of shape `dims` from `values` (serial).
    func writeFloat(_ name: String, dims: [Int], values: UnsafeBufferPointer<Float>) throws {
        try write(name, dims: dims, fileType: ch5_t_ieee_f32le(), memType: ch5_t_native_float(),
                  values: UnsafeRawPointer(values.baseAddress))
    }

    /// Writes an int32 dataset (integer labels, as some Caffe data sets have them).
    func writeInt32(_ name: String, dims: [Int], values: [Int32]) throws {
        try values.withUnsafeBufferPointer {
            try write(name, dims: dims, fileType: ch5_t_native_int(), memType: ch5_t_native_int(),
                      values: UnsafeRawPointer($0.baseAddress))
        }
    }

    private func write(_ name: String, dims: [Int], fileType: hid_t, memType: hid_t,
                       values: UnsafeRawPointer?) throws {
        var hdims = dims.map { hsize_t($0) }
        let space = H5Screate_simple(Int32(dims.count), &hdims, nil)
        defer { H5Sclose(space) }
        let ds = H5Dcreate2(id, name, fileType, space, ch5_p_default(), ch5_p_default(), ch5_p_default())
        guard ds >= 0 else { throw SparkNetError("HDF5 file '\(path)': cannot create dataset '\(name)'") }
        defer { H5Dclose(ds) }
        let status = H5Dwrite(ds, memType, ch5_s_all(), ch5_s_all(), ch5_p_default(), values)
        guard status >= 0 else { throw SparkNetError("HDF5 file '\(path)': writing dataset '\(name)' failed") }
    }

    /// The paths of every dataset in the file, depth first (for `inspect`).
    func datasetPaths() throws -> [String] {
        final class Names { var list: [String] = [] }
        let names = Names()
        let box = Unmanaged.passRetained(names)
        defer { box.release() }
        let status = try guarded("listing its objects") {
            h5g_ovisit(id, H5_INDEX_NAME, H5_ITER_INC, { _, name, info, opData in
                guard let name, let info, let opData else { return 0 }
                if info.pointee.type == H5O_TYPE_DATASET {
                    Unmanaged<Names>.fromOpaque(opData).takeUnretainedValue().list.append(String(cString: name))
                }
                return 0
            }, box.toOpaque(), UInt32(H5O_INFO_BASIC))
        }
        guard status >= 0 else { throw SparkNetError("HDF5 file '\(path)': cannot list its objects (corrupt?)") }
        return names.list
    }

    /// Flushes buffered data to the file (before an fsync + rename).
    func flush() { H5Fflush(id, H5F_SCOPE_GLOBAL) }
}

/// Reading any HDF5 file's datasets, for tools (`inspect`). Serial: one process.
public enum HDF5Contents {
    /// Whether `path` starts with HDF5's signature.
    public static func isHDF5(_ path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        let sig: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]
        return (try? h.read(upToCount: 8)).map { [UInt8]($0) == sig } ?? false
    }

    /// Every dataset of the file: its path, shape and values (as float).
    public static func datasets(in path: String) throws -> [(path: String, shape: [Int], values: [Float])] {
        guard FileManager.default.fileExists(atPath: path) else {
            throw SparkNetError("HDF5 file '\(path)' not found")
        }
        let file = try HDF5File.openSerial(path)
        return try file.datasetPaths().map { name in
            let (dims, values) = try file.readAll(name)
            return (name, dims, values)
        }
    }
}

extension HDF5File {
    /// Selects rows `rows` (axis 0) of a dataset of shape `dims` in its file space `fspace` and
    /// returns the matching memory space (the caller closes it). No rows: both select nothing,
    /// so a rank without rows still joins a collective transfer.
    static func selectRows(_ rows: Range<Int>, of dims: [Int], in fspace: hid_t) -> hid_t {
        if rows.isEmpty {
            H5Sselect_none(fspace)
            var one = [hsize_t](repeating: 1, count: dims.count)
            let mspace = H5Screate_simple(Int32(dims.count), &one, nil)
            H5Sselect_none(mspace)
            return mspace
        }
        var start = [hsize_t](repeating: 0, count: dims.count)
        var count = dims.map { hsize_t($0) }
        start[0] = hsize_t(rows.lowerBound)
        count[0] = hsize_t(rows.count)
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, nil, &count, nil)
        return H5Screate_simple(Int32(dims.count), &count, nil)
    }

    /// A dataset transfer property list for collective MPI-IO (the caller closes it).
    static func collectiveTransfer() -> hid_t {
        let dxpl = H5Pcreate(ch5_p_dataset_xfer())
        H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE)
        return dxpl
    }
}
