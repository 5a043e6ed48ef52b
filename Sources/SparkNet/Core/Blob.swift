/// An n-d Float32 tensor with a gradient (Caffe's Blob): `data` and `diff` are contiguous,
/// row-major, `count` elements each.
///
/// Activations own their storage, which only grows, so reshaping in the training loop allocates
/// nothing once the largest shape has been seen. Learnable parameters are rebound as views into
/// a Net's weight and gradient arenas (`bind`), so the whole model is one flat buffer.
public final class Blob {
    public private(set) var shape: [Int]
    public private(set) var count: Int
    public private(set) var data: UnsafeMutablePointer<Float>
    public private(set) var diff: UnsafeMutablePointer<Float>
    private var capacity: Int
    private var owned: Bool

    public init(shape: [Int] = []) {
        let n = shape.reduce(1, *)
        self.shape = shape
        self.count = n
        self.capacity = max(n, 1)
        self.data = .allocate(capacity: capacity)
        self.diff = .allocate(capacity: capacity)
        self.owned = true
        data.initialize(repeating: 0, count: capacity)
        diff.initialize(repeating: 0, count: capacity)
    }

    /// A blob holding `values` with the given shape.
    public convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "values (\(values.count)) do not match shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    deinit {
        if owned { data.deallocate(); diff.deallocate() }
    }

    /// Changes the shape; grows owned storage when needed (new elements are zero).
    public func reshape(_ newShape: [Int]) {
        let n = newShape.reduce(1, *)
        precondition(newShape.allSatisfy { $0 >= 0 }, "negative dimension in \(newShape)")
        if n > capacity {
            precondition(owned, "cannot grow a blob that views an arena")
            data.deallocate(); diff.deallocate()
            capacity = n
            data = .allocate(capacity: n); diff = .allocate(capacity: n)
            data.initialize(repeating: 0, count: n)
            diff.initialize(repeating: 0, count: n)
        }
        shape = newShape
        count = n
    }

    public func reshapeLike(_ other: Blob) { reshape(other.shape) }

    /// Rebinds this blob to external storage (an arena slice), copying the current values in.
    func bind(data newData: UnsafeMutablePointer<Float>, diff newDiff: UnsafeMutablePointer<Float>,
              copyValues: Bool = true) {
        if copyValues {
            newData.update(from: data, count: count)
            newDiff.update(from: diff, count: count)
        }
        if owned { data.deallocate(); diff.deallocate() }
        data = newData; diff = newDiff
        owned = false
        capacity = count
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
