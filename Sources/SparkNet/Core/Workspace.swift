/// Scratch memory shared by the layers of one net (im2col columns, temporaries). Layers reserve
/// at reshape time and use it only inside one forward or backward call, so one buffer serves all
/// and the training loop allocates nothing.
public final class Workspace {
    public private(set) var capacity = 0
    public private(set) var pointer: UnsafeMutablePointer<Float>

    public init() { pointer = allocateFloats(1) }
    deinit { pointer.deallocate() }

    /// Makes sure at least `n` floats are available. Call from `reshape`, never in the hot loop.
    /// Throws `BlobSizeError` before allocating when `n` passes Caffe's INT_MAX limit (its im2col
    /// buffer is a Blob) or this machine's memory.
    public func reserve(_ n: Int) throws {
        if n > capacity {
            _ = try Blob.checkedCount([n], withDiff: false)
            pointer.deallocate()
            pointer = allocateFloats(n)
            pointer.initialize(repeating: 0, count: n)
            capacity = n
        }
    }

    /// Scratch of at least `n` floats; valid until the next `reserve`.
    @inline(__always)
    public func buffer(_ n: Int) -> UnsafeMutablePointer<Float> {
        precondition(n <= capacity, "workspace: \(n) floats requested, \(capacity) reserved")
        return pointer
    }
}
