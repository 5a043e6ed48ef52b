/// Caffe's NeuronLayer: one bottom, one top of the same shape, computed element by element
/// (ReLU, Sigmoid, TanH). Subclasses implement forward and backward only.
open class NeuronLayer: Layer {
    override open var exactBottoms: Int? { 1 }
    override open var exactTops: Int? { 1 }

    override open func reshape(bottom: [Blob], top: [Blob]) throws {
        try top[0].reshapeLike(bottom[0])
    }
}
