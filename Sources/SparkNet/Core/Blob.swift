import Foundation

/// `n` uninitialised floats on a 64-byte boundary (free with `deallocate()`). The kernels' 32-
/// and 64-byte loads and stores then never straddle two cache lines: Swift's own allocation of
/// a large block is 16 bytes past a page, which cost the 1×1 convolutions 10–18 % (ResNet-style's
/// 256 → 64 channels at 56², 4 images: 4.1 ms from a 64-byte boundary, 4.8 ms 16 bytes past one).
@inline(__always)
func allocateFloats(_ n: Int) -> UnsafeMutablePointer<Float> {
    UnsafeMutableRawPointer.allocate(byteCount: max(n, 1) * MemoryLayout<Float>.stride, alignment: 64)
        .bindMemory(to: Float.self, capacity: max(n, 1))
}

/// Floats a blob's data or diff lives in. Several blobs may hold the same storage (Caffe's
/// ShareData/ShareDiff), so growing it moves every sharer to the new memory at once: no blob is
/// ever left pointing at freed memory.
final class BlobStorage {
    private(set) var pointer: UnsafeMutablePointer<Float>
    private(set) var capacity: Int
    /// False for a view into memory someone else frees (a Net's arenas).
    let owned: Bool

    init(capacity n: Int) {
        capacity = max(n, 1)
        pointer = allocateFloats(capacity)
        pointer.initialize(repeating: 0, count: capacity)
        owned = true
    }

    init(viewing p: UnsafeMutablePointer<Float>, count: Int) {
        pointer = p
        capacity = count
        owned = false
    }

    deinit { if owned { pointer.deallocate() } }

    /// Makes room for `n` floats; new memory is zero (the old values are not kept).
    func reserve(_ n: Int) {
        guard n > capacity else { return }
        precondition(owned, "cannot grow a blob that views an arena")
        pointer.deallocate()
        pointer = allocateFloats(n)
        pointer.initialize(repeating: 0, count: n)
        capacity = n
    }
}

/// An n-d Float32 tensor with a gradient (Caffe's Blob): `data` and `diff` are contiguous,
/// row-major, `count` elements each.
///
/// Activations own their storage, which only grows, so reshaping in the training loop allocates
/// nothing once the largest shape has been seen. Learnable parameters are rebound as views into
/// a Net's weight and gradient arenas (`bind`), so the whole model is one flat buffer. Split,
/// Flatten and Reshape tops share their bottom's storage (`shareData`, `shareDiff`) instead of
/// copying it, as in Caffe.
public final class Blob {
    public private(set) var shape: [Int]
    public private(set) var count: Int
    private var dataStorage: BlobStorage
    private var diffStorage: BlobStorage

    public var data: UnsafeMutablePointer<Float> { dataStorage.pointer }
    public var diff: UnsafeMutablePointer<Float> { diffStorage.pointer }

    /// False for a layer's own buffer (saved outputs, masks, scratch): its `diff` stays one float,
    /// so a training step does not carry a gradient-sized block nobody writes.
    public let hasDiff: Bool

    /// A zero blob. `shape` must be a valid size (see `checkedCount`): layers build their
    /// blobs empty and `reshape` them, which checks.
    public init(shape: [Int] = [], hasDiff: Bool = true) {
        let n = shape.reduce(1, *)
        self.shape = shape
        self.count = n
        self.hasDiff = hasDiff
        dataStorage = BlobStorage(capacity: n)
        diffStorage = BlobStorage(capacity: hasDiff ? n : 1)
    }

    /// A blob holding `values` with the given shape.
    public convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "values (\(values.count)) do not match shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    /// Changes the shape; grows the storage when needed (new elements are zero). Growing shared
    /// storage grows it for every blob that shares it. Throws `BlobSizeError`, before allocating,
    /// for a shape Caffe would refuse (a negative dimension, more than INT_MAX values) or one
    /// larger than this machine's memory.
    public func reshape(_ newShape: [Int]) throws {
        let n = try Blob.checkedCount(newShape, withDiff: hasDiff)
        dataStorage.reserve(n)
        if hasDiff { diffStorage.reserve(n) }
        shape = newShape
        count = n
    }

    public func reshapeLike(_ other: Blob) throws { try reshape(other.shape) }

