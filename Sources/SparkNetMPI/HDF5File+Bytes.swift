import CHDF5
import CHDF5Guard
import CMPI
import Foundation
import SparkNet

/// Reading uint8 datasets as bytes (images: 4× less memory than floats), and reads of any row
/// range into floats or bytes, for the in-memory and streaming sources.
extension HDF5File {
    /// How a dataset's values are kept in memory.
    enum Element: Equatable {
        /// Unsigned 8-bit integers, kept as bytes (values 0…255 served as floats unchanged).
        case byte
        /// Anything else numeric, converted to float32 by HDF5.
        case float

        var size: Int { self == .byte ? 1 : MemoryLayout<Float>.size }
    }

    /// The number of values of `dims`, refused (naming dataset `name`) when an axis is negative
    /// or the product of the non-zero axes overflows (0 rows of an overflowing sample shape
    /// would otherwise pass); unlike `floatCount`, with no memory limit.
    func elementCount(_ dims: [Int], of name: String) throws -> Int {
        var n = 1
        for d in dims {
            let (product, overflow) = n.multipliedReportingOverflow(by: max(d, 1))
            try require(d >= 0 && !overflow, "HDF5 file '\(path)': dataset '\(name)' has an impossible shape [\(dims.map { $0 < 0 ? "huge" : "\($0)" }.joined(separator: ", "))]")
            n = product
        }
        return dims.contains(0) ? 0 : n
    }

    /// Whether dataset `name` (already checked by `datasetInfo`) holds uint8, kept as bytes.
    func element(_ name: String) throws -> Element {
        let ds = try guarded("opening dataset '\(name)'") { h5g_dopen(id, name) }
        guard ds >= 0 else { throw SparkNetError("HDF5 file '\(path)' has no dataset '\(name)'") }
        defer { h5g_dclose(ds) }
        let type = try guarded("reading the type of dataset '\(name)'") { h5g_dget_type(ds) }
        defer { H5Tclose(type) }
        let isByte = H5Tget_class(type) == H5T_INTEGER && H5Tget_size(type) == 1 && H5Tget_sign(type) == H5T_SGN_NONE
        return isByte ? .byte : .float
    }

    /// The dataset's chunk extent along axis 0 (rows per chunk), or nil when it is not chunked.
    func chunkRows(_ name: String) throws -> Int? {
        let ds = try guarded("opening dataset '\(name)'") { h5g_dopen(id, name) }
        guard ds >= 0 else { return nil }
        defer { h5g_dclose(ds) }
        let dcpl = try guarded("reading the layout of dataset '\(name)'") { h5g_dget_create_plist(ds) }
        guard dcpl >= 0 else { return nil }
        defer { H5Pclose(dcpl) }
        guard H5Pget_layout(dcpl) == H5D_CHUNKED else { return nil }
        var chunk = [hsize_t](repeating: 0, count: 32)
        let nd = Int(H5Pget_chunk(dcpl, Int32(chunk.count), &chunk))
        return nd >= 1 && chunk[0] >= 1 ? Int(clamping: chunk[0]) : nil
    }

    /// Collectively reads rows `rows` (axis 0) of dataset `name`, of shape `dims`, into `out`
    /// (`rows.count × row size` elements of `element`; nil when `rows` is empty). Every rank
    /// must call this the same number of times; a rank with no rows joins with an empty selection.
    func readRowsCollective(_ name: String, dims: [Int], rows: Range<Int>, element: Element,
                            into out: UnsafeMutableRawPointer?) throws {
        let ds = try guarded("opening dataset '\(name)'") { h5g_dopen(id, name) }
        guard ds >= 0 else { throw SparkNetError("HDF5 file '\(path)' has no dataset '\(name)'") }
        defer { h5g_dclose(ds) }
        // uint8 is read in the file's own (native) byte type; everything else HDF5 converts.
        let fileType = try guarded("reading the type of dataset '\(name)'") { h5g_dget_type(ds) }
        defer { H5Tclose(fileType) }
        let memType = element == .byte ? H5Tget_native_type(fileType, H5T_DIR_ASCEND) : H5Tcopy(ch5_t_native_float())
        defer { H5Tclose(memType) }
        let fspace = try guarded("reading the shape of dataset '\(name)'") { h5g_dget_space(ds) }
        defer { H5Sclose(fspace) }
        let mspace = Self.selectRows(rows, of: dims, in: fspace)
        defer { H5Sclose(mspace) }
        let dxpl = Self.collectiveTransfer()
        defer { H5Pclose(dxpl) }
        var dummy: Float = 0
        precondition(rows.isEmpty || out != nil, "readRowsCollective: rows \(rows) but no buffer")
        let status = try guarded("reading rows \(rows) of dataset '\(name)'") {
            rows.isEmpty ? h5g_dread(ds, memType, mspace, fspace, dxpl, &dummy)
                         : h5g_dread(ds, memType, mspace, fspace, dxpl, out)
        }
        guard status >= 0 else {
            throw SparkNetError("HDF5 file '\(path)': reading rows \(rows) of dataset '\(name)' failed")
        }
    }
}
