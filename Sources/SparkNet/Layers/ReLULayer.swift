import CaffeProto

/// Caffe's ReLU layer (placeholder until implemented).
public final class ReLULayer: Layer {}