    /// Read once: layers reshape their blobs on every forward pass.
    public static let physicalMemory = ProcessInfo.processInfo.physicalMemory

    /// Caffe's limit on one blob's values (Blob::Reshape checks count <= INT_MAX).
    public static let maxCount = Int(Int32.max)

    /// The number of values in `shape`, checked before anything is allocated: no negative
    /// dimension, at most INT_MAX values (as Caffe), and data (plus diff) within physical memory.
    public static func checkedCount(_ shape: [Int], withDiff: Bool = true,
                                    memory: UInt64 = Blob.physicalMemory) throws -> Int {
        if let d = shape.first(where: { $0 < 0 }) {
            throw BlobSizeError(shape: shape, reason: "has a negative dimension (\(d))")
        }
        var n = 1
        for d in shape {
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            guard !overflow, p <= maxCount else {
                throw BlobSizeError(shape: shape, reason: "holds more than INT_MAX (2147483647) values, Caffe's limit for a blob")
            }
            n = p
        }
        let bytes = UInt64(n) * 4 * (withDiff ? 2 : 1)
        if bytes > memory {
            throw BlobSizeError(shape: shape, reason: String(format: "needs %.1f GiB as floats%@, more than this machine's %.0f GiB of memory",
                                                             Double(bytes) / 1_073_741_824, withDiff ? " with its gradient" : "",
                                                             Double(memory) / 1_073_741_824))
        }
        return n
    }

    /// Makes `data` the same memory as `other`'s (Caffe's ShareData). Call from a layer's
    /// `reshape`, before giving this blob a shape of `other`'s count.
    public func shareData(_ other: Blob) { dataStorage = other.dataStorage }

    /// Makes `diff` the same memory as `other`'s (Caffe's ShareDiff).
    public func shareDiff(_ other: Blob) { diffStorage = other.diffStorage }

    /// Rebinds this blob to external storage (an arena slice), copying the current values in.
    func bind(data newData: UnsafeMutablePointer<Float>, diff newDiff: UnsafeMutablePointer<Float>,
              copyValues: Bool = true) {
        if copyValues {
            newData.update(from: data, count: count)
            newDiff.update(from: diff, count: count)
        }
        dataStorage = BlobStorage(viewing: newData, count: count)
        diffStorage = BlobStorage(viewing: newDiff, count: count)
    }

    public var numAxes: Int { shape.count }

    /// Python-style axis: negative counts from the end.
    public func canonicalAxis(_ axis: Int) -> Int {
        axis < 0 ? axis + shape.count : axis
    }

    /// The size of `axis` (negative allowed).
    public func dim(_ axis: Int) -> Int { shape[canonicalAxis(axis)] }

    /// Product of dims in [start, end).
    public func count(_ start: Int, _ end: Int) -> Int {
        var n = 1
        if start < end { for i in start..<end { n *= shape[i] } }
        return n
    }

    /// Product of dims from `start` to the last axis.
    public func count(from start: Int) -> Int { count(start, shape.count) }

    /// Caffe's legacy 4-D accessors: axes counted from the end, missing axes are 1.
    public func legacyShape(_ index: Int) -> Int {
        precondition(index >= -4 && index <= 3)
        if index >= shape.count || index < -shape.count { return 1 }
        return dim(index)
    }

    public var dataBuffer: UnsafeMutableBufferPointer<Float> { .init(start: data, count: count) }
    public var diffBuffer: UnsafeMutableBufferPointer<Float> { .init(start: diff, count: count) }
    public var dataArray: [Float] { Array(dataBuffer) }
    public var diffArray: [Float] { Array(diffBuffer) }

    public func setData(_ values: [Float]) {
        precondition(values.count == count)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    public func setDiff(_ values: [Float]) {
        precondition(values.count == count)
        values.withUnsafeBufferPointer { diff.update(from: $0.baseAddress!, count: count) }
    }

    public func zeroDiff() { setAll(count, 0, diff) }

    public var shapeString: String { shape.map(String.init).joined(separator: " ") + " (\(count))" }
}

/// A blob shape that cannot be allocated; layers and the Net add which layer asked for it.
public struct BlobSizeError: Error, CustomStringConvertible {
    public let shape: [Int]
    public let reason: String
    public var description: String { "blob shape \(shape) \(reason)" }
}
