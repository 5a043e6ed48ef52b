/// A layer fed by a `BatchSource` (HDF5Data). The library uses this to swap a net's source after
/// the net is built, for example to hand a rank its shard or to share one source between nets.
public protocol DataLayer: AnyObject {
    /// The source the layer reads from (nil before set-up).
    var source: BatchSource? { get }
    /// Replaces the source; throws unless it provides every top with the same sample shape.
    func setSource(_ s: BatchSource) throws
}
