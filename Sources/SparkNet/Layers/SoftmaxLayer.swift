import CaffeProto

/// Caffe's Softmax layer (placeholder until implemented).
public final class SoftmaxLayer: Layer {}
