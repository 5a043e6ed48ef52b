import CaffeProto

/// Caffe's Reshape layer (placeholder until implemented).
public final class ReshapeLayer: Layer {}
